/* Process groups, sessions, priority, personality and capabilities of a
 * process started by a shell-less runner. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

int main(void) {
    printf("pgrp is pgid %d\n", getpgrp() == getpgid(0));
    printf("sid is getsid %d\n", getsid(0) == getsid(getpid()));
    SHOW("getpgid bad", getpgid(-5));
    SHOW("personality query", personality(0xffffffff));
    SHOW("personality bad", personality(0x0dd));
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, 0);
    printf("getpriority %d errno %d\n", prio, errno);
    SHOW("setpriority up", setpriority(PRIO_PROCESS, 0, prio + 1));
    printf("getpriority after %d\n", getpriority(PRIO_PROCESS, 0));
    SHOW("setpriority bad which", setpriority(99, 0, 0));
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    SHOW("capget", syscall(SYS_capget, &h, d));
    printf("cap_sys_admin effective %d\n", (d[0].effective >> 21) & 1);
    struct __user_cap_header_struct bad = {0x1234, 0};
    SHOW("capget bad version", syscall(SYS_capget, &bad, d));
    printf("version written back %#x\n", bad.version);
    return 0;
}

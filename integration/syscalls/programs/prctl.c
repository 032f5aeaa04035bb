/* prctl and arch_prctl. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

int main(void) {
    char name[32] = {0};
    printf("set name %d\n", prctl(PR_SET_NAME, "differential-test-name"));
    printf("get name %d %s\n", prctl(PR_GET_NAME, name), name);
    printf("dumpable %d\n", prctl(PR_GET_DUMPABLE));
    printf("no_new_privs %d\n", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    printf("get no_new_privs %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    SHOW("bad option", prctl(9999));
    unsigned long fs = 0;
    printf("arch get fs %ld nonzero %d\n", syscall(SYS_arch_prctl, ARCH_GET_FS, &fs), fs != 0);
    SHOW("arch set fs kernel", syscall(SYS_arch_prctl, ARCH_SET_FS, 0xffff800000000000UL));
    return 0;
}

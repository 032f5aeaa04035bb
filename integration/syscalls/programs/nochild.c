/* wait without children, and the mlock family. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

int main(void) {
    int status;
    siginfo_t info;
    SHOW("wait", wait(&status));
    SHOW("waitpid nohang", waitpid(-1, &status, WNOHANG));
    SHOW("waitpid bad options", waitpid(-1, &status, 0x4000));
    SHOW("waitid", waitid(P_ALL, 0, &info, WEXITED));
    SHOW("waitid no event", waitid(P_ALL, 0, &info, WNOHANG));
    SHOW("waitid bad which", waitid(99, 0, &info, WEXITED));
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    SHOW("mlock", mlock(p, 8192));
    SHOW("munlock", munlock(p, 8192));
    SHOW("mlock2 bad flags", syscall(SYS_mlock2, p, 4096, 8));
    munmap(p, 8192);
    SHOW("mlock unmapped", mlock(p, 4096));
    SHOW("mlockall bad", mlockall(0));
    SHOW("munlockall", munlockall());
    return 0;
}

/* Bad pointers give EFAULT, unknown syscalls ENOSYS, refused ones fail. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TRY(name, call) do { errno = 0; long r_ = (call); \
    printf("%-20s %ld %s\n", name, r_, r_ < 0 ? strerrorname_np(errno) : "-"); } while (0)

int main(void) {
    TRY("uname NULL", syscall(SYS_uname, NULL));
    TRY("clock_gettime bad", syscall(SYS_clock_gettime, CLOCK_REALTIME, (void *)8));
    TRY("write bad buf", syscall(SYS_write, 1, (void *)8, 10));
    TRY("getrandom bad", syscall(SYS_getrandom, (void *)0x10000, 8, 0));
    TRY("nanosleep bad", syscall(SYS_nanosleep, (void *)16, NULL));
    TRY("sigaction bad", syscall(SYS_rt_sigaction, 10, (void *)16, NULL, 8));
    TRY("unknown 1000", syscall(1000));
    TRY("unknown 500", syscall(500));
    TRY("bad setsize", syscall(SYS_rt_sigprocmask, 0, NULL, NULL, 4));
    TRY("bad sig", syscall(SYS_rt_sigaction, 99, NULL, NULL, 8));
    TRY("kill sig 0", syscall(SYS_kill, getpid(), 0));
    TRY("arch_prctl bad", syscall(SYS_arch_prctl, 0x9999, 0));
    return 0;
}

/* Calls the kernel's syscalls with a deterministic stream of odd integers
 * and pointers; used by integration/test_sentry_fuzz.py. Calls that could
 * block, sleep, exit, replace or kill the program are left out. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t state = 88172645463325252ULL;
static uint64_t rnd(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static const long calls[] = {
    SYS_brk, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap, SYS_madvise, SYS_msync,
    SYS_mincore, SYS_mlock, SYS_munlock, SYS_arch_prctl, SYS_set_robust_list,
    SYS_get_robust_list, SYS_prlimit64, SYS_getrlimit, SYS_setrlimit, SYS_uname,
    SYS_getresuid, SYS_getresgid, SYS_getgroups, SYS_clock_gettime, SYS_clock_getres,
    SYS_gettimeofday, SYS_time, SYS_getrandom, SYS_sysinfo, SYS_times, SYS_getrusage,
    SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigpending, SYS_sigaltstack,
    SYS_sched_getaffinity, SYS_sched_setaffinity, SYS_getcpu, SYS_prctl, SYS_capget,
    SYS_getpriority, SYS_personality, SYS_getpgid, SYS_getsid, SYS_wait4, SYS_waitid,
    SYS_sched_getparam, SYS_sched_getscheduler, SYS_rseq, 1000, -1,
};

int main(void) {
    static char scratch[8192];
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t pointers[] = {0, 1, 0x1000, (uint64_t)ro, (uint64_t)scratch + 3,
                           (uint64_t)scratch, 0x7fffffffffffULL, ~0ULL, 0xffff800000000000ULL};
    long done = 0;
    for (int round = 0; round < 300; round++) {
        for (unsigned i = 0; i < sizeof calls / sizeof calls[0]; i++) {
            uint64_t a[6];
            for (int j = 0; j < 6; j++) {
                uint64_t r = rnd();
                a[j] = (r & 3) == 0 ? pointers[(r >> 8) % 9] : (r & 3) == 1 ? (r >> 32) % 64 : r >> (r & 63);
            }
            for (unsigned k = 0; k < sizeof scratch; k += 8) { uint64_t r = rnd(); memcpy(scratch + k, &r, 8); }
            if (calls[i] == SYS_munmap || calls[i] == SYS_mremap || calls[i] == SYS_mprotect ||
                calls[i] == SYS_madvise || calls[i] == SYS_brk) {
                /* keep the program's own memory intact: only act on a private area */
                static char *area;
                if (!area) area = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (calls[i] == SYS_brk) continue;
                a[0] = (uint64_t)area + (a[0] % (1 << 20));
                a[1] %= 1 << 20;
                if (calls[i] == SYS_mremap) a[3] &= ~2ULL; /* no MREMAP_FIXED over our memory */
                if (calls[i] == SYS_madvise) continue;
                if (calls[i] == SYS_mprotect) a[2] |= PROT_READ | PROT_WRITE;
            }
            if (calls[i] == SYS_arch_prctl && (a[0] & 0xffff) == 0x1002) continue; /* SET_FS */
            if (calls[i] == SYS_arch_prctl && (a[0] & 0xffff) == 0x1001) continue; /* SET_GS */
            if (calls[i] == SYS_rt_sigprocmask || calls[i] == SYS_setrlimit || calls[i] == SYS_prlimit64) {
                if (calls[i] == SYS_prlimit64) a[2] = 0;
                else if (calls[i] == SYS_setrlimit) continue;
            }
            if (calls[i] == SYS_mmap && (a[3] & 0x10)) a[3] &= ~0x10ULL; /* no MAP_FIXED */
            if (calls[i] == SYS_mmap) a[3] &= ~0x100000ULL;
            if (calls[i] == SYS_sigaltstack) a[0] = 0;
            if (calls[i] == SYS_prctl && (a[0] & 0xffffffff) == 22) continue; /* PR_SET_SECCOMP */
            syscall(calls[i], a[0], a[1], a[2], a[3], a[4], a[5]);
            done++;
        }
    }
    printf("done %ld\n", done);
    return 0;
}

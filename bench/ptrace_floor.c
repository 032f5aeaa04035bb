/*
 * The floor under the ptrace platform: the raw cost of one PTRACE_SYSEMU
 * round trip (SETREGS, SYSEMU, waitpid, GETREGS) for a child that loops on
 * getpid, in C, with no Python anywhere. Compare bench/platform_bench.py,
 * which does the same through sentry.platform.ptrace's Context.switch.
 *
 * Build and run:
 *     gcc -O2 -o /tmp/ptrace_floor bench/ptrace_floor.c && /tmp/ptrace_floor [iterations]
 *
 * Three placements are measured: "pinned" (tracer and child both bound to
 * the tracer's CPU), "follow" (only the child bound to the tracer's current
 * CPU, as gVisor's thread.bind and our default do), "unpinned" (the
 * scheduler decides; on a VM a cross-CPU wake-up costs tens of microseconds).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PTRACE_SYSEMU
#define PTRACE_SYSEMU 31
#endif

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void bind_cpu(pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof(set), &set) < 0)
        die("sched_setaffinity");
}

static void unbind(pid_t pid, const cpu_set_t *all)
{
    if (sched_setaffinity(pid, sizeof(*all), all) < 0)
        die("sched_setaffinity");
}

static pid_t start_child(void)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0)
            _exit(1);
        raise(SIGSTOP);
        for (;;)
            syscall(SYS_getpid);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFSTOPPED(status))
        die("waitpid (initial stop)");
    if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) < 0)
        die("PTRACE_SETOPTIONS");
    return pid;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define BATCHES 10

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * One round trip is exactly what Context.switch does per system call. With
 * follow set, the child is re-bound to the tracer's CPU whenever the tracer
 * moved (gVisor's thread.bind). Prints the minimum and median over BATCHES
 * batches: the VM is shared and the minimum is the least disturbed figure.
 */
static void measure(const char *label, pid_t pid, long iterations, int follow)
{
    struct user_regs_struct regs;
    int status, bound = -1;
    double per[BATCHES];
    long batch = iterations / BATCHES > 0 ? iterations / BATCHES : 1;

    if (ptrace(PTRACE_GETREGS, pid, 0, &regs) < 0)
        die("PTRACE_GETREGS");
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now();
        for (long i = 0; i < batch; i++) {
            if (follow) {
                int c = sched_getcpu();
                if (c != bound) {
                    bind_cpu(pid, c);
                    bound = c;
                }
            }
            regs.rax = (unsigned long long)pid; /* "serve" getpid */
            if (ptrace(PTRACE_SETREGS, pid, 0, &regs) < 0)
                die("PTRACE_SETREGS");
            if (ptrace(PTRACE_SYSEMU, pid, 0, 0) < 0)
                die("PTRACE_SYSEMU");
            if (waitpid(pid, &status, __WALL) < 0)
                die("waitpid");
            if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80)) {
                fprintf(stderr, "unexpected status %#x\n", status);
                exit(1);
            }
            if (ptrace(PTRACE_GETREGS, pid, 0, &regs) < 0)
                die("PTRACE_GETREGS");
            if (regs.orig_rax != SYS_getpid) {
                fprintf(stderr, "unexpected syscall %llu\n", regs.orig_rax);
                exit(1);
            }
        }
        per[b] = (now() - t0) / batch * 1e6;
    }
    qsort(per, BATCHES, sizeof(per[0]), cmp_double);
    printf("%-9s %6.2f us per round trip (median %6.2f)\n", label, per[0], per[BATCHES / 2]);
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 100000;
    cpu_set_t all;
    int status;
    if (sched_getaffinity(0, sizeof(all), &all) < 0)
        die("sched_getaffinity");
    pid_t pid = start_child();
    /* Get to the first syscall stop. */
    if (ptrace(PTRACE_SYSEMU, pid, 0, 0) < 0 || waitpid(pid, &status, __WALL) < 0)
        die("first stop");

    unbind(0, &all);
    unbind(pid, &all);
    measure("unpinned:", pid, iterations, 0);

    measure("follow:", pid, iterations, 1);

    int cpu = sched_getcpu();
    bind_cpu(0, cpu);
    bind_cpu(pid, cpu);
    measure("pinned:", pid, iterations, 0);

    kill(pid, SIGKILL);
    waitpid(pid, NULL, __WALL);
    return 0;
}

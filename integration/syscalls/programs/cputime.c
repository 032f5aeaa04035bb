/* CPU-time accounting: CPU clocks (own, clock_getcpuclockid of a child,
 * bad ids), getrusage/times//proc/self/stat after spinning in user mode,
 * ITIMER_PROF/ITIMER_VIRTUAL firing while spinning and not while asleep,
 * POSIX timers on CPU clocks (relative, absolute, another process's
 * clock), and the children's times collected by wait4 (grandchildren
 * included). Only booleans with generous bounds are printed. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAKE_PROCESS_CPUCLOCK(pid, clock) ((~(clockid_t)(pid) << 3) | (clockid_t)(clock))
#define CPUCLOCK_PROF 0
#define CPUCLOCK_VIRT 1
#define CPUCLOCK_SCHED 2

static volatile sig_atomic_t nprof, nvt, ntimer, timer_code_ok;
static volatile unsigned long sink;

static volatile long chld_ticks = -1;

static void on_prof(int s) { (void)s; nprof++; }
static void on_chld(int s, siginfo_t *si, void *uc) {
    (void)s; (void)uc;
    chld_ticks = (long)(si->si_utime + si->si_stime);
}
static void on_vt(int s) { (void)s; nvt++; }
static void on_timer(int s, siginfo_t *si, void *uc) {
    (void)s; (void)uc;
    if (si->si_code == SI_TIMER && si->si_value.sival_int == 42) timer_code_ok = 1;
    ntimer++;
}

#define SHOW(label, call)                                                   \
    do {                                                                    \
        errno = 0;                                                          \
        long r_ = (long)(call);                                             \
        printf("%s: %ld %s\n", label, r_, r_ < 0 ? strerror(errno) : "-"); \
    } while (0)

static double ts_s(struct timespec ts) { return ts.tv_sec + ts.tv_nsec / 1e9; }
static double tv_s(struct timeval tv) { return tv.tv_sec + tv.tv_usec / 1e6; }
static double now(clockid_t c) {
    struct timespec ts;
    if (clock_gettime(c, &ts) != 0) return -1;
    return ts_s(ts);
}

/* Spin in user mode (a clock is read only every few million iterations)
 * until ``clock`` advanced ``secs`` or ``cond`` (if given) became true;
 * gives up after 30 s of wall time. */
static int spin(clockid_t clock, double secs, volatile sig_atomic_t *counter, int want) {
    double start = now(clock), wall = now(CLOCK_MONOTONIC);
    for (;;) {
        for (int i = 0; i < 2000000; i++) sink += i;
        if (counter ? *counter >= want : now(clock) - start >= secs) return 1;
        if (now(CLOCK_MONOTONIC) - wall > 30) return 0;
    }
}

static long stat_field(const char *path, int field) {
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p += 2; /* field 3 */
    for (int i = 3; i < field; i++) {
        p = strchr(p, ' ');
        if (!p) return -1;
        p++;
    }
    return atol(p);
}

static void clocks(void) {
    struct timespec res;
    clock_getres(CLOCK_PROCESS_CPUTIME_ID, &res);
    printf("res process: %ld.%09ld\n", (long)res.tv_sec, res.tv_nsec);
    clock_getres(CLOCK_THREAD_CPUTIME_ID, &res);
    printf("res thread: %ld.%09ld\n", (long)res.tv_sec, res.tv_nsec);
    clockid_t c;
    printf("getcpuclockid self: %d\n", clock_getcpuclockid(0, &c));
    printf("self clock id matches: %d\n", c == MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_SCHED));
    printf("getcpuclockid getpid: %d\n", clock_getcpuclockid(getpid(), &c));
    printf("own pid clock reads: %d\n", now(c) >= 0);
    printf("getcpuclockid no such pid: %s\n", strerror(clock_getcpuclockid(999999, &c)));
    struct timespec ts;
    SHOW("gettime bad which", clock_gettime(MAKE_PROCESS_CPUCLOCK(0, 3), &ts));
    SHOW("gettime no such pid", clock_gettime(MAKE_PROCESS_CPUCLOCK(999999, CPUCLOCK_SCHED), &ts));
    SHOW("getres no such thread",
         clock_getres(MAKE_PROCESS_CPUCLOCK(999999, CPUCLOCK_SCHED) | 4, &res));

    printf("prof and virt clocks read: %d\n",
           now(MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_PROF)) >= now(MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_VIRT)));
}

static void self_usage(void) {
    double cpu0 = now(CLOCK_PROCESS_CPUTIME_ID), wall0 = now(CLOCK_MONOTONIC);
    struct rusage r0;
    getrusage(RUSAGE_SELF, &r0);
    int ok = spin(CLOCK_PROCESS_CPUTIME_ID, 0.3, NULL, 0);
    double cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpu0, wall = now(CLOCK_MONOTONIC) - wall0;
    printf("spun 0.3 s of CPU: %d\n", ok);
    printf("cpu <= wall (one thread): %d\n", cpu <= wall + 0.001);
    printf("thread clock <= process clock: %d\n",
           now(CLOCK_THREAD_CPUTIME_ID) <= now(CLOCK_PROCESS_CPUTIME_ID));
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    printf("utime grew >= 0.2 s: %d\n", tv_s(r.ru_utime) - tv_s(r0.ru_utime) >= 0.2);
    printf("maxrss > 0: %d\n", r.ru_maxrss > 0);
    struct rusage rt;
    getrusage(RUSAGE_THREAD, &rt);
    printf("thread utime >= 0.2 s: %d\n", tv_s(rt.ru_utime) >= 0.2);
    struct tms tm;
    times(&tm);
    printf("times utime >= 20 ticks: %d\n", tm.tms_utime >= 20);
    printf("/proc/self/stat utime >= 20: %d\n", stat_field("/proc/self/stat", 14) >= 20);
    SHOW("getrusage bad who", getrusage(7, &r));
}

static void itimers(void) {
    signal(SIGPROF, on_prof);
    signal(SIGVTALRM, on_vt);
    struct itimerval it = {{0, 10000}, {0, 10000}}, cur, old;
    setitimer(ITIMER_PROF, &it, NULL);
    setitimer(ITIMER_VIRTUAL, &it, NULL);
    getitimer(ITIMER_PROF, &cur);
    printf("prof armed: %d interval=%ld.%06ld\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0,
           (long)cur.it_interval.tv_sec, (long)cur.it_interval.tv_usec);
    printf("prof fired 5 times: %d\n", spin(0, 0, &nprof, 5));
    printf("virtual fired 5 times: %d\n", spin(0, 0, &nvt, 5));
    struct itimerval zero = {{0, 0}, {0, 0}};
    setitimer(ITIMER_VIRTUAL, &zero, &old);
    printf("virtual old interval=%ld.%06ld\n", (long)old.it_interval.tv_sec,
           (long)old.it_interval.tv_usec);
    setitimer(ITIMER_PROF, &zero, NULL);
    getitimer(ITIMER_PROF, &cur);
    printf("prof disarmed: %d\n", !cur.it_value.tv_sec && !cur.it_value.tv_usec);

    /* Asleep, a process uses no CPU time: a 50 ms ITIMER_PROF stays quiet
     * through a 200 ms sleep, then fires once the process spins. */
    nprof = 0;
    struct itimerval once = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_PROF, &once, NULL);
    struct timespec nap = {0, 200000000};
    nanosleep(&nap, NULL);
    printf("no SIGPROF while asleep: %d\n", nprof == 0);
    printf("SIGPROF after spinning: %d\n", spin(0, 0, &nprof, 1));
    getitimer(ITIMER_PROF, &cur);
    printf("one-shot disarmed after firing: %d\n", !cur.it_value.tv_sec && !cur.it_value.tv_usec);
}

static timer_t make_timer(clockid_t clock) {
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN;
    sev.sigev_value.sival_int = 42;
    timer_t id;
    int r = timer_create(clock, &sev, &id);
    printf("timer_create: %d\n", r);
    return id;
}

static void posix_timers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_timer;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGRTMIN, &sa, NULL);

    timer_t id = make_timer(CLOCK_PROCESS_CPUTIME_ID);
    struct itimerspec its = {{0, 10000000}, {0, 10000000}}, cur;
    timer_settime(id, 0, &its, NULL);
    timer_gettime(id, &cur);
    printf("process timer armed: %d interval=%ld.%09ld\n", cur.it_value.tv_nsec > 0,
           (long)cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    ntimer = 0;
    printf("process timer fired 3 times: %d\n", spin(0, 0, &ntimer, 3));
    printf("siginfo SI_TIMER with sival 42: %d\n", timer_code_ok);
    timer_delete(id);

    id = make_timer(CLOCK_THREAD_CPUTIME_ID);
    struct timespec t0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    struct itimerspec abs = {{0, 0}, t0};
    abs.it_value.tv_nsec += 20000000;
    if (abs.it_value.tv_nsec >= 1000000000) {
        abs.it_value.tv_sec++;
        abs.it_value.tv_nsec -= 1000000000;
    }
    ntimer = 0;
    timer_settime(id, TIMER_ABSTIME, &abs, NULL);
    printf("thread timer (absolute) fired: %d\n", spin(0, 0, &ntimer, 1));
    timer_gettime(id, &cur);
    printf("one-shot disarmed: %d\n", !cur.it_value.tv_sec && !cur.it_value.tv_nsec);
    timer_delete(id);

    /* A timer on a spinning child's clock fires while this process sleeps. */
    int fds[2];
    pipe(fds);
    pid_t p = fork();
    if (p == 0) {
        write(fds[1], "r", 1);
        for (;;) sink++;
    }
    char c;
    read(fds[0], &c, 1);
    clockid_t child_clock;
    printf("getcpuclockid child: %d\n", clock_getcpuclockid(p, &child_clock));
    id = make_timer(child_clock);
    struct itimerspec in50 = {{0, 0}, {0, 50000000}};
    ntimer = 0;
    timer_settime(id, 0, &in50, NULL);
    sigset_t none;
    sigemptyset(&none);
    while (!ntimer) sigsuspend(&none);
    printf("child clock timer fired: %d\n", ntimer == 1);
    printf("child clock >= 0.05 s: %d\n", now(child_clock) >= 0.05);
    struct timespec ts;
    SHOW("child's thread clock (not our thread)", clock_gettime(child_clock | 4, &ts));
    timer_delete(id);
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    SHOW("reaped child's clock", clock_gettime(child_clock, &ts));
    close(fds[0]);
    close(fds[1]);
}

static void children(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    struct rusage before;
    getrusage(RUSAGE_CHILDREN, &before);
    struct tms t0;
    times(&t0);
    pid_t p = fork();
    if (p == 0) {
        /* A grandchild spins 0.2 s and is reaped by the child. */
        pid_t g = fork();
        if (g == 0) _exit(spin(CLOCK_PROCESS_CPUTIME_ID, 0.2, NULL, 0) ? 0 : 1);
        waitpid(g, NULL, 0);
        _exit(spin(CLOCK_PROCESS_CPUTIME_ID, 0.2, NULL, 0) ? 0 : 1);
    }
    int st;
    struct rusage r;
    printf("wait4: %d\n", wait4(p, &st, 0, &r) == p && WIFEXITED(st) && !WEXITSTATUS(st));
    printf("SIGCHLD si_utime+si_stime (the child's own) >= 10 ticks: %d\n", chld_ticks >= 10);
    printf("wait4 rusage (child+grandchild) >= 0.3 s: %d\n",
           tv_s(r.ru_utime) + tv_s(r.ru_stime) >= 0.3);
    struct rusage after;
    getrusage(RUSAGE_CHILDREN, &after);
    printf("RUSAGE_CHILDREN grew >= 0.3 s: %d\n",
           tv_s(after.ru_utime) + tv_s(after.ru_stime) - tv_s(before.ru_utime) -
                   tv_s(before.ru_stime) >= 0.3);
    struct tms t1;
    times(&t1);
    printf("times cutime+cstime grew >= 30 ticks: %d\n",
           (t1.tms_cutime + t1.tms_cstime) - (t0.tms_cutime + t0.tms_cstime) >= 30);
    printf("/proc/self/stat cutime+cstime >= 30: %d\n",
           stat_field("/proc/self/stat", 16) + stat_field("/proc/self/stat", 17) >= 30);

    /* waitid's rusage is the same. */
    p = fork();
    if (p == 0) _exit(spin(CLOCK_PROCESS_CPUTIME_ID, 0.1, NULL, 0) ? 0 : 1);
    siginfo_t si;
    memset(&r, 0, sizeof r);
    printf("waitid: %ld\n", syscall(SYS_waitid, P_PID, p, &si, WEXITED, &r));
    printf("waitid rusage >= 0.1 s: %d\n", tv_s(r.ru_utime) + tv_s(r.ru_stime) >= 0.1);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    clocks();
    self_usage();
    itimers();
    posix_timers();
    children();
    return 0;
}

// sentry-needs-threads
/* CPU time of threads: pthread_getcpuclockid of a spinning thread while
 * the main thread sleeps, RUSAGE_THREAD vs RUSAGE_SELF,
 * /proc/self/task/TID/stat, a POSIX timer on another thread's CPU clock
 * signalling the main thread (SIGEV_THREAD_ID), ITIMER_PROF driven by a
 * thread, clock_nanosleep on CPU clocks the spinner drives, and a joined
 * thread's time staying in the process's. Only
 * booleans with generous bounds are printed. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static volatile int stop;
static volatile unsigned long sink;
static volatile pid_t spinner_tid;
static volatile sig_atomic_t ntimer, nprof, timer_on_main;
static pid_t main_tid;

static void *spinner(void *arg) {
    (void)arg;
    spinner_tid = (pid_t)syscall(SYS_gettid);
    while (!stop) sink++;
    return NULL;
}

static void on_timer(int s) {
    (void)s;
    if (syscall(SYS_gettid) == main_tid) timer_on_main = 1;
    ntimer++;
}
static void on_prof(int s) { (void)s; nprof++; }

static double now(clockid_t c) {
    struct timespec ts;
    if (clock_gettime(c, &ts) != 0) return -1;
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
static double tv_s(struct timeval tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

static void nap(void) {
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
}

/* Sleep in 10 ms steps until ``cond`` holds; 0 after 30 s. */
#define SLEEP_UNTIL(cond)                                         \
    ({                                                            \
        double start_ = now(CLOCK_MONOTONIC);                     \
        int ok_ = 1;                                              \
        while (!(cond)) {                                         \
            if (now(CLOCK_MONOTONIC) - start_ > 30) { ok_ = 0; break; } \
            nap();                                                \
        }                                                         \
        ok_;                                                      \
    })

static long stat_utime(pid_t tid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')') + 2;
    for (int i = 3; i < 14; i++) p = strchr(p, ' ') + 1;
    return atol(p);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    main_tid = (pid_t)syscall(SYS_gettid);
    pthread_t th;
    pthread_create(&th, NULL, spinner, NULL);
    clockid_t tclock;
    printf("pthread_getcpuclockid: %d\n", pthread_getcpuclockid(th, &tclock));
    printf("spinner clock reaches 0.2 s while main sleeps: %d\n", SLEEP_UNTIL(now(tclock) >= 0.2));
    printf("main thread clock < spinner's: %d\n", now(CLOCK_THREAD_CPUTIME_ID) < now(tclock));
    printf("process clock >= spinner's: %d\n", now(CLOCK_PROCESS_CPUTIME_ID) >= now(tclock));
    struct rusage self, thread;
    getrusage(RUSAGE_THREAD, &thread);
    getrusage(RUSAGE_SELF, &self);
    printf("RUSAGE_SELF >= 0.2 s: %d\n", tv_s(self.ru_utime) + tv_s(self.ru_stime) >= 0.2);
    printf("RUSAGE_THREAD (main) < RUSAGE_SELF: %d\n",
           tv_s(thread.ru_utime) + tv_s(thread.ru_stime) <
               tv_s(self.ru_utime) + tv_s(self.ru_stime));
    printf("task stat: spinner utime > main utime: %d\n",
           stat_utime(spinner_tid) > stat_utime(main_tid));
    printf("task stat: spinner utime >= 10 ticks: %d\n", stat_utime(spinner_tid) >= 10);

    /* clock_nanosleep on CPU clocks other threads drive. */
    struct timespec d = {0, 50000000}, t0;
    printf("nanosleep on own thread clock: %d\n", clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &d, NULL));
    double before = now(tclock);
    printf("nanosleep on the spinner's clock: %d\n", clock_nanosleep(tclock, 0, &d, NULL));
    printf("spinner's clock advanced 50 ms: %d\n", now(tclock) - before >= 0.05);
    before = now(CLOCK_PROCESS_CPUTIME_ID);
    printf("nanosleep on the process clock: %d\n",
           clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &d, NULL));
    printf("process clock advanced 50 ms: %d\n", now(CLOCK_PROCESS_CPUTIME_ID) - before >= 0.05);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    t0.tv_nsec += 50000000;
    if (t0.tv_nsec >= 1000000000) {
        t0.tv_sec++;
        t0.tv_nsec -= 1000000000;
    }
    printf("absolute nanosleep on the process clock: %d\n",
           clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, TIMER_ABSTIME, &t0, NULL));
    printf("process clock reached it: %d\n",
           now(CLOCK_PROCESS_CPUTIME_ID) >= t0.tv_sec + t0.tv_nsec / 1e9);

    /* A timer on the spinner's clock signals the (sleeping) main thread. */
    signal(SIGUSR1, on_timer);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR1;
    sev.sigev_notify_thread_id = main_tid;
    timer_t id;
    printf("timer_create on the spinner's clock: %d\n", timer_create(tclock, &sev, &id));
    struct itimerspec its = {{0, 20000000}, {0, 20000000}};
    timer_settime(id, 0, &its, NULL);
    printf("fired 3 times: %d\n", SLEEP_UNTIL(ntimer >= 3));
    printf("delivered to main: %d\n", timer_on_main);
    timer_delete(id);

    /* ITIMER_PROF counts every thread's time. */
    signal(SIGPROF, on_prof);
    struct itimerval it = {{0, 10000}, {0, 10000}};
    setitimer(ITIMER_PROF, &it, NULL);
    printf("ITIMER_PROF fired 3 times: %d\n", SLEEP_UNTIL(nprof >= 3));
    struct itimerval zero = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &zero, NULL);

    double spun = now(tclock);
    stop = 1;
    pthread_join(th, NULL);
    printf("joined thread's time stays in the process: %d\n",
           now(CLOCK_PROCESS_CPUTIME_ID) >= spun);
    return 0;
}

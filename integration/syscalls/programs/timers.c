/* alarm, setitimer/getitimer, timer_create/settime/gettime/getoverrun/delete,
 * nanosleep/clock_nanosleep argument checks; finally an alarm with the
 * default action ends the process with SIGALRM in the middle of a sleep. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SHOW(label, call)                                                     \
    do {                                                                      \
        errno = 0;                                                            \
        long r_ = (long)(call);                                               \
        printf("%s=%ld errno=%s\n", label, r_, r_ < 0 ? strerror(errno) : "-"); \
    } while (0)

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    SHOW("alarm none", alarm(100));
    SHOW("alarm old", alarm(5));
    SHOW("alarm cancel", alarm(0));
    SHOW("alarm after cancel", alarm(0));

    struct itimerval it = {{0, 0}, {2, 500000}}, old;
    SHOW("setitimer", setitimer(ITIMER_REAL, &it, NULL));
    struct itimerval cur;
    getitimer(ITIMER_REAL, &cur);
    printf("getitimer: armed=%d sec<=2:%d int=%ld.%06ld\n", cur.it_value.tv_sec || cur.it_value.tv_usec,
           cur.it_value.tv_sec <= 2, (long)cur.it_interval.tv_sec, (long)cur.it_interval.tv_usec);
    it.it_value.tv_sec = 0;
    it.it_value.tv_usec = 0;
    SHOW("setitimer disarm", setitimer(ITIMER_REAL, &it, &old));
    printf("old armed=%d\n", old.it_value.tv_sec > 1);
    getitimer(ITIMER_REAL, &cur);
    printf("disarmed=%ld.%06ld\n", (long)cur.it_value.tv_sec, (long)cur.it_value.tv_usec);
    it.it_value.tv_usec = 1000000;
    SHOW("setitimer bad usec", setitimer(ITIMER_REAL, &it, NULL));
    SHOW("setitimer bad which", setitimer(7, &it, NULL));
    SHOW("getitimer bad which", getitimer(7, &cur));
    getitimer(ITIMER_VIRTUAL, &cur);
    printf("virtual=%ld.%06ld\n", (long)cur.it_value.tv_sec, (long)cur.it_value.tv_usec);

    /* POSIX timers */
    timer_t tid;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_NONE;
    SHOW("timer_create none", timer_create(CLOCK_MONOTONIC, &sev, &tid));
    printf("timer id=%ld\n", (long)(intptr_t)tid);
    struct itimerspec its = {{0, 100 * 1000 * 1000}, {0, 30 * 1000 * 1000}}, cits;
    SHOW("timer_settime", timer_settime(tid, 0, &its, NULL));
    timer_gettime(tid, &cits);
    printf("gettime: armed=%d int=%ld.%09ld\n", cits.it_value.tv_sec == 0 && cits.it_value.tv_nsec > 0,
           (long)cits.it_interval.tv_sec, cits.it_interval.tv_nsec);
    struct timespec ts = {0, 80 * 1000 * 1000};
    nanosleep(&ts, NULL);
    timer_gettime(tid, &cits);
    printf("after expiry still periodic: %d\n", cits.it_value.tv_nsec > 0);
    SHOW("overrun", timer_getoverrun(tid));
    struct itimerspec zero = {{0, 0}, {0, 0}};
    SHOW("timer disarm", timer_settime(tid, 0, &zero, &cits));
    printf("old int=%ld\n", cits.it_interval.tv_nsec);
    its.it_value.tv_nsec = 1000000000;
    SHOW("timer_settime bad nsec", timer_settime(tid, 0, &its, NULL));
    /* absolute time in the past fires at once */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct itimerspec abs = {{0, 0}, {now.tv_sec - 1, 0}};
    SHOW("timer abstime past", timer_settime(tid, TIMER_ABSTIME, &abs, NULL));
    SHOW("timer_delete", timer_delete(tid));
    SHOW("timer_delete again", timer_delete(tid));
    SHOW("timer_gettime deleted", timer_gettime(tid, &cits));
    SHOW("timer_getoverrun deleted", timer_getoverrun(tid));
    sev.sigev_notify = 99;
    SHOW("timer_create bad notify", timer_create(CLOCK_MONOTONIC, &sev, &tid));
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = 0;
    SHOW("timer_create bad signo", timer_create(CLOCK_MONOTONIC, &sev, &tid));
    SHOW("timer_create bad clock", timer_create(99, NULL, &tid));
    SHOW("timer_create null sev", timer_create(CLOCK_REALTIME, NULL, &tid));
    printf("timer id=%ld\n", (long)(intptr_t)tid);
    timer_delete(tid);

    /* sleeps */
    struct timespec bad = {0, 1000000000};
    SHOW("nanosleep bad", syscall(SYS_nanosleep, &bad, NULL));
    struct timespec rem = {9, 9};
    struct timespec shortts = {0, 1000000};
    SHOW("nanosleep", nanosleep(&shortts, &rem));
    printf("rem untouched=%ld.%ld\n", (long)rem.tv_sec, rem.tv_nsec);
    clock_gettime(CLOCK_MONOTONIC, &now);
    now.tv_nsec += 2000000;
    if (now.tv_nsec >= 1000000000) { now.tv_sec++; now.tv_nsec -= 1000000000; }
    printf("clock_nanosleep abs=%d\n", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &now, NULL));
    printf("clock_nanosleep bad clock=%d\n", clock_nanosleep(99, 0, &shortts, NULL));

    /* SIGALRM's default action ends the process in the middle of a sleep,
     * promptly (well before the 10 s sleep ends). */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    it.it_value.tv_sec = 0;
    it.it_value.tv_usec = 100000;
    setitimer(ITIMER_REAL, &it, NULL);
    struct timespec longts = {10, 0};
    nanosleep(&longts, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("not reached: slept %ld s\n", (long)(t1.tv_sec - t0.tv_sec));
    return 0;
}

/* Clocks and sleeping. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

static long long ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void) {
    long long m0 = ns(CLOCK_MONOTONIC);
    struct timespec req = {0, 20 * 1000 * 1000};
    printf("nanosleep %d\n", nanosleep(&req, NULL));
    long long m1 = ns(CLOCK_MONOTONIC);
    printf("slept >= 20ms: %d\n", m1 - m0 >= 20000000);
    printf("slept < 2s: %d\n", m1 - m0 < 2000000000LL);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t t = time(NULL);
    /* time(2) through the vDSO reads the coarse clock, which may lag
     * gettimeofday's by one tick across a second boundary. */
    printf("time agrees: %d\n", t - tv.tv_sec <= 1 && t - tv.tv_sec >= -1);
    printf("realtime plausible: %d\n", ns(CLOCK_REALTIME) / 1000000000LL - t <= 1);
    printf("boottime >= monotonic-ish: %d\n", ns(CLOCK_BOOTTIME) > 0);
    struct timespec res;
    int rc = clock_getres(CLOCK_MONOTONIC, &res);
    printf("getres monotonic %d %ld\n", rc, res.tv_nsec);
    SHOW("bad clock", clock_gettime(12345, &res));
    struct timespec bad = {0, 2000000000L};
    SHOW("bad nanosleep", nanosleep(&bad, NULL));
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 5000000;
    if (abs.tv_nsec >= 1000000000L) { abs.tv_sec++; abs.tv_nsec -= 1000000000L; }
    printf("abs sleep %d\n", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL));
    printf("after deadline %d\n", ns(CLOCK_MONOTONIC) >= abs.tv_sec * 1000000000LL + abs.tv_nsec);
    return 0;
}

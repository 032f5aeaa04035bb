/* timerfd: create flags and clocks, relative and absolute arming, periodic
 * expiry counts, gettime, read errors, and timerfds under epoll. Times are
 * printed coarsely (never raw) so the output is deterministic. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define SHOW(label, call)                                                        \
    do {                                                                         \
        errno = 0;                                                               \
        long r_ = (long)(call);                                                  \
        printf("%s=%ld errno=%s\n", label, r_, r_ < 0 ? strerror(errno) : "-"); \
    } while (0)

static struct itimerspec spec(long val_ms, long int_ms) {
    struct itimerspec its;
    its.it_value.tv_sec = val_ms / 1000;
    its.it_value.tv_nsec = (val_ms % 1000) * 1000000L;
    its.it_interval.tv_sec = int_ms / 1000;
    its.it_interval.tv_nsec = (int_ms % 1000) * 1000000L;
    return its;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    uint64_t ticks;
    char small[4];

    SHOW("bad clock", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
    SHOW("bad flags", timerfd_create(CLOCK_MONOTONIC, 1));
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    printf("flags: nonblock=%d cloexec=%d\n", (fcntl(tfd, F_GETFL) & O_NONBLOCK) != 0,
           (fcntl(tfd, F_GETFD) & FD_CLOEXEC) != 0);
    SHOW("read disarmed", read(tfd, &ticks, 8));
    SHOW("read short", read(tfd, small, 4));
    SHOW("write", write(tfd, &ticks, 8));

    struct itimerspec its = spec(30, 0), old, cur;
    SHOW("settime 30ms", timerfd_settime(tfd, 0, &its, &old));
    printf("old disarmed: %ld %ld\n", (long)old.it_value.tv_sec, old.it_value.tv_nsec);
    timerfd_gettime(tfd, &cur);
    printf("gettime: armed=%d <=30ms=%d interval=%ld\n",
           cur.it_value.tv_sec || cur.it_value.tv_nsec,
           cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 30000000L, cur.it_interval.tv_nsec);
    struct pollfd pfd = {tfd, POLLIN, 0};
    SHOW("poll before", poll(&pfd, 1, 0));
    SHOW("poll until", poll(&pfd, 1, 2000));
    SHOW("read one", read(tfd, &ticks, 8));
    printf("ticks=%llu\n", (unsigned long long)ticks);
    timerfd_gettime(tfd, &cur);
    printf("expired one-shot: %ld %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);

    /* Blocking read of a periodic timer. */
    int btfd = timerfd_create(CLOCK_BOOTTIME, 0);
    its = spec(10, 10);
    timerfd_settime(btfd, 0, &its, NULL);
    SHOW("blocking read", read(btfd, &ticks, 8));
    printf("ticks>=1: %d\n", ticks >= 1);
    usleep(55000);
    read(btfd, &ticks, 8);
    printf("periodic ticks>=4: %d\n", ticks >= 4);
    timerfd_gettime(btfd, &cur);
    printf("interval ms=%ld\n", cur.it_interval.tv_nsec / 1000000);
    its = spec(0, 0);
    timerfd_settime(btfd, 0, &its, &old);
    printf("old interval ms=%ld\n", old.it_interval.tv_nsec / 1000000);

    /* Absolute times on CLOCK_REALTIME: one in the past fires at once,
     * with every missed period counted. */
    int rtfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    its.it_value.tv_sec = now.tv_sec - 10;
    its.it_value.tv_nsec = now.tv_nsec;
    its.it_interval.tv_sec = 1;
    its.it_interval.tv_nsec = 0;
    SHOW("abstime past", timerfd_settime(rtfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL));
    poll(&(struct pollfd){rtfd, POLLIN, 0}, 1, 2000);
    read(rtfd, &ticks, 8);
    printf("missed periods: %llu\n", (unsigned long long)ticks);
    clock_gettime(CLOCK_REALTIME, &now);
    its = spec(0, 0);
    its.it_value.tv_sec = now.tv_sec;
    its.it_value.tv_nsec = now.tv_nsec + 20000000L;
    if (its.it_value.tv_nsec >= 1000000000L) {
        its.it_value.tv_sec++;
        its.it_value.tv_nsec -= 1000000000L;
    }
    SHOW("abstime future", timerfd_settime(rtfd, TFD_TIMER_ABSTIME, &its, NULL));
    SHOW("not yet", read(rtfd, &ticks, 8));

    /* Under epoll (edge and level). */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 5}, out[2];
    epoll_ctl(ep, EPOLL_CTL_ADD, rtfd, &ev);
    SHOW("epoll timerfd", epoll_wait(ep, out, 2, 2000));
    printf("data=%llu ev=%#x\n", (unsigned long long)out[0].data.u64, out[0].events);
    read(rtfd, &ticks, 8);
    SHOW("epoll drained", epoll_wait(ep, out, 2, 0));

    /* Re-arming resets the count. */
    its = spec(1, 0);
    timerfd_settime(tfd, 0, &its, NULL);
    usleep(20000);
    its = spec(0, 0);
    timerfd_settime(tfd, 0, &its, NULL);
    SHOW("read after disarm", read(tfd, &ticks, 8));

    /* errno cases of settime/gettime. */
    its = spec(10, 0);
    SHOW("settime bad flags", timerfd_settime(tfd, 4, &its, NULL));
    its.it_value.tv_nsec = 1000000000L;
    SHOW("settime bad nsec", timerfd_settime(tfd, 0, &its, NULL));
    its = spec(10, 0);
    SHOW("settime not timerfd", timerfd_settime(ep, 0, &its, NULL));
    SHOW("settime bad fd", timerfd_settime(999, 0, &its, NULL));
    SHOW("settime efault", timerfd_settime(tfd, 0, (void *)8, NULL));
    SHOW("gettime not timerfd", timerfd_gettime(0, &cur));
    SHOW("gettime efault", timerfd_gettime(tfd, (void *)8));
    return 0;
}

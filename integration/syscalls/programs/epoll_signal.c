/* epoll_wait and epoll_pwait interrupted by signals: EINTR even with
 * SA_RESTART (never restarted), the temporary mask of epoll_pwait, ready
 * events winning over a pending signal. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t hits;
static void on_alarm(int sig) { (void)sig; hits++; }

static void arm(long usec) {
    struct itimerval it = {{0, 0}, {0, usec}};
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    int ep = epoll_create1(0);
    int efd = eventfd(0, 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 9};
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    struct epoll_event out[2];

    arm(20000);
    errno = 0;
    int n = epoll_wait(ep, out, 2, -1);
    printf("wait+SA_RESTART: n=%d errno=%s hits=%d\n", n, strerror(errno), hits);

    /* epoll_pwait: SIGALRM blocked outside, unblocked only while waiting. */
    sigset_t block, none;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigemptyset(&none);
    arm(20000);
    usleep(50000); /* now pending but blocked */
    errno = 0;
    n = epoll_pwait(ep, out, 2, 1000, &none);
    printf("pwait pending: n=%d errno=%s hits=%d\n", n, strerror(errno), hits);
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("mask restored: %d\n", sigismember(&cur, SIGALRM));

    /* Events ready and a signal pending: the events win. */
    uint64_t one = 1;
    write(efd, &one, 8);
    arm(10000);
    usleep(40000);
    n = epoll_pwait(ep, out, 2, 1000, &none);
    printf("ready beats signal: n=%d data=%llu hits=%d\n", n, (unsigned long long)out[0].data.u64, hits);
    /* The signal is still pending, blocked: the next pwait takes it. */
    errno = 0;
    n = epoll_pwait(ep, out, 2, 0, &none);
    printf("then: n=%d errno=%s hits=%d\n", n, n < 0 ? strerror(errno) : "-", hits);
    read(efd, &one, 8);

    /* A blocked signal does not interrupt a plain epoll_wait. */
    arm(10000);
    n = epoll_wait(ep, out, 2, 60);
    printf("blocked signal: n=%d hits=%d\n", n, hits);
    sigset_t pend;
    do { /* a slow machine may not have fired the timer yet */
        usleep(1000);
        sigpending(&pend);
    } while (!sigismember(&pend, SIGALRM));
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    printf("after unblock hits=%d\n", hits);
    return 0;
}

/* poll, ppoll, select, pselect on pipes and eventfds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/syscall.h>
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
    int p[2];
    char buf[64];
    pipe(p);
    struct pollfd fds[3] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {-1, POLLIN, 0}};
    int n = poll(fds, 3, 0);
    printf("poll empty: n=%d r=%#x w=%#x neg=%#x\n", n, fds[0].revents, fds[1].revents, fds[2].revents);
    write(p[1], "ab", 2);
    n = poll(fds, 2, -1);
    printf("poll data: n=%d r=%#x w=%#x\n", n, fds[0].revents, fds[1].revents);
    read(p[0], buf, 2);
    n = poll(fds, 1, 30);
    printf("poll timeout: n=%d r=%#x\n", n, fds[0].revents);

    /* Invalid fd: POLLNVAL. */
    struct pollfd bad = {999, POLLIN, 0};
    n = poll(&bad, 1, 0);
    printf("poll nval: n=%d r=%#x\n", n, bad.revents);

    /* Write end closed: POLLHUP for the reader, EOF. */
    close(p[1]);
    printf("read eof after close=%zd\n", read(p[0], buf, sizeof buf));
    n = poll(fds, 1, 0);
    printf("poll hup: n=%d r=%#x\n", n, fds[0].revents);
    close(p[0]);

    /* Read end closed: POLLERR for the writer. */
    pipe(p);
    close(p[0]);
    struct pollfd wp = {p[1], POLLOUT, 0};
    n = poll(&wp, 1, 0);
    printf("poll err: n=%d r=%#x\n", n, wp.revents);
    close(p[1]);

    /* ppoll with a timeout and a mask. */
    pipe(p);
    struct timespec ts = {0, 20 * 1000 * 1000};
    sigset_t set;
    sigemptyset(&set);
    struct pollfd pp = {p[0], POLLIN, 0};
    n = ppoll(&pp, 1, &ts, &set);
    printf("ppoll timeout: n=%d\n", n);
    write(p[1], "x", 1);
    n = ppoll(&pp, 1, NULL, NULL);
    printf("ppoll ready: n=%d r=%#x\n", n, pp.revents);
    SHOW("ppoll bad sigsetsize", syscall(SYS_ppoll, &pp, 1, NULL, &set, 4));

    /* select */
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(p[0], &rs);
    FD_SET(p[1], &ws);
    struct timeval tv = {1, 0};
    n = select(p[1] + 1, &rs, &ws, NULL, &tv);
    printf("select: n=%d r=%d w=%d\n", n, FD_ISSET(p[0], &rs), FD_ISSET(p[1], &ws));
    read(p[0], buf, 1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    tv.tv_sec = 0;
    tv.tv_usec = 20000;
    n = select(p[0] + 1, &rs, NULL, NULL, &tv);
    printf("select timeout: n=%d r=%d tv=%ld.%06ld\n", n, FD_ISSET(p[0], &rs), (long)tv.tv_sec, (long)tv.tv_usec);
    FD_ZERO(&rs);
    FD_SET(50, &rs);
    tv.tv_usec = 0;
    SHOW("select ebadf", select(51, &rs, NULL, NULL, &tv));
    SHOW("select einval", select(-1, NULL, NULL, NULL, &tv));
    tv.tv_usec = 10000;
    n = select(0, NULL, NULL, NULL, &tv);
    printf("select sleep: n=%d\n", n);

    /* pselect with a mask */
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    write(p[1], "y", 1);
    struct timespec pts = {1, 0};
    n = pselect(p[0] + 1, &rs, NULL, NULL, &pts, &set);
    printf("pselect: n=%d r=%d\n", n, FD_ISSET(p[0], &rs));
    close(p[0]);
    close(p[1]);

    /* eventfd */
    int efd = eventfd(3, EFD_NONBLOCK);
    uint64_t v = 0;
    SHOW("efd read", read(efd, &v, 8));
    printf("v=%llu\n", (unsigned long long)v);
    SHOW("efd empty read", read(efd, &v, 8));
    SHOW("efd short read", read(efd, &v, 4));
    v = 5;
    write(efd, &v, 8);
    v = 2;
    write(efd, &v, 8);
    struct pollfd ep = {efd, POLLIN | POLLOUT, 0};
    n = poll(&ep, 1, 0);
    printf("efd poll: n=%d r=%#x\n", n, ep.revents);
    read(efd, &v, 8);
    printf("efd sum=%llu\n", (unsigned long long)v);
    v = UINT64_MAX;
    SHOW("efd write max", write(efd, &v, 8));
    v = UINT64_MAX - 1;
    SHOW("efd write max-1", write(efd, &v, 8));
    v = 1;
    SHOW("efd overflow", write(efd, &v, 8));
    ep.events = POLLOUT;
    n = poll(&ep, 1, 0);
    printf("efd poll full: n=%d r=%#x\n", n, ep.revents);
    close(efd);
    efd = eventfd(2, EFD_SEMAPHORE);
    read(efd, &v, 8);
    printf("sem read=%llu\n", (unsigned long long)v);
    read(efd, &v, 8);
    printf("sem read=%llu\n", (unsigned long long)v);
    SHOW("eventfd bad flags", eventfd(0, 0x10));
    return 0;
}

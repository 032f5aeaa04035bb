/* Nested epoll instances, epoll files under poll/select, ELOOP for cycles,
 * and one epoll instance shared by two processes after fork (both wait on
 * it; each wake-up is seen). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHOW(label, call)                                                        \
    do {                                                                         \
        errno = 0;                                                               \
        long r_ = (long)(call);                                                  \
        printf("%s=%ld errno=%s\n", label, r_, r_ < 0 ? strerror(errno) : "-"); \
    } while (0)

static int add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void wait_show(const char *label, int ep, int timeout) {
    struct epoll_event ev[4];
    int n = epoll_wait(ep, ev, 4, timeout);
    printf("%s: n=%d", label, n);
    for (int i = 0; i < n; i++)
        printf(" [data=%llu ev=%#x]", (unsigned long long)ev[i].data.u64, ev[i].events);
    printf("\n");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int inner = epoll_create1(0), outer = epoll_create1(0);
    int efd = eventfd(0, EFD_NONBLOCK);
    SHOW("inner add efd", add(inner, efd, EPOLLIN, 1));
    SHOW("outer add inner", add(outer, inner, EPOLLIN, 2));
    wait_show("outer idle", outer, 0);

    struct pollfd pfd = {inner, POLLIN, 0};
    SHOW("poll inner idle", poll(&pfd, 1, 0));
    uint64_t v = 1;
    write(efd, &v, 8);
    SHOW("poll inner ready", poll(&pfd, 1, -1));
    printf("revents=%#x\n", pfd.revents);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(inner, &rs);
    struct timeval tv = {0, 0};
    SHOW("select inner", select(inner + 1, &rs, NULL, NULL, &tv));
    wait_show("outer ready", outer, -1);
    wait_show("inner ready", inner, 0);
    read(efd, &v, 8);
    wait_show("outer drained", outer, 0);
    SHOW("poll inner drained", poll(&pfd, 1, 0));

    /* Cycles and self-reference. */
    SHOW("cycle", add(inner, outer, EPOLLIN, 3));
    int a = epoll_create1(0), b = epoll_create1(0), c = epoll_create1(0);
    SHOW("a<-b", add(a, b, EPOLLIN, 0));
    SHOW("b<-c", add(b, c, EPOLLIN, 0));
    SHOW("c<-a (loop)", add(c, a, EPOLLIN, 0));
    SHOW("c<-inner ok", add(c, inner, EPOLLIN, 0));

    /* Blocking wait on the outer woken through the inner by a child. */
    pid_t pid = fork();
    if (pid == 0) {
        usleep(20000);
        uint64_t one = 1;
        write(efd, &one, 8);
        _exit(0);
    }
    wait_show("outer woken by child", outer, 5000);
    int st;
    waitpid(pid, &st, 0);
    read(efd, &v, 8);

    /* Two processes block on one instance (shared after fork); each
     * wake-up is consumed once (EPOLLONESHOT re-armed by the winner). */
    int shared = epoll_create1(0);
    int go = eventfd(0, EFD_NONBLOCK);
    int pipefd[2];
    pipe(pipefd);
    add(shared, go, EPOLLIN | EPOLLET, 7);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            struct epoll_event ev;
            int n = epoll_wait(shared, &ev, 1, 5000);
            uint64_t got = 0;
            if (n == 1 && read(go, &got, 8) == 8) {
                write(pipefd[1], "w", 1);
            } else {
                write(pipefd[1], "-", 1);
            }
            _exit(0);
        }
    }
    usleep(30000);
    v = 1;
    write(go, &v, 8);
    char c1;
    read(pipefd[0], &c1, 1);  /* the first waiter to get the event */
    usleep(30000);
    write(go, &v, 8);
    char c2;
    read(pipefd[0], &c2, 1);
    printf("shared waiters: %c %c\n", c1, c2);
    for (int i = 0; i < 2; i++)
        waitpid(kids[i], &st, 0);
    return 0;
}

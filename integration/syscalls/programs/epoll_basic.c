/* epoll on pipes and eventfds: level vs edge triggered, EPOLLONESHOT,
 * EFD_SEMAPHORE, maxevents, the ctl errno cases, close removing a
 * registration only with the last reference to its description. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHOW(label, call)                                                        \
    do {                                                                         \
        errno = 0;                                                               \
        long r_ = (long)(call);                                                  \
        printf("%s=%ld errno=%s\n", label, r_, r_ < 0 ? strerror(errno) : "-"); \
    } while (0)

static void wait_show(const char *label, int ep, int max, int timeout) {
    struct epoll_event ev[8];
    int n = epoll_wait(ep, ev, max, timeout);
    printf("%s: n=%d", label, n);
    for (int i = 0; i < n; i++)
        printf(" [data=%llu ev=%#x]", (unsigned long long)ev[i].data.u64, ev[i].events);
    printf("\n");
}

static int add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int mod(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char buf[64];
    int p[2];
    pipe(p);

    /* Level-triggered: reported while data stays unread. */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    printf("cloexec=%d\n", (fcntl(ep, F_GETFD) & FD_CLOEXEC) != 0);
    SHOW("add pipe read", add(ep, p[0], EPOLLIN, 1));
    SHOW("add pipe write", add(ep, p[1], EPOLLOUT, 2));
    wait_show("writable only", ep, 8, 0);
    SHOW("del write", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
    wait_show("empty", ep, 8, 0);
    wait_show("timeout", ep, 8, 20);
    write(p[1], "abc", 3);
    wait_show("level 1", ep, 8, -1);
    wait_show("level 2", ep, 8, 0);
    read(p[0], buf, sizeof buf);
    wait_show("drained", ep, 8, 0);

    /* Edge-triggered: once per write. */
    SHOW("mod et", mod(ep, p[0], EPOLLIN | EPOLLET, 3));
    write(p[1], "x", 1);
    wait_show("edge 1", ep, 8, 0);
    wait_show("edge 2", ep, 8, 0);
    write(p[1], "y", 1);
    wait_show("edge after write", ep, 8, 0);
    read(p[0], buf, sizeof buf);

    /* One-shot: disabled after one report until MOD. */
    SHOW("mod oneshot", mod(ep, p[0], EPOLLIN | EPOLLONESHOT, 4));
    write(p[1], "z", 1);
    wait_show("oneshot 1", ep, 8, 0);
    write(p[1], "z", 1);
    wait_show("oneshot 2", ep, 8, 0);
    SHOW("rearm", mod(ep, p[0], EPOLLIN | EPOLLONESHOT, 5));
    wait_show("rearmed", ep, 8, 0);
    read(p[0], buf, sizeof buf);

    /* Hang-up: EPOLLHUP is always reported, even when not asked for. */
    SHOW("mod rdhup", mod(ep, p[0], EPOLLIN | EPOLLRDHUP, 6));
    close(p[1]);
    wait_show("hup", ep, 8, 0);
    close(p[0]);
    wait_show("closed removes", ep, 8, 0);

    /* eventfd, normal and semaphore mode. */
    int efd = eventfd(0, EFD_NONBLOCK);
    int sem = eventfd(0, EFD_NONBLOCK | EFD_SEMAPHORE);
    SHOW("add efd", add(ep, efd, EPOLLIN | EPOLLOUT, 10));
    SHOW("add sem", add(ep, sem, EPOLLIN, 11));
    uint64_t v = 3;
    write(efd, &v, 8);
    write(sem, &v, 8);
    wait_show("eventfds", ep, 8, 0);
    for (int i = 0; i < 4; i++) {
        errno = 0;
        ssize_t r = read(sem, &v, 8);
        printf("sem read %d: r=%zd v=%llu errno=%s\n", i, r, (unsigned long long)v,
               r < 0 ? strerror(errno) : "-");
        wait_show("  after", ep, 8, 0);
    }
    read(efd, &v, 8);
    wait_show("efd drained", ep, 8, 0);

    /* maxevents: level-triggered items rotate. */
    int e2 = eventfd(1, 0), e3 = eventfd(1, 0);
    int ep2 = epoll_create(1);
    add(ep2, e2, EPOLLIN, 20);
    add(ep2, e3, EPOLLIN, 21);
    wait_show("max1 a", ep2, 1, 0);
    wait_show("max1 b", ep2, 1, 0);
    wait_show("max1 c", ep2, 1, 0);
    wait_show("max2", ep2, 2, 0);

    /* A registration belongs to the description: a dup keeps it alive. */
    int e4 = eventfd(1, 0);
    add(ep2, e4, EPOLLIN, 22);
    epoll_ctl(ep2, EPOLL_CTL_DEL, e2, NULL);
    epoll_ctl(ep2, EPOLL_CTL_DEL, e3, NULL);
    int e4dup = dup(e4);
    close(e4);
    wait_show("dup keeps", ep2, 8, 0);
    SHOW("del closed fd", epoll_ctl(ep2, EPOLL_CTL_DEL, e4, NULL));
    SHOW("add dup", add(ep2, e4dup, EPOLLIN, 23));
    wait_show("both keys", ep2, 8, 0);
    close(e4dup);
    wait_show("last close", ep2, 8, 0);

    /* errno cases. */
    struct epoll_event ev = {.events = EPOLLIN};
    int e5 = eventfd(0, 0);
    SHOW("create size 0", epoll_create(0));
    SHOW("create -1", epoll_create(-1));
    SHOW("create1 bad flag", epoll_create1(1));
    SHOW("add twice a", add(ep2, e5, EPOLLIN, 1));
    SHOW("add twice b", add(ep2, e5, EPOLLIN, 1));
    SHOW("mod missing", mod(ep2, e2, EPOLLIN, 1));
    SHOW("del missing", epoll_ctl(ep2, EPOLL_CTL_DEL, e3, NULL));
    SHOW("self add", add(ep2, ep2, EPOLLIN, 1));
    SHOW("bad op", epoll_ctl(ep2, 99, e3, &ev));
    SHOW("bad epfd", epoll_ctl(999, EPOLL_CTL_ADD, e3, &ev));
    SHOW("bad fd", epoll_ctl(ep2, EPOLL_CTL_ADD, 999, &ev));
    SHOW("not epoll", epoll_ctl(e3, EPOLL_CTL_ADD, e2, &ev));
    SHOW("efault", epoll_ctl(ep2, EPOLL_CTL_ADD, e3, (void *)8));
    int reg = open("epoll_basic_reg", O_CREAT | O_RDWR | O_TRUNC, 0600);
    SHOW("regular file", add(ep2, reg, EPOLLIN, 1));
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    SHOW("directory", add(ep2, dir, EPOLLIN, 1));
    SHOW("exclusive ok", add(ep2, e3, EPOLLIN | EPOLLEXCLUSIVE, 1));
    SHOW("exclusive mod", mod(ep2, e3, EPOLLIN, 1));
    SHOW("exclusive oneshot", add(ep2, e2, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 1));
    SHOW("exclusive epoll", add(ep2, ep, EPOLLIN | EPOLLEXCLUSIVE, 1));
    SHOW("wakeup ignored", add(ep2, e2, EPOLLIN | EPOLLWAKEUP, 1));
    struct epoll_event out[2];
    SHOW("wait max 0", epoll_wait(ep2, out, 0, 0));
    SHOW("wait max -1", syscall(SYS_epoll_wait, ep2, out, -1, 0));
    SHOW("wait not epoll", epoll_wait(e3, out, 2, 0));
    SHOW("wait bad fd", epoll_wait(999, out, 2, 0));
    sigset_t mask;
    sigemptyset(&mask);
    SHOW("pwait bad size", syscall(SYS_epoll_pwait, ep2, out, 2, 0, &mask, 4));
    struct timespec ts = {0, -1};
    SHOW("pwait2 bad ts", syscall(SYS_epoll_pwait2, ep2, out, 2, &ts, NULL, 8));
    ts.tv_nsec = 1000000;
    SHOW("pwait2 timeout", syscall(SYS_epoll_pwait2, ep2, out, 2, &ts, NULL, 8));
    unlink("epoll_basic_reg");
    return 0;
}

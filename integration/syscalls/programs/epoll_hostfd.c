/* epoll on the host-backed stdio the harness gives (stdin: a pipe closed
 * after its input, stdout/stderr: pipes): a blocking wait until the host
 * writer hangs up, writability, and a host FD next to Sentry files in one
 * instance, also after close of a dup. Level-triggered only: under EPOLLET
 * a host FD may report extra edges in the Sentry (docs/syscalls.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = 100};
    errno = 0;
    int r = epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
    printf("add stdin=%d errno=%s\n", r, r < 0 ? strerror(errno) : "-");
    if (r == 0)
        wait_show("stdin hangup", ep, -1);
    char buf[16];
    printf("read eof=%zd\n", read(0, buf, sizeof buf));

    int ep2 = epoll_create1(0);
    int efd = eventfd(0, 0);
    int out = dup(1);
    ev.events = EPOLLOUT;
    ev.data.u64 = 1;
    epoll_ctl(ep2, EPOLL_CTL_ADD, out, &ev);
    ev.events = EPOLLIN;
    ev.data.u64 = 2;
    epoll_ctl(ep2, EPOLL_CTL_ADD, efd, &ev);
    wait_show("stdout writable", ep2, -1);
    wait_show("still writable", ep2, 0);
    uint64_t one = 1;
    write(efd, &one, 8);
    wait_show("eventfd too", ep2, -1);
    read(efd, &one, 8);
    close(out); /* fd 1 shares the description: the registration stays */
    wait_show("closed dup", ep2, 0);
    ev.events = EPOLLOUT;
    ev.data.u64 = 3;
    errno = 0;
    r = epoll_ctl(ep2, EPOLL_CTL_DEL, out, &ev);
    printf("del closed=%d errno=%s\n", r, r < 0 ? strerror(errno) : "-");
    int err = dup(2);
    ev.data.u64 = 4;
    r = epoll_ctl(ep2, EPOLL_CTL_ADD, err, &ev);
    printf("add stderr dup=%d errno=%s\n", r, r < 0 ? strerror(errno) : "-");
    close(err); /* stderr's own description is still open too */
    wait_show("stdout and stderr", ep2, 0);
    return 0;
}

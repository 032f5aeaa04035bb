/* signalfd: reading blocked pending signals as signalfd_siginfo, the mask
 * update on an existing fd, poll and epoll readiness, non-blocking reads,
 * and signals outside the mask staying pending. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHOW(label, call)                                                        \
    do {                                                                         \
        errno = 0;                                                               \
        long r_ = (long)(call);                                                  \
        printf("%s=%ld errno=%s\n", label, r_, r_ < 0 ? strerror(errno) : "-"); \
    } while (0)

static void show(const char *label, struct signalfd_siginfo *si) {
    printf("%s: signo=%u code=%d pid_ok=%d uid=%u int=%d status=%d\n", label, si->ssi_signo,
           si->ssi_code, si->ssi_pid == (uint32_t)getpid(), si->ssi_uid, si->ssi_int,
           si->ssi_status);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGUSR2);
    sigaddset(&mask, SIGRTMIN);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    SHOW("bad size", syscall(SYS_signalfd4, -1, &mask, 4, 0));
    SHOW("bad flags", signalfd(-1, &mask, 1));
    SHOW("efault", syscall(SYS_signalfd4, -1, (void *)8, 8, 0));
    SHOW("not signalfd", signalfd(0, &mask, 0));
    SHOW("bad fd", signalfd(999, &mask, 0));

    sigset_t only1;
    sigemptyset(&only1);
    sigaddset(&only1, SIGUSR1);
    int sfd = signalfd(-1, &only1, SFD_NONBLOCK | SFD_CLOEXEC);
    printf("flags: nonblock=%d cloexec=%d\n", (fcntl(sfd, F_GETFL) & O_NONBLOCK) != 0,
           (fcntl(sfd, F_GETFD) & FD_CLOEXEC) != 0);
    struct signalfd_siginfo si[4];
    SHOW("read empty", read(sfd, si, sizeof si));
    SHOW("read short", read(sfd, si, 100));

    struct pollfd pfd = {sfd, POLLIN, 0};
    SHOW("poll idle", poll(&pfd, 1, 0));
    kill(getpid(), SIGUSR2); /* not in the set */
    SHOW("poll usr2", poll(&pfd, 1, 0));
    kill(getpid(), SIGUSR1);
    SHOW("poll usr1", poll(&pfd, 1, 0));
    SHOW("read usr1", read(sfd, si, sizeof si));
    show("usr1", &si[0]);

    /* Widen the set on the same fd: SIGUSR2 (still pending) is now readable. */
    SHOW("update", signalfd(sfd, &mask, 0));
    SHOW("read usr2", read(sfd, si, sizeof si));
    show("usr2", &si[0]);

    /* Several at once, queued real-time signals with values. */
    union sigval val = {.sival_int = 42};
    sigqueue(getpid(), SIGRTMIN, val);
    val.sival_int = 43;
    sigqueue(getpid(), SIGRTMIN, val);
    kill(getpid(), SIGUSR1);
    ssize_t r = read(sfd, si, sizeof si);
    printf("read many=%zd records=%zd\n", r, r / (ssize_t)sizeof si[0]);
    for (int i = 0; i < r / (ssize_t)sizeof si[0]; i++)
        show("  rec", &si[i]);

    /* Under epoll, and a blocking read woken by a child's exit (SIGCHLD). */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77}, out[2];
    SHOW("epoll add", epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev));
    SHOW("epoll idle", epoll_wait(ep, out, 2, 0));
    pid_t pid = fork();
    if (pid == 0) {
        usleep(20000);
        _exit(7);
    }
    SHOW("epoll sigchld", epoll_wait(ep, out, 2, 5000));
    printf("data=%llu\n", (unsigned long long)out[0].data.u64);
    int bfd = signalfd(-1, &mask, 0);
    SHOW("blocking read", read(bfd, si, sizeof si[0]));
    printf("chld: signo=%u code=%d status=%d pid_ok=%d\n", si[0].ssi_signo, si[0].ssi_code,
           si[0].ssi_status, si[0].ssi_pid == (uint32_t)pid);
    waitpid(pid, NULL, 0);
    SHOW("epoll after", epoll_wait(ep, out, 2, 0));

    /* Signals outside every set remain pending and are delivered on unblock. */
    sigset_t pend;
    kill(getpid(), SIGUSR2);
    signalfd(sfd, &only1, 0);
    SHOW("read not in set", read(sfd, si, sizeof si));
    sigpending(&pend);
    printf("usr2 pending=%d\n", sigismember(&pend, SIGUSR2));
    signal(SIGUSR2, SIG_IGN);
    sigpending(&pend);
    printf("usr2 pending after SIG_IGN=%d\n", sigismember(&pend, SIGUSR2));
    return 0;
}

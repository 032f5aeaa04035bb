/* Blocking across processes and signals: a reader blocked in read/poll/
 * select woken by a forked child's write, a FIFO open waiting for its
 * partner, SIGPIPE handled (EPIPE returned), blocked calls interrupted by a
 * handler (EINTR) or restarted (SA_RESTART), nanosleep's remaining time,
 * timer_create notification with siginfo, periodic setitimer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t hits, last_code, last_value, last_sig;

static void on_sig(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    hits++;
    last_sig = sig;
    last_code = si->si_code;
    last_value = si->si_value.sival_int;
}

static void handle(int sig, int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(sig, &sa, NULL);
}

static void msleep(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static pid_t child_writes(int fd, const char *msg, long delay_ms) {
    pid_t pid = fork();
    if (pid == 0) {
        msleep(delay_ms);
        write(fd, msg, strlen(msg));
        _exit(0);
    }
    return pid;
}

static void alarm_in(long ms, long interval_ms) {
    struct itimerval it = {{interval_ms / 1000, (interval_ms % 1000) * 1000}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int p[2];
    char buf[64];
    ssize_t n;

    /* read woken by a child's write */
    pipe(p);
    pid_t pid = child_writes(p[1], "from child", 50);
    n = read(p[0], buf, sizeof buf);
    printf("read woken: %zd %.*s\n", n, (int)n, buf);
    waitpid(pid, NULL, 0);

    /* poll and select woken by a child */
    pid = child_writes(p[1], "x", 50);
    struct pollfd pf = {p[0], POLLIN, 0};
    int r = poll(&pf, 1, 5000);
    printf("poll woken: %d %#x\n", r, pf.revents);
    read(p[0], buf, 1);
    waitpid(pid, NULL, 0);
    pid = child_writes(p[1], "y", 50);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    r = select(p[0] + 1, &rs, NULL, NULL, NULL);
    printf("select woken: %d %d\n", r, FD_ISSET(p[0], &rs));
    read(p[0], buf, 1);
    waitpid(pid, NULL, 0);

    /* EOF once the last writer (the child's copy too) is gone */
    pid = fork();
    if (pid == 0) {
        msleep(50);
        _exit(0);
    }
    close(p[1]);
    n = read(p[0], buf, sizeof buf);
    printf("eof after child exit: %zd\n", n);
    waitpid(pid, NULL, 0);
    close(p[0]);

    /* FIFO: a blocking open waits for the other end */
    const char *fifo = "/tmp/pysandbox-pipe-signals-fifo";
    unlink(fifo);
    mkfifo(fifo, 0600);
    pid = fork();
    if (pid == 0) {
        msleep(50);
        int w = open(fifo, O_WRONLY);
        write(w, "fifo data", 9);
        _exit(0);
    }
    int fr = open(fifo, O_RDONLY);
    n = read(fr, buf, sizeof buf);
    printf("fifo: %zd %.*s\n", n, (int)n, buf);
    waitpid(pid, NULL, 0);
    close(fr);
    unlink(fifo);

    /* SIGPIPE with a handler: the write fails with EPIPE after it runs */
    handle(SIGPIPE, 0);
    pipe(p);
    close(p[0]);
    errno = 0;
    n = write(p[1], "x", 1);
    printf("sigpipe: n=%zd errno=%s hits=%d sig=%d\n", n, strerror(errno), hits, last_sig);
    close(p[1]);

    /* read interrupted by SIGALRM: EINTR without SA_RESTART */
    hits = 0;
    handle(SIGALRM, 0);
    pipe(p);
    alarm_in(50, 0);
    errno = 0;
    n = read(p[0], buf, sizeof buf);
    printf("read interrupted: n=%zd errno=%s hits=%d\n", n, strerror(errno), hits);

    /* with SA_RESTART the read restarts and gets the child's data */
    hits = 0;
    handle(SIGALRM, SA_RESTART);
    alarm_in(30, 0);
    pid = child_writes(p[1], "after restart", 150);
    n = read(p[0], buf, sizeof buf);
    printf("read restarted: n=%zd %.*s hits=%d\n", n, (int)n, buf, hits);
    waitpid(pid, NULL, 0);

    /* poll and select are never restarted after a handler */
    hits = 0;
    alarm_in(50, 0);
    errno = 0;
    pf.fd = p[0];
    r = poll(&pf, 1, 5000);
    printf("poll interrupted: %d errno=%s hits=%d\n", r, strerror(errno), hits);
    hits = 0;
    alarm_in(50, 0);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {5, 0};
    errno = 0;
    r = select(p[0] + 1, &rs, NULL, NULL, &tv);
    printf("select interrupted: %d errno=%s hits=%d tv<5s=%d\n", r, strerror(errno), hits, tv.tv_sec < 5);

    /* nanosleep interrupted: EINTR and the time left */
    hits = 0;
    alarm_in(50, 0);
    struct timespec req = {2, 0}, rem = {0, 0};
    errno = 0;
    r = nanosleep(&req, &rem);
    printf("nanosleep interrupted: %d errno=%s hits=%d rem ok=%d\n", r, strerror(errno), hits,
           rem.tv_sec == 1 || (rem.tv_sec == 2 && rem.tv_nsec == 0) ? 1 : rem.tv_sec < 2);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    now.tv_sec += 2;
    alarm_in(50, 0);
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &now, NULL);
    printf("clock_nanosleep abs interrupted: %d\n", r);

    /* periodic ITIMER_REAL: three expiries */
    hits = 0;
    alarm_in(20, 20);
    while (hits < 3)
        pause();
    alarm_in(0, 0);
    printf("periodic: hits>=3 %d\n", hits >= 3);

    /* timer_create: SIGUSR1 with our sigval and SI_TIMER */
    hits = 0;
    handle(SIGUSR1, 0);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    sev.sigev_value.sival_int = 4242;
    timer_t tid;
    timer_create(CLOCK_MONOTONIC, &sev, &tid);
    struct itimerspec its = {{0, 0}, {0, 30 * 1000 * 1000}};
    timer_settime(tid, 0, &its, NULL);
    while (hits == 0)
        pause();
    printf("timer signal: sig=%d code_is_timer=%d value=%d\n", last_sig, last_code == SI_TIMER, last_value);
    timer_delete(tid);

    /* ppoll/pselect: a signal blocked outside is let in by the call's mask;
     * the handler runs, the call fails with EINTR and the mask is back. */
    sigset_t block, empty, now_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigemptyset(&empty);
    hits = 0;
    kill(getpid(), SIGUSR1);
    printf("blocked: hits=%d\n", hits);
    struct timespec pto = {5, 0};
    pf.fd = p[0];
    errno = 0;
    r = ppoll(&pf, 1, &pto, &empty);
    sigprocmask(SIG_BLOCK, NULL, &now_mask);
    printf("ppoll mask: %d errno=%s hits=%d still blocked=%d\n", r, strerror(errno), hits,
           sigismember(&now_mask, SIGUSR1));
    hits = 0;
    kill(getpid(), SIGUSR1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    errno = 0;
    r = pselect(p[0] + 1, &rs, NULL, NULL, &pto, &empty);
    sigprocmask(SIG_BLOCK, NULL, &now_mask);
    printf("pselect mask: %d errno=%s hits=%d still blocked=%d\n", r, strerror(errno), hits,
           sigismember(&now_mask, SIGUSR1));
    sigprocmask(SIG_UNBLOCK, &block, NULL);

    /* alarm() with SIGALRM's default action still ends the process */
    signal(SIGALRM, SIG_DFL);
    alarm(1);
    pause();
    printf("not reached\n");
    return 0;
}

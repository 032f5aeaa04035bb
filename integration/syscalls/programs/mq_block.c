/* POSIX message queues across processes: a blocked receiver or sender
 * served by another process, poll woken by a send, absolute timeouts,
 * a blocked receive interrupted by a handler (EINTR) or restarted
 * (SA_RESTART), and mq_notify's SIGEV_SIGNAL (si_code SI_MESGQ, the
 * sender's pid and uid, one shot, EBUSY for a second process). Queue names
 * carry the pid; every queue is unlinked before exit. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char name[64];
static mqd_t q;
static volatile sig_atomic_t hits, got_code, got_pid, got_uid, got_value, got_sig;

static void on_sig(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    hits++;
    got_sig = sig;
    got_code = si->si_code;
    got_pid = si->si_pid;
    got_uid = si->si_uid;
    got_value = si->si_value.sival_int;
}

static void handle(int sig, int flags) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sig;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, r);
}

static pid_t spawn(void (*fn)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        _exit(0);
    }
    return pid;
}

static int reap(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void receiver(void) {
    char buf[64];
    unsigned prio;
    ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
    _exit(n == 5 && memcmp(buf, "hello", 5) == 0 && prio == 9 ? 0 : 1);
}

static void sender(void) { _exit(mq_send(q, "second", 6, 3) == 0 ? 0 : 1); }

static void poller(void) {
    struct pollfd p = {q, POLLIN, 0};
    int r = poll(&p, 1, -1);
    _exit(r == 1 && (p.revents & POLLIN) ? 0 : 1);
}

static void notifier_sender(void) { _exit(mq_send(q, "ping", 4, 1) == 0 ? 0 : 1); }

static void busy_register(void) {
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR2;
    int r = mq_notify(q, &ev);
    _exit(r == 0 ? 0 : errno == EBUSY ? 2 : 1);
}

static void drain(void) {
    char buf[64];
    struct mq_attr a;
    mq_getattr(q, &a);
    while (a.mq_curmsgs-- > 0) mq_receive(q, buf, sizeof buf, NULL);
}

int main(void) {
    snprintf(name, sizeof name, "/pysandbox-mq-block-%d", getpid());
    struct mq_attr attr = {0};
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = 64;
    q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    report("create", q < 0 ? -1 : 0);
    char buf[64];
    unsigned prio;

    /* a receiver blocked on the empty queue gets the message */
    pid_t pid = spawn(receiver);
    report("send to a waiting receiver", mq_send(q, "hello", 5, 9));
    printf("receiver: %d\n", reap(pid));

    /* a sender blocked on the full queue: its message follows */
    report("fill", mq_send(q, "first", 5, 1));
    pid = spawn(sender);
    ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
    printf("receive: %.*s prio %u\n", (int)n, buf, prio);
    n = mq_receive(q, buf, sizeof buf, &prio);
    printf("receive: %.*s prio %u\n", (int)n, buf, prio);
    printf("sender: %d\n", reap(pid));

    /* a far-future absolute deadline (saturates in Linux) */
    pid = spawn(notifier_sender);
    struct timespec far = {0x7fffffffffffffffL, 0};
    n = mq_timedreceive(q, buf, sizeof buf, &prio, &far);
    printf("far deadline receive: %.*s\n", (int)(n > 0 ? n : 0), buf);
    printf("sender: %d\n", reap(pid));

    /* poll sleeps until a message arrives */
    pid = spawn(poller);
    report("send to wake poll", mq_send(q, "p", 1, 0));
    printf("poller: %d\n", reap(pid));
    drain();

    /* an absolute CLOCK_REALTIME timeout */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    report("timedreceive until +50ms", mq_timedreceive(q, buf, sizeof buf, &prio, &ts));
    struct timespec after;
    clock_gettime(CLOCK_REALTIME, &after);
    printf("deadline passed: %d\n",
           after.tv_sec > ts.tv_sec || (after.tv_sec == ts.tv_sec && after.tv_nsec >= ts.tv_nsec));

    /* a handler interrupts a blocked receive: EINTR, or a restart with SA_RESTART */
    struct itimerval it = {{0, 0}, {0, 50000}};
    handle(SIGALRM, 0);
    hits = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    report("receive interrupted", mq_receive(q, buf, sizeof buf, &prio));
    printf("handler ran %d\n", hits);
    handle(SIGALRM, SA_RESTART);
    hits = 0;
    setitimer(ITIMER_REAL, &it, NULL);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    report("timedreceive restarted", mq_timedreceive(q, buf, sizeof buf, &prio, &ts));
    printf("handler ran %d\n", hits);

    /* mq_notify: a signal when a message arrives in the empty queue */
    handle(SIGUSR1, SA_RESTART);
    hits = 0;
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 4242;
    report("notify", mq_notify(q, &ev));
    pid = spawn(busy_register);
    printf("second process registers: %d\n", reap(pid));
    pid = spawn(notifier_sender);
    printf("sender: %d\n", reap(pid));
    printf("signal: hits %d sig %s code %s pid %s uid %s value %d\n", hits,
           got_sig == SIGUSR1 ? "SIGUSR1" : "?", got_code == SI_MESGQ ? "SI_MESGQ" : "?",
           got_pid == pid ? "sender" : "?", got_uid == (int)getuid() ? "ours" : "?", got_value);
    /* one shot: the registration is gone, a second message sends nothing */
    drain();
    report("send again", mq_send(q, "pong", 4, 1));
    printf("hits after a second send %d\n", hits);
    drain();
    pid = spawn(busy_register);
    printf("another process registers now: %d\n", reap(pid));
    report("notify while another holds it", mq_notify(q, &ev));

    report("unlink", mq_unlink(name));
    mq_close(q);
    return 0;
}

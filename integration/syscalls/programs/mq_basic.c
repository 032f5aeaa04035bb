/* POSIX message queues without blocking: mq_open's flags, attribute
 * checks and errors (by name, mode, limits), priority order, status line,
 * mq_getsetattr, mq_unlink, poll readiness, and the unprivileged limits
 * (a child that became nobody). Queue names carry the pid: the native run
 * shares the host's queues; every queue is unlinked before exit. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char qa[64], qb[64], qc[64];

static void report(const char *what, long r) {
    if (r < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: ok\n", what);
}

static mqd_t open_attr(const char *name, int flags, mode_t mode, long maxmsg, long msgsize) {
    struct mq_attr a = {0};
    a.mq_maxmsg = maxmsg;
    a.mq_msgsize = msgsize;
    return mq_open(name, flags, mode, &a);
}

static void status(mqd_t q) {
    char buf[128];
    ssize_t n = pread(q, buf, sizeof buf - 1, 0);
    if (n < 0) {
        printf("status: -1 %s\n", strerrorname_np(errno));
        return;
    }
    buf[n] = 0;
    unsigned long qsize;
    int notify, signo, pid;
    if (sscanf(buf, "QSIZE:%lu NOTIFY:%d SIGNO:%d NOTIFY_PID:%d", &qsize, &notify, &signo, &pid) != 4) {
        printf("status: unparsable [%s]\n", buf);
        return;
    }
    printf("status: QSIZE %lu NOTIFY %d SIGNO %d owner %s ends-nl %d\n", qsize, notify, signo,
           pid == 0 ? "none" : pid == getpid() ? "self" : "other", buf[n - 1] == '\n');
}

static int child(void (*fn)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void as_nobody(void) {
    if (setgid(65534) || setuid(65534)) {
        printf("nobody: cannot drop privileges\n");
        return;
    }
    errno = 0;
    report("nobody open 0600 queue rdonly", mq_open(qa, O_RDONLY));
    report("nobody unlink root's queue", mq_unlink(qa));
    report("nobody create maxmsg 11", open_attr(qc, O_CREAT | O_RDWR, 0600, 11, 64));
    report("nobody create msgsize 8193", open_attr(qc, O_CREAT | O_RDWR, 0600, 2, 8193));
    mqd_t q = open_attr(qc, O_CREAT | O_RDWR, 0600, 10, 8192);
    report("nobody create at the limits", q);
    report("nobody unlink own queue", mq_unlink(qc));
}

static void no_msgqueue_budget(void) {
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_MSGQUEUE, &rl);
    report("create with RLIMIT_MSGQUEUE 0", open_attr(qc, O_CREAT | O_RDWR, 0600, 1, 1));
}

int main(void) {
    snprintf(qa, sizeof qa, "/pysandbox-mq-basic-a-%d", getpid());
    snprintf(qb, sizeof qb, "/pysandbox-mq-basic-b-%d", getpid());
    snprintf(qc, sizeof qc, "/pysandbox-mq-basic-c-%d", getpid());

    /* open errors */
    report("open missing", mq_open(qa, O_RDONLY));
    report("open without slash", mq_open(qa + 1, O_RDONLY));
    report("open /a/b", mq_open("/a/b", O_RDONLY));
    report("raw open empty", syscall(SYS_mq_open, "", O_RDONLY, 0, NULL));
    report("raw open dot", syscall(SYS_mq_open, ".", O_RDONLY, 0, NULL));
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[0] = '/';
    longname[sizeof longname - 1] = 0;
    report("open 298-char name", mq_open(longname, O_RDWR | O_CREAT, 0600, NULL));
    report("create maxmsg 0", open_attr(qa, O_CREAT | O_RDWR, 0600, 0, 16));
    report("create msgsize -1", open_attr(qa, O_CREAT | O_RDWR, 0600, 4, -1));
    report("create maxmsg 65537", open_attr(qa, O_CREAT | O_RDWR, 0600, 65537, 16));
    report("create msgsize 16M+1", open_attr(qa, O_CREAT | O_RDWR, 0600, 1, 16 * 1024 * 1024 + 1));

    mqd_t q = open_attr(qa, O_CREAT | O_EXCL | O_RDWR, 0640, 4, 16);
    report("create", q);
    report("create again O_EXCL", open_attr(qa, O_CREAT | O_EXCL | O_RDWR, 0640, 4, 16));
    report("open access mode 3", mq_open(qa, O_RDWR | O_WRONLY));
    mqd_t again = open_attr(qa, O_CREAT | O_RDONLY, 0600, 99999, 99999);
    report("O_CREAT of an existing queue ignores attr", again);
    report("raw open, bad attr pointer", syscall(SYS_mq_open, qa + 1, O_RDONLY, 0, (void *)8));
    report("raw open, bad name pointer", syscall(SYS_mq_open, (void *)8, O_RDONLY, 0, NULL));
    printf("lseek end %ld\n", (long)lseek(again, 0, SEEK_END));
    char line[128];
    lseek(again, 0, SEEK_SET);
    ssize_t got = read(again, line, sizeof line);
    printf("read status: %s, then %zd\n", got > 0 && line[got - 1] == '\n' ? "a line" : "?",
           read(again, line, sizeof line));
    printf("F_GETFD cloexec %d, access %d, nonblock %d\n", fcntl(q, F_GETFD) & FD_CLOEXEC,
           fcntl(q, F_GETFL) & O_ACCMODE, !!(fcntl(q, F_GETFL) & O_NONBLOCK));
    struct stat st;
    fstat(q, &st);
    printf("fstat: regular %d perm %o size %ld\n", S_ISREG(st.st_mode), st.st_mode & 07777,
           (long)st.st_size);
    struct mq_attr a;
    mq_getattr(q, &a);
    printf("attr: flags %ld maxmsg %ld msgsize %ld curmsgs %ld\n", a.mq_flags, a.mq_maxmsg,
           a.mq_msgsize, a.mq_curmsgs);
    struct mq_attr d = {0};
    mqd_t def = mq_open(qb, O_CREAT | O_RDWR | O_NONBLOCK, 0600, NULL);
    mq_getattr(def, &d);
    printf("default attr: flags %s maxmsg %ld msgsize %ld\n",
           d.mq_flags == O_NONBLOCK ? "O_NONBLOCK" : "?", d.mq_maxmsg, d.mq_msgsize);

    /* priorities: highest first, FIFO within one */
    struct pollfd p = {q, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    printf("empty poll: in %d out %d\n", !!(p.revents & POLLIN), !!(p.revents & POLLOUT));
    const char *msgs[] = {"a1", "b5", "c1", "d5"};
    unsigned prios[] = {1, 5, 1, 5};
    for (int i = 0; i < 4; i++) report("send", mq_send(q, msgs[i], strlen(msgs[i]), prios[i]));
    status(q);
    p.revents = 0;
    poll(&p, 1, 0);
    printf("full poll: in %d out %d\n", !!(p.revents & POLLIN), !!(p.revents & POLLOUT));
    mq_getattr(q, &a);
    printf("curmsgs %ld\n", a.mq_curmsgs);
    struct mq_attr nb = {0}, old;
    nb.mq_flags = O_NONBLOCK;
    mq_setattr(q, &nb, &old);
    printf("setattr old flags %ld, F_GETFL nonblock %d\n", old.mq_flags,
           !!(fcntl(q, F_GETFL) & O_NONBLOCK));
    report("send to a full queue, O_NONBLOCK", mq_send(q, "e", 1, 0));
    nb.mq_flags = O_NONBLOCK | O_APPEND;
    report("setattr with O_APPEND", mq_setattr(q, &nb, NULL));
    nb.mq_flags = 0;
    mq_setattr(q, &nb, NULL);
    struct timespec past = {1, 0};
    report("timedsend to a full queue, past deadline", mq_timedsend(q, "e", 1, 0, &past));
    struct timespec bad = {0, -1};
    report("timedsend bad timespec", mq_timedsend(q, "e", 1, 0, &bad));
    report("send priority 32768", mq_send(q, "e", 1, 32768));
    report("send 17 bytes", mq_send(q, "0123456789abcdefg", 17, 0));
    char buf[64];
    unsigned prio;
    report("receive with a 15-byte buffer", mq_receive(q, buf, 15, &prio));
    for (int i = 0; i < 4; i++) {
        ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
        printf("receive: %zd [%.*s] prio %u\n", n, (int)(n > 0 ? n : 0), buf, prio);
    }
    status(q);
    report("timedreceive empty, past deadline", mq_timedreceive(q, buf, sizeof buf, &prio, &past));
    report("timedreceive bad timespec", mq_timedreceive(q, buf, sizeof buf, &prio, &bad));
    report("receive empty O_NONBLOCK", mq_receive(def, buf, 8192, &prio));
    report("zero-length send", mq_send(q, "", 0, 7));
    ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
    printf("zero-length receive: %zd prio %u\n", n, prio);

    /* access modes and descriptor kinds */
    report("send on O_RDONLY", mq_send(again, "x", 1, 0));
    mqd_t wo = mq_open(qa, O_WRONLY);
    report("receive on O_WRONLY", mq_receive(wo, buf, sizeof buf, &prio));
    report("send on a pipe", mq_send(STDIN_FILENO, "x", 1, 0));
    int pfd[2];
    pipe(pfd);
    report("getattr on a pipe", mq_getattr(pfd[0], &a));
    report("send on a closed fd", mq_send(999, "x", 1, 0));
    report("write(2) on a queue", write(q, "x", 1));
    struct sigevent ev = {0};
    ev.sigev_notify = 99;
    report("notify bad sigev_notify", mq_notify(q, &ev));
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = 65;
    report("notify bad signal", mq_notify(q, &ev));
    ev.sigev_notify = SIGEV_NONE;
    report("notify SIGEV_NONE", mq_notify(q, &ev));
    status(q);
    report("notify again", mq_notify(q, &ev));
    report("notify remove", mq_notify(q, NULL));
    status(q);

    /* a child that is nobody, one without a message-queue budget */
    printf("nobody child: %d\n", child(as_nobody));
    printf("rlimit child: %d\n", child(no_msgqueue_budget));

    /* unlink: the name goes, open descriptors stay usable */
    report("unlink", mq_unlink(qa));
    report("unlink again", mq_unlink(qa));
    report("open after unlink", mq_open(qa, O_RDONLY));
    report("send after unlink", mq_send(q, "late", 4, 2));
    n = mq_receive(q, buf, sizeof buf, &prio);
    printf("receive after unlink: %zd [%.*s] prio %u\n", n, (int)(n > 0 ? n : 0), buf, prio);
    report("unlink without slash", mq_unlink(qb + 1));
    report("unlink b", mq_unlink(qb));
    mq_close(q);
    mq_close(again);
    mq_close(wo);
    mq_close(def);
    return 0;
}

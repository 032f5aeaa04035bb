/* Signal delivery: handlers with SA_SIGINFO, SA_RESETHAND, SA_NODEFER,
 * SA_ONSTACK on a sigaltstack, masks and pending signals, sigsuspend,
 * sigtimedwait, sigqueue, SA_RESTART against EINTR for a blocked read,
 * SIGSEGV handlers leaving by siglongjmp, FP state kept across a handler,
 * default actions seen by the parent. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t hits, depth, max_depth, last_code, last_pid_ok, on_alt;
static char *alt_lo, *alt_hi;
static sigjmp_buf jb;
static volatile void *fault_addr;

static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static void info_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    hits++;
    last_code = si->si_code;
    last_pid_ok = si->si_pid == getpid() && si->si_signo == sig;
}

static volatile sig_atomic_t calls;

static void nested(int sig) {
    depth++;
    calls++;
    if (depth > max_depth) max_depth = depth;
    if (calls < 3) raise(sig);
    depth--;
}

static void alt_handler(int sig) {
    char here;
    (void)sig;
    on_alt = &here > alt_lo && &here < alt_hi;
}

static void segv_handler(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    fault_addr = si->si_addr;
    last_code = si->si_code;
    siglongjmp(jb, 1);
}

static void fp_handler(int sig) {
    (void)sig;
    volatile double z = 0;
    for (int i = 0; i < 10; i++) z = z * 3.5 + 1.25;
    hits++;
}

static void plain(int sig) { (void)sig; hits++; }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    /* SA_SIGINFO from kill() */
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = info_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    kill(getpid(), SIGUSR1);
    printf("siginfo hits %d code %d pid_ok %d\n", hits, last_code, last_pid_ok);
    /* sigqueue carries a value and SI_QUEUE */
    union sigval v = {.sival_int = 42};
    sigqueue(getpid(), SIGUSR1, v);
    printf("sigqueue hits %d code %d\n", hits, last_code);
    /* SA_RESETHAND: the second one kills, seen from a child */
    pid_t p = fork();
    if (p == 0) {
        struct sigaction r;
        memset(&r, 0, sizeof r);
        r.sa_handler = plain;
        r.sa_flags = SA_RESETHAND;
        sigaction(SIGUSR2, &r, NULL);
        raise(SIGUSR2);
        printf("child survived first, hits %d\n", hits);
        raise(SIGUSR2);
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    printf("resethand: signaled %d sig %d\n", WIFSIGNALED(st), WTERMSIG(st));
    /* SA_NODEFER lets the handler nest; without it the signal waits */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = nested;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    printf("nodefer max depth %d\n", max_depth);
    max_depth = depth = calls = 0;
    sa.sa_flags = 0;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    printf("deferred max depth %d calls %d\n", max_depth, calls);
    /* SA_ONSTACK runs on the alternate stack */
    stack_t ss;
    ss.ss_sp = malloc(SIGSTKSZ * 4);
    ss.ss_size = SIGSTKSZ * 4;
    ss.ss_flags = 0;
    alt_lo = ss.ss_sp;
    alt_hi = alt_lo + ss.ss_size;
    printf("sigaltstack %d\n", sigaltstack(&ss, NULL));
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = alt_handler;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGWINCH, &sa, NULL);
    raise(SIGWINCH);
    printf("on altstack %d\n", on_alt);
    sa.sa_flags = 0;
    sigaction(SIGWINCH, &sa, NULL);
    raise(SIGWINCH);
    printf("without SA_ONSTACK on altstack %d\n", on_alt);
    /* blocked signals stay pending until unblocked */
    hits = 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = plain;
    sigaction(SIGUSR2, &sa, NULL);
    sigset_t set, old, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR2);
    raise(SIGUSR2);
    sigpending(&pend);
    printf("pending usr2 %d hits %d\n", sigismember(&pend, SIGUSR2), hits);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("after unblock hits %d (standard signals do not queue)\n", hits);
    /* real-time signals queue */
    hits = 0;
    sigaction(SIGRTMIN + 1, &sa, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &set, &old);
    for (int i = 0; i < 3; i++) sigqueue(getpid(), SIGRTMIN + 1, v);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("rt queued hits %d\n", hits);
    /* sigtimedwait takes a blocked signal without running the handler */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    kill(getpid(), SIGUSR1);
    siginfo_t si;
    struct timespec ts = {0, 1000000};
    int got = sigtimedwait(&set, &si, &ts);
    printf("sigtimedwait %d code %d\n", got, si.si_code);
    errno = 0;
    got = sigtimedwait(&set, &si, &ts);
    printf("sigtimedwait empty %d %s\n", got, strerrorname_np(errno));
    sigprocmask(SIG_SETMASK, &old, NULL);
    /* sigsuspend waits for a signal from a child */
    hits = 0;
    sigprocmask(SIG_BLOCK, &set, &old);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = plain;
    sigaction(SIGUSR1, &sa, NULL);
    pid_t parent = getpid();
    p = fork();
    if (p == 0) { nap(20); kill(parent, SIGUSR1); _exit(0); }
    sigset_t empty;
    sigemptyset(&empty);
    errno = 0;
    int r = sigsuspend(&empty);
    printf("sigsuspend %d %s hits %d\n", r, strerrorname_np(errno), hits);
    sigprocmask(SIG_BLOCK, NULL, &pend);
    printf("mask restored %d\n", sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    waitpid(p, NULL, 0);
    /* a blocked read: EINTR without SA_RESTART, restarted with it */
    for (int restart = 0; restart < 2; restart++) {
        int fds[2];
        pipe(fds);
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = plain;
        sa.sa_flags = restart ? SA_RESTART : 0;
        sigaction(SIGUSR1, &sa, NULL);
        p = fork();
        if (p == 0) {
            nap(30);
            kill(parent, SIGUSR1);
            nap(30);
            write(fds[1], "z", 1);
            _exit(0);
        }
        char c = 0;
        errno = 0;
        ssize_t n = read(fds[0], &c, 1);
        printf("read restart=%d -> %zd %s %c\n", restart, n, n < 0 ? strerrorname_np(errno) : "-",
               n > 0 ? c : '.');
        waitpid(p, NULL, 0);
        close(fds[0]);
        close(fds[1]);
    }
    /* SIGSEGV handler and siglongjmp */
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sigsetjmp(jb, 1) == 0) {
        page[10] = 1;
        printf("no fault?\n");
    } else {
        printf("segv addr ok %d code %d\n", fault_addr == page + 10, last_code);
    }
    if (sigsetjmp(jb, 1) == 0) {
        *(volatile int *)8 = 1;
    } else {
        printf("segv null addr %p code %d\n", (void *)fault_addr, last_code);
    }
    /* FP registers survive a handler that uses them */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fp_handler;
    sigaction(SIGUSR2, &sa, NULL);
    volatile double a = 1.0 / 3.0;
    double b = a * 7.0;
    raise(SIGUSR2);
    double c2 = b * 3.0;
    printf("fp ok %d\n", c2 == (1.0 / 3.0) * 7.0 * 3.0);
    /* default actions */
    int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGSEGV, SIGUSR1, SIGALRM};
    for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        p = fork();
        if (p == 0) {
            signal(sigs[i], SIG_DFL);
            kill(getpid(), sigs[i]);
            nap(1000);
            _exit(0);
        }
        waitpid(p, &st, 0);
        printf("default %d: signaled %d sig %d\n", sigs[i], WIFSIGNALED(st), WTERMSIG(st));
    }
    /* ignored by default */
    p = fork();
    if (p == 0) { kill(getpid(), SIGCHLD); kill(getpid(), SIGURG); _exit(4); }
    waitpid(p, &st, 0);
    printf("ignored defaults: exited %d\n", WEXITSTATUS(st));
    /* SIGCHLD handler runs when a child exits */
    hits = 0;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = info_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGCHLD, &sa, NULL);
    p = fork();
    if (p == 0) _exit(6);
    waitpid(p, &st, 0);
    printf("sigchld hits %d code %d\n", hits, last_code);
    /* sigwaitinfo takes a blocked SIGCHLD whose default action is ignore */
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    p = fork();
    if (p == 0) { nap(20); _exit(4); }
    got = sigwaitinfo(&set, &si);
    printf("sigwaitinfo %d code %d status %d\n", got, si.si_code, si.si_status);
    waitpid(p, NULL, 0);
    return 0;
}

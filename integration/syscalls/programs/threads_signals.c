// sentry-needs-threads
/* Signals and threads: pthread_kill/tgkill target one thread, per-thread
 * masks, a process-directed signal goes to a thread that does not block it,
 * sigwait in a thread, per-thread alternate stacks, tgkill errors, and a
 * group stop/continue of a threaded child seen by waitpid. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static atomic_int handler_tid, handled, stop_threads;
static pid_t worker_tid;

static void on_usr1(int s) {
    (void)s;
    atomic_store(&handler_tid, (int)syscall(SYS_gettid));
    atomic_fetch_add(&handled, 1);
}

static void *spinner(void *arg) {
    (void)arg;
    worker_tid = (pid_t)syscall(SYS_gettid);
    while (!atomic_load(&stop_threads)) nap_ms(1);
    return NULL;
}

static void *blocker(void *arg) {
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    while (!atomic_load(&stop_threads)) nap_ms(1);
    return NULL;
}

static void thread_directed(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t th;
    atomic_store(&stop_threads, 0);
    worker_tid = 0;
    pthread_create(&th, NULL, spinner, NULL);
    while (!worker_tid) nap_ms(1);
    pthread_kill(th, SIGUSR1);
    while (!atomic_load(&handled)) nap_ms(1);
    printf("pthread_kill ran the handler in the target: %d\n", handler_tid == worker_tid);
    atomic_store(&handled, 0);
    syscall(SYS_tgkill, getpid(), worker_tid, SIGUSR1);
    while (!atomic_load(&handled)) nap_ms(1);
    printf("tgkill ran the handler in the target: %d\n", handler_tid == worker_tid);
    long r = syscall(SYS_tgkill, getpid() + 100000, worker_tid, 0);
    printf("tgkill wrong tgid: %ld %s\n", r, strerrorname_np(errno));
    r = syscall(SYS_tgkill, getpid(), 0, 0);
    printf("tgkill bad tid: %ld %s\n", r, strerrorname_np(errno));
    r = syscall(SYS_tkill, worker_tid, 0);
    printf("tkill probe: %ld\n", r);
    atomic_store(&stop_threads, 1);
    pthread_join(th, NULL);
}

static void process_directed(void) {
    /* main blocks SIGUSR1, one thread blocks it too, another does not:
     * kill(getpid()) must run the handler in the one that does not. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    atomic_store(&stop_threads, 0);
    atomic_store(&handled, 0);
    pthread_t b, s;
    worker_tid = 0;
    pthread_create(&b, NULL, blocker, NULL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL); /* spinner inherits an open mask */
    pthread_create(&s, NULL, spinner, NULL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    while (!worker_tid) nap_ms(1);
    kill(getpid(), SIGUSR1);
    while (!atomic_load(&handled)) nap_ms(1);
    printf("kill(getpid) handled by the unblocked thread: %d\n", handler_tid == worker_tid);
    atomic_store(&stop_threads, 1);
    pthread_join(b, NULL);
    pthread_join(s, NULL);
    /* With every thread blocking it, it stays pending for the process. */
    kill(getpid(), SIGUSR1);
    sigset_t pend;
    sigpending(&pend);
    printf("pending while blocked: %d\n", sigismember(&pend, SIGUSR1));
    atomic_store(&handled, 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    printf("delivered on unblock: %d\n", atomic_load(&handled));
}

static void *sigwaiter(void *arg) {
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    int sig = 0;
    sigwait(&set, &sig);
    return (void *)(long)sig;
}

static void sigwait_in_thread(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t th;
    pthread_create(&th, NULL, sigwaiter, NULL);
    kill(getpid(), SIGUSR2);
    void *r;
    pthread_join(th, &r);
    printf("sigwait in a thread got: %ld\n", (long)r);
}

static atomic_int on_alt;
static char *alt_base;

static void on_usr2(int s) {
    (void)s;
    char here;
    atomic_store(&on_alt, &here >= alt_base && &here < alt_base + 65536);
}

static void *alt_thread(void *arg) {
    (void)arg;
    stack_t ss;
    sigaltstack(NULL, &ss);
    int inherited = !(ss.ss_flags & SS_DISABLE);
    alt_base = malloc(65536);
    ss.ss_sp = alt_base;
    ss.ss_size = 65536;
    ss.ss_flags = 0;
    sigaltstack(&ss, NULL);
    pthread_kill(pthread_self(), SIGUSR2);
    return (void *)(long)inherited;
}

static void altstack(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR2, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    static char main_alt[65536];
    stack_t ss = {.ss_sp = main_alt, .ss_size = sizeof main_alt, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    pthread_t th;
    pthread_create(&th, NULL, alt_thread, NULL);
    void *r;
    pthread_join(th, &r);
    printf("new thread inherited an alt stack: %ld, handler on its own: %d\n", (long)r,
           atomic_load(&on_alt));
}

static void *ticker(void *arg) {
    int fd = (int)(long)arg;
    for (;;) {
        if (write(fd, "t", 1) != 1) _exit(1);
        nap_ms(2);
    }
    return NULL;
}

static void group_stop(void) {
    int p[2];
    if (pipe(p)) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        pthread_t a, b;
        pthread_create(&a, NULL, ticker, (void *)(long)p[1]);
        pthread_create(&b, NULL, ticker, (void *)(long)p[1]);
        for (;;) pause();
    }
    close(p[1]);
    char c;
    if (read(p[0], &c, 1) != 1) return;
    kill(pid, SIGSTOP);
    int st;
    waitpid(pid, &st, WUNTRACED);
    printf("stopped: %d sig %d\n", WIFSTOPPED(st), WSTOPSIG(st));
    kill(pid, SIGCONT);
    waitpid(pid, &st, WCONTINUED);
    printf("continued: %d\n", WIFCONTINUED(st));
    if (read(p[0], &c, 1) != 1) return;
    printf("threads tick again after SIGCONT\n");
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    printf("killed: %d\n", WTERMSIG(st));
    close(p[0]);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    thread_directed();
    process_directed();
    sigwait_in_thread();
    altstack();
    group_stop();
    return 0;
}

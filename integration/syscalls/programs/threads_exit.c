// sentry-needs-threads
/* How threads end: pthread_exit of a non-leader, the leader exiting first
 * (the process lives on until the last thread), exit_group from a thread,
 * a fatal signal in one thread killing the group, the wait status of each,
 * set_tid_address/CLONE_CHILD_CLEARTID, and execve from a non-leader
 * thread (the other threads die, the pid stays). */
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

static atomic_int go;

static void nap_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void report(const char *label, pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) { printf("%s: waitpid %s\n", label, strerrorname_np(errno)); return; }
    if (WIFEXITED(st)) printf("%s: exited %d\n", label, WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) printf("%s: signaled %d\n", label, WTERMSIG(st));
}

static void *sleeper(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

static char task_state(pid_t tid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] ? p[2] : '?';
}

static void *late_exit(void *arg) {
    int fd = (int)(long)arg;
    while (!atomic_load(&go)) nap_ms(1);
    /* wait until the leader has exited (a zombie while this thread lives) */
    while (task_state(getpid()) != 'Z') nap_ms(1);
    char c = 'x';
    if (write(fd, &c, 1) != 1) _exit(3);
    syscall(SYS_exit, 9); /* the last thread's status is the process's (Linux 6.x) */
    return NULL;
}

static void leader_first(void) {
    int p[2];
    if (pipe(p)) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        pthread_t th;
        pthread_create(&th, NULL, late_exit, (void *)(long)p[1]);
        atomic_store(&go, 1);
        pthread_exit(NULL); /* the leader ends with status 0 */
    }
    close(p[1]);
    char c;
    ssize_t n = read(p[0], &c, 1);
    printf("leader-first: child thread wrote %zd\n", n);
    /* the process is not reapable until the last thread exits */
    report("leader-first", pid);
    close(p[0]);
}

static void *group_exiter(void *arg) {
    (void)arg;
    exit(42);
}

static void exit_group_from_thread(void) {
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t a, b;
        pthread_create(&a, NULL, sleeper, NULL);
        pthread_create(&b, NULL, group_exiter, NULL);
        for (;;) pause();
    }
    report("exit_group from a thread", pid);
}

static void *crasher(void *arg) {
    (void)arg;
    raise(SIGTERM); /* thread-directed, default action: the group dies */
    return NULL;
}

static void fatal_signal_in_thread(void) {
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t a, b;
        pthread_create(&a, NULL, sleeper, NULL);
        pthread_create(&b, NULL, crasher, NULL);
        for (;;) pause();
    }
    report("fatal signal in a thread", pid);
}

static void *segv(void *arg) {
    (void)arg;
    *(volatile int *)8 = 1;
    return NULL;
}

static void fault_in_thread(void) {
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t a, b;
        pthread_create(&a, NULL, sleeper, NULL);
        pthread_create(&b, NULL, segv, NULL);
        for (;;) pause();
    }
    report("SIGSEGV in a thread", pid);
}

static void kill_process_with_threads(void) {
    int p[2];
    if (pipe(p)) return;
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t a;
        pthread_create(&a, NULL, sleeper, NULL);
        if (write(p[1], "r", 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c;
    if (read(p[0], &c, 1) != 1) return;
    kill(pid, SIGKILL);
    report("SIGKILL to a threaded process", pid);
    close(p[0]);
    close(p[1]);
}

static pid_t cleartid_word = 1;

static void *set_tid_thread(void *arg) {
    (void)arg;
    long tid = syscall(SYS_set_tid_address, &cleartid_word);
    cleartid_word = (pid_t)tid;
    syscall(SYS_exit, 0);
    return NULL;
}

static void clear_tid(void) {
    pthread_t th;
    pthread_create(&th, NULL, set_tid_thread, NULL);
    /* Wait on the word with FUTEX_WAIT: the exit zeroes it and wakes us. */
    for (;;) {
        pid_t v = __atomic_load_n(&cleartid_word, __ATOMIC_SEQ_CST);
        if (v == 0) break;
        if (v == 1) { nap_ms(1); continue; }
        syscall(SYS_futex, &cleartid_word, 0 /* FUTEX_WAIT, shared */, v, NULL, NULL, 0);
    }
    printf("set_tid_address word cleared at exit: %d\n", cleartid_word);
    /* pthread's own tid slot was never cleared, so don't join: detach */
    pthread_detach(th);
}

static char *self_exe;

static void *execer(void *arg) {
    (void)arg;
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    char *argv[] = {self_exe, "after-exec", pid, NULL};
    execv("/proc/self/exe", argv);
    printf("execv: %s\n", strerror(errno));
    _exit(1);
}

static void *failing_exec(void *arg) {
    (void)arg;
    char *argv[] = {"nope", NULL};
    execv("/nonexistent/program", argv);
    return (void *)(long)errno;
}

static void exec_failure_keeps_threads(void) {
    pthread_t th, s;
    pthread_create(&s, NULL, sleeper, NULL);
    pthread_create(&th, NULL, failing_exec, NULL);
    void *r;
    pthread_join(th, &r);
    printf("failed exec in a thread: %s, others alive: %d\n", strerrorname_np((int)(long)r),
           pthread_kill(s, 0) == 0);
}

static void exec_from_leader(void) {
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t a, b;
        pthread_create(&a, NULL, sleeper, NULL);
        pthread_create(&b, NULL, sleeper, NULL);
        char me[32];
        snprintf(me, sizeof me, "%d", (int)getpid());
        char *argv[] = {self_exe, "after-exec", me, NULL};
        execv("/proc/self/exe", argv);
        _exit(1);
    }
    report("exec from the leader", pid);
}

static void exec_from_thread(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t a, b;
        pthread_create(&a, NULL, sleeper, NULL);
        pthread_create(&b, NULL, execer, NULL);
        for (;;) pause();
    }
    report("exec from a thread", pid);
}

static int status_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "after-exec") == 0) {
        printf("after exec: same pid %d, leader %d, threads %d\n", atoi(argv[2]) == getpid(),
               getpid() == syscall(SYS_gettid), status_threads());
        return 7;
    }
    self_exe = argv[0];
    setvbuf(stdout, NULL, _IONBF, 0);
    leader_first();
    exit_group_from_thread();
    fatal_signal_in_thread();
    fault_in_thread();
    kill_process_with_threads();
    clear_tid();
    exec_from_thread();
    exec_from_leader();
    exec_failure_keeps_threads();
    return 0;
}

// sentry-needs-threads
/* Robust futexes: a robust mutex whose owner thread dies gives the next
 * locker EOWNERDEAD (set_robust_list walked at thread exit), also between
 * processes with a process-shared robust mutex in MAP_SHARED memory, and
 * get_robust_list reports the registered head. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t *mu;

static void *die_holding(void *arg) {
    (void)arg;
    pthread_mutex_lock(mu);
    return NULL; /* exits with the lock held */
}

static void show(const char *label, int e) { printf("%s: %s\n", label, e ? strerrorname_np(e) : "0"); }

static void robust_in_process(void) {
    static pthread_mutex_t m;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&m, &a);
    mu = &m;
    pthread_t th;
    pthread_create(&th, NULL, die_holding, NULL);
    pthread_join(th, NULL);
    show("lock after owner thread died", pthread_mutex_lock(mu));
    show("consistent", pthread_mutex_consistent(mu));
    show("unlock", pthread_mutex_unlock(mu));
    show("lock again", pthread_mutex_lock(mu));
    show("unlock again", pthread_mutex_unlock(mu));
}

static void *die_when_waited_for(void *arg) {
    (void)arg;
    pthread_mutex_lock(mu);
    /* Exit once the main thread sleeps in the kernel on the lock (glibc
     * sets FUTEX_WAITERS in the word before FUTEX_WAIT). */
    while (!(__atomic_load_n(&mu->__data.__lock, __ATOMIC_SEQ_CST) & 0x80000000)) usleep(1000);
    usleep(20000);
    return NULL;
}

static void robust_waiter_woken(void) {
    /* A thread blocked on the mutex is woken when its owner dies. */
    static pthread_mutex_t m;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&m, &a);
    mu = &m;
    pthread_t th;
    pthread_create(&th, NULL, die_when_waited_for, NULL);
    while (!__atomic_load_n(&m.__data.__lock, __ATOMIC_SEQ_CST)) usleep(1000);
    int e = pthread_mutex_lock(mu);
    show("blocked waiter after owner died", e);
    if (e == EOWNERDEAD) pthread_mutex_consistent(mu);
    pthread_mutex_unlock(mu);
    pthread_join(th, NULL);
}

static void robust_across_processes(void) {
    pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(m, &a);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(m);
        _exit(0); /* dies holding it */
    }
    int st;
    waitpid(pid, &st, 0);
    show("lock after owner process died", pthread_mutex_lock(m));
    pthread_mutex_consistent(m);
    pthread_mutex_unlock(m);
    munmap(m, 4096);
}

static pid_t other_tid;

static void *report_tid(void *arg) {
    (void)arg;
    __atomic_store_n(&other_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&other_tid, __ATOMIC_SEQ_CST) != -1) usleep(1000);
    return NULL;
}

static void robust_list_syscalls(void) {
    void *head = NULL;
    size_t len = 0;
    long r = syscall(SYS_get_robust_list, 0, &head, &len);
    printf("get_robust_list: %ld len %zu head set %d\n", r, len, head != NULL);
    r = syscall(SYS_set_robust_list, head, len + 1);
    printf("set_robust_list bad size: %ld %s\n", r, strerrorname_np(errno));
    pthread_t th;
    pthread_create(&th, NULL, report_tid, NULL);
    while (!other_tid) usleep(1000);
    void *other = NULL;
    len = 0;
    r = syscall(SYS_get_robust_list, other_tid, &other, &len);
    printf("get_robust_list of another thread: %ld len %zu own head %d\n", r, len,
           other != NULL && other != head);
    __atomic_store_n(&other_tid, -1, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    r = syscall(SYS_get_robust_list, 999999, &head, &len);
    printf("get_robust_list unknown pid: %ld %s\n", r, strerrorname_np(errno));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    robust_in_process();
    robust_waiter_woken();
    robust_across_processes();
    robust_list_syscalls();
    return 0;
}

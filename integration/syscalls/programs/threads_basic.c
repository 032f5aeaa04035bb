// sentry-needs-threads
/* pthreads: create/join, mutexes, condition variables, barriers, rwlocks,
 * thread-local storage, getpid vs gettid, /proc/self/task and Threads: in
 * /proc/self/status, per-thread comm, detached threads, clone3 fallback. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define N 4
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t bar;
static __thread int tls_val = 7;
static __thread char tls_buf[64];
static long counter, rw_sum;
static int ready, tids_distinct = 1, pid_same = 1;
static pid_t tids[N];

static int count_tasks(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
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

static void *worker(void *arg) {
    long id = (long)arg;
    if (tls_val != 7) printf("tls initial value wrong in %ld\n", id);
    tls_val = (int)id * 10;
    snprintf(tls_buf, sizeof tls_buf, "worker-%ld", id);
    tids[id] = (pid_t)syscall(SYS_gettid);
    if (getpid() == tids[id]) tids_distinct = 0;
    char name[16];
    snprintf(name, sizeof name, "w%ld", id);
    prctl(PR_SET_NAME, name);
    pthread_barrier_wait(&bar);   /* all threads exist */
    pthread_barrier_wait(&bar);   /* main has counted them */
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    for (int i = 0; i < 1000; i++) {
        pthread_rwlock_rdlock(&rw);
        long s = rw_sum;
        pthread_rwlock_unlock(&rw);
        pthread_rwlock_wrlock(&rw);
        rw_sum = s >= 0 ? rw_sum + 1 : 0;
        pthread_rwlock_unlock(&rw);
    }
    pthread_mutex_lock(&mu);
    while (!ready) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    char comm[32] = "";
    prctl(PR_GET_NAME, comm);
    if (strcmp(comm, name) != 0) printf("comm mismatch %s\n", comm);
    if (strncmp(tls_buf, "worker-", 7) != 0) printf("tls buffer lost\n");
    return (void *)(long)(tls_val + 1);
}

static void *detached(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    counter += 1000000;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(void) {
    pthread_t th[N];
    pthread_barrier_init(&bar, NULL, N + 1);
    tls_val = 99;
    printf("main is leader: %d\n", getpid() == syscall(SYS_gettid));
    printf("tasks before: %d, Threads: %d\n", count_tasks(), status_threads());
    for (long i = 0; i < N; i++) {
        int e = pthread_create(&th[i], NULL, worker, (void *)i);
        if (e) printf("pthread_create: %s\n", strerror(e));
    }
    pthread_barrier_wait(&bar);
    printf("tasks during: %d, Threads: %d\n", count_tasks(), status_threads());
    for (int i = 0; i < N; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%d/comm", tids[i]);
        FILE *f = fopen(path, "r");
        char comm[32] = "";
        if (f) { if (!fgets(comm, sizeof comm, f)) comm[0] = 0; fclose(f); }
        /* the name may not be set yet: only check that the file is there */
        printf("task %d comm readable: %d\n", i, f != NULL);
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", tids[i]);
        f = fopen(path, "r");
        int tid = 0;
        if (f) { if (fscanf(f, "%d", &tid) != 1) tid = -1; fclose(f); }
        printf("task %d stat tid matches: %d\n", i, tid == tids[i]);
    }
    pthread_barrier_wait(&bar);
    pthread_mutex_lock(&mu);
    ready = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < N; i++) {
        void *r;
        pthread_join(th[i], &r);
        printf("thread %d returned %ld\n", i, (long)r);
    }
    printf("counter %ld rw %ld tls %d distinct %d same-pid %d\n", counter, rw_sum, tls_val,
           tids_distinct, pid_same);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t d;
    pthread_create(&d, &attr, detached, NULL);
    pthread_mutex_lock(&mu);
    while (counter < 1000000) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    printf("detached ran: %ld\n", counter);
    return 0;
}

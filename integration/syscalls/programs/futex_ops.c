// sentry-needs-threads
/* futex(2) directly: WAIT/WAKE, timeouts (relative, absolute monotonic and
 * realtime), bitsets, REQUEUE, CMP_REQUEUE, WAKE_OP, private vs shared,
 * errors (alignment, bad ops, PI), a shared futex across fork in MAP_SHARED
 * memory, and interruption by signals (EINTR, SA_RESTART). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long fx(void *uaddr, int op, uint32_t val, const void *timeout, void *uaddr2, uint32_t val3) {
    return syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
}

static void res(const char *label, long r) {
    if (r < 0) printf("%s: -1 %s\n", label, strerrorname_np(errno));
    else printf("%s: %ld\n", label, r);
}

static void nap_ms(long ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static uint32_t f1, f2;
static atomic_int started, finished;
static int results[8];

struct waitarg { uint32_t *addr; int op; uint32_t bitset; int idx; };

static void *waiter(void *p) {
    struct waitarg *a = p;
    atomic_fetch_add(&started, 1);
    long r = a->op == FUTEX_WAIT_BITSET_PRIVATE
                 ? fx(a->addr, a->op, 0, NULL, NULL, a->bitset)
                 : fx(a->addr, a->op, 0, NULL, NULL, 0);
    results[a->idx] = r < 0 ? -errno : (int)r;
    atomic_fetch_add(&finished, 1);
    return NULL;
}

/* Wake until ``want`` waiters were woken (they may not all be queued yet). */
static long wake_all(uint32_t *addr, int op, int want, uint32_t bitset) {
    long total = 0;
    while (total < want) {
        long r = fx(addr, op, 1, NULL, NULL, bitset);
        if (r < 0) { printf("wake failed %s\n", strerrorname_np(errno)); return total; }
        total += r;
        if (r == 0) nap_ms(1);
    }
    return total;
}

static void join_all(pthread_t *th, int n) {
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
}

static void basic(void) {
    uint32_t v = 5;
    struct timespec rel = {0, 20 * 1000000L};
    res("wait value mismatch", fx(&v, FUTEX_WAIT_PRIVATE, 4, NULL, NULL, 0));
    res("wait relative timeout", fx(&v, FUTEX_WAIT_PRIVATE, 5, &rel, NULL, 0));
    res("wait shared timeout", fx(&v, FUTEX_WAIT, 5, &rel, NULL, 0));
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 20 * 1000000L;
    if (abs.tv_nsec >= 1000000000L) { abs.tv_sec++; abs.tv_nsec -= 1000000000L; }
    res("bitset absolute monotonic", fx(&v, FUTEX_WAIT_BITSET_PRIVATE, 5, &abs, NULL, ~0u));
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += 20 * 1000000L;
    if (abs.tv_nsec >= 1000000000L) { abs.tv_sec++; abs.tv_nsec -= 1000000000L; }
    res("bitset absolute realtime",
        fx(&v, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 5, &abs, NULL, ~0u));
    struct timespec past = {1, 0};
    res("bitset absolute past", fx(&v, FUTEX_WAIT_BITSET_PRIVATE, 5, &past, NULL, ~0u));
    struct timespec bad = {-1, 0};
    res("negative timeout", fx(&v, FUTEX_WAIT_PRIVATE, 5, &bad, NULL, 0));
    struct timespec badns = {0, 1000000000L};
    res("bad nanoseconds", fx(&v, FUTEX_WAIT_PRIVATE, 5, &badns, NULL, 0));
    res("wait bitset 0", fx(&v, FUTEX_WAIT_BITSET_PRIVATE, 5, NULL, NULL, 0));
    res("wake bitset 0", fx(&v, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0));
    res("wake nobody", fx(&v, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
    res("misaligned wait", fx((char *)&v + 1, FUTEX_WAIT_PRIVATE, 5, NULL, NULL, 0));
    res("misaligned wake", fx((char *)&v + 2, FUTEX_WAKE, 1, NULL, NULL, 0));
    res("wait bad address", fx((void *)8, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));
    res("shared wake bad address", fx((void *)8, FUTEX_WAKE, 1, NULL, NULL, 0));
    res("private wake bad address", fx((void *)8, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
    res("unknown op", fx(&v, 99, 0, NULL, NULL, 0));
    res("realtime with wake", fx(&v, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0));
    res("requeue negative", fx(&v, FUTEX_REQUEUE_PRIVATE, 1, (void *)-1L, &f2, 0));
    res("cmp_requeue mismatch", fx(&v, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &f2, 4));
    res("cmp_requeue match", fx(&v, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &f2, 5));
}

static void wake_op(void) {
    uint32_t a = 0, b = 10;
    /* b = b + 3; wake on a; if old b == 10 wake on b too */
    uint32_t op = FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 10);
    res("wake_op add", fx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b, op));
    printf("b after add: %u\n", b);
    op = FUTEX_OP(FUTEX_OP_OR, 16, FUTEX_OP_CMP_GT, 100);
    res("wake_op or", fx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b, op));
    printf("b after or: %u\n", b);
    res("wake_op shifted", fx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b,
                              ((FUTEX_OP_ANDN | FUTEX_OP_OPARG_SHIFT) << 28) | (FUTEX_OP_CMP_NE << 24) | (2 << 12)));
    printf("b after andn 1<<2: %u\n", b);
    res("wake_op xor negative", fx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b,
                                   (FUTEX_OP_XOR << 28) | (FUTEX_OP_CMP_LT << 24) | (0xfff << 12) | 5));
    printf("b after xor -1: %u\n", b);
    res("wake_op bad op", fx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b, 7u << 28));
    res("wake_op bad cmp", fx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b, 9u << 24));
    res("wake_op bad address", fx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, (void *)8, 0));
    /* A waiter on b is woken because the comparison passes. */
    pthread_t th;
    struct waitarg w = {&b, FUTEX_WAIT_PRIVATE, 0, 0};
    b = 0;
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    pthread_create(&th, NULL, waiter, &w);
    while (!atomic_load(&started)) nap_ms(1);
    long total = 0;
    while (total < 1) {
        /* keep b at 0 so the waiter can still be queued: SET 0, compare EQ 0 */
        long r = fx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b,
                    FUTEX_OP(FUTEX_OP_SET, 0, FUTEX_OP_CMP_EQ, 0));
        total += r;
        if (!r) nap_ms(1);
    }
    pthread_join(th, NULL);
    printf("wake_op woke the second futex: %ld, waiter result %d\n", total, results[0]);
}

static void wake_and_requeue(void) {
    pthread_t th[3];
    struct waitarg w[3];
    f1 = f2 = 0;
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waitarg){&f1, FUTEX_WAIT_PRIVATE, 0, i};
        pthread_create(&th[i], NULL, waiter, &w[i]);
    }
    printf("woken one by one: %ld\n", wake_all(&f1, FUTEX_WAKE_PRIVATE, 3, 0));
    join_all(th, 3);
    printf("results %d %d %d\n", results[0], results[1], results[2]);

    atomic_store(&started, 0);
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, waiter, &w[i]);
    long moved = 0;
    while (moved < 3) {
        long r = fx(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 0, (void *)(long)INT_MAX, &f2, 0);
        if (r < 0) { printf("requeue %s\n", strerrorname_np(errno)); break; }
        moved += r;
        if (moved < 3) nap_ms(1);
    }
    printf("requeued: %ld\n", moved);
    res("wake old futex", fx(&f1, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    res("wake new futex", fx(&f2, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    join_all(th, 3);
    printf("results %d %d %d\n", results[0], results[1], results[2]);

    /* REQUEUE with one woken and the rest moved: all three sit on f2 first */
    atomic_store(&started, 0);
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, waiter, &w[i]);
    moved = 0;
    while (moved < 3) {
        long r = fx(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 0, (void *)(long)INT_MAX, &f2, 0);
        moved += r;
        if (moved < 3) nap_ms(1);
    }
    res("requeue woke+moved", fx(&f2, FUTEX_REQUEUE_PRIVATE, 1, (void *)(long)INT_MAX, &f1, 0));
    res("wake the moved ones", fx(&f1, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    join_all(th, 3);
    printf("results %d %d %d\n", results[0], results[1], results[2]);
}

static void bitsets(void) {
    pthread_t th[2];
    struct waitarg w[2] = {{&f1, FUTEX_WAIT_BITSET_PRIVATE, 1, 0},
                           {&f1, FUTEX_WAIT_BITSET_PRIVATE, 2, 1}};
    f1 = 0;
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, waiter, &w[i]);
    printf("bitset 2 woke: %ld\n", wake_all(&f1, FUTEX_WAKE_BITSET_PRIVATE, 1, 2));
    while (atomic_load(&finished) < 1) nap_ms(1);
    printf("finished after bitset 2: %d, second done %d\n", atomic_load(&finished), results[1] == 0);
    printf("bitset 4 woke: %ld\n", fx(&f1, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 4));
    printf("bitset 1 woke: %ld\n", wake_all(&f1, FUTEX_WAKE_BITSET_PRIVATE, 1, 1));
    join_all(th, 2);
}

static void shared_across_fork(void) {
    uint32_t *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    /* untouched before the fork: the page must still be one for both */
    pid_t pid = fork();
    if (pid == 0) {
        long r = fx(word, FUTEX_WAIT, 0, NULL, NULL, 0);
        _exit(r == 0 ? 0 : 1);
    }
    long woken = 0;
    while (!woken) {
        woken = fx(word, FUTEX_WAKE, 1, NULL, NULL, 0);
        if (!woken) nap_ms(1);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("shared futex across fork: woken %ld, child status %d\n", woken, WEXITSTATUS(st));
    /* A private wake does not reach a process waiting on the shared key. */
    pid = fork();
    if (pid == 0) {
        struct timespec rel = {0, 100 * 1000000L};
        long r = fx(word, FUTEX_WAIT, 0, &rel, NULL, 0);
        _exit(r < 0 && errno == ETIMEDOUT ? 0 : 1);
    }
    waitpid(pid, &st, 0);
    printf("unwoken shared waiter timed out: %d\n", WEXITSTATUS(st) == 0);
    munmap(word, 4096);
}

static atomic_int handled;
static void on_usr1(int s) { (void)s; atomic_fetch_add(&handled, 1); }

struct sigwait_arg { int with_timeout; long result; int err; };

static void *sig_waiter(void *p) {
    struct sigwait_arg *a = p;
    struct timespec rel = {30, 0};
    atomic_fetch_add(&started, 1);
    a->result = fx(&f1, FUTEX_WAIT_PRIVATE, 0, a->with_timeout ? &rel : NULL, NULL, 0);
    a->err = errno;
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void signals(int restart) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    for (int with_timeout = 0; with_timeout < 2; with_timeout++) {
        struct sigwait_arg a = {with_timeout, 0, 0};
        pthread_t th;
        f1 = 0;
        atomic_store(&started, 0);
        atomic_store(&finished, 0);
        atomic_store(&handled, 0);
        pthread_create(&th, NULL, sig_waiter, &a);
        while (!atomic_load(&started)) nap_ms(1);
        if (restart && !with_timeout) {
            /* restarted after the handler: only a wake ends it */
            while (atomic_load(&handled) < 3) { pthread_kill(th, SIGUSR1); nap_ms(5); }
            wake_all(&f1, FUTEX_WAKE_PRIVATE, 1, 0);
        } else {
            while (!atomic_load(&finished)) { pthread_kill(th, SIGUSR1); nap_ms(5); }
        }
        pthread_join(th, NULL);
        printf("signal, SA_RESTART %d, timeout %d: %ld %s\n", restart, with_timeout, a.result,
               a.result < 0 ? strerrorname_np(a.err) : "ok");
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    basic();
    wake_op();
    wake_and_requeue();
    bitsets();
    shared_across_fork();
    signals(0);
    signals(1);
    return 0;
}

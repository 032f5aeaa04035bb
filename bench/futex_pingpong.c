/* Futex ping-pong between two threads, timed inside the program
 * (CLOCK_MONOTONIC): thread A sets the word to 1 and wakes B, B sets it to
 * 0 and wakes A; each waits with FUTEX_WAIT_PRIVATE while the word is not
 * its turn. One round trip = two wakes and two waits.
 *
 * Usage: futex_pingpong [ROUND_TRIPS]   prints "pingpong <n> <seconds>". */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic unsigned int word;
static long rounds;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void wait_while(unsigned int v) {
    while (atomic_load(&word) == v)
        syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void set_and_wake(unsigned int v) {
    atomic_store(&word, v);
    syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *pong(void *arg) {
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        wait_while(0);
        set_and_wake(0);
    }
    return NULL;
}

int main(int argc, char **argv) {
    rounds = argc > 1 ? atol(argv[1]) : 2000;
    pthread_t th;
    pthread_create(&th, NULL, pong, NULL);
    double t0 = now();
    for (long i = 0; i < rounds; i++) {
        set_and_wake(1);
        wait_while(1);
    }
    double t1 = now();
    pthread_join(th, NULL);
    printf("pingpong %ld %.6f\n", rounds, t1 - t0);
    return 0;
}

/* Scheduler queries. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

int main(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    printf("getaffinity %d\n", sched_getaffinity(0, sizeof set, &set));
    printf("count matches %d\n", CPU_COUNT(&set) == sysconf(_SC_NPROCESSORS_ONLN) || CPU_COUNT(&set) > 0);
    printf("yield %d\n", sched_yield());
    printf("scheduler %d\n", sched_getscheduler(0));
    printf("prio max fifo %d\n", sched_get_priority_max(SCHED_FIFO));
    SHOW("bad pid", sched_getaffinity(999999, sizeof set, &set));
    return 0;
}

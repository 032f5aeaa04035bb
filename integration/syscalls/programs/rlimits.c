/* Resource limits. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

int main(void) {
    struct rlimit r, r2;
    printf("get nofile %d\n", getrlimit(RLIMIT_NOFILE, &r));
    r2 = r;
    r2.rlim_cur = r.rlim_cur > 64 ? 64 : r.rlim_cur;
    printf("lower soft %d\n", setrlimit(RLIMIT_NOFILE, &r2));
    getrlimit(RLIMIT_NOFILE, &r2);
    printf("soft now %lu\n", (unsigned long)r2.rlim_cur);
    struct rlimit bad = {10, 5};
    SHOW("soft > hard", setrlimit(RLIMIT_NOFILE, &bad));
    SHOW("bad resource", getrlimit(99, &r));
    struct rlimit old;
    printf("prlimit %d\n", prlimit(0, RLIMIT_CORE, NULL, &old));
    struct rlimit core = {0, old.rlim_max};
    printf("prlimit set %d\n", prlimit(0, RLIMIT_CORE, &core, &old));
    getrlimit(RLIMIT_CORE, &r);
    printf("core %lu\n", (unsigned long)r.rlim_cur);
    SHOW("prlimit bad pid", prlimit(999999, RLIMIT_CORE, NULL, &old));
    return 0;
}

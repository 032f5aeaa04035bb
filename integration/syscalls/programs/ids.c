/* Credentials: ids, groups, and set*id rules for root. */
// sentry-needs-root
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

int main(void) {
    printf("uid %d euid %d gid %d egid %d\n", getuid(), geteuid(), getgid(), getegid());
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    printf("resuid %d %d %d\n", r, e, s);
    gid_t gr, ge, gs;
    getresgid(&gr, &ge, &gs);
    printf("resgid %d %d %d\n", gr, ge, gs);
    int n = getgroups(0, NULL);
    gid_t groups[64];
    printf("getgroups count matches %d\n", getgroups(64, groups) == n);
    if (n > 1)
        SHOW("getgroups too small", getgroups(n - 1, groups));
    printf("setgroups %d\n", setgroups(1, (gid_t[]){0}));
    printf("getgroups after %d\n", getgroups(64, groups));
    printf("setresgid %d\n", setresgid(-1, 1234, -1));
    printf("egid %d gid %d\n", getegid(), getgid());
    printf("setresuid %d\n", setresuid(-1, 1000, -1));
    printf("euid %d uid %d\n", geteuid(), getuid());
    SHOW("setgroups unprivileged", setgroups(0, NULL));
    printf("back to root %d\n", seteuid(0));
    printf("euid %d\n", geteuid());
    printf("setuid 1000 %d\n", setuid(1000));
    printf("all %d %d\n", getuid(), geteuid());
    SHOW("setuid 0 again", setuid(0));
    return 0;
}

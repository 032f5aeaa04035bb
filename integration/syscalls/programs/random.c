/* getrandom. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

int main(void) {
    unsigned char a[64], b[64];
    printf("getrandom %zd\n", getrandom(a, sizeof a, 0));
    printf("nonblock %zd\n", getrandom(b, sizeof b, GRND_NONBLOCK));
    printf("differ %d\n", memcmp(a, b, sizeof a) != 0);
    SHOW("bad flags", getrandom(a, 1, 0x80));
    SHOW("bad buffer", getrandom((void *)1, 16, 0));
    return 0;
}

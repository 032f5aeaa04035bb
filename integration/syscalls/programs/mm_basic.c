/* mmap family: anonymous mappings, protections, mremap, brk, madvise,
 * mincore, and the errno of each bad argument. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(name, expr) printf("%-28s %s\n", name, (expr) ? "ok" : "FAIL")
#define ERR(name, call) do { errno = 0; long r_ = (long)(call); \
    printf("%-28s r=%ld errno=%s\n", name, r_ == -1 || r_ == (long)MAP_FAILED ? -1L : 0L, strerrorname_np(errno) ? strerrorname_np(errno) : "0"); } while (0)

int main(void) {
    long ps = sysconf(_SC_PAGESIZE);
    printf("pagesize %ld\n", ps);

    char *p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("mmap anon", p != MAP_FAILED && ((uintptr_t)p % ps) == 0);
    CHECK("anon is zero", p[0] == 0 && p[4 * ps - 1] == 0);
    memset(p, 'a', 4 * ps);
    CHECK("write/read", p[ps + 7] == 'a');

    unsigned char vec[4];
    CHECK("mincore", mincore(p, 4 * ps, vec) == 0 && (vec[0] & 1));
    CHECK("mprotect ro", mprotect(p + ps, ps, PROT_READ) == 0);
    CHECK("read after ro", p[ps] == 'a');
    CHECK("mprotect back", mprotect(p + ps, ps, PROT_READ | PROT_WRITE) == 0);
    p[ps] = 'b';
    CHECK("write after rw", p[ps] == 'b');

    CHECK("madvise dontneed", madvise(p, ps, MADV_DONTNEED) == 0);
    CHECK("dontneed zeroes", p[0] == 0 && p[ps] == 'b');

    char *q = mremap(p, 4 * ps, 64 * ps, MREMAP_MAYMOVE);
    CHECK("mremap grow", q != MAP_FAILED && q[ps] == 'b' && q[63 * ps] == 0);
    char *r = mremap(q, 64 * ps, 2 * ps, 0);
    CHECK("mremap shrink", r == q && r[ps] == 'b');
    CHECK("munmap", munmap(r, 2 * ps) == 0);
    ERR("mincore unmapped", mincore(r, ps, vec));

    char *fixed = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fixed[0] = 'x';
    char *again = mmap(fixed, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK("map_fixed replaces", again == fixed && fixed[0] == 0);
    ERR("fixed_noreplace", mmap(fixed, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));

    ERR("mmap len 0", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ERR("mmap bad type", mmap(NULL, ps, PROT_READ, MAP_ANONYMOUS, -1, 0));
    ERR("mmap bad fd", mmap(NULL, ps, PROT_READ, MAP_PRIVATE, 999, 0));
    ERR("mmap unaligned fixed", mmap((void *)(fixed + 1), ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    ERR("munmap unaligned", munmap(fixed + 1, ps));
    ERR("mprotect unmapped", mprotect((void *)0x10000, ps, PROT_READ));
    ERR("mprotect bad prot", mprotect(fixed, ps, 0x80));
    ERR("madvise bad advice", madvise(fixed, ps, 12345));
    ERR("mremap bad flags", mremap(fixed, ps, 2 * ps, 0x100));
    ERR("msync unaligned", msync(fixed + 1, ps, MS_SYNC));
    ERR("msync bad flags", msync(fixed, ps, MS_SYNC | MS_ASYNC));

    void *b0 = sbrk(0);
    char *b1 = sbrk(3 * ps);
    CHECK("sbrk grows", b1 == b0 && sbrk(0) == (char *)b0 + 3 * ps);
    b1[3 * ps - 1] = 'z';
    CHECK("brk memory", b1[3 * ps - 1] == 'z' && b1[0] == 0);
    CHECK("sbrk shrink", sbrk(-2 * ps) != (void *)-1 && sbrk(0) == (char *)b0 + ps);

    char *big = mmap(NULL, 256 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    big[(256 << 20) - 1] = 1;
    big[0] = 2;
    CHECK("large sparse", big[0] == 2 && big[(256 << 20) - 1] == 1 && big[100 << 20] == 0);
    return 0;
}

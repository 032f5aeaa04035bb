/* A PROT_NONE guard page faults; the stack grows on demand. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static int deep(int n) {
    volatile char buf[4096];
    memset((char *)buf, n & 0xff, sizeof buf);
    return n == 0 ? buf[0] : deep(n - 1) + buf[10];
}

int main(void) {
    printf("deep stack %d\n", deep(512)); /* ~2 MiB of stack */
    char *p = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p + 4096, 4096, PROT_NONE);
    p[0] = 1;
    printf("first page fine\n");
    fflush(stdout);
    return p[4096];
}

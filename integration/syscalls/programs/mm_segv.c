/* Writing to a read-only page kills the process with SIGSEGV. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mapped read-only\n");
    fflush(stdout);
    p[0] = 1;
    printf("not reached\n");
    return 0;
}

/* Read-only private file mappings, whose pages the Sentry shares between
 * mappings copy-on-write (mm/private_cache.py): a rewrite of the file
 * (same size, same instant) shows in the next mapping; writes after
 * mprotect stay private to their mapping and process, before and after a
 * fork; a large executable mapping reads right across its windows; a file
 * truncated and regrown maps its new bytes. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define BIG_PAGES 800 /* beyond one 512-page text window */

static unsigned sum(const unsigned char *p, size_t n) {
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s = s * 31 + p[i];
    return s;
}

static void fill(int fd, char c, size_t n) {
    char *buf = malloc(n);
    memset(buf, c, n);
    for (size_t i = 0; i < n; i += PAGE) buf[i] = (char)('a' + (i / PAGE) % 26);
    pwrite(fd, buf, n, 0);
    free(buf);
}

int main(void) {
    const char *path = "mm_private_cache.data";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0755);
    fill(fd, 'A', 4 * PAGE);

    /* 1. A rewrite of the same size right away shows in the next mapping. */
    char *m1 = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("first  %c%c %c%c\n", m1[0], m1[1], m1[3 * PAGE], m1[3 * PAGE + 1]);
    fill(fd, 'B', 4 * PAGE);
    char *m2 = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("second %c%c %c%c\n", m2[0], m2[1], m2[3 * PAGE], m2[3 * PAGE + 1]);

    /* 2. Writes after mprotect stay in their mapping; the file and a
     * mapping made afterwards keep the file's bytes. */
    char *m3 = mmap(NULL, 4 * PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    printf("third  %c%c\n", m3[PAGE], m3[PAGE + 1]);
    printf("mprotect %d\n", mprotect(m3, 4 * PAGE, PROT_READ | PROT_WRITE));
    m3[PAGE + 1] = 'w';
    char *m4 = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    char back;
    pread(fd, &back, 1, PAGE + 1);
    printf("written %c, other mapping %c, file %c, m2 %c\n", m3[PAGE + 1], m4[PAGE + 1], back,
           m2[PAGE + 1]);

    /* 3. After a fork each process writes its own copy of the cached
     * pages; the other side and further mappings do not see it. */
    char *m5 = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("before fork %c\n", m5[2 * PAGE + 5]);
    int go[2], done[2];
    pipe(go);
    pipe(done);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        read(go[0], &c, 1);
        mprotect(m5, 4 * PAGE, PROT_READ | PROT_WRITE);
        m5[2 * PAGE + 5] = 'c';
        printf("child sees %c %c\n", m5[2 * PAGE + 5], m5[2 * PAGE + 6]);
        fflush(stdout);
        write(done[1], "x", 1);
        read(go[0], &c, 1);
        printf("child still %c\n", m5[2 * PAGE + 5]);
        fflush(stdout);
        _exit(0);
    }
    mprotect(m5, 4 * PAGE, PROT_READ | PROT_WRITE);
    m5[2 * PAGE + 5] = 'p';
    write(go[1], "x", 1);
    char c;
    read(done[0], &c, 1);
    printf("parent sees %c\n", m5[2 * PAGE + 5]);
    fflush(stdout);
    write(go[1], "x", 1);
    int st;
    waitpid(pid, &st, 0);
    char *m6 = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("fresh mapping %c, exit %d\n", m6[2 * PAGE + 5], WEXITSTATUS(st));

    /* 4. A large executable mapping: every page right, across windows. */
    int big = open("mm_private_cache.big", O_RDWR | O_CREAT | O_TRUNC, 0755);
    fill(big, 'x', BIG_PAGES * PAGE);
    unsigned char *b = mmap(NULL, BIG_PAGES * PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, big, 0);
    unsigned char *copy = malloc(BIG_PAGES * PAGE);
    pread(big, copy, BIG_PAGES * PAGE, 0);
    int bad = 0;
    for (int i = BIG_PAGES - 1; i >= 0; i -= 7)
        bad += b[(size_t)i * PAGE] != copy[(size_t)i * PAGE];
    printf("big mapping %s, sum equal %d\n", bad ? "differs" : "matches",
           sum(b, BIG_PAGES * PAGE) == sum(copy, BIG_PAGES * PAGE));

    /* 5. Truncated and regrown with other bytes: the new bytes. */
    ftruncate(big, 0);
    fill(big, 'y', 600 * PAGE);
    unsigned char *b2 = mmap(NULL, 600 * PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, big, 0);
    printf("regrown %c %c %c\n", b2[1], b2[300 * PAGE + 1], b2[599 * PAGE + 1]);
    unlink("mm_private_cache.big");
    unlink(path);
    return 0;
}

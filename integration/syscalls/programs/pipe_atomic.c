/* PIPE_BUF atomicity across processes: four children write 4096-byte
 * blocks of their own letter at once; the parent reads everything and
 * checks that no block was split or interleaved. A long write (> PIPE_BUF)
 * from a child completes in full while the parent drains slowly. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BLOCKS 64

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int p[2];
    pipe(p);
    for (int c = 0; c < 4; c++) {
        if (fork() == 0) {
            char block[PIPE_BUF];
            memset(block, 'a' + c, sizeof block);
            close(p[0]);
            for (int i = 0; i < BLOCKS; i++)
                if (write(p[1], block, sizeof block) != sizeof block)
                    _exit(1);
            _exit(0);
        }
    }
    close(p[1]);
    static char all[4 * BLOCKS * PIPE_BUF + 1];
    size_t got = 0;
    ssize_t n;
    while ((n = read(p[0], all + got, sizeof all - got)) > 0)
        got += n;
    int split = 0, counts[4] = {0};
    for (size_t i = 0; i < got; i += PIPE_BUF) {
        for (size_t j = 1; j < PIPE_BUF; j++)
            if (all[i + j] != all[i]) {
                split++;
                break;
            }
        counts[all[i] - 'a']++;
    }
    int ok = 1;
    for (int c = 0; c < 4; c++) {
        int status;
        wait(&status);
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    printf("bytes=%zu split=%d a=%d b=%d c=%d d=%d children ok=%d\n", got, split, counts[0], counts[1],
           counts[2], counts[3], ok);
    close(p[0]);

    /* one 1 MB write, drained in small reads */
    pipe(p);
    if (fork() == 0) {
        static char big[1 << 20];
        memset(big, 'z', sizeof big);
        close(p[0]);
        _exit(write(p[1], big, sizeof big) == sizeof big ? 0 : 1);
    }
    close(p[1]);
    char buf[1000];
    size_t total = 0;
    while ((n = read(p[0], buf, sizeof buf)) > 0)
        total += n;
    int status;
    wait(&status);
    printf("big write: read %zu, writer status %d\n", total, WEXITSTATUS(status));
    return 0;
}

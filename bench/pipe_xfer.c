/* 10 MB through a pipe, timed inside the program (CLOCK_MONOTONIC).
 *
 * Usage: pipe_xfer fork|single [MB]
 *   fork:   the parent writes, a forked child reads (the real case);
 *   single: one process writes 64 KiB and reads it back, repeatedly (works
 *           without fork). Prints "<mode> <bytes> <seconds>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "fork";
    long total = (argc > 2 ? atol(argv[2]) : 10) * 1024 * 1024;
    static char buf[CHUNK];
    memset(buf, 'x', sizeof buf);
    int p[2];
    if (pipe(p) != 0) { perror("pipe"); return 1; }
    double t0 = now();
    long moved = 0;
    if (strcmp(mode, "single") == 0) {
        while (moved < total) {
            ssize_t w = write(p[1], buf, CHUNK);
            if (w <= 0) { perror("write"); return 1; }
            ssize_t got = 0;
            while (got < w) {
                ssize_t r = read(p[0], buf, CHUNK);
                if (r <= 0) { perror("read"); return 1; }
                got += r;
            }
            moved += got;
        }
    } else {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            close(p[1]);
            long n = 0;
            ssize_t r;
            while ((r = read(p[0], buf, CHUNK)) > 0) n += r;
            _exit(n == total ? 0 : 2);
        }
        close(p[0]);
        while (moved < total) {
            ssize_t w = write(p[1], buf, CHUNK);
            if (w <= 0) { perror("write"); return 1; }
            moved += w;
        }
        close(p[1]);
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { fprintf(stderr, "child failed\n"); return 1; }
    }
    printf("%s %ld %.6f\n", mode, moved, now() - t0);
    return 0;
}

/* Socket throughput: a parent sends N MB to a forked child that reads it
 * all, over TCP loopback (mode "tcp") or a Unix stream socketpair ("unix").
 * Prints "<mode> <mb> <seconds>" (the _runners.py format). */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "tcp";
    long mb = argc > 2 ? atol(argv[2]) : 100;
    long total = mb * 1024 * 1024;
    int tx, rx;
    if (strcmp(mode, "unix") == 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
            return 2;
        tx = sv[0];
        rx = sv[1];
    } else {
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
            getsockname(l, (struct sockaddr *)&a, &len))
            return 2;
        tx = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(tx, (struct sockaddr *)&a, sizeof a))
            return 2;
        rx = accept(l, NULL, NULL);
        close(l);
    }
    static char buf[1 << 17];
    memset(buf, 'x', sizeof buf);
    double start = now();
    pid_t pid = fork();
    if (pid == 0) {
        close(tx);
        long got = 0;
        ssize_t n;
        while ((n = read(rx, buf, sizeof buf)) > 0)
            got += n;
        _exit(got == total ? 0 : 3);
    }
    close(rx);
    for (long sent = 0; sent < total;) {
        long chunk = total - sent < (long)sizeof buf ? total - sent : (long)sizeof buf;
        ssize_t n = write(tx, buf, chunk);
        if (n <= 0)
            return 4;
        sent += n;
    }
    close(tx);
    int status;
    waitpid(pid, &status, 0);
    double secs = now() - start;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 5;
    printf("%s %ld %.6f\n", mode, mb, secs);
    return 0;
}

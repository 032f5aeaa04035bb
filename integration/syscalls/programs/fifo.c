/* FIFOs: mkfifo on the sandbox's /tmp (tmpfs) and in the work directory
 * (the host file system), non-blocking opens (ENXIO for a writer without a
 * reader), O_RDWR opens, data through the FIFO, stat, poll HUP rules. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHOW(label, call)                                                     \
    do {                                                                      \
        errno = 0;                                                            \
        long r_ = (long)(call);                                               \
        printf("%s=%ld errno=%s\n", label, r_, r_ < 0 ? strerror(errno) : "-"); \
    } while (0)

static void run(const char *path) {
    char buf[64];
    int n;
    printf("== %s\n", strchr(path, '/') == path ? "tmpfs" : "workdir");
    unlink(path);
    SHOW("mkfifo", mkfifo(path, 0640));
    SHOW("mkfifo again", mkfifo(path, 0640));
    struct stat st;
    stat(path, &st);
    printf("fifo=%d mode=%o size=%ld\n", S_ISFIFO(st.st_mode), st.st_mode & 0777, (long)st.st_size);
    SHOW("writer no reader", open(path, O_WRONLY | O_NONBLOCK));
    int r = open(path, O_RDONLY | O_NONBLOCK);
    printf("reader ok=%d\n", r >= 0);
    struct pollfd p = {r, POLLIN, 0};
    n = poll(&p, 1, 0);
    printf("poll before writer: n=%d re=%#x\n", n, p.revents);
    SHOW("read no writer", read(r, buf, sizeof buf));
    int w = open(path, O_WRONLY | O_NONBLOCK);
    printf("writer ok=%d\n", w >= 0);
    SHOW("write", write(w, "through the fifo", 16));
    n = read(r, buf, sizeof buf);
    printf("read=%d %.*s\n", n, n, buf);
    SHOW("read empty nonblock", read(r, buf, sizeof buf));
    close(w);
    n = poll(&p, 1, 0);
    printf("poll after writer: n=%d re=%#x\n", n, p.revents);
    SHOW("read eof", read(r, buf, sizeof buf));
    close(r);
    /* O_RDWR never blocks and holds both ends. */
    int rw = open(path, O_RDWR);
    printf("rdwr ok=%d\n", rw >= 0);
    write(rw, "xy", 2);
    n = read(rw, buf, sizeof buf);
    printf("rdwr read=%d\n", n);
    /* A blocking writer open succeeds at once when a reader exists. */
    w = open(path, O_WRONLY);
    printf("blocking writer with reader ok=%d\n", w >= 0);
    close(w);
    close(rw);
    /* Data does not survive all ends closing. */
    rw = open(path, O_RDWR);
    write(rw, "gone", 4);
    close(rw);
    r = open(path, O_RDONLY | O_NONBLOCK);
    SHOW("read after reopen", read(r, buf, sizeof buf));
    close(r);
    SHOW("lseek", lseek(open(path, O_RDWR), 0, SEEK_SET));
    SHOW("unlink", unlink(path));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "/tmp/pysandbox-fifo-test");
    run(tmp);
    run("work-fifo");
    return 0;
}

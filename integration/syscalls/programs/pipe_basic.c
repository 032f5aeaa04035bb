/* pipe, pipe2, O_NONBLOCK, EOF, EPIPE/SIGPIPE, FIONREAD, PIPE_BUF, fstat. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char big[200000];

#define SHOW(label, call)                                                     \
    do {                                                                      \
        errno = 0;                                                            \
        long r_ = (long)(call);                                               \
        printf("%s=%ld errno=%s\n", label, r_, r_ < 0 ? strerror(errno) : "-"); \
    } while (0)

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int p[2];
    char buf[100];
    if (pipe(p) != 0) { perror("pipe"); return 1; }
    struct stat st;
    fstat(p[0], &st);
    printf("fifo=%d mode=%o\n", S_ISFIFO(st.st_mode), st.st_mode & 0777);
    printf("write=%zd\n", write(p[1], "hello", 5));
    int n = -1;
    int rc = ioctl(p[0], FIONREAD, &n);
    printf("fionread=%d n=%d\n", rc, n);
    printf("read=%zd\n", read(p[0], buf, sizeof buf));
    SHOW("lseek", (long)lseek(p[0], 0, SEEK_SET));
    SHOW("read wrong end", read(p[1], buf, 1));
    SHOW("write wrong end", write(p[0], "x", 1));
    printf("zero write=%zd\n", write(p[1], "", 0));
    close(p[1]);
    printf("eof read=%zd\n", read(p[0], buf, sizeof buf));
    close(p[0]);

    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) { perror("pipe2"); return 1; }
    printf("fl=%o fd=%d\n", fcntl(p[0], F_GETFL) & O_NONBLOCK, fcntl(p[0], F_GETFD));
    SHOW("empty nonblock read", read(p[0], buf, 1));
    memset(big, 'a', sizeof big);
    ssize_t w = write(p[1], big, sizeof big);
    printf("partial write=%zd\n", w);
    SHOW("full write", write(p[1], big, 1));
    n = -1;
    ioctl(p[0], FIONREAD, &n);
    printf("fionread full=%d\n", n);
    /* PIPE_BUF atomicity: free 100 bytes, a 4096-byte write cannot go in part-way. */
    read(p[0], buf, 100);
    SHOW("atomic write", write(p[1], big, 4096));
    printf("small write=%zd\n", write(p[1], big, 100));
    /* Drain one page; a write of more than PIPE_BUF may be partial. */
    char page[8192];
    read(p[0], page, 8192);
    printf("big partial=%zd\n", write(p[1], big, 10000));
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    SHOW("epipe", write(p[1], "x", 1));
    close(p[1]);

    /* F_GETPIPE_SZ / F_SETPIPE_SZ: powers of two of at least a page. */
    pipe(p);
    printf("pipe size=%d\n", fcntl(p[0], F_GETPIPE_SZ));
    printf("set 5000=%d\n", fcntl(p[1], F_SETPIPE_SZ, 5000));
    SHOW("set 1", fcntl(p[1], F_SETPIPE_SZ, 1));
    SHOW("get", fcntl(p[0], F_GETPIPE_SZ));
    write(p[1], big, 4096);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    SHOW("one page full: write", write(p[1], big, 1));
    fcntl(p[1], F_SETPIPE_SZ, 65536);
    printf("grown: write=%zd\n", write(p[1], big, 10000));
    SHOW("shrink busy", fcntl(p[1], F_SETPIPE_SZ, 4096));
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    SHOW("not a pipe", fcntl(dir, F_GETPIPE_SZ));
    close(dir);
    close(p[0]);
    close(p[1]);

    SHOW("pipe2 bad flags", pipe2(p, 0x1));
    SHOW("pipe efault", syscall(SYS_pipe, (void *)8));

    /* SIGPIPE default action kills. */
    signal(SIGPIPE, SIG_DFL);
    pipe(p);
    close(p[0]);
    fflush(stdout);
    write(p[1], "x", 1);
    printf("not reached\n");
    return 0;
}

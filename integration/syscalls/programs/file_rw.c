/* read/write family: offsets, O_APPEND, O_TRUNC, vectored and positional I/O,
 * sendfile, and their error paths (EBADF, EFAULT, ESPIPE, EINVAL, EISDIR). */
#include "vfs_check.h"
#include <sys/sendfile.h>
#include <sys/uio.h>

int main(int argc, char **argv) {
    enter_scratch(argc, argv);
    char buf[64] = {0};
    int fd = open("rw.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello world", 11));
    CHECK(lseek(fd, 0, SEEK_CUR));
    CHECK(lseek(fd, 0, SEEK_SET));
    CHECK(read(fd, buf, 5));
    printf("buf=%.5s\n", buf);
    CHECK(pread(fd, buf, 5, 6));
    printf("buf=%.5s\n", buf);
    CHECK(lseek(fd, 0, SEEK_CUR));
    CHECK(pwrite(fd, "W", 1, 6));
    CHECK(lseek(fd, 0, SEEK_END));
    CHECK(lseek(fd, 100, SEEK_SET));
    CHECK(read(fd, buf, 10));
    CHECK(write(fd, "!", 1));
    CHECK(lseek(fd, 0, SEEK_END));
    CHECK(pread(fd, buf, 3, 98));
    printf("hole=%d%d\n", buf[0], buf[1]);

    struct iovec iov[2] = {{"ab", 2}, {"cdef", 4}};
    CHECK(lseek(fd, 0, SEEK_SET));
    CHECK(writev(fd, iov, 2));
    char a[3] = {0}, b[4] = {0};
    struct iovec riov[2] = {{a, 3}, {b, 4}};
    CHECK(preadv(fd, riov, 2, 0));
    printf("a=%.3s b=%.4s\n", a, b);
    CHECK(pwritev(fd, iov, 1, 1));
    CHECK(readv(fd, riov, 2));
    CHECK(writev(fd, iov, -1));
    CHECK(writev(fd, iov, 1025));
    CHECK(lseek(fd, -1, SEEK_SET));
    CHECK(lseek(fd, 0, 99));
    CHECK(pread(fd, buf, 1, -1));

    /* O_APPEND writes at the end whatever the offset. */
    int ap = open("rw.txt", O_WRONLY | O_APPEND);
    CHECK(lseek(ap, 0, SEEK_SET));
    CHECK(write(ap, "Z", 1));
    CHECK(lseek(ap, 0, SEEK_CUR));
    CHECK(read(ap, buf, 1));
    close(ap);
    int tr = open("rw.txt", O_RDWR | O_TRUNC);
    CHECK(lseek(tr, 0, SEEK_END));
    close(tr);

    /* Errors. */
    CHECK(read(999, buf, 1));
    CHECK(write(-1, buf, 1));
    CHECK(write(fd, BAD_PTR, 4));
    CHECK(read(fd, buf, 0));
    CHECK(write(fd, "xyz", 3));
    CHECK(lseek(fd, 0, SEEK_SET));
    CHECK(read(fd, BAD_PTR, 3));
    int ro = open("rw.txt", O_RDONLY);
    CHECK(write(ro, "x", 1));
    CHECK(pwrite(ro, "x", 1, 0));
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    CHECK(read(dir, buf, 1));
    CHECK(write(dir, buf, 1));

    /* sendfile between regular files. */
    int out = open("copy.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    off_t off = 1;
    CHECK(sendfile(out, fd, &off, 100));
    printf("off=%ld\n", (long)off);
    CHECK(lseek(fd, 0, SEEK_SET));
    CHECK(sendfile(out, fd, NULL, 2));
    CHECK(lseek(fd, 0, SEEK_CUR));
    CHECK(pread(out, buf, 4, 0));
    printf("copy=%.4s\n", buf);
    CHECK(sendfile(out, 999, NULL, 2));
    CHECK(sendfile(ro, fd, NULL, 2));
    unlink("rw.txt");
    unlink("copy.txt");
    return 0;
}

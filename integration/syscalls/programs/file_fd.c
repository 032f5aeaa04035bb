/* Descriptor operations: dup/dup2/dup3, fcntl, ioctl, ftruncate/truncate,
 * fallocate, fsync/fdatasync. */
#include "vfs_check.h"
#include <sys/ioctl.h>
#include <termios.h>

int main(int argc, char **argv) {
    enter_scratch(argc, argv);
    int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(fd, "0123456789", 10);
    int d = dup(fd);
    CHECK(d > fd);
    CHECK(lseek(fd, 3, SEEK_SET));
    CHECK(lseek(d, 0, SEEK_CUR));
    CHECK(dup2(fd, 50));
    CHECK(dup2(fd, fd));
    CHECK(dup2(999, 51));
    CHECK(dup2(fd, -1));
    CHECK(dup3(fd, fd, 0));
    CHECK(dup3(fd, 52, 0x1));
    CHECK(dup3(fd, 52, O_CLOEXEC));
    CHECK(fcntl(52, F_GETFD));
    CHECK(fcntl(50, F_GETFD));
    CHECK(fcntl(52, F_SETFD, 0));
    CHECK(fcntl(52, F_GETFD));
    CHECK(fcntl(fd, F_DUPFD, 60));
    CHECK(fcntl(fd, F_DUPFD, 60));
    CHECK(fcntl(fd, F_DUPFD_CLOEXEC, 60));
    CHECK(fcntl(62, F_GETFD));
    CHECK(fcntl(fd, F_DUPFD, -1));
    CHECK(fcntl(999, F_GETFD));
    CHECK(fcntl(fd, F_GETFL));
    CHECK(fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK | O_RDONLY));
    CHECK(fcntl(fd, F_GETFL));
    CHECK(fcntl(d, F_GETFL));
    CHECK(fcntl(fd, F_SETFL, 0));
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    CHECK(fcntl(fd, F_SETLK, &lk));
    CHECK(fcntl(fd, F_GETLK, &lk));
    printf("getlk type=%d\n", lk.l_type);
    lk.l_type = 99;
    CHECK(fcntl(fd, F_SETLK, &lk));
    CHECK(fcntl(fd, F_SETLK, BAD_PTR));
    int ro = open("f", O_RDONLY);
    lk.l_type = F_WRLCK;
    CHECK(fcntl(ro, F_SETLK, &lk));
    CHECK(fcntl(fd, 12345));

    int n = -1;
    CHECK(lseek(fd, 4, SEEK_SET));
    CHECK(ioctl(fd, FIONREAD, &n));
    printf("fionread=%d\n", n);
    CHECK(ioctl(fd, FIOCLEX));
    CHECK(fcntl(fd, F_GETFD));
    CHECK(ioctl(fd, FIONCLEX));
    CHECK(fcntl(fd, F_GETFD));
    struct termios tio;
    CHECK(ioctl(fd, TCGETS, &tio));
    CHECK(ioctl(999, FIONREAD, &n));
    CHECK(ioctl(fd, FIONREAD, BAD_PTR));
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    CHECK(ioctl(dir, FIONREAD, &n));

    struct stat st;
    CHECK(ftruncate(fd, 4));
    fstat(fd, &st);
    printf("size=%ld\n", (long)st.st_size);
    CHECK(ftruncate(fd, 20));
    fstat(fd, &st);
    printf("size=%ld\n", (long)st.st_size);
    CHECK(ftruncate(fd, -1));
    CHECK(ftruncate(ro, 0));
    CHECK(ftruncate(dir, 0));
    CHECK(ftruncate(999, 0));
    CHECK(truncate("f", 2));
    CHECK(truncate("missing", 2));
    CHECK(truncate(".", 2));
    CHECK(truncate("f", -2));
    stat("f", &st);
    printf("size=%ld\n", (long)st.st_size);
    CHECK(fallocate(fd, 0, 0, 100));
    fstat(fd, &st);
    printf("size=%ld\n", (long)st.st_size);
    CHECK(fallocate(fd, 0, -1, 10));
    CHECK(fallocate(fd, 0, 0, 0));
    CHECK(fallocate(ro, 0, 0, 10));
    CHECK(fsync(fd));
    CHECK(fdatasync(fd));
    CHECK(fsync(999));
    return 0;
}

/* flock, readahead, sync family, copy_file_range, memfd_create,
 * fchmodat2: success and error paths. */
#include "vfs_check.h"
#include <sys/file.h>
#include <sys/mman.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* Linux 6.6; glibc 2.36 headers predate it */
#endif

int main(int argc, char **argv) {
    enter_scratch(argc, argv);
    char buf[64] = {0};
    int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(fd, "0123456789", 10);
    int ro = open("f", O_RDONLY);
    int dir = open(".", O_RDONLY | O_DIRECTORY);

    EXPECT(flock(fd, LOCK_EX), 0);
    EXPECT(flock(fd, LOCK_SH | LOCK_NB), 0);
    EXPECT(flock(fd, LOCK_UN), 0);
    EXPECT(flock(fd, 0), EINVAL);
    EXPECT(flock(999, LOCK_EX), EBADF);
    EXPECT(readahead(fd, 0, 100), 0);
    EXPECT(readahead(dir, 0, 100), EINVAL);
    EXPECT(readahead(999, 0, 100), EBADF);
    sync();
    EXPECT(syncfs(fd), 0);
    EXPECT(syncfs(999), EBADF);
    EXPECT(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE), 0);
    EXPECT(sync_file_range(fd, 0, 0, 0x100), EINVAL);
    EXPECT(sync_file_range(fd, -1, 0, 0), EINVAL);

    int out = open("g", O_CREAT | O_RDWR | O_TRUNC, 0644);
    loff_t in_off = 2, out_off = 0;
    CHECK(copy_file_range(fd, &in_off, out, &out_off, 5, 0));
    printf("offsets %lld %lld\n", (long long)in_off, (long long)out_off);
    CHECK(lseek(fd, 0, SEEK_CUR));
    CHECK(lseek(fd, 8, SEEK_SET));
    CHECK(copy_file_range(fd, NULL, out, NULL, 100, 0));
    CHECK(lseek(fd, 0, SEEK_CUR));
    CHECK(lseek(out, 0, SEEK_CUR));
    CHECK(pread(out, buf, sizeof buf, 0));
    printf("g=%s\n", buf);
    CHECK(copy_file_range(fd, NULL, out, NULL, 1, 1));
    CHECK(copy_file_range(ro, NULL, ro, NULL, 1, 0));
    CHECK(copy_file_range(dir, NULL, out, NULL, 1, 0));
    CHECK(copy_file_range(999, NULL, out, NULL, 1, 0));
    loff_t a = 0, b = 2;
    CHECK(copy_file_range(fd, &a, fd, &b, 4, 0));

    int m = memfd_create("scratch-area", MFD_CLOEXEC);
    CHECK(m >= 0);
    CHECK(fcntl(m, F_GETFD));
    CHECK(write(m, "memory", 6));
    struct stat st;
    fstat(m, &st);
    printf("memfd mode=%o size=%ld nlink=%ld\n", st.st_mode, (long)st.st_size, (long)st.st_nlink);
    char link[128] = {0}, proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", m);
    CHECK(readlink(proc, link, sizeof link));
    printf("memfd link=%s\n", link);
    CHECK(ftruncate(m, 8192));
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    CHECK(p != MAP_FAILED);
    printf("mapped=%.6s\n", p);
    memset(buf, 0, sizeof buf);
    CHECK(pread(m, buf, 6, 0));
    printf("read=%s\n", buf);
    CHECK(memfd_create("x", 0x1000));
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = 0;
    CHECK(memfd_create(longname, 0));
    CHECK(memfd_create(BAD_PTR, 0));

    symlink("f", "ln");
    CHECK(syscall(SYS_fchmodat2, AT_FDCWD, "f", 0600, 0));
    CHECK(syscall(SYS_fchmodat2, AT_FDCWD, "ln", 0640, AT_SYMLINK_NOFOLLOW));
    CHECK(syscall(SYS_fchmodat2, AT_FDCWD, "ln", 0640, 0));
    CHECK(syscall(SYS_fchmodat2, fd, "", 0604, AT_EMPTY_PATH));
    CHECK(syscall(SYS_fchmodat2, AT_FDCWD, "f", 0600, 0x8));
    stat("f", &st);
    printf("mode=%o\n", st.st_mode);
    return finish();
}

/* open/openat/creat/close/close_range: creation flags, symlink rules, O_PATH,
 * O_CLOEXEC, and ENOENT/EEXIST/ENOTDIR/EISDIR/ELOOP/ENAMETOOLONG/EBADF/EFAULT. */
#include "vfs_check.h"
#include <linux/close_range.h>
#include <linux/openat2.h>

int main(int argc, char **argv) {
    enter_scratch(argc, argv);
    char name[300], path[5000];
    EXPECT(open("missing", O_RDONLY), ENOENT);
    EXPECT(open("", O_RDONLY), ENOENT);
    EXPECT(open(BAD_PTR, O_RDONLY), EFAULT);
    int fd = open("f", O_CREAT | O_EXCL | O_WRONLY, 0640);
    EXPECT(fd, 0);
    EXPECT(open("f", O_CREAT | O_EXCL | O_WRONLY, 0640), EEXIST);
    EXPECT(open("f/", O_RDONLY), ENOTDIR);
    EXPECT(open("f/x", O_RDONLY), ENOTDIR);
    EXPECT(open("f", O_RDONLY | O_DIRECTORY), ENOTDIR);
    EXPECT(open("new/", O_CREAT | O_WRONLY, 0644), EISDIR);
    EXPECT(mkdir("d", 0755), 0);
    EXPECT(open("d", O_WRONLY), EISDIR);
    EXPECT(open("d", O_RDWR), EISDIR);
    EXPECT(open("d", O_CREAT | O_RDONLY, 0644), EISDIR);
    EXPECT(open("d", O_RDONLY | O_DIRECTORY), 0);
    EXPECT(open("d/", O_RDONLY), 0);
    EXPECT(open("d/.", O_RDONLY), 0);
    EXPECT(open("d/..", O_RDONLY), 0);
    EXPECT(openat(fd, "x", O_RDONLY), ENOTDIR);
    EXPECT(openat(999, "x", O_RDONLY), EBADF);
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    EXPECT(openat(dfd, "inner", O_CREAT | O_RDWR, 0600), 0);
    EXPECT(access("d/inner", F_OK), 0);
    EXPECT(openat(dfd, "../f", O_RDONLY), 0);

    /* Symlinks. */
    EXPECT(symlink("f", "ln"), 0);
    EXPECT(symlink("ln", "ln2"), 0);
    EXPECT(symlink("dangling-target", "dangle"), 0);
    EXPECT(symlink("loop-b", "loop-a"), 0);
    EXPECT(symlink("loop-a", "loop-b"), 0);
    EXPECT(open("ln2", O_RDONLY), 0);
    EXPECT(open("ln", O_RDONLY | O_NOFOLLOW), ELOOP);
    EXPECT(open("ln", O_RDONLY | O_NOFOLLOW | O_PATH), 0);
    EXPECT(open("loop-a", O_RDONLY), ELOOP);
    EXPECT(open("loop-a/x", O_RDONLY), ELOOP);
    EXPECT(open("dangle", O_RDONLY), ENOENT);
    EXPECT(open("dangle", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
    EXPECT(open("dangle", O_CREAT | O_WRONLY, 0644), 0);
    EXPECT(access("dangling-target", F_OK), 0);
    /* 40 links resolve, 41 do not. */
    EXPECT(symlink("f", "chain0"), 0);
    for (int i = 1; i <= 40; i++) {
        char from[16], to[16];
        snprintf(from, sizeof from, "chain%d", i - 1);
        snprintf(to, sizeof to, "chain%d", i);
        symlink(from, to);
    }
    EXPECT(open("chain39", O_RDONLY), 0);
    EXPECT(open("chain40", O_RDONLY), ELOOP);

    /* openat2 RESOLVE_* restrictions. */
    {
        struct open_how how = {.flags = O_RDONLY};
        int here = open(".", O_RDONLY | O_DIRECTORY);
        how.resolve = RESOLVE_BENEATH;
        EXPECT(syscall(SYS_openat2, here, "f", &how, sizeof how), 0);
        EXPECT(syscall(SYS_openat2, here, "d/../f", &how, sizeof how), 0);
        EXPECT(syscall(SYS_openat2, here, "../x", &how, sizeof how), EXDEV);
        EXPECT(syscall(SYS_openat2, here, "/etc", &how, sizeof how), EXDEV);
        symlink("/etc", "abs");
        EXPECT(syscall(SYS_openat2, here, "abs", &how, sizeof how), EXDEV);
        how.resolve = RESOLVE_NO_SYMLINKS;
        EXPECT(syscall(SYS_openat2, here, "ln", &how, sizeof how), ELOOP);
        how.resolve = RESOLVE_IN_ROOT;
        symlink("/f", "rooted");
        EXPECT(syscall(SYS_openat2, here, "/f", &how, sizeof how), 0);
        EXPECT(syscall(SYS_openat2, here, "rooted", &how, sizeof how), 0);
        EXPECT(syscall(SYS_openat2, here, "../../f", &how, sizeof how), 0);
        how.resolve = 0x1000;
        EXPECT(syscall(SYS_openat2, here, "f", &how, sizeof how), EINVAL);
        how.resolve = 0;
        how.mode = 0644;
        EXPECT(syscall(SYS_openat2, here, "f", &how, sizeof how), EINVAL);
        EXPECT(syscall(SYS_openat2, here, "f", &how, 8), EINVAL);
        unlink("abs");
        unlink("rooted");
    }

    /* O_PATH descriptors do no I/O. */
    int pfd = open("f", O_PATH);
    char c;
    EXPECT(read(pfd, &c, 1), EBADF);
    EXPECT(fchmod(pfd, 0600), EBADF);
    printf("O_PATH flags=%o\n", fcntl(pfd, F_GETFL));
    struct stat st;
    EXPECT(fstat(pfd, &st), 0);

    /* Name limits. */
    memset(name, 'n', 256);
    name[256] = 0;
    EXPECT(open(name, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
    name[255] = 0;
    EXPECT(open(name, O_CREAT | O_WRONLY, 0644), 0);
    memset(path, 'a', 4200);
    path[4200] = 0;
    EXPECT(open(path, O_RDONLY), ENAMETOOLONG);
    for (int i = 1; i < 4200; i += 2) path[i] = '/';
    EXPECT(open(path, O_RDONLY), ENAMETOOLONG);

    /* creat, flags, O_CLOEXEC. */
    int cfd = creat("c", 0600);
    printf("creat flags=%o\n", fcntl(cfd, F_GETFL));
    int ce = open("f", O_RDONLY | O_CLOEXEC);
    printf("cloexec fd flags=%d getfl=%o\n", fcntl(ce, F_GETFD), fcntl(ce, F_GETFL));
    EXPECT(open("f", O_RDWR | O_TMPFILE, 0600), ENOTDIR);
    EXPECT(open("newdir", O_CREAT | O_DIRECTORY, 0600), EINVAL);

    /* close and close_range. */
    EXPECT(close(999), EBADF);
    EXPECT(close(-1), EBADF);
    int lo = dup2(fd, 100);
    dup2(fd, 101);
    dup2(fd, 102);
    EXPECT(syscall(SYS_close_range, 100, 101, CLOSE_RANGE_CLOEXEC), 0);
    printf("cloexec after range: %d %d %d\n", fcntl(100, F_GETFD), fcntl(101, F_GETFD), fcntl(102, F_GETFD));
    EXPECT(syscall(SYS_close_range, 100, 200, 0), 0);
    EXPECT(close(lo), EBADF);
    EXPECT(close(102), EBADF);
    EXPECT(syscall(SYS_close_range, 5, 4, 0), EINVAL);
    return finish();
}

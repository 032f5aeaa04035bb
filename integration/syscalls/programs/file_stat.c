/* stat family, statx, statfs, readlink, access/faccessat/faccessat2. */
#include "vfs_check.h"
#include <sys/statfs.h>

static void show(const char *what, int r, struct stat *st) {
    if (r < 0) {
        printf("%s: %s\n", what, strerrorname_np(errno));
        return;
    }
    printf("%s: mode=%o nlink=%ld uid=%d gid=%d size=%ld\n", what, st->st_mode,
           (long)st->st_nlink, st->st_uid, st->st_gid, (long)st->st_size);
}

int main(int argc, char **argv) {
    enter_scratch(argc, argv);
    struct stat st;
    int fd = open("f", O_CREAT | O_RDWR, 0640);
    write(fd, "12345", 5);
    symlink("f", "ln");
    mkdir("d", 0700);
    show("stat f", stat("f", &st), &st);
    show("lstat ln", lstat("ln", &st), &st);
    show("stat ln", stat("ln", &st), &st);
    show("fstat fd", fstat(fd, &st), &st);
    show("fstatat empty", fstatat(fd, "", &st, AT_EMPTY_PATH), &st);
    show("fstatat nofollow", fstatat(AT_FDCWD, "ln", &st, AT_SYMLINK_NOFOLLOW), &st);
    show("stat missing", stat("missing", &st), &st);
    show("stat f/", stat("f/", &st), &st);
    show("stat ln/", stat("ln/", &st), &st);
    show("stat empty", stat("", &st), &st);
    show("fstatat empty no flag", fstatat(fd, "", &st, 0), &st);
    EXPECT(stat("f", BAD_PTR), EFAULT);
    EXPECT(stat(BAD_PTR, &st), EFAULT);
    EXPECT(fstat(999, &st), EBADF);
    EXPECT(fstatat(AT_FDCWD, "f", &st, 0x8000), EINVAL);
    EXPECT(fstatat(fd, "x", &st, 0), ENOTDIR);
    show("stat dir nlink", stat("d", &st), &st);

    struct statx sx;
    EXPECT(statx(AT_FDCWD, "f", 0, STATX_BASIC_STATS, &sx), 0);
    printf("statx mask&basic=%x mode=%o size=%llu nlink=%u\n", sx.stx_mask & STATX_BASIC_STATS,
           sx.stx_mode, (unsigned long long)sx.stx_size, sx.stx_nlink);
    EXPECT(statx(AT_FDCWD, "ln", AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx), 0);
    printf("statx link mode=%o size=%llu\n", sx.stx_mode, (unsigned long long)sx.stx_size);
    EXPECT(statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &sx), 0);
    EXPECT(statx(AT_FDCWD, "f", 0x6000, STATX_BASIC_STATS, &sx), EINVAL);
    EXPECT(statx(AT_FDCWD, "missing", 0, STATX_BASIC_STATS, &sx), ENOENT);

    struct statfs sf;
    EXPECT(statfs(".", &sf), 0);
    EXPECT(fstatfs(fd, &sf), 0);
    EXPECT(statfs("missing", &sf), ENOENT);
    EXPECT(fstatfs(999, &sf), EBADF);
    printf("namelen=%ld\n", (long)sf.f_namelen);

    char buf[64] = {0};
    CHECK(readlink("ln", buf, sizeof buf));
    printf("target=%s\n", buf);
    CHECK(readlink("ln", buf, 0));
    CHECK(readlink("ln", buf, 1));
    CHECK(readlink("f", buf, sizeof buf));
    CHECK(readlink("missing", buf, sizeof buf));
    CHECK(readlinkat(AT_FDCWD, "ln", BAD_PTR, 10));
    int lfd = open("ln", O_PATH | O_NOFOLLOW);
    memset(buf, 0, sizeof buf);
    CHECK(readlinkat(lfd, "", buf, sizeof buf));
    printf("target via fd=%s\n", buf);

    EXPECT(access("f", R_OK | W_OK), 0);
    EXPECT(access("f", X_OK), EACCES);
    EXPECT(access("d", X_OK), 0);
    EXPECT(access("missing", F_OK), ENOENT);
    EXPECT(access("f", 8), EINVAL);
    EXPECT(faccessat(AT_FDCWD, "ln", R_OK, 0), 0);
    EXPECT(syscall(SYS_faccessat2, AT_FDCWD, "ln", R_OK, AT_SYMLINK_NOFOLLOW), 0);
    EXPECT(syscall(SYS_faccessat2, AT_FDCWD, "f", R_OK, 0x8000), EINVAL);
    EXPECT(syscall(SYS_faccessat2, fd, "", R_OK, AT_EMPTY_PATH), 0);
    return finish();
}

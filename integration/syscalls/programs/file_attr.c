/* Attributes and the fs context: chmod/chown families, utimensat/utimes,
 * umask, getcwd/chdir/fchdir. Runs as root (owner checks in file_perm). */
#include "vfs_check.h"
#include <sys/time.h>

static void show(const char *p) {
    struct stat st;
    if (lstat(p, &st) < 0) {
        printf("%s: %s\n", p, strerrorname_np(errno));
        return;
    }
    printf("%s: mode=%o uid=%d gid=%d\n", p, st.st_mode, st.st_uid, st.st_gid);
}

int main(int argc, char **argv) {
    enter_scratch(argc, argv);
    int fd = open("f", O_CREAT | O_RDWR, 0666);
    show("f");
    symlink("f", "ln");
    EXPECT(chmod("f", 04755), 0);
    show("f");
    EXPECT(fchmod(fd, 0600), 0);
    show("f");
    EXPECT(fchmodat(AT_FDCWD, "ln", 0640, 0), 0);
    show("f");
    EXPECT(chmod("missing", 0600), ENOENT);
    EXPECT(fchmod(999, 0600), EBADF);
    EXPECT(chown("f", 1000, 2000), 0);
    show("f");
    EXPECT(lchown("ln", 3000, 3000), 0);
    show("ln");
    show("f");
    EXPECT(fchown(fd, -1, 5), 0);
    show("f");
    EXPECT(fchownat(AT_FDCWD, "ln", 7, -1, AT_SYMLINK_NOFOLLOW), 0);
    show("ln");
    EXPECT(fchownat(AT_FDCWD, "ln", 7, -1, 0x8), EINVAL);
    EXPECT(fchmod(fd, 06755), 0);
    EXPECT(fchown(fd, 1, 1), 0);
    show("f");

    struct timespec ts[2] = {{1000, 5}, {2000, UTIME_OMIT}};
    struct stat st;
    EXPECT(utimensat(AT_FDCWD, "f", ts, 0), 0);
    stat("f", &st);
    printf("atime=%ld.%09ld\n", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
    ts[1].tv_nsec = 7;
    EXPECT(utimensat(AT_FDCWD, "f", ts, 0), 0);
    stat("f", &st);
    printf("mtime=%ld.%09ld\n", (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    struct timespec lts[2] = {{42, 0}, {43, 0}};
    EXPECT(utimensat(AT_FDCWD, "ln", lts, AT_SYMLINK_NOFOLLOW), 0);
    lstat("ln", &st);
    printf("link mtime=%ld\n", (long)st.st_mtim.tv_sec);
    EXPECT(futimens(fd, ts), 0);
    ts[0].tv_nsec = 1000000000;
    EXPECT(utimensat(AT_FDCWD, "f", ts, 0), EINVAL);
    EXPECT(utimensat(AT_FDCWD, "missing", NULL, 0), ENOENT);
    EXPECT(utimensat(AT_FDCWD, "f", BAD_PTR, 0), EFAULT);
    struct timeval tv[2] = {{10, 1}, {20, 2}};
    EXPECT(utimes("f", tv), 0);
    stat("f", &st);
    printf("utimes mtime=%ld.%09ld\n", (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    tv[0].tv_usec = 1000000;
    EXPECT(utimes("f", tv), EINVAL);
    EXPECT(utimensat(AT_FDCWD, "f", NULL, 0), 0);

    printf("umask old=%o\n", umask(077));
    printf("umask old=%o\n", umask(022));
    umask(027);
    EXPECT(mkdir("m", 0777), 0);
    show("m");
    umask(022);

    char cwd[4096], small[2];
    EXPECT(mkdir("m/n", 0755), 0);
    EXPECT(chdir("m/n"), 0);
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    printf("cwd ends with m/n: %d\n", strlen(cwd) >= 4 && !strcmp(cwd + strlen(cwd) - 4, "/m/n"));
    EXPECT(syscall(SYS_getcwd, small, sizeof small), ERANGE);
    EXPECT(syscall(SYS_getcwd, BAD_PTR, 4096), EFAULT);
    EXPECT(chdir("../.."), 0);
    EXPECT(chdir("f"), ENOTDIR);
    EXPECT(chdir("missing"), ENOENT);
    int m = open("m", O_RDONLY | O_DIRECTORY);
    EXPECT(fchdir(m), 0);
    EXPECT(access("n", F_OK), 0);
    EXPECT(fchdir(fd), ENOTDIR);
    EXPECT(fchdir(999), EBADF);
    return finish();
}

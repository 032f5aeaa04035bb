/* Namespace operations: mkdir, rmdir, unlink, rename(at2), link(at),
 * symlink(at), mknod, getdents64, and their errors. */
#include "vfs_check.h"
#include <dirent.h>
#include <linux/fs.h>

struct linux_dirent64 {
    unsigned long long d_ino;
    long long d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    char buf[4096];
    char *names[128];
    int n = 0;
    long r;
    while ((r = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (void *)(buf + off);
            char *s = malloc(300);
            snprintf(s, 300, "%s(%d)", d->d_name, d->d_type);
            names[n++] = s;
            off += d->d_reclen;
        }
    }
    qsort(names, n, sizeof *names, cmp);
    printf("%s:", dir);
    for (int i = 0; i < n; i++) printf(" %s", names[i]);
    printf("\n");
    close(fd);
}

int main(int argc, char **argv) {
    enter_scratch(argc, argv);
    EXPECT(mkdir("a", 0755), 0);
    EXPECT(mkdir("a", 0755), EEXIST);
    EXPECT(mkdir("a/", 0755), EEXIST);
    EXPECT(mkdir("x/y", 0755), ENOENT);
    EXPECT(mkdir(BAD_PTR, 0755), EFAULT);
    int adir = open("a", O_RDONLY | O_DIRECTORY);
    EXPECT(mkdirat(adir, "sub", 0700), 0);
    EXPECT(close(open("a/file", O_CREAT | O_WRONLY, 0644)), 0);
    EXPECT(mkdir("a/file/x", 0755), ENOTDIR);
    EXPECT(rmdir("a"), ENOTEMPTY);
    EXPECT(rmdir("a/file"), ENOTDIR);
    EXPECT(rmdir("a/."), EINVAL);
    EXPECT(rmdir("a/.."), ENOTEMPTY);
    EXPECT(rmdir("missing"), ENOENT);
    EXPECT(unlink("a/sub"), EISDIR);
    EXPECT(unlink("a/file/"), ENOTDIR);
    EXPECT(unlink("missing"), ENOENT);
    EXPECT(unlinkat(adir, "sub", 0x1), EINVAL);
    EXPECT(symlinkat("file", adir, "ln"), 0);
    EXPECT(symlink("x", "a/ln"), EEXIST);
    EXPECT(symlink("", "a/empty"), ENOENT);
    EXPECT(link("a/file", "a/hard"), 0);
    EXPECT(link("a/file", "a/hard"), EEXIST);
    EXPECT(link("a/sub", "a/dirlink"), EPERM);
    EXPECT(link("missing", "a/x"), ENOENT);
    EXPECT(linkat(adir, "ln", adir, "ln-hard", 0), 0);
    EXPECT(linkat(adir, "ln", adir, "ln-follow", AT_SYMLINK_FOLLOW), 0);
    EXPECT(linkat(adir, "ln", adir, "bad", 0x8), EINVAL);
    struct stat st;
    lstat("a/ln-hard", &st);
    printf("ln-hard is link: %d\n", S_ISLNK(st.st_mode));
    lstat("a/ln-follow", &st);
    printf("ln-follow is reg: %d nlink=%ld\n", S_ISREG(st.st_mode), (long)st.st_nlink);
    EXPECT(mknod("a/node", S_IFREG | 0600, 0), 0);
    EXPECT(mknodat(adir, "node", S_IFREG | 0600, 0), EEXIST);
    list("a");

    EXPECT(rename("a/hard", "a/renamed"), 0);
    EXPECT(rename("a/missing", "a/x"), ENOENT);
    EXPECT(rename("a/renamed", "a/sub"), EISDIR);
    EXPECT(rename("a/sub", "a/renamed"), ENOTDIR);
    EXPECT(rename("a", "a/sub/inside"), EINVAL);
    EXPECT(rename("a/renamed", "a/renamed"), 0);
    EXPECT(rename("a/renamed/", "a/x"), ENOTDIR);
    EXPECT(renameat2(adir, "renamed", adir, "file", RENAME_NOREPLACE), EEXIST);
    EXPECT(renameat2(adir, "renamed", adir, "nothere", RENAME_EXCHANGE), ENOENT);
    EXPECT(renameat2(adir, "renamed", adir, "node", RENAME_EXCHANGE), 0);
    EXPECT(renameat2(adir, "renamed", adir, "x", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
    EXPECT(mkdir("b", 0755), 0);
    EXPECT(mkdir("c", 0755), 0);
    EXPECT(close(open("c/inner", O_CREAT | O_WRONLY, 0644)), 0);
    EXPECT(rename("b", "c"), ENOTEMPTY);
    EXPECT(rename("c", "b"), 0);
    EXPECT(rename("a/.", "z"), EBUSY);
    list("a");
    list("b");

    EXPECT(unlinkat(adir, "sub", AT_REMOVEDIR), 0);
    const char *files[] = {"a/file", "a/ln", "a/ln-hard", "a/ln-follow", "a/renamed", "a/node", "b/inner"};
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++) EXPECT(unlink(files[i]), 0);
    EXPECT(rmdir("a"), 0);
    EXPECT(rmdir("b"), 0);
    EXPECT(syscall(SYS_getdents64, 999, (void *)0, 4096), EBADF);
    char small[8];
    int here = open(".", O_RDONLY | O_DIRECTORY);
    EXPECT(syscall(SYS_getdents64, here, small, sizeof small), EINVAL);
    EXPECT(syscall(SYS_getdents64, here, BAD_PTR, 4096), EFAULT);
    int f = open("regular", O_CREAT | O_RDWR, 0600);
    char buf[512];
    EXPECT(syscall(SYS_getdents64, f, buf, sizeof buf), ENOTDIR);
    unlink("regular");
    list(".");
    return finish();
}

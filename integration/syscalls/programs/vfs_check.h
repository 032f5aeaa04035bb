/* Shared helpers of the file-syscall differential programs (file_*.c).
 *
 * Each CHECK prints the expression, its result and the errno name, so the
 * native and the sandboxed runs can be compared line by line. A program
 * works in a scratch directory: argv[1] if given, else a fresh
 * "<program>.scratch" directory under the cwd (removed first if a previous
 * run left it, and removed again at the end), so the native and the
 * sandboxed run of the harness start from the same empty state. Programs
 * print nothing that differs between file systems (no inode numbers,
 * devices, block counts or timestamps of "now").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ftw.h>
#include <libgen.h>
#include <unistd.h>

static int vfs_failures;

#define CHECK(expr)                                                          \
    do {                                                                     \
        errno = 0;                                                           \
        long _r = (long)(expr);                                              \
        int _e = errno;                                                      \
        printf("%-60s = %ld%s%s\n", #expr, _r, _r < 0 ? " " : "",            \
               _r < 0 ? (strerrorname_np(_e) ? strerrorname_np(_e) : "?") : ""); \
        fflush(stdout);                                                      \
    } while (0)

/* Like CHECK, but the expected errno must match (0 means success). */
#define EXPECT(expr, want)                                                   \
    do {                                                                     \
        errno = 0;                                                           \
        long _r = (long)(expr);                                              \
        int _e = _r < 0 ? errno : 0;                                         \
        printf("%-60s -> %s\n", #expr, _e ? strerrorname_np(_e) : "ok");      \
        if (_e != (want)) {                                                  \
            printf("  MISMATCH: wanted %s\n", (want) ? strerrorname_np(want) : "ok"); \
            vfs_failures++;                                                  \
        }                                                                    \
        fflush(stdout);                                                      \
    } while (0)

static char vfs_scratch[4096];

static int vfs_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) ? 0 : 0;
    chmod(path, 0700);
    return unlink(path) ? 0 : 0;
}

static void vfs_rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) == 0) {
        chmod(path, 0700);
        /* Make every directory writable first so an unprivileged run's
         * leftovers (0555 directories) can go. */
        nftw(path, vfs_rm, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static void vfs_cleanup(void) {
    if (vfs_scratch[0] && chdir(vfs_scratch) == 0 && chdir("..") == 0)
        vfs_rm_tree(basename(vfs_scratch));
}

static void enter_scratch(int argc, char **argv) {
    umask(022);
    if (argc >= 2) {
        if (chdir(argv[1]) != 0) {
            perror("scratch dir");
            exit(2);
        }
        return;
    }
    char name[512];
    snprintf(name, sizeof name, "%s.scratch", basename(argv[0]));
    vfs_rm_tree(name);
    if (mkdir(name, 0755) != 0 || chdir(name) != 0 || !getcwd(vfs_scratch, sizeof vfs_scratch)) {
        perror("scratch dir");
        exit(2);
    }
    atexit(vfs_cleanup);
}

static int finish(void) {
    printf("failures: %d\n", vfs_failures);
    return vfs_failures ? 1 : 0;
}

/* An address that is never mapped in either run. */
#define BAD_PTR ((void *)8)

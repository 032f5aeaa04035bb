/* File-backed mappings: private copies, shared write-back, msync, mincore. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    const char *path = "mm_file.data";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char buf[8192];
    memset(buf, 'f', sizeof buf);
    memcpy(buf + 4096, "second page", 11);
    write(fd, buf, 6000);

    char *priv = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("private %c %.11s tail %d\n", priv[0], priv + 4096, priv[7000]);
    priv[0] = 'P';
    char *shared = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("shared sees file %c\n", shared[0]);
    shared[1] = 'S';
    printf("msync %d\n", msync(shared, 8192, MS_SYNC));
    char back[4];
    pread(fd, back, 2, 0);
    printf("file now %c%c\n", back[0], back[1]);
    char *offset = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
    printf("offset map %.11s\n", offset);
    close(fd);
    printf("after close %.11s\n", offset);
    printf("munmap %d\n", munmap(shared, 8192));

    int ro = open(path, O_RDONLY);
    errno = 0;
    void *bad = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    printf("shared rw of ro fd %d %s\n", bad == MAP_FAILED, strerrorname_np(errno));
    char *rmap = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    errno = 0;
    int r = mprotect(rmap, 4096, PROT_READ | PROT_WRITE);
    printf("mprotect write of ro shared %d %s\n", r, strerrorname_np(errno));
    int wo = open(path, O_WRONLY);
    errno = 0;
    bad = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, wo, 0);
    printf("map of write-only fd %d %s\n", bad == MAP_FAILED, strerrorname_np(errno));
    unlink(path);
    return 0;
}

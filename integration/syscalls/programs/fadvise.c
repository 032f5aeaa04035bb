/* posix_fadvise: accepted advice, and the errors for bad advice, fd, length. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int fd = open("/etc/hostname", O_RDONLY);
    printf("sequential %d\n", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL));
    printf("dontneed %d\n", posix_fadvise(fd, 0, 4096, POSIX_FADV_DONTNEED));
    printf("bad advice %d\n", posix_fadvise(fd, 0, 0, 99));
    printf("bad fd %d\n", posix_fadvise(99, 0, 0, 0));
    printf("negative length %d\n", posix_fadvise(fd, 0, -1, 0));
    return 0;
}

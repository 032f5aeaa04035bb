/* vfork(2) shares memory with the parent until the child exits or execs;
 * posix_spawn reports a failed exec (ENOENT) through that shared memory;
 * the parent's FP state survives the child. */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    volatile int shared = 1;
    double d = 1.5;
    pid_t p = vfork();
    if (p == 0) { shared = 42; _exit(3); }
    int st;
    waitpid(p, &st, 0);
    printf("vfork child wrote %d, exit %d, fp %g\n", shared, WEXITSTATUS(st), d * 2);
    char *av[] = {"echo", "spawned", NULL};
    int rc = posix_spawn(&p, "/bin/busybox", NULL, NULL, av, environ);
    waitpid(p, &st, 0);
    printf("posix_spawn %d exit %d\n", rc, WEXITSTATUS(st));
    rc = posix_spawn(&p, "/nonexistent", NULL, NULL, av, environ);
    printf("posix_spawn missing %s\n", strerrorname_np(rc));
    for (int i = 0; i < 3; i++) {
        p = vfork();
        if (p == 0) { execl("/bin/busybox", "true", (char *)NULL); _exit(127); }
        waitpid(p, &st, 0);
        printf("vfork+exec %d\n", WEXITSTATUS(st));
    }
    return 0;
}

/* execve/execveat from a forked child: close-on-exec, dispositions (handled
 * signals reset, ignored stay ignored), the signal mask and pending signals
 * carried over, the pid kept, errors (ENOENT, EACCES, ENOEXEC, EFAULT),
 * execveat with a directory fd, AT_EMPTY_PATH and AT_SYMLINK_NOFOLLOW. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void handler(int sig) { (void)sig; }

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

static int run_child(const char *self, int how) {
    pid_t p = fork();
    if (p == 0) {
        char *argv[] = {(char *)self, "child", NULL};
        char *envp[] = {"FROM_PARENT=1", NULL};
        if (how == 0) {
            execve(self, argv, envp);
        } else if (how == 1) {
            int dfd = open(".", O_RDONLY | O_DIRECTORY);
            const char *base = strrchr(self, '/') ? strrchr(self, '/') + 1 : self;
            syscall(SYS_execveat, dfd, base, argv, envp, 0);
        } else {
            int fd = open(self, O_RDONLY);
            syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
        }
        printf("exec failed %s\n", strerrorname_np(errno));
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int child(void) {
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    printf("  usr1 reset to default %d\n", sa.sa_handler == SIG_DFL);
    sigaction(SIGUSR2, NULL, &sa);
    printf("  usr2 still ignored %d\n", sa.sa_handler == SIG_IGN);
    sigset_t m;
    sigprocmask(SIG_BLOCK, NULL, &m);
    printf("  term still blocked %d\n", sigismember(&m, SIGTERM));
    sigpending(&m);
    printf("  term still pending %d\n", sigismember(&m, SIGTERM));
    printf("  fd 5 (cloexec) %s fd 6 %s\n", fcntl(5, F_GETFD) < 0 ? "closed" : "open",
           fcntl(6, F_GETFD) < 0 ? "closed" : "open");
    printf("  env %s\n", getenv("FROM_PARENT") ? getenv("FROM_PARENT") : "-");
    fflush(stdout);
    return 3;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    setvbuf(stdout, NULL, _IONBF, 0);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) { perror("readlink"); return 1; }
    self[n] = 0;
    signal(SIGUSR1, handler);
    signal(SIGUSR2, SIG_IGN);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGTERM);
    sigprocmask(SIG_BLOCK, &m, NULL);
    int a = open("/dev/null", O_RDONLY | O_CLOEXEC), b = open("/dev/null", O_RDONLY);
    dup3(a, 5, O_CLOEXEC);
    dup2(b, 6);
    pid_t p = fork();
    if (p == 0) {
        raise(SIGTERM);  /* pending across exec */
        char *av[] = {self, "child", NULL};
        char *ev[] = {"FROM_PARENT=pending", NULL};
        execve(self, av, ev);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
    printf("execve with pending -> %d\n", WEXITSTATUS(st));
    for (int how = 0; how < 3; how++) printf("how %d -> %d\n", how, run_child(self, how));
    char *av[] = {"x", NULL};
    SHOW("enoent", execve("/nonexistent/prog", av, NULL));
    SHOW("eacces dir", execve("/", av, NULL));
    int fd = open("notexec.sh", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(fd, "garbage\n", 8);
    close(fd);
    SHOW("eacces mode", execve("./notexec.sh", av, NULL));
    chmod("notexec.sh", 0755);
    SHOW("enoexec", execve("./notexec.sh", av, NULL));
    unlink("notexec.sh");
    SHOW("efault", syscall(SYS_execve, NULL, av, NULL));
    symlink(self, "link-to-self");
    SHOW("nofollow", syscall(SYS_execveat, AT_FDCWD, "link-to-self", av, NULL, AT_SYMLINK_NOFOLLOW));
    unlink("link-to-self");
    SHOW("bad flags", syscall(SYS_execveat, AT_FDCWD, self, av, NULL, 0x4));
    SHOW("empty no flag", syscall(SYS_execveat, AT_FDCWD, "", av, NULL, 0));
    return 0;
}

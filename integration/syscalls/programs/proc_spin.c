/* Signals reach a task that runs application code without making system
 * calls: a timer's SIGALRM handler, a fatal SIGTERM and a handler in a
 * spinning child (the platform must kick the task out of the application). */
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void h(int s) { (void)s; stop = 1; }

static pid_t spinner(int with_handler) {
    int fds[2];
    pipe(fds);
    pid_t p = fork();
    if (p == 0) {
        if (with_handler) signal(SIGUSR1, h);
        stop = 0;
        write(fds[1], "r", 1);
        while (!stop) {}
        _exit(7);
    }
    char c;
    read(fds[0], &c, 1);  /* the child is ready and about to spin */
    close(fds[0]);
    close(fds[1]);
    return p;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGALRM, h);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    while (!stop) {}
    printf("alarm stopped the spin\n");
    int st;
    pid_t p = spinner(0);
    kill(p, SIGTERM);
    waitpid(p, &st, 0);
    printf("spinning child killed by %d\n", WTERMSIG(st));
    p = spinner(1);
    kill(p, SIGUSR1);
    waitpid(p, &st, 0);
    printf("spinning child handler -> exit %d\n", WEXITSTATUS(st));
    p = spinner(0);
    kill(p, SIGSTOP);
    waitpid(p, &st, WUNTRACED);
    printf("spinning child stopped %d\n", WIFSTOPPED(st));
    kill(p, SIGKILL);
    waitpid(p, &st, 0);
    printf("then killed by %d\n", WTERMSIG(st));
    return 0;
}

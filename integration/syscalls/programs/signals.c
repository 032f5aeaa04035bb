/* Signal state is recorded: actions, mask, alternate stack; a fatal signal
 * with its default action ends the process. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

static void handler(int sig) { (void)sig; }

int main(void) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigaddset(&sa.sa_mask, SIGUSR2);
    printf("sigaction %d\n", sigaction(SIGUSR1, &sa, NULL));
    printf("get %d\n", sigaction(SIGUSR1, NULL, &old));
    printf("handler same %d restart %d mask %d\n", old.sa_handler == handler,
           (old.sa_flags & SA_RESTART) != 0, sigismember(&old.sa_mask, SIGUSR2));
    SHOW("sigkill", sigaction(SIGKILL, &sa, NULL));
    sigset_t set, cur;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGKILL);
    printf("block %d\n", sigprocmask(SIG_BLOCK, &set, NULL));
    sigprocmask(SIG_BLOCK, NULL, &cur);
    printf("usr1 blocked %d kill blocked %d\n", sigismember(&cur, SIGUSR1), sigismember(&cur, SIGKILL));
    SHOW("bad how", sigprocmask(99, &set, NULL));
    stack_t ss = {.ss_sp = malloc(SIGSTKSZ), .ss_size = SIGSTKSZ, .ss_flags = 0}, oss;
    printf("altstack %d\n", sigaltstack(&ss, NULL));
    sigaltstack(NULL, &oss);
    printf("altstack size ok %d flags %d\n", oss.ss_size == SIGSTKSZ, oss.ss_flags);
    stack_t tiny = {.ss_sp = ss.ss_sp, .ss_size = 16, .ss_flags = 0};
    SHOW("tiny altstack", sigaltstack(&tiny, NULL));
    signal(SIGCHLD, SIG_DFL);
    printf("raise ignored-by-default %d\n", raise(SIGCHLD));
    signal(SIGTERM, SIG_IGN);
    printf("raise ignored %d\n", raise(SIGTERM));
    signal(SIGTERM, SIG_DFL);
    fflush(stdout);
    raise(SIGTERM);
    printf("not reached\n");
    return 0;
}

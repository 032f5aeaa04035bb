/* fork/vfork/clone, wait4/waitid (WNOHANG, WUNTRACED, WCONTINUED, WNOWAIT,
 * process groups), zombies, reparenting to a subreaper, PR_SET_PDEATHSIG,
 * SIGCHLD ignored (autoreap). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static void show_status(const char *label, pid_t want, pid_t wpid, int options) {
    int st = 0;
    errno = 0;
    pid_t got = waitpid(wpid, &st, options);
    if (got < 0) { printf("%s: %s\n", label, strerrorname_np(errno)); return; }
    printf("%s: match %d ", label, got == want);
    if (WIFEXITED(st)) printf("exited %d\n", WEXITSTATUS(st));
    else if (WIFSIGNALED(st)) printf("signaled %d\n", WTERMSIG(st));
    else if (WIFSTOPPED(st)) printf("stopped %d\n", WSTOPSIG(st));
    else if (WIFCONTINUED(st)) printf("continued\n");
    else printf("status %#x\n", st);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t me = getpid();
    int st;
    /* exit code and memory copy */
    int x = 1;
    pid_t p = fork();
    if (p == 0) { x = 2; _exit(getppid() == me ? 7 : 99); }
    show_status("exit", p, p, 0);
    printf("x after fork %d\n", x);
    /* killed by a signal */
    p = fork();
    if (p == 0) { kill(getpid(), SIGTERM); _exit(1); }
    show_status("sigterm", p, p, 0);
    /* abort() -> SIGABRT */
    p = fork();
    if (p == 0) { signal(SIGABRT, SIG_DFL); abort(); }
    int w0 = waitpid(p, &st, 0);
    printf("abort: match %d signaled %d sig %d\n", w0 == p, WIFSIGNALED(st), WTERMSIG(st));
    /* WNOHANG before the child ends, then a blocking wait */
    int pfd[2];
    if (pipe(pfd) < 0) { perror("pipe"); return 1; }
    p = fork();
    if (p == 0) { char c; close(pfd[1]); read(pfd[0], &c, 1); _exit(3); }
    close(pfd[0]);
    printf("wnohang %d\n", waitpid(p, &st, WNOHANG));
    write(pfd[1], "x", 1);
    close(pfd[1]);
    show_status("after wnohang", p, -1, 0);
    errno = 0;
    show_status("no children", 0, -1, 0);
    show_status("bad pid", 0, 12345678, WNOHANG);
    /* stop and continue */
    p = fork();
    if (p == 0) { for (;;) pause(); }
    kill(p, SIGSTOP);
    show_status("stop", p, p, WUNTRACED);
    kill(p, SIGCONT);
    show_status("cont", p, p, WCONTINUED);
    kill(p, SIGKILL);
    show_status("kill", p, p, 0);
    /* waitid with WNOWAIT leaves the zombie */
    p = fork();
    if (p == 0) _exit(5);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    printf("waitid nowait %d\n", waitid(P_PID, p, &si, WEXITED | WNOWAIT));
    printf("si signo %d code %d pid %d status %d\n", si.si_signo, si.si_code, si.si_pid == p,
           si.si_status);
    memset(&si, 0, sizeof si);
    printf("waitid %d code %d status %d\n", waitid(P_ALL, 0, &si, WEXITED), si.si_code,
           si.si_status);
    memset(&si, 0xff, sizeof si);
    printf("waitid nohang none %d\n", waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 ? -errno : 0);
    /* process groups */
    p = fork();
    if (p == 0) { setpgid(0, 0); nap(20); _exit(9); }
    setpgid(p, p);
    show_status("pgid wait", p, -p, 0);
    /* vfork: the parent waits until the child exits */
    p = vfork();
    if (p == 0) _exit(11);
    show_status("vfork", p, p, 0);
    /* clone with another exit signal needs __WCLONE / __WALL */
    p = (pid_t)syscall(SYS_clone, SIGURG, 0, 0, 0, 0);
    if (p == 0) _exit(12);
    nap(50);
    show_status("clone child plain wait", p, p, WNOHANG);
    show_status("clone __WCLONE", p, p, __WCLONE);
    /* subreaper: an orphaned grandchild comes back to us */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int sync[2];
    pipe(sync);
    p = fork();
    if (p == 0) {
        pid_t g = fork();
        if (g == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            write(sync[1], "r", 1);
            for (;;) pause();
        }
        char c;
        read(sync[0], &c, 1);
        _exit(0);
    }
    show_status("middle", p, p, 0);
    pid_t w = waitpid(-1, &st, 0);
    printf("grandchild reaped by subreaper %d signaled %d sig %d\n", w > 0, WIFSIGNALED(st),
           WTERMSIG(st));
    /* SIGCHLD ignored: children are reaped automatically */
    signal(SIGCHLD, SIG_IGN);
    p = fork();
    if (p == 0) _exit(0);
    show_status("autoreap", p, p, 0);
    return 0;
}

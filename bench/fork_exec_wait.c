/* MODE exec: fork+exec+wait of PROGRAM (default /bin/busybox true);
 * vfork: vfork+exec+wait; exit: fork+exit+wait. N times; prints
 * "MODE N seconds-per-iteration". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "exec";
    int n = argc > 2 ? atoi(argv[2]) : 100;
    char *prog = argc > 3 ? argv[3] : "/bin/busybox";
    char *args[] = {prog, "true", NULL};
    int use_vfork = strcmp(mode, "vfork") == 0;
    int do_exec = use_vfork || strcmp(mode, "exec") == 0;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        pid_t p = use_vfork ? vfork() : fork();
        if (p < 0) { perror("fork"); return 1; }
        if (p == 0) {
            if (do_exec) { execv(prog, args); _exit(127); }
            _exit(0);
        }
        int st;
        if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child failed: %#x\n", st);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%s %d %.9f\n", mode, n, s / n);
    return 0;
}

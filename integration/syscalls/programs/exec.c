/* execve replaces the program; argv and envp arrive intact; errors return. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv, char **envp) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        printf("child argc %d argv %s %s env %s\n", argc, argv[1], argv[2], getenv("EXEC_TEST"));
        return 7;
    }
    char *bad[] = {"x", NULL};
    errno = 0;
    int r = execve("/nonexistent/program", bad, envp);
    int e = errno;
    printf("missing %d %s\n", r, strerrorname_np(e));
    r = execve("/", bad, envp);
    e = errno;
    printf("directory %d %s\n", r, strerrorname_np(e));
    fflush(stdout);
    char *args[] = {argv[0], "child", "two words", NULL};
    char *env[] = {"EXEC_TEST=passed", NULL};
    execve("/proc/self/exe", args, env);
    printf("exec failed %s\n", strerrorname_np(errno));
    return 1;
}

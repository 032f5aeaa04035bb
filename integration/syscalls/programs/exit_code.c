/* The exit status reaches the caller. */
// sentry-args: 42
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    printf("exiting with %s\n", argv[1]);
    fflush(stdout);
    _Exit(atoi(argv[1]));
}

/* uname: the fields every program relies on. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

int main(void) {
    struct utsname u;
    printf("uname %d\n", uname(&u));
    printf("sysname %s\n", u.sysname);
    printf("machine %s\n", u.machine);
    printf("release nonempty %d\n", strlen(u.release) > 0);
    printf("nodename nonempty %d\n", strlen(u.nodename) > 0);
    return 0;
}

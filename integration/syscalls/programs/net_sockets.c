/* net_sockets: a task's own sockets in /proc/net/{unix,tcp,udp}, found by
 * the inode fstat(2) gives (the namespace may hold other sockets). Only
 * the deterministic columns are printed: flags, type, state, bound path;
 * for TCP/UDP the local address without the port, the state, the peer. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static unsigned long ino_of(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

static void unix_row(const char *what, int fd) {
    char line[512];
    unsigned long want = ino_of(fd), ino;
    unsigned int refs, proto, flags, type, st;
    FILE *f = fopen("/proc/net/unix", "r");
    if (!f) {
        printf("/proc/net/unix: errno %d\n", errno);
        return;
    }
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        char path[256] = "";
        char *colon = strchr(line, ':');
        if (!colon || sscanf(colon + 1, "%x %x %x %x %x %lu %255s", &refs, &proto, &flags,
                             &type, &st, &ino, path) < 6)
            continue;
        if (ino != want)
            continue;
        found = 1;
        const char *base = strrchr(path, '/');
        printf("%s: proto %u flags %05X type %u st %u path %s\n", what, proto, flags, type, st,
               base ? base + 1 : path);
    }
    fclose(f);
    if (!found)
        printf("%s: not listed\n", what);
}

static void inet_row(const char *table, const char *what, int fd) {
    char line[512], path[64];
    unsigned long want = ino_of(fd);
    snprintf(path, sizeof path, "/proc/net/%s", table);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%s: errno %d\n", path, errno);
        return;
    }
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned int laddr, lport, raddr, rport, st, uid;
        unsigned long ino;
        int sl, timeout;
        if (sscanf(line, "%d: %x:%x %x:%x %x %*x:%*x %*x:%*x %*x %u %d %lu", &sl, &laddr,
                   &lport, &raddr, &rport, &st, &uid, &timeout, &ino) != 9 ||
            ino != want)
            continue;
        found = 1;
        printf("%s %s: local %08X port>0 %d remote %08X port>0 %d st %02X\n", table, what,
               laddr, lport > 0, raddr, rport > 0, st);
    }
    fclose(f);
    if (!found)
        printf("%s %s: not listed\n", table, what);
}

int main(void) {
    char path[64];
    snprintf(path, sizeof path, "net_sockets.sock");
    unlink(path);
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strcpy(sun.sun_path, path);
    if (bind(listener, (struct sockaddr *)&sun, sizeof sun) || listen(listener, 1))
        printf("unix bind/listen: errno %d\n", errno);
    int pair[2];
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair);
    int dgram = socket(AF_UNIX, SOCK_DGRAM, 0);
    unix_row("listener", listener);
    unix_row("pair0", pair[0]);
    unix_row("dgram", dgram);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    int tl = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(tl, (struct sockaddr *)&sin, sizeof sin) || listen(tl, 1) ||
        getsockname(tl, (struct sockaddr *)&sin, &len))
        printf("tcp bind/listen: errno %d\n", errno);
    int tc = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(tc, (struct sockaddr *)&sin, sizeof sin))
        printf("tcp connect: errno %d\n", errno);
    int ta = accept(tl, NULL, NULL);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(u, (struct sockaddr *)&any, sizeof any);
    inet_row("tcp", "listener", tl);
    inet_row("tcp", "accepted", ta);
    inet_row("udp", "bound", u);
    close(tc);
    close(ta);
    close(tl);
    close(u);
    close(listener);
    unlink(path);
    return 0;
}

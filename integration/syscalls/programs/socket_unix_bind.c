/* AF_UNIX names: path bind in the work directory (the gofer-backed root)
 * and on /tmp (a tmpfs in the sandbox), abstract names, autobind;
 * listen/connect/accept with names reported both ways; EADDRINUSE,
 * ECONNREFUSED (not listening, stale file), ENOENT, EPROTOTYPE, EISCONN,
 * EINVAL cases; the socket file's type and open() giving ENXIO. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(const char *what, long rc) {
    if (rc < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, rc);
}

static socklen_t mkaddr(struct sockaddr_un *a, const char *path, int abstract) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (abstract) {
        memcpy(a->sun_path + 1, path, n);
        return offsetof(struct sockaddr_un, sun_path) + 1 + n;
    }
    memcpy(a->sun_path, path, n);
    return offsetof(struct sockaddr_un, sun_path) + n + 1;
}

static void show(const char *what, struct sockaddr_un *a, socklen_t len) {
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (len <= off) {
        printf("%s: len %u unnamed\n", what, len);
    } else if (a->sun_path[0] == 0) {
        printf("%s: len %u abstract '%.*s'\n", what, len, (int)(len - off - 1), a->sun_path + 1);
    } else {
        printf("%s: len %u path '%s'\n", what, len, a->sun_path);
    }
}

static void server_client(const char *path, int abstract, int type) {
    struct sockaddr_un a, got;
    socklen_t alen = mkaddr(&a, path, abstract);
    int srv = socket(AF_UNIX, type, 0);
    check("bind", bind(srv, (struct sockaddr *)&a, alen));
    int again = socket(AF_UNIX, type, 0);
    check("bind same name", bind(again, (struct sockaddr *)&a, alen));
    check("bind twice", bind(srv, (struct sockaddr *)&a, alen));
    int cli = socket(AF_UNIX, type, 0);
    check("connect before listen", connect(cli, (struct sockaddr *)&a, alen));
    check("listen", listen(srv, 4));
    check("connect", connect(cli, (struct sockaddr *)&a, alen));
    check("connect again", connect(cli, (struct sockaddr *)&a, alen));
    socklen_t glen = sizeof got;
    int conn = accept(srv, (struct sockaddr *)&got, &glen);
    printf("accept ok %d\n", conn >= 0);
    show("accepted peer", &got, glen);
    glen = sizeof got;
    getsockname(conn, (struct sockaddr *)&got, &glen);
    show("accepted name", &got, glen);
    glen = sizeof got;
    getpeername(cli, (struct sockaddr *)&got, &glen);
    show("client peer", &got, glen);
    glen = sizeof got;
    getsockname(srv, (struct sockaddr *)&got, &glen);
    show("server name", &got, glen);
    struct ucred uc;
    socklen_t uclen = sizeof uc;
    getsockopt(cli, SOL_SOCKET, SO_PEERCRED, &uc, &uclen);
    printf("client SO_PEERCRED pid_is_self %d uid %u\n", uc.pid == getpid(), uc.uid);
    uclen = sizeof uc;
    getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &uc, &uclen);
    printf("server SO_PEERCRED pid_is_self %d uid %u\n", uc.pid == getpid(), uc.uid);
    glen = 5;
    getsockname(srv, (struct sockaddr *)&got, &glen);
    printf("truncated name: reported len %u\n", glen);
    char buf[64];
    send(cli, "ping", 4, 0);
    ssize_t n = recv(conn, buf, sizeof buf, 0);
    printf("server got %zd '%.*s'\n", n, (int)n, buf);
    send(conn, "pong", 4, 0);
    glen = sizeof got;
    n = recvfrom(cli, buf, sizeof buf, 0, (struct sockaddr *)&got, &glen);
    printf("client got %zd '%.*s'\n", n, (int)n, buf);
    show("recvfrom names", &got, glen);
    fcntl(srv, F_SETFL, O_NONBLOCK);
    check("accept nonblock none pending", accept(srv, NULL, NULL));
    fcntl(srv, F_SETFL, 0);
    struct pollfd p = {srv, POLLIN, 0};
    int cli2 = socket(AF_UNIX, type, 0);
    connect(cli2, (struct sockaddr *)&a, alen);
    printf("poll listener: %d revents %#x\n", poll(&p, 1, 0), p.revents);
    int c2 = accept4(srv, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    printf("accept4 cloexec %d nonblock %d\n", (fcntl(c2, F_GETFD) & FD_CLOEXEC) != 0,
           (fcntl(c2, F_GETFL) & O_NONBLOCK) != 0);
    int dg = socket(AF_UNIX, type == SOCK_STREAM ? SOCK_DGRAM : SOCK_STREAM, 0);
    check("connect wrong type", connect(dg, (struct sockaddr *)&a, alen));
    close(c2);
    close(cli2);
    close(dg);
    close(conn);
    close(cli);
    close(again);
    close(srv);
    int late = socket(AF_UNIX, type, 0);
    check("connect after close", connect(late, (struct sockaddr *)&a, alen));
    close(late);
    if (!abstract) {
        struct stat st;
        check("stat", stat(path, &st));
        printf("S_ISSOCK %d\n", S_ISSOCK(st.st_mode));
        check("open socket file", open(path, O_RDONLY));
        check("unlink", unlink(path));
    }
}

int main(void) {
    unlink("sock.here");
    server_client("sock.here", 0, SOCK_STREAM);
    server_client("/tmp/sockbind.test", 0, SOCK_SEQPACKET);
    server_client("pysandbox-test-abstract", 1, SOCK_STREAM);

    struct sockaddr_un a;
    socklen_t alen;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    alen = mkaddr(&a, "no/such/dir/sock", 0);
    check("bind missing dir", bind(s, (struct sockaddr *)&a, alen));
    alen = mkaddr(&a, "missing.sock", 0);
    check("connect missing", connect(s, (struct sockaddr *)&a, alen));
    int fd = open("plain.file", O_CREAT | O_WRONLY, 0644);
    close(fd);
    alen = mkaddr(&a, "plain.file", 0);
    check("bind existing file", bind(s, (struct sockaddr *)&a, alen));
    check("connect to plain file", connect(s, (struct sockaddr *)&a, alen));
    unlink("plain.file");
    check("bind short", bind(s, (struct sockaddr *)&a, 1));
    check("bind too long", bind(s, (struct sockaddr *)&a, sizeof a + 1));
    a.sun_family = AF_INET;
    check("bind wrong family", bind(s, (struct sockaddr *)&a, alen));
    check("connect wrong family", connect(s, (struct sockaddr *)&a, alen));
    check("listen unbound", listen(s, 1));
    check("accept unbound", accept(s, NULL, NULL));
    /* autobind */
    sa_family_t fam = AF_UNIX;
    check("autobind", bind(s, (struct sockaddr *)&fam, sizeof fam));
    struct sockaddr_un got;
    socklen_t glen = sizeof got;
    getsockname(s, (struct sockaddr *)&got, &glen);
    printf("autobind len %u abstract %d\n", glen, got.sun_path[0] == 0);
    /* A full backlog: listen(0) takes one pending connection. */
    struct sockaddr_un bl;
    socklen_t bllen = mkaddr(&bl, "pysandbox-backlog", 1);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(ls, (struct sockaddr *)&bl, bllen);
    listen(ls, 0);
    int b1 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int b2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    check("connect into backlog", connect(b1, (struct sockaddr *)&bl, bllen));
    check("connect past backlog", connect(b2, (struct sockaddr *)&bl, bllen));
    close(accept(ls, NULL, NULL));
    check("connect after accept", connect(b2, (struct sockaddr *)&bl, bllen));
    close(b1);
    close(b2);
    close(ls);
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    check("listen dgram", listen(d, 1));
    check("accept dgram", accept(d, NULL, NULL));
    close(d);
    close(s);
    return 0;
}

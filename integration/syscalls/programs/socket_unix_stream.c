/* AF_UNIX SOCK_STREAM over socketpair: data both ways, MSG_PEEK,
 * MSG_DONTWAIT, MSG_WAITALL across writes, FIONREAD, poll readiness,
 * filling the buffer until EAGAIN, shutdown (EOF, EPIPE with and without
 * MSG_NOSIGNAL, SIGPIPE), ECONNRESET-free EOF after close, socket options
 * and names of an unnamed pair. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

static int revents(int fd, short events) {
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, 0);
    return n < 0 ? -1 : p.revents;
}

int main(void) {
    int sv[2];
    char buf[256];
    check("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct stat st;
    fstat(sv[0], &st);
    printf("S_ISSOCK %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
    printf("poll idle: %#x\n", revents(sv[0], POLLIN | POLLOUT));
    check("write", write(sv[0], "hello", 5));
    check("send", send(sv[0], " world", 6, 0));
    printf("poll data: %#x\n", revents(sv[1], POLLIN | POLLOUT));
    int avail = -1;
    check("FIONREAD", ioctl(sv[1], FIONREAD, &avail));
    printf("avail %d\n", avail);
    ssize_t n = recv(sv[1], buf, 3, MSG_PEEK);
    printf("peek %zd '%.*s'\n", n, (int)n, buf);
    n = read(sv[1], buf, sizeof buf);
    printf("read %zd '%.*s'\n", n, (int)n, buf);
    check("recv DONTWAIT empty", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));

    /* MSG_WAITALL gathers several writes from a child. */
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 4; i++) {
            usleep(2000);
            write(sv[0], "abcd", 4);
        }
        _exit(0);
    }
    n = recv(sv[1], buf, 16, MSG_WAITALL);
    printf("waitall %zd '%.*s'\n", n, (int)n, buf);
    waitpid(pid, NULL, 0);

    /* Fill the buffer without blocking. */
    int fl = fcntl(sv[0], F_GETFL);
    fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
    static char big[65536];
    memset(big, 'x', sizeof big);
    long total = 0;
    for (;;) {
        n = write(sv[0], big, sizeof big);
        if (n < 0)
            break;
        total += n;
    }
    printf("filled: %s, some bytes: %d\n", strerrorname_np(errno), total > 0);
    printf("poll full POLLOUT: %d\n", (revents(sv[0], POLLOUT) & POLLOUT) != 0);
    long drained = 0;
    while (drained < total) {
        n = read(sv[1], big, sizeof big);
        if (n <= 0)
            break;
        drained += n;
    }
    printf("drained all: %d\n", drained == total);
    printf("poll drained POLLOUT: %d\n", (revents(sv[0], POLLOUT) & POLLOUT) != 0);
    fcntl(sv[0], F_SETFL, fl);

    /* Options and names. */
    int v = 0;
    socklen_t len = sizeof v;
    getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len);
    printf("SO_TYPE %d len %u\n", v, len);
    getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &len);
    printf("SO_DOMAIN %d\n", v);
    getsockopt(sv[0], SOL_SOCKET, SO_PROTOCOL, &v, &len);
    printf("SO_PROTOCOL %d\n", v);
    getsockopt(sv[0], SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
    printf("SO_ACCEPTCONN %d\n", v);
    getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &v, &len);
    printf("SO_ERROR %d\n", v);
    struct sockaddr_un sun;
    len = sizeof sun;
    check("getsockname", getsockname(sv[0], (struct sockaddr *)&sun, &len));
    printf("name len %u family %d\n", len, sun.sun_family);
    len = sizeof sun;
    check("getpeername", getpeername(sv[0], (struct sockaddr *)&sun, &len));
    printf("peer len %u\n", len);

    /* shutdown: EOF for the reader, EPIPE for the writer. */
    check("shutdown WR", shutdown(sv[0], SHUT_WR));
    check("read after peer SHUT_WR", read(sv[1], buf, sizeof buf));
    printf("poll after SHUT_WR: %#x\n", revents(sv[1], POLLIN));
    check("send NOSIGNAL after SHUT_WR", send(sv[0], "x", 1, MSG_NOSIGNAL));
    signal(SIGPIPE, SIG_IGN);
    check("write ignored SIGPIPE", write(sv[0], "x", 1));
    signal(SIGPIPE, SIG_DFL);
    pid = fork();
    if (pid == 0) {
        send(sv[0], "x", 1, 0);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child send: signaled %d sig %d\n", WIFSIGNALED(status), WTERMSIG(status));
    check("shutdown bad how", shutdown(sv[0], 7));
    check("shutdown RD", shutdown(sv[1], SHUT_RD));
    printf("poll both shut: %#x\n", revents(sv[1], POLLIN | POLLOUT));

    /* Closing the peer: EOF, then EPIPE. */
    int p2[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, p2);
    write(p2[0], "last", 4);
    close(p2[0]);
    n = read(p2[1], buf, sizeof buf);
    printf("read before EOF %zd\n", n);
    check("read at EOF", read(p2[1], buf, sizeof buf));
    printf("poll closed peer: %#x\n", revents(p2[1], POLLIN | POLLOUT));
    check("send to closed peer", send(p2[1], "x", 1, MSG_NOSIGNAL));
    /* Peer closed with our data unread: ECONNRESET. */
    int p3[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, p3);
    write(p3[0], "unread", 6);
    close(p3[1]);
    check("recv after reset", recv(p3[0], buf, sizeof buf, 0));
    check("recv again", recv(p3[0], buf, sizeof buf, 0));
    check("lseek", lseek(sv[0], 0, SEEK_SET));
    return 0;
}

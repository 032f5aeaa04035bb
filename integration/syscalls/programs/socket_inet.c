/* AF_INET over loopback on host sockets: TCP with a non-blocking connect
 * (EINPROGRESS, poll, SO_ERROR), poll-driven non-blocking transfer of 2 MB
 * with a forked peer, shutdown and EOF, ECONNREFUSED, option whitelist
 * (TCP_NODELAY, SO_REUSEADDR, SO_KEEPALIVE, IP_TTL, SO_LINGER, SO_RCVTIMEO
 * timing out with EAGAIN), UDP sendto/recvfrom with addresses, connected
 * UDP, sockaddr validation errnos, getaddrinfo("localhost"). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOTAL (2 * 1024 * 1024)

static void check(const char *what, long rc) {
    if (rc < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, rc);
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void echo_child(int lfd) {
    int c = accept(lfd, NULL, NULL);
    static char buf[65536];
    long total = 0;
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(c, buf + off, n - off);
            if (w <= 0)
                _exit(3);
            off += w;
        }
        total += n;
    }
    shutdown(c, SHUT_WR);
    _exit(total == TOTAL ? 0 : 4);
}

int main(void) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    check("SO_REUSEADDR", setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on));
    struct sockaddr_in a = loopback(0);
    check("bind", bind(lfd, (struct sockaddr *)&a, sizeof a));
    socklen_t len = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &len);
    printf("bound len %u port nonzero %d addr %s\n", len, a.sin_port != 0, inet_ntoa(a.sin_addr));
    check("listen", listen(lfd, 8));
    int v;
    len = sizeof v;
    getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len);
    printf("SO_ACCEPTCONN %d\n", v);
    pid_t pid = fork();
    if (pid == 0)
        echo_child(lfd);

    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int rc = connect(c, (struct sockaddr *)&a, sizeof a);
    printf("connect: %d %s\n", rc, rc ? strerrorname_np(errno) : "ok");
    struct pollfd p = {c, POLLOUT, 0};
    poll(&p, 1, 5000);
    len = sizeof v;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &len);
    printf("connected: revents %#x SO_ERROR %d\n", p.revents, v);
    check("TCP_NODELAY", setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on));
    len = sizeof v;
    getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len);
    printf("TCP_NODELAY now %d\n", v != 0);
    struct sockaddr_in peer;
    len = sizeof peer;
    check("getpeername", getpeername(c, (struct sockaddr *)&peer, &len));
    printf("peer port matches %d\n", peer.sin_port == a.sin_port);

    static char out[TOTAL], in[TOTAL];
    for (int i = 0; i < TOTAL; i++)
        out[i] = (char)(i * 7 + i / 4096);
    long sent = 0, got = 0;
    while (got < TOTAL) {
        struct pollfd q = {c, POLLIN | (sent < TOTAL ? POLLOUT : 0), 0};
        if (poll(&q, 1, 10000) <= 0) {
            printf("poll timeout\n");
            return 1;
        }
        if ((q.revents & POLLOUT) && sent < TOTAL) {
            ssize_t n = send(c, out + sent, TOTAL - sent > 100000 ? 100000 : TOTAL - sent, 0);
            if (n > 0)
                sent += n;
            if (sent == TOTAL)
                shutdown(c, SHUT_WR);
        }
        if (q.revents & POLLIN) {
            ssize_t n = recv(c, in + got, TOTAL - got, 0);
            if (n > 0)
                got += n;
            else if (n == 0)
                break;
        }
    }
    printf("echoed %ld bytes intact %d\n", got, memcmp(in, out, TOTAL) == 0);
    fcntl(c, F_SETFL, 0);
    check("recv at EOF", recv(c, in, 10, 0));
    int status;
    waitpid(pid, &status, 0);
    printf("child exit %d\n", WEXITSTATUS(status));
    close(c);

    /* Errors. */
    int r = socket(AF_INET, SOCK_STREAM, 0);
    check("connect refused", connect(r, (struct sockaddr *)&a, sizeof a));
    close(lfd);
    r = socket(AF_INET, SOCK_STREAM, 0);
    check("connect refused after close", connect(r, (struct sockaddr *)&a, sizeof a));
    check("bind short", bind(r, (struct sockaddr *)&a, 8));
    check("bind huge len", bind(r, (struct sockaddr *)&a, 4096));
    struct sockaddr_in6 six;
    memset(&six, 0, sizeof six);
    six.sin6_family = AF_INET6;
    check("bind v6 addr on v4", bind(r, (struct sockaddr *)&six, sizeof six));
    check("connect short", connect(r, (struct sockaddr *)&a, 1));
    check("listen unbound ok", listen(r, 1));
    check("send unconnected", send(r, "x", 1, MSG_NOSIGNAL));
    struct linger lg = {1, 5};
    check("SO_LINGER", setsockopt(r, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    check("SO_LINGER short", setsockopt(r, SOL_SOCKET, SO_LINGER, &lg, 4));
    check("SO_KEEPALIVE", setsockopt(r, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on));
    check("IP_TTL", setsockopt(r, IPPROTO_IP, IP_TTL, &(int){33}, sizeof(int)));
    len = sizeof v;
    getsockopt(r, IPPROTO_IP, IP_TTL, &v, &len);
    printf("IP_TTL %d\n", v);
    check("int option short", setsockopt(r, SOL_SOCKET, SO_KEEPALIVE, &on, 2));
    len = 2;
    v = 0;
    check("getsockopt short len", getsockopt(r, SOL_SOCKET, SO_TYPE, &v, &len));
    printf("short len now %u value %d\n", len, v);
    len = -1;
    check("getsockopt negative len", getsockopt(r, SOL_SOCKET, SO_TYPE, &v, &len));
    close(r);

    /* UDP */
    int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = loopback(0), ub = loopback(0);
    bind(u1, (struct sockaddr *)&ua, sizeof ua);
    len = sizeof ua;
    getsockname(u1, (struct sockaddr *)&ua, &len);
    bind(u2, (struct sockaddr *)&ub, sizeof ub);
    len = sizeof ub;
    getsockname(u2, (struct sockaddr *)&ub, &len);
    check("udp sendto", sendto(u2, "datagram", 8, 0, (struct sockaddr *)&ua, sizeof ua));
    char buf[64];
    struct sockaddr_in from;
    len = sizeof from;
    ssize_t n = recvfrom(u1, buf, 4, MSG_TRUNC, (struct sockaddr *)&from, &len);
    printf("udp recvfrom %zd '%.4s' from matches %d len %u\n", n, buf,
           from.sin_port == ub.sin_port, len);
    check("udp send unconnected", send(u1, "x", 1, 0));
    check("udp connect", connect(u1, (struct sockaddr *)&ub, sizeof ub));
    check("udp send connected", send(u1, "back", 4, 0));
    n = recv(u2, buf, sizeof buf, 0);
    printf("udp got %zd '%.*s'\n", n, (int)n, buf);
    struct timeval tv = {0, 50000};
    check("SO_RCVTIMEO", setsockopt(u2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    check("recv times out", recv(u2, buf, sizeof buf, 0));
    struct timeval back;
    len = sizeof back;
    getsockopt(u2, SOL_SOCKET, SO_RCVTIMEO, &back, &len);
    printf("SO_RCVTIMEO %ld.%06ld\n", (long)back.tv_sec, (long)back.tv_usec);
    check("unknown option", setsockopt(u2, SOL_SOCKET, 9999, &on, sizeof on));
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    check("udp disconnect", connect(u1, &unspec, sizeof unspec));

    /* IPv6 loopback */
    int l6 = socket(AF_INET6, SOCK_STREAM, 0);
    check("IPV6_V6ONLY", setsockopt(l6, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on));
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_addr = in6addr_loopback;
    check("bind ::1", bind(l6, (struct sockaddr *)&s6, sizeof s6));
    len = sizeof s6;
    getsockname(l6, (struct sockaddr *)&s6, &len);
    printf("v6 name len %u\n", len);
    listen(l6, 1);
    int c6 = socket(AF_INET6, SOCK_STREAM, 0);
    check("connect ::1", connect(c6, (struct sockaddr *)&s6, sizeof s6));
    int a6 = accept(l6, NULL, NULL);
    send(c6, "six", 3, 0);
    n = recv(a6, buf, 3, MSG_WAITALL);
    printf("v6 got %zd '%.*s'\n", n, (int)n, buf);
    send(c6, "discard", 7, 0);
    check("tcp MSG_TRUNC discards", recv(a6, NULL, 7, MSG_TRUNC | MSG_WAITALL));
    check("bind v4 addr on v6", bind(c6, (struct sockaddr *)&a, sizeof a));
    check("bind v6 short", bind(socket(AF_INET6, SOCK_STREAM, 0), (struct sockaddr *)&s6, 20));

    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo("localhost", "80", &hints, &res);
    printf("getaddrinfo localhost: %d", rc);
    if (rc == 0) {
        printf(" %s\n", inet_ntoa(((struct sockaddr_in *)res->ai_addr)->sin_addr));
        freeaddrinfo(res);
    } else {
        printf("\n");
    }
    return 0;
}

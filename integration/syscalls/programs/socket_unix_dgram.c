/* AF_UNIX SOCK_DGRAM and SOCK_SEQPACKET: message boundaries, MSG_TRUNC
 * (flag and return value), sender addresses, connect/disconnect (AF_UNSPEC),
 * ENOTCONN, EPERM for a target connected elsewhere, ECONNREFUSED after the
 * peer closed, EOF on seqpacket, EMSGSIZE, sendmmsg/recvmmsg. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void check(const char *what, long rc) {
    if (rc < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, rc);
}

static socklen_t abs_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, name, strlen(name));
    return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static void recv_show(const char *what, int fd, size_t n, int flags) {
    char buf[256];
    struct sockaddr_un from;
    struct iovec iov = {buf, n};
    struct msghdr m = {0};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    ssize_t r = recvmsg(fd, &m, flags);
    if (r < 0) {
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
        return;
    }
    size_t shown = (size_t)r < n ? (size_t)r : n;
    printf("%s: %zd '%.*s' trunc %d namelen %u", what, r, (int)shown, buf,
           (m.msg_flags & MSG_TRUNC) != 0, m.msg_namelen);
    if (m.msg_namelen > offsetof(struct sockaddr_un, sun_path) + 1)
        printf(" from '%.*s'", (int)(m.msg_namelen - 3), from.sun_path + 1);
    printf("\n");
}

int main(void) {
    struct sockaddr_un a, b;
    socklen_t alen = abs_addr(&a, "pysb-dgram-a"), blen = abs_addr(&b, "pysb-dgram-b");
    int sa = socket(AF_UNIX, SOCK_DGRAM, 0), sb = socket(AF_UNIX, SOCK_DGRAM, 0);
    check("bind a", bind(sa, (struct sockaddr *)&a, alen));
    check("bind b", bind(sb, (struct sockaddr *)&b, blen));
    check("send unconnected", send(sb, "x", 1, 0));
    check("sendto a", sendto(sb, "first message", 13, 0, (struct sockaddr *)&a, alen));
    check("sendto a 2", sendto(sb, "second", 6, 0, (struct sockaddr *)&a, alen));
    int avail;
    ioctl(sa, FIONREAD, &avail);
    printf("FIONREAD %d\n", avail);
    recv_show("recv 5", sa, 5, 0);
    recv_show("recv full", sa, 100, 0);
    sendto(sb, "truncated", 9, 0, (struct sockaddr *)&a, alen);
    recv_show("recv MSG_TRUNC", sa, 3, MSG_TRUNC);
    sendto(sb, "peeked", 6, 0, (struct sockaddr *)&a, alen);
    recv_show("peek", sa, 100, MSG_PEEK);
    recv_show("after peek", sa, 100, 0);
    check("recv empty DONTWAIT", recv(sa, NULL, 0, MSG_DONTWAIT));
    int anon = socket(AF_UNIX, SOCK_DGRAM, 0);
    sendto(anon, "anon", 4, 0, (struct sockaddr *)&a, alen);
    recv_show("from unbound", sa, 100, 0);
    check("connect b->a", connect(sb, (struct sockaddr *)&a, alen));
    check("send connected", send(sb, "conn", 4, 0));
    recv_show("recv connected", sa, 100, 0);
    check("connect a->b", connect(sa, (struct sockaddr *)&b, blen));
    check("anon to a (connected elsewhere)", sendto(anon, "x", 1, 0, (struct sockaddr *)&a, alen));
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    check("disconnect", connect(sb, &unspec, sizeof unspec));
    check("send after disconnect", send(sb, "x", 1, 0));
    check("connect b->a again", connect(sb, (struct sockaddr *)&a, alen));
    close(sa);
    check("send to closed", send(sb, "x", 1, 0));
    check("send after refused", send(sb, "x", 1, 0));
    struct pollfd p = {sb, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    printf("poll dgram: %#x\n", p.revents);
    static char huge[300000];
    int pr[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, pr);
    check("huge datagram", send(pr[0], huge, sizeof huge, 0));
    check("shutdown dgram WR", shutdown(pr[0], SHUT_WR));
    check("send after shutdown", send(pr[0], "x", 1, MSG_NOSIGNAL));
    check("shutdown RD", shutdown(pr[1], SHUT_RD));
    check("recv after SHUT_RD", recv(pr[1], huge, 10, 0));

    /* sendmmsg / recvmmsg */
    int mm[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, mm);
    struct mmsghdr msgs[3];
    struct iovec iovs[3];
    const char *words[3] = {"one", "three", "five5"};
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 3; i++) {
        iovs[i].iov_base = (void *)words[i];
        iovs[i].iov_len = strlen(words[i]);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    check("sendmmsg", sendmmsg(mm[0], msgs, 3, 0));
    printf("msg_len %u %u %u\n", msgs[0].msg_len, msgs[1].msg_len, msgs[2].msg_len);
    char rb[3][16];
    for (int i = 0; i < 3; i++) {
        iovs[i].iov_base = rb[i];
        iovs[i].iov_len = sizeof rb[i];
    }
    check("recvmmsg WAITFORONE", recvmmsg(mm[1], msgs, 3, MSG_WAITFORONE, NULL));
    printf("got %.*s %.*s %.*s\n", (int)msgs[0].msg_len, rb[0], (int)msgs[1].msg_len, rb[1],
           (int)msgs[2].msg_len, rb[2]);
    check("recvmmsg empty nonblock", recvmmsg(mm[1], msgs, 3, MSG_DONTWAIT, NULL));

    /* SOCK_SEQPACKET keeps boundaries and has EOF. */
    int sp[2];
    check("seqpacket pair", socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp));
    send(sp[0], "abc", 3, 0);
    send(sp[0], "defgh", 5, 0);
    recv_show("seq recv 2", sp[1], 2, 0);
    recv_show("seq recv", sp[1], 100, 0);
    int unconnected = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    check("seq send unconnected", send(unconnected, "x", 1, MSG_NOSIGNAL));
    check("seq recv unconnected", recv(unconnected, huge, 1, 0));
    check("stream recv unconnected", recv(socket(AF_UNIX, SOCK_STREAM, 0), huge, 1, 0));
    check("stream send unconnected", send(socket(AF_UNIX, SOCK_STREAM, 0), "x", 1, MSG_NOSIGNAL));
    check("seqpacket sendto with address", sendto(sp[0], "x", 1, 0, (struct sockaddr *)&a, alen));
    close(sp[0]);
    recv_show("seq EOF", sp[1], 100, 0);
    check("seq send closed", send(sp[1], "x", 1, MSG_NOSIGNAL));
    return 0;
}

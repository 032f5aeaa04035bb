/* socket(2) family/type/protocol errnos and what the socket calls give for
 * bad descriptors, non-sockets, bad lengths and bad pointers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void check(const char *what, long rc) {
    if (rc < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: ok\n", what);
}

int main(void) {
    check("AF_UNIX SOCK_RAW", socket(AF_UNIX, SOCK_RAW, 0));
    check("AF_UNIX proto 5", socket(AF_UNIX, SOCK_STREAM, 5));
    check("type 0", socket(AF_UNIX, 0, 0));
    check("type 99", socket(AF_UNIX, 99, 0));
    check("bad type flag", socket(AF_UNIX, SOCK_STREAM | 0x100000, 0));
    check("family 1000", socket(1000, SOCK_STREAM, 0));
    check("family -1", socket(-1, SOCK_STREAM, 0));
    check("AF_INET seqpacket", socket(AF_INET, SOCK_SEQPACKET, 0));
    check("AF_INET stream udp", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    check("AF_INET dgram tcp", socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
    check("AF_INET6 stream", socket(AF_INET6, SOCK_STREAM, 0));
    check("netlink route", socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
    check("netlink audit-ish 31", socket(AF_NETLINK, SOCK_RAW, 31));
    check("netlink stream", socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE));
    int sv[2];
    check("socketpair inet", socketpair(AF_INET, SOCK_STREAM, 0, sv));
    int *volatile badp = (int *)8;
    check("socketpair bad pointer", socketpair(AF_UNIX, SOCK_STREAM, 0, badp));
    int fd = open("/dev/null", O_RDONLY);
    char buf[8];
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    socklen_t len = sizeof a;
    check("bind ebadf", bind(999, (struct sockaddr *)&a, sizeof a));
    check("bind enotsock", bind(fd, (struct sockaddr *)&a, sizeof a));
    check("listen enotsock", listen(fd, 1));
    check("accept enotsock", accept(fd, NULL, NULL));
    check("connect ebadf", connect(-1, (struct sockaddr *)&a, sizeof a));
    check("getsockname enotsock", getsockname(fd, (struct sockaddr *)&a, &len));
    check("recv enotsock", recv(fd, buf, 1, 0));
    check("send ebadf", send(999, buf, 1, 0));
    check("shutdown enotsock", shutdown(fd, SHUT_RD));
    int v;
    check("getsockopt enotsock", getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    check("accept4 bad flags", accept4(s, NULL, NULL, 0x4));
    check("bind bad pointer", bind(s, (struct sockaddr *)8, sizeof a));
    check("bind negative len", bind(s, (struct sockaddr *)&a, (socklen_t)-1));
    check("getsockname bad len pointer", getsockname(s, (struct sockaddr *)&a, (socklen_t *)8));
    len = 4;
    check("getsockopt bad value pointer", getsockopt(s, SOL_SOCKET, SO_TYPE, (void *)8, &len));
    check("getsockopt SOL_TCP on unix", getsockopt(s, IPPROTO_TCP, 1, &v, &len));
    check("getpeername unconnected", getpeername(s, (struct sockaddr *)&a, &len));
    check("shutdown unconnected", shutdown(s, SHUT_RDWR));
    check("send bad buffer", send(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ? -1 : sv[0], (void *)8, 4, 0));
    struct msghdr m = {0};
    m.msg_iovlen = 2000;
    check("sendmsg too many iovecs", sendmsg(sv[0], &m, 0));
    m.msg_iovlen = 0;
    check("sendmsg empty", sendmsg(sv[0], &m, 0));
    check("recvmsg bad msghdr", recvmsg(sv[1], (struct msghdr *)8, MSG_DONTWAIT));
    check("read empty nonblocking", recv(sv[1], buf, 1, MSG_DONTWAIT));
    return 0;
}

/* Control messages on AF_UNIX: SCM_RIGHTS passing a pipe end (usable after
 * the sender closed it), MSG_CMSG_CLOEXEC, MSG_CTRUNC with a short control
 * buffer, descriptors across fork, too many descriptors (EINVAL), a bad
 * descriptor (EBADF), stream reads stopping after a message with
 * descriptors; SCM_CREDENTIALS with SO_PASSCRED, explicit credentials,
 * SO_PEERCRED; malformed control messages. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(const char *what, long rc) {
    if (rc < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, rc);
}

static ssize_t send_fds(int sock, const int *fds, int n, const char *data) {
    char ctl[CMSG_SPACE(sizeof(int) * 300)];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    return sendmsg(sock, &m, 0);
}

/* Receives one message; prints data, flags and the control messages. */
static int recv_show(const char *what, int sock, size_t ctlsize, int flags) {
    char data[64], ctl[512];
    struct iovec iov = {data, sizeof data};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctlsize ? ctl : NULL;
    m.msg_controllen = ctlsize;
    ssize_t n = recvmsg(sock, &m, flags);
    if (n < 0) {
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
        return -1;
    }
    printf("%s: %zd '%.*s' ctrunc %d controllen %zu\n", what, n, (int)n, data,
           (m.msg_flags & MSG_CTRUNC) != 0, (size_t)m.msg_controllen);
    int last = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_type == SCM_RIGHTS) {
            int nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *fds = (int *)CMSG_DATA(c);
            printf("  SCM_RIGHTS %d fds, cloexec %d\n", nfd,
                   (fcntl(fds[0], F_GETFD) & FD_CLOEXEC) != 0);
            last = fds[0];
        } else if (c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred *u = (struct ucred *)CMSG_DATA(c);
            printf("  SCM_CREDENTIALS pid_is_self %d uid %u gid %u len %zu\n", u->pid == getpid(),
                   u->uid, u->gid, (size_t)c->cmsg_len);
        } else {
            printf("  cmsg level %d type %d\n", c->cmsg_level, c->cmsg_type);
        }
    }
    return last;
}

int main(void) {
    int sv[2], pfd[2];
    char buf[64];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pipe(pfd);
    check("send pipe read end", send_fds(sv[0], &pfd[0], 1, "fd"));
    close(pfd[0]);
    int got = recv_show("recv rights", sv[1], 512, 0);
    write(pfd[1], "through", 7);
    ssize_t n = read(got, buf, sizeof buf);
    printf("read via passed fd: %zd '%.*s'\n", n, (int)n, buf);
    close(got);

    check("send again", send_fds(sv[0], &pfd[1], 1, "w"));
    got = recv_show("recv CLOEXEC", sv[1], 512, MSG_CMSG_CLOEXEC);
    close(got);

    int three[3] = {pfd[1], pfd[1], pfd[1]};
    check("send three", send_fds(sv[0], three, 3, "3"));
    recv_show("recv into short control", sv[1], CMSG_SPACE(sizeof(int)), 0);
    check("send three", send_fds(sv[0], three, 3, "3"));
    recv_show("recv without control", sv[1], 0, 0);

    int many[300];
    for (int i = 0; i < 300; i++)
        many[i] = pfd[1];
    check("send 254 fds", send_fds(sv[0], many, 254, "x"));
    check("send 253 fds", send_fds(sv[0], many, 253, "y"));
    recv_show("recv 253", sv[1], 512, 0);
    for (int fd = 3; fd < 400; fd++)
        if (fd != sv[0] && fd != sv[1] && fd != pfd[1])
            close(fd);
    int bad = 999;
    check("send bad fd", send_fds(sv[0], &bad, 1, "b"));

    /* A stream read stops after the message that carried descriptors. */
    send(sv[0], "aa", 2, 0);
    send_fds(sv[0], &pfd[1], 1, "bb");
    send(sv[0], "cc", 2, 0);
    got = recv_show("glued read", sv[1], 512, 0);
    close(got);
    recv_show("rest", sv[1], 512, 0);

    /* Passing across fork. */
    pid_t pid = fork();
    if (pid == 0) {
        int p2[2];
        pipe(p2);
        write(p2[1], "from child", 10);
        send_fds(sv[0], &p2[0], 1, "c");
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    got = recv_show("recv from child", sv[1], 512, 0);
    n = read(got, buf, sizeof buf);
    printf("child's pipe: '%.*s'\n", (int)n, buf);
    close(got);

    /* SCM_CREDENTIALS */
    int on = 1;
    check("SO_PASSCRED", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
    socklen_t len = sizeof on;
    getsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, &len);
    printf("SO_PASSCRED now %d\n", on);
    send(sv[0], "who", 3, 0);
    recv_show("recv creds", sv[1], 512, 0);
    send(sv[0], "who", 3, 0);
    recv_show("recv creds short", sv[1], 20, 0);
    struct ucred uc = {getpid(), getuid(), getgid()};
    char ctl[CMSG_SPACE(sizeof uc)];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = {"me", 2};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof uc);
    memcpy(CMSG_DATA(c), &uc, sizeof uc);
    check("send explicit creds", sendmsg(sv[0], &m, 0));
    recv_show("recv explicit creds", sv[1], 512, 0);
    c->cmsg_len = CMSG_LEN(sizeof uc) - 1;
    check("creds bad len", sendmsg(sv[0], &m, 0));
    c->cmsg_len = 4;
    check("cmsg_len too small", sendmsg(sv[0], &m, 0));
    c->cmsg_len = CMSG_LEN(sizeof uc);
    c->cmsg_type = 77;
    check("unknown SOL_SOCKET type", sendmsg(sv[0], &m, 0));
    c->cmsg_level = 99;
    check("unknown level is skipped", sendmsg(sv[0], &m, 0));
    recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);

    struct ucred peer;
    len = sizeof peer;
    check("SO_PEERCRED", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &peer, &len));
    printf("peer pid_is_self %d uid %u gid %u len %u\n", peer.pid == getpid(), peer.uid, peer.gid,
           len);
    int lone = socket(AF_UNIX, SOCK_STREAM, 0);
    len = sizeof peer;
    check("SO_PEERCRED unconnected", getsockopt(lone, SOL_SOCKET, SO_PEERCRED, &peer, &len));
    printf("lone peer pid %d uid %d gid %d\n", peer.pid, (int)peer.uid, (int)peer.gid);
    return 0;
}

/* Blocking socket calls and signals (Linux restart rules): a handler
 * without SA_RESTART makes a blocked recv/accept (Unix and host UDP) fail
 * with EINTR; with SA_RESTART they are restarted and complete; with
 * SO_RCVTIMEO set they fail with EINTR even under SA_RESTART
 * (sock_intr_errno); SO_RCVTIMEO expiring gives EAGAIN; a blocked writer
 * on a full socket is interrupted too. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t hits;

static void on_alarm(int sig) {
    (void)sig;
    hits++;
}

static void handler(int restart) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, NULL);
}

static void alarm_ms(long ms) {
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void report(const char *what, long rc) {
    if (rc < 0)
        printf("%s: -1 %s (handler ran %d)\n", what, strerrorname_np(errno), hits > 0);
    else
        printf("%s: %ld (handler ran %d)\n", what, rc, hits > 0);
    hits = 0;
}

int main(void) {
    int sv[2];
    char buf[64];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);

    handler(0);
    alarm_ms(50);
    report("unix recv, no SA_RESTART", recv(sv[1], buf, sizeof buf, 0));

    handler(1);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(300000);
        write(sv[0], "late", 4);
        _exit(0);
    }
    alarm_ms(50);
    report("unix recv, SA_RESTART", recv(sv[1], buf, sizeof buf, 0));
    waitpid(pid, NULL, 0);

    struct timeval tv = {5, 0};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    alarm_ms(50);
    report("unix recv, SA_RESTART + SO_RCVTIMEO", recv(sv[1], buf, sizeof buf, 0));
    tv.tv_sec = 0;
    tv.tv_usec = 30000;
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    report("unix recv, SO_RCVTIMEO expires", recv(sv[1], buf, sizeof buf, 0));

    /* A writer blocked on a full buffer. */
    static char big[1 << 20];
    handler(0);
    alarm_ms(50);
    report("unix send 1 MiB, interrupted after progress", send(sv[0], big, sizeof big, 0) > 0);
    char drain[65536];
    struct timeval zero = {0, 1000};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof zero);
    while (recv(sv[1], drain, sizeof drain, 0) > 0) {
    }

    /* SO_SNDTIMEO: a partial count after progress, then EAGAIN. */
    struct timeval stv = {0, 30000};
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &stv, sizeof stv);
    ssize_t part = send(sv[0], big, sizeof big, 0);
    printf("send with SO_SNDTIMEO: partial %d\n", part > 0 && part < (ssize_t)sizeof big);
    report("send again with SO_SNDTIMEO", send(sv[0], big, sizeof big, 0));
    while (recv(sv[1], drain, sizeof drain, 0) > 0) {
    }

    /* accept */
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path + 1, "pysb-sig-accept");
    socklen_t alen = sizeof(sa_family_t) + 1 + strlen("pysb-sig-accept");
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(l, (struct sockaddr *)&a, alen);
    listen(l, 1);
    handler(0);
    alarm_ms(50);
    report("accept, no SA_RESTART", accept(l, NULL, NULL));
    handler(1);
    pid = fork();
    if (pid == 0) {
        usleep(300000);
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        connect(c, (struct sockaddr *)&a, alen);
        _exit(0);
    }
    alarm_ms(50);
    report("accept, SA_RESTART", accept(l, NULL, NULL) >= 0);
    waitpid(pid, NULL, 0);

    /* Host UDP socket. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(u, (struct sockaddr *)&in, sizeof in);
    handler(0);
    alarm_ms(50);
    report("udp recv, no SA_RESTART", recv(u, buf, sizeof buf, 0));
    handler(1);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    alarm_ms(50);
    report("udp recv, SA_RESTART + SO_RCVTIMEO", recv(u, buf, sizeof buf, 0));
    tv.tv_sec = 0;
    tv.tv_usec = 30000;
    setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    report("udp recv, SO_RCVTIMEO expires", recv(u, buf, sizeof buf, 0));
    return 0;
}

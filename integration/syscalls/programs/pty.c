/* A pty pair from /dev/ptmx: defaults, the line discipline through real
 * reads and writes, window size, and the controlling-terminal ioctls of a
 * session leader (the runner's child becomes one with setsid(); the
 * Sentry's init already leads session 1, so setsid() fails there with
 * EPERM and the program goes on, as both are then leaders without a
 * terminal). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_ < 0 ? -1L : r_ == 0 ? 0L : 1L, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

static void show_read(const char *label, int fd) {
    char buf[256];
    errno = 0;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
        printf("%s -1 %s\n", label, strerrorname_np(errno));
        return;
    }
    printf("%s %zd \"", label, n);
    for (ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 32 && c < 127 && c != '\\') putchar(c);
        else printf("\\x%02x", c);
    }
    printf("\"\n");
}

static int open_pair(int *replica, int flags) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) < 0) { perror("posix_openpt"); exit(1); }
    int ptn = -1;
    ioctl(m, TIOCGPTN, &ptn);
    char expect[32];
    snprintf(expect, sizeof expect, "/dev/pts/%d", ptn);
    const char *name = ptsname(m);
    printf("ptsname matches TIOCGPTN %d\n", name != NULL && strcmp(name, expect) == 0);
    errno = 0;
    int early = open(name, O_RDWR | O_NOCTTY);
    printf("open locked %d %s\n", early, early < 0 ? strerrorname_np(errno) : "-");
    int lock = 1;
    ioctl(m, TIOCGPTLCK, &lock);
    printf("locked %d\n", lock);
    if (unlockpt(m) < 0) { perror("unlockpt"); exit(1); }
    *replica = open(name, O_RDWR | flags);
    if (*replica < 0) { perror("open replica"); exit(1); }
    return m;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    if (setsid() < 0 && getsid(0) != getpid()) { perror("setsid"); return 1; }
    printf("session leader %d\n", getsid(0) == getpid());

    int s;
    int m = open_pair(&s, O_NOCTTY);
    printf("isatty %d %d\n", isatty(m), isatty(s));
    struct termios t;
    tcgetattr(s, &t);
    printf("iflag %#o oflag %#o cflag %#o lflag %#o\n", t.c_iflag, t.c_oflag, t.c_cflag & ~CBAUD,
           t.c_lflag);
    printf("cc intr %d quit %d erase %d kill %d eof %d min %d susp %d werase %d\n",
           t.c_cc[VINTR], t.c_cc[VQUIT], t.c_cc[VERASE], t.c_cc[VKILL], t.c_cc[VEOF],
           t.c_cc[VMIN], t.c_cc[VSUSP], t.c_cc[VWERASE]);

    /* Canonical mode with echo. */
    write(m, "helo\x7fp me\r", 10);
    show_read("replica line", s);
    show_read("master echo", m);
    write(m, "one two\x17three\x15" "again\n", 20);
    show_read("replica edited", s);
    show_read("master edited echo", m);
    write(m, "part\x04", 5);
    show_read("replica eof-terminated", s);
    usleep(100000); /* the echo reaches the master from a work queue */
    show_read("master part echo", m);
    write(m, "\x04", 1);
    show_read("replica eof", s);
    write(s, "out\n", 4);
    usleep(100000); /* likewise the replica's output */
    show_read("master output", m);
    int avail = -1;
    write(m, "x\n", 2);
    usleep(100000); /* Linux runs the line discipline on a work queue */
    ioctl(s, FIONREAD, &avail);
    printf("fionread %d\n", avail);
    show_read("replica x", s);
    show_read("master x echo", m);

    /* Raw mode, no echo. */
    struct termios raw = t;
    raw.c_lflag &= ~(ICANON | ECHO | ISIG);
    raw.c_iflag &= ~ICRNL;
    raw.c_oflag &= ~OPOST;
    SHOW("tcsetattr raw", tcsetattr(s, TCSANOW, &raw));
    write(m, "\x03\r", 2);
    show_read("raw read", s);
    write(s, "a\nb", 3);
    show_read("raw output", m);
    fcntl(s, F_SETFL, O_NONBLOCK);
    show_read("nonblocking empty", s);
    fcntl(s, F_SETFL, 0);
    tcsetattr(s, TCSANOW, &t);

    /* Window size. */
    struct winsize ws = {0};
    SHOW("TIOCGWINSZ", ioctl(s, TIOCGWINSZ, &ws));
    printf("winsize %d %d\n", ws.ws_row, ws.ws_col);
    struct winsize big = {.ws_row = 40, .ws_col = 132};
    SHOW("TIOCSWINSZ master", ioctl(m, TIOCSWINSZ, &big));
    ioctl(s, TIOCGWINSZ, &ws);
    printf("winsize %d %d\n", ws.ws_row, ws.ws_col);

    /* Not our controlling terminal yet. */
    pid_t pg;
    SHOW("TIOCGPGRP not ctty", ioctl(s, TIOCGPGRP, &pg));
    SHOW("TIOCGSID not ctty", ioctl(s, TIOCGSID, &pg));
    SHOW("TIOCNOTTY not ctty", ioctl(s, TIOCNOTTY, 0));
    SHOW("TIOCSCTTY", ioctl(s, TIOCSCTTY, 0));
    SHOW("TIOCSCTTY again", ioctl(s, TIOCSCTTY, 0));
    pg = -1;
    SHOW("TIOCGPGRP", ioctl(s, TIOCGPGRP, &pg));
    printf("foreground is us %d\n", pg == getpgrp());
    pid_t sid = -1;
    SHOW("TIOCGSID", ioctl(s, TIOCGSID, &sid));
    printf("sid is us %d\n", sid == getsid(0));
    SHOW("tcgetpgrp master", tcgetpgrp(m) == getpgrp() ? 0 : -2);
    pid_t self = getpgrp();
    SHOW("TIOCSPGRP self", ioctl(s, TIOCSPGRP, &self));
    pid_t none = 999999;
    SHOW("TIOCSPGRP missing", ioctl(s, TIOCSPGRP, &none));
    pid_t neg = -3;
    SHOW("TIOCSPGRP negative", ioctl(s, TIOCSPGRP, &neg));
    int fd2 = open("/dev/tty", O_RDWR);
    printf("/dev/tty opens %d\n", fd2 >= 0);
    if (fd2 >= 0) {
        write(fd2, "via tty\n", 8);
        show_read("master via /dev/tty", m);
        close(fd2);
    }
    int m2s;
    int m2 = open_pair(&m2s, O_NOCTTY);
    SHOW("TIOCSCTTY second terminal", ioctl(m2s, TIOCSCTTY, 0));
    SHOW("TIOCNOTTY", ioctl(s, TIOCNOTTY, 0));
    SHOW("TIOCGPGRP after notty", ioctl(s, TIOCGPGRP, &pg));
    close(m2s);
    close(m2);

    /* setpgid/getpgid errors as a session leader. */
    SHOW("setpgid leader", setpgid(0, 0));
    SHOW("setpgid negative", setpgid(0, -1));
    SHOW("setpgid missing", setpgid(999999, 0));
    SHOW("getpgid missing", getpgid(999999));
    SHOW("getsid missing", getsid(999999));
    SHOW("setsid again", setsid());

    /* Hang-ups. */
    int s3;
    int m3 = open_pair(&s3, O_NOCTTY);
    close(s3);
    show_read("master after replica close", m3);
    close(m3);
    int s4;
    int m4 = open_pair(&s4, O_NOCTTY);
    close(m4);
    show_read("replica after master close", s4);
    SHOW("write after master close", write(s4, "x", 1));
    return 0;
}

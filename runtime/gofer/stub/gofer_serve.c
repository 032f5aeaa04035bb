// build-flags: -Wall -Wextra -Werror
/*
 * The gofer's serving loop in directfs mode (see runtime/gofer/directfs.py).
 *
 * The Python gofer builds the container's root, resolves the mounts,
 * drops capabilities, chroots and installs its seccomp filter; then it
 * execs this program (through an FD opened before the chroot) with one
 * argument per served mount:
 *
 *     gofer_serve FD:R:PATH...
 *
 * FD is the connection (an AF_UNIX SOCK_SEQPACKET socket to the Sentry),
 * R is 1 for a read-only mount and 0 otherwise, PATH the mount point
 * inside the chroot. Why a separate program: serving is a loop of a few
 * system calls, while a sleeping Python interpreter costs every sandbox
 * at least 6 MiB of memory for its whole life.
 *
 * Protocol (one packet each way, as directfs.py documents it): the request
 * {"op": "root"} is answered with {"path": PATH, "readonly": true|false}
 * and the mount point's FD in SCM_RIGHTS (O_PATH for a directory; for a
 * single-file mount the open file itself, read-write unless read-only);
 * anything else, or a mount point that is a symlink, gets {"error": "..."}
 * and no FD. The program exits 0 when
 * every connection is closed (the Sentry's end), 2 on bad arguments.
 *
 * Before serving it narrows its seccomp filter to an allow list of the
 * calls below (others fail with EPERM); the gofer's deny list stays
 * stacked underneath.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_CONNS 256
#define MAX_REQUEST 4096
/* A JSON-escaped path (PATH_MAX bytes, 6 per escaped byte at worst, cut
 * short by json_string) and a reply holding two of them. */
#define MAX_JSON (6 * 4096)
#define MAX_REPLY (2 * MAX_JSON + 64)

struct conn {
	int fd;
	int readonly;
	const char *path;
};

static struct conn conns[MAX_CONNS];
static int nconns;

static int parse_arg(const char *arg, struct conn *c)
{
	char *end;
	long fd = strtol(arg, &end, 10);

	if (end == arg || *end != ':' || fd < 0 || fd > 1 << 20)
		return -1;
	if ((end[1] != '0' && end[1] != '1') || end[2] != ':' || end[3] != '/')
		return -1;
	c->fd = (int)fd;
	c->readonly = end[1] == '1';
	c->path = end + 3;
	return 0;
}

/* Append s as a JSON string body: bytes that are not valid UTF-8 become
 * \udcXX, as Python's json.dumps writes a surrogate-escaped file name. */
static size_t json_string(char *out, size_t cap, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p && n + 8 < cap) {
		unsigned char c = *p;
		int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
		int ok = len > 0 && !(len == 2 && c < 0xC2);

		for (int i = 1; ok && i < len; i++)
			ok = (p[i] & 0xC0) == 0x80;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
			p++;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
			p++;
		} else if (!ok) {
			n += (size_t)snprintf(out + n, cap - n, "\\udc%02x", c);
			p++;
		} else {
			memcpy(out + n, p, (size_t)len);
			n += (size_t)len;
			p += len;
		}
	}
	out[n] = '\0';
	return n;
}

static int send_reply(int sock, const char *msg, int fd)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int send_error(int sock, const char *what, const char *detail)
{
	char msg[MAX_REPLY], a[MAX_JSON], b[MAX_JSON];

	json_string(a, sizeof(a), what);
	json_string(b, sizeof(b), detail);
	snprintf(msg, sizeof(msg), "{\"error\": \"%s%s\"}", a, b);
	return send_reply(sock, msg, -1);
}

/* The FD to donate (directfs.py's _mount_fd): O_PATH, or the open file
 * itself for a regular file, falling back to read-only on a read-only
 * file or file system. -1 with errno on failure. */
static int mount_fd(const struct conn *c)
{
	struct stat st;
	int flags = O_NOFOLLOW | O_CLOEXEC;
	int fd = open(c->path, O_PATH | flags);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		/* O_NOFOLLOW with O_PATH opens the link itself: never donate one. */
		close(fd);
		errno = ELOOP;
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		return fd;
	close(fd);
	if (c->readonly)
		return open(c->path, O_RDONLY | flags);
	fd = open(c->path, O_RDWR | flags);
	if (fd < 0 && (errno == EROFS || errno == EACCES || errno == EPERM))
		fd = open(c->path, O_RDONLY | flags);
	return fd;
}

/* Whether the packet is the JSON object {"op": "root"} (whitespace
 * allowed between tokens, no other members). */
static int is_root_request(const char *req, size_t len)
{
	static const char *const tokens[] = { "{", "\"op\"", ":", "\"root\"", "}" };
	size_t i = 0;

	for (size_t t = 0; t < sizeof(tokens) / sizeof(tokens[0]); t++) {
		size_t tl = strlen(tokens[t]);

		while (i < len && strchr(" \t\r\n", req[i]))
			i++;
		if (len - i < tl || memcmp(req + i, tokens[t], tl) != 0)
			return 0;
		i += tl;
	}
	while (i < len && strchr(" \t\r\n", req[i]))
		i++;
	return i == len;
}

/* Serve one packet; 0 once the peer has closed the connection. */
static int handle(const struct conn *c)
{
	char req[MAX_REQUEST + 1], msg[MAX_REPLY], path[MAX_JSON];
	ssize_t n = recv(c->fd, req, MAX_REQUEST, 0);
	int fd, rc;

	if (n <= 0)
		return n < 0 && errno == EINTR;
	req[n] = '\0';
	if (!is_root_request(req, (size_t)n)) {
		char head[65];

		snprintf(head, sizeof(head), "%.64s", req);
		return send_error(c->fd, "unknown request ", head) == 0;
	}
	fd = mount_fd(c);
	if (fd < 0) {
		char what[MAX_JSON];

		snprintf(what, sizeof(what), "open %s: ", c->path);
		return send_error(c->fd, what, strerror(errno)) == 0;
	}
	json_string(path, sizeof(path), c->path);
	snprintf(msg, sizeof(msg), "{\"path\": \"%s\", \"readonly\": %s}", path,
		 c->readonly ? "true" : "false");
	rc = send_reply(c->fd, msg, fd);
	close(fd);
	return rc == 0;
}

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
		  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static int narrow_seccomp(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		ALLOW(SYS_poll), ALLOW(SYS_ppoll), ALLOW(SYS_recvfrom), ALLOW(SYS_recvmsg),
		ALLOW(SYS_sendmsg), ALLOW(SYS_openat), ALLOW(SYS_open), ALLOW(SYS_fstat),
		ALLOW(SYS_newfstatat), ALLOW(SYS_statx), ALLOW(SYS_close), ALLOW(SYS_write),
		ALLOW(SYS_exit), ALLOW(SYS_exit_group), ALLOW(SYS_rt_sigreturn),
		ALLOW(SYS_restart_syscall),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
		.filter = filter,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

int main(int argc, char **argv)
{
	struct pollfd pfds[MAX_CONNS];

	if (argc < 2 || argc - 1 > MAX_CONNS) {
		fprintf(stderr, "usage: gofer_serve FD:R:PATH... (at most %d)\n", MAX_CONNS);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (parse_arg(argv[i], &conns[nconns]) < 0) {
			fprintf(stderr, "gofer_serve: bad argument %s\n", argv[i]);
			return 2;
		}
		nconns++;
	}
	if (narrow_seccomp() < 0) {
		fprintf(stderr, "gofer_serve: seccomp: %s\n", strerror(errno));
		return 1;
	}
	for (int live = nconns; live > 0;) {
		for (int i = 0; i < nconns; i++) {
			pfds[i].fd = conns[i].fd;
			pfds[i].events = POLLIN;
			pfds[i].revents = 0;
		}
		if (poll(pfds, (nfds_t)nconns, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "gofer_serve: poll: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < nconns; i++) {
			if (pfds[i].revents == 0 || conns[i].fd < 0)
				continue;
			if (!handle(&conns[i])) {
				close(conns[i].fd);
				conns[i].fd = -1; /* poll ignores negative FDs */
				live--;
			}
		}
	}
	return 0;
}

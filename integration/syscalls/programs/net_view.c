/* net_view: the network namespace as /proc/net and /sys/class/net show it.
 * Only what does not change between two runs is printed: link names (not
 * the counters of /proc/net/dev), the route tables, local addresses, and
 * the sysfs attributes of every link; and the socket tables' headers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void dump(const char *path) {
    char buf[65536];
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: errno %d\n", path, errno);
        return;
    }
    printf("== %s\n", path);
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, n, stdout);
    close(fd);
}

static void first_line(const char *path) {
    char line[512];
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%s: errno %d\n", path, errno);
        return;
    }
    if (fgets(line, sizeof line, f))
        printf("%s header: %s", path, line);
    fclose(f);
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    char line[512], names[64][32];
    int count = 0;
    FILE *f = fopen("/proc/net/dev", "r");
    if (!f) {
        printf("/proc/net/dev: errno %d\n", errno);
        return 1;
    }
    for (int i = 0; fgets(line, sizeof line, f); i++) {
        char *colon = strchr(line, ':');
        if (i < 2 || !colon || count == 64)
            continue;
        *colon = 0;
        char *name = line + strspn(line, " ");
        snprintf(names[count++], sizeof names[0], "%s", name);
    }
    fclose(f);
    printf("links %d\n", count);
    static const char *attrs[] = {"address", "addr_len", "broadcast", "flags", "ifindex",
                                  "mtu", "operstate", "tx_queue_len", "type"};
    for (int i = 0; i < count; i++) {
        for (size_t a = 0; a < sizeof attrs / sizeof attrs[0]; a++) {
            char path[128], value[128] = "";
            snprintf(path, sizeof path, "/sys/class/net/%s/%s", names[i], attrs[a]);
            int fd = open(path, O_RDONLY);
            ssize_t n = fd < 0 ? -errno : read(fd, value, sizeof value - 1);
            if (fd >= 0)
                close(fd);
            if (n < 0)
                printf("%s: errno %zd\n", path, -n);
            else
                printf("%s: %s", path, value);
        }
    }
    /* Every link named in /proc/net/dev has a /sys/class/net entry. */
    DIR *d = opendir("/sys/class/net");
    char *listed[64];
    int nlisted = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && nlisted < 64) {
        char path[300];
        snprintf(path, sizeof path, "/sys/class/net/%s/ifindex", e->d_name);
        if (e->d_name[0] != '.' && access(path, R_OK) == 0)
            listed[nlisted++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    qsort(listed, nlisted, sizeof listed[0], cmp);
    for (int i = 0; i < nlisted; i++)
        printf("sysfs link %s\n", listed[i]);
    dump("/proc/net/route");
    dump("/proc/net/if_inet6");
    dump("/proc/net/fib_trie");
    dump("/proc/self/net/route");
    first_line("/proc/net/tcp");
    first_line("/proc/net/udp");
    first_line("/proc/net/tcp6");
    first_line("/proc/net/udp6");
    first_line("/proc/net/snmp");
    first_line("/proc/net/netstat");
    int fd = open("/proc/net/route", O_WRONLY);
    printf("open route for writing: %d errno %d\n", fd < 0 ? -1 : 0, fd < 0 ? errno : 0);
    return 0;
}

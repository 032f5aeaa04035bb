/* NETLINK_ROUTE reads: getifaddrs (an RTM_GETLINK and RTM_GETADDR dump),
 * if_nametoindex/if_indextoname (SIOCGIFINDEX/SIOCGIFNAME ioctls),
 * if_nameindex, SIOCGIFCONF, and a raw RTM_GETROUTE dump counted. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    struct ifaddrs *ifa;
    if (getifaddrs(&ifa) != 0) {
        printf("getifaddrs: %s\n", strerrorname_np(errno));
        return 1;
    }
    int lo_inet = 0, packet = 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET && strcmp(i->ifa_name, "lo") == 0) {
            char b[64];
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, b, sizeof b);
            printf("lo inet %s up %d loopback %d\n", b, (i->ifa_flags & IFF_UP) != 0,
                   (i->ifa_flags & IFF_LOOPBACK) != 0);
            lo_inet++;
        }
        if (i->ifa_addr->sa_family == AF_PACKET)
            packet++;
    }
    printf("lo inet entries %d, link entries present %d\n", lo_inet, packet > 0);
    freeifaddrs(ifa);

    unsigned idx = if_nametoindex("lo");
    char name[IF_NAMESIZE];
    printf("if_nametoindex(lo) nonzero %d back to '%s'\n", idx != 0,
           if_indextoname(idx, name) ? name : "?");
    printf("if_nametoindex(nope) %u\n", if_nametoindex("nope-such-if"));
    struct if_nameindex *ni = if_nameindex();
    int found = 0;
    for (struct if_nameindex *p = ni; p && p->if_index; p++)
        found += strcmp(p->if_name, "lo") == 0;
    printf("if_nameindex has lo %d\n", found);
    if_freenameindex(ni);

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq reqs[32];
    struct ifconf ifc = {.ifc_len = sizeof reqs, .ifc_req = reqs};
    int rc = ioctl(s, SIOCGIFCONF, &ifc);
    int has_lo = 0;
    for (int i = 0; rc == 0 && i < ifc.ifc_len / (int)sizeof(struct ifreq); i++)
        has_lo += strcmp(reqs[i].ifr_name, "lo") == 0;
    printf("SIOCGIFCONF rc %d has lo %d\n", rc, has_lo);
    struct ifconf probe = {.ifc_len = 0, .ifc_buf = NULL};
    rc = ioctl(s, SIOCGIFCONF, &probe);
    printf("SIOCGIFCONF size probe rc %d len matches %d\n", rc, probe.ifc_len == ifc.ifc_len);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    rc = ioctl(s, SIOCGIFFLAGS, &r);
    printf("SIOCGIFFLAGS lo rc %d up %d\n", rc, (r.ifr_flags & IFF_UP) != 0);
    rc = ioctl(s, SIOCGIFMTU, &r);
    printf("SIOCGIFMTU lo rc %d mtu>0 %d\n", rc, r.ifr_mtu > 0);

    int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    printf("bind %d\n", bind(nl, (struct sockaddr *)&sa, sizeof sa));
    struct {
        struct nlmsghdr h;
        struct rtmsg r;
    } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = RTM_GETROUTE;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = 1;
    req.r.rtm_family = AF_INET;
    printf("send %zd\n", send(nl, &req, sizeof req, 0));
    static char buf[65536];
    int routes = 0, done = 0;
    while (!done) {
        ssize_t n = recv(nl, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) {
                done = 1;
                break;
            }
            if (h->nlmsg_type == RTM_NEWROUTE)
                routes++;
        }
    }
    printf("route dump done %d has routes %d\n", done, routes > 0);
    struct sockaddr_nl bad = {.nl_family = AF_INET};
    int nl2 = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    int brc = bind(nl2, (struct sockaddr *)&bad, sizeof bad);
    printf("bind wrong family %d %s\n", brc, brc ? strerrorname_np(errno) : "");
    brc = bind(nl2, (struct sockaddr *)&sa, 4);
    printf("bind short %d %s\n", brc, brc ? strerrorname_np(errno) : "");
    return 0;
}

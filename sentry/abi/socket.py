"""Socket ABI constants (include/linux/socket.h, include/uapi/linux/in.h,
tcp.h, netlink.h, asm-generic/socket.h) and the binary layouts the socket
syscalls exchange with the application."""

from __future__ import annotations

import struct

AF_UNSPEC = 0
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16
AF_PACKET = 17
AF_MAX = 46

SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_RDM = 4
SOCK_SEQPACKET = 5
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK = 0o4000
SOCK_CLOEXEC = 0o2000000

IPPROTO_IP = 0
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ICMPV6 = 58

NETLINK_ROUTE = 0

SOL_SOCKET = 1
SOL_TCP = IPPROTO_TCP
SOL_UDP = IPPROTO_UDP
SOL_IP = IPPROTO_IP
SOL_IPV6 = IPPROTO_IPV6
SOL_NETLINK = 270

SO_DEBUG = 1
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_DONTROUTE = 5
SO_BROADCAST = 6
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_OOBINLINE = 10
SO_NO_CHECK = 11
SO_PRIORITY = 12
SO_LINGER = 13
SO_BSDCOMPAT = 14
SO_REUSEPORT = 15
SO_PASSCRED = 16
SO_PEERCRED = 17
SO_RCVLOWAT = 18
SO_SNDLOWAT = 19
SO_RCVTIMEO = 20
SO_SNDTIMEO = 21
SO_BINDTODEVICE = 25
SO_TIMESTAMP = 29
SO_ACCEPTCONN = 30
SO_PEERSEC = 31
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SO_PASSSEC = 34
SO_PROTOCOL = 38
SO_DOMAIN = 39

SCM_RIGHTS = 1
SCM_CREDENTIALS = 2
#: include/net/scm.h SCM_MAX_FD: descriptors one SCM_RIGHTS message may carry.
SCM_MAX_FD = 253

MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTROUTE = 0x4
MSG_CTRUNC = 0x8
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_WAITALL = 0x100
MSG_NOSIGNAL = 0x4000
MSG_MORE = 0x8000
MSG_WAITFORONE = 0x10000
MSG_CMSG_CLOEXEC = 0x40000000
MSG_ERRQUEUE = 0x2000
MSG_CONFIRM = 0x800
MSG_FASTOPEN = 0x20000000
MSG_ZEROCOPY = 0x4000000

SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2

#: asm-generic/ioctls.h and linux/sockios.h
FIONREAD = 0x541B
TIOCOUTQ = 0x5411
SIOCGIFNAME = 0x8910
SIOCGIFCONF = 0x8912
SIOCGIFFLAGS = 0x8913
SIOCGIFADDR = 0x8915
SIOCGIFBRDADDR = 0x8919
SIOCGIFNETMASK = 0x891B
SIOCGIFMTU = 0x8921
SIOCGIFHWADDR = 0x8927
SIOCGIFINDEX = 0x8933
SIOCGIFTXQLEN = 0x8942
SIOCINQ = FIONREAD
SIOCOUTQ = TIOCOUTQ

#: include/uapi/linux/un.h: sizeof(struct sockaddr_un)
SOCKADDR_UN_SIZE = 110
UNIX_PATH_MAX = 108
SOCKADDR_IN_SIZE = 16
SOCKADDR_IN6_SIZE = 28
SOCKADDR_NL_SIZE = 12
#: include/linux/socket.h: the largest sockaddr the kernel copies in.
SOCKADDR_STORAGE_SIZE = 128

#: struct msghdr (x86_64): name, namelen(+pad), iov, iovlen, control,
#: controllen, flags(+pad).
MSGHDR = struct.Struct("<QI4xQQQQi4x")
#: struct mmsghdr: msghdr then msg_len (+pad).
MMSGHDR_SIZE = MSGHDR.size + 8
#: struct cmsghdr: cmsg_len (size_t), level, type.
CMSGHDR = struct.Struct("<Qii")
#: struct ucred: pid, uid, gid.
UCRED = struct.Struct("<iII")
#: struct linger: l_onoff, l_linger.
LINGER = struct.Struct("<ii")
#: struct timeval (SO_RCVTIMEO/SO_SNDTIMEO).
TIMEVAL = struct.Struct("<qq")


def cmsg_align(n: int) -> int:
    """CMSG_ALIGN: control messages are aligned to sizeof(long)."""
    return (n + 7) & ~7


def cmsg_space(n: int) -> int:
    """CMSG_SPACE(n)."""
    return CMSGHDR.size + cmsg_align(n)


def cmsg_len(n: int) -> int:
    """CMSG_LEN(n)."""
    return CMSGHDR.size + n

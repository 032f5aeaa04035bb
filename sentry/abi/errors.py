"""Typed Linux errors (gVisor ``linuxerr``).

Handlers raise these (``raise EBADF``); the dispatcher turns them into a
negative return value in exactly one place. Host ``OSError`` is translated with
``from_oserror`` only at host boundaries. The restart errors (ERESTARTSYS and
friends, include/linux/errno.h) never reach the application: the dispatcher
applies Linux's restart rules to them.
"""

from __future__ import annotations


class LinuxError(Exception):
    """A Linux errno raised by a syscall handler."""

    errno: int = 0

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__name__)


class EPERM(LinuxError):
    errno = 1


class ENOENT(LinuxError):
    errno = 2


class ESRCH(LinuxError):
    errno = 3


class EINTR(LinuxError):
    errno = 4


class EIO(LinuxError):
    errno = 5


class ENXIO(LinuxError):
    errno = 6


class E2BIG(LinuxError):
    errno = 7


class ENOEXEC(LinuxError):
    errno = 8


class EBADF(LinuxError):
    errno = 9


class ECHILD(LinuxError):
    errno = 10


class EAGAIN(LinuxError):
    errno = 11


EWOULDBLOCK = EAGAIN


class ENOMEM(LinuxError):
    errno = 12


class EACCES(LinuxError):
    errno = 13


class EFAULT(LinuxError):
    errno = 14


class ENOTBLK(LinuxError):
    errno = 15


class EBUSY(LinuxError):
    errno = 16


class EEXIST(LinuxError):
    errno = 17


class EXDEV(LinuxError):
    errno = 18


class ENODEV(LinuxError):
    errno = 19


class ENOTDIR(LinuxError):
    errno = 20


class EISDIR(LinuxError):
    errno = 21


class EINVAL(LinuxError):
    errno = 22


class ENFILE(LinuxError):
    errno = 23


class EMFILE(LinuxError):
    errno = 24


class ENOTTY(LinuxError):
    errno = 25


class ETXTBSY(LinuxError):
    errno = 26


class EFBIG(LinuxError):
    errno = 27


class ENOSPC(LinuxError):
    errno = 28


class ESPIPE(LinuxError):
    errno = 29


class EROFS(LinuxError):
    errno = 30


class EMLINK(LinuxError):
    errno = 31


class EPIPE(LinuxError):
    errno = 32


class EDOM(LinuxError):
    errno = 33


class ERANGE(LinuxError):
    errno = 34


class EDEADLK(LinuxError):
    errno = 35


EDEADLOCK = EDEADLK


class ENAMETOOLONG(LinuxError):
    errno = 36


class ENOLCK(LinuxError):
    errno = 37


class ENOSYS(LinuxError):
    errno = 38


class ENOTEMPTY(LinuxError):
    errno = 39


class ELOOP(LinuxError):
    errno = 40


class ENOMSG(LinuxError):
    errno = 42


class EIDRM(LinuxError):
    errno = 43


class ECHRNG(LinuxError):
    errno = 44


class EL2NSYNC(LinuxError):
    errno = 45


class EL3HLT(LinuxError):
    errno = 46


class EL3RST(LinuxError):
    errno = 47


class ELNRNG(LinuxError):
    errno = 48


class EUNATCH(LinuxError):
    errno = 49


class ENOCSI(LinuxError):
    errno = 50


class EL2HLT(LinuxError):
    errno = 51


class EBADE(LinuxError):
    errno = 52


class EBADR(LinuxError):
    errno = 53


class EXFULL(LinuxError):
    errno = 54


class ENOANO(LinuxError):
    errno = 55


class EBADRQC(LinuxError):
    errno = 56


class EBADSLT(LinuxError):
    errno = 57


class EBFONT(LinuxError):
    errno = 59


class ENOSTR(LinuxError):
    errno = 60


class ENODATA(LinuxError):
    errno = 61


class ETIME(LinuxError):
    errno = 62


class ENOSR(LinuxError):
    errno = 63


class ENONET(LinuxError):
    errno = 64


class ENOPKG(LinuxError):
    errno = 65


class EREMOTE(LinuxError):
    errno = 66


class ENOLINK(LinuxError):
    errno = 67


class EADV(LinuxError):
    errno = 68


class ESRMNT(LinuxError):
    errno = 69


class ECOMM(LinuxError):
    errno = 70


class EPROTO(LinuxError):
    errno = 71


class EMULTIHOP(LinuxError):
    errno = 72


class EDOTDOT(LinuxError):
    errno = 73


class EBADMSG(LinuxError):
    errno = 74


class EOVERFLOW(LinuxError):
    errno = 75


class ENOTUNIQ(LinuxError):
    errno = 76


class EBADFD(LinuxError):
    errno = 77


class EREMCHG(LinuxError):
    errno = 78


class ELIBACC(LinuxError):
    errno = 79


class ELIBBAD(LinuxError):
    errno = 80


class ELIBSCN(LinuxError):
    errno = 81


class ELIBMAX(LinuxError):
    errno = 82


class ELIBEXEC(LinuxError):
    errno = 83


class EILSEQ(LinuxError):
    errno = 84


class ERESTART(LinuxError):
    errno = 85


class ESTRPIPE(LinuxError):
    errno = 86


class EUSERS(LinuxError):
    errno = 87


class ENOTSOCK(LinuxError):
    errno = 88


class EDESTADDRREQ(LinuxError):
    errno = 89


class EMSGSIZE(LinuxError):
    errno = 90


class EPROTOTYPE(LinuxError):
    errno = 91


class ENOPROTOOPT(LinuxError):
    errno = 92


class EPROTONOSUPPORT(LinuxError):
    errno = 93


class ESOCKTNOSUPPORT(LinuxError):
    errno = 94


class ENOTSUP(LinuxError):
    errno = 95


EOPNOTSUPP = ENOTSUP


class EPFNOSUPPORT(LinuxError):
    errno = 96


class EAFNOSUPPORT(LinuxError):
    errno = 97


class EADDRINUSE(LinuxError):
    errno = 98


class EADDRNOTAVAIL(LinuxError):
    errno = 99


class ENETDOWN(LinuxError):
    errno = 100


class ENETUNREACH(LinuxError):
    errno = 101


class ENETRESET(LinuxError):
    errno = 102


class ECONNABORTED(LinuxError):
    errno = 103


class ECONNRESET(LinuxError):
    errno = 104


class ENOBUFS(LinuxError):
    errno = 105


class EISCONN(LinuxError):
    errno = 106


class ENOTCONN(LinuxError):
    errno = 107


class ESHUTDOWN(LinuxError):
    errno = 108


class ETOOMANYREFS(LinuxError):
    errno = 109


class ETIMEDOUT(LinuxError):
    errno = 110


class ECONNREFUSED(LinuxError):
    errno = 111


class EHOSTDOWN(LinuxError):
    errno = 112


class EHOSTUNREACH(LinuxError):
    errno = 113


class EALREADY(LinuxError):
    errno = 114


class EINPROGRESS(LinuxError):
    errno = 115


class ESTALE(LinuxError):
    errno = 116


class EUCLEAN(LinuxError):
    errno = 117


class ENOTNAM(LinuxError):
    errno = 118


class ENAVAIL(LinuxError):
    errno = 119


class EISNAM(LinuxError):
    errno = 120


class EREMOTEIO(LinuxError):
    errno = 121


class EDQUOT(LinuxError):
    errno = 122


class ENOMEDIUM(LinuxError):
    errno = 123


class EMEDIUMTYPE(LinuxError):
    errno = 124


class ECANCELED(LinuxError):
    errno = 125


class ENOKEY(LinuxError):
    errno = 126


class EKEYEXPIRED(LinuxError):
    errno = 127


class EKEYREVOKED(LinuxError):
    errno = 128


class EKEYREJECTED(LinuxError):
    errno = 129


class EOWNERDEAD(LinuxError):
    errno = 130


class ENOTRECOVERABLE(LinuxError):
    errno = 131


class ERFKILL(LinuxError):
    errno = 132


# Kernel-internal restart codes (include/linux/errno.h); never seen by userspace.
class ERESTARTSYS(LinuxError):
    errno = 512


class ERESTARTNOINTR(LinuxError):
    errno = 513


class ERESTARTNOHAND(LinuxError):
    errno = 514


class ERESTART_RESTARTBLOCK(LinuxError):
    errno = 516


_BY_NUMBER: dict[int, type[LinuxError]] = {}
for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, LinuxError) and _cls is not LinuxError:
        _BY_NUMBER.setdefault(_cls.errno, _cls)


def error_for(number: int) -> type[LinuxError]:
    """The error class for errno ``number`` (EINVAL's class if unknown)."""
    return _BY_NUMBER.get(number, EINVAL)


def from_oserror(exc: OSError) -> LinuxError:
    """Translate a host ``OSError`` at a host boundary."""
    return error_for(exc.errno or EIO.errno)(exc.strerror or "")

"""``struct termios`` and the terminal ioctl numbers (include/uapi/asm-generic/
termbits.h, ioctls.h; drivers/tty/tty_io.c tty_std_termios)."""

from __future__ import annotations

import struct

# -- ioctl requests (include/uapi/asm-generic/ioctls.h) ---------------------------
TCGETS = 0x5401
TCSETS = 0x5402
TCSETSW = 0x5403
TCSETSF = 0x5404
TCSBRK = 0x5409
TCXONC = 0x540A
TCFLSH = 0x540B
TIOCSCTTY = 0x540E
TIOCGPGRP = 0x540F
TIOCSPGRP = 0x5410
TIOCOUTQ = 0x5411
TIOCGWINSZ = 0x5413
TIOCSWINSZ = 0x5414
FIONREAD = 0x541B
TIOCNOTTY = 0x5422
TIOCSETD = 0x5423
TIOCGETD = 0x5424
TIOCGSID = 0x5429
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCGPTLCK = 0x80045439
TIOCGPTPEER = 0x5441

# -- c_iflag -------------------------------------------------------------------
ISTRIP = 0o40
INLCR = 0o100
IGNCR = 0o200
ICRNL = 0o400
IXON = 0o2000
IUTF8 = 0o40000
# -- c_oflag -------------------------------------------------------------------
OPOST = 0o1
ONLCR = 0o4
OCRNL = 0o10
# -- c_cflag -------------------------------------------------------------------
B38400 = 0o17
CS8 = 0o60
CREAD = 0o200
HUPCL = 0o2000
# -- c_lflag -------------------------------------------------------------------
ISIG = 0o1
ICANON = 0o2
ECHO = 0o10
ECHOE = 0o20
ECHOK = 0o40
ECHONL = 0o100
NOFLSH = 0o200
TOSTOP = 0o400
ECHOCTL = 0o1000
ECHOKE = 0o4000
IEXTEN = 0o100000

# -- c_cc indices ----------------------------------------------------------------
VINTR, VQUIT, VERASE, VKILL, VEOF, VTIME, VMIN, VSWTC = range(8)
VSTART, VSTOP, VSUSP, VEOL, VREPRINT, VDISCARD, VWERASE, VLNEXT, VEOL2 = range(8, 17)
NCCS = 19

#: include/linux/tty.h INIT_C_CC: ^C ^\ DEL ^U ^D 0 1 0 ^Q ^S ^Z 0 ^R ^O ^W ^V 0.
INIT_C_CC = bytes(
    [0o3, 0o34, 0o177, 0o25, 0o4, 0, 1, 0, 0o21, 0o23, 0o32, 0, 0o22, 0o17, 0o27, 0o26, 0, 0, 0]
)

#: The kernel's struct termios (not glibc's, which adds speeds): 4 flags, c_line, 19 c_cc.
_TERMIOS = struct.Struct("<IIIIB19s")
TERMIOS_SIZE = _TERMIOS.size  # 36
_WINSIZE = struct.Struct("<HHHH")
WINSIZE_SIZE = _WINSIZE.size


class Termios:
    """A terminal's settings; the defaults are what a new pty replica has
    (tty_std_termios, with pty.c's c_cflag: no HUPCL)."""

    __slots__ = ("cc", "cflag", "iflag", "lflag", "line", "oflag")

    iflag: int
    oflag: int
    cflag: int
    lflag: int
    line: int
    cc: bytearray

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        iflag: int = ICRNL | IXON,
        oflag: int = OPOST | ONLCR,
        cflag: int = B38400 | CS8 | CREAD,
        lflag: int = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
        line: int = 0,
        cc: bytearray | None = None,
    ) -> None:
        self.iflag = iflag
        self.oflag = oflag
        self.cflag = cflag
        self.lflag = lflag
        self.line = line
        self.cc = bytearray(INIT_C_CC) if cc is None else cc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Termios) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.iflag,
            self.oflag,
            self.cflag,
            self.lflag,
            self.line,
            self.cc,
        ) == (
            other.iflag,
            other.oflag,
            other.cflag,
            other.lflag,
            other.line,
            other.cc,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in ("iflag", "oflag", "cflag", "lflag", "line", "cc")
        )
        return f"Termios({fields})"

    def pack(self) -> bytes:
        """The 36 bytes TCGETS copies out."""
        return _TERMIOS.pack(self.iflag, self.oflag, self.cflag, self.lflag, self.line,
                             bytes(self.cc))  # fmt: skip

    @classmethod
    def unpack(cls, raw: bytes) -> Termios:
        """Parse what TCSETS* copies in."""
        iflag, oflag, cflag, lflag, line, cc = _TERMIOS.unpack(raw[:TERMIOS_SIZE])
        return cls(iflag, oflag, cflag, lflag, line, bytearray(cc))


class WinSize:
    """``struct winsize`` of TIOCGWINSZ/TIOCSWINSZ."""

    __slots__ = ("cols", "rows", "xpixel", "ypixel")

    rows: int
    cols: int
    xpixel: int
    ypixel: int

    def __init__(
        self,
        rows: int = 0,
        cols: int = 0,
        xpixel: int = 0,
        ypixel: int = 0,
    ) -> None:
        self.rows = rows
        self.cols = cols
        self.xpixel = xpixel
        self.ypixel = ypixel

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WinSize) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.rows,
            self.cols,
            self.xpixel,
            self.ypixel,
        ) == (
            other.rows,
            other.cols,
            other.xpixel,
            other.ypixel,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in ("rows", "cols", "xpixel", "ypixel")
        )
        return f"WinSize({fields})"

    def pack(self) -> bytes:
        return _WINSIZE.pack(self.rows, self.cols, self.xpixel, self.ypixel)

    @classmethod
    def unpack(cls, raw: bytes) -> WinSize:
        return cls(*_WINSIZE.unpack(raw[:WINSIZE_SIZE]))

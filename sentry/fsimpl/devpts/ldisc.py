"""The N_TTY line discipline, sans I/O (drivers/tty/n_tty.c).

Bytes typed on the master go through :meth:`LineDiscipline.receive`: input
translation (ICRNL, INLCR, IGNCR, ISTRIP), signal characters (ISIG: VINTR,
VQUIT, VSUSP give SIGINT, SIGQUIT, SIGTSTP and flush the queues unless
NOFLSH), canonical editing (ICANON: VERASE, VKILL, VWERASE, VLNEXT, VEOF,
VEOL, VEOL2) and echo (ECHO, ECHOE, ECHOK, ECHOKE, ECHOCTL, ECHONL). Bytes
the replica writes go through :meth:`output` (OPOST: ONLCR, OCRNL). Echoes
and output both land in :attr:`to_master`, the queue the master reads.

The object holds no lock and never blocks: :class:`~.terminal.Terminal`
serialises calls and does the waiting. Not done: IXON flow control (VSTART/
VSTOP are plain characters), VREPRINT, VDISCARD, tab column accounting on
erase, VTIME timeouts (VMIN 0 reads return at once; VMIN > 1 is treated as 1,
which Linux also allows a short read for on O_NONBLOCK).
"""

from __future__ import annotations

from collections import deque

from sentry.fsimpl.devpts import termios as tio_abi

SIGINT = 2
SIGQUIT = 3
SIGTSTP = 20

#: N_TTY_BUF_SIZE: a canonical line holds at most 4095 bytes plus its end.
LINE_MAX = 4095
_NL = 0o12
_CR = 0o15


def _is_cntrl(c: int) -> bool:
    return c < 0x20 or c == 0x7F


class LineDiscipline:
    """One terminal's line discipline state."""

    def __init__(self, termios: tio_abi.Termios | None = None) -> None:
        self.termios = termios if termios is not None else tio_abi.Termios()
        #: bytes for the master to read (echo and processed output)
        self.to_master = bytearray()
        #: canonical mode: completed lines (b"" is an end-of-file mark)
        self._lines: deque[bytes] = deque()
        #: canonical mode: the line being edited; raw mode: all unread input
        self._edit = bytearray()
        self._lnext = False

    # -- state --------------------------------------------------------------------
    @property
    def canonical(self) -> bool:
        return bool(self.termios.lflag & tio_abi.ICANON)

    def set_termios(self, new: tio_abi.Termios) -> None:
        """TCSETS*: switching ICANON off releases the pending line as raw
        input; switching it on makes pending raw input the line being edited
        (n_tty_set_termios)."""
        was = self.canonical
        self.termios = new
        if was and not self.canonical:
            self._edit = bytearray(b"".join(self._lines) + bytes(self._edit))
            self._lines.clear()

    def flush_input(self) -> None:
        """TCFLSH TCIFLUSH, and a signal character without NOFLSH."""
        self._lines.clear()
        self._edit.clear()
        self._lnext = False

    def flush_output(self) -> None:
        """TCFLSH TCOFLUSH."""
        self.to_master.clear()

    def readable(self) -> bool:
        """Whether a read would return now (data or end of file)."""
        if self.canonical:
            return bool(self._lines)
        return bool(self._edit) or self.termios.cc[tio_abi.VMIN] == 0

    def available(self) -> int:
        """FIONREAD: bytes a read could get."""
        if self.canonical:
            return sum(len(line) for line in self._lines)
        return len(self._edit)

    # -- the replica reads -----------------------------------------------------------
    def read(self, n: int) -> bytes | None:
        """Up to ``n`` bytes for the replica; None if it would block.

        Canonical mode returns at most one line (n_tty_read canon_copy_from_read_buf);
        an end-of-file mark at the head of the queue gives b""."""
        if self.canonical:
            if not self._lines:
                return None
            line = self._lines[0]
            if not line:
                self._lines.popleft()
                return b""
            out, rest = line[:n], line[n:]
            if rest:
                self._lines[0] = rest
            else:
                self._lines.popleft()
            return out
        if not self._edit:
            return b"" if self.termios.cc[tio_abi.VMIN] == 0 else None
        out = bytes(self._edit[:n])
        del self._edit[:n]
        return out

    # -- the master writes (typing) ----------------------------------------------------
    def receive(self, data: bytes) -> list[int]:
        """Process typed bytes; returns the signals to send to the foreground
        process group, in order."""
        signals: list[int] = []
        for c in data:
            sig = self._receive_char(c)
            if sig:
                signals.append(sig)
        return signals

    def _receive_char(self, c: int) -> int:
        tio = self.termios
        iflag, lflag, cc = tio.iflag, tio.lflag, tio.cc
        if iflag & tio_abi.ISTRIP:
            c &= 0x7F
        if self._lnext:
            self._lnext = False
            self._put(c, literal=True)
            return 0
        # Input translation (n_tty_receive_char_special, the I_IGNCR/I_ICRNL part).
        if c == _CR:
            if iflag & tio_abi.IGNCR:
                return 0
            if iflag & tio_abi.ICRNL:
                c = _NL
        elif c == _NL and iflag & tio_abi.INLCR:
            c = _CR
        if lflag & tio_abi.ISIG:
            for idx, sig in (
                (tio_abi.VINTR, SIGINT),
                (tio_abi.VQUIT, SIGQUIT),
                (tio_abi.VSUSP, SIGTSTP),
            ):
                if cc[idx] and c == cc[idx]:
                    if not lflag & tio_abi.NOFLSH:
                        self.flush_input()
                        self.flush_output()
                    if lflag & tio_abi.ECHO:
                        self._echo_char(c)
                    return sig
        if not lflag & tio_abi.ICANON:
            self._edit.append(c)
            if lflag & tio_abi.ECHO:
                self._echo_char(c)
            elif c == _NL and lflag & tio_abi.ECHONL:
                self._echo_output(b"\n")
            return 0
        if lflag & tio_abi.IEXTEN and cc[tio_abi.VLNEXT] and c == cc[tio_abi.VLNEXT]:
            self._lnext = True
            if lflag & tio_abi.ECHO and lflag & tio_abi.ECHOCTL:
                self.to_master += b"^\b"
            return 0
        if cc[tio_abi.VERASE] and c == cc[tio_abi.VERASE]:
            self._erase(word=False)
            return 0
        if lflag & tio_abi.IEXTEN and cc[tio_abi.VWERASE] and c == cc[tio_abi.VWERASE]:
            self._erase(word=True)
            return 0
        if cc[tio_abi.VKILL] and c == cc[tio_abi.VKILL]:
            self._kill()
            return 0
        if cc[tio_abi.VEOF] and c == cc[tio_abi.VEOF]:
            # The line is pushed without the EOF character; at the start of
            # a line this makes an empty read: end of file. Not echoed.
            self._lines.append(bytes(self._edit))
            self._edit.clear()
            return 0
        if (
            c == _NL
            or (cc[tio_abi.VEOL] and c == cc[tio_abi.VEOL])
            or (cc[tio_abi.VEOL2] and c == cc[tio_abi.VEOL2])
        ):
            self._edit.append(c)
            if lflag & tio_abi.ECHO or (c == _NL and lflag & tio_abi.ECHONL):
                self._echo_char(c)
            self._lines.append(bytes(self._edit))
            self._edit.clear()
            return 0
        self._put(c, literal=False)
        return 0

    def _put(self, c: int, *, literal: bool) -> None:
        if self.canonical and len(self._edit) >= LINE_MAX:
            return  # n_tty drops characters beyond the line buffer (and beeps)
        self._edit.append(c)
        if self.termios.lflag & tio_abi.ECHO:
            self._echo_char(c)

    # -- echo ---------------------------------------------------------------------------
    def _echo_char(self, c: int) -> None:
        """echo_char: control characters as ^X under ECHOCTL (not tab or newline)."""
        if self.termios.lflag & tio_abi.ECHOCTL and _is_cntrl(c) and c not in (0o11, _NL):
            self.to_master += bytes((ord("^"), c ^ 0o100))
        else:
            self._echo_output(bytes((c,)))

    def _echo_output(self, data: bytes) -> None:
        self.to_master += self._process_output(data)

    def _width(self, c: int) -> int:
        return 2 if self.termios.lflag & tio_abi.ECHOCTL and _is_cntrl(c) and c != 0o11 else 1

    def _erase_last(self) -> int:
        """Remove the last character (all bytes of a UTF-8 one under IUTF8); its width."""
        c = self._edit.pop()
        if self.termios.iflag & tio_abi.IUTF8 and c >= 0x80:
            while c & 0xC0 == 0x80 and self._edit:
                c = self._edit.pop()
            return 1
        return self._width(c)

    def _erase(self, *, word: bool) -> None:
        """VERASE / VWERASE (eraser): with ECHOE the screen is wiped "\\b \\b"."""
        lflag = self.termios.lflag
        seen_word = False
        while self._edit:
            last = self._edit[-1]
            if word:
                blank = last in (0x20, 0o11)
                if blank and seen_word:
                    break
                seen_word = seen_word or not blank
            width = self._erase_last()
            if lflag & tio_abi.ECHO:
                if lflag & tio_abi.ECHOE:
                    self.to_master += b"\b \b" * width
                elif not word:
                    self._echo_char(self.termios.cc[tio_abi.VERASE])
            if not word:
                break

    def _kill(self) -> None:
        """VKILL: ECHOKE wipes the line; else ECHOK echoes the kill char and a newline."""
        lflag = self.termios.lflag
        if lflag & tio_abi.ECHO and lflag & tio_abi.ECHOKE and lflag & tio_abi.ECHOE:
            while self._edit:
                self.to_master += b"\b \b" * self._erase_last()
            return
        self._edit.clear()
        if lflag & tio_abi.ECHO:
            self._echo_char(self.termios.cc[tio_abi.VKILL])
            if lflag & tio_abi.ECHOK:
                self._echo_output(b"\n")

    # -- the replica writes -----------------------------------------------------------------
    def output(self, data: bytes) -> int:
        """The replica writes ``data``: processed onto the master's queue."""
        self.to_master += self._process_output(data)
        return len(data)

    def _process_output(self, data: bytes) -> bytes:
        """do_output_char: ONLCR maps NL to CR NL, OCRNL maps CR to NL."""
        oflag = self.termios.oflag
        if not oflag & tio_abi.OPOST:
            return bytes(data)
        if oflag & tio_abi.OCRNL:
            data = data.replace(b"\r", b"\n")
        if oflag & tio_abi.ONLCR:
            data = data.replace(b"\n", b"\r\n")
        return bytes(data)

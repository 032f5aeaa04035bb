"""The N_TTY line discipline without any I/O (expected bytes from n_tty.c's rules)."""

from __future__ import annotations

from sentry.fsimpl.devpts import termios as tio_abi
from sentry.fsimpl.devpts.ldisc import SIGINT, SIGQUIT, SIGTSTP, LineDiscipline


def test_canonical_line_is_released_only_at_newline_and_echoed_with_crlf() -> None:
    ld = LineDiscipline()
    assert ld.receive(b"ls -l") == []
    assert ld.read(100) is None
    assert not ld.readable()
    ld.receive(b"\r")  # ICRNL: the Enter key
    assert ld.read(100) == b"ls -l\n"
    assert bytes(ld.to_master) == b"ls -l\r\n"


def test_canonical_read_returns_one_line_at_a_time_and_partial_reads() -> None:
    ld = LineDiscipline()
    ld.receive(b"abc\ndefgh\n")
    assert ld.available() == 10
    assert ld.read(100) == b"abc\n"
    assert ld.read(3) == b"def"
    assert ld.read(100) == b"gh\n"
    assert ld.read(100) is None


def test_erase_kill_and_word_erase_edit_the_line() -> None:
    ld = LineDiscipline()
    ld.receive(b"helo\x7fp\n")
    assert ld.read(100) == b"help\n"
    assert bytes(ld.to_master) == b"helo\b \bp\r\n"
    ld.to_master.clear()
    ld.receive(b"junk\x15ok\n")  # VKILL with ECHOKE wipes the line
    assert ld.read(100) == b"ok\n"
    assert bytes(ld.to_master) == b"junk" + b"\b \b" * 4 + b"ok\r\n"
    ld.receive(b"one two  \x17three\n")  # VWERASE: the word and the blanks after it
    assert ld.read(100) == b"one three\n"


def test_erase_of_a_control_character_wipes_its_two_columns() -> None:
    ld = LineDiscipline()
    ld.receive(b"a\x01")
    assert bytes(ld.to_master) == b"a^A"
    ld.to_master.clear()
    ld.receive(b"\x7f")
    assert bytes(ld.to_master) == b"\b \b\b \b"


def test_erase_removes_a_whole_utf8_character() -> None:
    ld = LineDiscipline()
    ld.termios.iflag |= tio_abi.IUTF8
    ld.receive("é".encode() + b"\x7f\n")
    assert ld.read(100) == b"\n"


def test_veof_ends_a_partial_line_and_alone_is_end_of_file() -> None:
    ld = LineDiscipline()
    ld.receive(b"abc\x04")
    assert ld.read(100) == b"abc"
    ld.receive(b"\x04")
    assert ld.readable()
    assert ld.read(100) == b""
    assert b"\x04" not in ld.to_master and b"^D" not in ld.to_master


def test_isig_characters_signal_flush_and_echo() -> None:
    ld = LineDiscipline()
    ld.receive(b"half")
    assert ld.receive(b"\x03") == [SIGINT]
    # Unread output is flushed too (pty_flush_buffer), then ^C is echoed.
    assert bytes(ld.to_master) == b"^C"
    assert ld.read(100) is None  # the half line is gone
    assert ld.receive(b"\x1c\x1a") == [SIGQUIT, SIGTSTP]


def test_noflsh_keeps_the_input_and_isig_off_makes_them_data() -> None:
    ld = LineDiscipline()
    ld.termios.lflag |= tio_abi.NOFLSH
    ld.receive(b"keep")
    assert ld.receive(b"\x03") == [SIGINT]
    ld.receive(b"\n")
    assert ld.read(100) == b"keep\n"
    ld.termios.lflag &= ~tio_abi.ISIG
    assert ld.receive(b"\x03\n") == []
    assert ld.read(100) == b"\x03\n"


def test_raw_mode_passes_bytes_at_once_without_echo() -> None:
    ld = LineDiscipline()
    tio = tio_abi.Termios.unpack(ld.termios.pack())
    tio.lflag &= ~(tio_abi.ICANON | tio_abi.ECHO)
    tio.iflag &= ~tio_abi.ICRNL
    ld.set_termios(tio)
    ld.receive(b"\x7fq\r")
    assert ld.read(2) == b"\x7fq"
    assert ld.read(10) == b"\r"
    assert ld.to_master == b""
    assert ld.read(10) is None


def test_vmin_zero_reads_return_at_once() -> None:
    ld = LineDiscipline()
    tio = tio_abi.Termios.unpack(ld.termios.pack())
    tio.lflag &= ~tio_abi.ICANON
    tio.cc[tio_abi.VMIN] = 0
    ld.set_termios(tio)
    assert ld.readable()
    assert ld.read(10) == b""


def test_leaving_canonical_mode_releases_the_pending_line() -> None:
    ld = LineDiscipline()
    ld.receive(b"done\npart")
    tio = tio_abi.Termios.unpack(ld.termios.pack())
    tio.lflag &= ~tio_abi.ICANON
    ld.set_termios(tio)
    assert ld.read(100) == b"done\npart"


def test_lnext_quotes_the_next_character() -> None:
    ld = LineDiscipline()
    assert ld.receive(b"\x16\x03\n") == []
    assert ld.read(100) == b"\x03\n"


def test_output_processing_onlcr_and_opost_off() -> None:
    ld = LineDiscipline()
    assert ld.output(b"a\nb") == 3
    assert bytes(ld.to_master) == b"a\r\nb"
    ld.to_master.clear()
    ld.termios.oflag &= ~tio_abi.OPOST
    ld.output(b"a\nb")
    assert bytes(ld.to_master) == b"a\nb"


def test_line_length_is_capped_like_n_tty() -> None:
    ld = LineDiscipline()
    ld.termios.lflag &= ~tio_abi.ECHO
    ld.receive(b"x" * 5000 + b"\n")
    assert ld.read(10000) == b"x" * 4095 + b"\n"


def test_termios_round_trips_the_kernel_layout() -> None:
    tio = tio_abi.Termios()
    raw = tio.pack()
    assert len(raw) == 36
    assert tio_abi.Termios.unpack(raw) == tio
    assert (
        tio.cc[tio_abi.VINTR] == 3 and tio.cc[tio_abi.VEOF] == 4 and tio.cc[tio_abi.VSUSP] == 0o32
    )

"""sockaddr_un parsing and encoding (net/unix/af_unix.c rules)."""

from __future__ import annotations

import pytest

from sentry.abi.errors import EINVAL
from sentry.socket.unix import address


def _raw(path: bytes) -> bytes:
    return (1).to_bytes(2, "little") + path


def test_path_ends_at_its_first_nul() -> None:
    name = address.parse(_raw(b"/run/x.sock\0garbage"))
    assert name == address.UnixAddress(False, b"/run/x.sock")
    assert name.encode() == _raw(b"/run/x.sock\0")


def test_abstract_names_keep_every_byte() -> None:
    name = address.parse(_raw(b"\0abc\0def"))
    assert name == address.UnixAddress(True, b"abc\0def")
    assert name.encode() == _raw(b"\0abc\0def")


@pytest.mark.parametrize("raw", [b"", b"\x01", _raw(b""), _raw(b"x" * 109), b"\x02\x00/x"])
def test_bad_lengths_and_families_are_einval(raw: bytes) -> None:
    with pytest.raises(EINVAL):
        address.parse(raw)


def test_autobind_is_the_bare_family() -> None:
    assert address.is_autobind(_raw(b""))
    assert not address.is_autobind(_raw(b"x"))
    assert not address.is_autobind(b"\x02\x00")

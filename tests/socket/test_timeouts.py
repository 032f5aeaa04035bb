"""SO_RCVTIMEO/SO_SNDTIMEO values (net/core/sock.c sock_set_timeout)."""

from __future__ import annotations

import pytest

from sentry.abi.errors import EDOM
from sentry.abi.socket import TIMEVAL
from sentry.socket.socket import seconds_to_timeval, timeval_to_seconds


def test_zero_means_no_timeout() -> None:
    assert timeval_to_seconds(TIMEVAL.pack(0, 0)) is None
    assert seconds_to_timeval(None) == TIMEVAL.pack(0, 0)


def test_rounded_up_to_whole_jiffies() -> None:
    # 50 ms at HZ=250 is 12.5 jiffies: 13, reported as 52 ms.
    value = timeval_to_seconds(TIMEVAL.pack(0, 50_000))
    assert seconds_to_timeval(value) == TIMEVAL.pack(0, 52_000)
    assert seconds_to_timeval(timeval_to_seconds(TIMEVAL.pack(3, 0))) == TIMEVAL.pack(3, 0)


@pytest.mark.parametrize("usec", [-1, 1_000_000])
def test_bad_usec_is_edom(usec: int) -> None:
    with pytest.raises(EDOM):
        timeval_to_seconds(TIMEVAL.pack(1, usec))


def test_negative_seconds_time_out_at_once() -> None:
    assert timeval_to_seconds(TIMEVAL.pack(-5, 0)) == 0.0

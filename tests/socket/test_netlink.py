"""NETLINK_ROUTE requests: queries pass, changes are refused."""

from __future__ import annotations

import pytest

from sentry.socket.netlink import NLMSGHDR, is_read_only

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_GETROUTE, RTM_DELROUTE, RTM_GETNEIGH = 26, 25, 30


def _msg(mtype: int, body: bytes = b"\0" * 16) -> bytes:
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), mtype, 0x301, 1, 0) + body


@pytest.mark.parametrize("mtype", [RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH])
def test_dumps_are_read_only(mtype: int) -> None:
    assert is_read_only(_msg(mtype))


@pytest.mark.parametrize(
    "mtype", [RTM_NEWLINK, RTM_DELLINK, RTM_SETLINK, RTM_NEWADDR, RTM_DELROUTE]
)
def test_changes_are_not(mtype: int) -> None:
    assert not is_read_only(_msg(mtype))


def test_one_change_in_a_batch_refuses_the_batch() -> None:
    assert not is_read_only(_msg(RTM_GETLINK) + _msg(RTM_NEWADDR))


def test_types_beyond_rtnetlink_are_refused() -> None:
    assert not is_read_only(_msg(0x90))


def test_control_messages_pass() -> None:
    assert is_read_only(_msg(1))  # NLMSG_NOOP

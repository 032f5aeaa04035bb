"""sentry.inet.stack: socket-table filtering, link attributes, the host capture."""

from __future__ import annotations

from sentry.inet import HostStack, Interface
from sentry.inet.stack import filter_socket_table

_ROWS = (
    b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout"
    b" inode",
    b"   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0"
    b" 1213 1 0000000000000000 100 0 0 10 0",
    b"   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0"
    b" 98765 1 0000000000000000 100 0 0 10 0",
    b"   2: 0100007F:1F91 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0"
    b" 98766 1 0000000000000000 20 4 30 10 -1",
)
# Every line padded to 149 columns, as seq_pad() in net/ipv4/tcp_ipv4.c does.
TCP = b"".join(row.ljust(149) + b"\n" for row in _ROWS)


def test_only_the_sandboxs_sockets_remain_renumbered() -> None:
    out = filter_socket_table(TCP, {98765: 7, 98766: 12345678}).split(b"\n")
    assert out[0] == TCP.split(b"\n")[0]
    assert len(out) == 4 and out[3] == b""
    assert out[1].startswith(b"   0: 0100007F:1F90") and out[2].startswith(b"   1: 0100007F:1F91")
    assert out[1].split()[9] == b"7" and out[2].split()[9] == b"12345678"
    # Lines keep their padded width (seq_pad in net/ipv4/tcp_ipv4.c).
    assert len(out[1]) == len(TCP.split(b"\n")[2])
    assert filter_socket_table(TCP, {}) == TCP.split(b"\n")[0] + b"\n"


def test_sysfs_flags_drop_the_operational_bits() -> None:
    up = Interface(2, "eth0", 1, 0x11043, 1500, b"\x02" * 6, b"\xff" * 6, 6)
    assert up.device_flags == 0x1003
    assert up.operstate_name == "up"
    assert Interface(1, "lo", 772, 0x10049, 65536, b"", b"", 0).operstate_name == "unknown"


def test_capture_reads_this_namespace() -> None:
    stack = HostStack.capture()
    try:
        names = [i.name for i in stack.interfaces()]
        assert "lo" in names
        with open("/proc/net/dev", "rb") as f:
            dev_names = [line.split(b":")[0].strip().decode() for line in f.readlines()[2:]]
        assert sorted(names) == sorted(dev_names)
        assert stack.proc_net("route").startswith(b"Iface\tDestination")
        with open("/proc/net/route", "rb") as f:
            assert stack.proc_net("route") == f.read()
        assert "tcp" in stack.proc_net_names()
        with open("/proc/net/tcp", "rb") as f:
            assert stack.proc_net("tcp").split(b"\n")[0] == f.readline().rstrip(b"\n")
    finally:
        stack.close()

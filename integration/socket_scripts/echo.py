"""Echo TOTAL MiB (argv[1]) through a stream socket to a forked echo server
and back; the family is argv[2] (unix: a path socket in the cwd, tcp:
127.0.0.1). The client is non-blocking and poll-driven; prints whether
the bytes came back intact (sha256)."""

import hashlib
import os
import select
import socket
import sys

TOTAL = int(sys.argv[1]) * 1024 * 1024
FAMILY = sys.argv[2] if len(sys.argv) > 2 else "unix"
if FAMILY == "unix":
    address = "echo.sock"
    if os.path.exists(address):
        os.unlink(address)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(address)
else:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    address = srv.getsockname()
srv.listen(1)
pid = os.fork()
if pid == 0:
    conn, _ = srv.accept()
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        conn.sendall(data)
    conn.close()
    os._exit(0)
cli = socket.socket(srv.family, socket.SOCK_STREAM)
cli.connect(address)
cli.setblocking(False)
block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
sent = received = 0
out_hash, in_hash = hashlib.sha256(), hashlib.sha256()
poller = select.poll()
poller.register(cli, select.POLLIN | select.POLLOUT)
pending = b""
while received < TOTAL:
    for _, ev in poller.poll():
        if ev & select.POLLOUT and sent < TOTAL:
            if not pending:
                pending = block[: min(len(block), TOTAL - sent)]
                out_hash.update(pending)
            n = cli.send(pending)
            sent += n
            pending = pending[n:]
            if sent >= TOTAL and not pending:
                cli.shutdown(socket.SHUT_WR)
                poller.modify(cli, select.POLLIN)
        if ev & select.POLLIN:
            data = cli.recv(1 << 16)
            if not data:
                break
            in_hash.update(data)
            received += len(data)
srv.close()
_, status = os.waitpid(pid, 0)
print("bytes", received, "intact", out_hash.hexdigest() == in_hash.hexdigest(), "child", status)

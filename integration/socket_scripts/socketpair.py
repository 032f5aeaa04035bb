"""socket.socketpair: data both ways, descriptors passed with
socket.send_fds/recv_fds, SO_PEERCRED, and EOF after close."""

import os
import socket
import struct

a, b = socket.socketpair()
a.sendall(b"ping")
print("b got", b.recv(16))
b.sendall(b"pong")
print("a got", a.recv(16))
r, w = os.pipe()
socket.send_fds(a, [b"fd"], [r])
msg, fds, flags, _ = socket.recv_fds(b, 16, 4)
os.write(w, b"via passed pipe")
print("recv_fds", msg, len(fds), flags, os.read(fds[0], 64))
cred = a.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
pid, uid, gid = struct.unpack("3i", cred)
print("peercred is self", pid == os.getpid(), uid == os.getuid(), gid == os.getgid())
d1, d2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
d1.send(b"one")
d1.send(b"two")
print("dgram", d2.recv(10), d2.recv(10))
a.close()
print("eof", b.recv(16))

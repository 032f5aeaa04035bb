"""An HTTP server (http.server.HTTPServer, one request at a time) in a
forked child on 127.0.0.1, fetched with urllib by the parent; prints the
status and the body's sha256 compared with the file served."""

import hashlib
import http.server
import os
import sys
import urllib.request

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
with open("served.bin", "wb") as f:
    f.write(os.urandom(300_000))


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
port = server.server_address[1]
pid = os.fork()
if pid == 0:
    for _ in range(REQUESTS):
        server.handle_request()
    os._exit(0)
server.server_close()
with open("served.bin", "rb") as served:
    expected = hashlib.sha256(served.read()).hexdigest()
ok = 0
for _ in range(REQUESTS):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/served.bin", timeout=30) as resp:
        ok += resp.status == 200 and hashlib.sha256(resp.read()).hexdigest() == expected
_, status = os.waitpid(pid, 0)
print("requests ok", ok, "of", REQUESTS, "server exit", status)

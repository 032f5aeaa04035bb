"""HTTP requests per second: an http.server.HTTPServer (SimpleHTTPRequestHandler,
one request at a time) in a forked child on 127.0.0.1 and a urllib client
in the parent, in one process tree. Prints "http <requests> <seconds>"."""

import http.server
import os
import sys
import time
import urllib.request

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
os.chdir(os.path.dirname(os.path.abspath(__file__)))


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
port = server.server_address[1]
pid = os.fork()
if pid == 0:
    for _ in range(N):
        server.handle_request()
    os._exit(0)
server.server_close()
start = time.monotonic()
for _ in range(N):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/http_reqs.py", timeout=60) as r:
        r.read()
elapsed = time.monotonic() - start
os.waitpid(pid, 0)
print("http", N, f"{elapsed:.6f}")

"""HTTP requests per second against what ``python3 -m http.server`` runs (a
ThreadingHTTPServer with SimpleHTTPRequestHandler: a thread per request) in
a forked child on 127.0.0.1, with a urllib client in the parent, in one
process tree. Prints "http <requests> <seconds>"."""

import http.server
import os
import signal
import sys
import time
import urllib.request

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
os.chdir(os.path.dirname(os.path.abspath(__file__)))


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
port = server.server_address[1]
pid = os.fork()
if pid == 0:
    server.serve_forever()
    os._exit(0)
server.server_close()
start = time.monotonic()
for _ in range(N):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/http_reqs.py", timeout=60) as r:
        r.read()
elapsed = time.monotonic() - start
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)
print("http", N, f"{elapsed:.6f}")

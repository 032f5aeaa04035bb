"""`python3 -m http.server` on 127.0.0.1 (a ThreadingHTTPServer) started
as a child process, fetched with urllib once it accepts connections."""

import hashlib
import os
import socket
import subprocess
import sys
import urllib.request

with open("page.html", "w") as f:
    f.write("<h1>pysandbox</h1>\n" * 100)
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
server = subprocess.Popen(
    [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
try:
    # Wait for the condition (the port accepts), not for a time.
    for _ in range(2000):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            break
        except ConnectionRefusedError:
            if server.poll() is not None:
                sys.exit(f"server exited with {server.returncode}")
            os.sched_yield()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/page.html", timeout=30) as resp:
        body = resp.read()
    with open("page.html", "rb") as f:
        expected = hashlib.sha256(f.read()).hexdigest()
    print("status", resp.status, "intact", hashlib.sha256(body).hexdigest() == expected)
finally:
    server.terminate()
    server.wait()

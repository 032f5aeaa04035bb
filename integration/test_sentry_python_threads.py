"""Debian's python3 with threads under the Sentry: ``threading``,
``concurrent.futures`` and ``asyncio`` scripts whose output must match the
native run (deterministic output only: results, never timings or ids)."""

from __future__ import annotations

import os

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

PY = "/usr/bin/python3"

THREADING = r"""
import threading, queue

counter = 0
lock = threading.Lock()
local = threading.local()
barrier = threading.Barrier(5)
results = queue.Queue()

def work(n):
    global counter
    local.n = n
    barrier.wait()
    for _ in range(2000):
        with lock:
            counter += 1
    results.put((n, local.n * n))

threads = [threading.Thread(target=work, args=(i,)) for i in range(5)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("counter", counter)
print("results", sorted(results.get() for _ in range(5)))

cond = threading.Condition()
items = []
def consumer():
    with cond:
        while len(items) < 3:
            cond.wait()
        print("consumer saw", items)
c = threading.Thread(target=consumer)
c.start()
for i in range(3):
    with cond:
        items.append(i)
        cond.notify()
c.join()

ev = threading.Event()
t = threading.Thread(target=lambda: (ev.wait(), print("event set")))
t.start(); ev.set(); t.join()
sem = threading.BoundedSemaphore(2)
with sem:
    print("semaphore acquired", sem.acquire(timeout=0.01), sem.acquire(timeout=0.01))
print("timed wait", threading.Event().wait(0.05))
ids = set()
ts = [threading.Thread(target=lambda: ids.add(threading.get_native_id())) for _ in range(3)]
for t in ts: t.start()
for t in ts: t.join()
print("native ids distinct", len(ids | {threading.get_native_id()}) == 4)
print("active at end", threading.active_count())
"""

FUTURES = r"""
import concurrent.futures, hashlib

def digest(i):
    return i, hashlib.sha256(str(i).encode() * 1000).hexdigest()[:12]

with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    out = sorted(pool.map(digest, range(40)))
print(out[:3], len(out))
with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
    futs = [pool.submit(pow, 3, i) for i in range(10)]
    done = [f.result() for f in concurrent.futures.as_completed(futs)]
print(sorted(done))
def boom():
    raise ValueError("from a worker")
with concurrent.futures.ThreadPoolExecutor() as pool:
    try:
        pool.submit(boom).result()
    except ValueError as exc:
        print("exception crossed threads:", exc)
"""

ASYNCIO = r"""
import asyncio

async def worker(q, out):
    while True:
        item = await q.get()
        if item is None:
            q.task_done()
            return
        await asyncio.sleep(0.001)
        out.append(item * item)
        q.task_done()

def blocking(n):
    return sum(range(n))

async def main():
    q = asyncio.Queue()
    out = []
    workers = [asyncio.create_task(worker(q, out)) for _ in range(3)]
    for i in range(20):
        await q.put(i)
    for _ in workers:
        await q.put(None)
    await q.join()
    await asyncio.gather(*workers)
    print(sorted(out))
    print(await asyncio.to_thread(blocking, 100000))
    loop = asyncio.get_running_loop()
    print(await loop.run_in_executor(None, blocking, 1000))
    try:
        await asyncio.wait_for(asyncio.sleep(10), 0.05)
    except asyncio.TimeoutError:
        print("timed out")

asyncio.run(main())
"""


SUBPROCESS_FROM_THREADS = r"""
import concurrent.futures, os, subprocess, threading

def run(i):
    return subprocess.run(["/bin/echo", str(i)], capture_output=True, text=True).stdout.strip()

with concurrent.futures.ThreadPoolExecutor(4) as pool:
    print(sorted(pool.map(run, range(8))))
# fork from a process with other threads: the child has only the caller
stop = threading.Event()
t = threading.Thread(target=stop.wait)
t.start()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, b"%d\n" % threading.active_count())
    os._exit(3)
print("child threads", os.read(r, 10), os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
stop.set()
t.join()
"""


def _run(script: str, workdir) -> None:  # noqa: F811
    argv = [PY, "-c", script]
    native = harness.run_native(argv, workdir)
    assert native.status == 0, native.stderr
    sandboxed = harness.run_sentry(argv, workdir)
    assert sandboxed.stderr.decode() == ""
    assert sandboxed.stdout.decode() == native.stdout.decode()
    assert sandboxed.status == 0


def _needs_threads(platform: str) -> None:
    reason = harness.threads_skip_reason(platform)
    if reason:
        pytest.skip(reason)


pytestmark = pytest.mark.skipif(not os.path.exists(PY), reason="Debian python3 not installed")


def test_threading(workdir, sentry_platform):  # noqa: F811
    _needs_threads(sentry_platform)
    _run(THREADING, workdir)


def test_thread_pool_executor(workdir, sentry_platform):  # noqa: F811
    _needs_threads(sentry_platform)
    _run(FUTURES, workdir)


def test_subprocess_and_fork_from_threads(workdir, sentry_platform):  # noqa: F811
    _needs_threads(sentry_platform)
    _run(SUBPROCESS_FROM_THREADS, workdir)


def test_asyncio(workdir, sentry_platform):  # noqa: F811
    _needs_threads(sentry_platform)
    _run(ASYNCIO, workdir)

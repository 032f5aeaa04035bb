"""Unary ttrpc round trips over a unix socket: calls/s and p50/p99 latency.

The server runs in a separate process (``--serve``), the clients in this one;
both use anyio on asyncio (no uvloop). Scenarios: one client calling
sequentially; 16 clients (16 connections) calling concurrently; 16
concurrent calls multiplexed on one connection. Prints a markdown table.

    python bench/ttrpc_bench.py [--seconds 3] [--clients 16] [--payload 32] [--cpu N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import anyio
from google.protobuf import wrappers_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ttrpc

SERVICE = "bench.Echo"


async def _echo(
    ctx: ttrpc.ServerContext, request: wrappers_pb2.BytesValue
) -> wrappers_pb2.BytesValue:
    return request


async def serve(path: str) -> None:
    server = ttrpc.Server()
    server.register(SERVICE, {"Echo": (wrappers_pb2.BytesValue, wrappers_pb2.BytesValue, _echo)})
    await server.serve_unix(path)


async def _wait_for_socket(path: str, timeout: float = 10.0) -> None:
    # The file appears at bind(2), before listen(2): wait until a connect works.
    deadline = time.monotonic() + timeout
    while True:
        try:
            stream = await anyio.connect_unix(path)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not listen on {path}") from None
            await anyio.sleep(0.02)
        else:
            await stream.aclose()
            return


async def _run_client(
    client: ttrpc.Client, payload: bytes, stop: float, latencies: list[float]
) -> None:
    request = wrappers_pb2.BytesValue(value=payload)
    clock = time.perf_counter
    while True:
        start = clock()
        if start >= stop:
            return
        await client.call(SERVICE, "Echo", request, wrappers_pb2.BytesValue)
        latencies.append(clock() - start)


async def scenario(
    path: str, connections: int, per_connection: int, seconds: float, payload: bytes
) -> tuple[float, float, float, int]:
    clients = [await ttrpc.Client.connect(path) for _ in range(connections)]
    latencies: list[float] = []
    try:
        # Warm up (imports, first allocations) before measuring.
        warm = time.perf_counter() + 0.3
        async with anyio.create_task_group() as tg:
            for client in clients:
                for _ in range(per_connection):
                    tg.start_soon(_run_client, client, payload, warm, [])
        begin = time.perf_counter()
        stop = begin + seconds
        async with anyio.create_task_group() as tg:
            for client in clients:
                for _ in range(per_connection):
                    tg.start_soon(_run_client, client, payload, stop, latencies)
        elapsed = time.perf_counter() - begin
    finally:
        for client in clients:
            await client.aclose()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, q[49] * 1e6, q[98] * 1e6, len(latencies)


async def bench(args: argparse.Namespace) -> None:
    payload = os.urandom(args.payload)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.sock")
        server = subprocess.Popen([sys.executable, __file__, "--serve", path])
        if args.cpu is not None:
            # Client and server share one core: the "one core" figure.
            os.sched_setaffinity(0, {args.cpu})
            os.sched_setaffinity(server.pid, {args.cpu})
        try:
            await _wait_for_socket(path)
            rows = []
            for label, conns, per in (
                ("1 client, sequential", 1, 1),
                (f"{args.clients} clients (connections), concurrent", args.clients, 1),
                (f"1 connection, {args.clients} concurrent calls", 1, args.clients),
            ):
                rate, p50, p99, n = await scenario(path, conns, per, args.seconds, payload)
                rows.append((label, rate, p50, p99, n))
        finally:
            server.terminate()
            server.wait()
    pinned = f", both pinned to CPU {args.cpu}" if args.cpu is not None else ""
    print(f"ttrpc unary Echo, {args.payload}-byte BytesValue, {args.seconds:g}s per row{pinned},")
    versions = f"Python {sys.version.split()[0]}, anyio {metadata.version('anyio')}"
    print(
        f"{versions} on asyncio, protobuf {metadata.version('protobuf')}, server in its own process"
    )
    print()
    print("| scenario | calls/s | p50 latency (µs) | p99 latency (µs) | calls |")
    print("|---|---:|---:|---:|---:|")
    for label, rate, p50, p99, n in rows:
        print(f"| {label} | {rate:,.0f} | {p50:,.0f} | {p99:,.0f} | {n:,} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--payload", type=int, default=32)
    parser.add_argument(
        "--cpu", type=int, default=None, help="pin client and server processes to this CPU"
    )
    parser.add_argument("--serve", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        try:
            anyio.run(serve, args.serve)
        except KeyboardInterrupt:
            pass
        return
    anyio.run(bench, args)


if __name__ == "__main__":
    main()

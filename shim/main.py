"""Entry point of ``containerd-shim-pysandbox-v2``.

containerd calls the binary with Go-style single-dash flags (``-namespace
ns -address ... -id x start``; see :mod:`shim.flags`). Actions: ``start``
(:mod:`shim.start`), ``delete`` (:mod:`shim.delete`), none = serve the Task
API (:mod:`shim.serve`); command-like flags ``-v`` and ``-info``.
"""

from __future__ import annotations

import sys

from protos.containerd.types import introspection_pb2
from runtime._version import __version__
from shim.flags import FlagError, parse

RUNTIME_NAME = "io.pysandbox.v2"


def version_text() -> str:
    return f"containerd-shim-pysandbox-v2:\n  Version:  {__version__}\n  Runtime:  {RUNTIME_NAME}\n"


def runtime_info(options: bytes = b"") -> bytes:
    """``-info``: RuntimeInfo proto, echoing the options Any read on stdin."""
    info = introspection_pb2.RuntimeInfo(
        name=RUNTIME_NAME,
        version=introspection_pb2.RuntimeVersion(version=__version__),
    )
    if options:
        from google.protobuf import any_pb2
        from google.protobuf.message import DecodeError

        opts = any_pb2.Any()
        try:
            opts.ParseFromString(options)
            info.options.CopyFrom(opts)
        except DecodeError:
            pass
    return info.SerializeToString()


def main(argv: list[str] | None = None) -> int:
    """Run the shim binary; returns the process exit status."""
    args = sys.argv[1:] if argv is None else argv
    try:
        flags = parse(args)
    except FlagError as exc:
        sys.stderr.write(f"containerd-shim-pysandbox-v2: {exc}\n")
        return 2
    if flags.version:
        sys.stdout.write(version_text())
        return 0
    if flags.info:
        stdin = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
        sys.stdout.buffer.write(runtime_info(stdin))
        return 0
    if flags.action == "start":
        from shim.start import StartError, start

        data = sys.stdin.buffer.read() if sys.stdin is not None else b""
        try:
            out = start(flags, data)
        except StartError as exc:
            sys.stderr.write(f"{exc}\n")
            return 1
        sys.stdout.buffer.write(out)
        return 0
    if flags.action == "delete":
        from shim.delete import delete

        sys.stdout.buffer.write(delete(flags))
        return 0
    if flags.action == "":
        from shim.serve import serve

        return serve(flags)
    sys.stderr.write(f"containerd-shim-pysandbox-v2: unknown action {flags.action!r}\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

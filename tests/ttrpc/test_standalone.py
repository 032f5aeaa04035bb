"""ttrpc stays publishable alone: it imports only the stdlib, anyio and protobuf."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ttrpc"
ALLOWED = set(sys.stdlib_module_names) | {"anyio", "google", "ttrpc", "grpc_tools"}


def test_imports_are_stdlib_anyio_protobuf_only() -> None:
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in ALLOWED:
                    offenders.append(f"{path.name}: {name}")
                if top == "google" and not name.startswith("google.protobuf"):
                    offenders.append(f"{path.name}: {name}")
    # grpc_tools is only for the regeneration script, never at run time.
    assert offenders == []
    gen_users = [
        p.name
        for p in PACKAGE.glob("*.py")
        if "grpc_tools" in p.read_text() and p.name != "_gen.py"
    ]
    assert gen_users == []


def test_import_ttrpc_loads_no_protobuf_but_its_messages_stay_reachable() -> None:
    """``import ttrpc`` (codec, blocking client, threaded server) loads no
    protobuf; ``ttrpc.ttrpc_pb2`` and ``ttrpc.SyncClient`` load on first use."""
    import subprocess

    code = (
        "import sys, ttrpc; from ttrpc import SyncServer, ServerConnection\n"
        "print(any(m.startswith('google') for m in sys.modules))\n"
        "print(ttrpc.ttrpc_pb2.Response.DESCRIPTOR.full_name, ttrpc.SyncClient.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    ).stdout.split()
    assert out == ["False", "ttrpc.Response", "SyncClient"]

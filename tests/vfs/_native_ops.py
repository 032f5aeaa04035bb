"""Run a list of file operations natively inside a chroot and print their outcomes.

Used by test_differential.py: ``python -m tests.vfs._native_ops DIR`` reads
JSON operations on stdin, chroots into DIR (so absolute symlinks and ".."
behave as in the sandbox, where DIR is the root) and writes JSON outcomes.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def outcome_of_stat(st: os.stat_result) -> list[Any]:
    import stat

    kind = stat.S_IFMT(st.st_mode)
    size = st.st_size if kind in (stat.S_IFREG, stat.S_IFLNK) else 0
    nlink = st.st_nlink if kind != stat.S_IFDIR else 0
    return ["stat", kind, stat.S_IMODE(st.st_mode), size, nlink, st.st_uid, st.st_gid]


def run(op: list[Any]) -> list[Any]:
    who, name, args = op[0], op[1], op[2:]
    if who == "user":
        os.setegid(1000)
        os.seteuid(1000)
    try:
        return _run(name, args)
    finally:
        if who == "user":
            os.seteuid(0)
            os.setegid(0)


def _run(name: str, args: list[Any]) -> list[Any]:
    try:
        if name == "mkdir":
            os.mkdir(args[0], 0o755)
        elif name == "open":
            fd = os.open(args[0], args[1], 0o644)
            if args[2]:
                os.write(fd, args[2].encode())
            os.close(fd)
        elif name == "symlink":
            os.symlink(args[0], args[1])
        elif name == "unlink":
            os.unlink(args[0])
        elif name == "rmdir":
            os.rmdir(args[0])
        elif name == "rename":
            os.rename(args[0], args[1])
        elif name == "link":
            os.link(args[0], args[1], follow_symlinks=False)
        elif name == "stat":
            return outcome_of_stat(os.stat(args[0]))
        elif name == "lstat":
            return outcome_of_stat(os.lstat(args[0]))
        elif name == "readlink":
            return ["link", os.readlink(args[0])]
        elif name == "chmod":
            os.chmod(args[0], args[1])
        elif name == "listdir":
            return ["dir", sorted(os.listdir(args[0]))]
        else:
            raise ValueError(name)
        return ["ok"]
    except OSError as exc:
        return ["err", exc.errno]


def main() -> None:
    ops = json.load(sys.stdin)
    os.setgroups([])
    os.chroot(sys.argv[1])
    os.chdir("/")
    os.umask(0o022)
    json.dump([run(op) for op in ops], sys.stdout)


if __name__ == "__main__":
    main()

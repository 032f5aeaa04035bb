"""Resolve a path inside a root the way the container will see it.

Seed ``resolveSymlinks`` (gofer.go): walk the path component by component
under ``root``; ``..`` never leaves the root (it clamps there, as at "/"),
an absolute symlink target restarts at the root, missing components are
taken as they are. Unlike the seed, the follow limit is one budget for the
whole walk (like Linux's MAXSYMLINKS in fs/namei.c), so a hostile image
cannot make resolution exponential with links that expand to two links.
"""

from __future__ import annotations

import errno
import os
import stat

MAX_SYMLINKS = 255


def _within(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def resolve_symlinks(root: str, path: str, max_follow: int = MAX_SYMLINKS) -> str:
    """The host path that ``path`` (absolute, in container terms) names under ``root``."""
    root = os.path.normpath(root)
    budget = [max_follow]
    resolved = _walk(root, root, path, budget)
    if not _within(root, resolved):  # pragma: no cover - guaranteed by _walk
        raise OSError(errno.EXDEV, f"{path!r} resolved outside the root: {resolved}")
    return resolved


def _walk(root: str, base: str, rel: str, budget: list[int]) -> str:
    for name in rel.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            # One cannot '..' out of the root: at the root, ".." is the root.
            base = root if base == root else os.path.dirname(base)
            continue
        path = os.path.join(base, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            base = path  # nothing there yet, so no symlink to follow
            continue
        except NotADirectoryError:
            raise OSError(errno.ENOTDIR, f"{base} is not a directory", base) from None
        if stat.S_ISLNK(st.st_mode):
            budget[0] -= 1
            if budget[0] < 0:
                raise OSError(errno.ELOOP, f"too many symlinks to follow, path: {path!r}", path)
            target = os.readlink(path)
            if target.startswith("/"):
                base = root
            base = _walk(root, base, target, budget)
            continue
        base = path
    return base


def container_path(root: str, resolved: str) -> str:
    """``resolved`` (a host path under ``root``) as an absolute container path."""
    rel = os.path.relpath(resolved, root)
    return "/" if rel == "." else "/" + rel

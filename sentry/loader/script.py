"""``#!`` interpreter scripts (fs/binfmt_script.c)."""

from __future__ import annotations

from sentry.abi.errors import ENOEXEC

#: Bytes of the file the kernel looks at (include/linux/binfmts.h BINPRM_BUF_SIZE).
BINPRM_BUF_SIZE = 256


def parse_shebang(head: bytes) -> tuple[bytes, bytes | None] | None:
    """(interpreter, optional single argument) of a ``#!`` line, or None if
    ``head`` does not start with ``#!``.

    Linux splits at the first blank after the interpreter and passes the
    whole rest (trimmed) as one argument; a line with no newline inside the
    buffer is fine unless the interpreter name itself was cut (ENOEXEC)."""
    if not head.startswith(b"#!"):
        return None
    buf = head[:BINPRM_BUF_SIZE]
    line = buf[2:]
    newline = line.find(b"\n")
    truncated = newline < 0
    if not truncated:
        line = line[:newline]
    line = line.split(b"\0", 1)[0]
    line = line.strip(b" \t")
    if not line:
        raise ENOEXEC("empty #! line")
    cut = len(line)
    for i, ch in enumerate(line):
        if ch in b" \t":
            cut = i
            break
    interp = line[:cut]
    if truncated and cut == len(line) and len(buf) >= BINPRM_BUF_SIZE:
        raise ENOEXEC("#! interpreter name too long")
    arg = line[cut:].strip(b" \t") or None
    return interp, arg

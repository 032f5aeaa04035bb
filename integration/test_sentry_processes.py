"""Process trees under the Sentry: busybox sh scripts (pipelines, subshells,
command substitution, trap, background jobs, kill %1, exec, here-docs,
xargs), Debian's python3 (subprocess, os.fork, signal handlers, select,
multiprocessing with fork) and stress runs whose leftovers are asserted
through ``sentry run --stats``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
PYTHON3 = "/usr/bin/python3"

pytestmark = [pytest.mark.ptrace]

needs_busybox = pytest.mark.skipif(
    not shutil.which("busybox"), reason="busybox-static not installed"
)
needs_python = pytest.mark.skipif(
    not os.path.exists(PYTHON3), reason="Debian python3 not installed"
)

SCRIPTS = {
    "pipeline": "echo banana apple cherry | tr ' ' '\\n' | sort | head -n 2",
    "subshell": "x=1; (x=2; echo in $x; exit 3); echo out $x status $?",
    "command substitution": 'a=$(echo one; echo two); echo "[$a]" $(seq 3 | wc -l)',
    "trap": "trap 'echo got USR1' USR1; kill -USR1 $$; trap 'echo bye' EXIT; echo end",
    "background wait": "sleep 0.05 & p=$!; (exit 7) & q=$!; wait $q; echo q=$?; wait $p; echo p=$?",
    "kill %1": "sleep 5 & kill %1; wait %1 2>/dev/null; echo status $?",
    "exec": "exec echo replaced; echo not reached",
    "here-doc": "cat <<EOF\nline $((1+2))\n  kept\nEOF",
    "xargs": "seq 1 5 | xargs -n 2 echo args",
    "nested shells": "sh -c 'sh -c \"echo deep; exit 4\"; echo mid $?'; echo top $?",
    "exit by signal": "sh -c 'kill -TERM $$'; echo status $?",
    "redirections": "{ echo out; echo err >&2; } 2>&1 | cat; echo x > f; cat < f; rm f",
    "while read": "printf 'a\\nb\\n' | while read l; do echo \"<$l>\"; done",
    "for loop of processes": 'for i in 1 2 3; do sh -c "exit $i"; echo $?; done',
}


@needs_busybox
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_busybox_sh_script_matches_native(name, workdir):  # noqa: F811
    argv = [BUSYBOX, "sh", "-c", SCRIPTS[name]]
    env_path = f"PATH={Path(BUSYBOX).parent}"
    native = harness.run_native(["/usr/bin/env", "-i", env_path, *argv], workdir)
    sandboxed = harness.run_sentry(["/usr/bin/env", "-i", env_path, *argv], workdir, extra=["--rw"])
    assert sandboxed.stdout.decode() == native.stdout.decode()
    assert sandboxed.stderr.decode() == native.stderr.decode()
    assert sandboxed.status == native.status


PY_PROGRAM = r"""
import multiprocessing as mp, os, select, signal, subprocess, sys

r = subprocess.run(["/bin/busybox", "echo", "hi"], capture_output=True)
print("run", r.returncode, r.stdout)
r = subprocess.run("echo a | /bin/busybox tr a b; exit 3", shell=True, capture_output=True)
print("shell", r.returncode, r.stdout)
r = subprocess.run([sys.executable, "-c", "import sys; sys.exit(sys.stdin.read() == 'in')"],
                   input=b"in")
print("child python", r.returncode)
pid = os.fork()
if pid == 0:
    os._exit(5)
print("fork", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
os.kill(os.getpid(), signal.SIGUSR1)
print("handler", got)
rfd, wfd = os.pipe()
print("select empty", select.select([rfd], [], [], 0.01)[0])
os.write(wfd, b"x")
print("select ready", select.select([rfd], [], [], 1)[0] == [rfd])


def work(conn, x):
    conn.send(x * x)
    conn.close()


if __name__ == "__main__":
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe(duplex=False)
    ps = [ctx.Process(target=work, args=(b, i)) for i in range(4)]
    for p in ps:
        p.start()
    print("multiprocessing", sorted(a.recv() for _ in ps))
    for p in ps:
        p.join()
    print("exit codes", [p.exitcode for p in ps])
    p = ctx.Process(target=os.kill, args=(0, 0))
    p.start()
    p.join()
    child = subprocess.Popen(["/bin/busybox", "sleep", "10"])
    child.send_signal(signal.SIGTERM)
    print("terminated", child.wait())
"""


@needs_python
@needs_busybox
def test_python_processes_match_native(workdir):  # noqa: F811
    script = workdir / "procs.py"
    script.write_text(PY_PROGRAM)
    argv = [PYTHON3, "-I", str(script)]
    native = harness.run_native(argv, workdir)
    sandboxed = harness.run_sentry(argv, workdir, extra=["--rw"])
    assert native.status == 0, native.stderr.decode()
    assert sandboxed.stderr.decode() == native.stderr.decode()
    assert sandboxed.stdout.decode() == native.stdout.decode()
    assert sandboxed.status == 0


def _stats(stderr: bytes) -> dict[str, int]:
    for line in stderr.decode().splitlines():
        if line.startswith("sentry-stats: "):
            return json.loads(line.split(": ", 1)[1])
    raise AssertionError(f"no stats line in {stderr!r}")


def _assert_nothing_left(stats: dict[str, int]) -> None:
    # Only init itself remains (its zombie entry); no task, no stub
    # process, no application page.
    assert stats == {
        "tasks": 0,
        "thread_groups": 1,
        "zombies": 1,
        "host_children": 0,
        "memory_pages": 0,
    }


@needs_busybox
def test_stress_200_short_processes_leave_nothing(workdir):  # noqa: F811
    loop = "i=0; while [ $i -lt 200 ]; do /bin/busybox true; i=$((i+1)); done; echo $i"
    res = harness.run_sentry([BUSYBOX, "sh", "-c", loop], workdir, extra=["--stats"])
    assert res.stdout == b"200\n"
    assert res.status == 0
    _assert_nothing_left(_stats(res.stderr))


FORK_TREE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
/* A binary tree of processes, depth 6: 64 leaves, 126 forks in all;
 * every process reports how many processes its subtree had. */
static int tree(int depth) {
    if (depth == 0) return 1;
    int total = 1;
    for (int i = 0; i < 2; i++) {
        pid_t p = fork();
        if (p < 0) { perror("fork"); exit(99); }
        if (p == 0) _exit(tree(depth - 1) & 0xff);
    }
    for (int i = 0; i < 2; i++) {
        int st;
        if (wait(&st) < 0 || !WIFEXITED(st)) exit(98);
        total += WEXITSTATUS(st);
    }
    return total;
}
int main(void) { printf("%d\n", tree(6)); return 0; }
"""


def test_stress_fork_tree_leaves_nothing(workdir):  # noqa: F811
    src = workdir / "forktree.c"
    src.write_text(FORK_TREE)
    binary = harness.compile_c(src, workdir, static=True)
    native = harness.run_native([str(binary)], workdir)
    res = harness.run_sentry([str(binary)], workdir, extra=["--stats"])
    assert res.stdout == native.stdout == b"127\n"
    assert res.status == 0
    _assert_nothing_left(_stats(res.stderr))

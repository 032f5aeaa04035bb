"""Real dynamically linked programs run under the Sentry: Debian's /bin/ls,
/usr/bin/env and /usr/bin/python3 (the system one, not pyenv's)."""

from __future__ import annotations

import os

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

PY = "/usr/bin/python3"
PY_CODE = (
    "import json, hashlib, re; "
    "print(json.dumps({'sha': hashlib.sha256(b'pysandbox').hexdigest(), "
    "'re': re.sub(r'(a+)', r'<\\1>', 'baaad')}, sort_keys=True))"
)


def test_ls(workdir):  # noqa: F811
    # List a subdirectory: its ".." is the work directory, which nothing
    # else touches (/var/tmp itself changes as other tests run).
    listing = workdir / "listing"
    listing.mkdir()
    (listing / "one").write_text("1")
    (listing / "two").mkdir()
    argv = ["/bin/ls", "-la", "--time-style=+%s", str(listing)]
    native = harness.run_native(argv, workdir)
    sandboxed = harness.run_sentry(argv, workdir)
    assert sandboxed.status == native.status == 0
    assert sandboxed.stdout == native.stdout


def test_env_passes_the_environment(workdir):  # noqa: F811
    native = harness.run_native(["/usr/bin/env"], workdir)
    sandboxed = harness.run_sentry(["/usr/bin/env"], workdir)
    assert sandboxed.status == 0
    assert sorted(sandboxed.stdout.splitlines()) == sorted(native.stdout.splitlines())


@pytest.mark.skipif(not os.path.exists(PY), reason="Debian python3 not installed")
def test_debian_python3(workdir):  # noqa: F811
    argv = [PY, "-c", PY_CODE]
    native = harness.run_native(argv, workdir)
    sandboxed = harness.run_sentry(argv, workdir)
    assert native.status == 0
    assert sandboxed.stderr == b""
    assert sandboxed.status == 0
    assert sandboxed.stdout == native.stdout


def test_shebang_script(workdir):  # noqa: F811
    script = workdir / "hello.sh"
    script.write_text("#!/bin/busybox sh\necho from script $0 $1\nexit 3\n")
    script.chmod(0o755)
    sandboxed = harness.run_sentry([str(script), "arg"], workdir)
    native = harness.run_native([str(script), "arg"], workdir)
    assert sandboxed.stdout == native.stdout
    assert sandboxed.status == native.status == 3


def test_strace_logs_decoded_calls(workdir):  # noqa: F811
    result = harness.run_sentry(["/bin/busybox", "echo", "traced"], workdir, extra=["--strace"])
    assert result.status == 0
    assert result.stdout == b"traced\n"
    err = result.stderr.decode()
    assert '] write(1, "traced\\x0a", 7) = 7' in err, err
    assert "] exit_group(0) = ?" in err
    assert "-1 ENOSYS" in err  # rseq is refused and shown as such


def test_sigterm_stops_a_sleeping_sandbox(workdir):  # noqa: F811
    import subprocess
    import time

    proc = subprocess.Popen(
        harness.sentry_command(["/bin/busybox", "sleep", "60"], workdir),
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)
    proc.terminate()
    start = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 5
    assert proc.returncode == 128 + 15, err


def test_writing_to_a_closed_pipe_raises_sigpipe(workdir):  # noqa: F811
    import subprocess

    script = f"{' '.join(harness.sentry_command(['/bin/busybox', 'yes'], workdir))} | head -n 1"
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {script}"],
        cwd=workdir,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout == b"y\n"
    assert proc.returncode == 128 + 13, proc.stderr


def test_program_is_looked_up_in_path(workdir):  # noqa: F811
    result = harness.run_sentry(["busybox", "echo", "found"], workdir)
    assert result.status == 0 and result.stdout == b"found\n"
    missing = harness.run_sentry(["no-such-program-xyz"], workdir)
    assert missing.status == 127
    assert b"No such file or directory" in missing.stderr


def test_bad_root_is_a_clear_error(workdir):  # noqa: F811
    result = harness.run_sentry(
        ["/bin/busybox", "true"], "/", extra=["--root", "/nonexistent-root"]
    )
    assert result.status == 125
    assert b"cannot use --root /nonexistent-root" in result.stderr
    assert b"Traceback" not in result.stderr

"""The private containerd fixture itself, with containerd's own runc shim as the peer.

Later shim and CRI tests rely on it: the busybox image must really run, and
teardown must leave nothing behind even with a container still running.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from integration.containerd import (
    BUSYBOX_REF,
    RUNC_ROOT,
    SHIM_SOCKET_DIR,
    ContainerdConfig,
    PrivateContainerd,
    build_busybox_image,
    find_static_busybox,
    import_busybox_image,
    is_gone,
    missing_requirements,
    mounts_under,
    private_containerd,
    processes_mentioning,
    unique_id,
)

# A hung peer must not hold the run for the global 300 s timeout.
pytestmark = [pytest.mark.containerd, pytest.mark.timeout(60)]


def _require_runc() -> None:
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"private containerd: {reason}")
    if shutil.which("runc") is None:
        pytest.skip("needs runc (apt-get install runc) for containerd's default runtime")
    if find_static_busybox() is None:
        pytest.skip("needs a static busybox at /bin/busybox (apt-get install busybox-static)")


def test_sockets_and_config(containerd: PrivateContainerd) -> None:
    assert containerd.address.is_socket()
    assert containerd.ttrpc_address.is_socket()
    assert len(str(containerd.ttrpc_address)) < 108  # sun_path, unix(7)
    plugins = containerd.ctr("plugins", "ls").stdout
    assert "io.containerd.grpc.v1.cri" not in plugins
    assert containerd.root.is_dir() and containerd.state.is_dir()


@pytest.mark.parametrize(
    "containerd",
    [ContainerdConfig(disabled_plugins=("io.containerd.snapshotter.v1.btrfs",))],
    indirect=True,
)
def test_disabled_plugins_are_honoured(containerd: PrivateContainerd) -> None:
    plugins = containerd.ctr("plugins", "ls").stdout
    assert "btrfs" not in plugins
    assert "overlayfs" in plugins


def test_busybox_image_layout(tmp_path: Path) -> None:
    busybox = find_static_busybox()
    if busybox is None:
        pytest.skip("needs a static busybox at /bin/busybox (apt-get install busybox-static)")
    import json
    import tarfile

    tar = build_busybox_image(tmp_path / "bb.tar", busybox)
    with tarfile.open(tar) as archive:
        names = set(archive.getnames())
        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
    assert {"oci-layout", "index.json"} <= names
    (manifest,) = index["manifests"]
    assert manifest["annotations"]["io.containerd.image.name"] == BUSYBOX_REF
    assert "blobs/sha256/" + manifest["digest"].removeprefix("sha256:") in names


def test_busybox_runs_under_runc_shim(containerd: PrivateContainerd) -> None:
    _require_runc()
    ref = import_busybox_image(containerd)
    # containerd 1.6's ctr with runc's shim can lose all of a process's
    # output when it exits right after printing (seen once in ~20 full
    # runs here; upstream: containerd/containerd#770, concourse#6775).
    # That race is not what this test checks, so an empty run is retried;
    # wrong output still fails at once.
    script = "echo hello from $(basename $0); ls /bin/sh"
    for _attempt in range(3):
        result = containerd.ctr(
            "run", "--rm", "--fifo-dir", str(containerd.fifo_dir),
            ref, unique_id("fixture-echo"), "sh", "-c", script,
            timeout=30,
        )  # fmt: skip
        if result.stdout:
            break
    assert result.stdout.splitlines() == ["hello from sh", "/bin/sh"]


@pytest.mark.parametrize("crash", [False, True], ids=["graceful", "containerd-killed"])
def test_teardown_leaves_nothing_behind(crash: bool) -> None:
    """Stop with a container still running: task, shim, mounts, sockets, runc state all gone.

    With containerd SIGKILLed first, nothing can be asked of it: the
    fallback path must find the shim and its container by itself.
    """
    _require_runc()
    task_id = unique_id("left-running")
    with private_containerd() as daemon:
        ref = import_busybox_image(daemon)
        daemon.ctr(
            "run", "-d", "--fifo-dir", str(daemon.fifo_dir), ref, task_id, "sleep", "300",
        )  # fmt: skip
        (row,) = [line for line in daemon.ctr("tasks", "ls").stdout.splitlines() if task_id in line]
        assert "RUNNING" in row
        init_pid = int(row.split()[1])
        assert mounts_under(daemon.base), "the running container's rootfs should be mounted"
        assert processes_mentioning(str(daemon.address)), "expected a runc shim for the task"
        (address_file,) = daemon.state.glob("io.containerd.runtime.v2.task/default/*/address")
        shim_socket = Path(address_file.read_text().removeprefix("unix://"))
        assert shim_socket.parent == SHIM_SOCKET_DIR
        base = daemon.base
        if crash:
            assert daemon.process is not None
            daemon.process.kill()
            daemon.process.wait()
    assert is_gone(init_pid)
    assert not base.exists()
    assert not mounts_under(base)
    assert not processes_mentioning(str(daemon.address))
    assert not shim_socket.exists()
    assert not (RUNC_ROOT / "default" / task_id).exists()


def test_containerd_runs_a_shim_found_on_path(tmp_path: Path) -> None:
    """A shim on path_prepend is found by runtime name; containerd's `start` call is as documented.

    A stand-in shim records how containerd 1.6 invokes `start` and refuses;
    `ctr run` must then fail with the shim's own output.
    """
    _require_runc()
    record = tmp_path / "start-call"
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    probe = shim_dir / "containerd-shim-pysbxprobe-v1"
    probe.write_text(
        "#!/bin/sh\n"
        "for action; do :; done\n"  # the last argument
        'if [ "$action" = start ]; then\n'
        '  { printf "%s\\n" "$@"; echo "cwd=$PWD"; echo "ttrpc=$TTRPC_ADDRESS"; ls; }'
        f" > {record}\n"
        '  echo "probe: refusing"; exit 1\n'
        "fi\n"
        "exit 0\n"
    )
    probe.chmod(0o755)
    with private_containerd(ContainerdConfig(path_prepend=(str(shim_dir),))) as daemon:
        ref = import_busybox_image(daemon)
        task_id = unique_id("probe")
        result = daemon.ctr(
            "run", "--rm", "--null-io", "--runtime", "io.containerd.pysbxprobe.v1",
            ref, task_id, "true",
            check=False,
        )  # fmt: skip
        assert result.returncode != 0
        assert "probe: refusing" in result.stderr
        lines = record.read_text().splitlines()
        bundle = daemon.state / "io.containerd.runtime.v2.task" / "default" / task_id
        assert lines[:9] == [
            "-namespace", "default",
            "-address", str(daemon.address),
            "-publish-binary", shutil.which("containerd"),
            "-id", task_id,
            "start",
        ]  # fmt: skip
        assert f"cwd={bundle}" in lines
        assert f"ttrpc={daemon.ttrpc_address}" in lines
        assert {"config.json", "log", "rootfs", "work"} <= set(lines)


@pytest.mark.parametrize(
    "containerd",
    [ContainerdConfig(cri=True, sandbox_image=BUSYBOX_REF)],
    indirect=True,
)
def test_cri_plugin_on_request_stays_private(containerd: PrivateContainerd) -> None:
    (row,) = [
        line for line in containerd.ctr("plugins", "ls").stdout.splitlines() if " cri " in line
    ]
    assert row.split()[-1] == "ok"
    log = containerd.log_path.read_text()
    assert f"SandboxImage:{BUSYBOX_REF}" in log
    assert f"NetworkPluginConfDir:{containerd.base}/cni/net.d" in log
    assert f"StateDir:{containerd.state}/io.containerd.grpc.v1.cri" in log

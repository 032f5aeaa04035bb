"""OCI config.json validation: every bad field is named in one clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime import spec as ocispec
from runtime.errors import SpecError, UsageError
from tests.runtime.conftest import minimal_config


def parse(cfg: dict[str, Any]) -> ocispec.Spec:
    return ocispec.parse(cfg, "/bundle")


def bad(cfg: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse(cfg)
    return info.value


def test_default_spec_parses_into_typed_fields() -> None:
    s = parse(ocispec.default_spec())
    assert s.root.path == "/bundle/rootfs" and s.root.readonly
    assert s.process is not None and s.process.args == ("sh",)
    assert s.process.rlimits == (ocispec.Rlimit("RLIMIT_NOFILE", 1024, 1024),)
    assert s.process.capabilities is not None
    assert "CAP_KILL" in s.process.capabilities.bounding
    assert s.hostname == "pysandbox"
    assert [m.type for m in s.mounts][:2] == ["proc", "tmpfs"]
    assert s.linux.namespace("pid") == ocispec.Namespace("pid")
    assert s.linux.namespace("user") is None
    assert "/proc/kcore" in s.linux.masked_paths
    assert "/proc/sys" in s.linux.readonly_paths


def test_full_linux_section() -> None:
    cfg = minimal_config()
    cfg["process"]["user"] = {"uid": 1000, "gid": 100, "umask": 0o22, "additionalGids": [5, 6]}
    cfg["process"]["consoleSize"] = {"height": 24, "width": 80}
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["namespaces"][1] = {"type": "network", "path": "/var/run/netns/x"}
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    cfg["linux"]["cgroupsPath"] = "/pysandbox/c1"
    cfg["linux"]["resources"].update(
        memory={"limit": 1 << 26, "swap": 1 << 27},
        cpu={"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
        pids={"limit": 64},
    )
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.x": "1"}
    cfg["annotations"] = {
        ocispec.CONTAINER_TYPE_ANNOTATION: "container",
        ocispec.SANDBOX_ID_ANNOTATION: "pod1",
    }
    s = parse(cfg)
    assert s.process is not None
    assert s.process.user == ocispec.User(1000, 100, 0o22, (5, 6), "")
    assert s.process.console_size == ocispec.ConsoleSize(24, 80)
    assert s.linux.namespace("network") == ocispec.Namespace("network", "/var/run/netns/x")
    assert s.linux.uid_mappings == (ocispec.IDMapping(0, 1000, 1),)
    assert s.linux.cgroups_path == "/pysandbox/c1"
    assert s.linux.resources.memory == ocispec.MemoryResources(limit=1 << 26, swap=1 << 27)
    assert s.linux.resources.cpu is not None and s.linux.resources.cpu.quota == 50000
    assert s.linux.resources.pids == ocispec.PidsResources(64)
    assert s.container_type == "container" and s.sandbox_id == "pod1"
    assert not s.is_root_container("c2") and s.is_root_container("pod1")


def test_plain_oci_container_is_a_root_container() -> None:
    assert parse(minimal_config()).is_root_container("anything")


def test_hooks_parsed() -> None:
    cfg = minimal_config()
    cfg["hooks"] = {
        "prestart": [{"path": "/bin/a", "args": ["a", "1"], "env": ["X=1"], "timeout": 3}],
        "poststop": [{"path": "/bin/b"}],
    }
    s = parse(cfg)
    assert s.hooks.named("prestart") == (ocispec.Hook("/bin/a", ("a", "1"), ("X=1",), 3),)
    assert s.hooks.named("poststop") == (ocispec.Hook("/bin/b"),)
    assert s.hooks.named("createRuntime") == ()


def test_bind_mount_spelled_by_options_is_a_bind() -> None:
    cfg = minimal_config()
    cfg["mounts"].append({"destination": "/data", "source": "/tmp", "options": ["rbind", "ro"]})
    m = parse(cfg).mounts[-1]
    assert m.is_bind and m.readonly


def test_unknown_properties_are_ignored() -> None:
    cfg = minimal_config()
    cfg["someExtension"] = {"x": 1}
    cfg["process"]["futureField"] = True
    parse(cfg)


def _set(cfg: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    node = cfg
    keys = dotted.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return cfg


@pytest.mark.parametrize(
    ("dotted", "value", "field", "words"),
    [
        ("ociVersion", "2.0.0", "ociVersion", "unsupported version"),
        ("ociVersion", 1, "ociVersion", "must be a string"),
        ("root", None, "root", "is required"),
        ("root.path", None, "root.path", "is required"),
        ("root.readonly", "yes", "root.readonly", "must be a boolean"),
        ("process.args", [], "process.args", "must not be empty"),
        ("process.args", "sh", "process.args", "array of strings"),
        ("process.cwd", "tmp", "process.cwd", "absolute path"),
        ("process.env", ["NOEQUALS"], "process.env[0]", "KEY=value"),
        ("process.user.uid", -1, "process.user.uid", ">= 0"),
        ("process.user.uid", "0", "process.user.uid", "integer"),
        ("process.user.additionalGids", ["a"], "process.user.additionalGids", "integers"),
        ("process.user.umask", 0o7777, "process.user.umask", "0777"),
        (
            "process.capabilities.bounding",
            ["CAP_NOPE"],
            "process.capabilities.bounding",
            "CAP_NOPE",
        ),
        (
            "process.rlimits",
            [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}],
            "process.rlimits[0].type",
            "unknown rlimit",
        ),
        (
            "process.rlimits",
            [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}],
            "process.rlimits[0].soft",
            "exceeds hard",
        ),
        ("process.oomScoreAdj", 5000, "process.oomScoreAdj", "-1000"),
        ("process.ioPriority", {"class": "IOPRIO_CLASS_RT"}, "process.ioPriority", "not supported"),
        ("mounts.0.destination", "proc", "mounts[0].destination", "absolute path"),
        ("mounts.0.type", "ext4", "mounts[0].type", "'ext4' is not supported"),
        (
            "mounts.1.options",
            ["frobnicate"],
            "mounts[1].options",
            "unknown mount option 'frobnicate'",
        ),
        ("mounts", [{"destination": "/x", "type": "bind"}], "mounts[0].source", "needs a source"),
        ("hostname", 7, "hostname", "must be a string"),
        (
            "linux.namespaces",
            [{"type": "pid"}, {"type": "pid"}],
            "linux.namespaces[1].type",
            "duplicate",
        ),
        ("linux.namespaces", [{"type": "time"}], "linux.namespaces[0].type", "'time'"),
        (
            "linux.namespaces",
            [{"type": "uts"}, {"type": "network", "path": "rel"}],
            "linux.namespaces[1].path",
            "absolute",
        ),
        (
            "linux.sysctl",
            {"kernel.panic": "1"},
            "linux.sysctl['kernel.panic']",
            "not in a separate kernel namespace",
        ),
        (
            "linux.sysctl",
            {"vm.swappiness": "1"},
            "linux.sysctl['vm.swappiness']",
            "not in a separate",
        ),
        ("linux.resources.memory", {"limit": "1G"}, "linux.resources.memory.limit", "integer"),
        (
            "linux.resources.memory",
            {"limit": 100, "swap": 50},
            "linux.resources.memory.swap",
            "lower than memory",
        ),
        (
            "linux.resources.memory",
            {"swappiness": 101},
            "linux.resources.memory.swappiness",
            "[0, 100]",
        ),
        ("linux.resources.cpu", {"quota": 100, "period": 10}, "linux.resources.cpu.period", "1000"),
        ("linux.resources.pids", {}, "linux.resources.pids.limit", "is required"),
        ("linux.resources.blockIO", {"weight": 10}, "linux.resources.blockIO", "not supported"),
        ("linux.intelRdt", {"closID": "x"}, "linux.intelRdt", "not supported"),
        ("linux.rootfsPropagation", "sideways", "linux.rootfsPropagation", "unknown propagation"),
        ("linux.maskedPaths", ["proc/kcore"], "linux.maskedPaths[0]", "absolute"),
        (
            "linux.uidMappings",
            [{"containerID": 0, "hostID": 1, "size": 1}],
            "linux.uidMappings",
            "need a user namespace",
        ),
        ("annotations", {"a": 1}, "annotations", "object of strings"),
        ("hooks.prestart", [{"path": "rel"}], "hooks.prestart[0].path", "absolute"),
        ("hooks.poststop", [{"path": "/x", "timeout": 0}], "hooks.poststop[0].timeout", "> 0"),
        ("windows", {"layerFolders": ["x"]}, "windows", "Linux containers only"),
        (
            "hooks.poststart",
            [{"path": "/x", "env": ["BAD"]}],
            "hooks.poststart[0].env[0]",
            "KEY=value",
        ),
    ],
)
def test_bad_field_is_named(dotted: str, value: Any, field: str, words: str) -> None:
    err = bad(_set(minimal_config(), dotted, value))
    assert err.field == field
    assert words in str(err)
    assert str(err).startswith(f"invalid OCI spec: {field}: ")
    assert "\n" not in str(err)


def test_sysctl_needs_its_namespace() -> None:
    cfg = minimal_config()
    cfg["linux"]["namespaces"] = [{"type": "pid"}, {"type": "mount"}]
    cfg["hostname"] = ""
    cfg["linux"]["sysctl"] = {"net.core.somaxconn": "10"}
    assert "host's network namespace" in str(bad(cfg))
    cfg["linux"]["sysctl"] = {"kernel.msgmax": "10"}
    assert "host's IPC namespace" in str(bad(cfg))


def test_hostname_without_uts_namespace() -> None:
    cfg = minimal_config()
    cfg["linux"]["namespaces"] = [{"type": "pid"}]
    assert bad(cfg).field == "hostname"


def test_config_must_be_an_object() -> None:
    with pytest.raises(SpecError, match="must be an object, not array"):
        ocispec.parse([], "/b")


def test_load_malformed_json_names_line(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{\n "ociVersion": "1.0.2",\n oops\n}')
    with pytest.raises(SpecError, match=r"config.json: malformed JSON at line 3 column 2"):
        ocispec.load(str(tmp_path))


def test_load_missing_config(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"config\.json: not found in bundle"):
        ocispec.load(str(tmp_path))


def test_load_requires_process(tmp_path: Path) -> None:
    cfg = minimal_config()
    del cfg["process"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SpecError, match="process: is required"):
        ocispec.load(str(tmp_path))


def test_load_resolves_root_against_bundle(bundle: Path) -> None:
    s = ocispec.load(str(bundle))
    assert s.root.path == str(bundle / "rootfs")
    assert s.bundle == str(bundle)
    assert s.raw["process"]["args"] == ["/bin/true"]


def test_load_for_boot_rereads_from_start(bundle: Path) -> None:
    import os

    fd = os.open(bundle / "config.json", os.O_RDONLY)
    try:
        a = ocispec.load_for_boot(fd, str(bundle))
        b = ocispec.load_for_boot(fd, str(bundle))  # after a re-exec: same FD, read again
        assert a == b
    finally:
        os.close(fd)


@pytest.mark.parametrize("cid", ["", "a/b", "..", "a b", "x\n"])
def test_bad_container_ids(cid: str) -> None:
    with pytest.raises(UsageError):
        ocispec.validate_id(cid)


def test_good_container_ids() -> None:
    for cid in ("c1", "a.b-c_d+e", "0" * 64):
        ocispec.validate_id(cid)

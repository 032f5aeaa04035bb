"""OCI runtime spec (``config.json``) loading and validation.

The spec is parsed once, on the host, into immutable records (NamedTuples:
every CLI, boot and gofer process imports this module, and defining 17
frozen dataclasses cost each of them ~10 ms, seven times what NamedTuples
cost); any malformed
or unsupported field is a ``SpecError`` naming the field (``process.cwd``,
``mounts[2].type``) before anything is started. Unknown properties are
ignored, as the runtime spec requires (config.md: "MUST NOT generate an error
if they encounter an unknown property"). The raw JSON is kept so the sandbox
and the gofer receive exactly what the user wrote (seed: ``--spec-fd``).

Accepted and deliberately not applied on the host, as runsc does, because
the Sentry is the container's kernel: ``linux.seccomp`` (host seccomp for
the app), ``linux.devices`` and device cgroup rules (the Sentry offers its
own devices), ``process.apparmorProfile``, ``process.selinuxLabel`` and
``linux.mountLabel``. Fields whose effect we cannot provide (``linux.intelRdt``,
``process.ioPriority``, time namespaces, …) are errors.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from runtime import mountopts
from runtime.capabilities import CAPABILITIES
from runtime.errors import SpecError, UsageError

CONFIG_FILE = "config.json"

# Annotations containerd's CRI plugin puts on every container of a pod.
CONTAINER_TYPE_ANNOTATION = "io.kubernetes.cri.container-type"
SANDBOX_ID_ANNOTATION = "io.kubernetes.cri.sandbox-id"
SANDBOX_NAME_ANNOTATION = "io.kubernetes.cri.sandbox-name"
SANDBOX_NAMESPACE_ANNOTATION = "io.kubernetes.cri.sandbox-namespace"
CONTAINER_TYPE_SANDBOX = "sandbox"
# Ours (``pysandbox do``): "memory" puts a writable in-memory overlay over
# the root, whose host files are then never written.
ROOT_OVERLAY_ANNOTATION = "dev.pysandbox.root-overlay"
CONTAINER_TYPE_CONTAINER = "container"

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup")

# Each mount type is served by one Sentry file system; "bind" goes through
# the gofer.
MOUNT_TYPES = ("bind", "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2")

HOOK_NAMES = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)

# getrlimit(2); RLIMIT_* names the OCI spec allows on Linux.
RLIMIT_TYPES = (
    "RLIMIT_AS",
    "RLIMIT_CORE",
    "RLIMIT_CPU",
    "RLIMIT_DATA",
    "RLIMIT_FSIZE",
    "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "RLIMIT_RSS",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
    "RLIMIT_SIGPENDING",
    "RLIMIT_STACK",
)

# Sysctls that live in a kernel namespace (sysctl(8) keys valid per
# container), as runc's validator allows them: IPC (ipc_namespaces(7)),
# UTS and network.
_IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)
_UTS_SYSCTLS = frozenset({"kernel.hostname", "kernel.domainname"})

# A container ID as runc accepts it (libcontainer ``idRegex``).
_ID_RE = re.compile(r"[\w+.-]+", re.ASCII)
#: The default of the mapping fields: shared, so read-only.
_NO_ENTRIES: Mapping[str, Any] = MappingProxyType({})


def validate_id(container_id: str) -> None:
    """Reject IDs that could not name a state directory (runc's rule)."""
    if not container_id:
        raise UsageError("container id cannot be empty")
    if not _ID_RE.fullmatch(container_id) or container_id in (".", ".."):
        raise UsageError(f"invalid container ID format: {container_id!r}")


class User(NamedTuple):
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()
    username: str = ""


class Capabilities(NamedTuple):
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


class Rlimit(NamedTuple):
    type: str
    soft: int
    hard: int


class ConsoleSize(NamedTuple):
    height: int
    width: int


class Process(NamedTuple):
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: User = User()
    terminal: bool = False
    console_size: ConsoleSize | None = None
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str = ""
    selinux_label: str = ""


class Root(NamedTuple):
    path: str
    readonly: bool = False


class Mount(NamedTuple):
    destination: str
    type: str
    source: str = ""
    options: tuple[str, ...] = ()

    @property
    def is_bind(self) -> bool:
        """Bind mounts are served by the gofer (seed ``IsGoferMount``)."""
        return self.type == "bind"

    @property
    def readonly(self) -> bool:
        return mountopts.is_readonly(self.options)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"destination": self.destination, "type": self.type}
        if self.source:
            out["source"] = self.source
        if self.options:
            out["options"] = list(self.options)
        return out


class Namespace(NamedTuple):
    type: str
    path: str = ""


class IDMapping(NamedTuple):
    container_id: int
    host_id: int
    size: int


class Hook(NamedTuple):
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


class Hooks(NamedTuple):
    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()

    def named(self, oci_name: str) -> tuple[Hook, ...]:
        """The hooks of one OCI hook point, by its spec name."""
        attr = {
            "prestart": "prestart",
            "createRuntime": "create_runtime",
            "createContainer": "create_container",
            "startContainer": "start_container",
            "poststart": "poststart",
            "poststop": "poststop",
        }[oci_name]
        hooks: tuple[Hook, ...] = getattr(self, attr)
        return hooks


class MemoryResources(NamedTuple):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool = False


class CPUResources(NamedTuple):
    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    cpus: str = ""
    mems: str = ""


class PidsResources(NamedTuple):
    limit: int


class Resources(NamedTuple):
    memory: MemoryResources | None = None
    cpu: CPUResources | None = None
    pids: PidsResources | None = None


class Linux(NamedTuple):
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    cgroups_path: str = ""
    resources: Resources = Resources()
    sysctl: Mapping[str, str] = _NO_ENTRIES
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    rootfs_propagation: str = ""

    def namespace(self, ns_type: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == ns_type:
                return ns
        return None


class Spec(NamedTuple):
    """A validated OCI spec; ``raw`` is the JSON as loaded."""

    oci_version: str
    root: Root
    process: Process | None
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[Mount, ...] = ()
    hooks: Hooks = Hooks()
    annotations: Mapping[str, str] = _NO_ENTRIES
    linux: Linux = Linux()
    bundle: str = ""
    raw: Mapping[str, Any] = _NO_ENTRIES

    @property
    def container_type(self) -> str:
        """CRI container type: "sandbox" (the pod's first) or "container"."""
        return self.annotations.get(CONTAINER_TYPE_ANNOTATION, "")

    @property
    def sandbox_id(self) -> str:
        """CRI sandbox ID this container belongs to ("" outside a pod)."""
        return self.annotations.get(SANDBOX_ID_ANNOTATION, "")

    def is_root_container(self, container_id: str) -> bool:
        """Whether this container starts its own sandbox (seed: ``cid == s.ID``).

        A CRI "container" joins the sandbox named by its sandbox-id
        annotation; everything else (CRI "sandbox", plain OCI) is a root.
        """
        if self.container_type != CONTAINER_TYPE_CONTAINER:
            return True
        return self.sandbox_id in ("", container_id)


# ---------------------------------------------------------------- parsing


class _Fields:
    """Typed access to one JSON object, naming the field path in errors."""

    def __init__(self, obj: Any, path: str) -> None:
        if not isinstance(obj, dict):
            raise SpecError(path or "config.json", f"must be an object, not {_kind(obj)}")
        self.obj: dict[str, Any] = obj
        self.path = path

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return self.obj.get(key) is not None

    def text(self, key: str, default: str = "", required: bool = False) -> str:
        value = self.obj.get(key)
        if value is None:
            if required:
                raise SpecError(self.sub(key), "is required")
            return default
        if not isinstance(value, str):
            raise SpecError(self.sub(key), f"must be a string, not {_kind(value)}")
        return value

    def flag(self, key: str) -> bool:
        value = self.obj.get(key, False)
        if not isinstance(value, bool):
            raise SpecError(self.sub(key), f"must be a boolean, not {_kind(value)}")
        return value

    def integer(self, key: str, required: bool = False, minimum: int | None = None) -> int | None:
        value = self.obj.get(key)
        if value is None:
            if required:
                raise SpecError(self.sub(key), "is required")
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise SpecError(self.sub(key), f"must be an integer, not {_kind(value)}")
        if minimum is not None and value < minimum:
            raise SpecError(self.sub(key), f"must be >= {minimum}, not {value}")
        return value

    def strs(self, key: str) -> tuple[str, ...]:
        value = self.obj.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SpecError(self.sub(key), "must be an array of strings")
        return tuple(value)

    def objects(self, key: str) -> list[_Fields]:
        value = self.obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise SpecError(self.sub(key), f"must be an array, not {_kind(value)}")
        return [_Fields(v, f"{self.sub(key)}[{i}]") for i, v in enumerate(value)]

    def object(self, key: str) -> _Fields | None:
        value = self.obj.get(key)
        return None if value is None else _Fields(value, self.sub(key))

    def string_map(self, key: str) -> dict[str, str]:
        value = self.obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise SpecError(self.sub(key), "must be an object of strings")
        return dict(value)

    def unsupported(self, key: str, why: str) -> None:
        """Reject a field we know but cannot honour, if it is set to anything."""
        value = self.obj.get(key)
        if value not in (None, [], {}, "", 0):
            raise SpecError(self.sub(key), f"is not supported by pysandbox ({why})")


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else "null"
    )


def _abs_path(path: str, field_name: str) -> str:
    if not path.startswith("/"):
        raise SpecError(field_name, f"must be an absolute path, not {path!r}")
    return path


def _parse_user(f: _Fields) -> User:
    gids = f.obj.get("additionalGids") or []
    if not isinstance(gids, list) or not all(
        isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in gids
    ):
        raise SpecError(f.sub("additionalGids"), "must be an array of non-negative integers")
    umask = f.integer("umask", minimum=0)
    if umask is not None and umask > 0o777:
        raise SpecError(f.sub("umask"), f"must be at most 0777, not {umask:#o}")
    return User(
        uid=f.integer("uid", minimum=0) or 0,
        gid=f.integer("gid", minimum=0) or 0,
        umask=umask,
        additional_gids=tuple(gids),
        username=f.text("username"),
    )


def _parse_capabilities(f: _Fields) -> Capabilities:
    sets = {}
    for name in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        caps = f.strs(name)
        for cap in caps:
            if cap not in CAPABILITIES:
                raise SpecError(f.sub(name), f"unknown capability {cap!r}")
        sets[name] = caps
    return Capabilities(**sets)


def _parse_process(f: _Fields) -> Process:
    args = f.strs("args")
    if not args:
        raise SpecError(f.sub("args"), "must not be empty")
    env = f.strs("env")
    for i, entry in enumerate(env):
        if "=" not in entry or entry.startswith("="):
            raise SpecError(f"{f.sub('env')}[{i}]", f"must be KEY=value, not {entry!r}")
    cwd = _abs_path(f.text("cwd", required=True), f.sub("cwd"))
    user_f = f.object("user")
    console = None
    console_f = f.object("consoleSize")
    if console_f is not None:
        console = ConsoleSize(
            height=console_f.integer("height", required=True, minimum=0) or 0,
            width=console_f.integer("width", required=True, minimum=0) or 0,
        )
    rlimits = []
    seen: set[str] = set()
    for rl in f.objects("rlimits"):
        rtype = rl.text("type", required=True)
        if rtype not in RLIMIT_TYPES:
            raise SpecError(rl.sub("type"), f"unknown rlimit type {rtype!r}")
        if rtype in seen:
            raise SpecError(rl.sub("type"), f"duplicate rlimit type {rtype!r}")
        seen.add(rtype)
        soft = rl.integer("soft", required=True, minimum=0) or 0
        hard = rl.integer("hard", required=True, minimum=0) or 0
        if soft > hard:
            raise SpecError(rl.sub("soft"), f"soft limit {soft} exceeds hard limit {hard}")
        rlimits.append(Rlimit(rtype, soft, hard))
    oom = f.integer("oomScoreAdj")
    if oom is not None and not -1000 <= oom <= 1000:
        raise SpecError(f.sub("oomScoreAdj"), f"must be in [-1000, 1000], not {oom}")
    f.unsupported("ioPriority", "the Sentry schedules I/O itself")
    f.unsupported("scheduler", "the Sentry schedules its tasks itself")
    f.unsupported("execCPUAffinity", "not implemented")
    caps_f = f.object("capabilities")
    return Process(
        args=args,
        env=env,
        cwd=cwd,
        user=_parse_user(user_f) if user_f is not None else User(),
        terminal=f.flag("terminal"),
        console_size=console,
        capabilities=_parse_capabilities(caps_f) if caps_f is not None else None,
        rlimits=tuple(rlimits),
        no_new_privileges=f.flag("noNewPrivileges"),
        oom_score_adj=oom,
        apparmor_profile=f.text("apparmorProfile"),
        selinux_label=f.text("selinuxLabel"),
    )


def _parse_mount(f: _Fields) -> Mount:
    dest = _abs_path(f.text("destination", required=True), f.sub("destination"))
    options = f.strs("options")
    for opt in options:
        if not mountopts.is_known(opt):
            raise SpecError(f.sub("options"), f"unknown mount option {opt!r}")
    mtype = f.text("type")
    # OCI allows a bind mount to be spelled by its options with any (or no)
    # type; normalise so everything downstream sees type "bind".
    if "bind" in options or "rbind" in options:
        mtype = "bind"
    if mtype not in MOUNT_TYPES:
        raise SpecError(
            f.sub("type"),
            f"mount type {mtype!r} is not supported (supported: {', '.join(MOUNT_TYPES)})",
        )
    source = f.text("source")
    if mtype == "bind" and not source:
        raise SpecError(f.sub("source"), "a bind mount needs a source")
    f.unsupported("uidMappings", "idmapped mounts are not implemented")
    f.unsupported("gidMappings", "idmapped mounts are not implemented")
    return Mount(destination=os.path.normpath(dest), type=mtype, source=source, options=options)


def _parse_hooks(f: _Fields) -> Hooks:
    parsed: dict[str, tuple[Hook, ...]] = {}
    for name in HOOK_NAMES:
        hooks = []
        for h in f.objects(name):
            path = _abs_path(h.text("path", required=True), h.sub("path"))
            timeout = h.integer("timeout")
            if timeout is not None and timeout <= 0:
                raise SpecError(h.sub("timeout"), f"must be > 0, not {timeout}")
            env = h.strs("env")
            for i, entry in enumerate(env):
                if "=" not in entry or entry.startswith("="):
                    raise SpecError(f"{h.sub('env')}[{i}]", f"must be KEY=value, not {entry!r}")
            hooks.append(Hook(path=path, args=h.strs("args"), env=env, timeout=timeout))
        parsed[name] = tuple(hooks)
    return Hooks(
        prestart=parsed["prestart"],
        create_runtime=parsed["createRuntime"],
        create_container=parsed["createContainer"],
        start_container=parsed["startContainer"],
        poststart=parsed["poststart"],
        poststop=parsed["poststop"],
    )


def _parse_resources(f: _Fields) -> Resources:
    memory = cpu = pids = None
    mf = f.object("memory")
    if mf is not None:
        swappiness = mf.integer("swappiness", minimum=0)
        if swappiness is not None and swappiness > 100:
            raise SpecError(mf.sub("swappiness"), f"must be in [0, 100], not {swappiness}")
        limit = mf.integer("limit")
        swap = mf.integer("swap")
        if limit is not None and swap is not None and swap > 0 and 0 < swap < limit:
            # runc: memory+swap must be >= memory (cgroup v1 memsw semantics).
            raise SpecError(mf.sub("swap"), f"memory+swap {swap} is lower than memory {limit}")
        memory = MemoryResources(
            limit=limit,
            reservation=mf.integer("reservation"),
            swap=swap,
            swappiness=swappiness,
            disable_oom_killer=mf.flag("disableOOMKiller"),
        )
        mf.unsupported("kernel", "kernel memory limits are deprecated in Linux")
        mf.unsupported("kernelTCP", "kernel memory limits are deprecated in Linux")
    cf = f.object("cpu")
    if cf is not None:
        period = cf.integer("period", minimum=0)
        quota = cf.integer("quota")
        if quota is not None and quota > 0 and period is not None and period < 1000:
            raise SpecError(cf.sub("period"), f"must be at least 1000 (µs), not {period}")
        cpu = CPUResources(
            shares=cf.integer("shares", minimum=0),
            quota=quota,
            period=period,
            cpus=cf.text("cpus"),
            mems=cf.text("mems"),
        )
        cf.unsupported("realtimeRuntime", "real-time scheduling is not virtualised")
        cf.unsupported("realtimePeriod", "real-time scheduling is not virtualised")
    pf = f.object("pids")
    if pf is not None:
        limit = pf.integer("limit", required=True)
        pids = PidsResources(limit=limit if limit is not None else -1)
    # Device rules are accepted and not applied: the Sentry exposes only its
    # own virtual devices, never host device nodes (as runsc does).
    for i, dev in enumerate(f.objects("devices")):
        dev.flag("allow")
        if dev.text("type", "a") not in ("a", "b", "c"):
            raise SpecError(f"{f.sub('devices')}[{i}].type", "must be one of a, b, c")
    for hp in f.objects("hugepageLimits"):
        hp.unsupported("limit", "hugetlb limits are not implemented")
    f.unsupported("blockIO", "block I/O throttling is not implemented")
    f.unsupported("network", "net_cls/net_prio are not implemented")
    f.unsupported("rdma", "RDMA is not available in the sandbox")
    f.unsupported("unified", "raw cgroup v2 files are not implemented")
    return Resources(memory=memory, cpu=cpu, pids=pids)


def _parse_mappings(f: _Fields, key: str) -> tuple[IDMapping, ...]:
    out = []
    for m in f.objects(key):
        out.append(
            IDMapping(
                container_id=m.integer("containerID", required=True, minimum=0) or 0,
                host_id=m.integer("hostID", required=True, minimum=0) or 0,
                size=m.integer("size", required=True, minimum=1) or 1,
            )
        )
    return tuple(out)


def _parse_linux(f: _Fields, hostname: str, domainname: str) -> Linux:
    namespaces = []
    seen: set[str] = set()
    for ns in f.objects("namespaces"):
        ns_type = ns.text("type", required=True)
        if ns_type not in NAMESPACE_TYPES:
            raise SpecError(ns.sub("type"), f"unknown or unsupported namespace type {ns_type!r}")
        if ns_type in seen:
            raise SpecError(ns.sub("type"), f"duplicate namespace {ns_type!r}")
        seen.add(ns_type)
        path = ns.text("path")
        if path:
            _abs_path(path, ns.sub("path"))
        namespaces.append(Namespace(ns_type, path))
    if hostname and "uts" not in seen:
        raise SpecError("hostname", "unable to set hostname without a private UTS namespace")
    if domainname and "uts" not in seen:
        raise SpecError("domainname", "unable to set domainname without a private UTS namespace")
    uid_mappings = _parse_mappings(f, "uidMappings")
    gid_mappings = _parse_mappings(f, "gidMappings")
    if (uid_mappings or gid_mappings) and "user" not in seen:
        raise SpecError("linux.uidMappings", "user namespace mappings need a user namespace")
    sysctl = f.string_map("sysctl")
    for key in sysctl:
        _check_sysctl(key, seen)
    rf = f.object("resources")
    propagation = f.text("rootfsPropagation")
    if propagation and propagation not in mountopts.PROPAGATION_OPTIONS:
        raise SpecError(f.sub("rootfsPropagation"), f"unknown propagation {propagation!r}")
    masked = f.strs("maskedPaths")
    readonly = f.strs("readonlyPaths")
    for key, paths in (("maskedPaths", masked), ("readonlyPaths", readonly)):
        for i, p in enumerate(paths):
            _abs_path(p, f"{f.sub(key)}[{i}]")
    f.unsupported("intelRdt", "Intel RDT is not available in the sandbox")
    f.unsupported("personality", "personality(2) domains are not implemented")
    f.unsupported("timeOffsets", "time namespaces are not implemented")
    f.unsupported("memoryPolicy", "NUMA memory policy is not implemented")
    return Linux(
        namespaces=tuple(namespaces),
        uid_mappings=uid_mappings,
        gid_mappings=gid_mappings,
        cgroups_path=f.text("cgroupsPath"),
        resources=_parse_resources(rf) if rf is not None else Resources(),
        sysctl=sysctl,
        masked_paths=masked,
        readonly_paths=readonly,
        rootfs_propagation=propagation,
    )


def _check_sysctl(key: str, namespaces: set[str]) -> None:
    """Allow only sysctls of a namespace the container owns (runc's rule)."""
    where = f"linux.sysctl[{key!r}]"
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if "ipc" not in namespaces:
            raise SpecError(where, "is not allowed in the host's IPC namespace")
        return
    if key in _UTS_SYSCTLS:
        if "uts" not in namespaces:
            raise SpecError(where, "is not allowed in the host's UTS namespace")
        return
    if key.startswith("net."):
        if "network" not in namespaces:
            raise SpecError(where, "is not allowed in the host's network namespace")
        return
    raise SpecError(where, "is not in a separate kernel namespace")


def parse_process(raw: Any, where: str = "process") -> Process:
    """Validate a lone ``process`` object (``exec --process FILE``)."""
    return _parse_process(_Fields(raw, where))


def parse(raw: Any, bundle: str = "") -> Spec:
    """Validate a decoded ``config.json``; relative root paths join ``bundle``."""
    top = _Fields(raw, "")
    version = top.text("ociVersion", required=True)
    if not version.startswith("1."):
        raise SpecError("ociVersion", f"unsupported version {version!r} (need 1.x)")
    root_f = top.object("root")
    if root_f is None:
        raise SpecError("root", "is required")
    root_path = root_f.text("path", required=True)
    if not os.path.isabs(root_path):
        root_path = os.path.join(bundle or os.getcwd(), root_path)
    process_f = top.object("process")
    hostname = top.text("hostname")
    domainname = top.text("domainname")
    linux_f = top.object("linux")
    hooks_f = top.object("hooks")
    for other in ("solaris", "windows", "vm", "zos"):
        top.unsupported(other, "pysandbox runs Linux containers only")
    return Spec(
        oci_version=version,
        root=Root(path=os.path.normpath(root_path), readonly=root_f.flag("readonly")),
        process=_parse_process(process_f) if process_f is not None else None,
        hostname=hostname,
        domainname=domainname,
        mounts=tuple(_parse_mount(m) for m in top.objects("mounts")),
        hooks=_parse_hooks(hooks_f) if hooks_f is not None else Hooks(),
        annotations=top.string_map("annotations"),
        linux=_parse_linux(linux_f, hostname, domainname)
        if linux_f is not None
        else _parse_linux(_Fields({}, "linux"), hostname, domainname),
        bundle=bundle,
        raw=raw,
    )


def loads(text: str | bytes, bundle: str = "") -> Spec:
    """Parse ``config.json`` text; a JSON syntax error names line and column."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            CONFIG_FILE, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeDecodeError:
        raise SpecError(CONFIG_FILE, "is not UTF-8") from None
    return parse(raw, bundle)


def load(bundle: str) -> Spec:
    """Load and validate ``<bundle>/config.json`` (bundle made absolute)."""
    bundle = os.path.abspath(bundle)
    path = os.path.join(bundle, CONFIG_FILE)
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise SpecError(CONFIG_FILE, f"not found in bundle {bundle}") from None
    except OSError as exc:
        raise SpecError(CONFIG_FILE, f"cannot read {path}: {exc.strerror}") from None
    spec = loads(text, bundle)
    if spec.process is None:
        # runc requires process for create/run; so do we.
        raise SpecError("process", "is required")
    return spec


def load_for_boot(fd: int, bundle: str) -> Spec:
    """Read the spec from a donated FD (seed ``ReadSpecFromFile``); rewinds it first.

    The FD is re-read after each re-exec, hence the seek.
    """
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return loads(b"".join(chunks), bundle)


def default_spec() -> dict[str, Any]:
    """What ``pysandbox spec`` writes: runc's default spec with our hostname.

    ``process.terminal`` is true and ``args`` is ``["sh"]``, as runc writes it.
    """
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "ambient": caps,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pysandbox",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": [
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
            },
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }

"""Runtime options: what containerd passes, the ``pysandbox.toml`` they name,
and the copy persisted in the bundle for ``delete``.

Options reach the shim as a ``google.protobuf.Any`` on the stdin of
``start`` (containerd 1.6-2.2), inside ``BootstrapParams.extensions`` (2.3+)
and again in ``CreateTaskRequest.options`` (reference §1.10). ``delete`` gets
none, so what it needs is saved in the bundle at ``start``/``Create``.

Accepted option types: ``runtimeoptions.v1.Options`` (CRI and ``ctr
--runtime-config-path``; ``ConfigPath`` names a TOML file, 1.7+ may inline it
as ``config_body``), ``cri.runtimeoptions.v1.Options`` (containerd ≤1.4, same
fields). Others that clients are known to send (``containerd.runc.v1.Options``,
``containerd.linux.runc.CreateOptions`` from ``ctr run --no-pivot``) carry
nothing for us and are ignored with a log line, never an error.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from dataclasses import asdict, dataclass, fields
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError

from protos import typeurl
from protos.containerd.runtime.bootstrap.v1 import bootstrap_pb2
from protos.containerd.runtimeoptions.v1 import api_pb2
from runtime.config import DEFAULT_ROOT, RuntimeConfig
from runtime.errors import UsageError
from runtime.state import write_atomic

log = logging.getLogger("pysandbox.shim")

OPTIONS_FILE = "pysandbox-shim.json"
"""Resolved configuration saved in the bundle (read back by ``delete``)."""

_RUNTIMEOPTIONS = {"runtimeoptions.v1.Options", "cri.runtimeoptions.v1.Options"}
# containerd ids: ^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$ (identifiers/validate.go).
_MAX_STDIN = 10 << 20


class OptionsError(Exception):
    """Options or the configuration file they name cannot be used."""


@dataclass(frozen=True)
class ShimConfig:
    """``pysandbox.toml``: how the shim runs sandboxes, and where it logs.

    ``root``, ``platform``, ``network``, ``debug``, ``log``, ``log_format``,
    ``directfs`` and ``systemd_cgroup`` are the runtime's global flags
    (``runtime.config.RuntimeConfig``); ``shim_log`` is an extra file the
    shim appends its own log to, beside containerd's ``log`` FIFO. ``%ID%``
    in ``log``/``shim_log`` is replaced by the container id (as runsc.toml).
    ``zygote`` (default on) starts boot and gofer processes by forking a
    warm process that already imported them (``runtime.zygote``) instead of
    a new interpreter each: about 0.25 s less per sandbox.
    """

    root: str = DEFAULT_ROOT
    platform: str = "ptrace"
    network: str = "sandbox"
    debug: bool = False
    log: str = ""
    log_format: str = "text"
    directfs: bool = True
    systemd_cgroup: bool = False
    shim_log: str = ""
    zygote: bool = True

    def runtime_config(self, container_id: str = "") -> RuntimeConfig:
        """The runtime library's configuration for ``container_id``."""
        try:
            return RuntimeConfig(
                root=self.root,
                log=self.log.replace("%ID%", container_id),
                log_format=self.log_format,
                debug=self.debug,
                platform=self.platform,
                network=self.network,
                directfs=self.directfs,
                systemd_cgroup=self.systemd_cgroup,
            )
        except UsageError as exc:
            raise OptionsError(f"pysandbox config: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], where: str) -> ShimConfig:
        """Build from a TOML/JSON table; unknown keys and wrong types are errors."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise OptionsError(
                    f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})"
                )
            want = bool if known[key].type in ("bool", bool) else str
            if not isinstance(value, want):
                raise OptionsError(
                    f"{where}: {key} must be a {want.__name__}, not {type(value).__name__}"
                )
            values[key] = value
        config = cls(**values)
        config.runtime_config()  # validates platform/network/log_format
        return config


def load_toml(text: str, where: str) -> ShimConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise OptionsError(f"{where}: not valid TOML: {exc}") from exc
    return ShimConfig.from_mapping(data, where)


def load_file(path: str) -> ShimConfig:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise OptionsError(f"cannot read pysandbox config {path}: {exc.strerror}") from exc
    return load_toml(text, path)


def config_from_options(options: any_pb2.Any | None) -> ShimConfig:
    """The configuration an options Any names; defaults when there is none."""
    if options is None or not options.type_url:
        return ShimConfig()
    name = typeurl.type_name(options)
    if name not in _RUNTIMEOPTIONS:
        log.info("ignoring runtime options of type %s (nothing for pysandbox)", name)
        return ShimConfig()
    opts = api_pb2.Options()
    try:
        opts.ParseFromString(options.value)
    except DecodeError as exc:
        raise OptionsError(f"runtime options {name}: undecodable: {exc}") from exc
    if opts.config_path:
        return load_file(opts.config_path)
    if opts.config_body:
        return load_toml(opts.config_body.decode("utf-8", "replace"), "runtime options body")
    return ShimConfig()


@dataclass
class StartInput:
    """What ``start`` read on stdin."""

    options: any_pb2.Any | None = None
    bootstrap: bootstrap_pb2.BootstrapParams | None = None


def _looks_like_bootstrap(params: bootstrap_pb2.BootstrapParams) -> bool:
    # An Any only has fields 1 and 2; BootstrapParams from containerd always
    # carries addresses or a version, and its instance id cannot hold "/".
    if "/" in params.instance_id or not params.namespace:
        return False
    return bool(
        params.containerd_ttrpc_address
        or params.containerd_grpc_address
        or params.containerd_version
        or params.extensions
    )


def parse_start_stdin(data: bytes) -> StartInput:
    """Tell BootstrapParams (2.3+), a bare options Any (≤2.2) and nothing apart."""
    if not data:
        return StartInput()
    if len(data) > _MAX_STDIN:
        raise OptionsError(f"start: {len(data)} bytes on stdin is more than any options")
    params = bootstrap_pb2.BootstrapParams()
    try:
        params.ParseFromString(data)
        is_bootstrap = _looks_like_bootstrap(params)
    except DecodeError:
        is_bootstrap = False
    if is_bootstrap:
        options = next(
            (ext.value for ext in params.extensions if ext.HasField("value")),
            None,
        )
        return StartInput(options=options, bootstrap=params)
    options = any_pb2.Any()
    try:
        options.ParseFromString(data)
    except DecodeError as exc:
        raise OptionsError(f"start: stdin is neither BootstrapParams nor an Any: {exc}") from exc
    if not options.type_url:
        raise OptionsError("start: stdin holds an Any without a type URL")
    return StartInput(options=options)


def save(bundle: str, config: ShimConfig) -> None:
    """Persist ``config`` in the bundle (atomically) for a later ``delete``."""
    write_atomic(
        os.path.join(bundle, OPTIONS_FILE), json.dumps(config.to_json()).encode(), mode=0o600
    )


def load_saved(bundle: str) -> ShimConfig | None:
    """The configuration saved by :func:`save`, or None if there is none."""
    try:
        with open(os.path.join(bundle, OPTIONS_FILE), encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OptionsError(f"saved shim options in {bundle}: {exc}") from exc
    if not isinstance(data, dict):
        raise OptionsError(f"saved shim options in {bundle}: not an object")
    return ShimConfig.from_mapping(data, os.path.join(bundle, OPTIONS_FILE))

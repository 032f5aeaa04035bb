"""``pysandbox features``: what this runtime supports (OCI features.md JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from runtime import mountopts
from runtime._version import __version__
from runtime.capabilities import CAPABILITIES
from runtime.cli._args import exactly
from runtime.config import RuntimeConfig
from runtime.spec import HOOK_NAMES, NAMESPACE_TYPES

HELP = "show the features this runtime supports"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)


def features() -> dict[str, Any]:
    """The features document (opencontainers/runtime-spec features.md)."""
    options = sorted(
        {*mountopts.FLAG_OPTIONS, *mountopts.PROPAGATION_OPTIONS} - {"defaults"} | {"defaults"}
    )
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": list(HOOK_NAMES),
        "mountOptions": options,
        "linux": {
            "namespaces": sorted(NAMESPACE_TYPES),
            "capabilities": list(CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            # The Sentry is the container's kernel; host seccomp/apparmor/selinux
            # profiles for the container's processes do not apply.
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"io.github.pysandbox.version": __version__},
    }


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    exactly(ns, 0)
    sys.stdout.write(json.dumps(features(), indent=4) + "\n")
    return 0

"""Shared fixtures for the runtime tests: a minimal valid OCI bundle."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from runtime.spec import default_spec


def minimal_config() -> dict[str, Any]:
    cfg = copy.deepcopy(default_spec())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/true"]
    return cfg


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(minimal_config()))
    return tmp_path

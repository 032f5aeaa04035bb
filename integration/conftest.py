"""Fixtures for end-to-end tests against real containerd and its shims.

``containerd``: a private containerd per test (see integration/containerd.py),
skipped with the reason when this host cannot run one. A test can ask for
another configuration with indirect parametrization::

    @pytest.mark.parametrize("containerd", [ContainerdConfig(cri=True)], indirect=True)

``busybox_image``: the busybox OCI image, imported into that containerd's
"default" namespace; yields its ref.

``ctr_events``: an :class:`EventWatcher` (``ctr events``) already subscribed
to that containerd.

``sentry_platform``: every Sentry test runs once per platform back end
(ptrace, kvm), skipped with the probe's reason where the back end cannot
run; ``harness.run_sentry`` uses it for the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integration.containerd import (
    ContainerdConfig,
    EventWatcher,
    PrivateContainerd,
    find_static_busybox,
    import_busybox_image,
    missing_requirements,
    private_containerd,
)
from integration.syscalls import harness


@pytest.fixture(
    params=[
        pytest.param(name, marks=getattr(pytest.mark, name), id=name) for name in harness.PLATFORMS
    ]
)
def sentry_platform(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str = request.param
    reason = harness.platform_skip_reason(name)
    if reason:
        pytest.skip(reason)
    monkeypatch.setattr(harness, "platform", name)
    return name


@pytest.fixture
def containerd(request: pytest.FixtureRequest) -> Iterator[PrivateContainerd]:
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"private containerd: {reason}")
    config = getattr(request, "param", None) or ContainerdConfig()
    if not isinstance(config, ContainerdConfig):
        raise TypeError(f"containerd fixture parameter must be a ContainerdConfig, not {config!r}")
    with private_containerd(config) as daemon:
        yield daemon


@pytest.fixture
def busybox_image(containerd: PrivateContainerd) -> str:
    if find_static_busybox() is None:
        pytest.skip("needs a static busybox at /bin/busybox (apt-get install busybox-static)")
    return import_busybox_image(containerd)


@pytest.fixture
def ctr_events(containerd: PrivateContainerd) -> Iterator[EventWatcher]:
    watcher = EventWatcher(containerd)
    try:
        yield watcher
    finally:
        watcher.close()

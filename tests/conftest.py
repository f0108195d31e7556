"""Shared test plumbing: root-only tests skip with a reason; host-touching fixtures clean up."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

IS_ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root (network namespaces, nftables, containerd); CI runs as root")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def unique_name(prefix: str) -> str:
    """A short unique name for host objects a test creates (interface names max 15 chars)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh, empty network namespace, deleted after the test even when it fails."""
    name = unique_name("kltest-")
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)

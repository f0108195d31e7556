"""Pod cgroups on the host's real cgroup tree, inside this test's own cgroup root.

The kubelet's PodContainerManager removes ``<root>/<qos>/pod<uid>`` in every mounted hierarchy after a
pod is gone, killing what is left in it first, and sweeps the cgroups of pods it does not know.
Everything is made under a unique root (``/kubelite-test-cg-<hex>``) and removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelite.agent.kubelet.pod_container_manager import PodContainerManager, cgroup_mount_points

pytestmark = [pytest.mark.root, pytest.mark.integration]


@pytest.fixture
def cgroup_root() -> Iterator[str]:
    root = f"/kubelite-test-cg-{uuid.uuid4().hex[:10]}"
    try:
        yield root
    finally:
        for hierarchy in cgroup_mount_points():
            top = hierarchy / root.lstrip("/")
            for directory, _, _ in os.walk(top, topdown=False) if top.is_dir() else ():
                with contextlib.suppress(OSError):
                    os.rmdir(directory)


def _make_pod(root: str, tier: str, uid: str) -> list[Path]:
    made = []
    for hierarchy in cgroup_mount_points():
        leaf = hierarchy / root.lstrip("/") / tier / f"pod{uid}" / "container1"
        leaf.mkdir(parents=True)
        made.append(leaf)
    return made


def test_destroy_kills_leftovers_and_removes_the_pod_cgroup_everywhere(cgroup_root: str) -> None:
    uid = str(uuid.uuid4())
    leaves = _make_pod(cgroup_root, "burstable", uid)
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        placed = 0
        for leaf in leaves:
            with contextlib.suppress(OSError):  # e.g. cpuset needs cpus/mems before it takes a task
                (leaf / "cgroup.procs").write_text(str(sleeper.pid))
                placed += 1
        assert placed > 0
        manager = PodContainerManager(cgroup_root=cgroup_root)
        assert manager.pod_uids() == {uid}
        assert manager.destroy(uid) is True
        assert sleeper.wait(timeout=10) == -9
        for leaf in leaves:
            assert not leaf.parent.exists(), leaf.parent
            assert leaf.parent.parent.is_dir()  # the QoS level stays, as upstream's
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()


def test_orphan_sweep_removes_empty_pods_that_are_not_active_and_never_kills(cgroup_root: str) -> None:
    keep, gone, alive = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    _make_pod(cgroup_root, "besteffort", keep)
    _make_pod(cgroup_root, "", gone)
    leaves = _make_pod(cgroup_root, "burstable", alive)  # as another node's live pod under the same root
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        placed = 0
        for leaf in leaves:
            with contextlib.suppress(OSError):
                (leaf / "cgroup.procs").write_text(str(sleeper.pid))
                placed += 1
        assert placed > 0
        manager = PodContainerManager(cgroup_root=cgroup_root)
        assert manager.pod_uids() == {keep, gone, alive}
        assert manager.cleanup_orphans({keep}) == []  # just made: a runtime may be creating them
        assert manager.cleanup_orphans({keep}, min_age=0) == [gone]
        assert manager.pod_uids() == {keep, alive} and sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()

"""PodContainerManager on plain directories standing in for cgroup hierarchies (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelite.agent.kubelet.pod_container_manager import PodContainerManager, cgroup_mount_points

MOUNTINFO = """\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
31 22 0:27 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu
32 22 0:28 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
33 22 0:29 / /sys/fs/cgroup/with\\040blank rw - cgroup cgroup rw,pids
34 22 0:30 / /run/netns rw - tmpfs tmpfs rw
"""


def test_mount_points_are_every_cgroup_and_cgroup2_mount() -> None:
    assert cgroup_mount_points(mountinfo=MOUNTINFO) == [
        Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/unified"),
        Path("/sys/fs/cgroup/with blank")]


@pytest.fixture
def tree(tmp_path: Path) -> tuple[PodContainerManager, list[Path]]:
    hierarchies = [tmp_path / "memory", tmp_path / "cpu"]
    for h in hierarchies:
        (h / "kubepods" / "burstable" / "poda-1" / "sandbox1").mkdir(parents=True)
        (h / "kubepods" / "besteffort" / "podb-2").mkdir(parents=True)
        (h / "kubepods" / "podc-3" / "ctr").mkdir(parents=True)
        (h / "other" / "podd-4").mkdir(parents=True)  # another root: never ours
    return PodContainerManager(cgroup_root="/kubepods", hierarchies=hierarchies), hierarchies


def test_pod_uids_are_found_in_every_qos_tier(tree: tuple[PodContainerManager, list[Path]]) -> None:
    manager, _ = tree
    assert manager.pod_uids() == {"a-1", "b-2", "c-3"}
    assert len(manager.pod_cgroups("a-1")) == 2


def test_destroy_removes_the_pod_level_in_every_hierarchy_and_keeps_the_qos_level(
        tree: tuple[PodContainerManager, list[Path]]) -> None:
    manager, hierarchies = tree
    assert manager.destroy("a-1") is True
    for h in hierarchies:
        assert not (h / "kubepods" / "burstable" / "poda-1").exists()
        assert (h / "kubepods" / "burstable").is_dir()
        assert (h / "kubepods" / "podc-3").is_dir()
    assert manager.destroy("a-1") is True  # idempotent


def test_orphans_are_the_pods_not_active(tree: tuple[PodContainerManager, list[Path]]) -> None:
    manager, hierarchies = tree
    assert manager.cleanup_orphans({"b-2"}) == []  # all just made: maybe a runtime creating them right now
    assert manager.cleanup_orphans({"b-2"}, min_age=0) == ["a-1", "c-3"]
    assert manager.pod_uids() == {"b-2"}
    assert all((h / "other" / "podd-4").is_dir() for h in hierarchies)


def test_an_orphan_with_a_process_in_it_is_left_alone(tree: tuple[PodContainerManager, list[Path]]) -> None:
    manager, hierarchies = tree
    (hierarchies[1] / "kubepods" / "podc-3" / "ctr" / "cgroup.procs").write_text(f"{os.getpid()}\n")
    assert manager.cleanup_orphans({"b-2"}, min_age=0) == ["a-1"]  # c-3 may be another node's live pod
    assert manager.pod_uids() == {"b-2", "c-3"}


def test_a_busy_cgroup_is_reported_and_left_for_the_next_sweep(tree: tuple[PodContainerManager, list[Path]]) -> None:
    manager, hierarchies = tree
    busy = hierarchies[0] / "kubepods" / "podc-3" / "ctr" / "notes"  # rmdir fails as on a populated cgroup
    busy.write_text("x")
    assert manager.destroy("c-3") is False
    assert manager.cleanup_orphans({"a-1", "b-2"}, min_age=0) == []
    busy.unlink()
    assert manager.cleanup_orphans({"a-1", "b-2"}, min_age=0) == ["c-3"]


@pytest.mark.parametrize("uid", ["../../etc", "a/b", ""], ids=["dotdot", "slash", "empty"])
def test_a_uid_that_is_not_a_uid_names_no_directory(tree: tuple[PodContainerManager, list[Path]], uid: str) -> None:
    manager, _ = tree
    assert manager.pod_cgroups(uid) == []
    assert manager.destroy(uid) is True

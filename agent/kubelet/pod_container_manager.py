"""Pod-level cgroups: find them on the host and remove them once their pod is gone.

Design (upstream pkg/kubelet/cm/pod_container_manager_linux.go and the kubelet's
cleanupOrphanedPodCgroups)
-------------------------------------------------------------------------------------------------
With the cgroupfs driver every pod lives in ``<cgroup-root>[/burstable|/besteffort]/pod<uid>``
(container_config.cgroup_parent), in each mounted cgroup v1 hierarchy or in the one v2 tree. The
runtime (runc) creates that directory on the way to the sandbox's and containers' own cgroups, but
removes only the cgroups it made for them: the pod level stays behind, one directory per pod and
hierarchy, for ever. Upstream's kubelet owns the pod cgroup (its pod container manager creates it
before the sandbox and destroys it after); kubelite does the destroying half:

* `PodContainerManager.destroy` after the kubelet removed a pod's sandboxes: SIGKILL whatever is still
  in the pod's cgroups (upstream tryKillingCgroupProcesses; normally nothing, the runtime stopped it
  all), then rmdir every directory deepest first, in every hierarchy.
* `PodContainerManager.cleanup_orphans` on the kubelet's housekeeping tick: ``pod<uid>`` directories of
  pods the kubelet does not know (an agent that crashed between removing a sandbox and its cgroup, or
  ran with an older version) are removed too, as upstream's HandlePodCleanups does, but, unlike
  upstream, only when no process is left in them and they are older than ``min_age``: nothing is
  killed. Several kubelite nodes may run side by side on one host with the same cgroup root (the
  default ``/kubepods``, each with its own containerd): another node's live pod must never look like an
  orphan of ours, and a pod cgroup its runtime is creating right now is younger than ``min_age``.

Only directories under the configured root whose names are ``pod<uid>`` are ever touched, so a
test's or another node's cgroup root is never walked. The QoS directories and the root itself stay,
as upstream leaves ``kubepods``, ``burstable`` and ``besteffort`` in place. The systemd driver's
slices are systemd's to remove; this manager is used with the cgroupfs driver only.
All methods do blocking file-system work: call them from a thread.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

__all__ = ["POD_PREFIX", "QOS_TIERS", "PodContainerManager", "cgroup_mount_points"]

log = logging.getLogger(__name__)

POD_PREFIX: Final = "pod"
QOS_TIERS: Final = ("", "burstable", "besteffort")
"""Where pods sit under the root: Guaranteed directly, the other classes in their QoS directory."""
_UID: Final = re.compile(r"^[0-9a-fA-F-]{1,64}$")


def cgroup_mount_points(*, mountinfo: str | None = None) -> list[Path]:
    """The mount point of every cgroup (v1) and cgroup2 file system this process sees."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    points: list[Path] = []
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        fields = before.split()
        if not sep or len(fields) < 5 or after.split()[:1] not in (["cgroup"], ["cgroup2"]):
            continue
        # mountinfo escapes blanks and backslashes as octal (\040)
        point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
        if point not in points:
            points.append(point)
    return points


class PodContainerManager:
    """The pod cgroups under one cgroup root, in every hierarchy (cgroupfs driver)."""

    def __init__(self, *, cgroup_root: str, hierarchies: Sequence[Path] | None = None,
                 kill_attempts: int = 5) -> None:
        self.cgroup_root = "/" + cgroup_root.strip("/")
        self.hierarchies = list(hierarchies) if hierarchies is not None else cgroup_mount_points()
        self.kill_attempts = kill_attempts

    def _roots(self) -> list[Path]:
        relative = self.cgroup_root.lstrip("/")
        return [h / relative if relative else h for h in self.hierarchies]

    def pod_cgroups(self, uid: str) -> list[Path]:
        """The existing cgroup directories of pod ``uid`` (any QoS tier, every hierarchy)."""
        if not _UID.match(uid):
            return []
        found = []
        for root in self._roots():
            for tier in QOS_TIERS:
                directory = (root / tier if tier else root) / f"{POD_PREFIX}{uid}"
                if directory.is_dir():
                    found.append(directory)
        return found

    def pod_uids(self) -> set[str]:
        """UIDs of every pod that has a cgroup directory under the root."""
        uids: set[str] = set()
        for root in self._roots():
            for tier in QOS_TIERS:
                parent = root / tier if tier else root
                with contextlib.suppress(OSError):
                    for entry in os.scandir(parent):
                        name = entry.name
                        if name.startswith(POD_PREFIX) and entry.is_dir(follow_symlinks=False) \
                                and _UID.match(name[len(POD_PREFIX):]):
                            uids.add(name[len(POD_PREFIX):])
        return uids

    @staticmethod
    def _pids(directory: Path) -> set[int]:
        pids: set[int] = set()
        for current, _, files in os.walk(directory):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError, ValueError):
                    pids.update(int(p) for p in Path(current, "cgroup.procs").read_text().split())
        return pids

    def destroy(self, uid: str) -> bool:
        """Kill what is left in pod ``uid``'s cgroups and remove them; True when none is left."""
        directories = self.pod_cgroups(uid)
        for attempt in range(self.kill_attempts):
            pids = set().union(*(self._pids(d) for d in directories)) if directories else set()
            if not pids:
                break
            log.info("pod %s: killing %d process(es) left in its cgroup", uid, len(pids))
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02 * (attempt + 1))  # SIGKILL is delivered asynchronously; a dying task keeps rmdir busy
        remaining = False
        for directory in directories:
            remaining |= not self._remove_tree(directory)
        if remaining:
            log.warning("pod %s: its cgroup could not be removed yet (still busy); retrying later", uid)
        return not remaining

    @staticmethod
    def _remove_tree(directory: Path) -> bool:
        # cgroup directories hold only the kernel's control files: rmdir of each, children first
        ok = True
        for current, _, _ in os.walk(directory, topdown=False):
            try:
                os.rmdir(current)
            except FileNotFoundError:
                pass
            except OSError as err:
                if err.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    raise
                ok = False
        return ok

    def cleanup_orphans(self, active: Iterable[str], *, min_age: float = 60.0) -> list[str]:
        """Remove the empty cgroups of pods not in ``active`` (none younger than ``min_age`` seconds).

        Returns the UIDs whose cgroups are gone. A pod cgroup with a process in it is left alone: it may
        belong to another kubelite node sharing this cgroup root.
        """
        keep = set(active)
        removed = []
        now = time.time()
        for uid in sorted(self.pod_uids() - keep):
            directories = self.pod_cgroups(uid)
            try:
                young = any(now - d.stat().st_mtime < min_age for d in directories)
            except FileNotFoundError:
                continue
            if young or any(self._pids(d) for d in directories):
                continue
            if all(self._remove_tree(d) for d in directories):
                removed.append(uid)
        return removed

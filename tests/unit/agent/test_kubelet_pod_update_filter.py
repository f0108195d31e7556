"""What wakes a pod worker: a spec, label, annotation or deletion change does, a status change alone does not
(upstream's RECONCILE); a container start that the running sync made does not either. A container the sync
started that exited before the sync read the runtime back makes the sync run again soon."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any, cast

import pytest

from kubelite.agent.kubelet.kubelet import Kubelet, pods_differ_semantically
from kubelite.agent.kubelet.pleg import CONTAINER_DIED, CONTAINER_STARTED, PodLifecycleEvent

BASE: dict[str, Any] = {
    "metadata": {"uid": "u1", "name": "p", "resourceVersion": "5", "labels": {"a": "1"}},
    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    "status": {"phase": "Pending"},
}


def changed(path: str, value: Any) -> dict[str, Any]:
    pod = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = pod
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return pod


@pytest.mark.parametrize(("new", "differs"), [
    pytest.param(changed("status.phase", "Running"), False, id="status-only"),
    pytest.param(changed("metadata.resourceVersion", "6"), False, id="resource-version-only"),
    pytest.param(changed("metadata.managedFields", [{"manager": "kubelet"}]), False, id="managed-fields-only"),
    pytest.param(changed("spec.activeDeadlineSeconds", 5), True, id="spec"),
    pytest.param(changed("metadata.labels", {"a": "2"}), True, id="labels"),
    pytest.param(changed("metadata.annotations", {"x": "y"}), True, id="annotations"),
    pytest.param(changed("metadata.deletionTimestamp", "2026-01-01T00:00:00Z"), True, id="deletion"),
    pytest.param(changed("metadata.deletionGracePeriodSeconds", 0), True, id="grace"),
])
def test_pods_differ_semantically(new: dict[str, Any], differs: bool) -> None:
    assert pods_differ_semantically(BASE, new) is differs


class _Workers:
    def __init__(self) -> None:
        self.woken: list[str] = []

    def wake(self, uid: str) -> None:
        self.woken.append(uid)


@pytest.mark.parametrize(("event_type", "starting", "synced", "woken"), [
    pytest.param(CONTAINER_STARTED, {"u1"}, {}, False, id="start-made-by-the-running-sync"),
    pytest.param(CONTAINER_STARTED, set(), {}, True, id="start-no-sync-saw"),
    pytest.param(CONTAINER_STARTED, set(), {"c1": "running"}, False, id="start-the-last-sync-saw"),
    pytest.param(CONTAINER_DIED, {"u1"}, {}, True, id="death-during-a-sync"),
])
def test_pleg_events_wake_only_for_news(event_type: str, starting: set[str], synced: dict[str, str],
                                        woken: bool) -> None:
    workers = _Workers()
    kubelet = SimpleNamespace(workers=workers, _starting=starting, _synced_states={"u1": synced})
    Kubelet._on_pleg(cast(Any, kubelet), PodLifecycleEvent(uid="u1", type=event_type, id="c1"))
    assert workers.woken == (["u1"] if woken else [])


class _Reader:
    """read_pod_runtime gives the runtime before the sync's actions, then after them."""

    def __init__(self, *states: Any) -> None:
        self.states = list(states)

    async def read_pod_runtime(self, uid: str) -> Any:
        return self.states.pop(0)


def _runtime(*containers: tuple[str, str]) -> Any:
    return SimpleNamespace(sandboxes=[SimpleNamespace(id="sb", ready=True)],
                           containers=[SimpleNamespace(id=cid, state=state) for cid, state in containers])


async def _sync(before: Any, after: Any, requeue: float | None) -> Any:
    async def apply_actions(pod: Any, state: Any) -> float | None:
        return requeue

    async def write_status(pod: Any, state: Any) -> dict[str, Any]:
        return {"phase": "Running"}

    kubelet = SimpleNamespace(reader=_Reader(before, after), apply_actions=apply_actions, write_status=write_status,
                              _starting=set(), _synced_states={}, evicted=set(),
                              probes=SimpleNamespace(sync=lambda pod, state, pod_ip: None),
                              _pod_ip=lambda pod, state: "10.0.0.5")
    return await Kubelet.sync_pod(cast(Any, kubelet), "u1", copy.deepcopy(BASE), False)


async def test_a_container_that_exits_before_the_sync_reads_it_back_is_synced_again_soon() -> None:
    # the sync started c2 and it had exited when the sync read the runtime back: the relist's ContainerDied for
    # it wakes nobody (the sync saw the exit), so the sync itself asks to run again, or its back-off never shows
    result = await _sync(_runtime(("c1", "exited")), _runtime(("c1", "exited"), ("c2", "exited")), None)
    assert result.requeue_after is not None and result.requeue_after <= 0.1
    result = await _sync(_runtime(("c1", "exited")), _runtime(("c1", "exited"), ("c2", "exited")), 5.0)
    assert result.requeue_after is not None and result.requeue_after <= 0.1


async def test_a_sync_whose_containers_run_or_exited_before_it_waits_for_news() -> None:
    result = await _sync(_runtime(("c1", "exited")), _runtime(("c1", "exited"), ("c2", "running")), None)
    assert result.requeue_after is None
    result = await _sync(_runtime(("c1", "exited")), _runtime(("c1", "exited")), 3.0)
    assert result.requeue_after == 3.0

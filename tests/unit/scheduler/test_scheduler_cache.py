"""The scheduler cache: assume, confirm, forget, expire; nodes and their columns kept current."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scheduler_builders import make_node, make_pod

from kubelite.controlplane.scheduler.cache import SchedulerCache, pod_uid
from kubelite.controlplane.scheduler.nodeinfo import NodeInfo
from kubelite.controlplane.scheduler.snapshot import Snapshot


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def node(name: str, **capacity: str) -> dict[str, Any]:
    return make_node(name).capacity(**(capacity or {"cpu": "4", "memory": "8Gi"})).obj()


def row(cache: SchedulerCache, name: str) -> tuple[int, int, int]:
    """(requested millicores, non-zero millicores, pod count) from the columns."""
    slot = cache.snapshot.slots[name]
    cols = cache.snapshot.columns
    return cols.req_cpu[slot], cols.nz_cpu[slot], cols.pod_count[slot]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> SchedulerCache:
    c = SchedulerCache(ttl=30, now=clock)
    c.add_node(node("n1"))
    c.add_node(node("n2"))
    return c


def test_assumed_pod_counts_at_once_and_is_confirmed_by_the_informer(cache: SchedulerCache) -> None:
    pod = make_pod("a").requests(cpu="1").obj()
    assumed = cache.assume_pod(pod, "n1")
    assert assumed["spec"]["nodeName"] == "n1" and "nodeName" not in pod["spec"]
    assert row(cache, "n1") == (1000, 1000, 1)
    assert cache.is_assumed(pod)
    bound = make_pod("a").requests(cpu="1").node("n1").obj()
    cache.add_pod(bound)
    assert not cache.is_assumed(pod)
    assert row(cache, "n1") == (1000, 1000, 1)  # replaced, not counted twice


def test_forget_undoes_an_assumption(cache: SchedulerCache) -> None:
    pod = make_pod("a").requests(cpu="1", memory="1Gi").obj()
    cache.assume_pod(pod, "n2")
    cache.forget_pod(pod)
    assert row(cache, "n2") == (0, 0, 0)
    assert cache.snapshot.columns.req_mem[cache.snapshot.slots["n2"]] == 0


def test_assumption_expires_ttl_after_binding_unless_confirmed(cache: SchedulerCache, clock: Clock) -> None:
    pod = make_pod("a").requests(cpu="1").obj()
    cache.assume_pod(pod, "n1")
    clock.t = 100
    assert cache.cleanup_expired() == []  # binding still in flight: never expires
    cache.finish_binding(pod)
    clock.t = 129
    assert cache.cleanup_expired() == []
    clock.t = 131
    assert [p["metadata"]["name"] for p in cache.cleanup_expired()] == ["a"]
    assert row(cache, "n1") == (0, 0, 0)


def test_assuming_a_pod_twice_is_refused(cache: SchedulerCache) -> None:
    pod = make_pod("a").obj()
    cache.assume_pod(pod, "n1")
    with pytest.raises(ValueError, match="already in the scheduler cache"):
        cache.assume_pod(pod, "n2")


def test_pods_without_requests_count_as_non_zero_for_scoring(cache: SchedulerCache) -> None:
    cache.add_pod(make_pod("be").container().node("n1").obj())
    assert row(cache, "n1") == (0, 100, 1)


def test_terminal_pods_release_their_resources(cache: SchedulerCache) -> None:
    running = make_pod("a").requests(cpu="2").node("n1").obj()
    cache.add_pod(running)
    cache.update_pod(make_pod("a").requests(cpu="2").node("n1").phase("Succeeded").obj())
    assert row(cache, "n1") == (0, 0, 0)


def test_removed_pod_frees_its_node(cache: SchedulerCache) -> None:
    pod = make_pod("a").requests(cpu="2").node("n2").obj()
    cache.add_pod(pod)
    cache.remove_pod(pod)
    assert row(cache, "n2") == (0, 0, 0)


def test_pod_seen_before_its_node_is_counted_when_the_node_arrives(cache: SchedulerCache) -> None:
    cache.add_pod(make_pod("early").requests(cpu="1").node("n3").obj())
    cache.add_node(node("n3"))
    assert row(cache, "n3") == (1000, 1000, 1)


def test_node_update_keeps_pods_and_refreshes_columns(cache: SchedulerCache) -> None:
    cache.add_pod(make_pod("a").requests(cpu="1").node("n1").obj())
    cache.update_node(make_node("n1").capacity(cpu="16", memory="8Gi").taint("k", "v").obj())
    slot = cache.snapshot.slots["n1"]
    assert cache.snapshot.columns.alloc_cpu[slot] == 16000
    assert cache.snapshot.columns.blocked[slot] == 1
    assert slot in cache.snapshot.blocked_slots
    assert row(cache, "n1") == (1000, 1000, 1)


def test_removing_a_node_moves_the_last_one_into_its_slot(cache: SchedulerCache) -> None:
    cache.add_node(make_node("n3").capacity(cpu="8", memory="8Gi").taint("k", effect="PreferNoSchedule").obj())
    cache.remove_node(node("n1"))
    snap = cache.snapshot
    assert [info.name for info in snap] == ["n3", "n2"]
    assert snap.slots == {"n3": 0, "n2": 1}
    assert snap.columns.alloc_cpu.tolist() == [8000, 4000]
    assert snap.prefer_slots == {0}
    assert len(snap.columns) == 2


def test_snapshot_from_infos_matches_the_node_infos() -> None:
    infos = [make_node("a").capacity(cpu="2", memory="1Gi").unschedulable().info(make_pod("p").requests(cpu="1").obj()),
             make_node("b").capacity(cpu="1", memory="2Gi").info()]
    snap = Snapshot.from_infos(infos)
    assert snap.columns.req_cpu.tolist() == [1000, 0]
    assert snap.columns.alloc_mem.tolist() == [1024**3, 2 * 1024**3]
    assert snap.blocked_slots == {0}
    with pytest.raises(ValueError, match="already in the snapshot"):
        snap.add(infos[0])


# ---- an update with the same spec swaps the object in place: the same state as a rebuild ------------

_ANTI = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
    {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname"}]}}


def _variant_pod(index: int, variant: int, *, node_name: str | None = None, labels: int = 0,
                 phase: str | None = None) -> dict[str, Any]:
    builder = make_pod(f"p{index}").requests(cpu=("100m", "1")[variant % 2])
    if variant & 2:
        builder = builder.host_port(8080)
    if node_name:
        builder = builder.node(node_name)
    if phase:
        builder = builder.phase(phase)
    pod = builder.obj()
    if variant & 4:
        pod["spec"]["affinity"] = _ANTI
    pod["metadata"]["labels"] = {"app": "x", "rev": str(labels)}
    return pod


_OPS = st.lists(st.tuples(st.sampled_from(["assume", "add", "add", "remove", "forget"]), st.integers(0, 3),
                          st.sampled_from([0, 0, 1]), st.sampled_from([0, 0, 0, 1, 2, 4, 6, 7]), st.integers(0, 2),
                          st.sampled_from([None, "Running", "Succeeded"])), max_size=40)


@settings(max_examples=300, deadline=None)
@given(ops=_OPS)
def test_incremental_updates_equal_a_cache_built_from_the_final_objects(
        ops: list[tuple[str, int, int, int, int, str | None]]) -> None:
    cache = SchedulerCache(ttl=30, now=Clock())
    for name in ("n0", "n1"):
        cache.add_node(node(name))
    for op, index, node_index, variant, labels, phase in ops:
        node_name = f"n{node_index}"
        if op == "assume":
            pod = _variant_pod(index, variant)
            if not cache.is_assumed(pod) and pod_uid(pod) not in cache._pods:
                cache.assume_pod(pod, node_name)
        elif op == "add":
            cache.add_pod(_variant_pod(index, variant, node_name=node_name, labels=labels, phase=phase))
        elif op == "remove":
            cache.remove_pod(_variant_pod(index, variant))
        else:
            cache.forget_pod(_variant_pod(index, variant))
    for name in ("n0", "n1"):
        live = cache.snapshot.get(name)
        assert live is not None
        placed = [state.pod for state in cache._pods.values() if state.node_name == name]
        rebuilt = NodeInfo.build(node=live.node, pods=placed)
        key = pod_uid
        assert sorted(map(key, live.pods)) == sorted(map(key, rebuilt.pods))
        assert all(any(p is q for q in placed) for p in live.pods)  # the cache's own objects, not stale ones
        assert live.requested == rebuilt.requested and live.non_zero_requested == rebuilt.non_zero_requested
        assert sorted(map(repr, live.used_ports)) == sorted(map(repr, rebuilt.used_ports))
        assert sorted(map(key, live.pods_with_affinity)) == sorted(map(key, rebuilt.pods_with_affinity))
        assert (sorted(map(key, live.pods_with_required_anti_affinity))
                == sorted(map(key, rebuilt.pods_with_required_anti_affinity)))
        expected = Snapshot.from_infos([rebuilt])
        slot = cache.snapshot.slots[name]
        for column in ("req_cpu", "req_mem", "nz_cpu", "nz_mem", "pod_count"):
            assert getattr(cache.snapshot.columns, column)[slot] == getattr(expected.columns, column)[0], column
        assert (slot in cache.snapshot.anti_affinity_slots) == bool(rebuilt.pods_with_required_anti_affinity)


def test_a_status_update_swaps_the_object_without_recounting(cache: SchedulerCache) -> None:
    pod = make_pod("a").requests(cpu="1").node("n1").obj()
    cache.add_pod(pod)
    running = {**pod, "status": {"phase": "Running"}, "metadata": {**pod["metadata"], "labels": {"v": "2"}}}
    cache.add_pod(running)
    info = cache.snapshot.get("n1")
    assert info is not None and info.pods == [running] and info.pods[0] is running
    assert row(cache, "n1") == (1000, 1000, 1)
    cache.add_pod({**running, "status": {"phase": "Succeeded"}})  # a finished pod frees its room
    assert row(cache, "n1") == (0, 0, 0)

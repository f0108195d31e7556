"""DefaultPreemption: victims of lower priority, reprieves, PDBs, node choice, upstream's messages."""

from __future__ import annotations

import random
from typing import Any

from scheduler_builders import make_node, make_pod

from kubelite.controlplane.scheduler import FitError, Framework, NodeInfo, default_profile
from kubelite.controlplane.scheduler.framework import Handle
from kubelite.controlplane.scheduler.plugins import in_tree_registry
from kubelite.controlplane.scheduler.plugins.default_preemption import Candidate, pick_one, split_by_pdb
from kubelite.controlplane.scheduler.waiting_pods import WaitingPod, WaitingPods


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, involved: dict[str, Any], *, event_type: str, reason: str, message: str) -> None:
        self.events.append((involved["metadata"]["name"], reason, message))


def prio(builder: Any, priority: int, *, start: str = "2026-01-01T00:00:00Z",
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = builder.obj()
    pod["spec"]["priority"] = priority
    pod["status"] = {"startTime": start}
    if labels:
        pod["metadata"]["labels"] = labels
    return pod


def schedule(pod: dict[str, Any], infos: list[NodeInfo], *, pdbs: list[dict[str, Any]] | None = None,
             recorder: Recorder | None = None, waiting_pods: WaitingPods | None = None) -> FitError:
    handle = Handle(pdbs=lambda: pdbs or [], recorder=recorder, waiting_pods=waiting_pods)
    fw = Framework(profile=default_profile(), registry=in_tree_registry(handle), rng=random.Random(1))
    result = fw.schedule(pod=pod, nodes=infos)
    assert isinstance(result, FitError), result
    return result


def test_lower_priority_pods_make_room_and_the_node_is_nominated() -> None:
    old = prio(make_pod("old").requests(cpu="1").node("n1"), 0, start="2026-01-01T00:00:00Z")
    new = prio(make_pod("new").requests(cpu="1").node("n1"), 0, start="2026-02-01T00:00:00Z")
    infos = [make_node("n1").capacity(cpu="2", memory="4Gi").info(old, new)]
    recorder = Recorder()
    result = schedule(prio(make_pod("vip").requests(cpu="1"), 100), infos, recorder=recorder)
    assert result.nominated_node_name == "n1"
    assert result.message == "0/1 nodes are available: 1 Insufficient cpu."
    # one victim is enough, and it is the less important one (started later)
    assert recorder.events == [("new", "Preempted", "Preempted by pod uid-vip on node n1")]


async def test_a_victim_waiting_at_permit_is_rejected_there_not_deleted() -> None:
    victim = prio(make_pod("gang-member").requests(cpu="2").node("n1"), 0)
    infos = [make_node("n1").capacity(cpu="2", memory="4Gi").info(victim)]
    waiting = WaitingPods()
    held = WaitingPod(victim, "n1", {"Gang": 60.0})
    waiting.add(held)
    schedule(prio(make_pod("vip").requests(cpu="2"), 100), infos, waiting_pods=waiting)
    status = await held.wait()
    assert status is not None and status.message == "preempted" and status.plugin == "DefaultPreemption"


def test_no_lower_priority_pods_means_no_victims() -> None:
    infos = [make_node("n1").capacity(cpu="1", memory="4Gi").info(
        prio(make_pod("peer").requests(cpu="1").node("n1"), 100))]
    result = schedule(prio(make_pod("p").requests(cpu="1"), 100), infos)
    assert not result.nominated_node_name
    assert result.message == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
                              "1 No preemption victims found for incoming pod..")


def test_preemption_policy_never_does_not_preempt() -> None:
    low = prio(make_pod("low").requests(cpu="1").node("n1"), 0)
    infos = [make_node("n1").capacity(cpu="1", memory="4Gi").info(low)]
    pod = prio(make_pod("p").requests(cpu="1"), 100)
    pod["spec"]["preemptionPolicy"] = "Never"
    result = schedule(pod, infos)
    assert not result.nominated_node_name
    assert result.message.endswith("preemption: not eligible due to preemptionPolicy=Never..")


def test_removing_everything_still_not_enough_keeps_the_filters_reason() -> None:
    low = prio(make_pod("low").requests(cpu="1").node("n1"), 0)
    high = prio(make_pod("high").requests(cpu="1").node("n1"), 500)
    infos = [make_node("n1").capacity(cpu="2", memory="4Gi").info(low, high)]
    result = schedule(prio(make_pod("p").requests(cpu="2"), 100), infos)
    assert result.message.endswith("preemption: 0/1 nodes are available: 1 Insufficient cpu..")


def test_a_pdb_protected_victim_is_spared_when_another_node_will_do() -> None:
    guarded = prio(make_pod("guarded").requests(cpu="1").node("a"), 0, labels={"app": "db"})
    plain = prio(make_pod("plain").requests(cpu="1").node("b"), 0, labels={"app": "web"})
    infos = [make_node("a").capacity(cpu="1", memory="4Gi").info(guarded),
             make_node("b").capacity(cpu="1", memory="4Gi").info(plain)]
    pdb = {"metadata": {"name": "db", "namespace": "default"},
           "spec": {"selector": {"matchLabels": {"app": "db"}}}, "status": {"disruptionsAllowed": 0}}
    recorder = Recorder()
    result = schedule(prio(make_pod("vip").requests(cpu="1"), 10), infos, pdbs=[pdb], recorder=recorder)
    assert result.nominated_node_name == "b"
    assert [e[0] for e in recorder.events] == ["plain"]


def test_split_by_pdb_decrements_the_budget_per_matching_pod() -> None:
    pods = [prio(make_pod(f"p{i}"), 0, labels={"app": "x"}) for i in range(3)]
    pdb = {"metadata": {"namespace": "default"}, "spec": {"selector": {"matchLabels": {"app": "x"}}},
           "status": {"disruptionsAllowed": 2}}
    violating, fine = split_by_pdb(pods, [pdb])
    assert [p["metadata"]["name"] for p in fine] == ["p0", "p1"]
    assert [p["metadata"]["name"] for p in violating] == ["p2"]
    other_ns = {**pdb, "metadata": {"namespace": "other"}}
    assert split_by_pdb(pods, [other_ns]) == ([], pods)


def test_pick_one_prefers_fewer_violations_then_lower_victim_priority_then_fewer_victims() -> None:
    low, mid = prio(make_pod("low"), 1), prio(make_pod("mid"), 5)
    assert pick_one([Candidate("a", [low], 1), Candidate("b", [mid, mid], 0)]).node_name == "b"
    assert pick_one([Candidate("a", [mid]), Candidate("b", [low, low])]).node_name == "b"
    assert pick_one([Candidate("a", [low, low]), Candidate("b", [low])]).node_name == "b"
    early = prio(make_pod("e"), 1, start="2026-01-01T00:00:00Z")
    late = prio(make_pod("l"), 1, start="2026-03-01T00:00:00Z")
    assert pick_one([Candidate("a", [early]), Candidate("b", [late])]).node_name == "b"

"""The framework: profile validation, cycle order, weights, normalization, failure messages, binding."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from scheduler_builders import make_node, make_pod

from kubelite.controlplane.scheduler import (
    Code,
    CycleState,
    ExtensionPoint,
    FitError,
    Framework,
    NodeInfo,
    Profile,
    ProfileError,
    ScheduleFailure,
    ScheduleResult,
    Status,
    default_profile,
    in_tree_registry,
)
from kubelite.controlplane.scheduler.framework import (
    PluginFactory,
    PostFilterResult,
    PreFilterResult,
    default_normalize_score,
)
from kubelite.controlplane.scheduler.nodeinfo import JSON

CP = "node-role.kubernetes.io/control-plane"


# ---- small real plugins used to drive the framework ---------------------------------------------


class FixedScore:
    """Scores nodes from a table, as given."""

    def __init__(self, name: str, table: Mapping[str, int]) -> None:
        self.name = name
        self._table = table

    def score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> tuple[list[int], Status | None]:
        return [self._table.get(info.name, 0) for info in nodes], None


class NormalizedScore(FixedScore):
    """Scores from a table, rescaled so the highest is 100."""

    def normalize_score(self, *, state: CycleState, pod: JSON, scores: list[int]) -> Status | None:
        default_normalize_score(scores=scores, reverse=False)
        return None


class Recorder:
    """Reserve/Permit/PreBind/Bind plugin that records calls and answers from a script."""

    def __init__(self, name: str, log: list[str], *, reserve: Status | None = None,
                 permit: tuple[Status | None, float] = (None, 0.0), bind: Status | None = None) -> None:
        self.name = name
        self._log = log
        self._reserve = reserve
        self._permit = permit
        self._bind = bind

    def reserve(self, *, state: CycleState, pod: JSON, node_name: str) -> Status | None:
        self._log.append(f"reserve {self.name} {node_name}")
        return self._reserve

    def unreserve(self, *, state: CycleState, pod: JSON, node_name: str) -> None:
        self._log.append(f"unreserve {self.name}")

    def permit(self, *, state: CycleState, pod: JSON, node_name: str) -> tuple[Status | None, float]:
        return self._permit

    async def pre_bind(self, *, state: CycleState, pod: JSON, node_name: str) -> Status | None:
        self._log.append(f"prebind {self.name}")
        return None

    async def bind(self, *, state: CycleState, pod: JSON, node_name: str) -> Status | None:
        self._log.append(f"bind {self.name} {node_name}")
        return self._bind


class Narrow:
    """PreFilter plugin narrowing to fixed node names."""

    def __init__(self, name: str, names: frozenset[str]) -> None:
        self.name = name
        self._names = names

    def pre_filter(self, *, state: CycleState, pod: JSON) -> tuple[PreFilterResult | None, Status | None]:
        return PreFilterResult(node_names=self._names), None


class Broken:
    name = "Broken"

    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        return Status.of(Code.ERROR, "disk on fire")


class Preempt:
    name = "Preempt"

    def __init__(self, nominate: str = "") -> None:
        self._nominate = nominate

    def post_filter(self, *, state: CycleState, pod: JSON,
                    node_statuses: Mapping[str, Status]) -> tuple[PostFilterResult | None, Status | None]:
        if self._nominate:
            return PostFilterResult(nominated_node_name=self._nominate), None
        return None, Status.of(Code.UNSCHEDULABLE, f"preemption: 0/{len(node_statuses)} nodes are available: "
                               f"{len(node_statuses)} Preemption is not helpful for scheduling")


def registry_with(*plugins: Any) -> dict[str, PluginFactory]:
    registry = in_tree_registry()
    for plugin in plugins:
        registry[plugin.name] = returning(plugin)
    return registry


def returning(plugin: Any) -> PluginFactory:
    def factory(args: Mapping[str, Any]) -> Any:
        return plugin
    return factory


def framework(points: Mapping[ExtensionPoint, list[str]], *plugins: Any, weights: Mapping[str, int] | None = None,
              seed: int = 0) -> Framework:
    profile = Profile(plugins=points, score_weights=weights or {})
    return Framework(profile=profile, registry=registry_with(*plugins), rng=random.Random(seed))


def nodes(*names: str) -> list[NodeInfo]:
    return [make_node(n).capacity(cpu="4", memory="8Gi").info() for n in names]


# ---- profile validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        pytest.param(Profile(plugins={ExtensionPoint.FILTER: ["Nope"]}),
                     r"plugins.filter: unknown plugin 'Nope' \(known: ", id="unknown-plugin"),
        pytest.param(Profile(plugins={ExtensionPoint.SCORE: ["NodeName"]}),
                     "plugins.score: plugin 'NodeName' does not implement the score extension point",
                     id="missing-extension-point"),
        pytest.param(Profile(plugins={ExtensionPoint.SCORE: ["TaintToleration"]},
                             score_weights={"TaintToleration": 0}),
                     r"plugins.score\[TaintToleration\].weight: must be between 1 and", id="zero-weight"),
        pytest.param(Profile(plugins={ExtensionPoint.FILTER: ["TaintToleration"]},
                             score_weights={"TaintToleration": 2}),
                     "weight given for 'TaintToleration', which is not an enabled score plugin",
                     id="weight-for-non-scorer"),
        pytest.param(Profile(plugins={ExtensionPoint.FILTER: ["NodeResourcesFit"]},
                             plugin_args={"NodeResourcesFit": {"scoringStrategy": {"type": "Weird"}}}),
                     r"pluginConfig\[NodeResourcesFit\]: scoringStrategy.type: unsupported value 'Weird'",
                     id="bad-plugin-args"),
        pytest.param(Profile(plugin_args={"Nope": {}}), "pluginConfig: unknown plugin 'Nope'", id="args-for-unknown"),
    ],
)
def test_bad_profiles_are_rejected_with_the_field(profile: Profile, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        Framework(profile=profile, registry=in_tree_registry())


def test_plugin_listed_twice_is_rejected() -> None:
    profile = Profile(plugins={ExtensionPoint.FILTER: ["NodeName", "TaintToleration", "NodeName"]})
    with pytest.raises(ProfileError, match=r"plugins.filter\[2\]: plugin 'NodeName' is listed twice"):
        Framework(profile=profile, registry=in_tree_registry())


def test_no_nodes() -> None:
    fw = Framework(profile=default_profile(), registry=in_tree_registry())
    result = fw.schedule(pod=make_pod().obj(), nodes=[])
    assert isinstance(result, FitError)
    assert result.message == "no nodes available to schedule pods"


def test_default_profile_builds() -> None:
    fw = Framework(profile=default_profile(), registry=in_tree_registry())
    # upstream's default order (volume plugins aside)
    assert fw.plugins(ExtensionPoint.FILTER) == ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity",
                                                 "NodePorts", "NodeResourcesFit", "PodTopologySpread",
                                                 "InterPodAffinity"]
    assert fw.plugins(ExtensionPoint.SCORE) == ["TaintToleration", "NodeAffinity", "NodeResourcesFit",
                                                "PodTopologySpread", "InterPodAffinity",
                                                "NodeResourcesBalancedAllocation", "ImageLocality"]
    assert fw.plugins(ExtensionPoint.POST_FILTER) == ["DefaultPreemption"]
    assert fw.plugins(ExtensionPoint.BIND) == ["DefaultBinder"]


# ---- failure messages ----------------------------------------------------------------------------


def test_failure_message_aggregates_reasons_like_upstream() -> None:
    fw = Framework(profile=default_profile(), registry=in_tree_registry())
    infos = [make_node("cp1").capacity(cpu="4").taint(CP).info(),
             make_node("w1").capacity(cpu="1").info(),
             make_node("cp2").capacity(cpu="4").taint(CP).info()]
    result = fw.schedule(pod=make_pod().requests(cpu="2").obj(), nodes=infos)
    assert isinstance(result, FitError)
    # DefaultPreemption adds its verdict as upstream does, double full stop included
    assert result.message == ("0/3 nodes are available: 1 Insufficient cpu, "
                              f"2 node(s) had untolerated taint {{{CP}: }}. preemption: 0/3 nodes are available: "
                              "3 Preemption is not helpful for scheduling..")
    assert set(result.node_statuses) == {"cp1", "w1", "cp2"}
    assert result.node_statuses["w1"].plugin == "NodeResourcesFit"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param({}, "no nodes available to schedule pods", id="no-nodes"),
        # upstream sorts "<count> <reason>" strings: "10 ..." sorts before "2 ..."
        pytest.param({"x": Status.of(Code.UNSCHEDULABLE, "a"), "y": Status.of(Code.UNSCHEDULABLE, "a")}
                     | {f"n{i}": Status.of(Code.UNSCHEDULABLE, "b") for i in range(10)},
                     "0/12 nodes are available: 10 b, 2 a.", id="sorted-as-strings"),
        pytest.param({"n1": Status.of(Code.UNSCHEDULABLE, "Insufficient cpu", "Insufficient memory"),
                      "n2": Status.of(Code.UNSCHEDULABLE, "Insufficient cpu")},
                     "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.",
                     id="every-reason-counted"),
    ],
)
def test_fit_error_message(statuses: dict[str, Status], expected: str) -> None:
    assert FitError(pod_key="default/p", num_all_nodes=len(statuses), node_statuses=statuses).message == expected


def test_pre_filter_rejection_message_is_not_repeated_per_node() -> None:
    fw = framework({ExtensionPoint.PRE_FILTER: ["NodeAffinity"]})
    pod = make_pod().required_terms({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]},
                                                     {"key": "metadata.name", "operator": "In", "values": ["b"]}]})
    result = fw.schedule(pod=pod.obj(), nodes=nodes("a", "b"))
    assert isinstance(result, FitError)
    assert result.message == "0/2 nodes are available: pod affinity terms conflict."


def test_pre_filter_narrowing_counts_excluded_nodes() -> None:
    fw = framework({ExtensionPoint.PRE_FILTER: ["Only"], ExtensionPoint.FILTER: ["NodeResourcesFit"]},
                   Narrow("Only", frozenset({"n1"})))
    # NodeResourcesFit's PreFilter is not enabled: its Filter reports the missing state as an Error
    result = fw.schedule(pod=make_pod().obj(), nodes=nodes("n1", "n2"))
    assert isinstance(result, ScheduleFailure)
    fw = framework({ExtensionPoint.PRE_FILTER: ["Only", "NodeResourcesFit"],
                    ExtensionPoint.FILTER: ["NodeResourcesFit"]}, Narrow("Only", frozenset({"n1"})))
    result = fw.schedule(pod=make_pod().requests(cpu="5").obj(), nodes=nodes("n1", "n2", "n3"))
    assert isinstance(result, FitError)
    assert result.message == ("0/3 nodes are available: 1 Insufficient cpu, "
                              "2 node(s) didn't satisfy plugin(s) [Only].")
    fits = fw.schedule(pod=make_pod().requests(cpu="1").obj(), nodes=nodes("n2", "n1"))
    assert fits == ScheduleResult(suggested_host="n1", evaluated_nodes=1, feasible_nodes=1)


@pytest.mark.parametrize(
    ("narrowers", "message"),
    [
        pytest.param([Narrow("A", frozenset())], "node(s) didn't satisfy plugin A", id="one-plugin"),
        pytest.param([Narrow("A", frozenset({"n1"})), Narrow("B", frozenset({"n2"}))],
                     "node(s) didn't satisfy plugin(s) [A, B] simultaneously", id="disjoint"),
    ],
)
def test_empty_pre_filter_intersection(narrowers: list[Narrow], message: str) -> None:
    fw = framework({ExtensionPoint.PRE_FILTER: [n.name for n in narrowers]}, *narrowers)
    result = fw.schedule(pod=make_pod().obj(), nodes=nodes("n1", "n2"))
    assert isinstance(result, FitError)
    assert result.message == f"0/2 nodes are available: {message}."


@pytest.mark.parametrize(
    ("post_filter", "nominated", "suffix"),
    [
        pytest.param(Preempt(), "", " preemption: 0/1 nodes are available: 1 Preemption is not helpful for "
                     "scheduling.", id="message-appended"),
        pytest.param(Preempt(nominate="n1"), "n1", "", id="nominates"),
    ],
)
def test_post_filter(post_filter: Preempt, nominated: str, suffix: str) -> None:
    fw = framework({ExtensionPoint.FILTER: ["NodeName"], ExtensionPoint.POST_FILTER: ["Preempt"]}, post_filter)
    result = fw.schedule(pod=make_pod().node("elsewhere").obj(), nodes=nodes("n1"))
    assert isinstance(result, FitError)
    assert result.nominated_node_name == nominated
    assert result.message == "0/1 nodes are available: 1 node(s) didn't match the requested node name." + suffix


def test_filter_error_fails_the_cycle() -> None:
    result = framework({ExtensionPoint.FILTER: ["Broken"]}, Broken()).schedule(pod=make_pod().obj(), nodes=nodes("n1"))
    assert isinstance(result, ScheduleFailure)
    assert result.message == "running Broken: disk on fire"


# ---- scoring -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "winner"),
    [
        pytest.param({"A": 1, "B": 1}, "n2", id="equal-weights"),  # n1 100+0, n2 60+60
        pytest.param({"A": 3, "B": 1}, "n1", id="weight-tips-it"),  # n1 300, n2 240
    ],
)
def test_weighted_sum_picks_winner(weights: dict[str, int], winner: str) -> None:
    a = FixedScore("A", {"n1": 100, "n2": 60})
    b = FixedScore("B", {"n1": 0, "n2": 60})
    fw = framework({ExtensionPoint.SCORE: ["A", "B"]}, a, b, weights=weights)
    assert fw.run_score(state=CycleState(), pod=make_pod().obj(), nodes=nodes("n1", "n2")) == [
        100 * weights["A"], 60 * weights["A"] + 60 * weights["B"]]
    result = fw.schedule(pod=make_pod().obj(), nodes=nodes("n1", "n2"))
    assert isinstance(result, ScheduleResult)
    assert result.suggested_host == winner


def test_normalize_score_rescales_before_weighting() -> None:
    raw = NormalizedScore("Raw", {"n1": 3, "n2": 12, "n3": 0})
    fw = framework({ExtensionPoint.SCORE: ["Raw"]}, raw, weights={"Raw": 2})
    assert fw.run_score(state=CycleState(), pod=make_pod().obj(), nodes=nodes("n1", "n2", "n3")) == [50, 200, 0]


def test_out_of_range_score_is_an_error() -> None:
    fw = framework({ExtensionPoint.SCORE: ["Raw"]}, FixedScore("Raw", {"n1": 101}))
    result = fw.schedule(pod=make_pod().obj(), nodes=nodes("n1", "n2"))
    assert isinstance(result, ScheduleFailure)
    assert "score 101 for node 'n1' is outside [0, 100]" in result.message


def test_single_feasible_node_skips_scoring() -> None:
    fw = framework({ExtensionPoint.SCORE: ["Raw"]}, FixedScore("Raw", {"n1": 101}))
    assert fw.schedule(pod=make_pod().obj(), nodes=nodes("n1")) == ScheduleResult("n1", 1, 1)


def test_ties_are_broken_by_the_injected_rng() -> None:
    flat = FixedScore("Flat", {"n1": 50, "n2": 50, "n3": 10})
    picks = {
        seed: framework({ExtensionPoint.SCORE: ["Flat"]}, flat, seed=seed).schedule(
            pod=make_pod().obj(), nodes=nodes("n1", "n2", "n3"))
        for seed in range(20)
    }
    hosts = {r.suggested_host for r in picks.values() if isinstance(r, ScheduleResult)}
    assert hosts == {"n1", "n2"}
    again = framework({ExtensionPoint.SCORE: ["Flat"]}, flat, seed=7).schedule(pod=make_pod().obj(),
                                                                                nodes=nodes("n1", "n2", "n3"))
    assert again == picks[7]


@pytest.mark.parametrize(
    ("pod", "winner"),
    [
        pytest.param(make_pod().requests(cpu="1", memory="1Gi").obj(), "idle", id="least-allocated"),
        pytest.param(make_pod().requests(cpu="1").preferred(10, {"matchExpressions": [
            {"key": "disk", "operator": "In", "values": ["ssd"]}]}).obj(), "busy-ssd", id="affinity-outweighs"),
        pytest.param(make_pod().node_selector(disk="ssd").obj(), "busy-ssd", id="selector"),
    ],
)
def test_default_profile_places_pods(pod: dict[str, Any], winner: str) -> None:
    busy = make_pod("busy").requests(cpu="3", memory="6Gi").obj()
    infos = [make_node("busy-ssd").capacity(cpu="4", memory="8Gi").label("disk", "ssd").info(busy),
             make_node("idle").capacity(cpu="4", memory="8Gi").info(),
             make_node("cp").capacity(cpu="8", memory="16Gi").taint(CP).info()]
    fw = Framework(profile=default_profile(), registry=in_tree_registry(), rng=random.Random(1))
    result = fw.schedule(pod=pod, nodes=infos)
    assert isinstance(result, ScheduleResult)
    assert result.suggested_host == winner
    assert result.evaluated_nodes == 3


# ---- binding cycle -------------------------------------------------------------------------------


def test_reserve_failure_unreserves_in_reverse() -> None:
    log: list[str] = []
    ok = Recorder("Ok", log)
    bad = Recorder("Bad", log, reserve=Status.of(Code.UNSCHEDULABLE, "volume gone"))
    fw = framework({ExtensionPoint.RESERVE: ["Ok", "Bad"]}, ok, bad)
    status = fw.run_reserve(state=CycleState(), pod=make_pod().obj(), node_name="n1")
    assert status == Status.of(Code.UNSCHEDULABLE, "volume gone", plugin="Bad")
    assert log == ["reserve Ok n1", "reserve Bad n1", "unreserve Bad", "unreserve Ok"]


@pytest.mark.parametrize(
    ("answers", "code", "timeout"),
    [
        pytest.param([(None, 0.0)], None, 0.0, id="allow"),
        pytest.param([(Status.of(Code.WAIT), 30.0), (Status.of(Code.WAIT), 5.0)], Code.WAIT, 5.0, id="shortest-wait"),
        pytest.param([(Status.of(Code.WAIT), 30.0), (Status.of(Code.UNSCHEDULABLE, "no"), 0.0)], Code.UNSCHEDULABLE,
                     0.0, id="reject-wins"),
    ],
)
def test_permit(answers: list[tuple[Status | None, float]], code: Code | None, timeout: float) -> None:
    plugins = [Recorder(f"P{i}", [], permit=answer) for i, answer in enumerate(answers)]
    fw = framework({ExtensionPoint.PERMIT: [p.name for p in plugins]}, *plugins)
    status, wait = fw.run_permit(state=CycleState(), pod=make_pod().obj(), node_name="n1")
    assert (status.code if status else None, wait) == (code, timeout)


async def test_bind_uses_first_plugin_that_does_not_skip() -> None:
    log: list[str] = []
    skip = Recorder("Skipper", log, bind=Status.of(Code.SKIP))
    binder = Recorder("Binder", log)
    never = Recorder("Never", log)
    fw = framework({ExtensionPoint.PRE_BIND: ["Binder"], ExtensionPoint.BIND: ["Skipper", "Binder", "Never"]},
                   skip, binder, never)
    assert await fw.run_pre_bind(state=CycleState(), pod=make_pod().obj(), node_name="n1") is None
    assert await fw.run_bind(state=CycleState(), pod=make_pod().obj(), node_name="n1") is None
    assert log == ["prebind Binder", "bind Skipper n1", "bind Binder n1"]


async def test_bind_with_every_plugin_skipping_is_an_error() -> None:
    fw = framework({ExtensionPoint.BIND: ["Skipper"]}, Recorder("Skipper", [], bind=Status.of(Code.SKIP)))
    status = await fw.run_bind(state=CycleState(), pod=make_pod().obj(), node_name="n1")
    assert status is not None
    assert status.code is Code.ERROR


@pytest.mark.parametrize(
    ("scores", "reverse", "expected"),
    [
        pytest.param([0, 0], False, [0, 0], id="all-zero"),
        pytest.param([0, 0], True, [100, 100], id="all-zero-reversed"),
        pytest.param([1, 2, 4], False, [25, 50, 100], id="scaled"),
        pytest.param([1, 2, 4], True, [75, 50, 0], id="scaled-reversed"),
    ],
)
def test_default_normalize_score(scores: list[int], reverse: bool, expected: list[int]) -> None:
    default_normalize_score(scores=scores, reverse=reverse)
    assert scores == expected

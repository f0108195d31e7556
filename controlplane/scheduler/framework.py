"""The scheduling framework: extension points, plugin statuses, one scheduling cycle.

Modelled on upstream kube-scheduler ``pkg/scheduler/framework`` (interface.go, cycle_state.go,
runtime/framework.go, types.go FitError). The core knows only extension points; every policy is a
plugin configured by a :class:`Profile`. Objects are JSON dicts as they travel on the wire.

One deliberate difference from upstream: the Score extension point is called once for all feasible
nodes (``score(pod=..., nodes=[...])`` returns one score per node) instead of once per node, so that
resource scoring can run over all nodes at once in the compiled kernel (``kubelite.native.scoring``).

A cycle is ``Framework.schedule``: PreFilter -> Filter -> (PostFilter when nothing fits) -> PreScore ->
Score -> NormalizeScore -> weighted sum -> best node, ties broken by an injectable RNG. Filtering
stops once percentageOfNodesToScore of the nodes fit, starting where the last cycle stopped.

The hot path: nodes come as a ``Snapshot`` (NodeInfos plus int64 columns). Filter plugins that also
implement ``filter_batch`` clear a mask over all nodes at once (NodeResourcesFit in the compiled
kernel; taints and cordons only on the few nodes that have them); only the remaining per-node
filters run in Python, and only on nodes still in the mask. Score plugins with ``score_batch`` score
the chosen slots in the kernel, and the weighted sum and choice of the best node run there too.
The binding cycle's points (Reserve/Unreserve, Permit, PreBind, Bind) have runners too; PreBind and
Bind are async because they talk to the API server.

Nominated pods (upstream RunFilterPluginsWithNominatedPods): a node that pods of higher or equal
priority are nominated to (the Handle's nominator) passes only if every filter also passes with those
pods on it, in a copy of the NodeInfo and of the CycleState that the plugins' PreFilter extensions
(``add_pod``) update. Such nodes are few, so the kernel's mask is kept and only they are re-checked;
a pod with a nominated node tries that node first, alone.
"""

from __future__ import annotations

import enum
import random
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo
from kubelite.controlplane.scheduler.snapshot import Snapshot
from kubelite.native.scoring import KERNEL, Kernel

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0
# upstream MaxTotalScore guards against int64 overflow of weight * score sums; we keep the check so
# that a profile accepted here is one upstream would accept too
MAX_TOTAL_SCORE = 2**63 - 1
MAX_WEIGHT = MAX_TOTAL_SCORE // MAX_NODE_SCORE
NO_NODES_MSG = "no nodes available to schedule pods"  # upstream ErrNoNodesAvailable
# upstream minFeasibleNodesToFind / minFeasibleNodesPercentageToFind (schedule_one.go)
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5

T = TypeVar("T")


class Code(enum.IntEnum):
    """Upstream framework.Code, same order."""

    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5


@dataclass(frozen=True)
class Status:
    """What a plugin says about a pod: a code, human reasons, and the plugin that said it.

    ``None`` is used for success everywhere, as upstream's nil *Status.
    """

    code: Code
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @classmethod
    def of(cls, code: Code, *reasons: str, plugin: str = "") -> Status:
        return cls(code=code, reasons=tuple(reasons), plugin=plugin)

    @property
    def message(self) -> str:
        """Upstream Status.Message: the reasons joined by ", "."""
        return ", ".join(self.reasons)

    def is_success(self) -> bool:
        return self.code is Code.SUCCESS

    def is_rejected(self) -> bool:
        """Unschedulable or UnschedulableAndUnresolvable (upstream IsRejected, without Pending)."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def with_plugin(self, plugin: str) -> Status:
        return self if self.plugin else Status(code=self.code, reasons=self.reasons, plugin=plugin)


def is_success(status: Status | None) -> bool:
    return status is None or status.is_success()


class CycleState:
    """Per-cycle scratch space shared by plugins (upstream CycleState): PreFilter/PreScore write,
    Filter/Score read. Keys are by convention prefixed with the plugin name."""

    def __init__(self) -> None:
        self._data: dict[str, object] = {}

    def write(self, key: str, value: object) -> None:
        self._data[key] = value

    def read(self, key: str, kind: type[T]) -> T | None:
        """The value under ``key`` when it is a ``kind``; None when absent (a plugin bug upstream
        reports as an Error status, which callers do)."""
        value = self._data.get(key)
        return value if isinstance(value, kind) else None

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def clone(self) -> CycleState:
        """A shallow copy (upstream CycleState.Clone). Plugins never mutate a value in place after
        PreFilter: a PreFilter extension writes a new value into the copy instead."""
        copy = CycleState()
        copy._data = dict(self._data)
        return copy


def missing_state(plugin: str, key: str) -> Status:
    """The Error status a plugin returns when its PreFilter/PreScore state is missing."""
    return Status.of(Code.ERROR, f"reading {key!r} from cycle state: not found", plugin=plugin)


# ---- extension points: each a tiny Protocol ------------------------------------------------------


@runtime_checkable
class Plugin(Protocol):
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class PreFilterResult:
    """Nodes a PreFilter plugin narrowed the search to; ``None`` means all nodes."""

    node_names: frozenset[str] | None = None
    plugins: tuple[str, ...] = ()


@runtime_checkable
class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, *, state: CycleState, pod: JSON) -> tuple[PreFilterResult | None, Status | None]: ...


@runtime_checkable
class PreFilterExtensions(Protocol):
    """Upstream PreFilterExtensions: keep a plugin's PreFilter state right when the framework adds a
    pod to a node in a what-if (nominated pods, preemption). ``state`` is a clone the plugin may
    write a new value into; ``node_info`` is the node the pod is added to (it already holds it)."""

    def add_pod(self, *, state: CycleState, pod_to_schedule: JSON, pod_to_add: JSON,
                node_info: NodeInfo) -> Status | None: ...


@runtime_checkable
class FilterPlugin(Plugin, Protocol):
    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None: ...


@dataclass(frozen=True)
class PostFilterResult:
    nominated_node_name: str = ""


@runtime_checkable
class PostFilterPlugin(Plugin, Protocol):
    def post_filter(self, *, state: CycleState, pod: JSON,
                    node_statuses: Mapping[str, Status]) -> tuple[PostFilterResult | None, Status | None]: ...


@runtime_checkable
class PreScorePlugin(Plugin, Protocol):
    def pre_score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> Status | None: ...


@runtime_checkable
class ScorePlugin(Plugin, Protocol):
    def score(self, *, state: CycleState, pod: JSON,
              nodes: Sequence[NodeInfo]) -> tuple[list[int], Status | None]: ...


@runtime_checkable
class BatchFilterPlugin(Protocol):
    """A Filter that can also judge every node at once from the snapshot's columns (the hot path).

    ``filter_batch`` clears ``mask[slot]`` for each node it rejects and returns True; it returns
    False when it cannot decide this pod by columns (then its per-node ``filter`` runs). It must
    agree with ``filter`` on every node: the per-node path still writes the failure message.
    """

    def filter_batch(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, mask: bytearray,
                     kernel: Kernel) -> bool: ...


@runtime_checkable
class BatchScorePlugin(Protocol):
    """A Score that can also score the slots ``idx[:count]`` at once, already normalized to 0..100;
    returns None when it cannot for this pod (then ``score`` runs)."""

    def score_batch(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, idx: array[int], count: int,
                    kernel: Kernel) -> array[int] | None: ...


@runtime_checkable
class ScoreNormalizer(Protocol):
    """Upstream ScoreExtensions.NormalizeScore: rewrite ``scores`` in place into 0..100."""

    def normalize_score(self, *, state: CycleState, pod: JSON, scores: list[int]) -> Status | None: ...


@runtime_checkable
class ReservePlugin(Plugin, Protocol):
    def reserve(self, *, state: CycleState, pod: JSON, node_name: str) -> Status | None: ...

    def unreserve(self, *, state: CycleState, pod: JSON, node_name: str) -> None: ...


@runtime_checkable
class PermitPlugin(Plugin, Protocol):
    def permit(self, *, state: CycleState, pod: JSON, node_name: str) -> tuple[Status | None, float]: ...


@runtime_checkable
class PreBindPlugin(Plugin, Protocol):
    async def pre_bind(self, *, state: CycleState, pod: JSON, node_name: str) -> Status | None: ...


@runtime_checkable
class BindPlugin(Plugin, Protocol):
    async def bind(self, *, state: CycleState, pod: JSON, node_name: str) -> Status | None: ...


def default_normalize_score(*, scores: list[int], reverse: bool, max_priority: int = MAX_NODE_SCORE) -> None:
    """Upstream helper.DefaultNormalizeScore: scale to 0..max_priority by the highest score,
    optionally reversed (so that fewer bad things means a higher score)."""
    highest = max(scores, default=0)
    if highest == 0:
        if reverse:
            scores[:] = [max_priority] * len(scores)
        return
    for i, score in enumerate(scores):
        scaled = max_priority * score // highest
        scores[i] = max_priority - scaled if reverse else scaled


# ---- profile and construction --------------------------------------------------------------------


class ExtensionPoint(enum.StrEnum):
    PRE_FILTER = "preFilter"
    FILTER = "filter"
    POST_FILTER = "postFilter"
    PRE_SCORE = "preScore"
    SCORE = "score"
    RESERVE = "reserve"
    PERMIT = "permit"
    PRE_BIND = "preBind"
    BIND = "bind"


_POINT_PROTOCOL: dict[ExtensionPoint, type] = {
    ExtensionPoint.PRE_FILTER: PreFilterPlugin,
    ExtensionPoint.FILTER: FilterPlugin,
    ExtensionPoint.POST_FILTER: PostFilterPlugin,
    ExtensionPoint.PRE_SCORE: PreScorePlugin,
    ExtensionPoint.SCORE: ScorePlugin,
    ExtensionPoint.RESERVE: ReservePlugin,
    ExtensionPoint.PERMIT: PermitPlugin,
    ExtensionPoint.PRE_BIND: PreBindPlugin,
    ExtensionPoint.BIND: BindPlugin,
}

PluginFactory = Callable[[Mapping[str, Any]], Plugin]
"""Builds a plugin from its args (upstream PluginConfig args); raises ProfileError on bad args."""


@dataclass
class Handle:
    """What plugins may reach beyond the pod and node (upstream framework.Handle): the API client
    (DefaultBinder, DefaultPreemption), the scheduler's live node snapshot and pod lister, and the
    nominator (the Framework filters with nominated pods). The scheduler fills it in; a Framework
    built without one (unit tests) has plugins that say so."""

    client: Any = None  # kubelite.client.APIClient; Any keeps this module free of client imports
    snapshot: Any = None  # kubelite.controlplane.scheduler.snapshot.Snapshot
    pdbs: Callable[[], Sequence[Mapping[str, Any]]] = field(default=lambda: [])
    recorder: Any = None  # kubelite.client.EventRecorder (Preempted events)
    nominator: Any = None  # kubelite.controlplane.scheduler.nominator.Nominator (pods nominated to nodes)
    # the scheduler's informers by resource plural ("services", "replicasets", "statefulsets",
    # "replicationcontrollers", "namespaces"): objects in a namespace ("" for all) and one by name
    list_objects: Callable[[str, str], Sequence[Mapping[str, Any]]] = field(default=lambda resource, namespace: [])
    get_object: Callable[[str, str, str], Mapping[str, Any] | None] = field(
        default=lambda resource, namespace, name: None)
    # kubelite.controlplane.scheduler.waiting_pods.WaitingPods: pods held at Permit, to allow or reject
    # (upstream GetWaitingPod / IterateOverWaitingPods / RejectWaitingPod)
    waiting_pods: Any = None


# CycleState keys the framework fills for PostFilter plugins (upstream reaches these through Handle)
FRAMEWORK_KEY = "kubelite.scheduler/framework"
SNAPSHOT_KEY = "kubelite.scheduler/snapshot"
SKIPPED_FILTERS_KEY = "kubelite.scheduler/skipped-filters"
# run_permit writes {plugin name: seconds} for every plugin that answered Wait: each gets its own timer
PERMIT_WAITS_KEY = "kubelite.scheduler/permit-waits"


class ProfileError(ValueError):
    """A profile that cannot be built; the message names the profile, plugin and field."""


@dataclass(frozen=True)
class Profile:
    """Upstream KubeSchedulerProfile, reduced: enabled plugin names per extension point (in run
    order), score weights, and per-plugin args."""

    scheduler_name: str = "default-scheduler"
    plugins: Mapping[ExtensionPoint, Sequence[str]] = field(default_factory=dict)
    score_weights: Mapping[str, int] = field(default_factory=dict)
    plugin_args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    percentage_of_nodes_to_score: int | None = None  # None: the scheduler-wide setting


@dataclass(frozen=True)
class ScheduleResult:
    """Where the pod goes, and how many nodes were looked at and found feasible."""

    suggested_host: str
    evaluated_nodes: int
    feasible_nodes: int


@dataclass(frozen=True)
class FitError:
    """No node fits (upstream framework.FitError); ``message`` is upstream's text."""

    pod_key: str
    num_all_nodes: int
    node_statuses: Mapping[str, Status]
    pre_filter_msg: str = ""
    post_filter_msg: str = ""
    nominated_node_name: str = ""

    @property
    def message(self) -> str:
        if self.num_all_nodes == 0:
            return NO_NODES_MSG
        text = f"0/{self.num_all_nodes} nodes are available:"
        if self.pre_filter_msg:
            # when PreFilter rejected, every node carries that same status: listing them would repeat it
            text += f" {self.pre_filter_msg}."
        else:
            histogram: Counter[str] = Counter()
            for status in self.node_statuses.values():
                histogram.update(status.reasons)
            # upstream sorts the formatted "<count> <reason>" strings, not the reasons
            parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
            if parts:
                text += f" {', '.join(parts)}."
        if self.post_filter_msg:
            text += f" {self.post_filter_msg}."
        return text


@dataclass(frozen=True)
class ScheduleFailure:
    """The cycle itself failed (a plugin returned Error): not the pod's fault, retry later."""

    status: Status

    @property
    def message(self) -> str:
        return f"running {self.status.plugin or 'framework'}: {self.status.message}"


class _SlotView(Sequence[NodeInfo]):
    """The NodeInfos at ``idx[:count]`` without building a list (PreScore plugins rarely read them)."""

    def __init__(self, infos: Sequence[NodeInfo], idx: array[int], count: int) -> None:
        self._infos, self._idx, self._count = infos, idx, count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, k: int) -> NodeInfo:  # type: ignore[override]
        if not -self._count <= k < self._count:
            raise IndexError(k)
        return self._infos[self._idx[k % self._count]]

    def __iter__(self) -> Iterator[NodeInfo]:
        infos, idx = self._infos, self._idx
        return (infos[idx[k]] for k in range(self._count))


def _priority(pod: JSON) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return value if isinstance(value, int) else 0


def _identity(pod: JSON) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}")


def _outranking(pod: JSON, others: Iterable[JSON]) -> list[JSON]:
    """``others`` of priority >= ``pod``'s, but ``pod`` itself."""
    priority, identity = _priority(pod), _identity(pod)
    return [other for other in others if _priority(other) >= priority and _identity(other) != identity]


def pod_key(pod: JSON) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class Framework:
    """One profile's plugins wired to extension points; runs scheduling and binding cycles."""

    def __init__(self, *, profile: Profile, registry: Mapping[str, PluginFactory],
                 rng: random.Random | None = None, percentage_of_nodes_to_score: int = 0,
                 kernel: Kernel = KERNEL, handle: Handle | None = None) -> None:
        """Instantiate every plugin the profile names once; raise ProfileError listing every
        problem (unknown plugin, plugin lacking the extension point, bad weight, bad args).

        ``percentage_of_nodes_to_score`` (0 = upstream's adaptive default) applies unless the
        profile sets its own; ``kernel`` is the compiled batch kernel or its pure twin; ``handle``
        gives the nominator (no handle: no pod is nominated anywhere)."""
        self.profile = profile
        self.handle = handle
        self._rng = rng if rng is not None else random.Random()
        self.kernel = kernel
        self._next_start = 0
        percentage = profile.percentage_of_nodes_to_score
        self.percentage_of_nodes_to_score = percentage if percentage is not None else percentage_of_nodes_to_score
        problems: list[str] = []
        instances: dict[str, Plugin] = {}
        where = f"profile {profile.scheduler_name!r}"
        for point in ExtensionPoint:
            for name in profile.plugins.get(point, ()):
                if name in instances:
                    continue
                factory = registry.get(name)
                if factory is None:
                    problems.append(f"{where}: plugins.{point.value}: unknown plugin {name!r} "
                                    f"(known: {', '.join(sorted(registry))})")
                    continue
                try:
                    instances[name] = factory(profile.plugin_args.get(name, {}))
                except ProfileError as exc:
                    problems.append(f"{where}: pluginConfig[{name}]: {exc}")
        for name in profile.plugin_args:
            if name not in registry:
                problems.append(f"{where}: pluginConfig: unknown plugin {name!r}")
        self._points: dict[ExtensionPoint, list[Any]] = {}
        for point in ExtensionPoint:
            enabled: list[Any] = []
            names = list(profile.plugins.get(point, ()))
            for index, name in enumerate(names):
                plugin = instances.get(name)
                if plugin is None:
                    continue
                if name in names[:index]:
                    problems.append(f"{where}: plugins.{point.value}[{index}]: plugin {name!r} is listed twice")
                    continue
                if not isinstance(plugin, _POINT_PROTOCOL[point]):
                    problems.append(f"{where}: plugins.{point.value}: plugin {name!r} does not "
                                    f"implement the {point.value} extension point")
                    continue
                enabled.append(plugin)
            self._points[point] = enabled
        self._weights: dict[str, int] = {}
        for plugin in self._points[ExtensionPoint.SCORE]:
            weight = profile.score_weights.get(plugin.name, 1)
            if not 1 <= weight <= MAX_WEIGHT:
                problems.append(f"{where}: plugins.score[{plugin.name}].weight: must be between 1 and "
                                f"{MAX_WEIGHT}, got {weight}")
            self._weights[plugin.name] = weight
        for name in profile.score_weights:
            if name not in self._weights:
                problems.append(f"{where}: plugins.score: weight given for {name!r}, which is not an "
                                "enabled score plugin")
        if not 0 <= self.percentage_of_nodes_to_score <= 100:
            problems.append(f"{where}: percentageOfNodesToScore: must be between 0 and 100, got "
                            f"{self.percentage_of_nodes_to_score}")
        if problems:
            raise ProfileError("; ".join(problems))
        # typed views of the validated lists: every member passed the isinstance check above
        self._pre_filter = cast(list[PreFilterPlugin], self._points[ExtensionPoint.PRE_FILTER])
        self._filter = cast(list[FilterPlugin], self._points[ExtensionPoint.FILTER])
        self._post_filter_plugins = cast(list[PostFilterPlugin], self._points[ExtensionPoint.POST_FILTER])
        self._pre_score = cast(list[PreScorePlugin], self._points[ExtensionPoint.PRE_SCORE])
        self._score = cast(list[ScorePlugin], self._points[ExtensionPoint.SCORE])
        self._reserve = cast(list[ReservePlugin], self._points[ExtensionPoint.RESERVE])
        self._permit = cast(list[PermitPlugin], self._points[ExtensionPoint.PERMIT])
        self._pre_bind = cast(list[PreBindPlugin], self._points[ExtensionPoint.PRE_BIND])
        self._bind = cast(list[BindPlugin], self._points[ExtensionPoint.BIND])
        # runtime Protocol checks are slow: decide once which plugins have batch forms
        self._batch_filters = {p.name: cast(BatchFilterPlugin, p) for p in self._filter
                               if isinstance(p, BatchFilterPlugin)}
        self._batch_scorers = {p.name: cast(BatchScorePlugin, p) for p in self._score
                               if isinstance(p, BatchScorePlugin)}
        self._normalizers = {p.name: cast(ScoreNormalizer, p) for p in self._score if isinstance(p, ScoreNormalizer)}
        self._pre_filter_extensions = [(p.name, cast(PreFilterExtensions, p)) for p in self._pre_filter
                                       if isinstance(p, PreFilterExtensions)]

    def plugins(self, point: ExtensionPoint) -> list[str]:
        """Names of the plugins enabled at ``point``, in run order."""
        return [plugin.name for plugin in self._points[point]]

    # ---- scheduling cycle -------------------------------------------------------------------------

    def num_feasible_nodes_to_find(self, num_all_nodes: int) -> int:
        """Upstream numFeasibleNodesToFind: all nodes below 100; else percentageOfNodesToScore of
        them (adaptive when 0: 50% minus 1% per 125 nodes, at least 5%), and never fewer than 100."""
        if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
            return num_all_nodes
        percentage = self.percentage_of_nodes_to_score
        if percentage == 0:
            percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
        return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)

    def schedule(self, *, pod: JSON, nodes: Sequence[NodeInfo] | Snapshot,
                 state: CycleState | None = None) -> ScheduleResult | FitError | ScheduleFailure:
        """One scheduling cycle for ``pod`` over ``nodes`` (nothing is mutated).

        Filtering starts where the previous cycle stopped (upstream nextStartNodeIndex) and stops
        once ``num_feasible_nodes_to_find`` nodes fit. Batch-capable filters clear a mask over all
        nodes in the kernel; the others then run per node, only on nodes still in the mask. When
        nothing fits, every filter runs per node to say why (the FitError message)."""
        state = state if state is not None else CycleState()
        snapshot = nodes if isinstance(nodes, Snapshot) else Snapshot.from_infos(nodes)
        num_nodes = len(snapshot)
        if not num_nodes:
            return FitError(pod_key=pod_key(pod), num_all_nodes=0, node_statuses={})
        state.write(FRAMEWORK_KEY, self)
        state.write(SNAPSHOT_KEY, snapshot)
        pre_result, pre_status, skipped = self._run_pre_filter(state=state, pod=pod)
        state.write(SKIPPED_FILTERS_KEY, frozenset(skipped))
        if pre_status is not None and pre_status.code is Code.ERROR:
            return ScheduleFailure(status=pre_status)
        if pre_status is not None and pre_status.is_rejected():
            return self._post_filter(state=state, pod=pod, fit=FitError(
                pod_key=pod_key(pod), num_all_nodes=num_nodes,
                node_statuses={info.name: pre_status for info in snapshot.infos},
                pre_filter_msg=pre_status.message))
        allowed: frozenset[str] | None = None
        if pre_result is not None and pre_result.node_names is not None:
            allowed = pre_result.node_names
            mask = bytearray(num_nodes)
            for name in allowed:
                slot = snapshot.slots.get(name)
                if slot is not None:
                    mask[slot] = 1
        else:
            mask = bytearray(b"\x01") * num_nodes
        filters = [p for p in self._filter if p.name not in skipped]
        per_node: list[FilterPlugin] = []
        kernel = self.kernel
        for plugin in filters:
            batch = self._batch_filters.get(plugin.name)
            if batch is not None and batch.filter_batch(state=state, pod=pod, snapshot=snapshot, mask=mask,
                                                        kernel=kernel):
                continue
            per_node.append(plugin)
        nominated = self._nominated_slots(pod=pod, snapshot=snapshot)
        preferred = (pod.get("status") or {}).get("nominatedNodeName")
        if preferred:
            # upstream evaluateNominatedNode: the node preemption freed for this pod is tried first, alone
            slot = snapshot.slots.get(preferred)
            if slot is not None and mask[slot]:
                status = self._filter_slot(state=state, pod=pod, info=snapshot.infos[slot], per_node=per_node,
                                           filters=filters, nominated=nominated.get(slot))
                if status is not None and status.code is Code.ERROR:
                    return ScheduleFailure(status=status)
                if status is None:
                    return ScheduleResult(suggested_host=preferred, evaluated_nodes=1, feasible_nodes=1)
        to_find = self.num_feasible_nodes_to_find(num_nodes)
        idx = array("q", bytes(8 * num_nodes))
        start = self._next_start % num_nodes
        if not per_node and not nominated:
            found, scanned = kernel.select(mask, start, to_find, idx)
        else:
            passed, _ = kernel.select(mask, start, num_nodes, idx)
            found = scanned = 0
            for k in range(passed):
                slot = idx[k]
                status = self._filter_slot(state=state, pod=pod, info=snapshot.infos[slot], per_node=per_node,
                                           filters=filters, nominated=nominated.get(slot))
                if status is not None and status.code is Code.ERROR:
                    return ScheduleFailure(status=status)
                if status is None:
                    idx[found] = slot
                    found += 1
                    if found == to_find:
                        scanned = (slot - start) % num_nodes + 1
                        break
            else:
                scanned = num_nodes
        self._next_start = (start + scanned) % num_nodes
        if not found:
            return self._post_filter(state=state, pod=pod, fit=self._fit_error(
                state=state, pod=pod, snapshot=snapshot, filters=filters, allowed=allowed,
                plugins=pre_result.plugins if pre_result is not None else (), nominated=nominated))
        evaluated = min(scanned, num_nodes if allowed is None else len(allowed))
        if found == 1:
            # upstream skips scoring when there is nothing to choose between
            return ScheduleResult(suggested_host=snapshot.infos[idx[0]].name, evaluated_nodes=evaluated,
                                  feasible_nodes=1)
        totals = self._score_slots(state=state, pod=pod, snapshot=snapshot, idx=idx, count=found)
        if isinstance(totals, Status):
            return ScheduleFailure(status=totals)
        top, ties = kernel.best(totals, found)
        chosen = kernel.nth_best(totals, found, top, self._rng.randrange(ties) if ties > 1 else 0)
        return ScheduleResult(suggested_host=snapshot.infos[idx[chosen]].name, evaluated_nodes=evaluated,
                              feasible_nodes=found)

    def _fit_error(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, filters: Sequence[FilterPlugin],
                   allowed: frozenset[str] | None, plugins: tuple[str, ...],
                   nominated: Mapping[int, list[JSON]]) -> FitError:
        """Every filter on every candidate node, per node, for the reasons of the message."""
        statuses: dict[str, Status] = {}
        excluded = Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                             f"node(s) didn't satisfy plugin(s) [{', '.join(plugins)}]")
        for info in snapshot.infos:
            if allowed is not None and info.name not in allowed:
                # upstream leaves the nodes PreFilter ruled out without an explicit status, so its
                # message would not count them; naming the plugins keeps "0/N" adding up to N
                statuses[info.name] = excluded
                continue
            status = self._run_filter(filters=filters, state=state, pod=pod, node_info=info)
            others = nominated.get(snapshot.slots[info.name]) if nominated else None
            if status is None and others:
                status = self._filter_with_nominated(state=state, pod=pod, info=info, filters=filters,
                                                     nominated=others)
            if status is not None:
                statuses[info.name] = status
        return FitError(pod_key=pod_key(pod), num_all_nodes=len(snapshot), node_statuses=statuses)

    def _run_pre_filter(self, *, state: CycleState,
                        pod: JSON) -> tuple[PreFilterResult | None, Status | None, set[str]]:
        """Run PreFilter plugins; returns the intersected node-name narrowing, the first non-success
        status (with the plugin name), and the plugins that asked to Skip their Filter."""
        result: PreFilterResult | None = None
        skipped: set[str] = set()
        for plugin in self._pre_filter:
            narrowed, status = plugin.pre_filter(state=state, pod=pod)
            if status is not None and status.code is Code.SKIP:
                skipped.add(plugin.name)
                continue
            if not is_success(status):
                assert status is not None
                return None, status.with_plugin(plugin.name), skipped
            if narrowed is not None and narrowed.node_names is not None:
                names = narrowed.node_names if result is None else narrowed.node_names & (result.node_names or set())
                plugins = (result.plugins if result is not None else ()) + (plugin.name,)
                result = PreFilterResult(node_names=names, plugins=plugins)
        if result is not None and result.node_names is not None and not result.node_names:
            # upstream RunPreFilterPlugins: narrowings that share no node reject the pod outright
            if len(result.plugins) == 1:
                message = f"node(s) didn't satisfy plugin {result.plugins[0]}"
            else:
                message = f"node(s) didn't satisfy plugin(s) [{', '.join(result.plugins)}] simultaneously"
            return None, Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, message), skipped
        return result, None, skipped

    def _run_filter(self, *, filters: Sequence[FilterPlugin], state: CycleState, pod: JSON,
                    node_info: NodeInfo) -> Status | None:
        for plugin in filters:
            status = plugin.filter(state=state, pod=pod, node_info=node_info)
            if not is_success(status):
                assert status is not None
                return status.with_plugin(plugin.name)
        return None

    def run_filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        """Every Filter plugin on one node (but those whose PreFilter asked to be skipped in this
        cycle), with and without the pods nominated to it (upstream RunFilterPluginsWithNominatedPods);
        the first rejection, or None when the pod fits."""
        skipped = state.read(SKIPPED_FILTERS_KEY, frozenset) or frozenset()
        filters = [p for p in self._filter if p.name not in skipped]
        status = self._run_filter(filters=filters, state=state, pod=pod, node_info=node_info)
        if status is None:
            others = self.nominated_pods(pod=pod, node_name=node_info.name)
            if others:
                status = self._filter_with_nominated(state=state, pod=pod, info=node_info, filters=filters,
                                                     nominated=others)
        return status

    # ---- nominated pods ---------------------------------------------------------------------------

    def _nominator(self) -> Any:
        nominator = self.handle.nominator if self.handle is not None else None
        return nominator if nominator is not None and len(nominator) else None

    def nominated_pods(self, *, pod: JSON, node_name: str) -> list[JSON]:
        """Pods nominated to ``node_name`` that ``pod`` must leave room for: those of higher or equal
        priority, other than ``pod`` itself (upstream addGENominatedPods)."""
        nominator = self._nominator()
        if nominator is None:
            return []
        nominated = nominator.nodes().get(node_name)
        return _outranking(pod, nominated.values()) if nominated else []

    def _nominated_slots(self, *, pod: JSON, snapshot: Snapshot) -> dict[int, list[JSON]]:
        """Slot -> the pods nominated there that ``pod`` must leave room for (usually empty)."""
        nominator = self._nominator()
        if nominator is None:
            return {}
        out: dict[int, list[JSON]] = {}
        for node_name, pods in nominator.nodes().items():
            slot = snapshot.slots.get(node_name)
            if slot is not None:
                others = _outranking(pod, pods.values())
                if others:
                    out[slot] = others
        return out

    def _filter_slot(self, *, state: CycleState, pod: JSON, info: NodeInfo, per_node: Sequence[FilterPlugin],
                     filters: Sequence[FilterPlugin], nominated: list[JSON] | None) -> Status | None:
        """One node the batch filters let through: the per-node filters, then, when pods are nominated
        there, every filter again with them on the node."""
        status = self._run_filter(filters=per_node, state=state, pod=pod, node_info=info) if per_node else None
        if status is None and nominated:
            status = self._filter_with_nominated(state=state, pod=pod, info=info, filters=filters,
                                                 nominated=nominated)
        return status

    def _filter_with_nominated(self, *, state: CycleState, pod: JSON, info: NodeInfo,
                               filters: Sequence[FilterPlugin], nominated: Sequence[JSON]) -> Status | None:
        """Upstream's first pass of RunFilterPluginsWithNominatedPods: the node as if the nominated pods
        ran there already, PreFilter state updated through the plugins' AddPod extensions, in a copy."""
        trial_state = state.clone()
        trial = NodeInfo.build(node=info.node, pods=[*info.pods, *nominated])
        skipped = state.read(SKIPPED_FILTERS_KEY, frozenset) or frozenset()
        for other in nominated:
            for name, extension in self._pre_filter_extensions:
                if name in skipped:
                    continue
                status = extension.add_pod(state=trial_state, pod_to_schedule=pod, pod_to_add=other, node_info=trial)
                if not is_success(status):
                    assert status is not None
                    return Status.of(Code.ERROR, *status.reasons, plugin=name)
        return self._run_filter(filters=filters, state=trial_state, pod=pod, node_info=trial)

    def _post_filter(self, *, state: CycleState, pod: JSON, fit: FitError) -> FitError | ScheduleFailure:
        messages: list[str] = []
        for plugin in self._post_filter_plugins:
            result, status = plugin.post_filter(state=state, pod=pod, node_statuses=fit.node_statuses)
            if status is not None and status.code is Code.ERROR:
                return ScheduleFailure(status=status.with_plugin(plugin.name))
            if is_success(status) and result is not None and result.nominated_node_name:
                return FitError(pod_key=fit.pod_key, num_all_nodes=fit.num_all_nodes,
                                node_statuses=fit.node_statuses, pre_filter_msg=fit.pre_filter_msg,
                                nominated_node_name=result.nominated_node_name)
            if status is not None and status.message:
                messages.append(status.message)
        if not messages:
            return fit
        return FitError(pod_key=fit.pod_key, num_all_nodes=fit.num_all_nodes, node_statuses=fit.node_statuses,
                        pre_filter_msg=fit.pre_filter_msg, post_filter_msg=", ".join(messages))

    def run_score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> list[int] | Status:
        """PreScore, Score, NormalizeScore; the weighted sum per node, or the Error status."""
        snapshot = nodes if isinstance(nodes, Snapshot) else Snapshot.from_infos(nodes)
        idx = array("q", range(len(snapshot)))
        totals = self._score_slots(state=state, pod=pod, snapshot=snapshot, idx=idx, count=len(snapshot))
        return totals if isinstance(totals, Status) else list(totals)

    def _score_slots(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, idx: array[int],
                     count: int) -> array[int] | Status:
        """Score the nodes in ``idx[:count]``: batch scorers in the kernel, others per node."""
        kernel = self.kernel
        nodes = _SlotView(snapshot.infos, idx, count)
        skipped: set[str] = set()
        for pre_scorer in self._pre_score:
            status = pre_scorer.pre_score(state=state, pod=pod, nodes=nodes)
            if status is not None and status.code is Code.SKIP:
                skipped.add(pre_scorer.name)
            elif not is_success(status):
                assert status is not None
                return Status.of(Code.ERROR, *status.reasons, plugin=pre_scorer.name)
        totals = array("q", bytes(8 * count))
        for scorer in self._score:
            if scorer.name in skipped:
                continue
            batch: array[int] | None = None
            batch_scorer = self._batch_scorers.get(scorer.name)
            if batch_scorer is not None:
                batch = batch_scorer.score_batch(state=state, pod=pod, snapshot=snapshot, idx=idx, count=count,
                                                 kernel=kernel)
            if batch is None:
                scores = self._score_per_node(scorer, state=state, pod=pod, nodes=list(nodes))
                if isinstance(scores, Status):
                    return scores
                batch = array("q", scores)
            kernel.add_weighted(totals, batch, count, self._weights[scorer.name])
        return totals

    def _score_per_node(self, scorer: ScorePlugin, *, state: CycleState, pod: JSON,
                        nodes: Sequence[NodeInfo]) -> list[int] | Status:
        scores, status = scorer.score(state=state, pod=pod, nodes=nodes)
        if status is not None and status.code is Code.SKIP:
            return [0] * len(nodes)
        if not is_success(status):
            assert status is not None
            return Status.of(Code.ERROR, *status.reasons, plugin=scorer.name)
        if len(scores) != len(nodes):
            return Status.of(Code.ERROR, f"returned {len(scores)} scores for {len(nodes)} nodes",
                             plugin=scorer.name)
        normalizer = self._normalizers.get(scorer.name)
        if normalizer is not None:
            status = normalizer.normalize_score(state=state, pod=pod, scores=scores)
            if not is_success(status):
                assert status is not None
                return Status.of(Code.ERROR, *status.reasons, plugin=scorer.name)
        for info, score in zip(nodes, scores, strict=True):
            if not MIN_NODE_SCORE <= score <= MAX_NODE_SCORE:
                return Status.of(Code.ERROR, f"score {score} for node {info.name!r} is outside "
                                 f"[{MIN_NODE_SCORE}, {MAX_NODE_SCORE}]", plugin=scorer.name)
        return scores

    # ---- binding cycle ----------------------------------------------------------------------------

    def run_reserve(self, *, state: CycleState, pod: JSON, node_name: str) -> Status | None:
        """Reserve in order; on the first failure Unreserve every reserve plugin in reverse."""
        for plugin in self._reserve:
            status = plugin.reserve(state=state, pod=pod, node_name=node_name)
            if not is_success(status):
                assert status is not None
                self.run_unreserve(state=state, pod=pod, node_name=node_name)
                return status.with_plugin(plugin.name)
        return None

    def run_unreserve(self, *, state: CycleState, pod: JSON, node_name: str) -> None:
        for plugin in reversed(self._reserve):
            plugin.unreserve(state=state, pod=pod, node_name=node_name)

    def run_permit(self, *, state: CycleState, pod: JSON, node_name: str) -> tuple[Status | None, float]:
        """Permit in order: the first rejection, else Wait with the shortest timeout, else None."""
        wait: float | None = None
        wait_plugin = ""
        waits: dict[str, float] = {}
        for plugin in self._permit:
            status, timeout = plugin.permit(state=state, pod=pod, node_name=node_name)
            if status is not None and status.code is Code.WAIT:
                waits[plugin.name] = timeout
                if wait is None or timeout < wait:
                    wait, wait_plugin = timeout, plugin.name
                continue
            if not is_success(status) and not (status is not None and status.code is Code.SKIP):
                assert status is not None
                return status.with_plugin(plugin.name), 0.0
        if wait is not None:
            state.write(PERMIT_WAITS_KEY, waits)
            return Status.of(Code.WAIT, plugin=wait_plugin), wait
        return None, 0.0

    async def run_pre_bind(self, *, state: CycleState, pod: JSON, node_name: str) -> Status | None:
        for plugin in self._pre_bind:
            status = await plugin.pre_bind(state=state, pod=pod, node_name=node_name)
            if status is not None and status.code is Code.SKIP:
                continue
            if not is_success(status):
                assert status is not None
                return status.with_plugin(plugin.name)
        return None

    async def run_bind(self, *, state: CycleState, pod: JSON, node_name: str) -> Status | None:
        """The first Bind plugin that does not Skip binds; Skip from all of them is an Error."""
        for plugin in self._bind:
            status = await plugin.bind(state=state, pod=pod, node_name=node_name)
            if status is not None and status.code is Code.SKIP:
                continue
            if status is None or status.is_success():
                return None
            return status.with_plugin(plugin.name)
        return Status.of(Code.ERROR, "no bind plugin bound the pod (all skipped or none enabled)")

"""What the workload controllers share about pods and ownership (upstream ``pkg/controller/controller_utils.go``
and ``controller_ref_manager.go``).

* Pod state: ``is_active`` (not terminal, not being deleted), ``is_ready``, ``is_available`` (Ready for
  ``minReadySeconds``), and ``deletion_rank``: upstream's ``ActivePods`` order, which decides which pods a
  scale-down removes first (unscheduled < pending < unknown < running; not ready < ready; ready for a
  shorter time first; more restarts first; newer first).
* Ownership: ``controller_ref`` reads an object's controlling ownerReference; ``claim`` is the
  ControllerRefManager: of the pods (or ReplicaSets) in a namespace, the owner keeps those it controls
  that still match its selector, releases those that no longer match (patching its reference away),
  and adopts orphans that match (patching a controller reference in), never while it is itself being
  deleted. Patches carry the object's UID as a precondition-like check, so a replaced object is not
  adopted by mistake.
* ``Expectations`` (upstream ``ControllerExpectations``): after a controller asks for N creations or
  deletions it waits until its cache has seen them (or 5 minutes passed) before counting pods again,
  so a lagging cache never makes it create the same pods twice.
* Indexes the controllers put on shared informers: ``CONTROLLER_UID_INDEX`` (pods and ReplicaSets by
  their controller's UID) and ``NODE_NAME_INDEX`` (pods by ``spec.nodeName``).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final

from kubelite.api import labels
from kubelite.client import APIStatusError, Resource, is_not_found

Obj = dict[str, Any]

CONTROLLER_UID_INDEX: Final = "controller-uid"
NODE_NAME_INDEX: Final = "node-name"
EXPECTATIONS_TIMEOUT: Final = 300.0  # upstream ExpectationsTimeout
BURST_REPLICAS: Final = 500  # upstream's per-sync cap on creations and deletions
SLOW_START_INITIAL_BATCH: Final = 1


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def index_by_controller_uid(obj: Obj) -> list[str]:
    ref = controller_ref(obj)
    return [str(ref["uid"])] if ref and ref.get("uid") else []


def index_by_node_name(obj: Obj) -> list[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [str(node)] if node else []


def parse_time(text: Any) -> float | None:
    if not text or not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """Upstream ``IsPodActive``: not finished and not being deleted."""
    return not is_terminal(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp")


def pod_condition(pod: Obj, kind: str) -> Obj | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return None


def is_ready(pod: Obj) -> bool:
    condition = pod_condition(pod, "Ready")
    return bool(condition and condition.get("status") == "True")


def ready_since(pod: Obj) -> float | None:
    condition = pod_condition(pod, "Ready")
    if not condition or condition.get("status") != "True":
        return None
    return parse_time(condition.get("lastTransitionTime")) or parse_time(
        (pod.get("metadata") or {}).get("creationTimestamp"))


def is_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Upstream ``IsPodAvailable``: Ready, and Ready for at least ``minReadySeconds``."""
    since = ready_since(pod)
    if since is None:
        return False
    return min_ready_seconds <= 0 or since + min_ready_seconds <= now


def restart_count(pod: Obj) -> int:
    return sum(int(s.get("restartCount") or 0) for s in (pod.get("status") or {}).get("containerStatuses") or []
               if isinstance(s, dict))


_PHASE_RANK: Final = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """Sort key: pods that sort first are deleted first (upstream ``ActivePods.Less``)."""
    spec, md = pod.get("spec") or {}, pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    since = ready_since(pod)
    created = parse_time(md.get("creationTimestamp")) or 0.0
    return (
        1 if spec.get("nodeName") else 0,
        _PHASE_RANK.get(phase, 0),
        1 if is_ready(pod) else 0,
        -(since or 0.0),  # ready more recently first
        -restart_count(pod),
        -created,  # newer first
    )


def selector_of(obj: Obj) -> labels.Selector:
    """The object's ``spec.selector`` as a Selector; an invalid one matches nothing."""
    try:
        return labels.from_label_selector((obj.get("spec") or {}).get("selector"))
    except labels.LabelSelectorError:
        return labels.nothing()


def pod_labels(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def owner_reference(owner: Obj, *, api_version: str, kind: str) -> Obj:
    md = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def typed(obj: Obj, *, api_version: str, kind: str) -> Obj:
    """The object with type information (list items lack it), as Event references need."""
    return {**obj, "apiVersion": obj.get("apiVersion") or api_version, "kind": obj.get("kind") or kind}


async def claim(*, owner: Obj, owner_api_version: str, owner_kind: str, candidates: Iterable[Obj],
                resource: Resource, selector: labels.Selector,
                matches: Callable[[Obj], bool] | None = None) -> list[Obj]:
    """Upstream ``ClaimObjects``: the candidates ``owner`` controls after adopting and releasing."""
    md = owner["metadata"]
    uid = md["uid"]
    owner_deleting = bool(md.get("deletionTimestamp"))
    claimed: list[Obj] = []
    for obj in candidates:
        ref = controller_ref(obj)
        matching = selector.matches(pod_labels(obj)) and (matches is None or matches(obj))
        if ref is not None:
            if ref.get("uid") != uid:
                continue  # another controller's
            if matching:
                claimed.append(obj)
            elif not owner_deleting:
                await _release(obj, uid=uid, resource=resource)
            continue
        if not matching or owner_deleting or (obj.get("metadata") or {}).get("deletionTimestamp"):
            continue
        adopted = await _adopt(obj, ref=owner_reference(owner, api_version=owner_api_version, kind=owner_kind),
                               resource=resource)
        if adopted is not None:
            claimed.append(adopted)
    return claimed


async def _adopt(obj: Obj, *, ref: Obj, resource: Resource) -> Obj | None:
    md = obj["metadata"]
    patch = {"metadata": {"ownerReferences": [*(md.get("ownerReferences") or []), ref], "uid": md["uid"],
                          "resourceVersion": md.get("resourceVersion")}}
    try:
        result: Obj = await resource.patch(md["name"], patch, namespace=md.get("namespace"))
    except APIStatusError as exc:
        if is_not_found(exc) or exc.code == 422:
            return None  # gone, or not adoptable
        raise  # changed meanwhile (409): the sync is retried on a fresher cache rather than acting on a guess
    return result


async def _release(obj: Obj, *, uid: str, resource: Resource) -> None:
    md = obj["metadata"]
    refs = [r for r in md.get("ownerReferences") or [] if r.get("uid") != uid]
    try:
        await resource.patch(md["name"], {"metadata": {"ownerReferences": refs or None, "uid": md["uid"]}},
                             namespace=md.get("namespace"))
    except APIStatusError as exc:
        if not (is_not_found(exc) or exc.code in (409, 422)):
            raise


def pod_from_template(template: Obj, *, owner: Obj, api_version: str, kind: str,
                      generate_name: str | None = None) -> Obj:
    """A Pod from a controller's pod template, controlled by ``owner`` (upstream ``GetPodFromTemplate``)."""
    template = copy.deepcopy(template or {})
    tmd = template.get("metadata") or {}
    owner_name = owner["metadata"]["name"]
    md: Obj = {"generateName": generate_name if generate_name is not None else f"{owner_name}-",
               "namespace": owner["metadata"]["namespace"],
               "ownerReferences": [owner_reference(owner, api_version=api_version, kind=kind)]}
    for field in ("labels", "annotations", "finalizers"):
        if tmd.get(field):
            md[field] = tmd[field]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": template.get("spec") or {}}


def slow_start_batches(count: int, *, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """Batch sizes 1, 2, 4, ... summing to ``count`` (upstream ``slowStartBatch``)."""
    batches, size, left = [], max(initial, 1), count
    while left > 0:
        batch = min(size, left)
        batches.append(batch)
        left -= batch
        size *= 2
    return batches


async def slow_start(count: int, create: Callable[[], Any]) -> tuple[int, BaseException | None]:
    """Run ``create`` ``count`` times in growing batches; stop after the first batch with a failure.

    Returns how many succeeded and the first error, so one bad template costs one failed call, not
    ``count`` (the reason upstream starts slowly).
    """
    done = 0
    for batch in slow_start_batches(count):
        results = await asyncio.gather(*(create() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        done += batch - len(errors)
        if errors:
            return done, errors[0]
    return done, None


class Expectations:
    """Creations and deletions a controller asked for and has not yet seen in its cache, per key."""

    def __init__(self, *, timeout: float = EXPECTATIONS_TIMEOUT, clock: Callable[[], float] = time.monotonic) -> None:
        self._pending: dict[str, tuple[int, int, float]] = {}
        self._timeout = timeout
        self._clock = clock

    def expect(self, key: str, *, adds: int = 0, deletes: int = 0) -> None:
        self._pending[key] = (adds, deletes, self._clock())

    def lower(self, key: str, *, adds: int = 0, deletes: int = 0) -> None:
        entry = self._pending.get(key)
        if entry is not None:
            self._pending[key] = (entry[0] - adds, entry[1] - deletes, entry[2])

    def satisfied(self, key: str) -> bool:
        entry = self._pending.get(key)
        if entry is None:
            return True
        adds, deletes, since = entry
        return (adds <= 0 and deletes <= 0) or self._clock() - since > self._timeout

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)

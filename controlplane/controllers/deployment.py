"""Deployments: roll pod templates out through ReplicaSets (upstream ``pkg/controller/deployment``).

The work queue holds Deployment keys; a ReplicaSet change queues its owning Deployment (an orphan
queues every Deployment whose selector matches it), a pod deletion queues the Deployment of its
ReplicaSet (Recreate waits for old pods to be gone). ``reconcile`` follows upstream's ``syncDeployment``:

* claim ReplicaSets by selector and controller reference; the *new* ReplicaSet is the one whose pod
  template equals the Deployment's (ignoring the ``pod-template-hash`` label), the others are old;
* a paused Deployment, or a scaling event (the new size differs from the ``desired-replicas``
  annotation of an active ReplicaSet), is only scaled, proportionally across active ReplicaSets
  (``scale``); a paused one records ``Progressing=Unknown DeploymentPaused``;
* ``Recreate`` scales every old ReplicaSet to 0, waits until their pods are gone, then creates/scales
  the new one; ``RollingUpdate`` scales the new ReplicaSet up within ``maxSurge`` and old ones down
  within ``maxUnavailable`` (unhealthy old pods first), exactly upstream's arithmetic;
* the new ReplicaSet is named ``<deployment>-<pod-template-hash>``; it carries the revision annotation
  (max old revision + 1), ``revision-history`` when an old one is brought back (``kubectl rollout
  undo`` patches an old template into the Deployment), the Deployment's own annotations (so
  ``kubernetes.io/change-cause`` shows in ``kubectl rollout history``) and ``desired-replicas`` /
  ``max-replicas``; a hash collision with a foreign ReplicaSet bumps ``status.collisionCount``;
* once complete, old ReplicaSets beyond ``revisionHistoryLimit`` that are scaled to 0 are deleted;
* status: replicas, updatedReplicas, readyReplicas, availableReplicas, unavailableReplicas,
  observedGeneration, collisionCount, and the ``Available`` and ``Progressing`` conditions with
  upstream's reasons (NewReplicaSetCreated, FoundNewReplicaSet, ReplicaSetUpdated,
  NewReplicaSetAvailable, ProgressDeadlineExceeded); a Deployment that is progressing is looked at
  again when its ``progressDeadlineSeconds`` would pass.

The pod-template-hash is an FNV-32a hash of the template (canonical JSON) and the collision count,
encoded with upstream's ``SafeEncodeString`` alphabet; its value differs from upstream's (which hashes
Go's in-memory dump), its role and format do not.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import socket
import time
from typing import Any, Final

from kubelite.client import (
    APIClient,
    APIStatusError,
    EventRecorder,
    SharedInformerFactory,
    is_already_exists,
    is_not_found,
)
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.pod_control import (
    CONTROLLER_UID_INDEX,
    claim,
    controller_ref,
    index_by_controller_uid,
    is_terminal,
    now_rfc3339,
    owner_reference,
    parse_time,
    selector_of,
    typed,
)
from kubelite.controlplane.controllers.write_tracker import WriteTracker

log = logging.getLogger(__name__)

Obj = dict[str, Any]

API_VERSION: Final = "apps/v1"
KIND: Final = "Deployment"
HASH_LABEL: Final = "pod-template-hash"
REVISION: Final = "deployment.kubernetes.io/revision"
REVISION_HISTORY: Final = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS: Final = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS: Final = "deployment.kubernetes.io/max-replicas"
# annotations of the Deployment that are not copied onto its ReplicaSets (upstream skipCopyAnnotation)
SKIP_COPY: Final = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
                              DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"})
NO_DEADLINE: Final = 2**31 - 1
SAFE_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"


# ---- pure helpers -------------------------------------------------------------------------------


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """Upstream ``rand.SafeEncodeString``: no vowels, no look-alike characters."""
    return "".join(SAFE_ALPHABET[ord(ch) % len(SAFE_ALPHABET)] for ch in text)


def template_hash(template: Obj, collision_count: int | None) -> str:
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def _without_hash(template: Obj) -> Obj:
    template = copy.deepcopy(template or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """Upstream ``EqualIgnoreHash``: templates equal but for the pod-template-hash label."""
    return _normalized(_without_hash(a)) == _normalized(_without_hash(b))


def _normalized(template: Obj) -> Obj:
    md = template.get("metadata") or {}
    # an empty map and a missing one are the same template (Go's DeepEqual on decoded objects agrees)
    template["metadata"] = {k: v for k, v in md.items() if v not in (None, {}, []) and k != "creationTimestamp"}
    return template


def revision(obj: Obj) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION) or 0)
    except ValueError:
        return 0


def spec_replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """Upstream ``intstr.GetScaledValueFromIntOrPercent``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        fraction = int(text[:-1]) * total / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return int(text)


def resolve_fenceposts(deployment: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods; both 0 becomes maxUnavailable 1, as upstream."""
    rolling = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    replicas = spec_replicas(deployment)
    surge = scaled_value(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling(deployment: Obj) -> bool:
    return (((deployment.get("spec") or {}).get("strategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"


def max_unavailable(deployment: Obj) -> int:
    replicas = spec_replicas(deployment)
    if not is_rolling(deployment) or replicas == 0:
        return 0
    return min(resolve_fenceposts(deployment)[1], replicas)


def max_surge(deployment: Obj) -> int:
    return resolve_fenceposts(deployment)[0] if is_rolling(deployment) else 0


def created(obj: Obj) -> tuple[float, str]:
    md = obj.get("metadata") or {}
    return (parse_time(md.get("creationTimestamp")) or 0.0, str(md.get("name")))


def annotation_int(obj: Obj, name: str) -> int | None:
    try:
        value = ((obj.get("metadata") or {}).get("annotations") or {}).get(name)
        return None if value is None else int(value)
    except ValueError:
        return None


def new_rs_new_replicas(deployment: Obj, all_rss: list[Obj], new_rs: Obj | None) -> int:
    """Upstream ``NewRSNewReplicas``."""
    if not is_rolling(deployment):
        return spec_replicas(deployment)
    current = sum(spec_replicas(rs) for rs in all_rss)
    max_total = spec_replicas(deployment) + max_surge(deployment)
    new_size = spec_replicas(new_rs) if new_rs is not None else 0
    if current >= max_total:
        return new_size
    scale_up = min(max_total - current, spec_replicas(deployment) - new_size)
    return new_size + scale_up


def deployment_complete(deployment: Obj, status: Obj) -> bool:
    replicas = spec_replicas(deployment)
    return (int(status.get("updatedReplicas") or 0) == replicas and int(status.get("replicas") or 0) == replicas
            and int(status.get("availableReplicas") or 0) == replicas
            and int(status.get("observedGeneration") or 0) >= int(deployment["metadata"].get("generation") or 0))


def deployment_progressing(deployment: Obj, new: Obj) -> bool:
    old = deployment.get("status") or {}
    def get(s: Obj, f: str) -> int:
        return int(s.get(f) or 0)
    old_old = get(old, "replicas") - get(old, "updatedReplicas")
    new_old = get(new, "replicas") - get(new, "updatedReplicas")
    return (get(new, "updatedReplicas") > get(old, "updatedReplicas") or new_old < old_old
            or get(new, "readyReplicas") > get(old, "readyReplicas")
            or get(new, "availableReplicas") > get(old, "availableReplicas"))


def progress_deadline(deployment: Obj) -> int | None:
    value = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    if value is None or int(value) == NO_DEADLINE:
        return None
    return int(value)


def get_condition(status: Obj, kind: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def set_condition(status: Obj, condition: Obj) -> None:
    """Upstream ``SetDeploymentCondition``: same status and reason is no change; same status keeps the
    transition time."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] and \
            current.get("reason") == condition["reason"]:
        return
    if current is not None and current.get("status") == condition["status"]:
        condition["lastTransitionTime"] = current.get("lastTransitionTime")
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]]
    status["conditions"].append(condition)


def remove_condition(status: Obj, kind: str) -> None:
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != kind]


def new_condition(kind: str, status: str, reason: str, message: str) -> Obj:
    stamp = now_rfc3339()
    return {"type": kind, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def timed_out(deployment: Obj, status: Obj, now: float) -> bool:
    deadline = progress_deadline(deployment)
    condition = get_condition(status, "Progressing")
    if deadline is None or condition is None or condition.get("reason") == "NewReplicaSetAvailable":
        return False
    if condition.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = parse_time(condition.get("lastUpdateTime")) or now
    return since + deadline < now


def active(rss: list[Obj]) -> list[Obj]:
    return [rs for rs in rss if spec_replicas(rs) > 0]


def find_active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
    if new_rs is None and not old_rss:
        return None
    olds = sorted(old_rss, key=created, reverse=True)
    alive = active([*olds, *([new_rs] if new_rs is not None else [])])
    if not alive:
        return new_rs if new_rs is not None else olds[0]
    if len(alive) == 1:
        return alive[0]
    return None


def round_half_away(value: float) -> int:
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def proportion(rs: Obj, deployment: Obj, to_add: int, added: int) -> int:
    """Upstream ``GetProportion``: this ReplicaSet's share of a resize."""
    if spec_replicas(rs) == 0 or to_add in (0, added):
        return 0
    replicas = spec_replicas(deployment)
    if replicas == 0:
        fraction = -spec_replicas(rs)
    else:
        total = replicas + max_surge(deployment)
        annotated = annotation_int(rs, MAX_REPLICAS)
        if annotated is None or annotated == 0:
            annotated = status_int(deployment, "replicas") or 1
        fraction = round_half_away(spec_replicas(rs) * total / annotated) - spec_replicas(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


# ---- the controller ------------------------------------------------------------------------------


class DeploymentController(Controller):
    name = "deployment"
    workers = 5

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None) -> None:
        super().__init__()
        self.client = client
        self.deploy_api = client.resource("apps", "v1", "deployments")
        self.rs_api = client.resource("apps", "v1", "replicasets")
        self.recorder: EventRecorder = recorder or EventRecorder(client, component="deployment-controller",
                                                                 host=socket.gethostname())
        self.deployments = self.shared(factory, "apps", "v1", "deployments")
        self.replicasets = self.shared(factory, "apps", "v1", "replicasets",
                                       indexers={CONTROLLER_UID_INDEX: index_by_controller_uid})
        self.pods = self.shared(factory, "", "v1", "pods", indexers={CONTROLLER_UID_INDEX: index_by_controller_uid})
        self.tracker = WriteTracker()  # our writes to Deployments the cache has not shown yet
        self.deployments.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                     on_delete=self.enqueue)
        self.replicasets.add_handler(on_add=self._rs_changed, on_update=self._rs_updated, on_delete=self._rs_changed)
        self.pods.add_handler(on_delete=self._pod_deleted)

    def _owner(self, rs: Obj) -> Obj | None:
        ref = controller_ref(rs)
        if ref is None or ref.get("kind") != KIND:
            return None
        deployment = self.deployments.store.get(f"{rs['metadata']['namespace']}/{ref['name']}")
        if deployment is None or deployment["metadata"].get("uid") != ref.get("uid"):
            return None
        return deployment

    def _rs_changed(self, rs: Obj) -> None:
        owner = self._owner(rs)
        if owner is not None:
            self.enqueue(owner)
        elif controller_ref(rs) is None:
            labels_ = rs["metadata"].get("labels") or {}
            for deployment in self.deployments.store.by_index("namespace", str(rs["metadata"]["namespace"])):
                if selector_of(deployment).matches(labels_):
                    self.enqueue(deployment)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        old_owner = self._owner(old)
        if old_owner is not None and controller_ref(new) != controller_ref(old):
            self.enqueue(old_owner)
        self._rs_changed(new)

    def _pod_deleted(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.store.get(f"{pod['metadata']['namespace']}/{ref['name']}")
        if rs is not None:
            owner = self._owner(rs)
            if owner is not None and not is_rolling(owner):
                self.enqueue(owner)

    # ---- sync ----

    async def reconcile(self, key: str) -> float | None:
        wait = self.tracker.wait_for(key, self.deployments.store)
        if wait is not None:
            return wait
        cached = self.deployments.store.get(key)
        if cached is None:
            return None
        d = typed(copy.deepcopy(cached), api_version=API_VERSION, kind=KIND)
        selector = selector_of(d)
        if selector.empty():
            self.recorder.event(d, event_type="Warning", reason="SelectingAll",
                                message="This deployment is selecting all pods. A non-empty selector is required.")
            return None
        namespace = d["metadata"]["namespace"]
        candidates = [copy.deepcopy(rs) for rs in self.replicasets.store.by_index("namespace", namespace)]
        rss = [typed(rs, api_version=API_VERSION, kind="ReplicaSet") for rs in await claim(
            owner=d, owner_api_version=API_VERSION, owner_kind=KIND, candidates=candidates, resource=self.rs_api,
            selector=selector)]
        if d["metadata"].get("deletionTimestamp"):
            new_rs, old_rss = self._split(d, rss)
            await self._sync_status(d, [*old_rss, *([new_rs] if new_rs else [])], new_rs)
            return None
        await self._check_paused_conditions(d)
        if (d.get("spec") or {}).get("paused"):
            return await self._sync(d, rss)
        if self._is_scaling_event(d, rss):
            return await self._sync(d, rss)
        if is_rolling(d):
            return await self._rollout_rolling(d, rss)
        return await self._rollout_recreate(d, rss)

    def _split(self, d: Obj, rss: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        template = (d.get("spec") or {}).get("template") or {}
        ordered = sorted(rss, key=created)
        new_rs = next((rs for rs in ordered if equal_ignore_hash((rs.get("spec") or {}).get("template") or {},
                                                                   template)), None)
        return new_rs, [rs for rs in ordered if rs is not new_rs]

    def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> bool:
        new_rs, old_rss = self._split(d, rss)
        if new_rs is None:
            return False
        for rs in active([new_rs, *old_rss]):
            desired = annotation_int(rs, DESIRED_REPLICAS)
            if desired is not None and desired != spec_replicas(d):
                return True
        return False

    async def _check_paused_conditions(self, d: Obj) -> None:
        if progress_deadline(d) is None:
            return
        status = d.setdefault("status", {})
        condition = get_condition(status, "Progressing")
        if condition is not None and condition.get("reason") == "ProgressDeadlineExceeded":
            return
        paused = bool((d.get("spec") or {}).get("paused"))
        paused_now = condition is not None and condition.get("reason") == "DeploymentPaused"
        changed = False
        if paused and not paused_now:
            set_condition(status, new_condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"))
            changed = True
        elif not paused and paused_now:
            set_condition(status, new_condition("Progressing", "Unknown", "DeploymentResumed",
                                                "Deployment is resumed"))
            changed = True
        if changed:
            d.update(self._wrote(await self.deploy_api.update_status(d)))

    async def _new_and_old(self, d: Obj, rss: list[Obj], *, create: bool) -> tuple[Obj | None, list[Obj]]:
        """Upstream ``getAllReplicaSetsAndSyncRevision``."""
        existing_new, old_rss = self._split(d, rss)
        max_old = max((revision(rs) for rs in old_rss), default=0)
        new_revision = max_old + 1
        new_rs = await self._get_new_rs(d, rss, existing_new, old_rss, new_revision, create=create)
        return new_rs, old_rss

    def _rs_annotations(self, d: Obj, rs: Obj, new_revision: int, *, exists: bool) -> tuple[dict[str, str], bool]:
        annotations = dict(rs["metadata"].get("annotations") or {})
        before = dict(annotations)
        for name, value in (d["metadata"].get("annotations") or {}).items():
            if name not in SKIP_COPY:
                annotations[name] = value
        old_revision = annotations.get(REVISION)
        if int(old_revision or 0) < new_revision:
            annotations[REVISION] = str(new_revision)
            if exists and old_revision:
                history = [h for h in (annotations.get(REVISION_HISTORY) or "").split(",") if h]
                annotations[REVISION_HISTORY] = ",".join([*history, old_revision])
        annotations.setdefault(DESIRED_REPLICAS, str(spec_replicas(d)))
        annotations.setdefault(MAX_REPLICAS, str(spec_replicas(d) + max_surge(d)))
        return annotations, annotations != before

    async def _get_new_rs(self, d: Obj, rss: list[Obj], existing: Obj | None, old_rss: list[Obj],
                          new_revision: int, *, create: bool) -> Obj | None:
        status = d.setdefault("status", {})
        if existing is not None:
            annotations, changed = self._rs_annotations(d, existing, new_revision, exists=True)
            min_ready = (d.get("spec") or {}).get("minReadySeconds")
            if (existing.get("spec") or {}).get("minReadySeconds") != min_ready:
                existing["spec"]["minReadySeconds"] = min_ready
                changed = True
            if changed:
                existing["metadata"]["annotations"] = annotations
                existing = typed(await self.rs_api.update(existing), api_version=API_VERSION, kind="ReplicaSet")
            await self._set_revision(d, annotations.get(REVISION, str(new_revision)))
            if get_condition(status, "Progressing") is None and progress_deadline(d) is not None:
                set_condition(status, new_condition("Progressing", "True", "FoundNewReplicaSet",
                                                    f'Found new replica set "{existing["metadata"]["name"]}"'))
                d.update(self._wrote(await self.deploy_api.update_status(d)))
            return existing
        if not create:
            return None
        collisions = int(status.get("collisionCount") or 0)
        spec = d.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        hash_value = template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = hash_value
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_value
        name = f"{d['metadata']['name']}-{hash_value}"
        replicas = new_rs_new_replicas(d, rss, None)
        body: Obj = {"apiVersion": API_VERSION, "kind": "ReplicaSet",
                     "metadata": {"name": name, "namespace": d["metadata"]["namespace"],
                                  "labels": dict(template["metadata"]["labels"]),
                                  "ownerReferences": [owner_reference(d, api_version=API_VERSION, kind=KIND)]},
                     "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds") or 0,
                              "selector": selector, "template": template}}
        annotations, _ = self._rs_annotations(d, body, new_revision, exists=False)
        annotations[DESIRED_REPLICAS] = str(spec_replicas(d))
        annotations[MAX_REPLICAS] = str(spec_replicas(d) + max_surge(d))
        body["metadata"]["annotations"] = annotations
        body["spec"]["replicas"] = replicas
        try:
            new_rs = typed(await self.rs_api.create(body), api_version=API_VERSION, kind="ReplicaSet")
        except APIStatusError as exc:
            if not is_already_exists(exc):
                raise
            current = await self.rs_api.get(name, namespace=d["metadata"]["namespace"])
            ref = controller_ref(current)
            if ref and ref.get("uid") == d["metadata"]["uid"] and equal_ignore_hash(
                    (current.get("spec") or {}).get("template") or {}, spec.get("template") or {}):
                return typed(current, api_version=API_VERSION, kind="ReplicaSet")
            status["collisionCount"] = collisions + 1
            await self.deploy_api.update_status(d)
            raise RuntimeError(f"hash collision creating ReplicaSet {name}; collisionCount is now "
                               f"{collisions + 1}") from None
        if replicas > 0:
            self.recorder.event(d, event_type="Normal", reason="ScalingReplicaSet",
                                message=f"Scaled up replica set {name} from 0 to {replicas}")
        await self._set_revision(d, str(new_revision))
        if progress_deadline(d) is not None:
            set_condition(status, new_condition("Progressing", "True", "NewReplicaSetCreated",
                                                f'Created new replica set "{name}"'))
            d.update(self._wrote(await self.deploy_api.update_status(d)))
        return new_rs

    def _wrote(self, written: Obj) -> Obj:
        self.tracker.wrote(f"{written['metadata']['namespace']}/{written['metadata']['name']}", written)
        return written

    async def _set_revision(self, d: Obj, value: str) -> None:
        annotations = d["metadata"].setdefault("annotations", {})
        if annotations.get(REVISION) == value:
            return
        annotations[REVISION] = value
        d.update(self._wrote(await self.deploy_api.update(d)))

    async def _scale_rs(self, d: Obj, rs: Obj, size: int) -> bool:
        """Upstream ``scaleReplicaSetAndRecordEvent``; updates ``rs`` in place. True when it scaled."""
        before = spec_replicas(rs)
        annotations = dict(rs["metadata"].get("annotations") or {})
        wanted = {DESIRED_REPLICAS: str(spec_replicas(d)), MAX_REPLICAS: str(spec_replicas(d) + max_surge(d))}
        if before == size and all(annotations.get(k) == v for k, v in wanted.items()):
            return False
        rs["metadata"]["annotations"] = {**annotations, **wanted}
        rs["spec"]["replicas"] = size
        rs.update(typed(await self.rs_api.update(rs), api_version=API_VERSION, kind="ReplicaSet"))
        if before != size:
            direction = "up" if size > before else "down"
            self.recorder.event(d, event_type="Normal", reason="ScalingReplicaSet",
                                message=f"Scaled {direction} replica set {rs['metadata']['name']} from {before} "
                                        f"to {size}")
        return before != size

    # ---- strategies ----

    async def _rollout_rolling(self, d: Obj, rss: list[Obj]) -> float | None:
        new_rs, old_rss = await self._new_and_old(d, rss, create=True)
        assert new_rs is not None
        all_rss = [*old_rss, new_rs]
        if await self._reconcile_new(d, all_rss, new_rs):
            return await self._sync_rollout_status(d, all_rss, new_rs)
        if await self._reconcile_old(d, all_rss, active(old_rss), new_rs):
            return await self._sync_rollout_status(d, all_rss, new_rs)
        if deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old_rss)
        return await self._sync_rollout_status(d, all_rss, new_rs)

    async def _reconcile_new(self, d: Obj, all_rss: list[Obj], new_rs: Obj) -> bool:
        wanted = spec_replicas(d)
        if spec_replicas(new_rs) == wanted:
            return False
        if spec_replicas(new_rs) > wanted:
            return await self._scale_rs(d, new_rs, wanted)
        return await self._scale_rs(d, new_rs, new_rs_new_replicas(d, all_rss, new_rs))

    async def _reconcile_old(self, d: Obj, all_rss: list[Obj], old_rss: list[Obj], new_rs: Obj) -> bool:
        old_count = sum(spec_replicas(rs) for rs in old_rss)
        if old_count == 0:
            return False
        all_count = sum(spec_replicas(rs) for rs in all_rss)
        min_available = spec_replicas(d) - max_unavailable(d)
        new_unavailable = spec_replicas(new_rs) - status_int(new_rs, "availableReplicas")
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = 0
        for rs in sorted(old_rss, key=created):  # unhealthy replicas first
            if cleaned >= max_scaled_down:
                break
            size, available = spec_replicas(rs), status_int(rs, "availableReplicas")
            if size in (0, available):
                continue
            count = min(max_scaled_down - cleaned, size - available)
            await self._scale_rs(d, rs, size - count)
            cleaned += count
        available_total = sum(status_int(rs, "availableReplicas") for rs in all_rss)
        scaled = 0
        if available_total > min_available:
            to_scale = available_total - min_available
            for rs in sorted(old_rss, key=created):
                if scaled >= to_scale:
                    break
                size = spec_replicas(rs)
                if size == 0:
                    continue
                count = min(size, to_scale - scaled)
                await self._scale_rs(d, rs, size - count)
                scaled += count
        return cleaned + scaled > 0

    async def _rollout_recreate(self, d: Obj, rss: list[Obj]) -> float | None:
        new_rs, old_rss = await self._new_and_old(d, rss, create=False)
        all_rss = [*old_rss, *([new_rs] if new_rs else [])]
        scaled_down = False
        for rs in active(old_rss):
            scaled_down = await self._scale_rs(d, rs, 0) or scaled_down
        if scaled_down:
            return await self._sync_rollout_status(d, all_rss, new_rs)
        if self._old_pods_running(old_rss):
            return await self._sync_rollout_status(d, all_rss, new_rs)
        if new_rs is None:
            new_rs, old_rss = await self._new_and_old(d, rss, create=True)
            assert new_rs is not None
            all_rss = [*old_rss, new_rs]
        await self._scale_rs(d, new_rs, spec_replicas(d))
        if deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old_rss)
        return await self._sync_rollout_status(d, all_rss, new_rs)

    def _old_pods_running(self, old_rss: list[Obj]) -> bool:
        for rs in old_rss:
            if status_int(rs, "replicas") > 0:
                return True
            for pod in self.pods.store.by_index(CONTROLLER_UID_INDEX, str(rs["metadata"]["uid"])):
                if not is_terminal(pod):
                    return True
        return False

    async def _sync(self, d: Obj, rss: list[Obj]) -> float | None:
        """Scale only (paused, or a scaling event), then status."""
        new_rs, old_rss = await self._new_and_old(d, rss, create=False)
        await self._scale(d, new_rs, old_rss)
        if (d.get("spec") or {}).get("paused"):
            await self._cleanup(d, old_rss)
        await self._sync_status(d, [*old_rss, *([new_rs] if new_rs else [])], new_rs)
        return None

    async def _scale(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        """Upstream ``scale``: one active ReplicaSet takes the new size; several share it proportionally."""
        replicas = spec_replicas(d)
        target = find_active_or_latest(new_rs, old_rss)
        if target is not None:
            if spec_replicas(target) != replicas:
                await self._scale_rs(d, target, replicas)
            return
        if new_rs is not None and annotation_int(new_rs, DESIRED_REPLICAS) == replicas and \
                spec_replicas(new_rs) == replicas and status_int(new_rs, "availableReplicas") == replicas:
            for rs in active(old_rss):
                await self._scale_rs(d, rs, 0)
            return
        if not is_rolling(d):
            return
        all_rss = active([*old_rss, *([new_rs] if new_rs else [])])
        total = sum(spec_replicas(rs) for rs in all_rss)
        allowed = replicas + max_surge(d) if replicas > 0 else 0
        to_add = allowed - total
        if to_add > 0:
            all_rss.sort(key=lambda rs: (-spec_replicas(rs), -created(rs)[0]))
        else:
            all_rss.sort(key=lambda rs: (-spec_replicas(rs), created(rs)[0]))
        added = 0
        sizes: dict[str, int] = {}
        for rs in all_rss:
            share = proportion(rs, d, to_add, added) if to_add != 0 else 0
            sizes[rs["metadata"]["name"]] = spec_replicas(rs) + share
            added += share
        if to_add != 0 and all_rss:
            first = all_rss[0]["metadata"]["name"]
            sizes[first] = max(sizes[first] + to_add - added, 0)
        for rs in all_rss:
            await self._scale_rs(d, rs, sizes[rs["metadata"]["name"]])

    async def _cleanup(self, d: Obj, old_rss: list[Obj]) -> None:
        limit = (d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")]
        diff = len(alive) - int(limit)
        if diff <= 0:
            return
        for rs in sorted(alive, key=lambda r: (revision(r), created(r)))[:diff]:
            if status_int(rs, "replicas") or spec_replicas(rs) or int(rs["metadata"].get("generation") or 0) > \
                    status_int(rs, "observedGeneration"):
                continue
            try:
                await self.rs_api.delete(rs["metadata"]["name"], namespace=rs["metadata"]["namespace"],
                                         preconditions={"uid": rs["metadata"]["uid"]})
            except APIStatusError as exc:
                if not (is_not_found(exc) or exc.code == 409):
                    raise

    # ---- status ----

    def _calculate_status(self, d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> Obj:
        available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
        status: Obj = copy.deepcopy(d.get("status") or {})
        status.update({
            "observedGeneration": d["metadata"].get("generation", 0),
            "replicas": sum(status_int(rs, "replicas") for rs in all_rss),
            "updatedReplicas": status_int(new_rs, "replicas") if new_rs is not None else 0,
            "readyReplicas": sum(status_int(rs, "readyReplicas") for rs in all_rss),
            "availableReplicas": available,
            "unavailableReplicas": max(spec_replicas(d) - available, 0),
        })
        if available >= spec_replicas(d) - max_unavailable(d):
            set_condition(status, new_condition("Available", "True", "MinimumReplicasAvailable",
                                                "Deployment has minimum availability."))
        else:
            set_condition(status, new_condition("Available", "False", "MinimumReplicasUnavailable",
                                                "Deployment does not have minimum availability."))
        return status

    async def _write_status(self, d: Obj, status: Obj) -> None:
        clean = {k: v for k, v in status.items() if v not in (0, None, []) or k == "observedGeneration"}
        if clean == (d.get("status") or {}):
            return
        try:
            d.update(self._wrote(await self.deploy_api.update_status({**d, "status": clean})))
        except APIStatusError as exc:
            if not is_not_found(exc):
                raise

    async def _sync_status(self, d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> None:
        await self._write_status(d, self._calculate_status(d, all_rss, new_rs))

    async def _sync_rollout_status(self, d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> float | None:
        status = self._calculate_status(d, all_rss, new_rs)
        deadline = progress_deadline(d)
        if deadline is None:
            remove_condition(status, "Progressing")
        current = get_condition(status, "Progressing")
        complete = int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0) and \
            current is not None and current.get("reason") == "NewReplicaSetAvailable"
        now = time.time()
        if deadline is not None and not complete and new_rs is not None:
            name = new_rs["metadata"]["name"]
            if deployment_complete(d, status):
                set_condition(status, new_condition("Progressing", "True", "NewReplicaSetAvailable",
                                                    f'ReplicaSet "{name}" has successfully progressed.'))
            elif deployment_progressing(d, status):
                condition = new_condition("Progressing", "True", "ReplicaSetUpdated",
                                          f'ReplicaSet "{name}" is progressing.')
                if current is not None:
                    if current.get("status") == "True":
                        condition["lastTransitionTime"] = current.get("lastTransitionTime")
                    remove_condition(status, "Progressing")
                set_condition(status, condition)
            elif timed_out(d, status, now):
                set_condition(status, new_condition("Progressing", "False", "ProgressDeadlineExceeded",
                                                    f'ReplicaSet "{name}" has timed out progressing.'))
        await self._write_status(d, status)
        # a rollout still in progress is looked at again when its deadline would pass
        current = get_condition(status, "Progressing")
        if deadline is not None and current is not None and current.get("reason") == "ReplicaSetUpdated" \
                and not deployment_complete(d, status):
            since = parse_time(current.get("lastUpdateTime")) or now
            return max(since + deadline - now, 1.0)
        return None

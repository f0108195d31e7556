"""DaemonSets: one pod on every eligible node (upstream ``pkg/controller/daemon``).

The work queue holds DaemonSet keys; node changes queue every DaemonSet, pod changes their owner.
``reconcile``:

* **eligible nodes**: the template's ``nodeSelector`` and required node affinity match the node, and the
  pod tolerates the node's NoSchedule/NoExecute taints, counting the tolerations upstream adds to every
  daemon pod (not-ready and unreachable NoExecute; disk-, memory-, pid-pressure and unschedulable
  NoSchedule; network-unavailable for host-network pods);
* **placement as upstream**: each pod targets its node through required node affinity
  (``matchFields metadata.name In [node]``) and the scheduler binds it; a node that should run a pod
  and has none gets one, a node that should not loses it, duplicates and Failed pods are deleted;
* **updates**: pods carry ``controller-revision-hash``; the current template is stored as a
  ControllerRevision (``kubectl rollout history``). ``RollingUpdate`` deletes old pods while at most
  ``maxUnavailable`` (default 1) daemon pods are unavailable, and the replacement is created on the
  next sync; ``OnDelete`` replaces a pod only when someone deletes it;
* status: desiredNumberScheduled, currentNumberScheduled, numberMisscheduled, numberReady,
  updatedNumberScheduled, numberAvailable, numberUnavailable, observedGeneration
  (``kubectl rollout status ds`` completes on them).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import socket
import time
from typing import Any, Final

from kubelite.api import labels
from kubelite.client import (
    APIClient,
    APIStatusError,
    EventRecorder,
    SharedInformerFactory,
    is_already_exists,
    is_not_found,
)
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.deployment import scaled_value, template_hash
from kubelite.controlplane.controllers.nodelifecycle import toleration_matches
from kubelite.controlplane.controllers.pod_control import (
    CONTROLLER_UID_INDEX,
    Expectations,
    claim,
    controller_ref,
    index_by_controller_uid,
    is_active,
    is_available,
    is_ready,
    owner_reference,
    pod_from_template,
    selector_of,
    typed,
)
from kubelite.controlplane.controllers.write_tracker import WriteTracker

log = logging.getLogger(__name__)

Obj = dict[str, Any]

API_VERSION: Final = "apps/v1"
KIND: Final = "DaemonSet"
HASH_LABEL: Final = "controller-revision-hash"
DAEMON_TOLERATIONS: Final = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
NETWORK_UNAVAILABLE: Final = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                              "effect": "NoSchedule"}


def daemon_tolerations(pod_spec: Obj) -> list[Obj]:
    """The template's tolerations plus those upstream adds to every daemon pod (``AddOrUpdateDaemonPodTolerations``)."""
    tolerations = [t for t in pod_spec.get("tolerations") or [] if isinstance(t, dict)]
    extra = [*DAEMON_TOLERATIONS, *([NETWORK_UNAVAILABLE] if pod_spec.get("hostNetwork") else [])]
    for toleration in extra:
        if not any(t.get("key") == toleration["key"] and t.get("effect") == toleration["effect"] for t in tolerations):
            tolerations.append(dict(toleration))
    return tolerations


def _requirement_matches(expression: Obj, value: str | None) -> bool:
    operator = expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and values:
        try:
            return int(value) > int(values[0]) if operator == "Gt" else int(value) < int(values[0])
        except ValueError:
            return False
    return False


def node_selector_term_matches(term: Obj, node: Obj) -> bool:
    node_labels = node["metadata"].get("labels") or {}
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches nothing, as upstream
    return all(_requirement_matches(e, node_labels.get(e.get("key"))) for e in expressions) and all(
        _requirement_matches(f, node["metadata"]["name"] if f.get("key") == "metadata.name" else None)
        for f in fields)


def should_run(pod_spec: Obj, node: Obj) -> bool:
    """Upstream ``NodeShouldRunDaemonPod`` (predicates: node name, selector, affinity, taints)."""
    if pod_spec.get("nodeName") and pod_spec["nodeName"] != node["metadata"]["name"]:
        return False
    node_labels = node["metadata"].get("labels") or {}
    if not labels.selector_from_set(pod_spec.get("nodeSelector") or {}).matches(node_labels):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(node_selector_term_matches(t, node) for t in terms):
        return False
    tolerations = daemon_tolerations(pod_spec)
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(toleration_matches(t, taint) for t in tolerations):
            return False
    return True


def target_node(pod_spec: Obj, node_name: str) -> None:
    """Upstream ``ReplaceDaemonSetPodNodeNameNodeAffinity``: require exactly this node by metadata.name."""
    affinity = pod_spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    by_name = {"key": "metadata.name", "operator": "In", "values": [node_name]}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        required["nodeSelectorTerms"] = [{"matchFields": [by_name]}]
        return
    for term in terms:
        term["matchFields"] = [f for f in term.get("matchFields") or [] if f.get("key") != "metadata.name"] + [by_name]


def pod_node(pod: Obj) -> str | None:
    """The node a daemon pod is for: its nodeName, or the node its affinity targets while unscheduled."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and field.get("values"):
                return str(field["values"][0])
    return None


class DaemonSetController(Controller):
    name = "daemonset"

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None) -> None:
        super().__init__()
        self.client = client
        self.ds_api = client.resource("apps", "v1", "daemonsets")
        self.pods_api = client.resource("", "v1", "pods")
        self.revisions_api = client.resource("apps", "v1", "controllerrevisions")
        self.recorder: EventRecorder = recorder or EventRecorder(client, component="daemonset-controller",
                                                                 host=socket.gethostname())
        self.daemonsets = self.shared(factory, "apps", "v1", "daemonsets")
        self.nodes = self.shared(factory, "", "v1", "nodes", namespaced=False)
        self.pods = self.shared(factory, "", "v1", "pods", indexers={CONTROLLER_UID_INDEX: index_by_controller_uid})
        self.revisions = self.shared(factory, "apps", "v1", "controllerrevisions",
                                     indexers={CONTROLLER_UID_INDEX: index_by_controller_uid})
        self.expectations = Expectations()
        self.tracker = WriteTracker()
        self.daemonsets.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.nodes.add_handler(on_add=self._all, on_update=lambda _o, n: self._all(n), on_delete=self._all)
        self.pods.add_handler(on_add=self._pod_added, on_update=lambda _o, n: self._pod_changed(n),
                              on_delete=self._pod_deleted)

    def _all(self, _node: Obj) -> None:
        for ds in self.daemonsets.store.list():
            self.enqueue(ds)

    def _key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != KIND:
            return None
        return f"{pod['metadata']['namespace']}/{ref['name']}"

    def _pod_added(self, pod: Obj) -> None:
        if key := self._key(pod):
            self.expectations.lower(key, adds=1)
            self.queue.add(key)

    def _pod_changed(self, pod: Obj) -> None:
        if key := self._key(pod):
            self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        if key := self._key(pod):
            self.expectations.lower(key, deletes=1)
            self.queue.add(key)

    async def reconcile(self, key: str) -> float | None:
        wait = self.tracker.wait_for(key, self.daemonsets.store)
        if wait is not None:
            return wait
        cached = self.daemonsets.store.get(key)
        if cached is None:
            self.expectations.forget(key)
            return None
        ds = typed(copy.deepcopy(cached), api_version=API_VERSION, kind=KIND)
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        pod_spec = template.get("spec") or {}
        namespace = ds["metadata"]["namespace"]
        pods = await claim(owner=ds, owner_api_version=API_VERSION, owner_kind=KIND,
                           candidates=[p for p in self.pods.store.by_index("namespace", namespace) if is_active(p)
                                       or (p.get("status") or {}).get("phase") == "Failed"],
                           resource=self.pods_api, selector=selector_of(ds))
        current_hash = await self._revision(ds)
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            node = pod_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        nodes = {n["metadata"]["name"]: n for n in self.nodes.store.list()}
        eligible = {name for name, node in nodes.items() if should_run(pod_spec, node)}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = time.time()
        create: list[str] = []
        delete: list[Obj] = []
        for name in eligible:
            running = [p for p in by_node.get(name, []) if is_active(p)]
            failed = [p for p in by_node.get(name, []) if (p.get("status") or {}).get("phase") == "Failed"]
            delete.extend(failed)
            if not running:
                create.append(name)
            elif len(running) > 1:
                running.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "")
                delete.extend(running[1:])
        for name, node_pods in by_node.items():
            if name not in eligible:
                delete.extend(p for p in node_pods if not p["metadata"].get("deletionTimestamp"))
        if self.expectations.satisfied(key) and not ds["metadata"].get("deletionTimestamp"):
            delete.extend(self._rolling_victims(ds, by_node, eligible, current_hash, min_ready, now,
                                                already={p["metadata"]["uid"] for p in delete}))
            await self._apply(key, ds, template, current_hash, create, delete)
        await self._write_status(key, ds, by_node, eligible, current_hash, min_ready, now)
        return None

    def _rolling_victims(self, ds: Obj, by_node: dict[str, list[Obj]], eligible: set[str], current_hash: str,
                         min_ready: int, now: float, *, already: set[str]) -> list[Obj]:
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
            return []
        max_unavailable = scaled_value((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1),
                                       len(eligible), round_up=True) or 1
        unavailable = 0
        old_available: list[Obj] = []
        for name in eligible:
            running = [p for p in by_node.get(name, []) if is_active(p)]
            if not running or not any(is_available(p, min_ready, now) for p in running):
                unavailable += 1
                # an old pod that is not available anyway can go at once
                old_available.extend(p for p in running if (p["metadata"].get("labels") or {}).get(HASH_LABEL)
                                     != current_hash and p["metadata"]["uid"] not in already)
                continue
            for pod in running:
                if (pod["metadata"].get("labels") or {}).get(HASH_LABEL) != current_hash \
                        and pod["metadata"]["uid"] not in already:
                    old_available.append(pod)
        victims = [p for p in old_available if not is_available(p, min_ready, now)]
        budget = max_unavailable - unavailable
        for pod in sorted((p for p in old_available if is_available(p, min_ready, now)),
                          key=lambda p: p["metadata"].get("name") or ""):
            if budget <= 0:
                break
            victims.append(pod)
            budget -= 1
        return victims

    async def _apply(self, key: str, ds: Obj, template: Obj, current_hash: str, create: list[str],
                     delete: list[Obj]) -> None:
        self.expectations.expect(key, adds=len(create), deletes=len(delete))

        async def create_on(node: str) -> None:
            pod = pod_from_template(template, owner=ds, api_version=API_VERSION, kind=KIND)
            pod["metadata"].setdefault("labels", {})[HASH_LABEL] = current_hash
            pod["spec"]["tolerations"] = daemon_tolerations(pod["spec"])
            target_node(pod["spec"], node)
            try:
                created = await self.pods_api.create(pod, namespace=ds["metadata"]["namespace"])
            except APIStatusError:
                self.expectations.lower(key, adds=1)
                raise
            self.recorder.event(ds, event_type="Normal", reason="SuccessfulCreate",
                                message=f"Created pod: {created['metadata']['name']}")

        async def delete_pod(pod: Obj) -> None:
            md = pod["metadata"]
            try:
                await self.pods_api.delete(md["name"], namespace=md["namespace"], preconditions={"uid": md["uid"]})
            except APIStatusError as exc:
                self.expectations.lower(key, deletes=1)
                if not (is_not_found(exc) or exc.code == 409):
                    raise
                return
            self.recorder.event(ds, event_type="Normal", reason="SuccessfulDelete",
                                message=f"Deleted pod: {md['name']}")

        results = await asyncio.gather(*(create_on(n) for n in create), *(delete_pod(p) for p in delete),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _revision(self, ds: Obj) -> str:
        """The current template's hash; its ControllerRevision is created when missing (rollout history)."""
        template = (ds.get("spec") or {}).get("template") or {}
        current = template_hash(template, (ds.get("status") or {}).get("collisionCount"))
        name = f"{ds['metadata']['name']}-{current}"
        owned = self.revisions.store.by_index(CONTROLLER_UID_INDEX, str(ds["metadata"]["uid"]))
        if any(r["metadata"]["name"] == name for r in owned):
            return current
        revision = max((int(r.get("revision") or 0) for r in owned), default=0) + 1
        body = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": name, "namespace": ds["metadata"]["namespace"],
                             "labels": {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: current},
                             "annotations": {k: v for k, v in (ds["metadata"].get("annotations") or {}).items()
                                             if k == "kubernetes.io/change-cause"},
                             "ownerReferences": [owner_reference(ds, api_version=API_VERSION, kind=KIND)]},
                "data": {"spec": {"template": {**json.loads(json.dumps(template)), "$patch": "replace"}}},
                "revision": revision}
        try:
            await self.revisions_api.create(body)
        except APIStatusError as exc:
            if not is_already_exists(exc):
                raise
        return current

    async def _write_status(self, key: str, ds: Obj, by_node: dict[str, list[Obj]], eligible: set[str],
                            current_hash: str, min_ready: int, now: float) -> None:
        scheduled = {n for n, ps in by_node.items() if any(is_active(p) for p in ps)}
        daemon_pods = [p for n in eligible for p in by_node.get(n, []) if is_active(p)]
        ready = sum(1 for p in daemon_pods if is_ready(p))
        available = sum(1 for p in daemon_pods if is_available(p, min_ready, now))
        updated = sum(1 for p in daemon_pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == current_hash)
        status: Obj = {
            **{k: v for k, v in (ds.get("status") or {}).items() if k in ("conditions", "collisionCount")},
            "currentNumberScheduled": len(scheduled & eligible),
            "numberMisscheduled": len(scheduled - eligible),
            "desiredNumberScheduled": len(eligible),
            "numberReady": ready,
            "observedGeneration": ds["metadata"].get("generation", 0),
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "numberUnavailable": max(len(eligible) - available, 0),
        }
        status = {k: v for k, v in status.items() if v or k in ("currentNumberScheduled", "numberMisscheduled",
                                                               "desiredNumberScheduled", "numberReady")}
        if status == (ds.get("status") or {}):
            return
        try:
            written = await self.ds_api.update_status({**ds, "status": status})
        except APIStatusError as exc:
            if is_not_found(exc):
                return
            raise
        self.tracker.wrote(key, written)

"""StatefulSets: pods with stable names, ordered (upstream ``pkg/controller/statefulset``).

The work queue holds StatefulSet keys; pod changes queue their owner. ``reconcile``:

* replica ``i`` is the pod ``<set>-<i>`` with labels ``statefulset.kubernetes.io/pod-name``,
  ``apps.kubernetes.io/pod-index`` and ``controller-revision-hash``, ``hostname`` = its name and
  ``subdomain`` = ``serviceName``; each ``volumeClaimTemplates`` entry gives it the claim
  ``<claim>-<set>-<i>`` (created when missing, never deleted here: upstream's default retention);
* ``OrderedReady`` (default): create the lowest missing ordinal only when every lower one is Running and
  Ready, at most one at a time; scale down from the highest ordinal, one pod at a time, only when all
  others are healthy. ``Parallel``: create and delete all at once;
* failed pods are deleted and recreated under the same name;
* ``RollingUpdate``: from the highest ordinal down to ``partition``, delete one pod whose revision is not
  the update revision, wait for its replacement to be Running and Ready, go on; ``OnDelete`` waits
  for the user to delete pods. Revisions are ControllerRevisions named ``<set>-<hash>``
  (``kubectl rollout history/undo sts``);
* status: replicas, readyReplicas, currentReplicas, updatedReplicas, availableReplicas,
  currentRevision, updateRevision, observedGeneration (``kubectl rollout status sts`` completes).
"""

from __future__ import annotations

import copy
import json
import logging
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
from kubelite.controlplane.controllers.deployment import template_hash
from kubelite.controlplane.controllers.pod_control import (
    CONTROLLER_UID_INDEX,
    claim,
    controller_ref,
    index_by_controller_uid,
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
KIND: Final = "StatefulSet"
HASH_LABEL: Final = "controller-revision-hash"
POD_NAME_LABEL: Final = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL: Final = "apps.kubernetes.io/pod-index"


def ordinal(set_name: str, pod: Obj) -> int | None:
    name = str(pod["metadata"]["name"])
    prefix = f"{set_name}-"
    if not name.startswith(prefix) or not name[len(prefix):].isdigit():
        return None
    return int(name[len(prefix):])


def running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod) and \
        not pod["metadata"].get("deletionTimestamp")


def revision_of(pod: Obj) -> str | None:
    return (pod["metadata"].get("labels") or {}).get(HASH_LABEL)


class StatefulSetController(Controller):
    name = "statefulset"

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None) -> None:
        super().__init__()
        self.client = client
        self.sts_api = client.resource("apps", "v1", "statefulsets")
        self.pods_api = client.resource("", "v1", "pods")
        self.pvc_api = client.resource("", "v1", "persistentvolumeclaims")
        self.revisions_api = client.resource("apps", "v1", "controllerrevisions")
        self.recorder: EventRecorder = recorder or EventRecorder(client, component="statefulset-controller",
                                                                 host=socket.gethostname())
        self.sets = self.shared(factory, "apps", "v1", "statefulsets")
        self.pods = self.shared(factory, "", "v1", "pods", indexers={CONTROLLER_UID_INDEX: index_by_controller_uid})
        self.revisions = self.shared(factory, "apps", "v1", "controllerrevisions",
                                     indexers={CONTROLLER_UID_INDEX: index_by_controller_uid})
        self.tracker = WriteTracker()  # pods and status written but not yet in the cache
        self.sets.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda _o, n: self._pod_changed(n),
                              on_delete=self._pod_changed)

    def _pod_changed(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is not None and ref.get("kind") == KIND:
            self.queue.add(f"{pod['metadata']['namespace']}/{ref['name']}")

    async def reconcile(self, key: str) -> float | None:
        if (wait := self.tracker.wait_for(key, self.pods.store)) is not None:
            return wait
        if (wait := self.tracker.wait_for(f"status:{key}", self.sets.store)) is not None:
            return wait
        cached = self.sets.store.get(key)
        if cached is None:
            return None
        sts = typed(copy.deepcopy(cached), api_version=API_VERSION, kind=KIND)
        spec = sts.get("spec") or {}
        name, namespace = sts["metadata"]["name"], sts["metadata"]["namespace"]
        pods = await claim(owner=sts, owner_api_version=API_VERSION, owner_kind=KIND,
                           candidates=self.pods.store.by_index("namespace", namespace), resource=self.pods_api,
                           selector=selector_of(sts), matches=lambda p: ordinal(name, p) is not None)
        update_revision = await self._revision(sts)
        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        by_ordinal: dict[int, Obj] = {}
        for pod in pods:
            index = ordinal(name, pod)
            if index is not None:
                by_ordinal[index] = pod
        parallel = spec.get("podManagementPolicy") == "Parallel"
        if not sts["metadata"].get("deletionTimestamp"):
            await self._sync_pods(key, sts, by_ordinal, replicas, update_revision, parallel=parallel)
        await self._write_status(key, sts, by_ordinal, replicas, update_revision)
        return None

    async def _sync_pods(self, key: str, sts: Obj, by_ordinal: dict[int, Obj], replicas: int,
                         update_revision: str, *, parallel: bool) -> None:
        # failed pods are replaced under the same name
        for _index, pod in sorted(by_ordinal.items()):
            if (pod.get("status") or {}).get("phase") == "Failed" and not pod["metadata"].get("deletionTimestamp"):
                await self._delete(key, sts, pod)
                if not parallel:
                    return
        for index in range(replicas):
            existing = by_ordinal.get(index)
            if existing is None:
                await self._create(key, sts, index, update_revision)
                if not parallel:
                    return
            elif not parallel and not running_and_ready(existing):
                return  # OrderedReady: nothing further until this one is Running and Ready
        condemned = sorted((i for i in by_ordinal if i >= replicas), reverse=True)
        for index in condemned:
            pod = by_ordinal[index]
            if pod["metadata"].get("deletionTimestamp"):
                if not parallel:
                    return
                continue
            if not parallel and any(not running_and_ready(p) for i, p in by_ordinal.items() if i != index):
                return
            await self._delete(key, sts, pod)
            if not parallel:
                return
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        if any(not running_and_ready(by_ordinal[i]) for i in range(replicas) if i in by_ordinal):
            return  # one pod at a time: wait for the last replacement
        for index in range(replicas - 1, partition - 1, -1):
            outdated = by_ordinal.get(index)
            if outdated is not None and revision_of(outdated) != update_revision:
                await self._delete(key, sts, outdated)
                return

    async def _create(self, key: str, sts: Obj, index: int, revision: str) -> None:
        name, namespace = sts["metadata"]["name"], sts["metadata"]["namespace"]
        spec = sts.get("spec") or {}
        pod = pod_from_template(spec.get("template") or {}, owner=sts, api_version=API_VERSION, kind=KIND)
        md = pod["metadata"]
        md.pop("generateName", None)
        md["name"] = f"{name}-{index}"
        md.setdefault("labels", {}).update({POD_NAME_LABEL: md["name"], POD_INDEX_LABEL: str(index),
                                            HASH_LABEL: revision})
        pod["spec"]["hostname"] = md["name"]
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        volumes = [v for v in pod["spec"].get("volumes") or []]
        for template in spec.get("volumeClaimTemplates") or []:
            claim_name = f"{template['metadata']['name']}-{name}-{index}"
            await self._ensure_claim(sts, template, claim_name)
            volumes = [v for v in volumes if v.get("name") != template["metadata"]["name"]]
            volumes.append({"name": template["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}})
        if volumes:
            pod["spec"]["volumes"] = volumes
        try:
            created = await self.pods_api.create(pod, namespace=namespace)
        except APIStatusError as exc:
            if is_already_exists(exc):
                return  # the cache was behind; the next sync sees it
            self.recorder.event(sts, event_type="Warning", reason="FailedCreate",
                                message=f"create Pod {md['name']} in StatefulSet {name} failed error: {exc.message}")
            raise
        self.tracker.wrote(key, created)
        self.recorder.event(sts, event_type="Normal", reason="SuccessfulCreate",
                            message=f"create Pod {md['name']} in StatefulSet {name} successful")

    async def _ensure_claim(self, sts: Obj, template: Obj, claim_name: str) -> None:
        body = copy.deepcopy(template)
        body["apiVersion"], body["kind"] = "v1", "PersistentVolumeClaim"
        body["metadata"] = {**(body.get("metadata") or {}), "name": claim_name,
                            "namespace": sts["metadata"]["namespace"],
                            "labels": {**((template.get("metadata") or {}).get("labels") or {}),
                                       **((sts["spec"].get("selector") or {}).get("matchLabels") or {})}}
        body.pop("status", None)
        try:
            await self.pvc_api.create(body)
        except APIStatusError as exc:
            if not is_already_exists(exc):
                raise

    async def _delete(self, key: str, sts: Obj, pod: Obj) -> None:
        md = pod["metadata"]
        try:
            await self.pods_api.delete(md["name"], namespace=md["namespace"], preconditions={"uid": md["uid"]})
        except APIStatusError as exc:
            if not (is_not_found(exc) or exc.code == 409):
                raise
            return
        self.recorder.event(sts, event_type="Normal", reason="SuccessfulDelete",
                            message=f"delete Pod {md['name']} in StatefulSet {sts['metadata']['name']} successful")

    async def _revision(self, sts: Obj) -> str:
        """The update revision's name, ``<set>-<hash>`` (also the pods' label value, as upstream)."""
        template = (sts.get("spec") or {}).get("template") or {}
        current = template_hash(template, (sts.get("status") or {}).get("collisionCount"))
        name = f"{sts['metadata']['name']}-{current}"
        owned = self.revisions.store.by_index(CONTROLLER_UID_INDEX, str(sts["metadata"]["uid"]))
        if any(r["metadata"]["name"] == name for r in owned):
            return name
        body = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": name, "namespace": sts["metadata"]["namespace"],
                             "labels": {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: name},
                             "ownerReferences": [owner_reference(sts, api_version=API_VERSION, kind=KIND)]},
                "data": {"spec": {"template": {**json.loads(json.dumps(template)), "$patch": "replace"}}},
                "revision": max((int(r.get("revision") or 0) for r in owned), default=0) + 1}
        try:
            await self.revisions_api.create(body)
        except APIStatusError as exc:
            if not is_already_exists(exc):
                raise
        return name

    async def _write_status(self, key: str, sts: Obj, by_ordinal: dict[int, Obj], replicas: int,
                            update_revision: str) -> None:
        live = [p for p in by_ordinal.values() if not p["metadata"].get("deletionTimestamp")]
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        now = time.time()
        old = sts.get("status") or {}
        updated = sum(1 for p in live if revision_of(p) == update_revision)
        current_revision = old.get("currentRevision") or update_revision
        if updated >= replicas and all(revision_of(p) == update_revision for p in live):
            current_revision = update_revision  # the rollout is complete
        status: Obj = {
            **{k: v for k, v in old.items() if k in ("conditions", "collisionCount")},
            "observedGeneration": sts["metadata"].get("generation", 0),
            "replicas": len(live),
            "readyReplicas": sum(1 for p in live if is_ready(p)),
            "availableReplicas": sum(1 for p in live if is_available(p, min_ready, now)),
            "currentReplicas": sum(1 for p in live if revision_of(p) == current_revision),
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
        }
        status = {k: v for k, v in status.items() if v or k == "replicas"}
        if status == old:
            return
        try:
            written = await self.sts_api.update_status({**sts, "status": status})
        except APIStatusError as exc:
            if is_not_found(exc):
                return
            raise
        self.tracker.wrote(f"status:{key}", written)

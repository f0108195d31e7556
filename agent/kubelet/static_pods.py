"""Static pods: Pod manifests in a directory on the node, run by this kubelet, shown as mirror pods.

Design (upstream pkg/kubelet/config/file.go and pod/mirror_client.go, simplified)
-----------------------------------------------------------------------------------
Every ``period`` seconds the manifest directory (``<data-dir>/agent/pod-manifests``, as k3s's
``agent/pod-manifests``) is read: each ``*.yaml``, ``*.yml`` or ``*.json`` file holds one Pod. Its
mirror pod is ``<name>-<node>`` in the manifest's namespace (``default``), bound to this node, owned
by the Node, with upstream's annotations ``kubernetes.io/config.source: file``,
``kubernetes.io/config.hash`` and ``kubernetes.io/config.mirror`` (the hash of the manifest). The
kubelet then runs it as it runs any pod bound to the node. A changed manifest replaces the mirror
pod, a removed one deletes it, and a mirror pod deleted through the API is created again.

Simplification against upstream: upstream runs the static pod from the file and keeps its containers
when only the mirror is deleted; here the mirror pod is the pod, so deleting it restarts the pod
(with the new mirror's UID). A manifest that cannot be parsed is logged and skipped.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Final

import yaml

from kubelite.agent.config import AgentConfig
from kubelite.client import APIClient, APIConnectionError, APIStatusError, is_already_exists, is_not_found

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SOURCE_ANNOTATION: Final = "kubernetes.io/config.source"
HASH_ANNOTATION: Final = "kubernetes.io/config.hash"
MIRROR_ANNOTATION: Final = "kubernetes.io/config.mirror"
PERIOD: Final = 5.0
SUFFIXES: Final = (".yaml", ".yml", ".json")


class ManifestError(Exception):
    pass


def manifest_dir(config: AgentConfig) -> Path:
    return config.agent_dir / "pod-manifests"


def parse_manifest(path: Path, text: str) -> Obj:
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ManifestError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {err}") from None
    if not isinstance(doc, dict) or doc.get("kind") != "Pod" or doc.get("apiVersion") != "v1":
        raise ManifestError(f"{path}: a static pod manifest must be one v1 Pod")
    if not (doc.get("metadata") or {}).get("name"):
        raise ManifestError(f"{path}: metadata.name is required")
    return doc


def mirror_pod(manifest: Obj, *, node: str, node_uid: str, text: str) -> Obj:
    """The mirror pod for ``manifest`` on ``node`` (pure)."""
    pod = copy.deepcopy(manifest)
    md = pod.setdefault("metadata", {})
    digest = hashlib.sha256(f"{node}\n{text}".encode()).hexdigest()[:32]
    md["name"] = f"{md['name']}-{node}"
    md["namespace"] = md.get("namespace") or "default"
    md["annotations"] = {**(md.get("annotations") or {}), SOURCE_ANNOTATION: "file", HASH_ANNOTATION: digest,
                         MIRROR_ANNOTATION: digest}
    md["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid, "controller": True}]
    for key in ("uid", "resourceVersion", "creationTimestamp"):
        md.pop(key, None)
    pod.setdefault("spec", {})["nodeName"] = node
    pod.pop("status", None)
    return pod


class StaticPods:
    def __init__(self, *, config: AgentConfig, client: APIClient) -> None:
        self.config = config
        self.pods = client.resource("", "v1", "pods")
        self.nodes = client.resource("", "v1", "nodes", namespaced=False)
        self.directory = manifest_dir(config)
        self._bad: dict[Path, str] = {}

    def desired(self, node_uid: str) -> dict[tuple[str, str], Obj]:
        wanted: dict[tuple[str, str], Obj] = {}
        for path in sorted(self.directory.glob("*")):
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            try:
                text = path.read_text()
                pod = mirror_pod(parse_manifest(path, text), node=self.config.node_name, node_uid=node_uid, text=text)
            except (OSError, ManifestError) as err:
                if self._bad.get(path) != str(err):
                    log.warning("static pod manifest skipped: %s", err)
                    self._bad[path] = str(err)
                continue
            self._bad.pop(path, None)
            wanted[(pod["metadata"]["namespace"], pod["metadata"]["name"])] = pod
        return wanted

    async def sync(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        node = await self.nodes.get(self.config.node_name)
        wanted = self.desired(node["metadata"]["uid"])
        listed = await self.pods.list(field_selector=f"spec.nodeName={self.config.node_name}")
        existing = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in listed.get("items") or []
                    if ((p["metadata"].get("annotations") or {}).get(SOURCE_ANNOTATION) == "file")}
        for key, pod in existing.items():
            want = wanted.get(key)
            digest = (pod["metadata"].get("annotations") or {}).get(MIRROR_ANNOTATION)
            if want is None or want["metadata"]["annotations"][MIRROR_ANNOTATION] != digest:
                if pod["metadata"].get("deletionTimestamp"):
                    continue
                log.info("static pod %s/%s: manifest %s; deleting the mirror pod", key[0], key[1],
                         "removed" if want is None else "changed")
                try:
                    await self.pods.delete(key[1], namespace=key[0])
                except APIStatusError as err:
                    if not is_not_found(err):
                        raise
        for key, pod in wanted.items():
            if key in existing:
                continue
            try:
                await self.pods.create(pod, namespace=key[0])
                log.info("static pod %s/%s: mirror pod created", key[0], key[1])
            except APIStatusError as err:
                if not is_already_exists(err):
                    log.warning("static pod %s/%s: the API refused the mirror pod: %s", key[0], key[1], err)

    async def run(self, period: float = PERIOD) -> None:
        while True:
            try:
                await self.sync()
            except (APIStatusError, APIConnectionError) as err:
                log.warning("static pods: %s", err)
            await asyncio.sleep(period)


async def run_static_pods(*, config: AgentConfig, client: APIClient) -> None:
    """Keep the mirror pods of ``<data-dir>/agent/pod-manifests`` in step with the files, until cancelled."""
    await StaticPods(config=config, client=client).run()

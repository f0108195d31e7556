"""Fluent builders for wire-format Pods and Nodes in scheduler tests (after upstream's st.MakePod())."""

from __future__ import annotations

import copy
from typing import Any

from kubelite.controlplane.scheduler.framework import Code, CycleState, Status
from kubelite.controlplane.scheduler.nodeinfo import NodeInfo


class PodBuilder:
    def __init__(self, name: str) -> None:
        self._pod: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"containers": []},
        }

    @property
    def _spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self._pod["spec"]
        return spec

    def container(self, *, name: str | None = None, requests: dict[str, str] | None = None,
                  ports: list[dict[str, Any]] | None = None) -> PodBuilder:
        container: dict[str, Any] = {"name": name or f"c{len(self._spec['containers'])}", "image": "busybox"}
        if requests is not None:
            container["resources"] = {"requests": dict(requests)}
        if ports:
            container["ports"] = ports
        self._spec["containers"].append(container)
        return self

    def requests(self, **resources: str) -> PodBuilder:
        """One more container requesting ``resources``; an underscore in a name stands for a dash
        (ephemeral_storage). Use container() for extended resources, whose names have slashes."""
        return self.container(requests={k.replace("_", "-"): v for k, v in resources.items()})

    def init_container(self, *, requests: dict[str, str], sidecar: bool = False) -> PodBuilder:
        inits = self._spec.setdefault("initContainers", [])
        container: dict[str, Any] = {"name": f"init{len(inits)}", "image": "busybox",
                                     "resources": {"requests": dict(requests)}}
        if sidecar:
            container["restartPolicy"] = "Always"
        inits.append(container)
        return self

    def overhead(self, **resources: str) -> PodBuilder:
        self._spec["overhead"] = dict(resources)
        return self

    def host_port(self, port: int, *, protocol: str = "TCP", ip: str = "") -> PodBuilder:
        spec: dict[str, Any] = {"containerPort": port, "hostPort": port, "protocol": protocol}
        if ip:
            spec["hostIP"] = ip
        return self.container(ports=[spec])

    def node(self, name: str) -> PodBuilder:
        self._spec["nodeName"] = name
        return self

    def node_selector(self, **labels: str) -> PodBuilder:
        self._spec["nodeSelector"] = dict(labels)
        return self

    def toleration(self, key: str = "", *, operator: str = "Equal", value: str = "", effect: str = "") -> PodBuilder:
        toleration: dict[str, Any] = {"operator": operator}
        if key:
            toleration["key"] = key
        if value:
            toleration["value"] = value
        if effect:
            toleration["effect"] = effect
        self._spec.setdefault("tolerations", []).append(toleration)
        return self

    def required_terms(self, *terms: dict[str, Any]) -> PodBuilder:
        affinity = self._spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": list(terms)}
        return self

    def preferred(self, weight: int, term: dict[str, Any]) -> PodBuilder:
        affinity = self._spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        affinity.setdefault("preferredDuringSchedulingIgnoredDuringExecution", []).append(
            {"weight": weight, "preference": term})
        return self

    def phase(self, phase: str) -> PodBuilder:
        self._pod.setdefault("status", {})["phase"] = phase
        return self

    def obj(self) -> dict[str, Any]:
        return copy.deepcopy(self._pod)


class NodeBuilder:
    def __init__(self, name: str) -> None:
        self._node: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {"capacity": {"pods": "110"}, "allocatable": {"pods": "110"}},
        }

    def capacity(self, **resources: str) -> NodeBuilder:
        """Sets capacity and allocatable alike (keys: cpu, memory, pods, ephemeral_storage)."""
        for key, value in resources.items():
            name = key.replace("_", "-")
            self._node["status"]["capacity"][name] = value
            self._node["status"]["allocatable"][name] = value
        return self

    def extended(self, name: str, amount: str) -> NodeBuilder:
        self._node["status"]["capacity"][name] = amount
        self._node["status"]["allocatable"][name] = amount
        return self

    def label(self, key: str, value: str) -> NodeBuilder:
        self._node["metadata"]["labels"][key] = value
        return self

    def taint(self, key: str, value: str = "", effect: str = "NoSchedule") -> NodeBuilder:
        taint: dict[str, Any] = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        self._node["spec"].setdefault("taints", []).append(taint)
        return self

    def unschedulable(self) -> NodeBuilder:
        self._node["spec"]["unschedulable"] = True
        return self

    def image(self, *names: str) -> NodeBuilder:
        self._node["status"].setdefault("images", []).append({"names": list(names), "sizeBytes": 1})
        return self

    def obj(self) -> dict[str, Any]:
        return copy.deepcopy(self._node)

    def info(self, *pods: dict[str, Any]) -> NodeInfo:
        return NodeInfo.build(node=self.obj(), pods=pods)


def make_pod(name: str = "p") -> PodBuilder:
    return PodBuilder(name)


def make_node(name: str) -> NodeBuilder:
    return NodeBuilder(name)


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    requirement: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        requirement["values"] = list(values)
    return requirement


def term(*expressions: dict[str, Any], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if expressions:
        out["matchExpressions"] = list(expressions)
    if fields:
        out["matchFields"] = fields
    return out


def filter_status(plugin: Any, pod: dict[str, Any], node_info: NodeInfo) -> Status | None:
    """Run a plugin as the framework does for one node: PreFilter (a Skip means the Filter is not
    run, so the node passes) then Filter, sharing one CycleState."""
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        result, status = plugin.pre_filter(state=state, pod=pod)
        if status is not None and status.code is Code.SKIP:
            return None
        if status is not None:
            return status  # type: ignore[no-any-return]
        if result is not None and result.node_names is not None and node_info.name not in result.node_names:
            return Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, "excluded by PreFilter")
    return plugin.filter(state=state, pod=pod, node_info=node_info)  # type: ignore[no-any-return]


def scores(plugin: Any, pod: dict[str, Any], nodes: list[NodeInfo]) -> list[int] | None:
    """PreScore, Score and NormalizeScore as the framework runs them; None when the plugin Skips."""
    state = CycleState()
    status = plugin.pre_score(state=state, pod=pod, nodes=nodes)
    if status is not None and status.code is Code.SKIP:
        return None
    assert status is None
    result, status = plugin.score(state=state, pod=pod, nodes=nodes)
    assert status is None
    if hasattr(plugin, "normalize_score"):
        assert plugin.normalize_score(state=state, pod=pod, scores=result) is None
    return result  # type: ignore[no-any-return]

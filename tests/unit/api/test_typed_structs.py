"""The generated msgspec structs (kubelite.api.types) agree with the schema walks they short-cut.

``conforms`` lets a write skip the two walks (type errors, unknown fields), so it must never say yes
where a walk would find something. Random mutations of valid objects of several kinds check that, and
that valid objects do conform (or the short cut would never be taken).
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from kubelite.api.openapi import unknown_fields
from kubelite.api.openapi.definitions import kinds
from kubelite.api.openapi.type_errors import first_type_error
from kubelite.api.types import conforms, struct_for

SAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("io.k8s.api.core.v1.Pod", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"},
                                                        "annotations": {"a": "b"}, "finalizers": ["x/y"]},
        "spec": {"containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 80}],
                                 "resources": {"limits": {"cpu": "1", "memory": 1024}},
                                 "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                                 "livenessProbe": {"httpGet": {"port": "http", "path": "/"}}}],
                 "volumes": [{"name": "d", "emptyDir": {}}, {"name": "c", "configMap": {"name": "cm"}}],
                 "tolerations": [{"key": "k", "operator": "Exists", "tolerationSeconds": 5}],
                 "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                     "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]}]}}},
                 "hostNetwork": False, "terminationGracePeriodSeconds": 30}}),
    ("io.k8s.api.apps.v1.Deployment", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"a": "b"}},
                 "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}}}),
    ("io.k8s.api.core.v1.Service", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}], "selector": {"a": "b"},
                 "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10}}}}),
    ("io.k8s.api.core.v1.ConfigMap", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                      "data": {"a": "b"}, "binaryData": {"b": "AAAA"}, "immutable": True}),
    ("io.k8s.api.apps.v1.ControllerRevision", {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                                               "metadata": {"name": "r"}, "revision": 2,
                                               "data": {"anything": ["goes", 1, {"x": None}]}}),
    ("io.k8s.api.networking.v1.NetworkPolicy", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p"},
        "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": []}}],
                                                 "ports": [{"port": 80, "endPort": 90}]}]}}),
]

WRONG_VALUES: list[Any] = ["text", 7, 2.5, True, ["x"], {"k": "v"}, 2**40]


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every dict and list in ``value``."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict | list):
        found.append(path)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, sub in items:
            found.extend(_containers(sub, (*path, key)))
    return found


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def mutate(obj: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    mutated = copy.deepcopy(obj)
    target = _at(mutated, rng.choice(_containers(mutated)))
    if isinstance(target, dict) and (not target or rng.random() < 0.3):
        target[rng.choice(["bogus", "Name", "spec", "metadata", "items"])] = rng.choice(WRONG_VALUES)
    elif isinstance(target, dict):
        target[rng.choice(sorted(target))] = rng.choice([*WRONG_VALUES, None])
    elif target:
        target[rng.randrange(len(target))] = rng.choice([*WRONG_VALUES, None])
    else:
        target.append(rng.choice(WRONG_VALUES))
    return mutated


@pytest.mark.parametrize(("definition", "obj"), SAMPLES, ids=[d.rsplit(".", 1)[-1] for d, _ in SAMPLES])
def test_valid_objects_conform(definition: str, obj: dict[str, Any]) -> None:
    assert first_type_error(definition, obj) is None and unknown_fields(definition, obj) == []
    assert conforms(definition, obj)


@pytest.mark.parametrize(("definition", "obj"), SAMPLES, ids=[d.rsplit(".", 1)[-1] for d, _ in SAMPLES])
def test_conforming_never_hides_what_the_walks_find(definition: str, obj: dict[str, Any]) -> None:
    rng = random.Random(definition)
    rejected = 0
    for _ in range(400):
        mutated = mutate(obj, rng)
        found = first_type_error(definition, mutated) is not None or unknown_fields(definition, mutated) != []
        if conforms(definition, mutated):
            assert not found, mutated
        else:
            rejected += 1
    assert rejected > 100  # the mutations did break things


def test_every_built_in_kind_gets_a_struct_unless_its_schema_is_recursive() -> None:
    missing = {info.definition.rsplit(".", 1)[-1] for info in kinds() if struct_for(info.definition) is None}
    assert missing == {"CustomResourceDefinition", "CustomResourceDefinitionList"}

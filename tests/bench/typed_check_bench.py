"""Cost of checking a request body's types and fields: the schema walks against the generated structs.

Run:  python tests/bench/typed_check_bench.py [--rounds 5000]
For a Pod, a Deployment and a ConfigMap body, prints microseconds per body for: parsing the JSON
(orjson.loads, the floor), the two walks that word upstream's errors (type errors + unknown fields),
and kubelite.api.types.conforms (the typed pass a write takes first), with the walks/typed ratio.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import orjson

from kubelite.api.openapi import unknown_fields
from kubelite.api.openapi.type_errors import first_type_error
from kubelite.api.types import conforms

BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "Pod": ("io.k8s.api.core.v1.Pod", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web", "tier": "fe"}},
        "spec": {"containers": [{
            "name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
            "env": [{"name": f"E{i}", "value": "v"} for i in range(5)],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5}}],
            "volumes": [{"name": "data", "emptyDir": {}}], "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "k", "operator": "Exists"}]}}),
    "Deployment": ("io.k8s.api.apps.v1.Deployment", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                                       "ports": [{"containerPort": 80}]}]}}}}),
    "ConfigMap": ("io.k8s.api.core.v1.ConfigMap", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
        "data": {f"k{i}": "v" * 20 for i in range(10)}}),
}


def per_call_us(fn: Callable[[], object], rounds: int) -> float:
    fn()  # warm caches (schema data, generated structs)
    started = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    args = parser.parse_args()
    print(f"typed body check, {os.cpu_count()} cpus, 1-min load average {os.getloadavg()[0]:.1f}")
    for kind, (definition, body) in BODIES.items():
        raw = orjson.dumps(body)
        parse = per_call_us(lambda raw=raw: orjson.loads(raw), args.rounds)
        walks = per_call_us(lambda d=definition, b=body: (first_type_error(d, b), unknown_fields(d, b)), args.rounds)
        typed = per_call_us(lambda d=definition, b=body: conforms(d, b), args.rounds)
        print(f"  {kind:<11} json parse {parse:7.1f} us   walks {walks:7.1f} us   typed {typed:6.1f} us   "
              f"walks/typed {walks / typed:5.1f}x")


if __name__ == "__main__":
    main()

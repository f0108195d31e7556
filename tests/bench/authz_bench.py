"""Authorization cost per request: the RBAC index and the Node authorizer against a baseline.

Run:  python tests/bench/authz_bench.py [--bindings 5000] [--requests 20000]

Prints microseconds per decision for: request attribute parsing (the baseline every request pays),
system:masters (bypass), a user allowed by a RoleBinding among ``--bindings`` others, a user denied,
and the cost of rebuilding the RBAC index after a change (once per change, not per request).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from kubelite.controlplane.auth import bootstrap_policy
from kubelite.controlplane.auth.authentication import UserInfo
from kubelite.controlplane.auth.authorization import Authorizers, request_attributes
from kubelite.controlplane.auth.node_authorizer import NodeAuthorizer
from kubelite.controlplane.auth.rbac import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, ROLE_BINDINGS, ROLES, RBACAuthorizer

Obj = dict[str, Any]


@dataclass
class Figure:
    name: str
    micros: float


def objects(bindings: int) -> dict[str, list[Obj]]:
    roles = bootstrap_policy.cluster_role_objects()
    view = next(r for r in roles if r["metadata"]["name"] == "system:aggregate-to-view")
    for r in roles:
        if r["metadata"]["name"] == "view":
            r["rules"] = view["rules"]
    role_bindings = [{"metadata": {"name": f"b{i}", "namespace": f"ns{i % 100}"},
                      "roleRef": {"kind": "ClusterRole", "name": "view"},
                      "subjects": [{"kind": "User", "name": f"user{i}"}]} for i in range(bindings)]
    return {CLUSTER_ROLES: roles, CLUSTER_ROLE_BINDINGS: bootstrap_policy.cluster_role_binding_objects(),
            ROLES: [], ROLE_BINDINGS: role_bindings}


def per_call(fn: Any, n: int) -> float:
    for _ in range(min(n, 1000)):  # warm-up: caches, the lazily built index
        fn()
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bindings", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args(argv)
    data = objects(args.bindings)
    rbac = RBACAuthorizer(lambda prefix: data[prefix])
    authz = Authorizers([NodeAuthorizer(lambda prefix, key: []), rbac])
    admin = UserInfo("admin", "", ("system:masters", "system:authenticated"))
    allowed = UserInfo("user7", "", ("system:authenticated",))
    denied = UserInfo("nobody", "", ("system:authenticated",))
    path = "/api/v1/namespaces/ns7/pods"
    figures = [
        Figure("request attributes (baseline)", per_call(lambda: request_attributes(allowed, "GET", path, {}),
                                                         args.requests)),
        Figure("system:masters", per_call(lambda: authz.authorize(request_attributes(admin, "GET", path, {})),
                                          args.requests)),
        Figure("RBAC allowed", per_call(lambda: authz.authorize(request_attributes(allowed, "GET", path, {})),
                                        args.requests)),
        Figure("RBAC denied", per_call(lambda: authz.authorize(request_attributes(denied, "POST", path, {})),
                                       args.requests)),
    ]

    def rebuild() -> None:
        rbac.invalidate()
        authz.authorize(request_attributes(allowed, "GET", path, {}))

    figures.append(Figure(f"index rebuild ({args.bindings} bindings)", per_call(rebuild, 5)))
    base = figures[0].micros
    for f in figures:
        print(f"{f.name:40s} {f.micros:10.2f} us/decision  ({f.micros / base:6.1f}x baseline)")
    return figures


if __name__ == "__main__":
    main()

"""The Deployment controller's pure arithmetic, table-driven against upstream's cases
(pkg/controller/deployment/util/deployment_util_test.go)."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.controlplane.controllers.deployment import (
    equal_ignore_hash,
    fnv32a,
    new_rs_new_replicas,
    proportion,
    resolve_fenceposts,
    safe_encode,
    template_hash,
)

Obj = dict[str, Any]


def deployment(replicas: int, *, surge: Any = "25%", unavailable: Any = "25%", kind: str = "RollingUpdate",
               status_replicas: int = 0) -> Obj:
    strategy: Obj = {"type": kind}
    if kind == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "d", "generation": 1}, "spec": {"replicas": replicas, "strategy": strategy},
            "status": {"replicas": status_replicas}}


def rs(replicas: int, *, max_replicas: int | None = None) -> Obj:
    annotations = {"deployment.kubernetes.io/max-replicas": str(max_replicas)} if max_replicas is not None else {}
    return {"metadata": {"name": f"rs-{replicas}", "annotations": annotations}, "spec": {"replicas": replicas}}


@pytest.mark.parametrize(("surge", "unavailable", "replicas", "expected"), [
    pytest.param("25%", "25%", 10, (3, 2), id="percent-rounding-up-and-down"),
    pytest.param(0, 0, 10, (0, 1), id="both-zero-means-one-unavailable"),
    pytest.param("50%", 1, 3, (2, 1), id="mixed"),
    pytest.param(2, "0%", 5, (2, 0), id="surge-only"),
])
def test_resolve_fenceposts(surge: Any, unavailable: Any, replicas: int, expected: tuple[int, int]) -> None:
    assert resolve_fenceposts(deployment(replicas, surge=surge, unavailable=unavailable)) == expected


@pytest.mark.parametrize(("d", "all_rss", "new", "expected"), [
    pytest.param(deployment(10, surge=1), [rs(10), rs(0)], rs(0), 1, id="surge-one-pod"),
    pytest.param(deployment(10, surge="50%"), [rs(10), rs(0)], rs(0), 5, id="surge-half"),
    pytest.param(deployment(10, surge=5), [rs(5), rs(8)], rs(8), 10, id="capped-at-replicas"),
    pytest.param(deployment(10, surge=1), [rs(10), rs(1)], rs(1), 1, id="at-max-total"),
    pytest.param(deployment(6, kind="Recreate"), [rs(3), rs(0)], rs(0), 6, id="recreate-all"),
])
def test_new_rs_new_replicas(d: Obj, all_rss: list[Obj], new: Obj, expected: int) -> None:
    assert new_rs_new_replicas(d, all_rss, new) == expected


def test_proportional_share_follows_the_max_replicas_annotation() -> None:
    # a 10 -> 20 resize (maxSurge 3 -> total allowed 23) of a ReplicaSet holding 5 of the old 13
    d = deployment(20, surge=3, status_replicas=13)
    assert proportion(rs(5, max_replicas=13), d, to_add=10, added=0) == 4  # round(5 * 23 / 13) - 5
    assert proportion(rs(5, max_replicas=13), d, to_add=10, added=8) == 2  # never more than what is left
    assert proportion(rs(0), d, to_add=10, added=0) == 0


def test_template_hash_is_stable_safe_and_changes_with_collisions() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    first = template_hash(template, None)
    assert first == template_hash(dict(template), None)
    assert first != template_hash(template, 1)
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert fnv32a(b"") == 0x811C9DC5 and fnv32a(b"a") == 0xE40C292C  # the FNV-1a test vectors
    assert safe_encode("0123") == "4567"  # the digits' code points index the alphabet, as upstream


def test_templates_equal_ignoring_only_the_hash_label() -> None:
    base = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    hashed = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}, "spec": base["spec"]}
    other = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "y"}]}}
    assert equal_ignore_hash(base, hashed)
    assert not equal_ignore_hash(base, other)

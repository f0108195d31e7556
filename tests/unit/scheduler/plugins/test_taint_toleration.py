"""TaintToleration: filter on NoSchedule/NoExecute, score PreferNoSchedule counts reversed."""

from __future__ import annotations

from typing import Any

import pytest
from scheduler_builders import NodeBuilder, filter_status, make_node, make_pod, scores

from kubelite.controlplane.scheduler.framework import Code
from kubelite.controlplane.scheduler.plugins import taint_toleration
from kubelite.controlplane.scheduler.plugins.taint_toleration import tolerates_taint


@pytest.mark.parametrize(
    ("toleration", "taint", "tolerated"),
    [
        pytest.param({"key": "k", "value": "v", "effect": "NoSchedule"},
                     {"key": "k", "value": "v", "effect": "NoSchedule"}, True, id="equal-exact"),
        pytest.param({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"},
                     True, id="empty-effect-matches-all"),
        pytest.param({"key": "k", "value": "w"}, {"key": "k", "value": "v", "effect": "NoSchedule"},
                     False, id="value-differs"),
        pytest.param({"key": "k", "operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoSchedule"},
                     True, id="exists-ignores-value"),
        pytest.param({"operator": "Exists"}, {"key": "any", "effect": "NoExecute"}, True, id="exists-empty-key"),
        # validation forbids an empty key with Equal; upstream's matcher still compares values only
        pytest.param({"operator": "Equal"}, {"key": "any", "effect": "NoExecute"}, True,
                     id="equal-empty-key-empty-value"),
        pytest.param({"operator": "Equal"}, {"key": "any", "value": "v", "effect": "NoExecute"}, False,
                     id="equal-empty-key-value-differs"),
        pytest.param({"key": "k", "operator": "Exists", "effect": "NoSchedule"}, {"key": "k", "effect": "NoExecute"},
                     False, id="effect-differs"),
        pytest.param({"key": "k", "operator": "Bogus"}, {"key": "k", "effect": "NoSchedule"}, False,
                     id="unknown-operator"),
    ],
)
def test_tolerates_taint(toleration: dict[str, Any], taint: dict[str, Any], tolerated: bool) -> None:
    assert tolerates_taint(toleration, taint) is tolerated


CP = "node-role.kubernetes.io/control-plane"


@pytest.mark.parametrize(
    ("pod", "node", "reason"),
    [
        pytest.param(make_pod().obj(), make_node("n1"), None, id="no-taints"),
        pytest.param(make_pod().obj(), make_node("n1").taint(CP), f"node(s) had untolerated taint {{{CP}: }}",
                     id="control-plane-taint"),
        pytest.param(make_pod().obj(), make_node("n1").taint("dedicated", "gpu", "NoExecute"),
                     "node(s) had untolerated taint {dedicated: gpu}", id="no-execute-with-value"),
        pytest.param(make_pod().obj(), make_node("n1").taint("soft", effect="PreferNoSchedule"), None,
                     id="prefer-no-schedule-does-not-filter"),
        pytest.param(make_pod().toleration(CP, operator="Exists").obj(), make_node("n1").taint(CP), None,
                     id="tolerated"),
        pytest.param(make_pod().toleration(CP, operator="Exists").obj(),
                     make_node("n1").taint(CP).taint("b", "1"), "node(s) had untolerated taint {b: 1}",
                     id="first-untolerated-reported"),
    ],
)
def test_taint_toleration_filter(pod: dict[str, Any], node: NodeBuilder, reason: str | None) -> None:
    status = filter_status(taint_toleration.new({}), pod, node.info())
    if reason is None:
        assert status is None
    else:
        assert status is not None
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == (reason,)


@pytest.mark.parametrize(
    ("pod", "nodes", "expected"),
    [
        pytest.param(make_pod().obj(),
                     [make_node("n0"), make_node("n1").taint("a", effect="PreferNoSchedule"),
                      make_node("n2").taint("a", effect="PreferNoSchedule").taint("b", effect="PreferNoSchedule")],
                     [100, 50, 0], id="fewer-intolerable-is-better"),
        pytest.param(make_pod().toleration("a", operator="Exists", effect="PreferNoSchedule").obj(),
                     [make_node("n0"), make_node("n1").taint("a", effect="PreferNoSchedule")],
                     [100, 100], id="tolerated-preference"),
        pytest.param(make_pod().toleration("a", operator="Exists", effect="NoSchedule").obj(),
                     [make_node("n0"), make_node("n1").taint("a", effect="PreferNoSchedule")],
                     [100, 0], id="noschedule-toleration-does-not-count"),
        pytest.param(make_pod().obj(), [make_node("n0").taint("x", effect="NoSchedule"), make_node("n1")],
                     [100, 100], id="only-prefer-no-schedule-counts"),
    ],
)
def test_taint_toleration_score(pod: dict[str, Any], nodes: list[NodeBuilder], expected: list[int]) -> None:
    assert scores(taint_toleration.new({}), pod, [n.info() for n in nodes]) == expected

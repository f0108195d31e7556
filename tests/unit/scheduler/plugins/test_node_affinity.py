"""NodeAffinity: nodeSelector, required terms (operators, matchFields), preferred-term scores."""

from __future__ import annotations

from typing import Any

import pytest
from scheduler_builders import NodeBuilder, expr, filter_status, make_node, make_pod, scores, term

from kubelite.controlplane.scheduler.framework import Code, CycleState, PreFilterResult
from kubelite.controlplane.scheduler.plugins import node_affinity

REASON = "node(s) didn't match Pod's node affinity/selector"
NODE = make_node("n1").label("zone", "a").label("gen", "5").label("gpu", "")


def name_in(*names: str) -> dict[str, Any]:
    return {"key": "metadata.name", "operator": "In", "values": list(names)}


@pytest.mark.parametrize(
    ("pod", "fits"),
    [
        pytest.param(make_pod().obj(), True, id="no-constraints"),
        pytest.param(make_pod().node_selector(zone="a").obj(), True, id="selector-match"),
        pytest.param(make_pod().node_selector(zone="a", gen="4").obj(), False, id="selector-one-differs"),
        pytest.param(make_pod().node_selector(missing="").obj(), False, id="selector-missing-label"),
        pytest.param(make_pod().required_terms(term(expr("zone", "In", "a", "b"))).obj(), True, id="in"),
        pytest.param(make_pod().required_terms(term(expr("zone", "In", "b"))).obj(), False, id="in-miss"),
        pytest.param(make_pod().required_terms(term(expr("zone", "NotIn", "b"))).obj(), True, id="notin"),
        pytest.param(make_pod().required_terms(term(expr("other", "NotIn", "b"))).obj(), True,
                     id="notin-absent-label"),
        pytest.param(make_pod().required_terms(term(expr("gpu", "Exists"))).obj(), True, id="exists"),
        pytest.param(make_pod().required_terms(term(expr("gpu", "DoesNotExist"))).obj(), False,
                     id="does-not-exist-miss"),
        pytest.param(make_pod().required_terms(term(expr("gen", "Gt", "4"))).obj(), True, id="gt"),
        pytest.param(make_pod().required_terms(term(expr("gen", "Lt", "5"))).obj(), False, id="lt-equal-fails"),
        pytest.param(make_pod().required_terms(term(expr("zone", "Gt", "4"))).obj(), False, id="gt-non-integer-label"),
        pytest.param(make_pod().required_terms(term(expr("gen", "Gt", "4", "6"))).obj(), False,
                     id="gt-needs-one-value"),
        pytest.param(make_pod().required_terms(term(expr("zone", "In", "b")), term(expr("gen", "In", "5"))).obj(),
                     True, id="terms-ored"),
        pytest.param(make_pod().required_terms(term(expr("zone", "In", "a"), expr("gen", "In", "6"))).obj(),
                     False, id="expressions-anded"),
        pytest.param(make_pod().required_terms(term()).obj(), False, id="empty-term-matches-nothing"),
        pytest.param(make_pod().required_terms().obj(), False, id="no-terms-matches-nothing"),
        pytest.param(make_pod().required_terms(term(fields=[name_in("n1")])).obj(), True, id="match-fields-in"),
        pytest.param(make_pod().required_terms(term(fields=[name_in("n2")])).obj(), False, id="match-fields-other"),
        pytest.param(make_pod().required_terms(term(fields=[{"key": "metadata.name", "operator": "NotIn",
                                                            "values": ["n2"]}])).obj(), True,
                     id="match-fields-notin"),
        pytest.param(make_pod().required_terms(term(fields=[{"key": "spec.x", "operator": "In",
                                                            "values": ["n1"]}])).obj(), False,
                     id="match-fields-unsupported-key"),
        pytest.param(make_pod().node_selector(zone="b").required_terms(term(expr("zone", "In", "a"))).obj(), False,
                     id="selector-and-affinity-both-required"),
    ],
)
def test_node_affinity_filter(pod: dict[str, Any], fits: bool) -> None:
    status = filter_status(node_affinity.new({}), pod, NODE.info())
    if fits:
        assert status is None
    else:
        assert status is not None
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def test_filter_reason_is_upstreams() -> None:
    status = node_affinity.new({}).filter(state=CycleState(), pod=make_pod().node_selector(zone="z").obj(),
                                          node_info=NODE.info())
    assert status is not None
    assert status.reasons == (REASON,)


@pytest.mark.parametrize(
    ("pod", "result", "code"),
    [
        pytest.param(make_pod().obj(), None, Code.SKIP, id="nothing-to-check-skips"),
        pytest.param(make_pod().node_selector(zone="a").obj(), None, None, id="selector-all-nodes"),
        pytest.param(make_pod().required_terms(term(fields=[name_in("n1", "n2")]), term(fields=[name_in("n3")])).obj(),
                     frozenset({"n1", "n2", "n3"}), None, id="pinned-names-union"),
        pytest.param(make_pod().required_terms(term(fields=[name_in("n1")]), term(expr("zone", "In", "a"))).obj(),
                     None, None, id="one-term-unpinned"),
        pytest.param(make_pod().required_terms(term(fields=[name_in("n1"), name_in("n2")])).obj(), None,
                     Code.UNSCHEDULABLE_AND_UNRESOLVABLE, id="conflicting-pins"),
    ],
)
def test_node_affinity_pre_filter(pod: dict[str, Any], result: frozenset[str] | None, code: Code | None) -> None:
    narrowed, status = node_affinity.new({}).pre_filter(state=CycleState(), pod=pod)
    assert (status.code if status else None) is code
    assert (narrowed.node_names if isinstance(narrowed, PreFilterResult) else None) == result


@pytest.mark.parametrize(
    ("pod", "nodes", "expected"),
    [
        pytest.param(make_pod().obj(), [make_node("n1")], None, id="no-preferences-skips"),
        pytest.param(make_pod().preferred(2, term(expr("zone", "In", "a"))).preferred(6, term(expr("gen", "Exists")))
                     .obj(),
                     [make_node("n1").label("zone", "a"), make_node("n2").label("gen", "1"),
                      make_node("n3").label("zone", "a").label("gen", "1"), make_node("n4")],
                     [25, 75, 100, 0], id="weights-summed-and-normalized"),
        pytest.param(make_pod().preferred(5, term(expr("zone", "In", "x"))).obj(), [make_node("n1"), make_node("n2")],
                     [0, 0], id="nothing-matches"),
        pytest.param(make_pod().preferred(5, term()).obj(), [make_node("n1")], [0], id="empty-preference-no-op"),
    ],
)
def test_node_affinity_score(pod: dict[str, Any], nodes: list[NodeBuilder], expected: list[int] | None) -> None:
    assert scores(node_affinity.new({}), pod, [n.info() for n in nodes]) == expected

"""NodeLabel: required/forbidden labels filter, preferred/avoided labels score, args validated."""

from __future__ import annotations

import pytest
from scheduler_builders import filter_status, make_node, make_pod

from kubelite.controlplane.scheduler import Code, CycleState, NodeInfo, ProfileError
from kubelite.controlplane.scheduler.plugins import node_label


def scores(plugin: node_label.NodeLabel, nodes: list[NodeInfo]) -> list[int]:
    result, status = plugin.score(state=CycleState(), pod=make_pod().obj(), nodes=nodes)
    assert status is None
    return result


def test_filter_requires_present_and_forbids_absent_labels() -> None:
    plugin = node_label.new({"presentLabels": ["zone"], "absentLabels": ["retiring"]})
    pod = make_pod().obj()
    assert filter_status(plugin, pod, make_node("a").label("zone", "x").info()) is None
    for info in (make_node("b").info(), make_node("c").label("zone", "x").label("retiring", "").info()):
        status = filter_status(plugin, pod, info)
        assert status is not None and status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == (node_label.ERR_REASON,)


def test_score_averages_preferences_as_upstream() -> None:
    plugin = node_label.new({"presentLabelsPreference": ["ssd", "fast"], "absentLabelsPreference": ["spot"]})
    nodes = [make_node("both").label("ssd", "").label("fast", "").info(),
             make_node("one-spot").label("ssd", "").label("spot", "").info(),
             make_node("none").info()]
    assert scores(plugin, nodes) == [100, 33, 33]


def test_no_preferences_scores_zero() -> None:
    assert scores(node_label.new({}), [make_node("a").info()]) == [0]


@pytest.mark.parametrize(("args", "message"), [
    ({"presentLabels": ["a"], "absentLabels": ["a"]}, "label 'a' is in both"),
    ({"presentLabelsPreference": "a"}, "must be a list of label names"),
    ({"labels": ["a"]}, "unknown field(s) labels"),
])
def test_bad_args_are_refused(args: dict[str, object], message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        node_label.new(args)
    assert message in str(caught.value)

"""NodeUnschedulable: cordoned nodes take only pods tolerating node.kubernetes.io/unschedulable."""

from __future__ import annotations

from typing import Any

import pytest
from scheduler_builders import NodeBuilder, filter_status, make_node, make_pod

from kubelite.controlplane.scheduler.framework import Code
from kubelite.controlplane.scheduler.plugins import node_unschedulable

KEY = "node.kubernetes.io/unschedulable"


@pytest.mark.parametrize(
    ("pod", "node", "fits"),
    [
        pytest.param(make_pod().obj(), make_node("n1"), True, id="schedulable-node"),
        pytest.param(make_pod().obj(), make_node("n1").unschedulable(), False, id="cordoned"),
        pytest.param(make_pod().toleration(KEY, operator="Exists", effect="NoSchedule").obj(),
                     make_node("n1").unschedulable(), True, id="tolerates-exact"),
        pytest.param(make_pod().toleration(operator="Exists").obj(),
                     make_node("n1").unschedulable(), True, id="tolerates-everything"),
        pytest.param(make_pod().toleration(KEY, operator="Exists", effect="NoExecute").obj(),
                     make_node("n1").unschedulable(), False, id="wrong-effect"),
        pytest.param(make_pod().toleration(KEY, value="x", effect="NoSchedule").obj(),
                     make_node("n1").unschedulable(), False, id="equal-needs-empty-value"),
    ],
)
def test_node_unschedulable_filter(pod: dict[str, Any], node: NodeBuilder, fits: bool) -> None:
    status = filter_status(node_unschedulable.new({}), pod, node.info())
    if fits:
        assert status is None
    else:
        assert status is not None
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ("node(s) were unschedulable",)

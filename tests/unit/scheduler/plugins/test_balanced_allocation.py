"""NodeResourcesBalancedAllocation: equal cpu/memory fractions score best; real requests only."""

from __future__ import annotations

from typing import Any

import pytest
from scheduler_builders import NodeBuilder, make_node, make_pod, scores

from kubelite.controlplane.scheduler.plugins import balanced_allocation


@pytest.mark.parametrize(
    ("pod", "nodes", "expected"),
    [
        pytest.param(make_pod().container().obj(), [make_node("n1").capacity(cpu="1", memory="1Gi")], None,
                     id="no-requests-skips"),
        # upstream example: node 4000m/10000, pod 3000m/5000 -> fractions .75 and .5 -> std .125 -> 87
        pytest.param(make_pod().requests(cpu="3", memory="5000").obj(),
                     [make_node("n1").capacity(cpu="4", memory="10000")], [87], id="upstream-example"),
        pytest.param(make_pod().requests(cpu="1", memory="1Gi").obj(),
                     [make_node("n1").capacity(cpu="2", memory="2Gi"), make_node("n2").capacity(cpu="4", memory="2Gi")],
                     [100, 87], id="balanced-wins"),
    ],
)
def test_balanced_allocation_score(pod: dict[str, Any], nodes: list[NodeBuilder], expected: list[int] | None) -> None:
    assert scores(balanced_allocation.new({}), pod, [n.info() for n in nodes]) == expected


def test_uses_real_requests_of_running_pods() -> None:
    # a best-effort pod on the node would count 100m/200Mi in non-zero accounting; here it counts 0
    info = make_node("n1").capacity(cpu="2", memory="2Gi").info(make_pod("be").container().obj())
    assert scores(balanced_allocation.new({}), make_pod().requests(cpu="1", memory="1Gi").obj(), [info]) == [100]

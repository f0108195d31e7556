"""NodeName: only the node named in spec.nodeName fits."""

from __future__ import annotations

from typing import Any

import pytest
from scheduler_builders import filter_status, make_node, make_pod

from kubelite.controlplane.scheduler.framework import Code
from kubelite.controlplane.scheduler.plugins import node_name


@pytest.mark.parametrize(
    ("pod", "fits"),
    [
        pytest.param(make_pod().obj(), True, id="no-node-name"),
        pytest.param(make_pod().node("n1").obj(), True, id="same-name"),
        pytest.param(make_pod().node("n2").obj(), False, id="other-name"),
    ],
)
def test_node_name_filter(pod: dict[str, Any], fits: bool) -> None:
    status = filter_status(node_name.new({}), pod, make_node("n1").info())
    if fits:
        assert status is None
    else:
        assert status is not None
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ("node(s) didn't match the requested node name",)

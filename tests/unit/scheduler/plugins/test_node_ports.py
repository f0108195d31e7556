"""NodePorts: host ports must be free on the node."""

from __future__ import annotations

from typing import Any

import pytest
from scheduler_builders import filter_status, make_node, make_pod

from kubelite.controlplane.scheduler.framework import Code, CycleState
from kubelite.controlplane.scheduler.plugins import node_ports

REASON = "node(s) didn't have free ports for the requested pod ports"


@pytest.mark.parametrize(
    ("pod", "existing", "fits"),
    [
        pytest.param(make_pod().container().obj(), [make_pod("e").host_port(80).obj()], True, id="no-host-ports"),
        pytest.param(make_pod().host_port(80).obj(), [], True, id="empty-node"),
        pytest.param(make_pod().host_port(80).obj(), [make_pod("e").host_port(80).obj()], False, id="same-port"),
        pytest.param(make_pod().host_port(80, protocol="UDP").obj(), [make_pod("e").host_port(80).obj()], True,
                     id="other-protocol"),
        pytest.param(make_pod().host_port(80, ip="10.0.0.1").obj(),
                     [make_pod("e").host_port(80, ip="10.0.0.2").obj()], True, id="other-ip"),
        pytest.param(make_pod().host_port(80, ip="10.0.0.1").obj(), [make_pod("e").host_port(80).obj()], False,
                     id="wildcard-used"),
        pytest.param(make_pod().host_port(81).host_port(80).obj(), [make_pod("e").host_port(80).obj()], False,
                     id="second-port-conflicts"),
    ],
)
def test_node_ports_filter(pod: dict[str, Any], existing: list[dict[str, Any]], fits: bool) -> None:
    status = filter_status(node_ports.new({}), pod, make_node("n1").info(*existing))
    if fits:
        assert status is None
    else:
        assert status is not None
        assert (status.code, status.reasons) == (Code.UNSCHEDULABLE, (REASON,))


def test_filter_without_pre_filter_is_an_error() -> None:
    status = node_ports.new({}).filter(state=CycleState(), pod=make_pod().host_port(80).obj(),
                                       node_info=make_node("n1").info())
    assert status is not None
    assert status.code is Code.ERROR

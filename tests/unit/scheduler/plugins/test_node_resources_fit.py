"""NodeResourcesFit: upstream's fit reasons and codes, args validation, Least/MostAllocated scores."""

from __future__ import annotations

from typing import Any

import pytest
from scheduler_builders import NodeBuilder, filter_status, make_node, make_pod, scores

from kubelite.controlplane.scheduler.framework import Code, ProfileError
from kubelite.controlplane.scheduler.plugins import node_resources_fit

GPU = "example.com/gpu"
NODE = make_node("n1").capacity(cpu="2", memory="2Gi", pods="3", ephemeral_storage="10Gi").extended(GPU, "2")
RUNNING = make_pod("r").requests(cpu="1", memory="1Gi").obj()
ONE_GPU = make_pod("g").container(requests={GPU: "1"}).obj()
TWO_NODES = [make_node("n1").capacity(cpu="4", memory="10000"), make_node("n2").capacity(cpu="6", memory="10000")]


@pytest.mark.parametrize(
    ("pod", "existing", "args", "code", "reasons"),
    [
        pytest.param(make_pod().requests(cpu="1", memory="1Gi").obj(), [RUNNING], {}, None, (), id="exact-fit"),
        pytest.param(make_pod().requests(cpu="1001m").obj(), [RUNNING], {}, Code.UNSCHEDULABLE,
                     ("Insufficient cpu",), id="cpu-short"),
        pytest.param(make_pod().requests(cpu="3", memory="1Gi").obj(), [RUNNING], {},
                     Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("Insufficient cpu",), id="cpu-beyond-allocatable"),
        pytest.param(make_pod().requests(cpu="2", memory="2Gi").obj(), [RUNNING], {}, Code.UNSCHEDULABLE,
                     ("Insufficient cpu", "Insufficient memory"), id="all-shortfalls-reported"),
        pytest.param(make_pod().requests(ephemeral_storage="11Gi").obj(), [], {},
                     Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("Insufficient ephemeral-storage",), id="ephemeral-storage"),
        pytest.param(make_pod().container().obj(), [RUNNING, RUNNING, RUNNING], {}, Code.UNSCHEDULABLE,
                     ("Too many pods",), id="too-many-pods-even-best-effort"),
        pytest.param(make_pod().container().obj(), [RUNNING, RUNNING], {}, None, (),
                     id="best-effort-on-full-cpu-fits"),
        pytest.param(make_pod().container(requests={GPU: "1"}).obj(), [ONE_GPU],
                     {}, None, (), id="extended-fits"),
        pytest.param(make_pod().container(requests={GPU: "2"}).obj(), [ONE_GPU],
                     {}, Code.UNSCHEDULABLE, (f"Insufficient {GPU}",), id="extended-short"),
        pytest.param(make_pod().container(requests={"other.io/fpga": "1"}).obj(), [], {},
                     Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("Insufficient other.io/fpga",), id="extended-node-lacks"),
        pytest.param(make_pod().container(requests={"other.io/fpga": "1"}).obj(), [],
                     {"ignoredResources": ["other.io/fpga"]}, None, (), id="ignored-resource"),
        pytest.param(make_pod().container(requests={"other.io/fpga": "1"}).obj(), [],
                     {"ignoredResourceGroups": ["other.io"]}, None, (), id="ignored-group"),
        pytest.param(make_pod().container(requests={"hugepages-2Mi": "2Mi"}).obj(), [],
                     {"ignoredResourceGroups": ["hugepages-2Mi"]}, Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                     ("Insufficient hugepages-2Mi",), id="native-scalar-never-ignored"),
        pytest.param(make_pod().requests(cpu="500m").overhead(cpu="600m").obj(), [RUNNING], {}, Code.UNSCHEDULABLE,
                     ("Insufficient cpu",), id="overhead-counts"),
    ],
)
def test_node_resources_fit_filter(pod: dict[str, Any], existing: list[dict[str, Any]], args: dict[str, Any],
                                   code: Code | None, reasons: tuple[str, ...]) -> None:
    status = filter_status(node_resources_fit.new(args), pod, NODE.info(*existing))
    if code is None:
        assert status is None
    else:
        assert status is not None
        assert (status.code, status.reasons) == (code, reasons)


GI = "Gi"


@pytest.mark.parametrize(
    ("args", "pod", "nodes", "expected"),
    [
        # upstream least_allocated_test "nothing scheduled, resources requested, differently sized nodes":
        # node1 4000m/10000, node2 6000m/10000, pod 3000m/5000 -> 37, 50
        pytest.param({}, make_pod().requests(cpu="3", memory="5000").obj(),
                     TWO_NODES,
                     [37, 50], id="least-allocated-upstream-example"),
        pytest.param({"scoringStrategy": {"type": "MostAllocated"}}, make_pod().requests(cpu="3", memory="5000").obj(),
                     TWO_NODES,
                     [62, 50], id="most-allocated"),
        pytest.param({"scoringStrategy": {"resources": [{"name": "cpu", "weight": 3},
                                                        {"name": "memory", "weight": 1}]}},
                     make_pod().requests(cpu="3", memory="5000").obj(),
                     [make_node("n1").capacity(cpu="4", memory="10000")], [31], id="weighted-cpu"),
        # best-effort pod counts 100m / 200Mi: 1000m node -> cpu 90; 1000Mi node -> memory 80; (90+80)/2 = 85
        pytest.param({}, make_pod().container().obj(), [make_node("n1").capacity(cpu="1", memory="1000Mi")], [85],
                     id="non-zero-defaults"),
    ],
)
def test_node_resources_fit_score(args: dict[str, Any], pod: dict[str, Any], nodes: list[NodeBuilder],
                                  expected: list[int]) -> None:
    assert scores(node_resources_fit.new(args), pod, [n.info() for n in nodes]) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param({"scoringStrategy": {"type": "RequestedToCapacityRatio"}},
                     "scoringStrategy.type: unsupported value 'RequestedToCapacityRatio'", id="strategy"),
        pytest.param({"scoringStrategy": {"resources": [{"name": "example.com/gpu", "weight": 1}]}},
                     r"scoringStrategy.resources\[0\].name: unsupported value", id="resource"),
        pytest.param({"scoringStrategy": {"resources": [{"name": "cpu", "weight": 0}]}},
                     r"scoringStrategy.resources\[0\].weight: must be an integer in 1..100, got 0", id="weight"),
        pytest.param({"scoringStrategy": {"resources": [{"name": "cpu"}, {"name": "cpu"}]}},
                     r"resources\[1\].name: duplicate resource 'cpu'", id="duplicate"),
        pytest.param({"ignoredResources": "x"}, "ignoredResources: must be a list of strings", id="ignored-type"),
        pytest.param({"bogus": 1}, "unknown field.*bogus", id="unknown-field"),
    ],
)
def test_node_resources_fit_bad_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        node_resources_fit.new(args)

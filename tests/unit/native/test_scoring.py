"""The scoring kernel: upstream's arithmetic, and the compiled kernel equal to its pure-Python twin."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.native import scoring
from kubelite.native.scoring import NodeColumns

GI = 1024**3


def make_nodes(*rows: tuple[int, int, int, int, int, int]) -> NodeColumns:
    nodes = NodeColumns()
    for alloc_cpu, alloc_mem, alloc_pods, req_cpu, req_mem, pod_count in rows:
        nodes.append(alloc_cpu=alloc_cpu, alloc_mem=alloc_mem, alloc_pods=alloc_pods,
                     req_cpu=req_cpu, req_mem=req_mem, pod_count=pod_count)
    return nodes


def test_compiled_kernel_is_built() -> None:
    # the install builds it; a pure fallback here would make the equivalence tests below vacuous
    assert scoring.IMPLEMENTATION == "cython"


@pytest.mark.parametrize(
    ("node", "pod", "least", "most", "balanced"),
    [
        # upstream least_allocated_test: node 4000m/10000, pod 3000m/5000 -> cpu 25, mem 50 -> 37
        pytest.param((4000, 10000, 110, 0, 0, 0), (3000, 5000), 37, 62, 87, id="upstream-example"),
        pytest.param((4000, 10000, 110, 0, 0, 0), (0, 0), 100, 0, 100, id="empty-node-empty-pod"),
        pytest.param((4000, 10000, 110, 3000, 0, 1), (2000, 0), 50, 50, 50, id="over-capacity-cpu"),
        pytest.param((0, 0, 110, 0, 0, 0), (100, 100), 0, 0, 100, id="zero-capacity"),
        pytest.param((1000, 2 * GI, 110, 500, GI, 3), (250, GI // 2), 25, 75, 100, id="balanced-node"),
    ],
)
def test_scores_match_upstream_arithmetic(node: tuple[int, ...], pod: tuple[int, int], least: int,
                                          most: int, balanced: int) -> None:
    nodes = make_nodes(node)  # type: ignore[arg-type]
    cpu, mem = pod
    assert scoring.allocated_score(nodes, pod_cpu=cpu, pod_mem=mem)[0] == least
    assert scoring.allocated_score(nodes, pod_cpu=cpu, pod_mem=mem, most=True)[0] == most
    assert scoring.balanced_score(nodes, pod_cpu=cpu, pod_mem=mem)[0] == balanced


@pytest.mark.parametrize(
    ("node", "pod", "fits"),
    [
        pytest.param((1000, 1000, 10, 500, 500, 2), (500, 500), True, id="exactly-fills"),
        pytest.param((1000, 1000, 10, 501, 500, 2), (500, 500), False, id="cpu-short"),
        pytest.param((1000, 1000, 10, 500, 501, 2), (500, 500), False, id="memory-short"),
        pytest.param((1000, 1000, 3, 0, 0, 3), (0, 0), False, id="pod-count-full"),
        # a pod requesting nothing fits an over-committed node (upstream skips zero requests)
        pytest.param((1000, 1000, 10, 2000, 2000, 2), (0, 0), True, id="zero-request-overcommitted"),
    ],
)
def test_fit(node: tuple[int, ...], pod: tuple[int, int], fits: bool) -> None:
    mask, n = scoring.fit(make_nodes(node), pod_cpu=pod[0], pod_mem=pod[1])  # type: ignore[arg-type]
    assert bool(mask[0]) is fits
    assert n == int(fits)


def test_negative_weights_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        scoring.allocated_score(make_nodes((1, 1, 1, 0, 0, 0)), pod_cpu=0, pod_mem=0, w_cpu=-1)


quantity = st.integers(min_value=0, max_value=1 << 40)
node_rows = st.lists(st.tuples(quantity, quantity, st.integers(0, 250), quantity, quantity,
                               st.integers(0, 250)), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(rows=node_rows, pod_cpu=quantity, pod_mem=quantity, w_cpu=st.integers(0, 10),
       w_mem=st.integers(0, 10), most=st.booleans())
def test_compiled_equals_pure_twin(rows: list[tuple[int, int, int, int, int, int]], pod_cpu: int,
                                   pod_mem: int, w_cpu: int, w_mem: int, most: bool) -> None:
    nodes = make_nodes(*rows)
    n = len(nodes)
    cols = (nodes.alloc_cpu, nodes.alloc_mem, nodes.alloc_pods, nodes.req_cpu, nodes.req_mem,
            nodes.pod_count)

    mask_py = bytearray(n)
    fits_py = scoring.fit_py(*cols, pod_cpu, pod_mem, mask_py)
    mask, fits = scoring.fit(nodes, pod_cpu=pod_cpu, pod_mem=pod_mem)
    assert (mask, fits) == (mask_py, fits_py)

    alloc_py = array("q", bytes(8 * n))
    scoring.allocated_score_py(nodes.alloc_cpu, nodes.alloc_mem, nodes.req_cpu, nodes.req_mem,
                               pod_cpu, pod_mem, w_cpu, w_mem, most, alloc_py)
    assert scoring.allocated_score(nodes, pod_cpu=pod_cpu, pod_mem=pod_mem, w_cpu=w_cpu, w_mem=w_mem,
                                   most=most) == alloc_py

    bal_py = array("q", bytes(8 * n))
    scoring.balanced_score_py(nodes.alloc_cpu, nodes.alloc_mem, nodes.req_cpu, nodes.req_mem,
                              pod_cpu, pod_mem, bal_py)
    assert scoring.balanced_score(nodes, pod_cpu=pod_cpu, pod_mem=pod_mem) == bal_py
    assert all(0 <= s <= scoring.MAX_NODE_SCORE for s in bal_py)

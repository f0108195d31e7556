"""The batch kernel of a scheduling cycle: compiled functions equal their pure-Python twins."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.native import scoring
from kubelite.native.scoring import KERNEL, PURE, NodeColumns

GI = 1024**3

node_rows = st.lists(
    st.tuples(st.integers(0, 64_000), st.integers(0, 256 * GI), st.integers(0, 250),
              st.integers(0, 70_000), st.integers(0, 300 * GI), st.integers(0, 260)),
    min_size=0, max_size=60)


def columns(rows: list[tuple[int, int, int, int, int, int]]) -> NodeColumns:
    cols = NodeColumns()
    for alloc_cpu, alloc_mem, alloc_pods, req_cpu, req_mem, pod_count in rows:
        cols.append(alloc_cpu=alloc_cpu, alloc_mem=alloc_mem, alloc_pods=alloc_pods, req_cpu=req_cpu,
                    req_mem=req_mem, pod_count=pod_count, nz_cpu=req_cpu + 100, nz_mem=req_mem)
    return cols


def test_the_compiled_kernel_is_in_use() -> None:
    assert KERNEL.name == "cython" and PURE.name == "python"


@settings(max_examples=200, deadline=None)
@given(rows=node_rows, pod_cpu=st.integers(0, 8000), pod_mem=st.integers(0, 16 * GI), data=st.data())
def test_fit_mask_equals_the_twin_and_the_unmasked_fit(rows: list[tuple[int, int, int, int, int, int]], pod_cpu: int,
                                                      pod_mem: int, data: st.DataObject) -> None:
    cols = columns(rows)
    start = bytearray(data.draw(st.lists(st.integers(0, 1), min_size=len(rows), max_size=len(rows))))
    compiled, pure = bytearray(start), bytearray(start)
    left_c = KERNEL.fit_mask(cols.alloc_cpu, cols.alloc_mem, cols.alloc_pods, cols.req_cpu, cols.req_mem,
                             cols.pod_count, pod_cpu, pod_mem, compiled)
    left_p = PURE.fit_mask(cols.alloc_cpu, cols.alloc_mem, cols.alloc_pods, cols.req_cpu, cols.req_mem,
                           cols.pod_count, pod_cpu, pod_mem, pure)
    assert (compiled, left_c) == (pure, left_p)
    full, _ = scoring.fit(cols, pod_cpu=pod_cpu, pod_mem=pod_mem)
    assert compiled == bytearray(a & b for a, b in zip(start, full, strict=True))


@settings(max_examples=200, deadline=None)
@given(mask=st.lists(st.integers(0, 1), max_size=80), data=st.data())
def test_select_walks_the_ring_from_start(mask: list[int], data: st.DataObject) -> None:
    n = len(mask)
    start = data.draw(st.integers(0, max(n - 1, 0)))
    limit = data.draw(st.integers(0, n + 2))
    out_c, out_p = array("q", bytes(8 * n)), array("q", bytes(8 * n))
    got_c = KERNEL.select(bytes(mask), start, limit, out_c)
    got_p = PURE.select(bytes(mask), start, limit, out_p)
    assert got_c == got_p and out_c == out_p
    found, _scanned = got_c
    ring = [i % n for i in range(start, start + n)] if n else []
    assert out_c[:found].tolist() == [i for i in ring if mask[i]][:limit]


@settings(max_examples=200, deadline=None)
@given(rows=node_rows, pod_cpu=st.integers(0, 8000), pod_mem=st.integers(0, 16 * GI),
       w_cpu=st.integers(0, 100), w_mem=st.integers(0, 100), most=st.booleans(), data=st.data())
def test_scores_at_slots_equal_the_twin_and_the_whole_column_scores(
        rows: list[tuple[int, int, int, int, int, int]], pod_cpu: int, pod_mem: int, w_cpu: int, w_mem: int,
        most: bool, data: st.DataObject) -> None:
    cols = columns(rows)
    n = len(rows)
    idx = array("q", data.draw(st.lists(st.integers(0, n - 1), max_size=n)) if n else [])
    count = len(idx)
    results = []
    for kernel in (KERNEL, PURE):
        alloc, bal = array("q", bytes(8 * count)), array("q", bytes(8 * count))
        kernel.allocated_score_at(cols.alloc_cpu, cols.alloc_mem, cols.req_cpu, cols.req_mem, idx, count, pod_cpu,
                                  pod_mem, w_cpu, w_mem, most, alloc)
        kernel.balanced_score_at(cols.alloc_cpu, cols.alloc_mem, cols.req_cpu, cols.req_mem, idx, count, pod_cpu,
                                 pod_mem, bal)
        results.append((alloc, bal))
    assert results[0] == results[1]
    whole = scoring.allocated_score(cols, pod_cpu=pod_cpu, pod_mem=pod_mem, w_cpu=w_cpu, w_mem=w_mem, most=most)
    assert results[0][0].tolist() == [whole[i] for i in idx]
    whole_bal = scoring.balanced_score(cols, pod_cpu=pod_cpu, pod_mem=pod_mem)
    assert results[0][1].tolist() == [whole_bal[i] for i in idx]


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(0, 10_000), max_size=50), reverse=st.booleans(), weight=st.integers(1, 100))
def test_normalize_weighting_and_best_equal_the_twin(values: list[int], reverse: bool, weight: int) -> None:
    count = len(values)
    outs = []
    for kernel in (KERNEL, PURE):
        scores = array("q", values)
        kernel.normalize(scores, count, reverse)
        total = array("q", [7] * count)
        kernel.add_weighted(total, scores, count, weight)
        top, ties = kernel.best(total, count)
        picks = [kernel.nth_best(total, count, top, r) for r in range(ties + 1)]
        outs.append((scores, total, top, ties, picks))
    assert outs[0] == outs[1]
    scores, total, top, ties, picks = outs[0]
    assert all(0 <= s <= 100 for s in scores)
    if count:
        assert top == max(total) and ties == total.tolist().count(top)
        assert picks[-1] == -1 and all(total[p] == top for p in picks[:-1])


def test_gather_reads_the_slots_in_order() -> None:
    column = array("q", [10, 20, 30, 40])
    idx = array("q", [3, 0, 2])
    for kernel in (KERNEL, PURE):
        out = array("q", bytes(24))
        kernel.gather(column, idx, 3, out)
        assert out.tolist() == [40, 10, 30]


def test_node_columns_remove_a_row_by_moving_the_last() -> None:
    cols = NodeColumns()
    for cpu in (1, 2, 3):
        cols.append(alloc_cpu=cpu, alloc_mem=0, alloc_pods=0)
    cols.move_last_to(0)
    assert cols.alloc_cpu.tolist() == [3, 2] and len(cols.nz_cpu) == 2
    cols.move_last_to(1)
    assert cols.alloc_cpu.tolist() == [3]

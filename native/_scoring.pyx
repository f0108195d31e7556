# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled kernel of kubelite.native.scoring: the loops only; the API and errors live in scoring.py."""

from libc.math cimport fabs

cdef long long MAX_NODE_SCORE = 100


def fit(const long long[:] alloc_cpu, const long long[:] alloc_mem, const long long[:] alloc_pods,
        const long long[:] req_cpu, const long long[:] req_mem, const long long[:] pod_count,
        long long pod_cpu, long long pod_mem, unsigned char[:] out):
    cdef Py_ssize_t i, n = alloc_cpu.shape[0]
    cdef Py_ssize_t fits = 0
    cdef unsigned char ok
    for i in range(n):
        ok = (pod_count[i] + 1 <= alloc_pods[i]
              and (pod_cpu == 0 or req_cpu[i] + pod_cpu <= alloc_cpu[i])
              and (pod_mem == 0 or req_mem[i] + pod_mem <= alloc_mem[i]))
        out[i] = ok
        fits += ok
    return fits


cdef inline long long _least(long long requested, long long capacity) nogil:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


cdef inline long long _most(long long requested, long long capacity) nogil:
    if capacity == 0:
        return 0
    if requested > capacity:
        requested = capacity
    return requested * MAX_NODE_SCORE // capacity


def allocated_score(const long long[:] alloc_cpu, const long long[:] alloc_mem,
                    const long long[:] req_cpu, const long long[:] req_mem,
                    long long pod_cpu, long long pod_mem, long long w_cpu, long long w_mem,
                    bint most, long long[:] out):
    cdef Py_ssize_t i, n = alloc_cpu.shape[0]
    cdef long long s_cpu, s_mem, wsum = w_cpu + w_mem
    for i in range(n):
        if most:
            s_cpu = _most(req_cpu[i] + pod_cpu, alloc_cpu[i])
            s_mem = _most(req_mem[i] + pod_mem, alloc_mem[i])
        else:
            s_cpu = _least(req_cpu[i] + pod_cpu, alloc_cpu[i])
            s_mem = _least(req_mem[i] + pod_mem, alloc_mem[i])
        out[i] = (s_cpu * w_cpu + s_mem * w_mem) // wsum if wsum else 0


def balanced_score(const long long[:] alloc_cpu, const long long[:] alloc_mem,
                   const long long[:] req_cpu, const long long[:] req_mem,
                   long long pod_cpu, long long pod_mem, long long[:] out):
    cdef Py_ssize_t i, n = alloc_cpu.shape[0]
    cdef double f_cpu, f_mem, std
    cdef int count
    for i in range(n):
        count = 0
        f_cpu = 0.0
        f_mem = 0.0
        if alloc_cpu[i] != 0:
            f_cpu = <double>(req_cpu[i] + pod_cpu) / <double>alloc_cpu[i]
            if f_cpu > 1.0:
                f_cpu = 1.0
            count += 1
        if alloc_mem[i] != 0:
            f_mem = <double>(req_mem[i] + pod_mem) / <double>alloc_mem[i]
            if f_mem > 1.0:
                f_mem = 1.0
            count += 1
        std = fabs((f_cpu - f_mem) / 2.0) if count == 2 else 0.0
        out[i] = <long long>((1.0 - std) * <double>MAX_NODE_SCORE)


# ---- the batch pass of one scheduling cycle: masks over all nodes, scores over chosen slots ----

def fit_mask(const long long[:] alloc_cpu, const long long[:] alloc_mem, const long long[:] alloc_pods,
             const long long[:] req_cpu, const long long[:] req_mem, const long long[:] pod_count,
             long long pod_cpu, long long pod_mem, unsigned char[:] mask):
    cdef Py_ssize_t i, n = alloc_cpu.shape[0]
    cdef Py_ssize_t left = 0
    for i in range(n):
        if mask[i]:
            if (pod_count[i] + 1 <= alloc_pods[i]
                    and (pod_cpu == 0 or req_cpu[i] + pod_cpu <= alloc_cpu[i])
                    and (pod_mem == 0 or req_mem[i] + pod_mem <= alloc_mem[i])):
                left += 1
            else:
                mask[i] = 0
    return left


def select(const unsigned char[:] mask, Py_ssize_t start, Py_ssize_t limit, long long[:] out):
    cdef Py_ssize_t n = mask.shape[0]
    cdef Py_ssize_t scanned = 0, found = 0, i = start
    if n == 0:
        return 0, 0
    while scanned < n and found < limit:
        if mask[i]:
            out[found] = i
            found += 1
        scanned += 1
        i += 1
        if i == n:
            i = 0
    return found, scanned


def allocated_score_at(const long long[:] alloc_cpu, const long long[:] alloc_mem,
                       const long long[:] req_cpu, const long long[:] req_mem, const long long[:] idx,
                       Py_ssize_t count, long long pod_cpu, long long pod_mem, long long w_cpu,
                       long long w_mem, bint most, long long[:] out):
    cdef Py_ssize_t k, i
    cdef long long s_cpu, s_mem, wsum = w_cpu + w_mem
    for k in range(count):
        i = idx[k]
        if most:
            s_cpu = _most(req_cpu[i] + pod_cpu, alloc_cpu[i])
            s_mem = _most(req_mem[i] + pod_mem, alloc_mem[i])
        else:
            s_cpu = _least(req_cpu[i] + pod_cpu, alloc_cpu[i])
            s_mem = _least(req_mem[i] + pod_mem, alloc_mem[i])
        out[k] = (s_cpu * w_cpu + s_mem * w_mem) // wsum if wsum else 0


def balanced_score_at(const long long[:] alloc_cpu, const long long[:] alloc_mem,
                      const long long[:] req_cpu, const long long[:] req_mem, const long long[:] idx,
                      Py_ssize_t count, long long pod_cpu, long long pod_mem, long long[:] out):
    cdef Py_ssize_t k, i
    cdef double f_cpu, f_mem, std
    cdef int parts
    for k in range(count):
        i = idx[k]
        parts = 0
        f_cpu = 0.0
        f_mem = 0.0
        if alloc_cpu[i] != 0:
            f_cpu = <double>(req_cpu[i] + pod_cpu) / <double>alloc_cpu[i]
            if f_cpu > 1.0:
                f_cpu = 1.0
            parts += 1
        if alloc_mem[i] != 0:
            f_mem = <double>(req_mem[i] + pod_mem) / <double>alloc_mem[i]
            if f_mem > 1.0:
                f_mem = 1.0
            parts += 1
        std = fabs((f_cpu - f_mem) / 2.0) if parts == 2 else 0.0
        out[k] = <long long>((1.0 - std) * <double>MAX_NODE_SCORE)


def gather(const long long[:] column, const long long[:] idx, Py_ssize_t count, long long[:] out):
    cdef Py_ssize_t k
    for k in range(count):
        out[k] = column[idx[k]]


def normalize(long long[:] scores, Py_ssize_t count, bint reverse):
    cdef Py_ssize_t k
    cdef long long highest = 0
    for k in range(count):
        if scores[k] > highest:
            highest = scores[k]
    if highest == 0:
        if reverse:
            for k in range(count):
                scores[k] = MAX_NODE_SCORE
        return
    for k in range(count):
        if reverse:
            scores[k] = MAX_NODE_SCORE - MAX_NODE_SCORE * scores[k] // highest
        else:
            scores[k] = MAX_NODE_SCORE * scores[k] // highest


def add_weighted(long long[:] total, const long long[:] scores, Py_ssize_t count, long long weight):
    cdef Py_ssize_t k
    for k in range(count):
        total[k] += scores[k] * weight


def best(const long long[:] total, Py_ssize_t count):
    cdef Py_ssize_t k, ties = 0
    cdef long long top = 0
    for k in range(count):
        if ties == 0 or total[k] > top:
            top = total[k]
            ties = 1
        elif total[k] == top:
            ties += 1
    return top, ties


def nth_best(const long long[:] total, Py_ssize_t count, long long top, Py_ssize_t nth):
    cdef Py_ssize_t k
    for k in range(count):
        if total[k] == top:
            if nth == 0:
                return k
            nth -= 1
    return -1

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

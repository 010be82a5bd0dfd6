# cython: language_level=3
"""Outline rings of a set of cells: the compiled half of `coverage_net.coverage._outline`.

The cells come as their corners, quantised to integers, with `nxt[v]` the corner
after `v` in its cell's counter-clockwise ring. An edge v -> nxt[v] shared by two
cells of the set appears twice, once each way, with the same midpoint; two hash
tables (open addressing, linear probing) find those twins and then, for each
edge left (the outline), the one edge that leaves where it ends. Following those
links walks the rings. Everything is integer arithmetic on the quantised
corners, so the result does not depend on floating-point rounding, and the rings
come out in a fixed order: ring by ring in order of their smallest corner index,
each starting at that corner.

`_outline.py` checks and lays out the inputs; nothing here checks bounds.
"""

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint64_t


cdef inline uint64_t _mix(int64_t a, int64_t b) noexcept nogil:
    """A 64-bit hash of two integers (splitmix64's finaliser over their combination)."""
    cdef uint64_t z = (<uint64_t>a) * 0x9E3779B97F4A7C15ULL + (<uint64_t>b)
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef Py_ssize_t _table_size(Py_ssize_t n):
    cdef Py_ssize_t size = 16
    while size < 2 * n:
        size *= 2
    return size


def outline_rings(const int64_t[::1] q_lon, const int64_t[::1] q_lat, const int64_t[::1] nxt):
    """(order, cuts): the corners that start an outline edge, ring by ring, and where
    each ring starts in `order` (with the total at the end).

    Raises ValueError when a corner starts two outline edges or an outline edge
    ends where none starts (the cells are not a set of distinct hexagons).
    """
    cdef Py_ssize_t n = q_lon.shape[0]
    if n >= 2 ** 31 - 1:
        raise ValueError(f"{n} corners are too many for one outline (at most 2**31 - 2)")
    cdef Py_ssize_t size = _table_size(n), mask = size - 1
    cdef int32_t[::1] table = np.full(size, -1, dtype=np.int32)
    cdef unsigned char[::1] boundary = np.ones(n, dtype=np.uint8)
    cdef Py_ssize_t e, d, t, h, m = 0
    cdef int64_t a, b
    cdef int error = 0
    with nogil:
        for e in range(n):
            d = nxt[e]
            if q_lon[e] == q_lon[d] and q_lat[e] == q_lat[d]:  # a corner repeated by rounding
                boundary[e] = 0
                continue
            a = q_lon[e] + q_lon[d]
            b = q_lat[e] + q_lat[d]
            h = _mix(a, b) & mask
            while True:
                t = table[h]
                if t < 0:
                    table[h] = <int32_t>e
                    break
                if q_lon[t] + q_lon[nxt[t]] == a and q_lat[t] + q_lat[nxt[t]] == b:
                    boundary[e] = 0
                    boundary[t] = 0
                    break
                h = (h + 1) & mask
        for e in range(n):
            m += boundary[e]
    # the outline: each edge's successor is the edge that starts where it ends
    cdef Py_ssize_t size2 = _table_size(m), mask2 = size2 - 1
    cdef int32_t[::1] start_at = np.full(size2, -1, dtype=np.int32)
    cdef int64_t[::1] following = np.full(n, -1, dtype=np.int64)
    with nogil:
        for e in range(n):
            if not boundary[e]:
                continue
            h = _mix(q_lon[e], q_lat[e]) & mask2
            while True:
                t = start_at[h]
                if t < 0:
                    start_at[h] = <int32_t>e
                    break
                if q_lon[t] == q_lon[e] and q_lat[t] == q_lat[e]:
                    error = 1
                    break
                h = (h + 1) & mask2
            if error:
                break
        if not error:
            for e in range(n):
                if not boundary[e]:
                    continue
                d = nxt[e]
                h = _mix(q_lon[d], q_lat[d]) & mask2
                while True:
                    t = start_at[h]
                    if t < 0:
                        error = 2
                        break
                    if q_lon[t] == q_lon[d] and q_lat[t] == q_lat[d]:
                        following[e] = t
                        break
                    h = (h + 1) & mask2
                if error:
                    break
    if error:
        raise ValueError("cells meet at a vertex with two outline edges; not an H3 cell set")
    order_arr = np.empty(m, dtype=np.int64)
    cuts_arr = np.empty(m + 1, dtype=np.int64)
    cdef int64_t[::1] order = order_arr
    cdef int64_t[::1] cuts = cuts_arr
    cdef unsigned char[::1] seen = np.zeros(n, dtype=np.uint8)
    cdef Py_ssize_t at = 0, rings = 0
    with nogil:
        for e in range(n):
            if not boundary[e] or seen[e]:
                continue
            cuts[rings] = at
            rings += 1
            t = e
            while True:
                seen[t] = 1
                order[at] = t
                at += 1
                t = following[t]
                if t == e:
                    break
                if seen[t]:  # two edges end at one corner: not a set of rings
                    error = 1
                    break
            if error:
                break
        cuts[rings] = at
    if error:
        raise ValueError("cells meet at a vertex with two outline edges; not an H3 cell set")
    return order_arr, cuts_arr[:rings + 1].copy()

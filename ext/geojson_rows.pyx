# cython: language_level=3
"""GeoJSON text of hexagon cell features: the compiled half of `coverage_net.coverage._geojson`.

A cell feature holds fourteen coordinates and three numbers; formatting them in
Python costs more than predicting the cell, and even numpy's column-wise
formatting costs as much as the kernel's share. Here each feature is written
straight into one buffer, without the GIL, so two threads can format two batches.

Numbers are fixed-point: a coordinate is round-half-even(|v| * 10^7) written as
integer and 7 decimals, the RSSI with 2 decimals, the hotspot count as an
integer, exactly as the numpy formatter (`fixed_columns`) writes them, minus its
padding. `_geojson.py` checks the inputs (finite, |coordinate| < 1000) and lays
them out; nothing here checks bounds.
"""

from libc.math cimport fabs, rint
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

cdef bytes _FEATURE_TEXT = b',\n{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[['
cdef bytes _CELL_TEXT = b']]]},"properties":{"cell":"'
cdef bytes _RSSI_TEXT = b'","best_rssi_dbm":'
cdef bytes _COUNT_TEXT = b',"hotspots":'
cdef bytes _NAME_TEXT = b',"best_hotspot":'
cdef const char* _FEATURE = _FEATURE_TEXT
cdef const char* _CELL = _CELL_TEXT
cdef const char* _RSSI = _RSSI_TEXT
cdef const char* _COUNT = _COUNT_TEXT
cdef const char* _NAME = _NAME_TEXT
cdef Py_ssize_t _FEATURE_LEN = len(_FEATURE_TEXT)
cdef Py_ssize_t _CELL_LEN = len(_CELL_TEXT)
cdef Py_ssize_t _RSSI_LEN = len(_RSSI_TEXT)
cdef Py_ssize_t _COUNT_LEN = len(_COUNT_TEXT)
cdef Py_ssize_t _NAME_LEN = len(_NAME_TEXT)
cdef const char* _HEX = b"0123456789abcdef"
cdef int[6] _RING = [1, 2, 3, 4, 5, 0]

# the longest row without its name: the constant pieces, 7 pairs of coordinates of at
# most 12 characters with "],[" between them, a 15-character cell, an RSSI and a
# count of at most 24 characters each, and the closing braces
ROW_BOUND = (len(_FEATURE_TEXT) + 7 * (2 * 12 + 1) + 6 * 3 + len(_CELL_TEXT) + 15
             + len(_RSSI_TEXT) + 24 + len(_COUNT_TEXT) + 24 + len(_NAME_TEXT) + 2)


cdef inline Py_ssize_t _unsigned(char* out, uint64_t value) noexcept nogil:
    cdef char[24] digits
    cdef Py_ssize_t n = 0, k
    while True:
        digits[n] = <char>(48 + value % 10)
        n += 1
        value //= 10
        if value == 0:
            break
    for k in range(n):
        out[k] = digits[n - 1 - k]
    return n


cdef inline Py_ssize_t _fixed(char* out, double value, int64_t scale, int decimals) noexcept nogil:
    """`value` with `decimals` decimals (scale = 10^decimals), round half to even."""
    cdef int64_t q = <int64_t>rint(fabs(value) * scale)
    cdef int64_t whole = q // scale, frac = q % scale
    cdef Py_ssize_t n = 0, k
    if value < 0 and q > 0:
        out[0] = b'-'
        n = 1
    n += _unsigned(out + n, <uint64_t>whole)
    out[n] = b'.'
    n += 1
    for k in range(decimals - 1, -1, -1):
        out[n + k] = <char>(48 + frac % 10)
        frac //= 10
    return n + decimals


cdef inline Py_ssize_t _pair(char* out, double lon, double lat) noexcept nogil:
    cdef Py_ssize_t n = 0
    n += _fixed(out, lon, 10000000, 7)
    out[n] = b','
    n += 1
    n += _fixed(out + n, lat, 10000000, 7)
    return n


def hex_feature_rows(const double[:, ::1] lon, const double[:, ::1] lat,
                     const uint64_t[::1] cells, const double[::1] rssi,
                     const int64_t[::1] count, const Py_ssize_t[::1] owner,
                     const unsigned char[::1] names, const int64_t[::1] name_start,
                     unsigned char[::1] out) -> int:
    """Write one feature per row into `out` (each starting with ",\\n"); the length used.

    `names` holds the JSON strings of the hotspot names end to end, name k at
    `names[name_start[k]:name_start[k + 1]]`. `out` must hold `len(cells)` times
    (ROW_BOUND + the longest name) bytes.
    """
    cdef Py_ssize_t n = cells.shape[0], row, k, at = 0, size
    cdef char* o = <char*>&out[0] if out.shape[0] else NULL
    cdef uint64_t cell
    with nogil:
        for row in range(n):
            memcpy(o + at, _FEATURE, _FEATURE_LEN)
            at += _FEATURE_LEN
            at += _pair(o + at, lon[row, 0], lat[row, 0])
            for k in range(6):
                o[at] = b']'
                o[at + 1] = b','
                o[at + 2] = b'['
                at += 3
                at += _pair(o + at, lon[row, _RING[k]], lat[row, _RING[k]])
            memcpy(o + at, _CELL, _CELL_LEN)
            at += _CELL_LEN
            cell = cells[row]
            for k in range(15):
                o[at + k] = _HEX[(cell >> (4 * (14 - k))) & 15]
            at += 15
            memcpy(o + at, _RSSI, _RSSI_LEN)
            at += _RSSI_LEN
            at += _fixed(o + at, rssi[row], 100, 2)
            memcpy(o + at, _COUNT, _COUNT_LEN)
            at += _COUNT_LEN
            if count[row] < 0:
                o[at] = b'-'
                at += 1
                at += _unsigned(o + at, <uint64_t>(-count[row]))
            else:
                at += _unsigned(o + at, <uint64_t>count[row])
            memcpy(o + at, _NAME, _NAME_LEN)
            at += _NAME_LEN
            size = name_start[owner[row] + 1] - name_start[owner[row]]
            memcpy(o + at, &names[name_start[owner[row]]], size)
            at += size
            o[at] = b'}'
            o[at + 1] = b'}'
            at += 2
    return at


def multipolygon_text(const double[:, ::1] xy, const int64_t[::1] ring_start,
                      const int64_t[::1] polygon_start, unsigned char[::1] out) -> int:
    """Write the "coordinates" text of a MultiPolygon into `out`; the length used.

    Ring r is the open ring `xy[ring_start[r]:ring_start[r + 1]]` (closed here by
    repeating its first corner), polygon p the rings `polygon_start[p]` up to
    `polygon_start[p + 1]`. `out` must hold MULTIPOLYGON_BOUND(corners, rings,
    polygons) bytes.
    """
    cdef Py_ssize_t polygons = polygon_start.shape[0] - 1, p, ring, k, at = 0
    cdef char* o = <char*>&out[0]
    with nogil:
        o[at] = b'['
        at += 1
        for p in range(polygons):
            if p:
                o[at] = b','
                at += 1
            o[at] = b'['
            at += 1
            for ring in range(polygon_start[p], polygon_start[p + 1]):
                if ring != polygon_start[p]:
                    o[at] = b','
                    at += 1
                o[at] = b'['
                at += 1
                for k in range(ring_start[ring], ring_start[ring + 1]):
                    o[at] = b'['
                    at += 1
                    at += _pair(o + at, xy[k, 0], xy[k, 1])
                    o[at] = b']'
                    o[at + 1] = b','
                    at += 2
                o[at] = b'['
                at += 1
                at += _pair(o + at, xy[ring_start[ring], 0], xy[ring_start[ring], 1])
                o[at] = b']'
                o[at + 1] = b']'
                at += 2
            o[at] = b']'
            at += 1
        o[at] = b']'
        at += 1
    return at


def MULTIPOLYGON_BOUND(Py_ssize_t corners, Py_ssize_t rings, Py_ssize_t polygons):
    """Bytes enough for `multipolygon_text`: a corner is at most "[" 12 "," 12 "],"."""
    return (corners + rings) * 28 + 3 * rings + 3 * polygons + 2

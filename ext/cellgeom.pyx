# cython: language_level=3
"""Cell centres and corners on one fitted patch: the compiled half of
`coverage_net.coverage._cellgeom`.

Inside one (base cell, face) patch a cell's centre is `normalize(L @ [1, u, v])`
with u, v its lattice coordinates relative to the patch origin, and its corners
are the same map at six fixed offsets (see `_cellgeom`). In numpy that is a
dozen passes over (n, 6, 3) arrays; here it is one pass per cell, without the
GIL, so two threads can take two batches. `_cellgeom.py` fits the patches, lays
out the inputs and sends every cell this cannot place exactly (near a face
edge) to h3; nothing here checks bounds.
"""

from libc.math cimport NAN, atan2, fabs, hypot, sqrt
from libc.stdint cimport int64_t

cdef double _DEGREES = 57.29577951308232  # 180 / pi, as numpy's degrees multiplies


cdef inline double _clear(const double[:, ::1] normals, double x, double y, double z,
                          double norm) noexcept nogil:
    """Sine of the angle from (x, y, z) to the nearest of the face's three edges."""
    cdef double best = normals[0, 0] * x + normals[0, 1] * y + normals[0, 2] * z
    cdef double side
    cdef int e
    for e in range(1, 3):
        side = normals[e, 0] * x + normals[e, 1] * y + normals[e, 2] * z
        if side < best:
            best = side
    return best / norm


def patch_geometry(const int64_t[::1] i, const int64_t[::1] j, const Py_ssize_t[::1] rows,
                   double origin_i, double origin_j, double scale,
                   const double[:, ::1] matrix, const double[:, ::1] normals,
                   double margin, double near, const double[:, ::1] offsets,
                   bint vertices, double[::1] lat, double[::1] lon, double[:, ::1] cxyz,
                   double[:, ::1] vlat, double[:, ::1] vlon, double[::1] area_sr,
                   double[::1] clearance):
    """Place the cells `rows` (indexes into i, j and the outputs) on one patch.

    For each, `clearance[r]` is the sine of its centre's angle to the nearest face
    edge (<= 0: on another face). A cell with clearance above `margin` (and, with
    `vertices`, each corner too, checked only when the centre is within `near` of
    an edge) gets its centre in lat/lon/cxyz, and with `vertices` its corners in
    vlat/vlon and its area on the unit sphere (six triangles from the centre, as
    h3.cell_area) in area_sr; the others get NaN there, for the caller to place.
    """
    cdef Py_ssize_t n = rows.shape[0], r, row, k
    cdef double u, v, x, y, z, ux, uy, uz, norm, cx, cy, cz, c, total
    cdef double[6][3] corner
    cdef double* a
    cdef double* b
    cdef bint ok
    with nogil:
        for r in range(n):
            row = rows[r]
            u = (i[row] - origin_i) / scale
            v = (j[row] - origin_j) / scale
            x = matrix[0, 0] + matrix[0, 1] * u + matrix[0, 2] * v
            y = matrix[1, 0] + matrix[1, 1] * u + matrix[1, 2] * v
            z = matrix[2, 0] + matrix[2, 1] * u + matrix[2, 2] * v
            norm = sqrt(x * x + y * y + z * z)
            c = _clear(normals, x, y, z, norm)
            clearance[r] = c
            ok = c > margin
            if ok and vertices and c < near:
                for k in range(6):
                    cx = x + offsets[k, 0]
                    cy = y + offsets[k, 1]
                    cz = z + offsets[k, 2]
                    if not _clear(normals, cx, cy, cz, sqrt(cx * cx + cy * cy + cz * cz)) > margin:
                        ok = False
                        break
            if not ok:
                lat[row] = NAN
                lon[row] = NAN
                for k in range(3):
                    cxyz[row, k] = NAN
                if vertices:
                    for k in range(6):
                        vlat[row, k] = NAN
                        vlon[row, k] = NAN
                    area_sr[row] = NAN
                continue
            ux = x / norm
            uy = y / norm
            uz = z / norm
            cxyz[row, 0] = ux
            cxyz[row, 1] = uy
            cxyz[row, 2] = uz
            lat[row] = atan2(uz, hypot(ux, uy)) * _DEGREES
            lon[row] = atan2(uy, ux) * _DEGREES
            if not vertices:
                continue
            for k in range(6):
                cx = x + offsets[k, 0]
                cy = y + offsets[k, 1]
                cz = z + offsets[k, 2]
                vlat[row, k] = atan2(cz, hypot(cx, cy)) * _DEGREES
                vlon[row, k] = atan2(cy, cx) * _DEGREES
                c = sqrt(cx * cx + cy * cy + cz * cz)
                corner[k][0] = cx / c
                corner[k][1] = cy / c
                corner[k][2] = cz / c
            # spherical triangles (centre, corner k, corner k + 1): Van Oosterom-Strackee
            total = 0.0
            for k in range(6):
                a = corner[k]
                b = corner[(k + 1) % 6]
                total += 2.0 * atan2(
                    fabs(ux * (a[1] * b[2] - a[2] * b[1]) + uy * (a[2] * b[0] - a[0] * b[2])
                         + uz * (a[0] * b[1] - a[1] * b[0])),
                    1.0 + ux * a[0] + uy * a[1] + uz * a[2] + ux * b[0] + uy * b[1] + uz * b[2]
                    + a[0] * b[0] + a[1] * b[1] + a[2] * b[2])
            area_sr[row] = total

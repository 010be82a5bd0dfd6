# Great circles and DEM profiles: included by ext/pathloss.pyx and ext/itm.pyx so
# both kernels sample the terrain with the same arithmetic. Needs `libc.math`'s
# asin, atan2, cos, sin, sqrt cimported by the including module.

cdef double RAD2DEG = 57.29577951308232
cdef enum:
    # The profile's great circle is evaluated exactly (position, lat/lon and their
    # derivatives) at knots at most KNOT_SAMPLES samples apart, and by cubic
    # Hermite interpolation in between.
    KNOT_SAMPLES = 16
# Knots are also at most KNOT_REL_ANGLE * cos(lat) radians apart: the k-th
# derivatives of lat/lon grow like cos(lat)^-k, so this bounds the interpolation
# error (h / cos(lat))^4 / 384 below 1e-16, under the rounding of the coordinates.
# At 44 deg and 93 m spacing that is still 16 samples (1.5 km); next to a pole it
# falls to one sample, i.e. every sample exact.
cdef double KNOT_REL_ANGLE = 4.4e-4
# below this distance from the axis the derivatives are not computed (set to 0)
cdef double POLAR_RHO = 1e-9


cdef inline double asin_small(double x) noexcept nogil:
    """asin(x) for 0 <= x <= 1: odd Taylor series below 0.02 (exact to rounding:
    the first omitted term is < 1e-19 x), libm above."""
    cdef double x2
    if x < 0.02:
        x2 = x * x
        return x * (1.0 + x2 * (1.0 / 6.0 + x2 * (3.0 / 40.0 + x2 * (15.0 / 336.0
                    + x2 * (105.0 / 3456.0 + x2 * (945.0 / 42240.0))))))
    return asin(x)


cdef inline double central_angle(const double* a, const double* b) noexcept nogil:
    cdef double dx = a[0] - b[0]
    cdef double dy = a[1] - b[1]
    cdef double dz = a[2] - b[2]
    cdef double half_chord = 0.5 * sqrt(dx * dx + dy * dy + dz * dz)
    if half_chord > 1.0:
        half_chord = 1.0
    return 2.0 * asin_small(half_chord)


cdef inline double bilinear_m(const float* E, Py_ssize_t rows, Py_ssize_t cols,
                              double lat_north, double lon_west, double inv_step,
                              double lat, double lon) noexcept nogil:
    """Elevation at (lat, lon), 0 outside the mosaic (flat earth)."""
    cdef double fr = (lat_north - lat) * inv_step
    cdef double fc = (lon - lon_west) * inv_step
    cdef Py_ssize_t r0, c0
    cdef double ar, ac
    cdef const float* row0
    cdef const float* row1
    if fr < 0.0 or fc < 0.0 or fr > <double>(rows - 1) or fc > <double>(cols - 1):
        return 0.0
    # fr, fc >= 0 here, so truncation is floor (and avoids a libm call)
    r0 = <Py_ssize_t>fr
    c0 = <Py_ssize_t>fc
    if r0 > rows - 2:
        r0 = rows - 2
    if c0 > cols - 2:
        c0 = cols - 2
    ar = fr - r0
    ac = fc - c0
    row0 = E + r0 * cols + c0
    row1 = row0 + cols
    return ((1.0 - ar) * ((1.0 - ac) * <double>row0[0] + ac * <double>row0[1])
            + ar * ((1.0 - ac) * <double>row1[0] + ac * <double>row1[1]))


cdef inline double great_circle_knot(const double* a, double ux, double uy, double uz,
                                     double theta, double delta, double* lat, double* lon,
                                     double* dlat, double* dlon) noexcept nogil:
    """Point at angle theta along p(theta) = a cos(theta) + u sin(theta).

    Writes lat/lon in degrees and their derivatives in degrees per sample (one
    sample = delta radians); returns cos(lat), the distance from the axis.
    """
    cdef double c = cos(theta)
    cdef double s = sin(theta)
    cdef double x = a[0] * c + ux * s
    cdef double y = a[1] * c + uy * s
    cdef double z = a[2] * c + uz * s
    cdef double tx = -a[0] * s + ux * c
    cdef double ty = -a[1] * s + uy * c
    cdef double tz = -a[2] * s + uz * c
    cdef double rho2 = x * x + y * y
    cdef double rho = sqrt(rho2)
    lat[0] = atan2(z, rho) * RAD2DEG
    lon[0] = atan2(y, x) * RAD2DEG
    if rho > POLAR_RHO:
        dlat[0] = tz / rho * delta * RAD2DEG
        dlon[0] = (x * ty - y * tx) / rho2 * delta * RAD2DEG
    else:
        dlat[0] = 0.0
        dlon[0] = 0.0
    return rho


cdef void fill_profile(const double* pa, const double* pb, double omega, double dist_m,
                       Py_ssize_t ns, double ground_a_m, double ground_b_m,
                       const float* E, Py_ssize_t rows, Py_ssize_t cols,
                       double lat_north, double lon_west, double inv_step, double inv_2r,
                       double* hgt) noexcept nogil:
    """Ground heights plus earth bulge at ns equally spaced points from a to b.

    The end samples take the given endpoint ground heights; interior samples are
    read from the mosaic along the great circle (exact at the knots, cubic
    Hermite in between; see KNOT_SAMPLES).
    """
    cdef double delta = omega / (ns - 1)
    cdef double step_m = dist_m / (ns - 1)
    # u: unit vector orthogonal to a in the plane of a and b, so that
    # p(theta) = a cos(theta) + u sin(theta)
    cdef double sin_omega = sin(omega)
    cdef double cos_omega = cos(omega)
    cdef double ux = (pb[0] - pa[0] * cos_omega) / sin_omega
    cdef double uy = (pb[1] - pa[1] * cos_omega) / sin_omega
    cdef double uz = (pb[2] - pa[2] * cos_omega) / sin_omega
    cdef double lat0, lon0, dlat0, dlon0, rho0, lat1, lon1, dlat1, dlon1, rho1
    cdef double lat, lon, d1, t, t2, t3, h00, h10, h01, h11
    cdef Py_ssize_t k, ka, kb, seg
    hgt[0] = ground_a_m
    hgt[ns - 1] = ground_b_m
    rho0 = great_circle_knot(pa, ux, uy, uz, 0.0, delta, &lat0, &lon0, &dlat0, &dlon0)
    ka = 0
    while ka < ns - 1:
        seg = <Py_ssize_t>(KNOT_REL_ANGLE * rho0 / delta)
        if seg > KNOT_SAMPLES:
            seg = KNOT_SAMPLES
        elif seg < 1:
            seg = 1
        kb = ka + seg
        if kb > ns - 1:
            kb = ns - 1
        rho1 = great_circle_knot(pa, ux, uy, uz, kb * delta, delta, &lat1, &lon1,
                                 &dlat1, &dlon1)
        if lon1 - lon0 > 180.0:  # keep longitude continuous across the antimeridian
            lon1 = lon1 - 360.0
        elif lon1 - lon0 < -180.0:
            lon1 = lon1 + 360.0
        seg = kb - ka
        for k in range(ka + 1, kb + 1):
            if k == ns - 1:
                break
            if k == kb:
                lat = lat1
                lon = lon1
            else:
                t = <double>(k - ka) / seg
                t2 = t * t
                t3 = t2 * t
                h00 = 2.0 * t3 - 3.0 * t2 + 1.0
                h10 = t3 - 2.0 * t2 + t
                h01 = 3.0 * t2 - 2.0 * t3
                h11 = t3 - t2
                lat = h00 * lat0 + h10 * seg * dlat0 + h01 * lat1 + h11 * seg * dlat1
                lon = h00 * lon0 + h10 * seg * dlon0 + h01 * lon1 + h11 * seg * dlon1
            d1 = k * step_m
            hgt[k] = (bilinear_m(E, rows, cols, lat_north, lon_west, inv_step, lat, lon)
                      + d1 * (dist_m - d1) * inv_2r)
        lat0 = lat1
        lon0 = lon1
        dlat0 = dlat1
        dlon0 = dlon1
        rho0 = rho1
        ka = kb

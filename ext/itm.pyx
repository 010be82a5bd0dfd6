# cython: language_level=3
"""Longley-Rice ITM 1.2.2 point-to-point kernel: the compiled half of
`coverage_net.radio.longley_rice`.

Every cdef function mirrors the function of the same role in
`coverage_net.radio._itm_reference` (the per-path oracle) with the same order of
floating-point operations; complex numbers are written out as (re, im) pairs.
Nothing here checks its inputs: `longley_rice.py` validates and lays out every
array. One path per prange iteration, no GIL, scratch rows per thread.

Parameter vector (`params`, 10 doubles): climate (1..7), relative permittivity,
conductivity (S/m), sea-level surface refractivity (N), vertical polarization
(0/1), mdvar, z_time, z_location, z_situation, system elevation (m; NaN: the
profile's, as NTIA's point_to_point computes it).
"""

from cython.parallel cimport prange, threadid
from libc.math cimport asin, atan2, ceil, copysign, cos, exp, fabs, isnan, log, log10, pow, sin, sqrt
from libc.stdlib cimport qsort

include "_great_circle.pxi"

cdef double EARTH_RADIUS_M = 6371008.8
cdef double MIN_ANGLE_RAD = 1e-9
cdef double GMA = 157e-9
cdef double THIRD = 1.0 / 3.0
cdef enum:
    MAX_DELTA_H_SAMPLES = 245  # 10 * 25 - 5: the most points delta-h resamples to
    N_PARAMS = 10

cdef double H0_A[5]
cdef double H0_B[5]
H0_A[:] = [25.0, 80.0, 177.0, 395.0, 705.0]
H0_B[:] = [24.0, 45.0, 68.0, 80.0, 105.0]


cdef struct Path:
    double wn, gme, ens, zr, zi  # zgnd = zr + i zi
    double hg[2]
    double he[2]
    double dl[2]
    double the[2]
    double dls[2]
    double dh, dist, dlsa, dla, tha, xae, emd, aed, wd1, xd1, afo, qk, aht, xht
    double ak1, ak2, ael, ems, aes, dx, aref
    int kwx


cdef inline void warn(Path* p, int level) noexcept nogil:
    if level > p.kwx:
        p.kwx = level


cdef int descending(const void* a, const void* b) noexcept nogil:
    cdef double x = (<const double*>a)[0]
    cdef double y = (<const double*>b)[0]
    return (x < y) - (x > y)


cdef void fit_line(const double* z, Py_ssize_t npts, double step, double x1, double x2,
                   double* z0, double* zn) noexcept nogil:
    cdef double xn = <double>(npts - 1)
    cdef double xa = <double>(<long>(x1 / step if x1 / step > 0.0 else 0.0))
    cdef double t = xn - x2 / step
    cdef double xb = xn - <double>(<long>(t if t > 0.0 else 0.0))
    cdef Py_ssize_t ja, jb, n, i
    cdef double x, a, b
    if xb <= xa:
        xa = xa - 1.0 if xa - 1.0 > 0.0 else 0.0
        t = xn - (xb + 1.0)
        xb = xn - (t if t > 0.0 else 0.0)
    ja = <Py_ssize_t>xa
    jb = <Py_ssize_t>xb
    n = jb - ja
    xa = xb - xa
    x = -0.5 * xa
    xb = xb + x
    a = 0.5 * (z[ja] + z[jb])
    b = 0.5 * (z[ja] - z[jb]) * x
    for i in range(2, n + 1):
        ja += 1
        x += 1.0
        a += z[ja]
        b += z[ja] * x
    a = a / xa
    b = b * 12.0 / ((xa * xa + 2.0) * xa)
    z0[0] = a - b * xb
    zn[0] = a + b * (xn - xb)


cdef void horizons(Path* p, const double* z, Py_ssize_t npts, double step) noexcept nogil:
    cdef Py_ssize_t n = npts - 1, i
    cdef double za = z[0] + p.hg[0]
    cdef double zb = z[n] + p.hg[1]
    cdef double qc = 0.5 * p.gme
    cdef double q = qc * p.dist
    cdef double the1 = (zb - za) / p.dist
    cdef double the0 = the1 - q
    cdef double dl0 = p.dist, dl1 = p.dist, sa, sb
    cdef bint found = False
    the1 = -the1 - q
    if n >= 2:
        sa = 0.0
        sb = p.dist
        for i in range(1, n):
            sa += step
            sb -= step
            q = z[i] - (qc * sa + the0) * sa - za
            if q > 0.0:
                the0 += q / sa
                dl0 = sa
                found = True
            if found:
                q = z[i] - (qc * sb + the1) * sb - zb
                if q > 0.0:
                    the1 += q / sb
                    dl1 = sb
    p.the[0] = the0
    p.the[1] = the1
    p.dl[0] = dl0
    p.dl[1] = dl1


cdef double interdecile_m(const double* z, Py_ssize_t npts, double step, double x1,
                          double x2) noexcept nogil:
    cdef Py_ssize_t n_pfl = npts - 1, ka, kb, n, k, j
    cdef double xa = x1 / step
    cdef double xb = x2 / step
    cdef double sn, z0, zn
    cdef double s[MAX_DELTA_H_SAMPLES]
    if xb - xa < 2.0:
        return 0.0
    ka = <Py_ssize_t>(0.1 * (xb - xa + 8.0))
    if ka < 4:
        ka = 4
    if ka > 25:
        ka = 25
    n = 10 * ka - 5
    kb = n - ka + 1
    sn = n - 1.0
    xb = (xb - xa) / sn
    k = <Py_ssize_t>(xa + 1.0)
    xa -= k
    for j in range(n):
        while xa > 0.0 and k < n_pfl:
            xa -= 1.0
            k += 1
        s[j] = z[k] + (z[k] - z[k - 1]) * xa
        xa = xa + xb
    fit_line(s, n, 1.0, 0.0, sn, &z0, &zn)
    xa = z0
    xb = (zn - z0) / sn
    for j in range(n):
        s[j] -= xa
        xa = xa + xb
    qsort(s, n, sizeof(double), descending)
    return (s[ka - 1] - s[kb - 1]) / (1.0 - 0.8 * exp(-(x2 - x1) / 50e3))


cdef inline double smooth_horizon_m(double he, double gme, double dh) noexcept nogil:
    return sqrt(2.0 * he / gme) * exp(-0.07 * sqrt(dh / (he if he > 5.0 else 5.0)))


cdef inline double dim0(double x) noexcept nogil:
    return x if x > 0.0 else 0.0


cdef void profile_geometry(Path* p, const double* z, Py_ssize_t npts,
                           double step) noexcept nogil:
    cdef Py_ssize_t n = npts - 1
    cdef double xl0, xl1, za, zb, q, t, unused
    cdef int j
    horizons(p, z, npts, step)
    xl0 = 15.0 * p.hg[0] if 15.0 * p.hg[0] < 0.1 * p.dl[0] else 0.1 * p.dl[0]
    xl1 = p.dist - (15.0 * p.hg[1] if 15.0 * p.hg[1] < 0.1 * p.dl[1] else 0.1 * p.dl[1])
    p.dh = interdecile_m(z, npts, step, xl0, xl1)
    if p.dl[0] + p.dl[1] > 1.5 * p.dist:
        fit_line(z, npts, step, xl0, xl1, &za, &zb)
        p.he[0] = p.hg[0] + dim0(z[0] - za)
        p.he[1] = p.hg[1] + dim0(z[n] - zb)
        for j in range(2):
            p.dl[j] = smooth_horizon_m(p.he[j], p.gme, p.dh)
        q = p.dl[0] + p.dl[1]
        if q <= p.dist:
            t = p.dist / q
            q = t * t
            for j in range(2):
                p.he[j] *= q
                p.dl[j] = smooth_horizon_m(p.he[j], p.gme, p.dh)
        for j in range(2):
            q = sqrt(2.0 * p.he[j] / p.gme)
            p.the[j] = (0.65 * p.dh * (q / p.dl[j] - 1.0) - 2.0 * p.he[j]) / q
    else:
        fit_line(z, npts, step, xl0, 0.9 * p.dl[0], &za, &unused)
        fit_line(z, npts, step, p.dist - 0.9 * p.dl[1], xl1, &unused, &zb)
        p.he[0] = p.hg[0] + dim0(z[0] - za)
        p.he[1] = p.hg[1] + dim0(z[n] - zb)


cdef double fht(double x, double pk) noexcept nogil:
    cdef double w, f
    if x < 200.0:
        w = -log(pk)
        if pk < 1e-5 or x * w * w * w > 5495.0:
            f = -117.0
            if x > 1.0:
                f = 17.372 * log(x) + f
        else:
            f = 2.5e-5 * x * x / pk - 8.686 * w - 15.0
    else:
        f = 0.05751 * x - 4.343 * log(x)
        if x < 2000.0:
            w = 0.0134 * x * exp(-0.005 * x)
            f = (1.0 - w) * f + w * (17.372 * log(x) - 117.0)
    return f


cdef inline double knife_edge_db(double v2) noexcept nogil:
    if v2 < 5.76:
        return 6.02 + 9.11 * sqrt(v2) - 1.27 * v2
    return 12.953 + 4.343 * log(v2)


cdef void diffraction_setup(Path* p) noexcept nogil:
    cdef double q = p.hg[0] * p.hg[1]
    cdef double qk = p.he[0] * p.he[1] - q
    cdef double a, wa, pk
    cdef int j
    q += 10.0
    p.wd1 = sqrt(1.0 + qk / q)
    p.xd1 = p.dla + p.tha / p.gme
    q = (1.0 - 0.8 * exp(-p.dlsa / 50e3)) * p.dh
    q = 0.78 * q * exp(-pow(q / 16.0, 0.25))
    a = 2.171 * log(1.0 + 4.77e-4 * p.hg[0] * p.hg[1] * p.wn * q)
    p.afo = 15.0 if 15.0 < a else a
    p.qk = 1.0 / sqrt(p.zr * p.zr + p.zi * p.zi)
    p.aht = 20.0
    p.xht = 0.0
    for j in range(2):
        a = 0.5 * (p.dl[j] * p.dl[j]) / p.he[j]
        wa = pow(a * p.wn, THIRD)
        pk = p.qk / wa
        q = (1.607 - pk) * 151.0 * wa * p.dl[j] / a
        p.xht += q
        p.aht += fht(q, pk)


cdef double diffraction_db(const Path* p, double d) noexcept nogil:
    cdef double th = p.tha + d * p.gme
    cdef double ds = d - p.dla
    cdef double q = 0.0795775 * p.wn * ds * th * th
    cdef double a_knife = (knife_edge_db(q * p.dl[0] / (ds + p.dl[0]))
                           + knife_edge_db(q * p.dl[1] / (ds + p.dl[1])))
    cdef double a = ds / th
    cdef double wa = pow(a * p.wn, THIRD)
    cdef double pk = p.qk / wa
    cdef double a_round, wd, r
    q = (1.607 - pk) * 151.0 * wa * th + p.xht
    a_round = 0.05751 * q - 4.343 * log(q) - p.aht
    r = (1.0 - 0.8 * exp(-d / 50e3)) * p.dh * p.wn
    q = (p.wd1 + p.xd1 / d) * (r if r < 6283.2 else 6283.2)
    wd = 25.1 / (25.1 + sqrt(q))
    return a_round * wd + (1.0 - wd) * a_knife + p.afo


cdef double los_db(const Path* p, double d, double wls) noexcept nogil:
    cdef double q = (1.0 - 0.8 * exp(-d / 50e3)) * p.dh
    cdef double s = 0.78 * q * exp(-pow(q / 16.0, 0.25))
    cdef double sps, nr, ni, dr, di, den, rr, ri, damp, a_line, cr, ci
    q = p.he[0] + p.he[1]
    sps = q / sqrt(d * d + q * q)
    # r = (sps - zgnd) / (sps + zgnd) * exp(-min(10, wn s sps))
    nr = sps - p.zr
    ni = -p.zi
    dr = sps + p.zr
    di = p.zi
    den = dr * dr + di * di
    damp = p.wn * s * sps
    damp = exp(-(10.0 if 10.0 < damp else damp))
    rr = (nr * dr + ni * di) / den * damp
    ri = (ni * dr - nr * di) / den * damp
    q = rr * rr + ri * ri
    if q < 0.25 or q < sps:
        damp = sqrt(sps / q)
        rr = rr * damp
        ri = ri * damp
    a_line = p.emd * d + p.aed
    q = p.wn * p.he[0] * p.he[1] * 2.0 / d
    if q > 1.57:
        q = 3.14 - 2.4649 / q
    cr = cos(q) + rr
    ci = -sin(q) + ri
    return (-4.343 * log(cr * cr + ci * ci) - a_line) * wls + a_line


cdef double h0_db(double r, double et) noexcept nogil:
    cdef int it = <int>et
    cdef double q, x, h
    if it <= 0:
        it = 1
        q = 0.0
    elif it >= 5:
        it = 5
        q = 0.0
    else:
        q = et - it
    x = pow(1.0 / r, 2.0)
    h = 4.343 * log((H0_A[it - 1] * x + H0_B[it - 1]) * x + 1.0)
    if q != 0.0:
        h = (1.0 - q) * h + q * 4.343 * log((H0_A[it] * x + H0_B[it]) * x + 1.0)
    return h


cdef inline double f0_db(double td) noexcept nogil:
    if td <= 10e3:
        return 133.4 + 0.332e-3 * td - 4.343 * log(td)
    if td <= 70e3:
        return 104.6 + 0.212e-3 * td - 1.086 * log(td)
    return 71.8 + 0.157e-3 * td + 2.171 * log(td)


cdef double scatter_db(const Path* p, double d, double ad, double rr, double etq,
                       double* h0s) noexcept nogil:
    cdef double h0, th, r1, r2, ss, q, z0, t, et, ett
    if h0s[0] > 15.0:
        h0 = h0s[0]
    else:
        th = p.the[0] + p.the[1] + d * p.gme
        r2 = 2.0 * p.wn * th
        r1 = r2 * p.he[0]
        r2 = r2 * p.he[1]
        if r1 < 0.2 and r2 < 0.2:
            return 1001.0
        ss = (d - ad) / (d + ad)
        q = rr / ss
        ss = ss if ss > 0.1 else 0.1
        q = q if q > 0.1 else 0.1
        q = q if q < 10.0 else 10.0
        z0 = (d - ad) * (d + ad) * th * 0.25 / d
        t = z0 / 8.0e3
        t = t if t < 1.7 else 1.7
        t = t * t * t * t * t * t
        et = (etq * exp(-t) + 1.0) * z0 / 1.7556e3
        ett = et if et > 1.0 else 1.0
        h0 = (h0_db(r1, ett) + h0_db(r2, ett)) * 0.5
        t = (1.38 - log(ett)) * log(ss) * log(q) * 0.49
        h0 += h0 if h0 < t else t
        h0 = dim0(h0)
        if et < 1.0:
            t = (1.0 + 1.4142 / r1) * (1.0 + 1.4142 / r2)
            h0 = et * h0 + (1.0 - et) * 4.343 * log(t * t * (r1 + r2) / (r1 + r2 + 2.8284))
        if h0 > 15.0 and h0s[0] >= 0.0:
            h0 = h0s[0]
    h0s[0] = h0
    th = p.tha + d * p.gme
    return (f0_db(th * d) + 4.343 * log(47.7 * p.wn * pow(th, 4.0))
            - 0.1 * (p.ens - 301.0) * exp(-th * d / 40e3) + h0)


cdef void check_ranges(Path* p) noexcept nogil:
    cdef int j
    if p.wn < 0.838 or p.wn > 210.0:
        warn(p, 1)
    for j in range(2):
        if p.hg[j] < 1.0 or p.hg[j] > 1000.0:
            warn(p, 1)
        if fabs(p.the[j]) > 0.2 or p.dl[j] < 0.1 * p.dls[j] or p.dl[j] > 3.0 * p.dls[j]:
            warn(p, 3)
    if (p.ens < 250.0 or p.ens > 400.0 or p.gme < 75e-9 or p.gme > 250e-9
            or p.zr < fabs(p.zi) or p.wn < 0.419 or p.wn > 420.0):
        warn(p, 4)
    for j in range(2):
        if p.hg[j] < 0.5 or p.hg[j] > 3000.0:
            warn(p, 4)
    if p.dist > 1000e3:
        warn(p, 1)
    if p.dist < fabs(p.he[0] - p.he[1]) / 200e-3:
        warn(p, 3)
    if p.dist < 1e3 or p.dist > 2000e3:
        warn(p, 4)


cdef void line_of_sight_fit(Path* p) noexcept nogil:
    cdef double wls = 0.021 / (0.021 + p.wn * p.dh / (10e3 if 10e3 > p.dlsa else p.dlsa))
    cdef double d2 = p.dlsa
    cdef double a2 = p.aed + d2 * p.emd
    cdef double d0 = 1.908 * p.wn * p.he[0] * p.he[1]
    cdef double d1, a1, a0, q, t
    cdef bint fitted = False
    if p.aed >= 0.0:
        t = 0.5 * p.dla
        d0 = d0 if d0 < t else t
        d1 = d0 + 0.25 * (p.dla - d0)
    else:
        t = -p.aed / p.emd
        d1 = t if t > 0.25 * p.dla else 0.25 * p.dla
    a1 = los_db(p, d1, wls)
    if d0 < d1:
        a0 = los_db(p, d0, wls)
        q = log(d2 / d0)
        p.ak2 = dim0(((d2 - d0) * (a1 - a0) - (d1 - d0) * (a2 - a0))
                     / ((d2 - d0) * log(d1 / d0) - (d1 - d0) * q))
        fitted = p.aed >= 0.0 or p.ak2 > 0.0
        if fitted:
            p.ak1 = (a2 - a0 - p.ak2 * q) / (d2 - d0)
            if p.ak1 < 0.0:
                p.ak1 = 0.0
                p.ak2 = dim0(a2 - a0) / q
                if p.ak2 == 0.0:
                    p.ak1 = p.emd
    if not fitted:
        p.ak1 = dim0(a2 - a1) / (d2 - d1)
        p.ak2 = 0.0
        if p.ak1 == 0.0:
            p.ak1 = p.emd
    p.ael = a2 - p.ak1 * d2 - p.ak2 * log(d2)


cdef void scatter_fit(Path* p) noexcept nogil:
    cdef double ad = p.dl[0] - p.dl[1]
    cdef double rr = p.he[1] / p.he[0]
    cdef double etq = (5.67e-6 * p.ens - 2.32e-3) * p.ens + 0.031
    cdef double h0s = -15.0
    cdef double d5, d6, a5, a6, t
    if ad < 0.0:
        ad = -ad
        rr = 1.0 / rr
    d5 = p.dla + 200e3
    d6 = d5 + 200e3
    a6 = scatter_db(p, d6, ad, rr, etq, &h0s)
    a5 = scatter_db(p, d5, ad, rr, etq, &h0s)
    if a5 < 1000.0:
        p.ems = (a6 - a5) / 200e3
        t = p.dla + 0.3 * p.xae * log(47.7 * p.wn)
        d6 = (a5 - p.aed - p.ems * d5) / (p.emd - p.ems)
        t = t if t > d6 else d6
        p.dx = p.dlsa if p.dlsa > t else t
        p.aes = (p.emd - p.ems) * p.dx + p.aed
    else:
        p.ems = p.emd
        p.aes = p.aed
        p.dx = 10.e6


cdef void reference_attenuation(Path* p) noexcept nogil:
    cdef double d3, d4, a3, a4, t
    cdef int j
    for j in range(2):
        p.dls[j] = sqrt(2.0 * p.he[j] / p.gme)
    p.dlsa = p.dls[0] + p.dls[1]
    p.dla = p.dl[0] + p.dl[1]
    t = -p.dla * p.gme
    p.tha = p.the[0] + p.the[1]
    p.tha = p.tha if p.tha > t else t
    check_ranges(p)
    diffraction_setup(p)
    p.xae = pow(p.wn * p.gme * p.gme, -THIRD)
    t = 1.3787 * p.xae + p.dla
    d3 = p.dlsa if p.dlsa > t else t
    d4 = d3 + 2.7574 * p.xae
    a3 = diffraction_db(p, d3)
    a4 = diffraction_db(p, d4)
    p.emd = (a4 - a3) / (d4 - d3)
    p.aed = a3 - p.emd * d3
    if p.dist < p.dlsa:
        line_of_sight_fit(p)
        p.aref = p.ael + p.ak1 * p.dist + p.ak2 * log(p.dist)
    else:
        scatter_fit(p)
        if p.dist > p.dx:
            p.aref = p.aes + p.ems * p.dist
        else:
            p.aref = p.aed + p.emd * p.dist
    p.aref = dim0(p.aref)


include "_itm_variability.pxi"


cdef double system_elevation_m(const double* z, Py_ssize_t npts) noexcept nogil:
    cdef Py_ssize_t n = npts - 1
    cdef Py_ssize_t ja = <Py_ssize_t>(3.0 + 0.1 * n)
    cdef Py_ssize_t jb = n - ja + 6
    cdef Py_ssize_t i
    cdef double total = 0.0
    for i in range(ja - 1, jb):
        total += z[i - 2]
    return total / (jb - ja + 1)


cdef double point_to_point_db(const double* z, Py_ssize_t npts, double step_m,
                              double tx_height_m, double rx_height_m, double freq_hz,
                              const double* params, int* kwx) noexcept nogil:
    """Basic transmission loss over one profile (the reference's point_to_point_db)."""
    cdef Path p
    cdef double zsys = params[9]
    cdef double ar, ai, r, sr, si, den, t
    p.kwx = 0
    p.hg[0] = tx_height_m
    p.hg[1] = rx_height_m
    p.dist = (npts - 1) * step_m
    p.wn = freq_hz * 1e-6 / 47.7
    if isnan(zsys):
        zsys = system_elevation_m(z, npts)
    p.ens = params[3]
    if zsys != 0.0:
        p.ens = p.ens * exp(-zsys / 9460.0)
    p.gme = GMA * (1.0 - 0.04665 * exp(p.ens / 179.3))
    # zgnd = sqrt(zq - 1), zq = eps + i 376.62 sigma / wn; divided by zq when vertical
    ar = params[1] - 1.0
    ai = 376.62 * params[2] / p.wn
    r = sqrt(ar * ar + ai * ai)
    sr = sqrt(0.5 * (r + ar))
    si = copysign(sqrt(0.5 * (r - ar)), ai)
    if params[4] != 0.0:
        ar = params[1]
        den = ar * ar + ai * ai
        t = (sr * ar + si * ai) / den
        si = (si * ar - sr * ai) / den
        sr = t
    p.zr = sr
    p.zi = si
    profile_geometry(&p, z, npts, step_m)
    reference_attenuation(&p)
    t = 20.0 * log10(2.0 * p.wn * p.dist) + variability_db(
        &p, <int>params[0], <int>params[5], params[6], params[7], params[8])
    kwx[0] = p.kwx
    return t


def profiles(const double[:, ::1] elevation_m, const Py_ssize_t[::1] n_points,
             const double[::1] step_m, const double[::1] tx_height_m,
             const double[::1] rx_height_m, const double[::1] freq_hz,
             const double[::1] params, double[::1] out, int[::1] kwx_out, int num_threads):
    """ITM loss over explicit profiles: row i holds n_points[i] heights every step_m[i]."""
    cdef Py_ssize_t i, n = out.shape[0]
    cdef const double* prm = &params[0]
    for i in prange(n, nogil=True, num_threads=num_threads, schedule="dynamic", chunksize=8):
        out[i] = point_to_point_db(&elevation_m[i, 0], n_points[i], step_m[i], tx_height_m[i],
                                   rx_height_m[i], freq_hz[i], prm, &kwx_out[i])


def links(const double[:, ::1] tx_xyz, const double[::1] tx_height_m,
          const double[::1] tx_ground_m,
          const double[:, ::1] rx_xyz, const double[::1] rx_height_m,
          const double[::1] rx_ground_m,
          const Py_ssize_t[::1] itx, const Py_ssize_t[::1] irx,
          const double[::1] freq_hz,
          const float[:, ::1] elevation_m, double lat_north_deg, double lon_west_deg,
          double step_deg, double spacing_m, Py_ssize_t max_samples,
          const double[::1] params,
          double[::1] out, long[::1] samples_out, int[::1] kwx_out,
          double[:, ::1] work, int num_threads):
    """ITM over the DEM profile of every pair (the same profile sampling as the
    terrain model's `terrain_links`, without the earth bulge: ITM curves the earth
    itself). Pairs whose ends coincide get free space. `work` is scratch of shape
    (num_threads, max_samples)."""
    cdef Py_ssize_t n = out.shape[0]
    cdef Py_ssize_t rows = elevation_m.shape[0], cols = elevation_m.shape[1]
    cdef const float* E = &elevation_m[0, 0]
    cdef Py_ssize_t sf = freq_hz.shape[0] > 1
    cdef double inv_step = 1.0 / step_deg
    cdef const double* prm = &params[0]
    cdef Py_ssize_t i, a, b, ns
    cdef double omega, dist_m, dh
    cdef double* hgt

    if work.shape[0] < num_threads or work.shape[1] < max_samples:
        raise ValueError("work buffer smaller than (num_threads, max_samples)")
    for i in prange(n, nogil=True, num_threads=num_threads, schedule="dynamic", chunksize=16):
        hgt = &work[threadid(), 0]
        a = itx[i]
        b = irx[i]
        omega = central_angle(&tx_xyz[a, 0], &rx_xyz[b, 0])
        dist_m = omega * EARTH_RADIUS_M
        if omega < MIN_ANGLE_RAD:
            dh = tx_height_m[a] - rx_height_m[b]
            dh = sqrt(dist_m * dist_m + dh * dh)
            # free space as ITM writes it, 20 log10(2 wn d), over at least 1 m
            out[i] = 20.0 * log10(2.0 * (freq_hz[i * sf] * 1e-6 / 47.7)
                                  * (dh if dh > 1.0 else 1.0))
            samples_out[i] = 1
            kwx_out[i] = 4
            continue
        ns = <Py_ssize_t>ceil(dist_m / spacing_m) + 1
        if ns < 3:
            ns = 3
        if ns > max_samples:
            ns = max_samples
        fill_profile(&tx_xyz[a, 0], &rx_xyz[b, 0], omega, dist_m, ns, tx_ground_m[a],
                     rx_ground_m[b], E, rows, cols, lat_north_deg, lon_west_deg, inv_step,
                     0.0, hgt)
        out[i] = point_to_point_db(hgt, ns, dist_m / (ns - 1), tx_height_m[a], rx_height_m[b],
                                   freq_hz[i * sf], prm, &kwx_out[i])
        samples_out[i] = ns

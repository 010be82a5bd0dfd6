# cython: language_level=3
"""Path-loss kernel: the compiled half of `coverage_net.radio.propagation`.

Nothing here checks its inputs: `propagation.py` validates, converts and lays
out every array before calling in, so the loops below can run without the GIL
and without bounds checks. Each function mirrors one function of
`coverage_net.radio._reference` (the numpy oracle); keep the order of floating
point operations identical so the two agree to ~1e-9 dB.

Array conventions
-----------------
* Endpoints are unit vectors on the sphere (`xyz`, shape (m, 3)) with antenna
  heights above ground and 64-bit identity keys; pairs are index arrays into
  the transmitter and receiver endpoint tables. Endpoints are therefore
  converted once per unique endpoint, not once per pair.
* Per-pair inputs (frequency) are arrays of length 1 (same value for every
  pair) or of length n.
"""

from cython.parallel cimport prange, threadid
from libc.math cimport asin, atan2, ceil, cos, floor, log, log10, sin, sqrt
from libc.stdint cimport uint64_t

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CN_OPENMP 1
    static int cn_max_threads(void) { return omp_get_max_threads(); }
    #else
    #define CN_OPENMP 0
    static int cn_max_threads(void) { return 1; }
    #endif
    """
    int CN_OPENMP
    int cn_max_threads() nogil

# Model codes shared with propagation.py and _reference.py.
cpdef enum Model:
    FREE_SPACE = 0
    LOG_DISTANCE = 1
    HATA_URBAN = 2
    HATA_SUBURBAN = 3
    HATA_OPEN = 4
    COST231 = 5
    TWO_RAY = 6

cdef double EARTH_RADIUS_M = 6371008.8
cdef double SPEED_OF_LIGHT_M_S = 299792458.0
# 20 log10(4 pi / c): free-space loss = 20 log10(d) + 20 log10(f) + this.
cdef double FSPL_CONST_DB = -147.55221677811664
cdef double MIN_DISTANCE_M = 1.0
cdef double PI = 3.141592653589793
cdef double RAD2DEG = 57.29577951308232
cdef double KNIFE_EDGE_NU_MIN = -0.78
cdef double MIN_ANGLE_RAD = 1e-9


def openmp_enabled():
    """True when the kernel was compiled with OpenMP."""
    return bool(CN_OPENMP)


def max_threads():
    """Threads OpenMP would use by default (1 without OpenMP)."""
    return cn_max_threads()


# ---------------------------------------------------------------------------
# scalar physics, shared by every entry point
# ---------------------------------------------------------------------------

cdef inline double fspl_db(double d_m, double f_hz) noexcept nogil:
    if d_m < MIN_DISTANCE_M:
        d_m = MIN_DISTANCE_M
    return 20.0 * log10(d_m) + 20.0 * log10(f_hz) + FSPL_CONST_DB


cdef inline double hata_a_hm(double lf, double hrx) noexcept nogil:
    # mobile antenna correction, small/medium city
    return (1.1 * lf - 0.7) * hrx - (1.56 * lf - 0.8)


cdef inline double model_loss_db(int model, double d_ground_m, double d_slant_m,
                                 double f_hz, double htx_m, double hrx_m,
                                 const double* p) noexcept nogil:
    """Mean path loss of a closed-form model. p = model parameters (4 doubles)."""
    cdef double lf, lhb, base, lg, dc, lam, d_km
    if d_ground_m < MIN_DISTANCE_M:
        d_ground_m = MIN_DISTANCE_M
    if d_slant_m < MIN_DISTANCE_M:
        d_slant_m = MIN_DISTANCE_M
    if model == FREE_SPACE:
        return fspl_db(d_slant_m, f_hz)
    if model == LOG_DISTANCE:
        # p = (d0_m, pl0_db, gamma, sigma_db)
        return p[1] + 10.0 * p[2] * log10(d_slant_m / p[0])
    if model == TWO_RAY:
        lam = SPEED_OF_LIGHT_M_S / f_hz
        dc = 4.0 * PI * htx_m * hrx_m / lam
        if d_ground_m < dc:
            return fspl_db(d_ground_m, f_hz)
        return 40.0 * log10(d_ground_m) - 20.0 * log10(htx_m) - 20.0 * log10(hrx_m)
    # Okumura-Hata family: frequency in MHz, distance in km, heights in m
    lf = log10(f_hz * 1e-6)
    lhb = log10(htx_m)
    d_km = d_ground_m * 1e-3
    if model == COST231:
        # p[0] = C_m (0 dB medium city / suburban, 3 dB metropolitan)
        return (46.3 + 33.9 * lf - 13.82 * lhb - hata_a_hm(lf, hrx_m)
                + (44.9 - 6.55 * lhb) * log10(d_km) + p[0])
    base = (69.55 + 26.16 * lf - 13.82 * lhb - hata_a_hm(lf, hrx_m)
            + (44.9 - 6.55 * lhb) * log10(d_km))
    if model == HATA_SUBURBAN:
        lg = log10(f_hz * 1e-6 / 28.0)
        return base - 2.0 * lg * lg - 5.4
    if model == HATA_OPEN:
        return base - 4.78 * lf * lf + 18.33 * lf - 40.94
    return base


cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    # splitmix64 finaliser
    z = (z ^ (z >> 30)) * <uint64_t>0xbf58476d1ce4e5b9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94d049bb133111ebULL
    return z ^ (z >> 31)


cdef inline double link_normal(uint64_t ka, uint64_t kb, uint64_t seed) noexcept nogil:
    """A standard normal draw that depends only on the unordered link and the seed."""
    cdef uint64_t lo = ka if ka < kb else kb
    cdef uint64_t hi = kb if ka < kb else ka
    cdef uint64_t h1 = mix64(mix64(lo ^ mix64(seed)) ^ hi)
    cdef uint64_t h2 = mix64(h1 + <uint64_t>0x9e3779b97f4a7c15ULL)
    cdef double u1 = (<double>(h1 >> 11) + 0.5) * 1.1102230246251565e-16
    cdef double u2 = <double>(h2 >> 11) * 1.1102230246251565e-16
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2)


cdef inline double knife_edge_db(double nu) noexcept nogil:
    # ITU-R P.526 single knife-edge approximation, zero below nu = -0.78
    cdef double v
    if nu <= KNIFE_EDGE_NU_MIN:
        return 0.0
    v = nu - 0.1
    return 6.9 + 20.0 * log10(sqrt(v * v + 1.0) + v)


cdef inline double central_angle(const double* a, const double* b) noexcept nogil:
    cdef double dx = a[0] - b[0]
    cdef double dy = a[1] - b[1]
    cdef double dz = a[2] - b[2]
    cdef double half_chord = 0.5 * sqrt(dx * dx + dy * dy + dz * dz)
    if half_chord > 1.0:
        half_chord = 1.0
    return 2.0 * asin(half_chord)


# ---------------------------------------------------------------------------
# closed-form models
# ---------------------------------------------------------------------------

def closed_form_distance(int model, const double[::1] distance_m, const double[::1] freq_hz,
                         const double[::1] tx_height_m, const double[::1] rx_height_m,
                         const double[::1] params, double[::1] out, int num_threads):
    """Mean loss from distances; every input has length 1 or len(out)."""
    cdef Py_ssize_t i, n = out.shape[0]
    cdef Py_ssize_t sd = distance_m.shape[0] > 1, sf = freq_hz.shape[0] > 1
    cdef Py_ssize_t st = tx_height_m.shape[0] > 1, sr = rx_height_m.shape[0] > 1
    cdef const double* p = &params[0]
    cdef double d
    for i in prange(n, nogil=True, num_threads=num_threads, schedule="static"):
        d = distance_m[i * sd]
        out[i] = model_loss_db(model, d, d, freq_hz[i * sf], tx_height_m[i * st],
                               rx_height_m[i * sr], p)


def closed_form_links(int model,
                      const double[:, ::1] tx_xyz, const double[::1] tx_height_m,
                      const uint64_t[::1] tx_key,
                      const double[:, ::1] rx_xyz, const double[::1] rx_height_m,
                      const uint64_t[::1] rx_key,
                      const Py_ssize_t[::1] itx, const Py_ssize_t[::1] irx,
                      const double[::1] freq_hz, const double[::1] params, uint64_t seed,
                      double[::1] out, int num_threads):
    """Loss of closed-form models for endpoint pairs (itx[i], irx[i]).

    Ground distance is the great-circle distance on a sphere of radius
    6371008.8 m; slant distance adds the difference of antenna heights. For the
    log-distance model with params[3] = sigma_db > 0 a log-normal shadowing term
    keyed on the unordered pair of endpoint keys and the seed is added.
    """
    cdef Py_ssize_t i, a, b, n = out.shape[0]
    cdef Py_ssize_t sf = freq_hz.shape[0] > 1
    cdef const double* p = &params[0]
    cdef double sigma = params[3] if model == LOG_DISTANCE else 0.0
    cdef double dg, dh, ds, loss
    for i in prange(n, nogil=True, num_threads=num_threads, schedule="static"):
        a = itx[i]
        b = irx[i]
        dg = EARTH_RADIUS_M * central_angle(&tx_xyz[a, 0], &rx_xyz[b, 0])
        dh = tx_height_m[a] - rx_height_m[b]
        ds = sqrt(dg * dg + dh * dh)
        loss = model_loss_db(model, dg, ds, freq_hz[i * sf], tx_height_m[a], rx_height_m[b], p)
        if sigma > 0.0:
            loss = loss + sigma * link_normal(tx_key[a], rx_key[b], seed)
        out[i] = loss


def shadowing_normal(const uint64_t[::1] key_a, const uint64_t[::1] key_b, uint64_t seed,
                     double[::1] out):
    """Standard normal draws per unordered (key_a[i], key_b[i]) and seed."""
    cdef Py_ssize_t i, n = out.shape[0]
    for i in range(n):
        out[i] = link_normal(key_a[i], key_b[i], seed)


def knife_edge(const double[::1] nu, double[::1] out):
    """J(nu) of ITU-R P.526 for each element."""
    cdef Py_ssize_t i, n = out.shape[0]
    for i in range(n):
        out[i] = knife_edge_db(nu[i])


# ---------------------------------------------------------------------------
# terrain model
# ---------------------------------------------------------------------------

cdef inline double bilinear_m(const float* E, Py_ssize_t rows, Py_ssize_t cols,
                              double lat_north, double lon_west, double step,
                              double lat, double lon) noexcept nogil:
    """Elevation at (lat, lon), 0 outside the mosaic (flat earth)."""
    cdef double fr = (lat_north - lat) / step
    cdef double fc = (lon - lon_west) / step
    cdef Py_ssize_t r0, c0
    cdef double ar, ac
    cdef const float* row0
    cdef const float* row1
    if fr < 0.0 or fc < 0.0 or fr > <double>(rows - 1) or fc > <double>(cols - 1):
        return 0.0
    r0 = <Py_ssize_t>floor(fr)
    c0 = <Py_ssize_t>floor(fc)
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


cdef double deygout_db(const double* hgt, Py_ssize_t i0, Py_ssize_t i1, double y0, double y1,
                       double step_m, double lam, int depth) noexcept nogil:
    """Diffraction loss over samples i0..i1 with the path ends at heights y0, y1.

    The edge with the largest Fresnel-Kirchhoff parameter nu is the main edge;
    with depth > 1 the sub-paths on each side of it are treated the same way
    (Deygout). Heights already include the earth bulge, so all lines are straight.
    """
    cdef Py_ssize_t i, best_i = -1
    cdef double span = (i1 - i0) * step_m
    cdef double best_nu = -1e300
    cdef double d1, d2, h, nu, loss
    if i1 - i0 < 2:
        return 0.0
    for i in range(i0 + 1, i1):
        d1 = (i - i0) * step_m
        d2 = span - d1
        h = hgt[i] - (y0 + (y1 - y0) * d1 / span)
        nu = h * sqrt(2.0 * span / (lam * d1 * d2))
        if nu > best_nu:
            best_nu = nu
            best_i = i
    if best_nu <= KNIFE_EDGE_NU_MIN:
        return 0.0
    loss = knife_edge_db(best_nu)
    if depth > 1:
        loss = loss + deygout_db(hgt, i0, best_i, y0, hgt[best_i], step_m, lam, depth - 1)
        loss = loss + deygout_db(hgt, best_i, i1, hgt[best_i], y1, step_m, lam, depth - 1)
    return loss


def terrain_links(const double[:, ::1] tx_xyz, const double[::1] tx_height_m,
                  const double[:, ::1] rx_xyz, const double[::1] rx_height_m,
                  const Py_ssize_t[::1] itx, const Py_ssize_t[::1] irx,
                  const double[::1] freq_hz,
                  const float[:, ::1] elevation_m, double lat_north_deg, double lon_west_deg,
                  double step_deg, double spacing_m, Py_ssize_t max_samples,
                  double k_factor, int depth,
                  double[::1] out, double[::1] diffraction_out, long[::1] samples_out,
                  double[:, ::1] work, int num_threads):
    """Free-space loss plus knife-edge/Deygout diffraction over a DEM profile.

    For each pair the great circle is sampled every `spacing_m` (at most
    `max_samples` points, at least 3), each sample's ground height is read from
    the mosaic by bilinear interpolation, and the earth bulge for an effective
    radius k_factor * R is added. Free-space loss uses the slant distance between
    the antenna tops. Writes the total loss, the diffraction part and the number
    of profile samples per pair. `work` is scratch space of shape
    (num_threads, max_samples).
    """
    cdef Py_ssize_t n = out.shape[0]
    cdef Py_ssize_t rows = elevation_m.shape[0], cols = elevation_m.shape[1]
    cdef const float* E = &elevation_m[0, 0]
    cdef Py_ssize_t sf = freq_hz.shape[0] > 1
    cdef double eff_radius_m = k_factor * EARTH_RADIUS_M
    cdef Py_ssize_t i, k, a, b, ns
    cdef double omega, sin_omega, cos_omega, dist_m, step_m, delta, cd, sd, ck, sk, tmp
    cdef double ux, uy, uz, px, py, pz, lat, lon, d1, y_tx, y_rx, lam, diff, dh
    cdef const double* pa
    cdef const double* pb
    cdef double* hgt

    if work.shape[0] < num_threads or work.shape[1] < max_samples:
        raise ValueError("work buffer smaller than (num_threads, max_samples)")
    for i in prange(n, nogil=True, num_threads=num_threads, schedule="dynamic", chunksize=16):
        hgt = &work[threadid(), 0]
        a = itx[i]
        b = irx[i]
        pa = &tx_xyz[a, 0]
        pb = &rx_xyz[b, 0]
        lam = SPEED_OF_LIGHT_M_S / freq_hz[i * sf]
        omega = central_angle(pa, pb)
        dist_m = omega * EARTH_RADIUS_M
        if omega < MIN_ANGLE_RAD:
            # both antennas on one spot: no profile to diffract over
            dh = tx_height_m[a] - rx_height_m[b]
            out[i] = fspl_db(sqrt(dist_m * dist_m + dh * dh), freq_hz[i * sf])
            diffraction_out[i] = 0.0
            samples_out[i] = 1
            continue
        ns = <Py_ssize_t>ceil(dist_m / spacing_m) + 1
        if ns < 3:
            ns = 3
        if ns > max_samples:
            ns = max_samples
        step_m = dist_m / (ns - 1)
        delta = omega / (ns - 1)
        # u: unit vector orthogonal to a in the plane of a and b, so that
        # p(theta) = a cos(theta) + u sin(theta)
        sin_omega = sin(omega)
        cos_omega = cos(omega)
        ux = (pb[0] - pa[0] * cos_omega) / sin_omega
        uy = (pb[1] - pa[1] * cos_omega) / sin_omega
        uz = (pb[2] - pa[2] * cos_omega) / sin_omega
        cd = cos(delta)
        sd = sin(delta)
        ck = 1.0
        sk = 0.0
        for k in range(ns):
            px = pa[0] * ck + ux * sk
            py = pa[1] * ck + uy * sk
            pz = pa[2] * ck + uz * sk
            if pz > 1.0:
                pz = 1.0
            elif pz < -1.0:
                pz = -1.0
            lat = asin(pz) * RAD2DEG
            lon = atan2(py, px) * RAD2DEG
            d1 = k * step_m
            hgt[k] = (bilinear_m(E, rows, cols, lat_north_deg, lon_west_deg, step_deg, lat, lon)
                      + d1 * (dist_m - d1) / (2.0 * eff_radius_m))
            # rotate (cos k delta, sin k delta) by delta
            tmp = ck * cd - sk * sd
            sk = sk * cd + ck * sd
            ck = tmp
        y_tx = hgt[0] + tx_height_m[a]
        y_rx = hgt[ns - 1] + rx_height_m[b]
        diff = deygout_db(hgt, 0, ns - 1, y_tx, y_rx, step_m, lam, depth)
        dh = y_tx - y_rx
        out[i] = fspl_db(sqrt(dist_m * dist_m + dh * dh), freq_hz[i * sf]) + diff
        diffraction_out[i] = diff
        samples_out[i] = ns

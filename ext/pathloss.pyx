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
from libc.math cimport asin, atan2, ceil, cos, fabs, log, sin, sqrt
from cython.view cimport array as cvarray
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

# great circles and DEM profiles, shared with ext/itm.pyx
include "_great_circle.pxi"

cdef double INV_LN10 = 0.43429448190325176  # 1 / ln(10)


cdef inline double log10_fast(double x) noexcept nogil:
    # glibc's log is much faster than its log10; they differ by an ulp or two
    return log(x) * INV_LN10


cdef inline double fspl_sq_db(double d_sq_m2, double log10_f_hz) noexcept nogil:
    # free-space loss from the squared distance: 10 log10_fast(d^2) = 20 log10_fast(d)
    if d_sq_m2 < MIN_DISTANCE_M * MIN_DISTANCE_M:
        d_sq_m2 = MIN_DISTANCE_M * MIN_DISTANCE_M
    return 10.0 * log10_fast(d_sq_m2) + 20.0 * log10_f_hz + FSPL_CONST_DB


cdef inline double hata_a_hm(double lf, double hrx) noexcept nogil:
    # mobile antenna correction, small/medium city
    return (1.1 * lf - 0.7) * hrx - (1.56 * lf - 0.8)


cdef inline double model_loss_db(int model, double d_ground_m, double d_slant_sq_m2,
                                 double f_hz, double log10_f_hz, double htx_m, double hrx_m,
                                 double log10_htx, double log10_hrx,
                                 const double* p) noexcept nogil:
    """Mean path loss of a closed-form model. p = model parameters (5 doubles).

    Takes the squared slant distance (saves a square root per pair), log10 of
    the frequency (computed once per call when all pairs share one frequency)
    and log10 of the antenna heights (computed once per endpoint).
    """
    cdef double lf, base, lg, dc, lam, d_km
    if d_ground_m < MIN_DISTANCE_M:
        d_ground_m = MIN_DISTANCE_M
    if d_slant_sq_m2 < MIN_DISTANCE_M * MIN_DISTANCE_M:
        d_slant_sq_m2 = MIN_DISTANCE_M * MIN_DISTANCE_M
    if model == FREE_SPACE:
        return fspl_sq_db(d_slant_sq_m2, log10_f_hz)
    if model == LOG_DISTANCE:
        # p = (d0_m, pl0_db, gamma, log10_fast(d0_m)), see model_params()
        return p[1] + 10.0 * p[2] * (0.5 * log10_fast(d_slant_sq_m2) - p[3])
    if model == TWO_RAY:
        lam = SPEED_OF_LIGHT_M_S / f_hz
        dc = 4.0 * PI * htx_m * hrx_m / lam
        if d_ground_m < dc:
            return fspl_sq_db(d_ground_m * d_ground_m, log10_f_hz)
        return 40.0 * log10_fast(d_ground_m) - 20.0 * log10_htx - 20.0 * log10_hrx
    # Okumura-Hata family: frequency in MHz, distance in km, heights in m
    lf = log10_f_hz - 6.0
    d_km = d_ground_m * 1e-3
    if model == COST231:
        # p[0] = C_m (0 dB medium city / suburban, 3 dB metropolitan)
        return (46.3 + 33.9 * lf - 13.82 * log10_htx - hata_a_hm(lf, hrx_m)
                + (44.9 - 6.55 * log10_htx) * log10_fast(d_km) + p[0])
    base = (69.55 + 26.16 * lf - 13.82 * log10_htx - hata_a_hm(lf, hrx_m)
            + (44.9 - 6.55 * log10_htx) * log10_fast(d_km))
    if model == HATA_SUBURBAN:
        lg = lf - 1.4471580313422192  # log10_fast(f_MHz / 28)
        return base - 2.0 * lg * lg - 5.4
    if model == HATA_OPEN:
        return base - 4.78 * lf * lf + 18.33 * lf - 40.94
    return base


cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    # splitmix64 finaliser
    z = (z ^ (z >> 30)) * <uint64_t>0xbf58476d1ce4e5b9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94d049bb133111ebULL
    return z ^ (z >> 31)


cdef inline double inverse_normal_cdf(double p) noexcept nogil:
    """Acklam's rational approximation of the standard normal quantile (|rel err| < 1.15e-9).

    Only the outer 4.85 % of p need a log and a square root.
    """
    cdef double q, r
    if p < 0.02425:
        q = sqrt(-2.0 * log(p))
        return ((((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                    - 2.400758277161838e+00) * q - 2.549732539343734e+00) * q
                  + 4.374664141464968e+00) * q + 2.938163982698783e+00)
                / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q
                     + 2.445134137142996e+00) * q + 3.754408661907416e+00) * q + 1.0))
    if p > 0.97575:
        q = sqrt(-2.0 * log(1.0 - p))
        return -((((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                     - 2.400758277161838e+00) * q - 2.549732539343734e+00) * q
                   + 4.374664141464968e+00) * q + 2.938163982698783e+00)
                 / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q
                      + 2.445134137142996e+00) * q + 3.754408661907416e+00) * q + 1.0))
    q = p - 0.5
    r = q * q
    return ((((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r
                - 2.759285104469687e+02) * r + 1.383577518672690e+02) * r
              - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q
            / (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r
                  - 1.556989798598866e+02) * r + 6.680131188771972e+01) * r
                - 1.328068155288572e+01) * r + 1.0))


cdef inline double link_normal(uint64_t ka, uint64_t kb, uint64_t mixed_seed) noexcept nogil:
    """A standard normal draw that depends only on the unordered link and the seed.

    `mixed_seed` is mix64(seed), computed once per call.
    """
    cdef uint64_t lo = ka if ka < kb else kb
    cdef uint64_t hi = kb if ka < kb else ka
    cdef uint64_t h = mix64(mix64(lo ^ mixed_seed) ^ hi)
    return inverse_normal_cdf((<double>(h >> 11) + 0.5) * 1.1102230246251565e-16)


cdef inline double knife_edge_db(double nu) noexcept nogil:
    # ITU-R P.526 single knife-edge approximation, zero below nu = -0.78
    cdef double v
    if nu <= KNIFE_EDGE_NU_MIN:
        return 0.0
    v = nu - 0.1
    return 6.9 + 20.0 * log10_fast(sqrt(v * v + 1.0) + v)


# ---------------------------------------------------------------------------
# closed-form models
# ---------------------------------------------------------------------------

cdef inline bint uses_log_heights(int model) noexcept nogil:
    return model == HATA_URBAN or model == HATA_SUBURBAN or model == HATA_OPEN \
        or model == COST231 or model == TWO_RAY


cdef double[::1] _log10_heights(const double[::1] height_m, bint needed):
    """log10 of each endpoint's height, once per endpoint (zeros when unused)."""
    cdef Py_ssize_t j, m = height_m.shape[0]
    cdef double[::1] out = cvarray(shape=(max(m, 1),), itemsize=sizeof(double), format="d")
    for j in range(m):
        out[j] = log10_fast(height_m[j]) if needed else 0.0
    return out


def closed_form_distance(int model, const double[::1] distance_m, const double[::1] freq_hz,
                         const double[::1] tx_height_m, const double[::1] rx_height_m,
                         const double[::1] params, double[::1] out, int num_threads):
    """Mean loss from distances; every input has length 1 or len(out)."""
    cdef Py_ssize_t i, n = out.shape[0]
    cdef Py_ssize_t sd = distance_m.shape[0] > 1, sf = freq_hz.shape[0] > 1
    cdef Py_ssize_t st = tx_height_m.shape[0] > 1, sr = rx_height_m.shape[0] > 1
    cdef const double* p = &params[0]
    cdef double d, f, ht, hr
    cdef double lf0 = log10_fast(freq_hz[0])
    cdef bint logh = uses_log_heights(model)
    for i in prange(n, nogil=True, num_threads=num_threads, schedule="static"):
        d = distance_m[i * sd]
        f = freq_hz[i * sf]
        ht = tx_height_m[i * st]
        hr = rx_height_m[i * sr]
        out[i] = model_loss_db(model, d, d * d, f, log10_fast(f) if sf else lf0, ht, hr,
                               log10_fast(ht) if logh else 0.0, log10_fast(hr) if logh else 0.0, p)


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
    log-distance model with params[4] = sigma_db > 0 a log-normal shadowing term
    keyed on the unordered pair of endpoint keys and the seed is added.
    """
    cdef Py_ssize_t i, a, b, n = out.shape[0]
    cdef Py_ssize_t sf = freq_hz.shape[0] > 1
    cdef const double* p = &params[0]
    cdef double sigma = params[4] if model == LOG_DISTANCE else 0.0
    cdef uint64_t mixed_seed = mix64(seed)
    cdef double lf0 = log10_fast(freq_hz[0])
    cdef double dg, dh, f, loss
    cdef double[::1] log10_htx = _log10_heights(tx_height_m, uses_log_heights(model))
    cdef double[::1] log10_hrx = _log10_heights(rx_height_m, uses_log_heights(model))
    for i in prange(n, nogil=True, num_threads=num_threads, schedule="static"):
        a = itx[i]
        b = irx[i]
        dg = EARTH_RADIUS_M * central_angle(&tx_xyz[a, 0], &rx_xyz[b, 0])
        dh = tx_height_m[a] - rx_height_m[b]
        f = freq_hz[i * sf]
        loss = model_loss_db(model, dg, dg * dg + dh * dh, f, log10_fast(f) if sf else lf0,
                             tx_height_m[a], rx_height_m[b], log10_htx[a], log10_hrx[b], p)
        if sigma > 0.0:
            loss = loss + sigma * link_normal(tx_key[a], rx_key[b], mixed_seed)
        out[i] = loss


def shadowing_normal(const uint64_t[::1] key_a, const uint64_t[::1] key_b, uint64_t seed,
                     double[::1] out):
    """Standard normal draws per unordered (key_a[i], key_b[i]) and seed."""
    cdef Py_ssize_t i, n = out.shape[0]
    cdef uint64_t mixed_seed = mix64(seed)
    for i in range(n):
        out[i] = link_normal(key_a[i], key_b[i], mixed_seed)


def knife_edge(const double[::1] nu, double[::1] out):
    """J(nu) of ITU-R P.526 for each element."""
    cdef Py_ssize_t i, n = out.shape[0]
    for i in range(n):
        out[i] = knife_edge_db(nu[i])


# ---------------------------------------------------------------------------
# terrain model
# ---------------------------------------------------------------------------

cdef double deygout_db(const double* hgt, Py_ssize_t i0, Py_ssize_t i1, double y0, double y1,
                       double step_m, double lam, int depth) noexcept nogil:
    """Diffraction loss over samples i0..i1 with the path ends at heights y0, y1.

    The edge with the largest Fresnel-Kirchhoff parameter nu is the main edge;
    with depth > 1 the sub-paths on each side of it are treated the same way
    (Deygout). Heights already include the earth bulge, so all lines are straight.

    nu_i = h_i sqrt(2 span / (lam d1 d2)) orders like sign(h) h^2 / (d1 d2), so
    the search compares those by cross-multiplication (no division or square
    root per sample) and computes nu exactly for the winner only.
    """
    cdef Py_ssize_t i, best_i = -1
    cdef double span = (i1 - i0) * step_m
    cdef double slope = (y1 - y0) / span
    cdef double best_key = 0.0, best_den = 1.0
    cdef double d1, d2, h, key, den, nu, loss
    if i1 - i0 < 2:
        return 0.0
    for i in range(i0 + 1, i1):
        d1 = (i - i0) * step_m
        d2 = span - d1
        h = hgt[i] - (y0 + slope * d1)
        key = h * fabs(h)
        den = d1 * d2
        if best_i < 0 or key * best_den > best_key * den:
            best_key = key
            best_den = den
            best_i = i
    d1 = (best_i - i0) * step_m
    d2 = span - d1
    h = hgt[best_i] - (y0 + (y1 - y0) * d1 / span)
    nu = h * sqrt(2.0 * span / (lam * d1 * d2))
    if nu <= KNIFE_EDGE_NU_MIN:
        return 0.0
    loss = knife_edge_db(nu)
    if depth > 1:
        loss = loss + deygout_db(hgt, i0, best_i, y0, hgt[best_i], step_m, lam, depth - 1)
        loss = loss + deygout_db(hgt, best_i, i1, hgt[best_i], y1, step_m, lam, depth - 1)
    return loss


def terrain_links(const double[:, ::1] tx_xyz, const double[::1] tx_height_m,
                  const double[::1] tx_ground_m,
                  const double[:, ::1] rx_xyz, const double[::1] rx_height_m,
                  const double[::1] rx_ground_m,
                  const Py_ssize_t[::1] itx, const Py_ssize_t[::1] irx,
                  const double[::1] freq_hz,
                  const float[:, ::1] elevation_m, double lat_north_deg, double lon_west_deg,
                  double step_deg, double spacing_m, Py_ssize_t max_samples,
                  double k_factor, int depth,
                  double[::1] out, double[::1] diffraction_out, long[::1] samples_out,
                  double[:, ::1] work, int num_threads):
    """Free-space loss plus knife-edge/Deygout diffraction over a DEM profile.

    For each pair the great circle is sampled every `spacing_m` (at most
    `max_samples` points, at least 3), each interior sample's ground height is
    read from the mosaic by bilinear interpolation, and the earth bulge for an
    effective radius k_factor * R is added. The end samples take the endpoints'
    ground heights (`tx_ground_m`, `rx_ground_m`, looked up once per endpoint
    from the exact coordinates). Free-space loss uses the slant distance between
    the antenna tops. Writes the total loss, the diffraction part and the number
    of profile samples per pair. `work` is scratch space of shape
    (num_threads, max_samples).
    """
    cdef Py_ssize_t n = out.shape[0]
    cdef Py_ssize_t rows = elevation_m.shape[0], cols = elevation_m.shape[1]
    cdef const float* E = &elevation_m[0, 0]
    cdef Py_ssize_t sf = freq_hz.shape[0] > 1
    cdef double inv_2r = 1.0 / (2.0 * k_factor * EARTH_RADIUS_M)  # earth bulge d1 d2 / (2 k R)
    cdef double inv_step = 1.0 / step_deg
    cdef Py_ssize_t i, a, b, ns
    cdef double omega, dist_m, step_m, y_tx, y_rx, lam, diff, dh
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
            out[i] = fspl_sq_db(dist_m * dist_m + dh * dh, log10_fast(freq_hz[i * sf]))
            diffraction_out[i] = 0.0
            samples_out[i] = 1
            continue
        ns = <Py_ssize_t>ceil(dist_m / spacing_m) + 1
        if ns < 3:
            ns = 3
        if ns > max_samples:
            ns = max_samples
        step_m = dist_m / (ns - 1)
        fill_profile(pa, pb, omega, dist_m, ns, tx_ground_m[a], rx_ground_m[b], E, rows, cols,
                     lat_north_deg, lon_west_deg, inv_step, inv_2r, hgt)
        y_tx = hgt[0] + tx_height_m[a]
        y_rx = hgt[ns - 1] + rx_height_m[b]
        diff = deygout_db(hgt, 0, ns - 1, y_tx, y_rx, step_m, lam, depth)
        dh = y_tx - y_rx
        out[i] = fspl_sq_db(dist_m * dist_m + dh * dh, log10_fast(freq_hz[i * sf])) + diff
        diffraction_out[i] = diff
        samples_out[i] = ns

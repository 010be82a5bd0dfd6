"""Pure-numpy reference of every path-loss model: the oracle for the compiled kernel.

Each function here mirrors one function of `ext/pathloss.pyx` with the same
order of floating-point operations, written for clarity rather than speed: the
closed-form models are vectorised over pairs, the terrain model walks one path at
a time with numpy over the samples of that path and a recursive Deygout search,
which is how the physics reads on paper. Tests compare the kernel against these
functions; `bench/pathloss.py` uses them as the baseline.

Inputs are already validated and laid out by `propagation.py` (endpoint tables
and pair indices); nothing here checks them again.
"""

from __future__ import annotations

import numpy as np

from ._terrain import EARTH_RADIUS_M, bilinear_elevation_m

SPEED_OF_LIGHT_M_S = 299792458.0
FSPL_CONST_DB = -147.55221677811664  # 20 log10(4 pi / c)
MIN_DISTANCE_M = 1.0
KNIFE_EDGE_NU_MIN = -0.78
MIN_ANGLE_RAD = 1e-9

# model codes, identical to the kernel's `Model` enum
FREE_SPACE, LOG_DISTANCE, HATA_URBAN, HATA_SUBURBAN, HATA_OPEN, COST231, TWO_RAY = range(7)

_U64 = np.uint64


def free_space_db(distance_m, freq_hz):
    """ITU-R P.525 free-space loss; distances below 1 m count as 1 m."""
    d = np.maximum(np.asarray(distance_m, dtype=float), MIN_DISTANCE_M)
    return 20.0 * np.log10(d) + 20.0 * np.log10(freq_hz) + FSPL_CONST_DB


def free_space_sq_db(d_sq_m2, freq_hz):
    """Free-space loss from a squared distance (the kernel's `fspl_sq_db`)."""
    d_sq = np.maximum(np.asarray(d_sq_m2, dtype=float), MIN_DISTANCE_M * MIN_DISTANCE_M)
    return 10.0 * np.log10(d_sq) + 20.0 * np.log10(freq_hz) + FSPL_CONST_DB


def _hata_a_hm(lf, hrx_m):
    return (1.1 * lf - 0.7) * hrx_m - (1.56 * lf - 0.8)


def model_loss_db(model, d_ground_m, d_slant_sq_m2, freq_hz, tx_height_m, rx_height_m,
                  params):
    """Mean loss of a closed-form model (the kernel's `model_loss_db`)."""
    dg = np.maximum(np.asarray(d_ground_m, dtype=float), MIN_DISTANCE_M)
    ds_sq = np.maximum(np.asarray(d_slant_sq_m2, dtype=float), MIN_DISTANCE_M * MIN_DISTANCE_M)
    f = np.asarray(freq_hz, dtype=float)
    htx = np.asarray(tx_height_m, dtype=float)
    hrx = np.asarray(rx_height_m, dtype=float)
    with np.errstate(divide="ignore"):  # zero heights are only allowed where unused
        lhtx = np.log10(htx)
        lhrx = np.log10(hrx)
    if model == FREE_SPACE:
        return free_space_sq_db(ds_sq, f)
    if model == LOG_DISTANCE:
        pl0_db, gamma, log10_d0 = params[1], params[2], params[3]
        return pl0_db + 10.0 * gamma * (0.5 * np.log10(ds_sq) - log10_d0)
    if model == TWO_RAY:
        lam = SPEED_OF_LIGHT_M_S / f
        dc = 4.0 * np.pi * htx * hrx / lam
        plane = 40.0 * np.log10(dg) - 20.0 * lhtx - 20.0 * lhrx
        return np.where(dg < dc, free_space_sq_db(dg * dg, f), plane)
    lf = np.log10(f) - 6.0
    lhb = lhtx
    d_km = dg * 1e-3
    if model == COST231:
        return (46.3 + 33.9 * lf - 13.82 * lhb - _hata_a_hm(lf, hrx)
                + (44.9 - 6.55 * lhb) * np.log10(d_km) + params[0])
    base = (69.55 + 26.16 * lf - 13.82 * lhb - _hata_a_hm(lf, hrx)
            + (44.9 - 6.55 * lhb) * np.log10(d_km))
    if model == HATA_SUBURBAN:
        lg = lf - 1.4471580313422192  # log10(f_MHz / 28)
        return base - 2.0 * lg * lg - 5.4
    if model == HATA_OPEN:
        return base - 4.78 * lf * lf + 18.33 * lf - 40.94
    return base


def mix64(z):
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    z = np.asarray(z, dtype=_U64)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


_ACKLAM_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_ACKLAM_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
             6.680131188771972e+01, -1.328068155288572e+01)
_ACKLAM_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_ACKLAM_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
             3.754408661907416e+00)


def _horner(coefs, x):
    acc = coefs[0] * x + coefs[1]
    for c in coefs[2:]:
        acc = acc * x + c
    return acc


def inverse_normal_cdf(p):
    """Acklam's rational approximation of the standard normal quantile."""
    p = np.asarray(p, dtype=float)
    q = p - 0.5
    r = q * q
    central = _horner(_ACKLAM_A, r) * q / (_horner(_ACKLAM_B, r) * r + 1.0)
    ql = np.sqrt(-2.0 * np.log(np.minimum(p, 0.5)))
    low = _horner(_ACKLAM_C, ql) / (_horner(_ACKLAM_D, ql) * ql + 1.0)
    qh = np.sqrt(-2.0 * np.log(np.minimum(1.0 - p, 0.5)))
    high = -(_horner(_ACKLAM_C, qh) / (_horner(_ACKLAM_D, qh) * qh + 1.0))
    return np.where(p < 0.02425, low, np.where(p > 0.97575, high, central))


def link_normal(key_a, key_b, seed):
    """Standard normal per unordered key pair and seed (inverse CDF of a splitmix64 uniform)."""
    ka = np.atleast_1d(np.asarray(key_a, dtype=_U64))
    kb = np.atleast_1d(np.asarray(key_b, dtype=_U64))
    lo = np.minimum(ka, kb)
    hi = np.maximum(ka, kb)
    with np.errstate(over="ignore"):
        h = mix64(mix64(lo ^ mix64(np.array([seed], dtype=_U64))) ^ hi)
    return inverse_normal_cdf(((h >> _U64(11)).astype(float) + 0.5) * 1.1102230246251565e-16)


def knife_edge_db(nu):
    """ITU-R P.526 J(nu), zero for nu <= -0.78."""
    nu = np.asarray(nu, dtype=float)
    v = nu - 0.1
    j = 6.9 + 20.0 * np.log10(np.sqrt(v * v + 1.0) + v)
    return np.where(nu <= KNIFE_EDGE_NU_MIN, 0.0, j)


def central_angle_rad(a_xyz, b_xyz):
    """Angle between unit vectors from their chord (accurate for short paths)."""
    d = np.asarray(a_xyz) - np.asarray(b_xyz)
    half_chord = 0.5 * np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1]
                               + d[..., 2] * d[..., 2])
    return 2.0 * asin_small(np.minimum(half_chord, 1.0))


def asin_small(x):
    """asin for 0 <= x <= 1 as the kernel evaluates it (odd Taylor series below 0.02):
    ITM's profile geometry has thresholds at whole samples, so the path length must
    round exactly as the kernel's does."""
    x = np.asarray(x, dtype=float)
    x2 = x * x
    series = x * (1.0 + x2 * (1.0 / 6.0 + x2 * (3.0 / 40.0 + x2 * (15.0 / 336.0
                  + x2 * (105.0 / 3456.0 + x2 * (945.0 / 42240.0))))))
    return np.where(x < 0.02, series, np.arcsin(x))


def closed_form_links(model, tx_xyz, tx_height_m, tx_key, rx_xyz, rx_height_m, rx_key,
                      itx, irx, freq_hz, params, seed):
    """Reference of the kernel's `closed_form_links` (same arguments, returns the losses)."""
    htx = tx_height_m[itx]
    hrx = rx_height_m[irx]
    dg = EARTH_RADIUS_M * central_angle_rad(tx_xyz[itx], rx_xyz[irx])
    dh = htx - hrx
    loss = model_loss_db(model, dg, dg * dg + dh * dh, freq_hz, htx, hrx, params)
    if model == LOG_DISTANCE and params[4] > 0.0:
        loss = loss + params[4] * link_normal(tx_key[itx], rx_key[irx], seed)
    return loss


def _deygout_db(hgt, i0, i1, y0, y1, step_m, lam, depth):
    if i1 - i0 < 2:
        return 0.0
    span = (i1 - i0) * step_m
    idx = np.arange(i0 + 1, i1)
    d1 = (idx - i0) * step_m
    d2 = span - d1
    h = hgt[idx] - (y0 + (y1 - y0) * d1 / span)
    nu = h * np.sqrt(2.0 * span / (lam * d1 * d2))
    k = int(np.argmax(nu))
    best_nu = float(nu[k])
    if best_nu <= KNIFE_EDGE_NU_MIN:
        return 0.0
    best_i = int(idx[k])
    loss = float(knife_edge_db(best_nu))
    if depth > 1:
        loss += _deygout_db(hgt, i0, best_i, y0, hgt[best_i], step_m, lam, depth - 1)
        loss += _deygout_db(hgt, best_i, i1, hgt[best_i], y1, step_m, lam, depth - 1)
    return loss


def profile_samples(dist_m, spacing_m, max_samples) -> int:
    """Samples of a profile: one every `spacing_m`, at least 3, at most `max_samples`."""
    return int(np.clip(np.ceil(dist_m / spacing_m) + 1, 3, max_samples))


def great_circle_ground_m(a_xyz, b_xyz, omega, ns, mosaic, tx_ground_m, rx_ground_m):
    """Ground heights at `ns` equally spaced points of the great circle from a to b
    (`omega` radians apart); the ends take the endpoints' own ground heights, looked up
    from their exact coordinates."""
    theta = np.arange(ns) * (omega / (ns - 1))
    u = (b_xyz - a_xyz * np.cos(omega)) / np.sin(omega)
    p = a_xyz[None, :] * np.cos(theta)[:, None] + u[None, :] * np.sin(theta)[:, None]
    lat = np.degrees(np.arcsin(np.clip(p[:, 2], -1.0, 1.0)))
    lon = np.degrees(np.arctan2(p[:, 1], p[:, 0]))
    ground = bilinear_elevation_m(mosaic, lat, lon)
    ground[0], ground[-1] = tx_ground_m, rx_ground_m
    return ground


def terrain_path(a_xyz, b_xyz, tx_height_m, rx_height_m, tx_ground_m, rx_ground_m, freq_hz,
                 mosaic, spacing_m, max_samples, k_factor, depth):
    """One path of the terrain model: (total loss dB, diffraction dB, samples)."""
    lam = SPEED_OF_LIGHT_M_S / freq_hz
    omega = float(central_angle_rad(a_xyz, b_xyz))
    dist_m = omega * EARTH_RADIUS_M
    if omega < MIN_ANGLE_RAD:
        dh = tx_height_m - rx_height_m
        return float(free_space_sq_db(dist_m * dist_m + dh * dh, freq_hz)), 0.0, 1
    ns = profile_samples(dist_m, spacing_m, max_samples)
    step_m = dist_m / (ns - 1)
    d1 = np.arange(ns) * step_m
    ground = great_circle_ground_m(a_xyz, b_xyz, omega, ns, mosaic, tx_ground_m, rx_ground_m)
    hgt = ground + d1 * (dist_m - d1) / (2.0 * (k_factor * EARTH_RADIUS_M))
    y_tx = hgt[0] + tx_height_m
    y_rx = hgt[ns - 1] + rx_height_m
    diff = _deygout_db(hgt, 0, ns - 1, y_tx, y_rx, step_m, lam, depth)
    dh = y_tx - y_rx
    total = float(free_space_sq_db(dist_m * dist_m + dh * dh, freq_hz)) + diff
    return total, diff, ns


def terrain_links(tx_xyz, tx_height_m, tx_ground_m, rx_xyz, rx_height_m, rx_ground_m, itx, irx,
                  freq_hz, mosaic, spacing_m, max_samples, k_factor, depth):
    """Reference of the kernel's `terrain_links`: (total dB, diffraction dB, samples) arrays."""
    n = len(itx)
    freq = np.broadcast_to(np.asarray(freq_hz, dtype=float), (n,))
    total = np.empty(n)
    diff = np.empty(n)
    samples = np.empty(n, dtype=np.int64)
    for i in range(n):
        a, b = itx[i], irx[i]
        total[i], diff[i], samples[i] = terrain_path(
            tx_xyz[a], rx_xyz[b], tx_height_m[a], rx_height_m[b], tx_ground_m[a], rx_ground_m[b],
            freq[i], mosaic, spacing_m, max_samples, k_factor, depth)
    return total, diff, samples

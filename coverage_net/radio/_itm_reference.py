"""The Longley-Rice Irregular Terrain Model, point-to-point mode: the per-path oracle.

This is NTIA/ITS's ITM version 1.2.2 (Hufford, "The ITS Irregular Terrain Model,
version 1.2.2: The Algorithm", 1995; Longley and Rice, ESSA ERL 79-ITS 67, 1968)
written as plain Python over one terrain profile at a time, in the order the
algorithm reads on paper (the profile's half, horizons, fitted line, delta-h and
effective heights, is in `_itm_reference_profile`). `ext/itm.pyx` mirrors every
function with the same floating-point operations so the two agree to ~1e-9 dB; the
tests hold this module against the independent `itmlogic` package and the kernel
against this module.

A profile is ``elevation_m[0..np]``: np + 1 ground heights (m above sea level)
every ``step_m`` metres from the transmitter to the receiver, without earth bulge
(ITM accounts for the curvature itself, with the effective curvature that the
surface refractivity gives).

Where NTIA's published code and later ports disagree, this follows NTIA's C++
1.2.2 source: the receiver's effective height uses the last profile point, and
the least-squares fit widens a too-short span by one sample on each side.
"""

from __future__ import annotations

import cmath
import math

import numpy as np

from ._itm_climate import CLIMATES, qerfi, variability_db
from ._itm_reference_profile import ItmPath, profile_geometry
from ._reference import (
    MIN_ANGLE_RAD,
    central_angle_rad,
    great_circle_ground_m,
    profile_samples,
)
from ._terrain import EARTH_RADIUS_M

__all__ = [
    "CLIMATES", "N_PARAMS", "links", "point_to_point_db", "qerfi", "system_elevation_m",
]

_GMA = 157e-9  # actual earth curvature, 1/m
_THIRD = 1.0 / 3.0


def _c_log(x: float) -> float:
    """C's log: NaN below zero, -inf at zero (math.log raises). ITM's smooth-earth
    diffraction takes the log of a term that goes negative on very short, low paths
    at low frequencies; NTIA's code then carries the NaN, as the kernel does."""
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


def system_elevation_m(elevation_m) -> float:
    """Mean ground height of the middle of the profile (NTIA's point_to_point drops
    about 10% at each end), which scales the surface refractivity."""
    z = np.asarray(elevation_m, dtype=float)
    n = len(z) - 1
    ja = int(3.0 + 0.1 * n)
    jb = n - ja + 6
    total = 0.0
    for i in range(ja - 1, jb):
        total += z[i - 2]
    return total / (jb - ja + 1)


def _fht(x: float, pk: float) -> float:
    """Smooth-earth height-gain function F(x, K) of the three-radii method."""
    if x < 200.0:
        w = -math.log(pk)
        if pk < 1e-5 or x * w * w * w > 5495.0:
            f = -117.0
            if x > 1.0:
                f = 17.372 * math.log(x) + f
        else:
            f = 2.5e-5 * x * x / pk - 8.686 * w - 15.0
    else:
        f = 0.05751 * x - 4.343 * math.log(x)
        if x < 2000.0:
            w = 0.0134 * x * math.exp(-0.005 * x)
            f = (1.0 - w) * f + w * (17.372 * math.log(x) - 117.0)
    return f


def _knife_edge_db(v2: float) -> float:
    """Fresnel knife-edge attenuation for nu^2 = v2 (ITM's aknfe)."""
    if v2 < 5.76:
        return 6.02 + 9.11 * math.sqrt(v2) - 1.27 * v2
    return 12.953 + 4.343 * math.log(v2)


def _diffraction_setup(p: ItmPath) -> None:
    q = p.hg[0] * p.hg[1]
    qk = p.he[0] * p.he[1] - q
    q += 10.0  # point-to-point mode
    p.wd1 = math.sqrt(1.0 + qk / q)
    p.xd1 = p.dla + p.tha / p.gme
    q = (1.0 - 0.8 * math.exp(-p.dlsa / 50e3)) * p.dh
    q = 0.78 * q * math.exp(-((q / 16.0) ** 0.25))
    p.afo = min(15.0, 2.171 * math.log(1.0 + 4.77e-4 * p.hg[0] * p.hg[1] * p.wn * q))
    p.qk = 1.0 / abs(p.zgnd)
    p.aht = 20.0
    p.xht = 0.0
    for j in range(2):
        a = 0.5 * (p.dl[j] * p.dl[j]) / p.he[j]
        wa = (a * p.wn) ** _THIRD
        pk = p.qk / wa
        q = (1.607 - pk) * 151.0 * wa * p.dl[j] / a
        p.xht += q
        p.aht += _fht(q, pk)


def _diffraction_db(p: ItmPath, d: float) -> float:
    """Diffraction attenuation at distance d: double knife edge blended with
    smooth-earth (three radii) by the terrain roughness."""
    th = p.tha + d * p.gme
    ds = d - p.dla
    q = 0.0795775 * p.wn * ds * th * th
    a_knife = (_knife_edge_db(q * p.dl[0] / (ds + p.dl[0]))
               + _knife_edge_db(q * p.dl[1] / (ds + p.dl[1])))
    a = ds / th
    wa = (a * p.wn) ** _THIRD
    pk = p.qk / wa
    q = (1.607 - pk) * 151.0 * wa * th + p.xht
    a_round = 0.05751 * q - 4.343 * _c_log(q) - p.aht
    q = (p.wd1 + p.xd1 / d) * min((1.0 - 0.8 * math.exp(-d / 50e3)) * p.dh * p.wn, 6283.2)
    wd = 25.1 / (25.1 + math.sqrt(q))
    return a_round * wd + (1.0 - wd) * a_knife + p.afo


def _los_db(p: ItmPath, d: float, wls: float) -> float:
    """Line-of-sight attenuation at distance d: two-ray field over a rough earth
    (reflection coefficient from the ground impedance) blended with the
    extrapolated diffraction line."""
    q = (1.0 - 0.8 * math.exp(-d / 50e3)) * p.dh
    s = 0.78 * q * math.exp(-((q / 16.0) ** 0.25))
    q = p.he[0] + p.he[1]
    sps = q / math.sqrt(d * d + q * q)
    r = (sps - p.zgnd) / (sps + p.zgnd) * math.exp(-min(10.0, p.wn * s * sps))
    q = r.real * r.real + r.imag * r.imag
    if q < 0.25 or q < sps:
        r = r * math.sqrt(sps / q)
    a_line = p.emd * d + p.aed
    q = p.wn * p.he[0] * p.he[1] * 2.0 / d
    if q > 1.57:
        q = 3.14 - 2.4649 / q
    c = complex(math.cos(q), -math.sin(q)) + r
    return (-4.343 * math.log(c.real * c.real + c.imag * c.imag) - a_line) * wls + a_line


def _h0_db(r: float, et: float) -> float:
    """Frequency-gain function H0(r, eta_s) of troposcatter."""
    a = (25.0, 80.0, 177.0, 395.0, 705.0)
    b = (24.0, 45.0, 68.0, 80.0, 105.0)
    it = int(et)
    if it <= 0:
        it = 1
        q = 0.0
    elif it >= 5:
        it = 5
        q = 0.0
    else:
        q = et - it
    x = (1.0 / r) ** 2
    h = 4.343 * math.log((a[it - 1] * x + b[it - 1]) * x + 1.0)
    if q != 0.0:
        h = (1.0 - q) * h + q * 4.343 * math.log((a[it] * x + b[it]) * x + 1.0)
    return h


def _f0_db(td: float) -> float:
    """The troposcatter attenuation function F(theta d)."""
    if td <= 10e3:
        return 133.4 + 0.332e-3 * td - 4.343 * math.log(td)
    if td <= 70e3:
        return 104.6 + 0.212e-3 * td - 1.086 * math.log(td)
    return 71.8 + 0.157e-3 * td + 2.171 * math.log(td)


def _scatter_db(p: ItmPath, d: float, sc: list) -> float:
    """Troposcatter attenuation at distance d (NBS TN101 approximation); 1001 when
    the geometry makes it inadmissible. ``sc`` = [ad, rr, etq, h0s] carries the
    state ITM keeps between calls."""
    ad, rr, etq, h0s = sc
    if h0s > 15.0:
        h0 = h0s
    else:
        th = p.the[0] + p.the[1] + d * p.gme
        r2 = 2.0 * p.wn * th
        r1 = r2 * p.he[0]
        r2 = r2 * p.he[1]
        if r1 < 0.2 and r2 < 0.2:
            return 1001.0
        ss = (d - ad) / (d + ad)
        q = rr / ss
        ss = max(0.1, ss)
        q = min(max(0.1, q), 10.0)
        z0 = (d - ad) * (d + ad) * th * 0.25 / d
        t = min(1.7, z0 / 8.0e3)
        t = t * t * t * t * t * t
        et = (etq * math.exp(-t) + 1.0) * z0 / 1.7556e3
        ett = max(et, 1.0)
        h0 = (_h0_db(r1, ett) + _h0_db(r2, ett)) * 0.5
        h0 += min(h0, (1.38 - math.log(ett)) * math.log(ss) * math.log(q) * 0.49)
        h0 = max(h0, 0.0)
        if et < 1.0:
            t = (1.0 + 1.4142 / r1) * (1.0 + 1.4142 / r2)
            h0 = et * h0 + (1.0 - et) * 4.343 * math.log(
                t * t * (r1 + r2) / (r1 + r2 + 2.8284))
        if h0 > 15.0 and h0s >= 0.0:
            h0 = h0s
    sc[3] = h0
    th = p.tha + d * p.gme
    return (_f0_db(th * d) + 4.343 * math.log(47.7 * p.wn * th ** 4)
            - 0.1 * (p.ens - 301.0) * math.exp(-th * d / 40e3) + h0)


def _warn(p: ItmPath, level: int) -> None:
    p.kwx = max(p.kwx, level)


def _check_ranges(p: ItmPath) -> None:
    """ITM's validity warnings (kwx): 1 caution, 3 outside the tested ranges, 4 invalid."""
    if p.wn < 0.838 or p.wn > 210.0:
        _warn(p, 1)
    for j in range(2):
        if p.hg[j] < 1.0 or p.hg[j] > 1000.0:
            _warn(p, 1)
        if abs(p.the[j]) > 0.2 or p.dl[j] < 0.1 * p.dls[j] or p.dl[j] > 3.0 * p.dls[j]:
            _warn(p, 3)
    if (p.ens < 250.0 or p.ens > 400.0 or p.gme < 75e-9 or p.gme > 250e-9
            or p.zgnd.real < abs(p.zgnd.imag) or p.wn < 0.419 or p.wn > 420.0):
        _warn(p, 4)
    for j in range(2):
        if p.hg[j] < 0.5 or p.hg[j] > 3000.0:
            _warn(p, 4)
    if p.dist > 1000e3:
        _warn(p, 1)
    if p.dist < abs(p.he[0] - p.he[1]) / 200e-3:
        _warn(p, 3)
    if p.dist < 1e3 or p.dist > 2000e3:
        _warn(p, 4)


def _reference_attenuation(p: ItmPath) -> None:
    """The median attenuation relative to free space (ITM's lrprop, point-to-point)."""
    p.dls = [math.sqrt(2.0 * p.he[j] / p.gme) for j in range(2)]
    p.dlsa = p.dls[0] + p.dls[1]
    p.dla = p.dl[0] + p.dl[1]
    p.tha = max(p.the[0] + p.the[1], -p.dla * p.gme)
    _check_ranges(p)
    _diffraction_setup(p)
    p.xae = (p.wn * p.gme * p.gme) ** -_THIRD
    d3 = max(p.dlsa, 1.3787 * p.xae + p.dla)
    d4 = d3 + 2.7574 * p.xae
    a3 = _diffraction_db(p, d3)
    a4 = _diffraction_db(p, d4)
    p.emd = (a4 - a3) / (d4 - d3)
    p.aed = a3 - p.emd * d3
    if p.dist < p.dlsa:
        _line_of_sight_fit(p)
        p.aref = p.ael + p.ak1 * p.dist + p.ak2 * math.log(p.dist)
    else:
        _scatter_fit(p)
        if p.dist > p.dx:
            p.aref = p.aes + p.ems * p.dist
        else:
            p.aref = p.aed + p.emd * p.dist
    p.aref = max(p.aref, 0.0)


def _line_of_sight_fit(p: ItmPath) -> None:
    """Coefficients of A = ael + ak1 d + ak2 ln d through the line-of-sight points."""
    wls = 0.021 / (0.021 + p.wn * p.dh / max(10e3, p.dlsa))
    d2 = p.dlsa
    a2 = p.aed + d2 * p.emd
    d0 = 1.908 * p.wn * p.he[0] * p.he[1]
    if p.aed >= 0.0:
        d0 = min(d0, 0.5 * p.dla)
        d1 = d0 + 0.25 * (p.dla - d0)
    else:
        d1 = max(-p.aed / p.emd, 0.25 * p.dla)
    a1 = _los_db(p, d1, wls)
    fitted = False
    if d0 < d1:
        a0 = _los_db(p, d0, wls)
        q = math.log(d2 / d0)
        p.ak2 = max(0.0, ((d2 - d0) * (a1 - a0) - (d1 - d0) * (a2 - a0))
                    / ((d2 - d0) * math.log(d1 / d0) - (d1 - d0) * q))
        fitted = p.aed >= 0.0 or p.ak2 > 0.0
        if fitted:
            p.ak1 = (a2 - a0 - p.ak2 * q) / (d2 - d0)
            if p.ak1 < 0.0:
                p.ak1 = 0.0
                p.ak2 = max(a2 - a0, 0.0) / q
                if p.ak2 == 0.0:
                    p.ak1 = p.emd
    if not fitted:
        p.ak1 = max(a2 - a1, 0.0) / (d2 - d1)
        p.ak2 = 0.0
        if p.ak1 == 0.0:
            p.ak1 = p.emd
    p.ael = a2 - p.ak1 * d2 - p.ak2 * math.log(d2)


def _scatter_fit(p: ItmPath) -> None:
    """Where troposcatter takes over from diffraction (dx) and its line beyond."""
    ad = p.dl[0] - p.dl[1]
    rr = p.he[1] / p.he[0]
    if ad < 0.0:
        ad = -ad
        rr = 1.0 / rr
    sc = [ad, rr, (5.67e-6 * p.ens - 2.32e-3) * p.ens + 0.031, -15.0]
    d5 = p.dla + 200e3
    d6 = d5 + 200e3
    a6 = _scatter_db(p, d6, sc)
    a5 = _scatter_db(p, d5, sc)
    if a5 < 1000.0:
        p.ems = (a6 - a5) / 200e3
        p.dx = max(p.dlsa, max(p.dla + 0.3 * p.xae * math.log(47.7 * p.wn),
                               (a5 - p.aed - p.ems * d5) / (p.emd - p.ems)))
        p.aes = (p.emd - p.ems) * p.dx + p.aed
    else:
        p.ems = p.emd
        p.aes = p.aed
        p.dx = 10.e6


def point_to_point_db(elevation_m, step_m: float, tx_height_m: float, rx_height_m: float,
                      freq_hz: float, *, climate: int = 5, permittivity: float = 15.0,
                      conductivity_s_m: float = 0.005, refractivity_n: float = 301.0,
                      vertical: bool = True, mdvar: int = 12, z_time: float = 0.0,
                      z_location: float = 0.0, z_situation: float = 0.0,
                      system_elevation: float | None = None) -> tuple[float, int]:
    """Basic transmission loss (dB) over one profile, and ITM's warning level kwx.

    ``z_*`` are the standard normal deviates of the time, location and situation
    quantiles (`qerfi` of the fractions; 0 is the median). ``system_elevation``
    (m) scales the sea-level ``refractivity_n``; by default `system_elevation_m`
    of the profile, as NTIA's point_to_point does.
    """
    z = np.asarray(elevation_m, dtype=float)
    n = len(z) - 1
    p = ItmPath()
    p.kwx = 0
    p.hg = [float(tx_height_m), float(rx_height_m)]
    p.dist = n * step_m
    # the path's electrical constants (ITM's qlrps)
    p.wn = freq_hz * 1e-6 / 47.7
    zsys = system_elevation_m(z) if system_elevation is None else system_elevation
    p.ens = refractivity_n
    if zsys != 0.0:
        p.ens = p.ens * math.exp(-zsys / 9460.0)
    p.gme = _GMA * (1.0 - 0.04665 * math.exp(p.ens / 179.3))
    zq = complex(permittivity, 376.62 * conductivity_s_m / p.wn)
    p.zgnd = cmath.sqrt(zq - 1.0)
    if vertical:
        p.zgnd = p.zgnd / zq
    profile_geometry(p, z, step_m)
    _reference_attenuation(p)
    free_space_db = 20.0 * math.log10(2.0 * p.wn * p.dist)
    return free_space_db + variability_db(p, climate, mdvar, z_time, z_location,
                                           z_situation), p.kwx


# The kernel's parameter vector, in order (see ext/itm.pyx).
_PARAM_NAMES = ("climate", "permittivity", "conductivity_s_m", "refractivity_n", "vertical",
                "mdvar", "z_time", "z_location", "z_situation", "system_elevation")
N_PARAMS = len(_PARAM_NAMES)


def _keywords(params) -> dict:
    """`point_to_point_db` keywords from the kernel's parameter vector."""
    kw = dict(zip(_PARAM_NAMES, (float(v) for v in params), strict=True))
    kw["climate"] = int(kw["climate"])
    kw["mdvar"] = int(kw["mdvar"])
    kw["vertical"] = kw["vertical"] != 0.0
    if math.isnan(kw["system_elevation"]):
        kw["system_elevation"] = None
    return kw


def links(tx_xyz, tx_height_m, tx_ground_m, rx_xyz, rx_height_m, rx_ground_m, itx, irx,
          freq_hz, mosaic, spacing_m, max_samples, params):
    """Reference of the kernel's `links`: (loss dB, samples, kwx) arrays, one path at a
    time over the terrain model's great-circle profile (no earth bulge)."""
    n = len(itx)
    freq = np.broadcast_to(np.asarray(freq_hz, dtype=float), (n,))
    kw = _keywords(params)
    loss = np.empty(n)
    samples = np.empty(n, dtype=np.int64)
    kwx = np.empty(n, dtype=np.int32)
    for i in range(n):
        a, b = itx[i], irx[i]
        omega = float(central_angle_rad(tx_xyz[a], rx_xyz[b]))
        dist_m = omega * EARTH_RADIUS_M
        if omega < MIN_ANGLE_RAD:
            dh = tx_height_m[a] - rx_height_m[b]
            dh = math.sqrt(dist_m * dist_m + dh * dh)
            loss[i] = 20.0 * math.log10(2.0 * (freq[i] * 1e-6 / 47.7) * max(dh, 1.0))
            samples[i], kwx[i] = 1, 4
            continue
        ns = profile_samples(dist_m, spacing_m, max_samples)
        ground = great_circle_ground_m(tx_xyz[a], rx_xyz[b], omega, ns, mosaic,
                                       tx_ground_m[a], rx_ground_m[b])
        loss[i], kwx[i] = point_to_point_db(ground, dist_m / (ns - 1), tx_height_m[a],
                                            rx_height_m[b], freq[i], **kw)
        samples[i] = ns
    return loss, samples, kwx

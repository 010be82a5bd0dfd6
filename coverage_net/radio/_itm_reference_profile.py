"""The ITM oracle's first half: what one terrain profile says about its path.

The path's state (`ItmPath`, with Hufford's names) and NTIA's qlrpfl: the horizons seen
from both antennas, the least-squares line through the terrain, the interdecile
terrain irregularity delta-h, and the effective antenna heights. Plain Python in the
algorithm's order, as the rest of `coverage_net.radio._itm_reference`, which
computes the attenuation from these; `ext/itm.pyx` mirrors both.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ItmPath", "profile_geometry"]


class ItmPath:
    """The quantities ITM derives for one path (names follow Hufford's)."""

    __slots__ = ("wn", "gme", "ens", "zgnd", "hg", "he", "dl", "the", "dh", "dist", "kwx",
                 "dls", "dlsa", "dla", "tha", "xae", "emd", "aed", "wd1", "xd1", "afo",
                 "qk", "aht", "xht", "ak1", "ak2", "ael", "ems", "aes", "dx", "aref")


def _fit_line(z, step, x1, x2) -> tuple[float, float]:
    """Least-squares line through the samples between x1 and x2 (m); its heights at
    both ends of the profile."""
    xn = len(z) - 1
    xa = float(int(max(x1 / step, 0.0)))
    xb = xn - float(int(max(xn - x2 / step, 0.0)))
    if xb <= xa:
        xa = max(xa - 1.0, 0.0)
        xb = xn - max(xn - (xb + 1.0), 0.0)
    ja = int(xa)
    jb = int(xb)
    n = jb - ja
    xa = xb - xa
    x = -0.5 * xa
    xb = xb + x
    a = 0.5 * (z[ja] + z[jb])
    b = 0.5 * (z[ja] - z[jb]) * x
    for _ in range(2, n + 1):
        ja += 1
        x += 1.0
        a += z[ja]
        b += z[ja] * x
    a = a / xa
    b = b * 12.0 / ((xa * xa + 2.0) * xa)
    return a - b * xb, a + b * (xn - xb)


def _horizons(p: ItmPath, z, step) -> None:
    """Horizon take-off angles and distances seen from both antennas."""
    n = len(z) - 1
    za = z[0] + p.hg[0]
    zb = z[n] + p.hg[1]
    qc = 0.5 * p.gme
    q = qc * p.dist
    the1 = (zb - za) / p.dist
    the0 = the1 - q
    the1 = -the1 - q
    dl0 = dl1 = p.dist
    if n >= 2:
        sa = 0.0
        sb = p.dist
        found = False
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
    p.the = [the0, the1]
    p.dl = [dl0, dl1]


def _interdecile_m(z, step, x1, x2) -> float:
    """Terrain irregularity delta-h: interdecile range of the heights between x1 and
    x2 (m) about their least-squares line, scaled to an infinitely long path."""
    n_pfl = len(z) - 1
    xa = x1 / step
    xb = x2 / step
    if xb - xa < 2.0:
        return 0.0
    ka = int(0.1 * (xb - xa + 8.0))
    ka = min(max(4, ka), 25)
    n = 10 * ka - 5
    kb = n - ka + 1
    sn = n - 1.0
    s = np.empty(n)
    xb = (xb - xa) / sn
    k = int(xa + 1.0)
    xa -= k
    for j in range(n):
        while xa > 0.0 and k < n_pfl:
            xa -= 1.0
            k += 1
        s[j] = z[k] + (z[k] - z[k - 1]) * xa
        xa = xa + xb
    xa, xb = _fit_line(s, 1.0, 0.0, sn)
    xb = (xb - xa) / sn
    for j in range(n):
        s[j] -= xa
        xa = xa + xb
    desc = np.sort(s)[::-1]
    return float(desc[ka - 1] - desc[kb - 1]) / (1.0 - 0.8 * math.exp(-(x2 - x1) / 50e3))


def _smooth_horizon_m(he: float, gme: float, dh: float) -> float:
    return math.sqrt(2.0 * he / gme) * math.exp(-0.07 * math.sqrt(dh / max(he, 5.0)))


def profile_geometry(p: ItmPath, z, step) -> None:
    """Effective antenna heights, horizons and terrain irregularity from the profile
    (ITM's qlrpfl)."""
    n = len(z) - 1
    _horizons(p, z, step)
    xl0 = min(15.0 * p.hg[0], 0.1 * p.dl[0])
    xl1 = p.dist - min(15.0 * p.hg[1], 0.1 * p.dl[1])
    p.dh = _interdecile_m(z, step, xl0, xl1)
    if p.dl[0] + p.dl[1] > 1.5 * p.dist:
        # line of sight: heights over the terrain's fitted line, smooth-earth horizons
        za, zb = _fit_line(z, step, xl0, xl1)
        he = [p.hg[0] + max(z[0] - za, 0.0), p.hg[1] + max(z[n] - zb, 0.0)]
        dl = [_smooth_horizon_m(he[j], p.gme, p.dh) for j in range(2)]
        q = dl[0] + dl[1]
        if q <= p.dist:
            t = p.dist / q
            q = t * t
            for j in range(2):
                he[j] *= q
                dl[j] = _smooth_horizon_m(he[j], p.gme, p.dh)
        the = []
        for j in range(2):
            q = math.sqrt(2.0 * he[j] / p.gme)
            the.append((0.65 * p.dh * (q / dl[j] - 1.0) - 2.0 * he[j]) / q)
        p.he, p.dl, p.the = he, dl, the
    else:
        za, _ = _fit_line(z, step, xl0, 0.9 * p.dl[0])
        _, zb = _fit_line(z, step, p.dist - 0.9 * p.dl[1], xl1)
        p.he = [p.hg[0] + max(z[0] - za, 0.0), p.hg[1] + max(z[n] - zb, 0.0)]

"""ITM's variability: the climate curves of time variability and the quantiles of
time, location and situation (Hufford's avar), for `_itm_reference`.

The fitted constants are NBS Technical Note 101's, as ITM 1.2.2 tabulates them;
``_itm_reference`` and ``ext/itm.pyx`` use the same numbers.
"""

from __future__ import annotations

import math

__all__ = ["CLIMATES", "qerfi", "variability_db"]

_THIRD = 1.0 / 3.0

# Radio climates, ITM codes 1..7.
CLIMATES = {
    1: "equatorial", 2: "continental subtropical", 3: "maritime subtropical", 4: "desert",
    5: "continental temperate", 6: "maritime temperate over land",
    7: "maritime temperate over sea",
}


# Climate curve coefficients for the time variability (NBS TN101 / ITM 1.2.2 avar),
# one column per climate 1..7.
_BV1 = (-9.67, -0.62, 1.26, -9.21, -0.62, -0.39, 3.15)
_BV2 = (12.7, 9.19, 15.5, 9.05, 9.19, 2.86, 857.9)
_XV1 = (144.9e3, 228.9e3, 262.6e3, 84.1e3, 228.9e3, 141.7e3, 2222.e3)
_XV2 = (190.3e3, 205.2e3, 185.2e3, 101.1e3, 205.2e3, 315.9e3, 164.8e3)
_XV3 = (133.8e3, 143.6e3, 99.8e3, 98.6e3, 143.6e3, 167.4e3, 116.3e3)
_BSM1 = (2.13, 2.66, 6.11, 1.98, 2.68, 6.86, 8.51)
_BSM2 = (159.5, 7.67, 6.65, 13.11, 7.16, 10.38, 169.8)
_XSM1 = (762.2e3, 100.4e3, 138.2e3, 139.1e3, 93.7e3, 187.8e3, 609.8e3)
_XSM2 = (123.6e3, 172.5e3, 242.2e3, 132.7e3, 186.8e3, 169.6e3, 119.9e3)
_XSM3 = (94.5e3, 136.4e3, 178.6e3, 193.5e3, 133.5e3, 108.9e3, 106.6e3)
_BSP1 = (2.11, 6.87, 10.08, 3.68, 4.75, 8.58, 8.43)
_BSP2 = (102.3, 15.53, 9.60, 159.3, 8.12, 13.97, 8.19)
_XSP1 = (636.9e3, 138.7e3, 165.3e3, 464.4e3, 93.2e3, 216.0e3, 136.2e3)
_XSP2 = (134.8e3, 143.7e3, 225.7e3, 93.1e3, 135.9e3, 152.0e3, 188.5e3)
_XSP3 = (95.6e3, 98.6e3, 129.7e3, 94.2e3, 113.4e3, 122.7e3, 122.9e3)
_BSD1 = (1.224, 0.801, 1.380, 1.000, 1.224, 1.518, 1.518)
_BZD1 = (1.282, 2.161, 1.282, 20., 1.282, 1.282, 1.282)
_BFM1 = (1., 1., 1., 1., 0.92, 1., 1.)
_BFM2 = (0., 0., 0., 0., 0.25, 0., 0.)
_BFM3 = (0., 0., 0., 0., 1.77, 0., 0.)
_BFP1 = (1., 0.93, 1., 0.93, 0.93, 1., 1.)
_BFP2 = (0., 0.31, 0., 0.19, 0.31, 0., 0.)
_BFP3 = (0., 2.00, 0., 1.79, 2.00, 0., 0.)


def qerfi(q: float) -> float:
    """Standard normal deviate exceeded with probability ``q`` (ITM's Hastings
    approximation, error under 4.5e-4; the model's quantiles are defined with it)."""
    x = 0.5 - q
    t = max(0.5 - abs(x), 0.000001)
    t = math.sqrt(-2.0 * math.log(t))
    v = t - ((0.010328 * t + 0.802853) * t + 2.515516698) / (
        ((0.001308 * t + 0.189269) * t + 1.432788) * t + 1.0)
    return -v if x < 0.0 else v


def _curve(c1, c2, x1, x2, x3, de) -> float:
    return (c1 + c2 / (1.0 + ((de - x2) / x3) ** 2)) * ((de / x1) ** 2) / (1.0 + (de / x1) ** 2)


def variability_db(p, climate: int, mdvar: int, zt: float, zl: float,
                    zc: float) -> float:
    """Attenuation at the requested time/location/situation deviates (ITM's avar)."""
    k = climate - 1
    kdv = mdvar
    no_situation = kdv >= 20
    if no_situation:
        kdv -= 20
    no_location = kdv >= 10
    if no_location:
        kdv -= 10
    q = math.log(0.133 * p.wn)
    gm = _BFM1[k] + _BFM2[k] / ((_BFM3[k] * q) ** 2 + 1.0)
    gp = _BFP1[k] + _BFP2[k] / ((_BFP3[k] * q) ** 2 + 1.0)
    dexa = (math.sqrt(18e6 * p.he[0]) + math.sqrt(18e6 * p.he[1])
            + (575.7e12 / p.wn) ** _THIRD)
    if p.dist < dexa:
        de = 130e3 * p.dist / dexa
    else:
        de = 130e3 + p.dist - dexa
    vmd = _curve(_BV1[k], _BV2[k], _XV1[k], _XV2[k], _XV3[k], de)
    sgtm = _curve(_BSM1[k], _BSM2[k], _XSM1[k], _XSM2[k], _XSM3[k], de) * gm
    sgtp = _curve(_BSP1[k], _BSP2[k], _XSP1[k], _XSP2[k], _XSP3[k], de) * gp
    sgtd = sgtp * _BSD1[k]
    zd = _BZD1[k]
    tgtd = (sgtp - sgtd) * zd
    if no_location:
        sgl = 0.0
    else:
        q = (1.0 - 0.8 * math.exp(-p.dist / 50e3)) * p.dh * p.wn
        sgl = 10.0 * q / (q + 13.0)
    vs0 = 0.0 if no_situation else (5.0 + 3.0 * math.exp(-de / 100e3)) ** 2
    if kdv == 0:
        zt = zc
        zl = zc
    elif kdv == 1:
        zl = zc
    elif kdv == 2:
        zl = zt
    if abs(zt) > 3.1 or abs(zl) > 3.1 or abs(zc) > 3.1:
        p.kwx = max(p.kwx, 1)
    if zt < 0.0:
        sgt = sgtm
    elif zt <= zd:
        sgt = sgtp
    else:
        sgt = sgtd + tgtd / zt
    vs = vs0 + (sgt * zt) ** 2 / (7.8 + zc * zc) + (sgl * zl) ** 2 / (24.0 + zc * zc)
    if kdv == 0:
        yr = 0.0
        sgc = math.sqrt(sgt * sgt + sgl * sgl + vs)
    elif kdv == 1:
        yr = sgt * zt
        sgc = math.sqrt(sgl * sgl + vs)
    elif kdv == 2:
        yr = math.sqrt(sgt * sgt + sgl * sgl) * zt
        sgc = math.sqrt(vs)
    else:
        yr = sgt * zt + sgl * zl
        sgc = math.sqrt(vs)
    a = p.aref - vmd - yr - sgc * zc
    if a < 0.0:
        a = a * (29.0 - a) / (29.0 - 10.0 * a)
    return a

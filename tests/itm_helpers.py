"""The independent ITM reference for the tests: NTIA's ITM 1.2.2 as ported by the
`itmlogic` package (Oughton et al., JOSS 2020), driven in point-to-point mode.

itmlogic's own `qlrpfl` reads the receiver's ground at the second-to-last profile
point on line-of-sight paths (``pfl[np+1]``) where NTIA's C++ and Fortran read the
last one (``pfl[np+2]``); `itmlogic_point_to_point_db` therefore runs itmlogic's
horizon, irregularity, least-squares, lrprop and avar routines through a short
point-to-point driver with NTIA's index. Everything numeric is itmlogic's code.
"""

from __future__ import annotations

import math

import numpy as np
from itmlogic.lrprop import lrprop
from itmlogic.preparatory_subroutines.dlthx import dlthx
from itmlogic.preparatory_subroutines.hzns import hzns
from itmlogic.preparatory_subroutines.zlsq1 import zlsq1
from itmlogic.statistics.avar import avar

# Crystal Palace (south London) to Mursley: the classic profile of NTIA's qkpfl
# test program, 77.8 km, 157 points, as shipped with itmlogic's examples.
CRYSTAL_PALACE_MURSLEY_M = (
    96, 84, 65, 46, 46, 46, 61, 41, 33, 27, 23, 19, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 17, 19, 21, 23, 25, 27, 29, 35, 46, 41, 35, 30, 33, 35, 37, 40, 35, 30, 51, 62,
    76, 46, 46, 46, 46, 46, 46, 50, 56, 67, 106, 83, 95, 112, 137, 137, 76, 103, 122, 122,
    83, 71, 61, 64, 67, 71, 74, 77, 79, 86, 91, 83, 76, 68, 63, 76, 107, 107, 107, 119, 127,
    133, 135, 137, 142, 148, 152, 152, 107, 137, 104, 91, 99, 120, 152, 152, 137, 168, 168,
    122, 137, 137, 170, 183, 183, 187, 194, 201, 192, 152, 152, 166, 177, 198, 156, 127, 116,
    107, 104, 101, 98, 95, 103, 91, 97, 102, 107, 107, 107, 103, 98, 94, 91, 105, 122, 122,
    122, 122, 122, 137, 137, 137, 137, 137, 137, 137, 137, 140, 144, 147, 150, 152, 159,
)
CRYSTAL_PALACE_MURSLEY_KM = 77.8


def _qlrpfl(prop: dict) -> dict:
    pfl, hg, gme = prop["pfl"], prop["hg"], prop["gme"]
    n = pfl[0]
    prop["dist"] = n * pfl[1]
    prop["the"], prop["dl"] = hzns(pfl, prop["dist"], hg, gme)
    xl = [min(15 * hg[j], 0.1 * prop["dl"][j]) for j in range(2)]
    xl[1] = prop["dist"] - xl[1]
    prop["dh"] = dh = dlthx(pfl, xl[0], xl[1])

    def horizon(he):
        return math.sqrt(2 * he / gme) * math.exp(-0.07 * math.sqrt(dh / max(he, 5)))

    if prop["dl"][0] + prop["dl"][1] > 1.5 * prop["dist"]:
        za, zb = zlsq1(pfl, xl[0], xl[1])
        he = [hg[0] + max(pfl[2] - za, 0), hg[1] + max(pfl[n + 2] - zb, 0)]
        dl = [horizon(h) for h in he]
        q = dl[0] + dl[1]
        if q <= prop["dist"]:
            q = (prop["dist"] / q) ** 2
            he = [h * q for h in he]
            dl = [horizon(h) for h in he]
        the = []
        for j in range(2):
            q = math.sqrt(2 * he[j] / gme)
            the.append((0.65 * dh * (q / dl[j] - 1) - 2 * he[j]) / q)
        prop["he"], prop["dl"], prop["the"] = he, dl, the
    else:
        za, _ = zlsq1(pfl, xl[0], 0.9 * prop["dl"][0])
        _, zb = zlsq1(pfl, prop["dist"] - 0.9 * prop["dl"][1], xl[1])
        prop["he"] = [hg[0] + max(pfl[2] - za, 0), hg[1] + max(pfl[n + 2] - zb, 0)]
    prop["mdp"] = -1
    prop["mdvar"] = prop["mdvarx"]
    prop["klim"] = prop["klimx"]
    prop["lvar"] = 5
    return lrprop(0, prop)


def itmlogic_point_to_point_db(elevation_m, step_m, tx_height_m, rx_height_m, freq_hz, *,
                               climate, permittivity, conductivity_s_m, refractivity_n,
                               vertical, mdvar, z_time, z_location, z_situation,
                               system_elevation) -> float:
    """Basic transmission loss (dB) by itmlogic's routines, same arguments as
    `coverage_net.radio._itm_reference.point_to_point_db`."""
    z = [float(v) for v in elevation_m]
    fmhz = freq_hz / 1e6
    prop = {"hg": [float(tx_height_m), float(rx_height_m)], "pfl": [len(z) - 1, step_m, *z],
            "kwx": 0, "wn": fmhz / 47.7, "ens": refractivity_n, "klimx": climate,
            "mdvarx": mdvar, "lvar": 5}
    if system_elevation != 0:
        prop["ens"] *= math.exp(-system_elevation / 9460)
    prop["gme"] = 157e-9 * (1 - 0.04665 * math.exp(prop["ens"] / 179.3))
    zq = complex(permittivity, 376.62 * conductivity_s_m / prop["wn"])
    prop["zgnd"] = np.sqrt(zq - 1)
    if vertical:
        prop["zgnd"] = prop["zgnd"] / zq
    prop = _qlrpfl(prop)
    a, _ = avar(z_time, z_location, z_situation, prop)
    return 8.685890 * math.log(2 * prop["wn"] * prop["dist"]) + a

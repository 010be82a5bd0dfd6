"""Collision rules with timing: which overlapping same-SF frame a LoRa receiver loses.

A LoRa receiver locks onto the first preamble it detects, and it needs the last
few symbols of a preamble to do so. The channel's older rules (`"simple"`,
`"capture"`, `"inter-sf"`) judge an interferer by power alone, whenever it
overlaps; the two rules here also ask *when* it overlaps. Each is a pure
function of one frame, one interferer and their received powers at a set of
receivers (arrays), so the channel applies it pairwise, as LoRaSim does.

Both assume the LoRaWAN preamble of `PREAMBLE_SYMBOLS` = 8 programmed symbols.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CRITICAL_PREAMBLE_SYMBOLS", "PREAMBLE_SYMBOLS", "capture_lock_lost",
           "capture_timing_lost", "critical_section_hit"]

PREAMBLE_SYMBOLS = 8
"""Programmed preamble symbols of a LoRaWAN frame (LoRaSim assumes the same)."""

CRITICAL_PREAMBLE_SYMBOLS = 5
"""Preamble symbols a receiver needs to lock (Bor et al. 2016, sec. 4; LoRaSim's
`timingCollision`): a frame survives losing the first 8 - 5 = 3 of them."""


def symbol_s(spreading_factor: int, bandwidth_hz: int) -> float:
    return 2.0 ** spreading_factor / bandwidth_hz


def critical_section_hit(me_start_s: float, me_sf: int, me_bw_hz: int,
                         other_end_s: float) -> bool:
    """Whether an overlapping frame that ends at ``other_end_s`` reaches into my critical
    section, which begins once all but the last `CRITICAL_PREAMBLE_SYMBOLS` of my preamble
    are on the air (Bor et al., MSWiM 2016, sec. 4: an interferer that is over before
    then leaves the receiver free to lock onto my preamble)."""
    spare = PREAMBLE_SYMBOLS - CRITICAL_PREAMBLE_SYMBOLS
    return other_end_s > me_start_s + spare * symbol_s(me_sf, me_bw_hz)


def capture_timing_lost(me_start_s: float, me_sf: int, me_bw_hz: int, other_end_s: float,
                        me_dbm: np.ndarray, other_dbm: np.ndarray,
                        threshold_db: float) -> np.ndarray:
    """Receivers (bool array) at which my frame is lost to one overlapping same-SF frame.

    Rule of Bor, Roedig, Voigt and Alonso, "Do LoRa low-power wide-area networks
    scale?", MSWiM 2016, sec. 4 (LoRaSim's full collision check): the frame is lost
    only if the interferer overlaps its critical section (`critical_section_hit`)
    *and* it is not at least ``threshold_db`` (6 dB in the paper) stronger than the
    interferer. When two frames are within the threshold of each other both are
    lost; otherwise the weaker one is.
    """
    if not critical_section_hit(me_start_s, me_sf, me_bw_hz, other_end_s):
        return np.zeros(np.shape(me_dbm), bool)
    return me_dbm - other_dbm < threshold_db


def capture_lock_lost(me_start_s: float, me_sf: int, me_bw_hz: int, other_start_s: float,
                      other_end_s: float, other_sf: int, other_bw_hz: int,
                      me_dbm: np.ndarray, other_dbm: np.ndarray,
                      threshold_db: float) -> np.ndarray:
    """`capture_timing_lost`, plus: a later frame cannot take a receiver already locked.

    After Rahmadhani and Kuipers, "When LoRaWAN frames collide", WiNTECH 2018, as we
    read their measurements of colliding frames at LoRaWAN gateways: the receiver
    synchronises to the first frame it detects; a later, stronger frame can still
    take it while the first frame is in its preamble, but once the first frame's
    preamble is over the receiver stays with it and the later frame is lost
    whatever its power. (The paper's text was not at hand when this was written:
    the preamble boundary below is our reading, not a figure quoted from it.)
    The rule implemented:

    * an interferer that ends before my critical section spares me (as Bor et al.);
    * if the interferer started first and I start after its `PREAMBLE_SYMBOLS`
      preamble symbols, I am lost (the receiver is locked onto it);
    * otherwise the power rule of Bor et al.: I am lost unless I am at least
      ``threshold_db`` stronger (a later frame that arrives within the first
      frame's preamble and is that much stronger takes the receiver).

    So it never delivers more than `capture_timing_lost`.
    """
    lost = capture_timing_lost(me_start_s, me_sf, me_bw_hz, other_end_s, me_dbm, other_dbm,
                               threshold_db)
    if not critical_section_hit(me_start_s, me_sf, me_bw_hz, other_end_s):
        return lost
    locked_s = other_start_s + PREAMBLE_SYMBOLS * symbol_s(other_sf, other_bw_hz)
    if other_start_s < me_start_s and me_start_s >= locked_s:
        return np.ones(np.shape(me_dbm), bool)
    return lost

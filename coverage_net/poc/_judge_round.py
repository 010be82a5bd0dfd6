"""One challenge round judged: the round's checks, the beacon's, and the physics of its witnesses.

`verify_epoch` (`_verify`) calls `_judge_round` for every round whose challenge and
beacon report are valid; what it returns (`_JudgedRound`: the witnesses that passed
the static checks, with their raw figures as columns) goes on to the epoch's
per-hotspot pass and the verdicts. See `_verify`'s module doc for the checks themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import h3
import numpy as np
from h3.api import basic_int as h3_int

from coverage_net.messages import BeaconReport, Challenge, WitnessReport
from coverage_net.radio import (
    MAX_REPORTED_SNR_DB,
    get_region,
    sensitivity_dbm,
    thermal_noise_floor_dbm,
)

from ._arrival import ClockRows, arrival_excess_ms, timed_reports
from ._beacon import beacon_payload
from ._link_history import LinkObservation
from ._normal import PHI_PPM, PHI_STEP_CENTI
from ._params import NetworkParams
from ._predict import PathPredictor
from ._registry import Registry
from ._secret import secret_hash
from ._select import challenger_for
from ._verdict import Reason, Verdict

__all__: list[str] = []  # private to coverage_net.poc

_PPM = 1_000_000
_NEAR_FOR_GRID_M = 5_000  # beyond this the H3 grid distance check cannot fail
_MAX_REPORTED_SNR_CENTI_DB = round(MAX_REPORTED_SNR_DB * 100)  # a modem's SNR saturates

BEACON = BeaconReport.TYPE
WITNESS = WitnessReport.TYPE

# --- helpers -------------------------------------------------------------------------


def _figs(**values: int) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(values.items()))


def _verdict(report: BeaconReport | WitnessReport, epoch: int, reason: Reason,
             figures: tuple[tuple[str, int], ...] = (), **extra: object) -> Verdict:
    return Verdict.checked_elsewhere(
        report_id=report.content_id, report_type=report.TYPE, challenge_id=report.challenge_id,
        epoch=epoch, hotspot_key=report.signer_key, valid=reason is Reason.VALID, reason=reason,
        figures=figures, **extra)


@lru_cache(maxsize=64)
def _floors_centi_dbm(spreading_factor: int, bandwidth_hz: int,
                      noise_figure_centi_db: int) -> tuple[int, int]:
    """(sensitivity, thermal noise floor) in centi-dBm for this data rate and noise figure."""
    nf_db = noise_figure_centi_db / 100
    sens = float(sensitivity_dbm(spreading_factor, bandwidth_hz, nf_db))
    noise = float(thermal_noise_floor_dbm(bandwidth_hz, nf_db))
    return round(sens * 100), round(noise * 100)


_PHYSICS_REASONS = (Reason.VALID, Reason.TOO_CLOSE, Reason.TOO_FAR, Reason.RSSI_ABOVE_FREE_SPACE,
                    Reason.RSSI_TOO_STRONG, Reason.RSSI_TOO_WEAK, Reason.BELOW_SENSITIVITY,
                    Reason.SNR_INCONSISTENT, Reason.ARRIVAL_LATE)
"""The physics checks of a witness (code = index); applied in this order except arrival,
which comes first: a report of a rebroadcast says nothing of the beaconer's path."""
_LATE = _PHYSICS_REASONS.index(Reason.ARRIVAL_LATE)
_NOT_HEARD = (1, 2, _LATE)  # codes of reports that do not tell of the beaconer's path
_PHI = np.asarray(PHI_PPM, dtype=np.int64)


def _centi_sigma(delta_centi_db: np.ndarray, sigma_centi_db: int) -> np.ndarray:
    """Signed centi-sigma of centi-dB differences, rounded toward zero (integers only)."""
    return np.sign(delta_centi_db) * (np.abs(delta_centi_db) * 100 // sigma_centi_db)


def _grid_cells(a: int, b: int) -> int:
    try:  # on the cells as ints: no conversion to strings and back
        return int(h3_int.grid_distance(a, b))
    except h3.H3BaseException:  # too far apart for a grid path: certainly not too close
        return 1 << 30


@dataclass
class _Round:
    challenge: Challenge | None
    beacons: list[BeaconReport] = field(default_factory=list)
    witnesses: list[WitnessReport] = field(default_factory=list)


# --- the round --------------------------------------------------------------------------


def _challenge_reason(ch: Challenge | None, epoch: int, registry: Registry,
                      params: NetworkParams, selected: set[bytes], entropy: bytes) -> Reason:
    if ch is None or ch.epoch != epoch:
        return Reason.CHALLENGE_UNKNOWN
    if ch.challenger_key not in params.validators:
        return Reason.CHALLENGER_NOT_VALIDATOR
    if ch.challengee_key not in registry:
        return Reason.CHALLENGEE_UNKNOWN
    chosen = challenger_for(entropy, epoch, ch.challengee_key, params.validators)
    if ch.challengee_key not in selected or chosen != ch.challenger_key:
        return Reason.NOT_SELECTED
    return Reason.VALID


def _beacon_reason(report: BeaconReport, ch: Challenge, registry: Registry,
                   params: NetworkParams) -> tuple[Reason, bytes | None]:
    """The beacon report's reason and, when it is valid, the derived payload hash."""
    if report.hotspot_key != ch.challengee_key:
        return Reason.NOT_CHALLENGEE, None
    if secret_hash(report.secret) != ch.secret_hash:
        return Reason.SECRET_MISMATCH, None
    if not ch.timestamp_ms <= report.host_time_ms <= ch.timestamp_ms + params.challenge_window_ms:
        return Reason.OUTSIDE_WINDOW, None
    hotspot = registry.get(report.hotspot_key)
    assert hotspot is not None
    beacon = params.regions.get(hotspot.region)
    if beacon is None:
        return Reason.WRONG_CHANNEL, None
    if (report.spreading_factor, report.bandwidth_hz) != (beacon.spreading_factor,
                                                          beacon.bandwidth_hz):
        return Reason.WRONG_DATA_RATE, None
    if report.freq_hz != beacon.freq_hz:
        return Reason.WRONG_CHANNEL, None
    payload = beacon_payload(report.secret, ch.content_id, hotspot.region,
                             spreading_factor=beacon.spreading_factor,
                             bandwidth_hz=beacon.bandwidth_hz)
    payload_hash = hashlib.sha256(payload).digest()
    if report.payload_hash != payload_hash:
        return Reason.PAYLOAD_MISMATCH, None
    if report.eirp_centi_dbm > round(get_region(hotspot.region).max_eirp_dbm * 100):
        return Reason.EIRP_OVER_LIMIT, None
    return Reason.VALID, payload_hash


@dataclass(frozen=True, slots=True)
class _Clock:
    """What the arrival-time check (`coverage_net.poc._arrival`) needs in every round."""

    offset_ms: np.ndarray
    """Per registry index, the host's solved clock offset."""
    known: np.ndarray
    """Per registry index, whether that offset is known (`ClockLedger.arrays`)."""
    delay_ms: int
    max_excess_ms: int
    rows: list[ClockRows]
    """Each judged round appends its witnesses, beaconer and lags here."""
    pending: list[tuple]
    """Each judged round appends here its untimed hits the model does not find likely:
    ``(link observation, witness key, beaconer key, lag ms)``, timed once both clocks are
    known (`coverage_net.poc._arrival.ClockLedger.pending`)."""


@dataclass(frozen=True, slots=True)
class _RoundFigures:
    """What every witness verdict of one round shares (built once per round)."""

    neighbours_likely: tuple[str, int]
    neighbours_likely_heard: tuple[str, int]
    sensitivity: tuple[str, int]
    heard: tuple[bytes, ...]
    silent: tuple[bytes, ...]


WITNESS_FIGURES = ("arrival_excess_ms", "deviation_centi_sigma", "distance_m",
                   "expected_snr_centi_db", "free_space_rssi_centi_dbm", "freq_offset_hz",
                   "lag_ms", "margin_centi_sigma", "measured_rssi_centi_dbm",
                   "modelled_rssi_centi_dbm", "snr_centi_db")
"""The names of a witness's own figures, sorted: the columns of `_JudgedRound.columns`."""


@dataclass(slots=True)
class _JudgedRound:
    """One round's witnesses that reached the physics (those that passed the static
    checks), in content-id order, with their working figures as columns: entry ``k`` of
    every list is witness ``k``'s.

    `columns` hold the witnesses' own figures, one list per name of `WITNESS_FIGURES`;
    they become the verdicts' named figures only in `_witness_verdicts`, beside the
    hotspot's (`hotspot`, ``hotspot_*``), known once the epoch's history is advanced.
    `reasons` start as the physics' and the neighbours' and are amended by the epoch's
    per-hotspot pass.
    """

    reports: list[WitnessReport]
    reasons: list[Reason]
    columns: tuple[list[int], ...]
    shared: _RoundFigures
    hotspot: list[tuple[tuple[str, int], ...]]


def _static_reasons(witnesses: list[WitnessReport], beacon: BeaconReport, payload_hash: bytes,
                    registry: Registry, params: NetworkParams, epoch: int,
                    out: dict[bytes, Verdict]) -> tuple[list[WitnessReport], list[int]]:
    """The checks that need no model, on the round's `witnesses` in content-id order: a
    verdict for each witness that fails one (a later report of the same witness is a
    duplicate); the others (and their registry indices) go on to the physics. One loop with
    the round's constants held in locals, since it runs once per witness."""
    hotspots = registry.by_key
    tx_key = beacon.hotspot_key
    tx_region = hotspots[tx_key].region
    spreading_factor, bandwidth_hz = beacon.spreading_factor, beacon.bandwidth_hz
    freq_hz, host_time_ms = beacon.freq_hz, beacon.host_time_ms
    tolerance_hz = params.verifier.freq_tolerance_hz
    max_lag_ms = params.verifier.max_arrival_lag_ms
    passed: list[WitnessReport] = []
    indices: list[int] = []
    seen: set[bytes] = set()
    for w in witnesses:
        if w.witness_key in seen:  # not the first of this witness's reports by content id
            out[w.content_id] = _verdict(w, epoch, Reason.DUPLICATE)
            continue
        seen.add(w.witness_key)
        me = hotspots.get(w.witness_key)
        if me is None:
            reason = Reason.WITNESS_UNKNOWN
        elif w.witness_key == tx_key:
            reason = Reason.SELF_WITNESS
        elif me.region != tx_region:
            reason = Reason.REGION_MISMATCH
        elif w.payload_hash != payload_hash:
            reason = Reason.PAYLOAD_MISMATCH
        elif w.spreading_factor != spreading_factor or w.bandwidth_hz != bandwidth_hz:
            reason = Reason.WRONG_DATA_RATE
        elif abs(w.freq_hz - freq_hz) > tolerance_hz:
            reason = Reason.FREQ_OUT_OF_TOLERANCE
        elif abs(w.host_time_ms - host_time_ms) > max_lag_ms:
            reason = Reason.LAG_TOO_LARGE
        else:
            passed.append(w)
            indices.append(me.index)
            continue
        out[w.content_id] = _verdict(w, epoch, reason, (
            ("freq_offset_hz", w.freq_hz - freq_hz), ("lag_ms", w.host_time_ms - host_time_ms)))
    return passed, indices


def _judge_round(rnd: _Round, beacon: BeaconReport, payload_hash: bytes, epoch: int,
                 registry: Registry, params: NetworkParams, predictor: PathPredictor,
                 out: dict[bytes, Verdict], links: list[LinkObservation],
                 snr_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 clock: _Clock) -> _JudgedRound:
    """Judge the witnesses of one round with a valid beacon; returns those judged by physics
    (and appends their registry indices, SNRs and expected SNRs to `snr_rows`, their lags
    to ``clock.rows``)."""
    v = params.verifier
    tx = registry.by_key[beacon.hotspot_key]
    reports, indices = _static_reasons(rnd.witnesses, beacon, payload_hash, registry, params,
                                       epoch, out)
    witness_idx = np.asarray(indices, dtype=np.int64)
    neighbours = registry.near(tx.index, v.neighbour_radius_m)
    receivers = np.union1d(neighbours, witness_idx).astype(np.int64)
    receivers = receivers[receivers != tx.index]
    loss = predictor.loss_centi_db(registry, tx.index, receivers, beacon.freq_hz)
    dist = registry.distances_m(tx.index, receivers)
    sigma = v.rssi_sigma_centi_db
    sens, noise = _floors_centi_dbm(beacon.spreading_factor, beacon.bandwidth_hz,
                                    v.noise_figure_centi_db)
    modelled = beacon.eirp_centi_dbm - loss + registry.gain_centi_dbi[receivers]
    margin = _centi_sigma(modelled - sens, sigma)
    likely_cut = v.likely_margin_centi_sigma

    # every witness at once: integers in numpy, one reason code each
    n = len(reports)
    at = np.searchsorted(receivers, witness_idx)
    d, mod, marg = dist[at], modelled[at], margin[at]
    # one flat list per field (numpy parses a list of tuples far slower)
    measured = np.rint(np.array([w.rssi_dbm for w in reports], dtype=np.float64) * 100).astype(
        np.int64)
    snr = np.rint(np.array([w.snr_db for w in reports], dtype=np.float64) * 100).astype(np.int64)
    lag = np.array([w.host_time_ms for w in reports], dtype=np.int64) - beacon.host_time_ms
    freq_offset = np.array([w.freq_hz for w in reports], dtype=np.int64) - beacon.freq_hz
    fs_rssi = (beacon.eirp_centi_dbm - PathPredictor.free_space_loss_centi_db(d, beacon.freq_hz)
               + registry.gain_centi_dbi[witness_idx])
    residual = measured - mod
    deviation = _centi_sigma(residual, sigma)
    expected_snr = np.minimum(measured - noise, _MAX_REPORTED_SNR_CENTI_DB)
    timed = timed_reports(witness_idx, tx.index, clock.known)
    excess = arrival_excess_ms(lag, witness_idx, tx.index, clock.offset_ms, timed,
                               clock.delay_ms)
    too_close = np.zeros(n, dtype=bool)
    for k in np.flatnonzero(d < _NEAR_FOR_GRID_M).tolist():
        too_close[k] = _grid_cells(tx.cell_res11, registry.by_key[
            reports[k].witness_key].cell_res11) < v.min_distance_res11_cells
    physics = [too_close, d > v.max_distance_m,
               measured > fs_rssi + v.free_space_allowance_centi_db,
               deviation > v.max_k_sigma_centi, deviation < -v.max_k_sigma_centi,
               measured < sens - v.snr_tolerance_centi_db,
               np.abs(snr - expected_snr) > v.snr_tolerance_centi_db]
    code = np.select(physics, range(1, _LATE), 0)
    # the clocks are solved from the reports valid by the physics, late or not (the
    # solve's own refits drop the repeats; a report judged late by a clock gone wrong
    # must still be able to set it right)
    valid = code == 0
    clock.rows.append((witness_idx[valid], tx.index, lag[valid]))
    code[excess > clock.max_excess_ms] = _LATE  # checked before the physics
    # while a host's clock is not known (a cold start), a hit the model does not find
    # likely could be a repeat: its link waits until both clocks are (`clock.pending`)
    wait = ~timed & (marg < likely_cut)
    snr_rows.append((witness_idx, snr, expected_snr))  # a repeat's SNR is a real reception's
    code = code.tolist()
    lags = lag.tolist()
    # not too close or too far, nor heard again: the hotspot claims to have heard it
    # (its residual goes into the link); heard again: its link says nothing
    heard: dict[bytes, int] = {}
    repeated: set[bytes] = set()
    waiting: dict[bytes, int] = {}
    for w, c, x, a, r in zip(reports, code, lags, wait.tolist(), residual.tolist(),
                             strict=True):
        if c == _LATE:
            repeated.add(w.witness_key)
        elif c not in _NOT_HEARD:
            heard[w.witness_key] = r
            if a:
                waiting[w.witness_key] = x

    # neighbours: who the model says should have heard, and who did
    keys = registry.keys
    likely_keys = [keys[r] for r in receivers[margin >= likely_cut].tolist()]
    likely_heard = tuple(sorted(k for k in likely_keys if k in heard))
    likely_silent = tuple(sorted(k for k in likely_keys if k not in heard))
    inconsistent = (len(likely_keys) >= v.min_likely_neighbours and not likely_heard
                    and n > 0 and bool(np.all(marg <= -likely_cut)))
    beacon_heard = bool(heard)
    neighbour_set = set(neighbours.tolist())
    p_ppm = _PHI[np.clip((margin + 500) // PHI_STEP_CENTI, 0, len(_PHI) - 1)].tolist()
    beaconer = beacon.hotspot_key
    for r, p, above in zip(receivers.tolist(), p_ppm, (modelled - sens).tolist(), strict=True):
        key = keys[r]
        res = heard.get(key)
        if (res is not None or r in neighbour_set) and key not in repeated:
            link = (epoch, beaconer, key, p, res is not None, beacon_heard,  # LinkObservation's
                    res or 0, above)  # fields, as a plain tuple
            if key in waiting:
                clock.pending.append((link, key, beaconer, waiting[key]))
            else:
                links.append(link)
    reasons = [_PHYSICS_REASONS[c] for c in code]
    if inconsistent:
        reasons = [Reason.NEIGHBOUR_INCONSISTENT if r is Reason.VALID else r for r in reasons]
    shared = _RoundFigures(("neighbours_likely", len(likely_keys)),
                           ("neighbours_likely_heard", len(likely_heard)),
                           ("sensitivity_centi_dbm", sens), likely_heard, likely_silent)
    judged = _JudgedRound(reports, reasons, (
        excess.tolist(), deviation.tolist(), d.tolist(), expected_snr.tolist(),
        fs_rssi.tolist(), freq_offset.tolist(), lags, marg.tolist(), measured.tolist(),
        mod.tolist(), snr.tolist()), shared, [()] * n)
    rnd_figs = _figs(eirp_centi_dbm=beacon.eirp_centi_dbm, witnesses=n,
                     neighbours_likely=len(likely_keys), neighbours_likely_heard=len(likely_heard),
                     sensitivity_centi_dbm=sens)
    out[beacon.content_id] = _verdict(
        beacon, epoch, Reason.NEIGHBOUR_INCONSISTENT if inconsistent else Reason.VALID, rnd_figs,
        neighbours_heard=likely_heard, neighbours_silent=likely_silent)
    return judged


def _beaconer_key(report: BeaconReport) -> bytes:
    return report.hotspot_key


def _firsts(reports: list, key: Callable[[Any], bytes], epoch: int,
            out: dict[bytes, Verdict]) -> list:
    """The first report per `key` of `reports` (already in content-id order); the others are
    judged duplicates."""
    seen: set[bytes] = set()
    firsts = []
    for r in reports:
        k = key(r)
        if k in seen:
            out[r.content_id] = _verdict(r, epoch, Reason.DUPLICATE)
        else:
            seen.add(k)
            firsts.append(r)
    return firsts

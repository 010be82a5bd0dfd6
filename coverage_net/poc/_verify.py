"""`verify_epoch`: the verdict on every report of an epoch, from physics and neighbours.

A pure function of (the epoch's challenges, beacon reports and witness reports;
the registry of announced hotspots; the network parameters; the
propagation model; the epoch's entropy; the link history of earlier epochs) to
(a `Verdict` per report, the new link history). No I/O, clock or randomness, and
every decision is taken on integers (centi-dB, centi-sigma, metres, ms, ppm), so
the same inputs give byte-identical verdicts on any machine, in any input order
and with any kernel thread count.

Messages are taken as decoded: `coverage_net.messages.decode` has checked each
signature at ingest (see ``bench/verify.py`` for what that costs).

Checks, in the order a report meets them (the first that fails is its reason):

* the round: the challenge exists, is signed by a validator, names the
  challenger and challengee the epoch's entropy selected, and the challengee is
  announced;
* the beacon report: signed by the challengee (else ``not_challengee``), first of
  its reports by content id (``duplicate``), the revealed secret hashes to the
  challenge's, host time inside the window, payload, channel and data rate match
  the derivation, stated EIRP within the region's limit;
* each witness report: one per witness and round (``duplicate``), announced, not
  the beaconer, same region, the beacon's payload hash and data rate, frequency
  within tolerance, host time within the lag of the beacon's, at least
  ``min_distance_res11_cells`` H3 res-11 cells and at most ``max_distance_m`` away;
  then the physics of the asserted path: RSSI not above free space, not below sensitivity, within
  ``max_k_sigma`` of the terrain-aware model on both sides, SNR consistent with
  RSSI and the noise floor; then the neighbours (below); then its radio clock
  against the same hotspot's other reports of the epoch; then the rate limit.

Neighbours. For each beacon the model predicts the RSSI at every announced hotspot
within ``neighbour_radius_m`` (one batched kernel call with the witnesses). A
receiver is *likely* to hear when its modelled margin over sensitivity is at least
``likely_margin`` sigmas, *unlikely* when at least that far below.

* Beacon level: if at least ``min_likely_neighbours`` likely hearers exist, none of
  them heard it, and every witness is unlikely, the beacon and all its witnesses are
  ``neighbour_inconsistent``.
* Hotspot level: every (beaconer, receiver) link judged is kept for
  ``hotspot_window_epochs``. A hotspot's anomalies are its improbable hits (links
  on which it heard, as receiver, or was heard, as beaconer, where the model gives
  less than the unlikely probability) and its probable misses (likely links, as
  receiver or beaconer, never heard in the window although the beacon was heard by
  someone). Their expectation is the model's own probability summed over the same
  links. A hotspot whose anomalies exceed the expectation by ``hotspot_z`` Poisson
  deviations (and at least ``hotspot_min_anomalies``) is flagged: its reports of
  the epoch that passed every other check become ``hotspot_inconsistent``.

Rewarded witnesses: the valid ones, at most ``max_rewarded_witnesses`` per beacon,
in the order of SHA-256(entropy || report id), never by arrival.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import h3
import numpy as np

from coverage_net.messages import BeaconReport, Challenge, WitnessReport
from coverage_net.radio import get_region, sensitivity_dbm, thermal_noise_floor_dbm

from ._beacon import beacon_payload
from ._neighbours import (
    HotspotAssessment,
    LinkHistory,
    LinkObservation,
    assess_hotspots,
    cuts_for,
)
from ._normal import PHI_PPM, PHI_STEP_CENTI
from ._params import NetworkParams
from ._predict import PathPredictor
from ._radio_clock import off_the_radio_clock
from ._reciprocity import ReciprocityAssessment, assess_reciprocity, reciprocity_cut
from ._registry import Registry
from ._secret import secret_hash
from ._select import challengees_for_epoch, challenger_for
from ._unanswered import UnansweredAssessment, assess_unanswered
from ._verdict import Reason, Verdict

__all__ = ["EpochVerdicts", "verify_epoch"]

_PPM = 1_000_000
_NEAR_FOR_GRID_M = 5_000  # beyond this the H3 grid distance check cannot fail
_MAX_REPORTED_SNR_CENTI_DB = 1000  # LoRa radios report packet SNR up to about +10 dB

BEACON = BeaconReport.TYPE
WITNESS = WitnessReport.TYPE


T = TypeVar("T")
_content_id = operator.attrgetter("content_id")
_EMPTY_HISTORY = LinkHistory()


@dataclass(frozen=True)
class EpochVerdicts:
    """What `verify_epoch` returns: verdicts in report-id order, the new history, assessments."""

    verdicts: tuple[Verdict, ...]
    history: LinkHistory
    hotspots: Mapping[bytes, HotspotAssessment] = field(default_factory=dict)
    reciprocity: Mapping[bytes, ReciprocityAssessment] = field(default_factory=dict)
    unanswered: Mapping[bytes, UnansweredAssessment] = field(default_factory=dict)

    def flagged(self, hotspot_key: bytes) -> bool:
        """Whether the hotspot is flagged this epoch (neighbours, reciprocity or challenges)."""
        return any(a is not None and a.flagged for a in (
            self.hotspots.get(hotspot_key), self.reciprocity.get(hotspot_key),
            self.unanswered.get(hotspot_key)))

    def by_id(self) -> dict[bytes, Verdict]:
        return {v.report_id: v for v in self.verdicts}


# --- helpers -------------------------------------------------------------------------


def _order_key(entropy: bytes, report_id: bytes) -> bytes:
    return hashlib.sha256(entropy + report_id).digest()


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
                    Reason.SNR_INCONSISTENT)
"""The physics checks of a witness, in the order they are applied (code = index)."""
_PHI = np.asarray(PHI_PPM, dtype=np.int64)


def _centi_sigma(delta_centi_db: np.ndarray, sigma_centi_db: int) -> np.ndarray:
    """Signed centi-sigma of centi-dB differences, rounded toward zero (integers only)."""
    return np.sign(delta_centi_db) * (np.abs(delta_centi_db) * 100 // sigma_centi_db)


def _grid_cells(a: int, b: int) -> int:
    try:
        return int(h3.grid_distance(h3.int_to_str(a), h3.int_to_str(b)))
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
class _RoundFigures:
    """What every witness verdict of one round shares (built once per round)."""

    neighbours_likely: tuple[str, int]
    neighbours_likely_heard: tuple[str, int]
    sensitivity: tuple[str, int]
    heard: tuple[bytes, ...]
    silent: tuple[bytes, ...]


@dataclass(slots=True)
class _Judged:
    """Per-witness working figures of one round (witnesses that reached the physics).

    `values` are the witness's own figures (deviation, distance, expected SNR, free-space
    RSSI, frequency offset, lag, margin, measured and modelled RSSI, SNR: the order of
    their names); they become the verdict's named figures only in `_witness_verdicts`,
    beside the hotspot's (``hotspot_*``), known once the epoch's history is advanced.
    """

    report: WitnessReport
    reason: Reason
    values: tuple[int, ...]
    shared: _RoundFigures
    hotspot: tuple[tuple[str, int], ...] = ()


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
                 out: dict[bytes, Verdict], links: list[LinkObservation]) -> list[_Judged]:
    """Judge the witnesses of one round with a valid beacon; returns those judged by physics."""
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
    fields = np.array([(w.rssi_dbm, w.snr_db) for w in reports], dtype=np.float64).reshape(n, 2)
    measured = np.rint(fields[:, 0] * 100).astype(np.int64)
    snr = np.rint(fields[:, 1] * 100).astype(np.int64)
    lag = np.array([w.host_time_ms for w in reports], dtype=np.int64) - beacon.host_time_ms
    freq_offset = np.array([w.freq_hz for w in reports], dtype=np.int64) - beacon.freq_hz
    fs_rssi = (beacon.eirp_centi_dbm - PathPredictor.free_space_loss_centi_db(d, beacon.freq_hz)
               + registry.gain_centi_dbi[witness_idx])
    deviation = _centi_sigma(measured - mod, sigma)
    expected_snr = np.minimum(measured - noise, _MAX_REPORTED_SNR_CENTI_DB)
    too_close = np.zeros(n, dtype=bool)
    for k in np.flatnonzero(d < _NEAR_FOR_GRID_M).tolist():
        too_close[k] = _grid_cells(tx.cell_res11, registry.by_key[
            reports[k].witness_key].cell_res11) < v.min_distance_res11_cells
    code = np.select(
        [too_close, d > v.max_distance_m, measured > fs_rssi + v.free_space_allowance_centi_db,
         deviation > v.max_k_sigma_centi, deviation < -v.max_k_sigma_centi,
         measured < sens - v.snr_tolerance_centi_db,
         np.abs(snr - expected_snr) > v.snr_tolerance_centi_db],
        np.arange(1, len(_PHYSICS_REASONS)), 0).tolist()
    # not too close or too far: the hotspot claims to have heard it
    heard_keys = {w.witness_key for w, c in zip(reports, code, strict=True) if c not in (1, 2)}

    # neighbours: who the model says should have heard, and who did
    keys = registry.keys
    likely_keys = [keys[r] for r in receivers[margin >= likely_cut].tolist()]
    likely_heard = tuple(sorted(k for k in likely_keys if k in heard_keys))
    likely_silent = tuple(sorted(k for k in likely_keys if k not in heard_keys))
    inconsistent = (len(likely_keys) >= v.min_likely_neighbours and not likely_heard
                    and n > 0 and bool(np.all(marg <= -likely_cut)))
    beacon_heard = bool(heard_keys)
    neighbour_set = set(neighbours.tolist())
    p_ppm = _PHI[np.clip((margin + 500) // PHI_STEP_CENTI, 0, len(_PHI) - 1)].tolist()
    beaconer = beacon.hotspot_key
    residual = dict(zip((w.witness_key for w in reports), (measured - mod).tolist(), strict=True))
    for r, p, above in zip(receivers.tolist(), p_ppm, (modelled - sens).tolist(), strict=True):
        key = keys[r]
        heard = key in heard_keys
        if heard or r in neighbour_set:
            links.append(LinkObservation(epoch, beaconer, key, p, heard, beacon_heard,
                                         residual[key] if heard else 0, above))
    reasons = [_PHYSICS_REASONS[c] for c in code]
    if inconsistent:
        reasons = [Reason.NEIGHBOUR_INCONSISTENT if r is Reason.VALID else r for r in reasons]
    shared = _RoundFigures(("neighbours_likely", len(likely_keys)),
                           ("neighbours_likely_heard", len(likely_heard)),
                           ("sensitivity_centi_dbm", sens), likely_heard, likely_silent)
    judged = [_Judged(w, reason, values, shared) for w, reason, values in zip(
        reports, reasons, zip(deviation.tolist(), d.tolist(), expected_snr.tolist(),
                              fs_rssi.tolist(), freq_offset.tolist(), lag.tolist(),
                              marg.tolist(), measured.tolist(), mod.tolist(), snr.tolist(),
                              strict=True),
        strict=True)]
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


# --- the epoch ---------------------------------------------------------------------------


def _without_cyclic_gc(function: Callable[..., T]) -> Callable[..., T]:
    """Run `function` with the cyclic garbage collector held off, then restore its state.

    The verifier allocates many small objects and makes no reference cycles, so
    reference counting frees everything; the collector's passes over the link
    history would otherwise cost about a third of the time.
    """
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> T:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()
    return run


@_without_cyclic_gc
def verify_epoch(epoch: int, *, challenges: Iterable[Challenge],
                 beacon_reports: Iterable[BeaconReport],
                 witness_reports: Iterable[WitnessReport], registry: Registry,
                 params: NetworkParams, predictor: PathPredictor, entropy: bytes,
                 history: LinkHistory = _EMPTY_HISTORY) -> EpochVerdicts:
    """Verdicts on every beacon and witness report of `epoch` (see the module doc).

    `registry` holds the hotspots announced before the epoch (they are the eligible
    set the entropy selected from). `history` is the previous call's
    `EpochVerdicts.history`. A round without a valid beacon report has nothing to
    witness: its witnesses are `no_valid_beacon` (a challenger's later reveal of the
    secret would change no verdict, so none is taken).
    """
    v = params.verifier
    rounds: dict[bytes, _Round] = {}
    for ch in sorted(challenges, key=_content_id):
        rounds.setdefault(ch.content_id, _Round(ch))
    beacons = sorted(beacon_reports, key=_content_id)
    witnesses = sorted(witness_reports, key=_content_id)
    for b in beacons:
        _round_of(rounds, b.challenge_id).beacons.append(b)
    for w in witnesses:
        _round_of(rounds, w.challenge_id).witnesses.append(w)

    selected = set(challengees_for_epoch(entropy, epoch, registry.keys, params)) \
        if len(registry) else set()
    predictor.prefetch(registry, [  # every link the epoch's beacons may need judged
        (b.hotspot_key, b.freq_hz, rnd.witnesses) for cid in sorted(rounds)
        for rnd in (rounds[cid],) for b in rnd.beacons], v.neighbour_radius_m)
    out: dict[bytes, Verdict] = {}
    links: list[LinkObservation] = []
    answered: dict[bytes, tuple[bool, bytes]] = {}
    judged_rounds: list[list[_Judged]] = []
    judged_cids: list[bytes] = []
    valid_beacons: list[bytes] = []
    for cid in sorted(rounds):
        rnd = rounds[cid]
        reason = _challenge_reason(rnd.challenge, epoch, registry, params, selected, entropy)
        if reason is not Reason.VALID:
            for r in [*rnd.beacons, *rnd.witnesses]:
                out[r.content_id] = _verdict(r, epoch, reason)
            continue
        ch = rnd.challenge
        assert ch is not None
        answered.setdefault(ch.challengee_key, (False, ch.challenger_key))
        valid_beacon: tuple[BeaconReport, bytes] | None = None
        for b in _firsts(rnd.beacons, _beaconer_key, epoch, out):
            b_reason, payload_hash = _beacon_reason(b, ch, registry, params)
            if b_reason is Reason.VALID and valid_beacon is None:
                valid_beacon = (b, payload_hash)  # type: ignore[assignment]
            else:
                out[b.content_id] = _verdict(b, epoch, b_reason)
                if b_reason is Reason.VALID:  # a second valid one (not possible today)
                    valid_beacons.append(b.content_id)
        if valid_beacon is None:
            for w in rnd.witnesses:
                out[w.content_id] = _verdict(w, epoch, Reason.NO_VALID_BEACON)
            continue
        answered[ch.challengee_key] = (True, ch.challenger_key)
        judged_rounds.append(_judge_round(rnd, valid_beacon[0], valid_beacon[1], epoch,
                                          registry, params, predictor, out, links))
        judged_cids.append(cid)
        valid_beacons.append(valid_beacon[0].content_id)

    new_history = history.advance(epoch, links, v.hotspot_window_epochs, cuts_for(params),
                                  reciprocity_cut(params)).with_challenges(
        epoch, answered, (w.witness_key for w in witnesses), v.hotspot_window_epochs)
    assessments = assess_hotspots(new_history, params)
    reciprocity = assess_reciprocity(new_history.pair_terms, params, new_history.pair_totals)
    new_history = _held_flags(epoch, new_history, assessments, reciprocity,
                              v.hotspot_window_epochs)
    unanswered = assess_unanswered(new_history.ledger, params)
    _hotspot_checks(judged_rounds, assessments, reciprocity, unanswered,
                    v.radio_clock_tolerance_ms, v.max_witnesses_per_hotspot_per_epoch)
    for bid in valid_beacons:
        verdict = out[bid]
        if verdict.valid:
            a = assessments.get(verdict.hotspot_key)
            rec = reciprocity.get(verdict.hotspot_key)
            flag = (Reason.HOTSPOT_INCONSISTENT if a is not None and a.flagged else
                    Reason.RECIPROCITY_INCONSISTENT if rec is not None and rec.flagged else None)
            if flag is not None:
                figures = dict(verdict.figures)
                for assessed in (a, rec):
                    figures |= dict(assessed.figures) if assessed is not None else {}
                out[bid] = Verdict(**{**verdict.__dict__, "valid": False, "reason": flag,
                                      "figures": tuple(sorted(figures.items())),
                                      "rewarded": False})
            else:
                out[bid] = Verdict(**{**verdict.__dict__, "rewarded": True})
    for cid, js in zip(judged_cids, judged_rounds, strict=True):
        _witness_verdicts(js, epoch, cid, entropy, v.max_rewarded_witnesses, out)
    return EpochVerdicts(tuple([out[k] for k in sorted(out)]), new_history, assessments,
                         reciprocity, unanswered)


def _held_flags(epoch: int, history: LinkHistory, assessments: dict[bytes, HotspotAssessment],
                reciprocity: dict[bytes, ReciprocityAssessment],
                window_epochs: int) -> LinkHistory:
    """Record the flags raised now, and put back (in `assessments` or `reciprocity`) the
    flags raised within the window that the statistics no longer reach this epoch."""
    raised = {k: "neighbours" for k, a in assessments.items() if a.flagged}
    raised.update({k: "reciprocity" for k, r in reciprocity.items()
                   if r.flagged and k not in raised})
    history = history.with_flags(epoch, raised, window_epochs)
    for key, (_, check) in history.flagged_until.items():
        if key in raised:
            continue
        if check == "neighbours":
            a = assessments.get(key)
            assessments[key] = dataclasses.replace(a, flagged=True) if a is not None \
                else HotspotAssessment(0, 0, 0, True)
        else:
            r = reciprocity.get(key)
            reciprocity[key] = dataclasses.replace(r, flagged=True) if r is not None \
                else ReciprocityAssessment(0, 0, 0, True)
    return history


def _round_of(rounds: dict[bytes, _Round], challenge_id: bytes) -> _Round:
    """The round of `challenge_id`, a new one without a challenge when it has none yet
    (not ``setdefault``, which would build a round for every report)."""
    rnd = rounds.get(challenge_id)
    if rnd is None:
        rnd = rounds[challenge_id] = _Round(None)
    return rnd


def _hotspot_checks(judged_rounds: list[list[_Judged]],
                    assessments: Mapping[bytes, HotspotAssessment],
                    reciprocity: Mapping[bytes, ReciprocityAssessment],
                    unanswered: Mapping[bytes, UnansweredAssessment],
                    radio_clock_tolerance_ms: int, max_per_epoch: int) -> None:
    """What the epoch as a whole says about each witnessing hotspot: its neighbour,
    reciprocity and challenge assessments, its radio clock across its reports, its
    rate limit."""
    per_witness: dict[bytes, list[_Judged]] = {}
    for js in judged_rounds:
        for j in js:
            key = j.report.witness_key
            mine = per_witness.get(key)
            if mine is None:
                mine = per_witness[key] = []
            mine.append(j)
    for key, mine in per_witness.items():
        figures, flag = _hotspot_figures(assessments.get(key), unanswered.get(key),
                                         reciprocity.get(key))
        if figures:
            for j in mine:
                j.hotspot = figures
                if flag is not None and j.reason is Reason.VALID:
                    j.reason = flag
        for k in off_the_radio_clock([(j.report.radio_timestamp_us, j.report.host_time_ms)
                                      for j in mine], radio_clock_tolerance_ms):
            if mine[k].reason is Reason.VALID:
                mine[k].reason = Reason.RADIO_CLOCK_INCONSISTENT
        if len(mine) > max_per_epoch:
            mine.sort(key=lambda j: j.report.content_id)
            for j in mine[max_per_epoch:]:
                if j.reason is Reason.VALID:
                    j.reason = Reason.RATE_LIMITED


def _hotspot_figures(a: HotspotAssessment | None, silent: UnansweredAssessment | None,
                     rec: ReciprocityAssessment | None
                     ) -> tuple[tuple[tuple[str, int], ...], Reason | None]:
    """A witnessing hotspot's "hotspot_*" figures (sorted) and the flag its valid reports
    take, if any: neighbours first, then unanswered challenges, then reciprocity."""
    figures: list[tuple[str, int]] = []
    flag = None
    for assessed, reason in ((a, Reason.HOTSPOT_INCONSISTENT),
                             (silent, Reason.CHALLENGES_UNANSWERED),
                             (rec, Reason.RECIPROCITY_INCONSISTENT)):
        if assessed is None or (assessed is silent and not silent.unanswered):
            continue
        figures.extend(assessed.figures)
        if flag is None and assessed.flagged:
            flag = reason
    return tuple(sorted(figures)), flag


def _witness_verdicts(judged: list[_Judged], epoch: int, challenge_id: bytes, entropy: bytes,
                      max_rewarded: int, out: dict[bytes, Verdict]) -> None:
    """One round's witness verdicts; the rewarded are the first valid ones in entropy order."""
    valid = [j for j in judged if j.reason is Reason.VALID]
    if len(valid) > max_rewarded:  # only then does the order choose
        valid.sort(key=lambda j: _order_key(entropy, j.report.content_id))
    rewarded = {j.report.content_id for j in valid[:max_rewarded]}
    new = object.__new__
    for j in judged:
        report, shared = j.report, j.shared
        rid = report.content_id
        dv, dm, es, fs, fo, lg, mg, me, mo, sn = j.values
        verdict = new(Verdict)
        verdict.__dict__.update({  # the figures sorted by name, as `Verdict` requires
            "report_id": rid, "report_type": WITNESS, "challenge_id": challenge_id,
            "epoch": epoch, "hotspot_key": report.witness_key,
            "valid": j.reason is Reason.VALID, "reason": j.reason, "rewarded": rid in rewarded,
            "figures": (
                ("deviation_centi_sigma", dv), ("distance_m", dm), ("expected_snr_centi_db", es),
                ("free_space_rssi_centi_dbm", fs), ("freq_offset_hz", fo), *j.hotspot,
                ("lag_ms", lg), ("margin_centi_sigma", mg), ("measured_rssi_centi_dbm", me),
                ("modelled_rssi_centi_dbm", mo), shared.neighbours_likely,
                shared.neighbours_likely_heard, shared.sensitivity, ("snr_centi_db", sn)),
            "neighbours_heard": shared.heard, "neighbours_silent": shared.silent})
        out[rid] = verdict

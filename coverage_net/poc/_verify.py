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
  within tolerance, host time within the lag of the beacon's, not later than the
  two hosts' solved clocks allow (``arrival_late``: a beacon heard again,
  rebroadcast; checked once both clocks are known, `coverage_net.poc._arrival`), at
  least ``min_distance_res11_cells`` H3 res-11 cells and at most ``max_distance_m``
  away; then the physics of the asserted path: RSSI not above free space, not below
  sensitivity, within ``max_k_sigma`` of the terrain-aware model on both sides, SNR
  consistent with RSSI and the noise floor; then the neighbours (below); then its
  radio clock against the same hotspot's other reports of the epoch; then the rate
  limit.

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
  someone), counted per pair of hotspots (a link and its reverse are one path:
  anomalous if either is, with the larger expectation). Their expectation is the
  model's own probability summed over the same pairs. A hotspot whose anomalous
  pairs exceed the expectation by ``hotspot_z`` Poisson deviations (and number at
  least ``hotspot_min_anomalies``) is flagged: its reports of the epoch that passed
  every other check become ``hotspot_inconsistent``.

Then, over the same window, reciprocity (`coverage_net.poc._reciprocity`: the two
directions of a path must agree, ``reciprocity_inconsistent``), unanswered
challenges (`coverage_net.poc._unanswered`, ``challenges_unanswered``) and model
fit (`coverage_net.poc._model_fit`: a hotspot's mean residuals over its links may
not sit nearer the model than real paths do, ``model_fit_too_close``) and SNR spread
(`coverage_net.poc._snr_spread`: a radio's SNR may not follow its RSSI report after
report more exactly than two separate measurements do, ``snr_spread_too_small``); a
flag holds for the window (a neighbours flag only while its anomalous pairs stand).

Rewarded witnesses: the valid ones, at most ``max_rewarded_witnesses`` per valid
beacon, in the order of SHA-256(entropy || report id), never by arrival. A beacon
whose hotspot a check flagged is invalid, and its witnesses (valid: they heard it)
are paid nothing, as the rewards pay witnesses of valid beacons only.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from coverage_net.messages import BeaconReport, Challenge, WitnessReport

from ._arrival import ClockRows
from ._judge_round import (
    WITNESS,
    WITNESS_FIGURES,
    _beacon_reason,
    _beaconer_key,
    _challenge_reason,
    _Clock,
    _firsts,
    _judge_round,
    _JudgedRound,
    _Round,
    _verdict,
)
from ._link_history import LinkHistory, LinkObservation
from ._model_fit import ModelFitAssessment, assess_model_fit
from ._neighbours import HotspotAssessment, assess_hotspots, cuts_for
from ._params import NetworkParams
from ._predict import PathPredictor
from ._radio_clock import off_the_radio_clock
from ._reciprocity import ReciprocityAssessment, assess_reciprocity, reciprocity_cut
from ._registry import Registry
from ._select import challengees_for_epoch
from ._snr_spread import SnrSpreadAssessment, assess_snr_spread, epoch_snr_sums
from ._unanswered import UnansweredAssessment, assess_unanswered
from ._verdict import Reason, Verdict

__all__ = ["EpochVerdicts", "verify_epoch"]



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
    model_fit: Mapping[bytes, ModelFitAssessment] = field(default_factory=dict)
    snr_spread: Mapping[bytes, SnrSpreadAssessment] = field(default_factory=dict)

    def flagged(self, hotspot_key: bytes) -> bool:
        """Whether the hotspot is flagged this epoch (neighbours, reciprocity, challenges,
        model fit or SNR spread)."""
        return any(a is not None and a.flagged for a in (
            self.hotspots.get(hotspot_key), self.reciprocity.get(hotspot_key),
            self.unanswered.get(hotspot_key), self.model_fit.get(hotspot_key),
            self.snr_spread.get(hotspot_key)))

    def by_id(self) -> dict[bytes, Verdict]:
        return {v.report_id: v for v in self.verdicts}



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
    snr_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # per judged round
    clock_rows: list[ClockRows] = []  # per judged round
    clock = _Clock(*history.clocks.arrays(registry.keys, v.arrival_min_reports),
                   history.clocks.delay_ms, v.arrival_excess_max_ms, clock_rows, [])
    answered: dict[bytes, tuple[bool, bytes]] = {}
    judged_rounds: list[_JudgedRound] = []
    judged_cids: list[bytes] = []
    judged_beacons: list[bytes] = []  # the valid beacon of each judged round
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
                                          registry, params, predictor, out, links,
                                          snr_rows, clock))
        judged_cids.append(cid)
        judged_beacons.append(valid_beacon[0].content_id)
        valid_beacons.append(valid_beacon[0].content_id)

    clocks, timed = history.clocks.advance(epoch, registry.keys, clock_rows, clock.pending,
                                           v.hotspot_window_epochs, v.arrival_min_reports,
                                           v.arrival_excess_max_ms, v.arrival_wait_epochs)
    links.extend(timed)  # the untimed hits of this epoch and earlier ones, timed now
    new_history = history.advance(epoch, links, v.hotspot_window_epochs, cuts_for(params),
                                  reciprocity_cut(params)).with_challenges(
        epoch, answered, (w.witness_key for w in witnesses), v.hotspot_window_epochs).with_snr(
        epoch, _snr_sums(registry, snr_rows), v.hotspot_window_epochs).with_clocks(clocks)
    assessments = assess_hotspots(new_history, params)
    reciprocity = assess_reciprocity(new_history.pair_terms, params, new_history.pair_totals)
    model_fit = assess_model_fit(new_history.fit_totals, params)
    snr_spread = assess_snr_spread(new_history.snr, params)
    new_history = _held_flags(epoch, new_history, assessments, reciprocity, model_fit,
                              snr_spread, v.hotspot_window_epochs, v.hotspot_min_anomalies)
    unanswered = assess_unanswered(new_history.ledger, params)
    _hotspot_checks(judged_rounds, assessments, reciprocity, unanswered, model_fit, snr_spread,
                    v.radio_clock_tolerance_ms, v.max_witnesses_per_hotspot_per_epoch)
    for bid in valid_beacons:
        verdict = out[bid]
        if verdict.valid:
            key = verdict.hotspot_key
            # the beaconer's flag and figures in the witnesses' order of checks (a
            # challenge it answered says nothing about unanswered ones)
            hotspot_figures, flag = _hotspot_figures(
                assessments.get(key), None, reciprocity.get(key), model_fit.get(key),
                snr_spread.get(key))
            if flag is not None:
                figures = dict(verdict.figures) | dict(hotspot_figures)
                out[bid] = Verdict(**{**verdict.__dict__, "valid": False, "reason": flag,
                                      "figures": tuple(sorted(figures.items())),
                                      "rewarded": False})
            else:
                out[bid] = Verdict(**{**verdict.__dict__, "rewarded": True})
    for cid, bid, judged in zip(judged_cids, judged_beacons, judged_rounds, strict=True):
        # a beacon whose hotspot a check flagged is no longer valid: its witnesses heard
        # it (their verdicts stand) but nothing pays them, as for any invalid beacon
        paid = v.max_rewarded_witnesses if out[bid].valid else 0
        _witness_verdicts(judged, epoch, cid, entropy, paid, out)
    return EpochVerdicts(tuple([out[k] for k in sorted(out)]), new_history, assessments,
                         reciprocity, unanswered, model_fit, snr_spread)


def _snr_sums(registry: Registry, rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
              ) -> dict[bytes, tuple[int, int, int]]:
    """The epoch's per-hotspot SNR sums from the judged rounds' arrays."""
    if not rows:
        return {}
    index, snr, expected = (np.concatenate(column) for column in zip(*rows, strict=True))
    return epoch_snr_sums(registry.keys, index, snr, expected)


def _held_flags(epoch: int, history: LinkHistory, assessments: dict[bytes, HotspotAssessment],
                reciprocity: dict[bytes, ReciprocityAssessment],
                model_fit: dict[bytes, ModelFitAssessment],
                snr_spread: dict[bytes, SnrSpreadAssessment], window_epochs: int,
                min_anomalies: int) -> LinkHistory:
    """Record the flags raised now, and put back (in `assessments`, `reciprocity` or
    `model_fit`, `snr_spread`) the flags raised within the window that the statistics no longer
    reach this epoch.

    A neighbours flag is put back only while its evidence stands: while the hotspot
    still has at least `min_anomalies` anomalous pairs in the window (new ordinary
    links may dilute the statistic meanwhile; that does not clear it). Once they are
    gone, the flag lapses: a hotspot that was down while its neighbours beaconed
    misses those beacons, and its flag lapses when it hears their next ones (a liar
    misses them again, or files witnesses the physics and the other checks judge)."""
    raised = {k: "neighbours" for k, a in assessments.items() if a.flagged}
    raised.update({k: "reciprocity" for k, r in reciprocity.items()
                   if r.flagged and k not in raised})
    raised.update({k: "model_fit" for k, f in model_fit.items() if f.flagged and k not in raised})
    raised.update({k: "snr_spread" for k, f in snr_spread.items()
                   if f.flagged and k not in raised})
    history = history.with_flags(epoch, raised, window_epochs)
    for key, (_, check) in history.flagged_until.items():
        if key in raised:
            continue
        if check == "neighbours":
            a = assessments.get(key)
            if a is not None and a.anomalies >= min_anomalies:
                assessments[key] = dataclasses.replace(a, flagged=True)
        elif check == "model_fit":
            f = model_fit.get(key)
            model_fit[key] = dataclasses.replace(f, flagged=True) if f is not None \
                else ModelFitAssessment(0, 0, 0, True)
        elif check == "snr_spread":
            sp = snr_spread.get(key)
            snr_spread[key] = dataclasses.replace(sp, flagged=True) if sp is not None \
                else SnrSpreadAssessment(0, 0, 0, True)
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


def _hotspot_checks(judged_rounds: list[_JudgedRound],
                    assessments: Mapping[bytes, HotspotAssessment],
                    reciprocity: Mapping[bytes, ReciprocityAssessment],
                    unanswered: Mapping[bytes, UnansweredAssessment],
                    model_fit: Mapping[bytes, ModelFitAssessment],
                    snr_spread: Mapping[bytes, SnrSpreadAssessment],
                    radio_clock_tolerance_ms: int, max_per_epoch: int) -> None:
    """What the epoch as a whole says about each witnessing hotspot: its neighbour,
    reciprocity, challenge, model-fit and SNR-spread assessments, its radio clock across
    its reports, its rate limit."""
    per_witness: dict[bytes, list[tuple[_JudgedRound, int]]] = {}
    for judged in judged_rounds:
        for k, report in enumerate(judged.reports):
            mine = per_witness.get(report.witness_key)
            if mine is None:
                mine = per_witness[report.witness_key] = []
            mine.append((judged, k))
    valid = Reason.VALID
    for key, mine in per_witness.items():
        figures, flag = _hotspot_figures(assessments.get(key), unanswered.get(key),
                                         reciprocity.get(key), model_fit.get(key),
                                         snr_spread.get(key))
        if figures:
            for judged, k in mine:
                judged.hotspot[k] = figures
                if flag is not None and judged.reasons[k] is valid:
                    judged.reasons[k] = flag
        reports = [judged.reports[k] for judged, k in mine]
        for i in off_the_radio_clock([(r.radio_timestamp_us, r.host_time_ms)
                                      for r in reports], radio_clock_tolerance_ms):
            judged, k = mine[i]
            if judged.reasons[k] is valid:
                judged.reasons[k] = Reason.RADIO_CLOCK_INCONSISTENT
        if len(mine) > max_per_epoch:  # the first by content id count, the rest do not
            for i in sorted(range(len(mine)), key=lambda i: reports[i].content_id)[
                    max_per_epoch:]:
                judged, k = mine[i]
                if judged.reasons[k] is valid:
                    judged.reasons[k] = Reason.RATE_LIMITED


def _hotspot_figures(a: HotspotAssessment | None, silent: UnansweredAssessment | None,
                     rec: ReciprocityAssessment | None, fit: ModelFitAssessment | None,
                     spread: SnrSpreadAssessment | None
                     ) -> tuple[tuple[tuple[str, int], ...], Reason | None]:
    """A witnessing hotspot's "hotspot_*" figures (sorted) and the flag its valid reports
    take, if any: neighbours first, then unanswered challenges, then reciprocity, then
    model fit, then SNR spread."""
    figures: list[tuple[str, int]] = []
    flag = None
    for assessed, reason in ((a, Reason.HOTSPOT_INCONSISTENT),
                             (silent, Reason.CHALLENGES_UNANSWERED),
                             (rec, Reason.RECIPROCITY_INCONSISTENT),
                             (fit, Reason.MODEL_FIT_TOO_CLOSE),
                             (spread, Reason.SNR_SPREAD_TOO_SMALL)):
        if assessed is None:
            continue
        figures.extend(assessed.figures)
        if flag is None and assessed.flagged:
            flag = reason
    return tuple(sorted(figures)), flag


class _FigurePairs(dict[int, tuple[str, int]]):
    """One witness figure's ``(name, value)`` pairs built so far, by value: a lookup of a
    value not seen yet builds and keeps its pair."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __missing__(self, value: int) -> tuple[str, int]:
        pair = self[value] = (self.name, value)
        return pair


_FIGURE_PAIRS = tuple(_FigurePairs(name) for name in WITNESS_FIGURES)
"""Per witness figure, the ``(name, value)`` pairs built so far. The values repeat (23,588
distinct among the 1,028,262 figures of the bench's Hata network), so verdicts share one
tuple per value instead of carrying eleven fresh tuples each, which the cyclic garbage
collector would otherwise walk (a sixth of a warm pass). Equal values, equal verdicts:
the cache changes no output, only what is allocated."""
_MAX_FIGURE_PAIRS = 1 << 15
"""A figure's cache is emptied beyond this many values (memory stays bounded)."""


def _witness_verdicts(judged: _JudgedRound, epoch: int, challenge_id: bytes, entropy: bytes,
                      max_rewarded: int, out: dict[bytes, Verdict]) -> None:
    """One round's witness verdicts; the rewarded are the first valid ones in entropy order
    (the SHA-256 of the entropy and the report's id)."""
    reports, reasons = judged.reports, judged.reasons
    ids = [r.content_id for r in reports]
    valid = [k for k, reason in enumerate(reasons) if reason is Reason.VALID]
    if len(valid) > max_rewarded:  # only then does the order choose
        sha256 = hashlib.sha256
        order = {k: sha256(entropy + ids[k]).digest() for k in valid}
        valid.sort(key=order.__getitem__)
    rewarded = set(valid[:max_rewarded])
    for cache in _FIGURE_PAIRS:
        if len(cache) > _MAX_FIGURE_PAIRS:
            cache.clear()
    pairs = [map(cache.__getitem__, column)
             for cache, column in zip(_FIGURE_PAIRS, judged.columns, strict=True)]
    shared = judged.shared
    likely, likely_heard, sensitivity = (shared.neighbours_likely,
                                         shared.neighbours_likely_heard, shared.sensitivity)
    heard, silent = shared.heard, shared.silent
    new, set_dict = object.__new__, object.__setattr__
    for k, (rid, report, reason, hotspot, ax, dv, dm, es, fs, fo, lg, mg, me, mo, sn) in \
            enumerate(zip(ids, reports, reasons, judged.hotspot, *pairs, strict=True)):
        verdict = new(Verdict)
        set_dict(verdict, "__dict__", {
            "report_id": rid, "report_type": WITNESS, "challenge_id": challenge_id,
            "epoch": epoch, "hotspot_key": report.witness_key,
            "valid": reason is Reason.VALID, "reason": reason, "rewarded": k in rewarded,
            # the figures sorted by name, as `Verdict` requires
            "figures": (ax, dv, dm, es, fs, fo, *hotspot, lg, mg, me, mo, likely,
                        likely_heard, sensitivity, sn),
            "neighbours_heard": heard, "neighbours_silent": silent})
        out[rid] = verdict

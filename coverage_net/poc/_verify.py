"""`verify_epoch`: the verdict on every report of an epoch, from physics and neighbours.

A pure function of (the epoch's challenges, beacon reports, witness reports and
reveals; the registry of announced hotspots; the network parameters; the
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
  then the physics of the asserted path: RSSI not above free space, within
  ``max_k_sigma`` of the terrain-aware model on both sides, SNR consistent with
  RSSI and the noise floor; then the neighbours (below); then the rate limit.

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

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import h3
import numpy as np

from coverage_net.messages import BeaconReport, Challenge, WitnessReport
from coverage_net.radio import get_region, sensitivity_dbm, thermal_noise_floor_dbm

from ._beacon import beacon_payload
from ._normal import phi_ppm
from ._params import NetworkParams
from ._predict import PathPredictor
from ._registry import Registry
from ._secret import secret_hash
from ._select import challengees_for_epoch, challenger_for
from ._verdict import Reason, Verdict

__all__ = [
    "EpochVerdicts", "HotspotAssessment", "LinkHistory", "LinkObservation", "assess_hotspots",
    "verify_epoch",
]

_PPM = 1_000_000
_NEAR_FOR_GRID_M = 5_000
_MAX_REPORTED_SNR_CENTI_DB = 1000  # LoRa radios report packet SNR up to about +10 dB  # beyond this the H3 grid distance check cannot fail

BEACON = BeaconReport.TYPE
WITNESS = WitnessReport.TYPE


@dataclass(frozen=True, order=True)
class LinkObservation:
    """One judged (beaconer -> receiver) link of one beacon: modelled probability, outcome."""

    epoch: int
    beaconer_key: bytes
    receiver_key: bytes
    p_ppm: int
    heard: bool
    beacon_heard: bool
    """Whether anyone filed a witness for this beacon (a silent beacon says nothing)."""


@dataclass(frozen=True)
class LinkHistory:
    """The links judged in recent epochs: the state `verify_epoch` carries from epoch to epoch."""

    observations: tuple[LinkObservation, ...] = ()

    def window(self, epoch: int, epochs: int) -> LinkHistory:
        """Only the observations of the `epochs` epochs ending at `epoch` (inclusive)."""
        low = epoch - epochs + 1
        return LinkHistory(tuple(o for o in self.observations if low <= o.epoch <= epoch))


@dataclass(frozen=True)
class HotspotAssessment:
    """A hotspot's neighbour-consistency figures over the window."""

    improbable_hits: int
    probable_misses: int
    expected_ppm: int
    links: int
    flagged: bool

    def figures(self) -> tuple[tuple[str, int], ...]:
        return (("hotspot_expected_anomalies_centi", self.expected_ppm // 10_000),
                ("hotspot_improbable_hits", self.improbable_hits),
                ("hotspot_links", self.links),
                ("hotspot_probable_misses", self.probable_misses))


@dataclass(frozen=True)
class EpochVerdicts:
    """What `verify_epoch` returns: verdicts in report-id order, the new history, assessments."""

    verdicts: tuple[Verdict, ...]
    history: LinkHistory
    hotspots: Mapping[bytes, HotspotAssessment] = field(default_factory=dict)

    def by_id(self) -> dict[bytes, Verdict]:
        return {v.report_id: v for v in self.verdicts}


# --- helpers -------------------------------------------------------------------------


def _order_key(entropy: bytes, report_id: bytes) -> bytes:
    return hashlib.sha256(entropy + report_id).digest()


def _figs(**values: int) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((k, int(v)) for k, v in values.items()))


def _verdict(report: BeaconReport | WitnessReport, epoch: int, reason: Reason,
             figures: tuple[tuple[str, int], ...] = (), **extra: object) -> Verdict:
    return Verdict(report_id=report.content_id, report_type=report.TYPE,
                   challenge_id=report.challenge_id, epoch=epoch, hotspot_key=report.signer_key,
                   valid=reason is Reason.VALID, reason=reason, figures=figures,
                   **extra)  # type: ignore[arg-type]


def _sigma_centi(delta_centi_db: int, sigma_centi_db: int) -> int:
    """Signed centi-sigma of a centi-dB difference, rounded toward zero (integers only)."""
    q = abs(delta_centi_db) * 100 // sigma_centi_db
    return q if delta_centi_db >= 0 else -q


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
    if (ch.challengee_key not in selected
            or challenger_for(entropy, epoch, ch.challengee_key, params.validators) != ch.challenger_key):
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


@dataclass
class _Judged:
    """Per-witness working figures of one round (witnesses that reached the physics)."""

    report: WitnessReport
    index: int
    figures: dict[str, int]
    reason: Reason = Reason.VALID
    heard: tuple[bytes, ...] = ()
    silent: tuple[bytes, ...] = ()


def _static_reason(w: WitnessReport, beacon: BeaconReport, payload_hash: bytes,
                   registry: Registry, params: NetworkParams) -> Reason:
    me = registry.get(w.witness_key)
    if me is None:
        return Reason.WITNESS_UNKNOWN
    if w.witness_key == beacon.hotspot_key:
        return Reason.SELF_WITNESS
    tx = registry.get(beacon.hotspot_key)
    assert tx is not None
    if me.region != tx.region:
        return Reason.REGION_MISMATCH
    if w.payload_hash != payload_hash:
        return Reason.PAYLOAD_MISMATCH
    if (w.spreading_factor, w.bandwidth_hz) != (beacon.spreading_factor, beacon.bandwidth_hz):
        return Reason.WRONG_DATA_RATE
    if abs(w.freq_hz - beacon.freq_hz) > params.verifier.freq_tolerance_hz:
        return Reason.FREQ_OUT_OF_TOLERANCE
    if abs(w.host_time_ms - beacon.host_time_ms) > params.verifier.max_arrival_lag_ms:
        return Reason.LAG_TOO_LARGE
    return Reason.VALID


def _judge_round(rnd: _Round, beacon: BeaconReport, payload_hash: bytes, epoch: int,
                 registry: Registry, params: NetworkParams, predictor: PathPredictor,
                 out: dict[bytes, Verdict], links: list[LinkObservation]) -> list[_Judged]:
    """Judge the witnesses of one round with a valid beacon; returns those judged by physics."""
    v = params.verifier
    tx = registry.get(beacon.hotspot_key)
    assert tx is not None
    judged: list[_Judged] = []
    for w in _firsts(rnd.witnesses, lambda r: r.witness_key, epoch, out):
        reason = _static_reason(w, beacon, payload_hash, registry, params)
        if reason is not Reason.VALID:
            out[w.content_id] = _verdict(w, epoch, reason, _figs(
                lag_ms=w.host_time_ms - beacon.host_time_ms,
                freq_offset_hz=w.freq_hz - beacon.freq_hz))
            continue
        rx = registry.get(w.witness_key)
        assert rx is not None
        judged.append(_Judged(w, rx.index, {}))
    witness_idx = np.asarray([j.index for j in judged], dtype=np.int64)
    neighbours = registry.near(tx.index, v.neighbour_radius_m)
    receivers = np.union1d(neighbours, witness_idx).astype(np.int64)
    receivers = receivers[receivers != tx.index]
    loss = predictor.loss_centi_db(registry, tx.index, receivers, beacon.freq_hz)
    dist = registry.distances_m(tx.index, receivers)
    sigma = v.rssi_sigma_centi_db
    sens = int(np.rint(float(sensitivity_dbm(beacon.spreading_factor, beacon.bandwidth_hz,
                                             v.noise_figure_centi_db / 100)) * 100))
    noise = int(np.rint(float(thermal_noise_floor_dbm(beacon.bandwidth_hz,
                                                      v.noise_figure_centi_db / 100)) * 100))
    modelled = beacon.eirp_centi_dbm - loss + registry.gain_centi_dbi[receivers]
    margin = [_sigma_centi(int(m) - sens, sigma) for m in modelled.tolist()]
    slot = {int(r): n for n, r in enumerate(receivers.tolist())}
    likely_cut = v.likely_margin_centi_sigma
    free_space = PathPredictor.free_space_loss_centi_db(dist, beacon.freq_hz)

    heard_keys = set()
    for j in judged:
        n = slot[j.index]
        d = int(dist[n])
        measured = round(j.report.rssi_dbm * 100)
        snr = round(j.report.snr_db * 100)
        expected_snr = min(measured - noise, _MAX_REPORTED_SNR_CENTI_DB)
        gain = int(registry.gain_centi_dbi[j.index])
        fs_rssi = beacon.eirp_centi_dbm - int(free_space[n]) + gain
        j.figures = dict(
            distance_m=d, lag_ms=j.report.host_time_ms - beacon.host_time_ms,
            measured_rssi_centi_dbm=measured, modelled_rssi_centi_dbm=int(modelled[n]),
            free_space_rssi_centi_dbm=fs_rssi,
            deviation_centi_sigma=_sigma_centi(measured - int(modelled[n]), sigma),
            margin_centi_sigma=margin[n], snr_centi_db=snr, expected_snr_centi_db=expected_snr,
            freq_offset_hz=j.report.freq_hz - beacon.freq_hz)
        if d < _NEAR_FOR_GRID_M and _grid_cells(
                tx.cell_res11, registry.get(j.report.witness_key).cell_res11  # type: ignore[union-attr]
        ) < v.min_distance_res11_cells:
            j.reason = Reason.TOO_CLOSE
        elif d > v.max_distance_m:
            j.reason = Reason.TOO_FAR
        elif measured > fs_rssi + v.free_space_allowance_centi_db:
            j.reason = Reason.RSSI_ABOVE_FREE_SPACE
        elif j.figures["deviation_centi_sigma"] > v.max_k_sigma_centi:
            j.reason = Reason.RSSI_TOO_STRONG
        elif j.figures["deviation_centi_sigma"] < -v.max_k_sigma_centi:
            j.reason = Reason.RSSI_TOO_WEAK
        elif abs(snr - expected_snr) > v.snr_tolerance_centi_db:
            j.reason = Reason.SNR_INCONSISTENT
        if j.reason not in (Reason.TOO_CLOSE, Reason.TOO_FAR):
            heard_keys.add(j.report.witness_key)

    # neighbours: who the model says should have heard, and who did
    likely = [int(r) for n, r in enumerate(receivers.tolist()) if margin[n] >= likely_cut]
    likely_heard = tuple(sorted(registry.keys[r] for r in likely
                                if registry.keys[r] in heard_keys))
    likely_silent = tuple(sorted(registry.keys[r] for r in likely
                                 if registry.keys[r] not in heard_keys))
    witnesses_unlikely = bool(judged) and all(
        j.figures["margin_centi_sigma"] <= -likely_cut for j in judged)
    inconsistent = (len(likely) >= v.min_likely_neighbours and not likely_heard
                    and witnesses_unlikely)
    for j in judged:
        j.figures.update(neighbours_likely=len(likely), neighbours_likely_heard=len(likely_heard))
        if inconsistent and j.reason is Reason.VALID:
            j.reason = Reason.NEIGHBOUR_INCONSISTENT
    beacon_heard = bool(heard_keys)
    for n, r in enumerate(receivers.tolist()):
        key = registry.keys[r]
        if r in set(neighbours.tolist()) or key in heard_keys:
            p = phi_ppm(margin[n])
            links.append(LinkObservation(epoch, beacon.hotspot_key, key, p, key in heard_keys,
                                         beacon_heard))
    rnd_figs = _figs(eirp_centi_dbm=beacon.eirp_centi_dbm, witnesses=len(judged),
                     neighbours_likely=len(likely), neighbours_likely_heard=len(likely_heard),
                     sensitivity_centi_dbm=sens)
    out[beacon.content_id] = _verdict(
        beacon, epoch, Reason.NEIGHBOUR_INCONSISTENT if inconsistent else Reason.VALID, rnd_figs,
        neighbours_heard=likely_heard, neighbours_silent=likely_silent)
    for j in judged:
        j.figures["sensitivity_centi_dbm"] = sens
        j.heard, j.silent = likely_heard, likely_silent
    return judged


def _firsts(reports: Iterable, key, epoch: int, out: dict[bytes, Verdict]) -> list:
    """The first report per `key` in content-id order; the others are judged duplicates."""
    seen: set[bytes] = set()
    firsts = []
    for r in sorted(reports, key=lambda r: r.content_id):
        k = key(r)
        if k in seen:
            out[r.content_id] = _verdict(r, epoch, Reason.DUPLICATE)
        else:
            seen.add(k)
            firsts.append(r)
    return firsts


# --- hotspots over the window -------------------------------------------------------------


def _power_ppm(q_ppm: int, n: int) -> int:
    result = _PPM
    for _ in range(n):
        result = result * q_ppm // _PPM
    return result


def assess_hotspots(history: LinkHistory, params: NetworkParams) -> dict[bytes, HotspotAssessment]:
    """Neighbour-consistency figures of every hotspot seen in `history` (see module doc)."""
    v = params.verifier
    p_low = phi_ppm(-v.likely_margin_centi_sigma)
    p_high = phi_ppm(v.likely_margin_centi_sigma)
    per_link: dict[tuple[bytes, bytes], list[LinkObservation]] = defaultdict(list)
    for o in sorted(history.observations):
        per_link[(o.beaconer_key, o.receiver_key)].append(o)
    hits: dict[bytes, int] = defaultdict(int)
    misses: dict[bytes, int] = defaultdict(int)
    expected: dict[bytes, int] = defaultdict(int)
    n_links: dict[bytes, int] = defaultdict(int)
    for (tx, rx), obs in sorted(per_link.items()):
        p = obs[-1].p_ppm
        heard = any(o.heard for o in obs)
        n_beacons = sum(1 for o in obs if o.beacon_heard)
        ends = (tx, rx)
        for end in ends:
            n_links[end] += 1
        if p < p_low:
            p_any = _PPM - _power_ppm(_PPM - p, len(obs))
            for end in ends:
                expected[end] += p_any
                hits[end] += int(heard)
        elif p >= p_high and n_beacons:
            miss_ppm = _power_ppm(_PPM - p, n_beacons)
            for end in ends:
                expected[end] += miss_ppm
                misses[end] += int(not heard and n_beacons > 0)
    out = {}
    z = v.hotspot_z_centi
    for key in sorted(n_links):
        observed = hits[key] + misses[key]
        e = expected[key]
        excess = observed * _PPM - e - (v.hotspot_min_anomalies - 1) * _PPM
        flagged = (observed >= v.hotspot_min_anomalies and excess > 0
                   and excess * excess * 10_000 >= z * z * e * _PPM)
        out[key] = HotspotAssessment(hits[key], misses[key], e, n_links[key], flagged)
    return out


# --- the epoch ---------------------------------------------------------------------------


def verify_epoch(epoch: int, *, challenges: Iterable[Challenge],
                 beacon_reports: Iterable[BeaconReport],
                 witness_reports: Iterable[WitnessReport], registry: Registry,
                 params: NetworkParams, predictor: PathPredictor, entropy: bytes,
                 history: LinkHistory = LinkHistory(),
                 reveals: Mapping[bytes, bytes] | None = None) -> EpochVerdicts:
    """Verdicts on every beacon and witness report of `epoch` (see the module doc).

    `registry` holds the hotspots announced before the epoch (they are the eligible
    set the entropy selected from). `reveals` maps a challenge id to the secret its
    challenger revealed after the window, for rounds with no beacon report (kept for
    the record; a round without a beacon report has nothing to witness). `history`
    is the previous call's `EpochVerdicts.history`.
    """
    del reveals  # a reveal without a beacon report leaves nothing to judge (see docstring)
    v = params.verifier
    rounds: dict[bytes, _Round] = {}
    for ch in sorted(challenges, key=lambda c: c.content_id):
        rounds.setdefault(ch.content_id, _Round(ch))
    beacons = sorted(beacon_reports, key=lambda r: r.content_id)
    witnesses = sorted(witness_reports, key=lambda r: r.content_id)
    for b in beacons:
        rounds.setdefault(b.challenge_id, _Round(None)).beacons.append(b)
    for w in witnesses:
        rounds.setdefault(w.challenge_id, _Round(None)).witnesses.append(w)

    selected = set(challengees_for_epoch(entropy, epoch, registry.keys, params)) \
        if len(registry) else set()
    out: dict[bytes, Verdict] = {}
    links: list[LinkObservation] = []
    judged_all: list[_Judged] = []
    for cid in sorted(rounds):
        rnd = rounds[cid]
        reason = _challenge_reason(rnd.challenge, epoch, registry, params, selected, entropy)
        if reason is not Reason.VALID:
            for r in [*rnd.beacons, *rnd.witnesses]:
                out[r.content_id] = _verdict(r, epoch, reason)
            continue
        ch = rnd.challenge
        assert ch is not None
        valid_beacon: tuple[BeaconReport, bytes] | None = None
        for b in _firsts(rnd.beacons, lambda r: r.hotspot_key, epoch, out):
            b_reason, payload_hash = _beacon_reason(b, ch, registry, params)
            if b_reason is Reason.VALID and valid_beacon is None:
                valid_beacon = (b, payload_hash)  # type: ignore[assignment]
            else:
                out[b.content_id] = _verdict(b, epoch, b_reason)
        if valid_beacon is None:
            for w in rnd.witnesses:
                out[w.content_id] = _verdict(w, epoch, Reason.NO_VALID_BEACON)
            continue
        judged_all.extend(_judge_round(rnd, valid_beacon[0], valid_beacon[1], epoch, registry,
                                       params, predictor, out, links))

    new_history = LinkHistory(history.window(epoch - 1, v.hotspot_window_epochs - 1).observations
                              + tuple(sorted(links)))
    assessments = assess_hotspots(new_history, params)

    # hotspot flags, rate limits, rewards
    per_witness: dict[bytes, list[_Judged]] = defaultdict(list)
    for j in judged_all:
        a = assessments.get(j.report.witness_key)
        if a is not None:
            j.figures.update(dict(a.figures()))
            if a.flagged and j.reason is Reason.VALID:
                j.reason = Reason.HOTSPOT_INCONSISTENT
        per_witness[j.report.witness_key].append(j)
    for mine in per_witness.values():
        mine.sort(key=lambda j: j.report.content_id)
        for j in mine[v.max_witnesses_per_hotspot_per_epoch:]:
            if j.reason is Reason.VALID:
                j.reason = Reason.RATE_LIMITED
    for bid, verdict in list(out.items()):
        if verdict.report_type == BEACON and verdict.valid:
            a = assessments.get(verdict.hotspot_key)
            if a is not None and a.flagged:
                out[bid] = Verdict(**{**verdict.__dict__, "valid": False,
                                      "reason": Reason.HOTSPOT_INCONSISTENT,
                                      "figures": tuple(sorted(dict(verdict.figures)
                                                              | dict(a.figures()))),
                                      "rewarded": False})
            elif verdict.valid:
                out[bid] = Verdict(**{**verdict.__dict__, "rewarded": True})
    by_round: dict[bytes, list[_Judged]] = defaultdict(list)
    for j in judged_all:
        by_round[j.report.challenge_id].append(j)
    for js in by_round.values():
        valid = sorted((j for j in js if j.reason is Reason.VALID),
                       key=lambda j: _order_key(entropy, j.report.content_id))
        rewarded = {j.report.content_id for j in valid[:v.max_rewarded_witnesses]}
        for j in js:
            out[j.report.content_id] = _verdict(
                j.report, epoch, j.reason, _figs(**j.figures),
                rewarded=j.report.content_id in rewarded, neighbours_heard=j.heard,
                neighbours_silent=j.silent)
    return EpochVerdicts(tuple(out[k] for k in sorted(out)), new_history, assessments)

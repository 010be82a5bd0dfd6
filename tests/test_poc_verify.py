"""`poc.verify_epoch` on a simulated network over the real DEM tile.

The air is radio_sim's (terrain, persistent shadowing 4 dB, Rician fading K = 6 dB,
RSSI/SNR measurement error and steps, antenna gain error, host clock offsets), not
the verifier's model, so acceptance is not circular. Scenarios are seeded: every
figure below is reproducible byte for byte.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from poc_runs import ATTACKS, acceptance_run

from coverage_net.messages import WitnessReport
from coverage_net.node import PocScenario, ScenarioResult, run_poc_scenario, save_verdicts
from coverage_net.poc import (
    LinkHistory,
    PathPredictor,
    Reason,
    Verdict,
    verdicts_bytes,
    verify_epoch,
)
from coverage_net.poc._normal import PHI_PPM, PHI_STEP_CENTI, phi_ppm
from coverage_net.store import MessageStore

CLI = Path(sys.executable).with_name("coverage-net")


def test_phi_table_is_the_normal_cdf():
    for i, ppm in enumerate(PHI_PPM):
        z = (i * PHI_STEP_CENTI - 500) / 100
        assert ppm == round(1e6 * 0.5 * (1 + math.erf(z / math.sqrt(2))))
    assert phi_ppm(-10_000) == PHI_PPM[0] and phi_ppm(10_000) == PHI_PPM[-1]
    assert all(a <= b for a, b in zip(PHI_PPM, PHI_PPM[1:], strict=False))


# --- the acceptance scenarios (200 hotspots, 1,000 beacons, real tile, two seeds) ---------

SEEDS = (1, 2)


def _runs(dem_dir, *, model_aware: bool) -> list[ScenarioResult]:
    return [acceptance_run(str(dem_dir), s, model_aware=model_aware) for s in SEEDS]


@pytest.fixture(scope="module")
def naive(dem_dir) -> list[ScenarioResult]:
    return _runs(dem_dir, model_aware=False)


@pytest.fixture(scope="module")
def aware(dem_dir) -> list[ScenarioResult]:
    return _runs(dem_dir, model_aware=True)


def _pooled_report_catch(runs: list[ScenarioResult], attack: str) -> float:
    forged = [v for r in runs for v in r.attack_reports(attack)]
    assert forged, f"the scenarios placed no forged {attack} report"
    return sum(not v.valid for v in forged) / len(forged)


def test_honest_witnesses_accepted_at_least_99_percent(naive, aware):
    for result in (*naive, *aware):
        assert result.beacons == 1_000
        honest = sum(result.honest_witness_reasons().values())
        assert honest > 20_000  # ~25 witnesses per beacon: the figure rests on many reports
        assert result.honest_witness_acceptance() >= 0.99, result.honest_witness_reasons()
        assert result.honest_flagged_rate() <= 0.01


def test_honest_acceptance_without_attackers(dem_dir):
    r = run_poc_scenario(PocScenario(dem_dir=str(dem_dir), hotspots=200, beacons=1_000, seed=1))
    assert r.honest_witness_acceptance() >= 0.99, r.honest_witness_reasons()
    assert r.honest_flagged_rate() <= 0.01


@pytest.mark.parametrize("attack", ATTACKS)
def test_naive_attacks_caught_for_95_percent_of_their_reports(naive, attack):
    assert _pooled_report_catch(naive, attack) >= 0.95


@pytest.mark.parametrize("attack", ["spoof_5km", "replay", "self_witness", "ring"])
def test_model_aware_attackers_caught_within_a_day(aware, attack):
    """Counted over the attackers with at least 3 honest hotspots in modelled range of
    their assertion (the issue's condition; a sybil's twin is its neighbour)."""
    caught = [c for r in aware for key, c in r.caught_hotspots(attack).items()
              if r.in_range_honest[key] >= 3 or attack == "self_witness"]
    assert len(caught) >= 4
    assert sum(caught) / len(caught) >= 0.95


def test_model_aware_inventors_caught_within_a_day(aware):
    """An inventor files the model's level where its neighbours measure the path's real
    offset the other way (reciprocity), link after link nearer the model than real paths
    ever are (model fit), with an SNR computed from the RSSI it invented (SNR spread):
    all 6 are flagged within a day, the honest stay within the 1 % (asserted above)."""
    caught = [c for r in aware for key, c in r.caught_hotspots("invent_rssi").items()
              if r.in_range_honest[key] >= 3]
    assert len(caught) == 6 and all(caught)
    reasons = {v.reason for r in aware for v in r.attack_reports("invent_rssi")}
    assert {Reason.RECIPROCITY_INCONSISTENT, Reason.MODEL_FIT_TOO_CLOSE,
            Reason.SNR_SPREAD_TOO_SMALL} <= reasons


def test_without_the_snr_spread_reciprocity_and_model_fit_still_catch_most_inventors(aware):
    """What the RSSI checks catch alone (a forger that adds noise of its own to the SNR
    evades the SNR spread): at least 5 of the 6 inventors flagged by reciprocity or model
    fit within a day of their first forgery."""
    caught = 0
    for r in aware:
        first: dict[bytes, int] = {}
        for v in r.attack_reports("invent_rssi"):
            first[v.hotspot_key] = min(first.get(v.hotspot_key, v.epoch), v.epoch)
        for key, e0 in first.items():
            if r.in_range_honest[key] < 3:
                continue
            caught += any(v.hotspot_key == key and v.epoch < e0 + r.epochs_per_day
                          and v.reason in (Reason.RECIPROCITY_INCONSISTENT,
                                           Reason.MODEL_FIT_TOO_CLOSE)
                          for v in r.verdicts)
    assert caught >= 5


@pytest.mark.xfail(strict=True, reason="not met: a relay that forges a few witnesses a day "
                   "at the edge of sensitivity looks like honest marginal reception (0 of 20 "
                   "over seeds 1-12; README: what cannot be caught)")
def test_model_aware_relays_caught(aware):
    caught = [c for r in aware for key, c in r.caught_hotspots("relay_30km").items()
              if r.in_range_honest[key] >= 3]  # the condition, as above
    assert caught and sum(caught) / len(caught) >= 0.95


@pytest.fixture(scope="module")
def rebroadcast(dem_dir) -> ScenarioResult:
    return run_poc_scenario(PocScenario(dem_dir=str(dem_dir), hotspots=200, beacons=1_000,
                                        attackers={"rebroadcast": 3}, seed=1))


CLOCKS_KNOWN_EPOCH = 12
"""By this epoch (6 h into a network that starts with every clock unknown) every host's
clock offset rests on enough reports for the arrival-time check (`arrival_min_reports`)."""


def test_rebroadcast_does_not_get_honest_hotspots_flagged(rebroadcast):
    """Three hotspots rebroadcast every beacon they hear at once (a wormhole): the honest
    hotspots around them witness beacons they cannot hear from the beaconer. Before the
    arrival-time check, 53 % of honest hotspots were flagged for it."""
    assert _pooled_report_catch([rebroadcast], "rebroadcast") >= 0.99  # measured 99.5 %
    assert rebroadcast.honest_flagged_rate() <= 0.01  # measured 1 of 197
    assert rebroadcast.honest_witness_acceptance() >= 0.99  # measured 99.39 %


def test_a_rebroadcast_is_refused_as_late_once_the_clocks_are_known(rebroadcast):
    """Once the hosts' clocks are solved, the honest hotspots that hear a beacon only as
    the wormhole repeats it file reports at least one airtime late: refused as such and
    kept out of their statistics."""
    repeats = [v for v in rebroadcast.attack_reports("rebroadcast")
               if v.epoch >= CLOCKS_KNOWN_EPOCH and v.reason is not Reason.DUPLICATE]
    late = [v for v in repeats if v.reason is Reason.ARRIVAL_LATE]
    assert len(repeats) > 5_000 and len(late) >= 0.99 * len(repeats)  # measured all 9,710
    # late by the beacon's airtime (US915 SF10, ~0.3 s) and the repeater's turnaround
    assert np.median([v.figure("arrival_excess_ms") for v in late]) > 250
    honest_late = [v for v in rebroadcast.verdicts if v.reason is Reason.ARRIVAL_LATE
                   and v.report_id not in rebroadcast.fraud]
    assert not honest_late


def test_no_honest_report_is_taken_for_a_late_repeat(naive, aware):
    """The six attacks' runs have no rebroadcaster: nothing honest comes late."""
    for r in (*naive, *aware):
        honest_late = [v for v in r.verdicts if v.reason is Reason.ARRIVAL_LATE
                       and r.role_of[v.hotspot_key] == "honest" and v.report_id not in r.fraud]
        assert not honest_late


def test_an_uncaught_model_aware_relay_gains_little(aware):
    """What the relays no check catches earn: their forged witnesses judged valid, over
    the valid witnesses they file of what their own radios really heard (measured 34
    over 586, 5.8 %: they may forge only where the model grants their place the beacon
    and they missed it), and how many of those are on paths that work."""
    forged_valid = own_valid = on_working_links = 0
    for r in aware:
        relays = {k for k, role in r.role_of.items() if role == "relay_30km"}
        beaconer = {v.challenge_id: v.hotspot_key for v in r.verdicts
                    if v.report_type != WitnessReport.TYPE}
        honest_links = {(beaconer.get(v.challenge_id), v.hotspot_key) for v in r.verdicts
                        if v.report_type == WitnessReport.TYPE and v.report_id not in r.fraud}
        for v in r.attack_reports("relay_30km"):
            if v.valid:
                forged_valid += 1
                tx, relay = beaconer[v.challenge_id], r.fraud[v.report_id]
                on_working_links += ((tx, relay) in honest_links or (relay, tx) in honest_links)
        own_valid += sum(v.valid for v in r.verdicts
                         if v.hotspot_key in relays and v.report_id not in r.fraud
                         and v.report_type == WitnessReport.TYPE)
    assert own_valid > 300 and forged_valid > 0
    assert forged_valid / own_valid <= 0.10
    # 15 of the 34 fill in a beacon the relay missed on a path that really works (it or
    # the beaconer heard the other honestly in the run): no check should refuse those
    assert on_working_links >= 0.3 * forged_valid


def test_naive_reasons_are_the_physics_not_luck(naive):
    reasons = {str(v.reason) for r in naive for v in r.attack_reports("invent_rssi")}
    assert {"rssi_too_strong", "rssi_above_free_space"} <= reasons
    assert {str(v.reason) for r in naive for v in r.attack_reports("self_witness")} \
        == {"self_witness"}
    assert {str(v.reason) for r in naive for v in r.attack_reports("ring")} <= {
        "rssi_too_strong", "rssi_above_free_space", "too_far"}


# --- determinism -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(dem_dir) -> ScenarioResult:
    return run_poc_scenario(PocScenario(dem_dir=str(dem_dir), hotspots=80, beacons=60,
                                        attackers={"spoof_5km": 2, "relay_30km": 2},
                                        keep_inputs=True, seed=3))


def _reverify(result: ScenarioResult, dem_dir, *, threads: int, shuffle_seed: int | None,
              cache: int) -> bytes:
    from coverage_net.radio import Terrain
    predictor = PathPredictor(result.params, Terrain(str(dem_dir)), num_threads=threads,
                              cache_links=cache)
    history = LinkHistory()
    out: list[Verdict] = []
    rng = random.Random(shuffle_seed)
    for e in result.epoch_inputs:
        lists = [list(e.challenges), list(e.beacon_reports), list(e.witness_reports)]
        if shuffle_seed is not None:
            for items in lists:
                rng.shuffle(items)
        r = verify_epoch(e.epoch, challenges=lists[0], beacon_reports=lists[1],
                         witness_reports=lists[2], registry=result.registry,
                         params=result.params, predictor=predictor, entropy=e.entropy,
                         history=history)
        history = r.history
        out.extend(r.verdicts)
    return verdicts_bytes(out)


def test_reverification_gives_the_scenario_verdicts(small, dem_dir):
    assert _reverify(small, dem_dir, threads=1, shuffle_seed=None, cache=0) \
        == verdicts_bytes(small.verdicts)


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shuffle_seed=st.integers(0, 2**32 - 1), threads=st.sampled_from([1, 2]),
       cache=st.sampled_from([0, 100_000]))
def test_same_inputs_any_order_any_threads_give_byte_identical_verdicts(
        small, dem_dir, shuffle_seed, threads, cache):
    assert _reverify(small, dem_dir, threads=threads, shuffle_seed=shuffle_seed, cache=cache) \
        == verdicts_bytes(small.verdicts)


def test_same_seed_same_verdicts_other_seed_differs(small, dem_dir):
    again = run_poc_scenario(PocScenario(dem_dir=str(dem_dir), hotspots=80, beacons=60,
                                         attackers={"spoof_5km": 2, "relay_30km": 2}, seed=3))
    assert verdicts_bytes(again.verdicts) == verdicts_bytes(small.verdicts)
    other = run_poc_scenario(PocScenario(dem_dir=str(dem_dir), hotspots=80, beacons=60,
                                         attackers={"spoof_5km": 2, "relay_30km": 2}, seed=4))
    assert verdicts_bytes(other.verdicts) != verdicts_bytes(small.verdicts)


def test_verdicts_decode_from_their_bytes(small):
    for v in small.verdicts[:200]:
        assert Verdict.from_cbor(v.to_cbor()) == v


def test_rewarded_witnesses_follow_the_entropy_not_arrival(small):
    by_round: dict[bytes, list[Verdict]] = {}
    for v in small.verdicts:
        if v.report_type == WitnessReport.TYPE:
            by_round.setdefault(v.challenge_id, []).append(v)
    for vs in by_round.values():
        rewarded = [v for v in vs if v.rewarded]
        assert len(rewarded) == min(14, sum(v.valid for v in vs))


# --- neighbour inconsistency and explain, on real verdicts -------------------------------


def _neighbour_inconsistent(small: ScenarioResult, dem_dir) -> Verdict:
    """A round whose likely neighbours all stay silent, heard only by an unlikely witness."""
    from coverage_net.radio import Terrain
    predictor = PathPredictor(small.params, Terrain(str(dem_dir)))
    reg, params = small.registry, small.params
    beacon_verdicts = {v.report_id: v for v in small.verdicts if v.report_type == "beacon_report"}
    sens = None
    for e in small.epoch_inputs:
        for b in e.beacon_reports:
            bv = beacon_verdicts[b.content_id]
            if not bv.valid or (bv.figure("neighbours_likely") or 0) < 3:
                continue
            tx = reg.get(b.hotspot_key)
            everyone = np.arange(len(reg))
            everyone = everyone[everyone != tx.index]
            loss = predictor.loss_centi_db(reg, tx.index, everyone, b.freq_hz)
            modelled = b.eirp_centi_dbm - loss + reg.gain_centi_dbi[everyone]
            sens = bv.figure("sensitivity_centi_dbm")
            sigma = params.verifier.rssi_sigma_centi_db
            margin = (modelled - sens) * 100 // sigma
            dist = reg.distances_m(tx.index, everyone)
            pick = [int(j) for j, m, d in zip(everyone, margin, dist, strict=True)
                    if -250 <= m <= -140 and d <= params.verifier.neighbour_radius_m]
            if not pick:
                continue
            j = pick[0]
            key = reg.keys[j]
            keypair = next(k for k in _keys_of(small) if k.public_key == key)
            rssi = (sens - 200) / 100  # 2 dB under sensitivity: within reach of a real radio
            w = WitnessReport(
                witness_key=key, challenge_id=b.challenge_id, epoch=b.epoch,
                payload_hash=b.payload_hash, rssi_dbm=rssi, snr_db=-15.0, freq_hz=b.freq_hz,
                spreading_factor=b.spreading_factor, bandwidth_hz=b.bandwidth_hz,
                radio_timestamp_us=1, host_time_ms=b.host_time_ms + 300).sign(keypair)
            w = dataclasses.replace(w, snr_db=round(rssi - _noise_dbm(params), 2)).sign(keypair)
            others = [x for x in e.witness_reports if x.challenge_id != b.challenge_id]
            r = verify_epoch(e.epoch, challenges=e.challenges, beacon_reports=e.beacon_reports,
                             witness_reports=[*others, w], registry=reg, params=params,
                             predictor=predictor, entropy=e.entropy)
            return r.by_id()[w.content_id]
    pytest.fail("no round with 3 likely neighbours and an unlikely hotspot in range")


def _noise_dbm(params) -> float:
    from coverage_net.radio import thermal_noise_floor_dbm
    return float(thermal_noise_floor_dbm(125_000, params.verifier.noise_figure_centi_db / 100))


def _keys_of(result: ScenarioResult):
    from coverage_net.node._poc_sim import _keys
    seeds = {3: 80}
    seed, n = next(iter(seeds.items()))
    return _keys(seed, n, b"hotspot")


def _pick(result: ScenarioResult, reason: Reason) -> Verdict:
    for v in result.verdicts:
        if v.report_type == WitnessReport.TYPE and v.reason is reason:
            return v
    raise AssertionError(f"no {reason} witness in the scenario")


def test_a_beacon_heard_only_where_unlikely_is_neighbour_inconsistent(small, dem_dir):
    v = _neighbour_inconsistent(small, dem_dir)
    assert v.reason is Reason.NEIGHBOUR_INCONSISTENT
    assert v.figure("neighbours_likely") >= 3 and v.figure("neighbours_likely_heard") == 0
    assert v.figure("margin_centi_sigma") <= -128
    assert len(v.neighbours_silent) == v.figure("neighbours_likely")


def _dec(centi: int) -> str:
    sign = "-" if centi < 0 else ""
    return f"{sign}{abs(centi) // 100}.{abs(centi) % 100:02d}"


def test_poc_explain_prints_the_figures_of_real_verdicts(naive, small, dem_dir, tmp_path):
    cases = [_pick(naive[0], Reason.VALID), _pick(naive[0], Reason.RSSI_TOO_STRONG),
             _pick(naive[0], Reason.RSSI_TOO_WEAK), _neighbour_inconsistent(small, dem_dir)]
    data = tmp_path / "node"
    with MessageStore.open(data) as store:
        save_verdicts(store, cases)
    for v in cases:
        out = subprocess.run([str(CLI), "poc", "explain", v.report_id.hex()[:12], "--data",
                              str(data)], capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        text = out.stdout
        assert str(v.reason) in text
        assert ("VALID" in text) and (("INVALID" in text) != v.valid)
        assert f"{_dec(v.figure('measured_rssi_centi_dbm'))} dBm" in text
        assert f"{_dec(v.figure('modelled_rssi_centi_dbm'))} dBm" in text
        assert f"{_dec(v.figure('deviation_centi_sigma'))} sigma" in text
        km = v.figure("distance_m")
        assert f"{km // 1000}.{round(km % 1000 / 10):02d} km" in text or \
            f"{(km + 5) // 1000}." in text
        assert f"{v.figure('lag_ms')} ms" in text
    too_strong = cases[1]
    assert too_strong.figure("deviation_centi_sigma") > 300
    assert cases[2].figure("deviation_centi_sigma") < -300


def _explained(v: Verdict, data) -> str:
    """What `coverage-net poc explain` prints for `v`, stored alone in a node at `data`."""
    with MessageStore.open(data) as store:
        save_verdicts(store, [v])
    return subprocess.run([str(CLI), "poc", "explain", v.report_id.hex(), "--data", str(data)],
                          capture_output=True, text=True, check=True).stdout


def test_poc_explain_prints_a_model_fit_flag_with_its_figures(aware, tmp_path):
    """A model-aware inventor's witness refused for fitting the model too well: the
    operator reads how many links, how close to the model, and the honest floor."""
    v = _pick(aware[0], Reason.MODEL_FIT_TOO_CLOSE)
    assert aware[0].role_of[aware[0].fraud[v.report_id]] in ("invent_rssi", "spoof_5km")
    rms, floor = v.figure("hotspot_model_fit_rms_centi_db"), v.figure(
        "hotspot_model_fit_floor_centi_db")
    assert 0 <= rms < floor and v.figure("hotspot_model_fit_links") >= 3
    out = _explained(v, tmp_path / "node")
    assert "model_fit_too_close" in out and "closer to the propagation model" in out
    assert re.search(rf"hotspot model fit rms +{re.escape(_dec(rms))} dB", out), out
    assert re.search(rf"hotspot model fit floor +{re.escape(_dec(floor))} dB", out), out
    assert re.search(rf"hotspot model fit links +{v.figure('hotspot_model_fit_links')}\b", out)


def test_poc_explain_prints_an_snr_spread_flag_with_its_figures(aware, tmp_path):
    """A model-aware forger's witness refused because its SNR follows its RSSI exactly:
    the operator reads over how many reports, the spread and the honest floor."""
    v = _pick(aware[0], Reason.SNR_SPREAD_TOO_SMALL)
    assert aware[0].role_of[aware[0].fraud[v.report_id]] != "honest"
    spread, floor = v.figure("hotspot_snr_spread_centi_db"), v.figure(
        "hotspot_snr_spread_floor_centi_db")
    reports = v.figure("hotspot_snr_spread_reports")
    assert 0 <= spread < floor and reports >= 6
    out = _explained(v, tmp_path / "node")
    assert "snr_spread_too_small" in out and "follows its RSSI more exactly" in out
    assert re.search(rf"hotspot SNR spread +{re.escape(_dec(spread))} dB", out), out
    assert re.search(rf"hotspot SNR spread floor +{re.escape(_dec(floor))} dB", out), out
    assert re.search(rf"hotspot SNR spread reports +{reports}\b", out), out


# --- one hotspot's radio clock ----------------------------------------------------------


def _reverify_epoch(small: ScenarioResult, dem_dir, e, witnesses) -> dict[bytes, Verdict]:
    from coverage_net.radio import Terrain
    predictor = PathPredictor(small.params, Terrain(str(dem_dir)))
    r = verify_epoch(e.epoch, challenges=e.challenges, beacon_reports=e.beacon_reports,
                     witness_reports=witnesses, registry=small.registry, params=small.params,
                     predictor=predictor, entropy=e.entropy)
    return r.by_id()


def _busy_witness(small: ScenarioResult):
    """An epoch and a hotspot with at least 4 valid witness reports in it."""
    valid = {v.report_id for v in small.verdicts if v.valid}
    for e in small.epoch_inputs:
        mine: dict[bytes, list[WitnessReport]] = {}
        for w in e.witness_reports:
            if w.content_id in valid:
                mine.setdefault(w.witness_key, []).append(w)
        for key, reports in sorted(mine.items()):
            if len(reports) >= 4 and small.role_of[key] == "honest":
                return e, key, reports
    pytest.fail("no hotspot with 4 valid reports in one epoch")


def test_a_report_off_the_hotspots_radio_clock_is_refused(small, dem_dir):
    e, key, reports = _busy_witness(small)
    keypair = next(k for k in _keys_of(small) if k.public_key == key)
    odd = reports[1]
    moved = dataclasses.replace(odd, radio_timestamp_us=(odd.radio_timestamp_us + 5_000_000)
                                % (1 << 32)).sign(keypair)
    witnesses = [moved if w is odd else w for w in e.witness_reports]
    verdicts = _reverify_epoch(small, dem_dir, e, witnesses)
    assert verdicts[moved.content_id].reason is Reason.RADIO_CLOCK_INCONSISTENT
    assert all(verdicts[w.content_id].valid for w in reports if w is not odd)


def test_a_counter_that_wraps_or_is_absent_is_not_held_against_anyone(small, dem_dir):
    e, key, reports = _busy_witness(small)
    keypair = next(k for k in _keys_of(small) if k.public_key == key)
    mine = {w.content_id for w in reports}
    for shift in (-reports[0].radio_timestamp_us - 1_000, None):  # wrap / RN2483 (none: 0)
        changed = {}
        for w in reports:
            ts = 0 if shift is None else (w.radio_timestamp_us + shift) % (1 << 32)
            changed[w.content_id] = dataclasses.replace(w, radio_timestamp_us=ts).sign(keypair)
        witnesses = [changed.get(w.content_id, w) for w in e.witness_reports]
        verdicts = _reverify_epoch(small, dem_dir, e, witnesses)
        assert all(verdicts[changed[i].content_id].valid for i in mine)


@given(offset_us=st.integers(0, 2**32 - 1), hosts=st.lists(
    st.integers(0, 1_800_000), min_size=3, max_size=30, unique=True),
    jump_us=st.integers(3_000_000, 2**32 - 3_000_000))
def test_radio_clock_one_radio_passes_another_radio_is_caught(offset_us, hosts, jump_us):
    from coverage_net.poc._radio_clock import off_the_radio_clock
    wrap = 1 << 32
    t0 = 1_767_225_600_000
    one = [((offset_us + (t0 + h) * 1000) % wrap or 1, t0 + h) for h in hosts]
    assert off_the_radio_clock(one, 2_000) == []  # wraps included: one clock, one offset
    # a packet of another radio: its clock is jump_us away from this one's (on the wrap)
    other = ((offset_us + jump_us + (t0 + 900_000) * 1000) % wrap or 1, t0 + 900_000)
    assert off_the_radio_clock([*one, other], 2_000) == [len(one)]
    assert off_the_radio_clock([(0, t0 + h) for h in hosts], 2_000) == []  # RN2483: none


def test_a_witness_whose_beacons_never_come_is_refused_for_unanswered_challenges(small, dem_dir):
    """The inputs of `small` again, but one hotspot's beacon reports never arrive (a key
    with no radio): once two of its challenges went unanswered in the window, its valid
    witness reports become `challenges_unanswered`; before that, and for everyone
    else, nothing changes."""
    from coverage_net.radio import Terrain
    valid = {v.report_id for v in small.verdicts if v.valid}
    answered_by = {v.challenge_id for v in small.verdicts
                   if v.valid and v.report_type == "beacon_report"}
    flag_from: dict[bytes, int] = {}  # first epoch with 2 unanswered from 2 validators
    seen: dict[bytes, set[bytes]] = {}
    for e in small.epoch_inputs:
        for ch in e.challenges:
            if ch.content_id in answered_by:
                seen.setdefault(ch.challengee_key, set()).add(ch.challenger_key)
                if len(seen[ch.challengee_key]) >= 2:
                    flag_from.setdefault(ch.challengee_key, e.epoch)
    witnessing = {w.witness_key: e.epoch for e in small.epoch_inputs
                  for w in e.witness_reports if w.content_id in valid}
    silent = next(k for k, e in sorted(flag_from.items()) if witnessing.get(k, -1) > e)
    second = flag_from[silent]
    predictor = PathPredictor(small.params, Terrain(str(dem_dir)))
    history = LinkHistory()
    refused, before = [], []
    for e in small.epoch_inputs:
        r = verify_epoch(e.epoch, challenges=e.challenges, witness_reports=e.witness_reports,
                         beacon_reports=[b for b in e.beacon_reports if b.hotspot_key != silent],
                         registry=small.registry, params=small.params, predictor=predictor,
                         entropy=e.entropy, history=history)
        history = r.history
        for v in r.verdicts:
            if v.hotspot_key == silent and v.report_type == WitnessReport.TYPE:
                (refused if e.epoch >= second else before).append(v)
        assert r.flagged(silent) == (e.epoch >= second)
    once_valid = [v for v in refused if v.report_id in valid]
    assert once_valid and all(v.reason is Reason.CHALLENGES_UNANSWERED for v in once_valid)
    assert dict(refused[0].figures)["hotspot_challenges_unanswered"] >= 2
    assert all(v.reason is not Reason.CHALLENGES_UNANSWERED for v in before)


def test_a_hotspot_down_for_its_first_epochs_is_paid_again_once_it_hears_its_neighbours(
        small, dem_dir):
    """The inputs of `small` again, but one busy honest hotspot is down for the first 4
    epochs (none of its reports exist). Missing its neighbours' first beacons may get it
    flagged `hotspot_inconsistent`; once it hears their next beacons those misses are
    gone and the flag lapses within the 48-epoch window: in the last two epochs its
    reports are valid again, as in the run without the outage."""
    from coverage_net.radio import Terrain
    valid = {v.report_id for v in small.verdicts if v.valid}
    busy: dict[bytes, int] = {}
    for e in small.epoch_inputs:
        for w in e.witness_reports:
            if w.content_id in valid and small.role_of[w.witness_key] == "honest":
                busy[w.witness_key] = busy.get(w.witness_key, 0) + 1
    predictor = PathPredictor(small.params, Terrain(str(dem_dir)))
    first, last = small.epoch_inputs[0].epoch, small.epoch_inputs[-1].epoch
    assert last - first + 1 < small.params.verifier.hotspot_window_epochs  # no expiry here
    flagged_while_down = []
    for key in sorted(busy, key=lambda k: (-busy[k], k))[:6]:
        history, late = LinkHistory(), []
        for e in small.epoch_inputs:
            down = e.epoch < first + 4
            r = verify_epoch(
                e.epoch, challenges=e.challenges, registry=small.registry,
                beacon_reports=[b for b in e.beacon_reports if not (down and b.hotspot_key == key)],
                witness_reports=[w for w in e.witness_reports
                                 if not (down and w.witness_key == key)],
                params=small.params, predictor=predictor, entropy=e.entropy, history=history)
            history = r.history
            if down and r.flagged(key):
                flagged_while_down.append(key)
            if e.epoch >= last - 1:
                late += [v for v in r.verdicts if v.hotspot_key == key]
        assert not r.flagged(key)
        assert late and all(v.valid for v in late if v.report_id in valid), key.hex()
    assert flagged_while_down  # the outage did get some of them flagged: the case at stake

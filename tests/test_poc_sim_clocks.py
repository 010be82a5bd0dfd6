"""The PoC scenario's host clocks: what an arrival-time check could and could not see.

Every host stamps with its clock's fixed offset plus per-packet jitter (15 ms), so a
witness report's lag behind its beacon report, less the two true offsets, is the
shared 50 ms of the scenario's stamping plus about 21 ms of jitter; a rebroadcaster
sends the beacon again as soon as its airtime has ended, so the reports of those who
hear only the repeat are late by at least that airtime; ``early_stamp`` colluders
stamp their reports of one victim's beacons early, on both clocks."""

from __future__ import annotations

import h3
import numpy as np

from coverage_net.node import EARLY_STAMP_MS, PocScenario, run_poc_scenario
from coverage_net.node._poc_sim import _Sim
from coverage_net.poc import beacon_payload
from coverage_net.radio import time_on_air_s


def _lags_past_true_clocks(result, sim: _Sim):
    """Every witness report with its beacon report and its lag behind it less the two
    hosts' true clock offsets (the simulator's, which no verifier sees)."""
    offset = {k.public_key: sim.clock_offset_ms[i] for i, k in enumerate(sim.keys)}
    for e in result.epoch_inputs:
        beacons = {b.challenge_id: b for b in e.beacon_reports}
        for w in e.witness_reports:
            b = beacons[w.challenge_id]
            yield w, b, (w.host_time_ms - b.host_time_ms
                         - (offset[w.witness_key] - offset[b.hotspot_key]))


def test_host_stamps_jitter_and_a_rebroadcast_is_late_by_an_airtime(dem_dir):
    sc = PocScenario(dem_dir=str(dem_dir), hotspots=60, beacons=120, seed=3, keep_inputs=True,
                     attackers={"rebroadcast": 2})
    result = run_poc_scenario(sc)
    sim = _Sim(sc)  # the same seed: the same world and clocks
    direct, repeated = [], []
    for w, _, late in _lags_past_true_clocks(result, sim):
        (repeated if w.content_id in result.fraud else direct).append(late)
    direct_ms, repeated_ms = np.array(direct), np.array(repeated)
    assert direct_ms.size > 500 and repeated_ms.size > 20
    # a beacon report's stamp is one draw shared by all its witnesses: medians move a little
    assert abs(np.median(direct_ms) - 50) <= 6
    assert 15 * np.sqrt(2) * 0.85 < np.std(direct_ms) < 15 * np.sqrt(2) * 1.15
    assert np.abs(direct_ms - 50).max() <= 2 * 45  # each stamp within +-3 sigma
    b = sim.beacon
    first = result.epoch_inputs[0].beacon_reports[0]
    payload = beacon_payload(first.secret, first.challenge_id, "US915",
                             spreading_factor=b.spreading_factor, bandwidth_hz=b.bandwidth_hz)
    airtime_ms = 1000 * float(time_on_air_s(len(payload), b.spreading_factor, b.bandwidth_hz))
    assert airtime_ms > 250
    assert repeated_ms.min() >= 50 - 90 + airtime_ms  # at least one airtime, less jitter
    assert np.median(repeated_ms) - 50 > 0.5 * airtime_ms


def test_early_stamp_colluders_stamp_only_their_victims_beacons_early_on_both_clocks(dem_dir):
    """``early_stamp``: the colluders are the hotspots nearest to one honest victim; their
    reports of its beacons (and only those) are forged, stamped `EARLY_STAMP_MS` early on
    the host clock and on the radio clock alike, so their radio clock stays consistent."""
    sc = PocScenario(dem_dir=str(dem_dir), hotspots=60, beacons=240, seed=3, keep_inputs=True,
                     attackers={"early_stamp": 3})
    result = run_poc_scenario(sc)
    sim = _Sim(sc)
    victim = sim.keys[sim.stamp_victim].public_key
    colluders = {k.public_key for i, k in enumerate(sim.keys) if sim.role[i] == "early_stamp"}
    assert len(colluders) == 3 and result.role_of[victim] == "honest"
    here = sim.world.hotspots[sim.stamp_victim]
    nearest = sorted(range(sim.n_radio), key=lambda i: h3.great_circle_distance(
        (here.lat_deg, here.lon_deg), (sim.world.hotspots[i].lat_deg,
                                       sim.world.hotspots[i].lon_deg)))
    assert {sim.keys[i].public_key for i in nearest[1:4]} == colluders
    early, honest = [], []
    for w, b, late in _lags_past_true_clocks(result, sim):
        forged = w.content_id in result.fraud
        assert forged == (w.witness_key in colluders and b.hotspot_key == victim)
        (early if forged else honest).append(late)
    assert len(early) >= 3 and len(honest) > 500
    assert np.abs(np.array(early) - (50 - EARLY_STAMP_MS)).max() <= 2 * 45
    assert np.abs(np.array(honest) - 50).max() <= 2 * 45
    colluder_reasons = {str(v.reason) for v in result.verdicts
                        if v.report_id in result.fraud}
    assert "radio_clock_inconsistent" not in colluder_reasons


def test_early_stamp_colluders_do_not_make_their_victims_honest_witnesses_late(dem_dir):
    """Eight colluders stamp one honest hotspot's beacons 1 s early, among 200 hotspots
    over a day. Under rules 4 the solve moved its clock, and 24 of its 60 honest witness
    reports were refused as late (seed 4); the solve now leaves the colluders' pairs
    out, and the victim's clock stays where its honest witnesses put it."""
    sc = PocScenario(dem_dir=str(dem_dir), hotspots=200, beacons=1_000, seed=4,
                     attackers={"early_stamp": 8})
    result = run_poc_scenario(sc)
    beaconer = {v.challenge_id: v.hotspot_key for v in result.verdicts
                if v.report_type == "beacon_report"}
    forged = [v for v in result.verdicts if v.report_id in result.fraud]
    (victim,) = {beaconer[v.challenge_id] for v in forged}
    assert len(forged) >= 16 and result.role_of[victim] == "honest"
    honest = [v for v in result.verdicts if v.report_type == "witness_report"
              and beaconer.get(v.challenge_id) == victim and v.report_id not in result.fraud]
    assert len(honest) >= 50
    assert [str(v.reason) for v in honest if not v.valid] == []
    assert max(dict(v.figures)["arrival_excess_ms"] for v in honest) <= 100
    assert min(dict(v.figures)["arrival_excess_ms"] for v in forged) < -900  # seen early

"""Simulator impairments: Rician fading, measurement error, gain error, clock offsets.

The air the simulator delivers must differ from the model the verifier predicts
with, in seeded and reproducible ways, and not at all by default.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.radio import (
    LORASIM,
    LORASIM_SENSITIVITY_DBM,
    FreeSpace,
    Station,
    path_loss_db,
    time_on_air_s,
)
from radio_sim import (
    Channel,
    ImpairmentError,
    Impairments,
    Scenario,
    SimConfigError,
    Transmission,
    World,
    run_scenario,
    scenario_from_args,
)

EULER_GAMMA = 0.5772156649015329


def _hs(name, lat, lon, **kw) -> Station:
    return Station(name, cell=h3.str_to_int(h3.latlng_to_cell(lat, lon, 12)), **kw)


def _tx(pid, sender, start=0.0, *, sf=9, freq=868_100_000, power=14.0) -> Transmission:
    return Transmission(pid, sender, start, float(time_on_air_s(20, sf, 125_000)), freq, sf,
                        125_000, 5, power)


def _ring_world(n=60, radius_deg=0.08, seed=1, prefix="h", **kw) -> World:
    rng = np.random.default_rng(seed)
    return World([_hs(f"{prefix}{i}", 44 + rng.uniform(-radius_deg, radius_deg),
                      -71 + rng.uniform(-radius_deg, radius_deg), region="EU868", **kw)
                  for i in range(n)])


def _batch(channel: Channel, tx: Transmission):
    channel.begin(tx)
    return channel.end_batch(tx.packet_id)


def _small(**kw) -> Scenario:
    kw.setdefault("hotspots", 200)
    kw.setdefault("beacons_per_day", 12)
    kw.setdefault("days", 0.25)
    kw.setdefault("density_per_km2", 0.05)
    return Scenario(**kw)


# -- the fading's statistics against the closed form ----------------------------------------


def _e1(x: float) -> float:
    """Exponential integral E1(x) = -gamma - ln x - sum (-x)^n / (n n!), for 0 < x < 20."""
    terms, term = [], 1.0
    for n in range(1, 120):
        term *= -x / n
        terms.append(term / n)
    return -EULER_GAMMA - math.log(x) - math.fsum(terms)


def _rician_db_moments(k: float) -> tuple[float, float, float]:
    """(mean closed form, mean and variance by integrating the pdf) of 10 log10 |h|^2.

    |h|^2 with E|h|^2 = 1 has the density (K+1) e^-K e^-(K+1)x I0(2 sqrt(K(K+1)x));
    E ln |h|^2 = ln K + E1(K) - ln(K+1) (the log-moment of a noncentral chi-square
    with two degrees of freedom).
    """
    mean_closed = 10 / math.log(10) * (math.log(k) + _e1(k) - math.log(k + 1))
    t_db = np.linspace(-120.0, 20.0, 400_001)
    x = 10 ** (t_db / 10)
    pdf = ((k + 1) * np.exp(-k - (k + 1) * x) * np.i0(2 * np.sqrt(k * (k + 1) * x))
           * x * math.log(10) / 10)
    mass = np.trapezoid(pdf, t_db)
    mean = np.trapezoid(t_db * pdf, t_db) / mass
    var = np.trapezoid((t_db - mean) ** 2 * pdf, t_db) / mass
    return mean_closed, float(mean), float(var)


@pytest.mark.parametrize("k_db", [0.0, 6.0, 10.0])
def test_rician_power_in_db_has_the_closed_form_mean_and_variance(k_db):
    k = 10 ** (k_db / 10)
    mean_closed, mean_int, var_int = _rician_db_moments(k)
    assert mean_int == pytest.approx(mean_closed, abs=1e-6)  # the two references agree
    imp = Impairments(fading="rician", rician_k_db=k_db, seed=11)
    draws = np.concatenate([imp.fading_db(pid, np.arange(5_000)) for pid in range(10)])
    assert len(draws) == 50_000
    # standard errors here are ~0.02 dB on the mean and ~1.5% on the variance
    assert draws.mean() == pytest.approx(mean_closed, abs=0.1)
    assert draws.var() == pytest.approx(var_int, rel=0.06)
    assert np.mean(10 ** (draws / 10)) == pytest.approx(1.0, abs=0.02)  # E|h|^2 = 1
    assert draws.max() <= imp.fading_max_db


def test_no_receiver_that_could_hear_a_faded_packet_is_skipped():
    """Candidates are widened by the fading's largest gain: every receiver whose faded
    power reaches the report margin is reported, however far the model puts it."""
    world = World([_hs("tx", 44.0, -71.0, region="EU868")]
                  + [_hs(f"r{i}", 44.0 + d / 111.195, -71.0, region="EU868")
                     for i, d in enumerate(np.linspace(0.2, 5.0, 400))])
    imp = Impairments(fading="rician", rician_k_db=0.0, seed=4)
    channel = Channel(world, model=LORASIM, sensitivity="lorasim", impairments=imp,
                      regulatory_limits=False)
    plain = Channel(world, model=LORASIM, sensitivity="lorasim", regulatory_limits=False)
    everyone = np.arange(1, len(world))
    loss = path_loss_db(world.sites[0], world.sites[everyone], LORASIM, freq_hz=868_100_000,
                        tx_height_m=float(world.height_m[0]), rx_height_m=world.height_m[everyone])
    total_faded = total_plain = 0
    for pid in range(40):
        tx = _tx(pid, 0, start=pid * 10.0, sf=12)
        faded = (14.0 + world.gain_dbi[0] + world.gain_dbi[everyone] - loss
                 + imp.fading_db(pid, everyone))
        sens = LORASIM_SENSITIVITY_DBM[(12, 125_000)]
        should = set(everyone[faded >= sens - channel.report_margin_db].tolist())
        got = _batch(channel, tx)
        assert set(got.receivers.tolist()) == should
        total_faded += len(got)
        total_plain += len(_batch(plain, tx))
    assert total_faded != total_plain  # the fading moved receivers across the margin


# -- reproducibility and order independence ---------------------------------------------------

IMPAIRED = dict(fading="rician", rician_k_db=3.0, rssi_error_sigma_db=2.0, rssi_step_db=1.0,
                snr_error_sigma_db=1.0, snr_step_db=0.25, gain_error_sigma_db=2.0)


def test_same_seed_gives_identical_receptions_another_seed_differs(tmp_path):
    a = run_scenario(_small(seed=3, impairments=Impairments(seed=7, **IMPAIRED)), tmp_path / "a")
    b = run_scenario(_small(seed=3, impairments=dict(seed=7, **IMPAIRED)), tmp_path / "b")
    c = run_scenario(_small(seed=3, impairments=Impairments(seed=8, **IMPAIRED)), tmp_path / "c")
    plain = run_scenario(_small(seed=3), tmp_path / "plain")
    assert a.link_table.read_bytes() == b.link_table.read_bytes()
    assert a.link_table.read_bytes() != c.link_table.read_bytes()
    assert a.link_table.read_bytes() != plain.link_table.read_bytes()
    assert a.summary["receptions_reported"] > 500
    assert a.summary["scenario"]["impairments"] == dict(
        seed=7, clock_offset_sigma_ms=0.0, host_jitter_sigma_ms=0.0, **IMPAIRED)


def test_draws_do_not_depend_on_the_order_receivers_are_evaluated():
    imp = Impairments(seed=5, **IMPAIRED)
    everyone = np.arange(500)
    perm = np.random.default_rng(0).permutation(500)
    for draw in (lambda js: imp.fading_db(9, js),
                 lambda js: imp.reported_rssi_dbm(9, js, np.full(len(js), -100.0)),
                 lambda js: imp.reported_snr_db(9, js, np.zeros(len(js))),
                 imp.gain_errors_db):
        whole = draw(everyone)
        assert np.array_equal(draw(perm), whole[perm])
        assert np.array_equal(draw(everyone[123:130]), whole[123:130])
        assert np.array_equal(draw(np.array([42])), whole[42:43])

    # in the channel: more hotspots in the world (so more and other candidates) leave the
    # receptions of the hotspots both worlds share unchanged
    small = _ring_world(40)
    large = World(list(small.hotspots) + list(_ring_world(80, seed=2, prefix="x").hotspots))
    got = {}
    for name, world in (("small", small), ("large", large)):
        channel = Channel(world, model=FreeSpace(), impairments=imp, regulatory_limits=False)
        batch = _batch(channel, _tx(77, 0, sf=12))
        keep = batch.receivers < len(small)
        got[name] = [a[keep].tolist() for a in (batch.receivers, batch.rssi_dbm, batch.snr_db,
                                                batch.delivered)]
    assert got["small"] == got["large"] and len(got["small"][0]) == len(small) - 1


def test_defaults_leave_receptions_byte_identical(tmp_path):
    runs = [run_scenario(_small(seed=2, shadowing_sigma_db=4.0, **kw), tmp_path / str(i))
            for i, kw in enumerate([{}, {"impairments": Impairments()}, {"impairments": {}},
                                    {"impairments": Impairments(seed=99, rician_k_db=1.0)}])]
    tables = {r.link_table.read_bytes() for r in runs}
    assert len(tables) == 1 and runs[0].summary["receptions_reported"] > 500
    assert not Impairments(seed=99, rician_k_db=1.0).active

    world = _ring_world()
    batches = [_batch(Channel(world, model=FreeSpace(), regulatory_limits=False, **kw),
                      _tx(1, 0, sf=12)).receptions()
               for kw in ({}, {"impairments": None}, {"impairments": Impairments(seed=3)})]
    assert batches[0] == batches[1] == batches[2] and len(batches[0]) == len(world) - 1


# -- what each impairment does ----------------------------------------------------------------


def test_gain_error_is_used_both_sending_and_receiving():
    world = World([_hs("a", 44.0, -71.0, region="EU868", antenna_gain_dbi=3.0),
                   _hs("b", 44.02, -71.0, region="EU868", antenna_gain_dbi=5.0)])
    imp = Impairments(gain_error_sigma_db=3.0, seed=12)
    err = [imp.gain_error_db(0), imp.gain_error_db(1)]
    assert all(abs(e) > 0.01 for e in err) and err[0] != err[1]
    impaired = Channel(world, model=FreeSpace(), impairments=imp, regulatory_limits=False)
    plain = Channel(world, model=FreeSpace(), regulatory_limits=False)
    for pid, sender in ((1, 0), (2, 1)):
        tx = _tx(pid, sender, start=pid * 10.0)
        shift = _batch(impaired, tx).rssi_dbm - _batch(plain, tx).rssi_dbm
        assert shift.tolist() == pytest.approx([err[0] + err[1]])
    assert world.gain_dbi.tolist() == [3.0, 5.0]  # what the hotspots assert is unchanged
    assert impaired.true_gain_dbi.tolist() == pytest.approx([3.0 + err[0], 5.0 + err[1]])


def test_measurement_error_changes_what_is_reported_not_what_is_received():
    world = _ring_world(200, radius_deg=0.015)  # LoRaSim's urban loss: a few hundred metres
    imp = Impairments(rssi_error_sigma_db=3.0, rssi_step_db=1.0, snr_error_sigma_db=2.0,
                      snr_step_db=0.25, seed=6)
    impaired = Channel(world, model=LORASIM, sensitivity="lorasim", impairments=imp,
                       regulatory_limits=False)
    plain = Channel(world, model=LORASIM, sensitivity="lorasim", regulatory_limits=False)
    rssi_err, snr_err, lost = [], [], 0
    for pid in range(30):
        tx = _tx(pid, pid % len(world), start=pid * 10.0, sf=12)
        a, b = _batch(impaired, tx), _batch(plain, tx)
        assert np.array_equal(a.receivers, b.receivers)
        assert np.array_equal(a.delivered, b.delivered) and np.array_equal(a.reason, b.reason)
        assert np.array_equal(a.rssi_dbm, np.round(a.rssi_dbm))  # whole dB
        assert np.array_equal(a.snr_db * 4, np.round(a.snr_db * 4))  # quarter dB
        rssi_err.extend(a.rssi_dbm - b.rssi_dbm)
        snr_err.extend(a.snr_db - b.snr_db)
        lost += int((~a.delivered).sum())
    assert 100 < lost < len(rssi_err) - 100 and len(rssi_err) > 1000
    # sigma^2 plus the rounding's step^2 / 12
    assert np.std(rssi_err) == pytest.approx(math.sqrt(9 + 1 / 12), rel=0.08)
    assert np.std(snr_err) == pytest.approx(math.sqrt(4 + 1 / 192), rel=0.08)
    assert abs(np.mean(rssi_err)) < 0.3 and abs(np.mean(snr_err)) < 0.2


def test_clock_offsets_are_fixed_per_hotspot_and_clamped():
    imp = Impairments(clock_offset_sigma_ms=40.0, seed=21)
    offsets = [imp.clock_offset_ms(i) for i in range(4_000)]
    assert all(type(o) is int for o in offsets)
    assert offsets == [Impairments(clock_offset_sigma_ms=40.0, seed=21).clock_offset_ms(i)
                       for i in range(4_000)]
    assert offsets[17] == imp.clock_offset_ms(17)
    assert max(abs(o) for o in offsets) <= 120  # +-3 sigma
    assert np.std(offsets) == pytest.approx(40.0, rel=0.06)
    assert offsets != [Impairments(clock_offset_sigma_ms=40.0, seed=22).clock_offset_ms(i)
                       for i in range(4_000)]
    assert Impairments(seed=21).clock_offset_ms(5) == 0
    assert Impairments(seed=21).gain_error_db(5) == 0.0


def test_host_timestamps_jitter_per_packet_within_three_sigma():
    imp = Impairments(host_jitter_sigma_ms=15.0, seed=21)
    jitter = [imp.host_jitter_ms(packet, i) for packet in range(400) for i in range(10)]
    assert all(type(j) is int for j in jitter)
    assert jitter == [Impairments(host_jitter_sigma_ms=15.0, seed=21).host_jitter_ms(p, i)
                      for p in range(400) for i in range(10)]
    assert max(abs(j) for j in jitter) <= 45  # +-3 sigma
    assert np.std(jitter) == pytest.approx(15.0, rel=0.06)
    assert abs(np.mean(jitter)) < 1.0
    # independent of the hotspot's fixed clock offset, and of the other packets
    assert imp.host_jitter_ms(3, 4) != imp.host_jitter_ms(4, 4)
    assert Impairments(seed=21).host_jitter_ms(3, 4) == 0


# -- bad values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("fading", "rayleigh"), ("rician_k_db", math.nan), ("rician_k_db", "6"),
    ("rssi_error_sigma_db", -1.0), ("rssi_step_db", math.inf), ("snr_error_sigma_db", None),
    ("snr_step_db", -0.25), ("gain_error_sigma_db", -0.5), ("clock_offset_sigma_ms", math.nan),
    ("host_jitter_sigma_ms", -1.0),
    ("seed", -1), ("seed", 1.5), ("seed", True), ("seed", 2 ** 64)])
def test_bad_values_are_refused_with_the_field_named(field, value):
    with pytest.raises(ImpairmentError, match=field) as info:
        Impairments(**{field: value})
    assert isinstance(info.value, SimConfigError)
    with pytest.raises(ImpairmentError, match=field):
        Scenario(impairments={field: value})


def test_unknown_keys_and_wrong_types_are_refused():
    with pytest.raises(ImpairmentError, match="fadeing"):
        Scenario(impairments={"fadeing": "rician"})
    with pytest.raises(SimConfigError, match="impairments"):
        Scenario(impairments="rician")
    with pytest.raises(SimConfigError, match="impairments"):
        Channel(_ring_world(3), model=FreeSpace(), impairments={"fading": "rician"})


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["fading", "rician_k_db", "rssi_error_sigma_db",
                                        "rssi_step_db", "seed", "gain_error_sigma_db",
                                        "clock_offset_sigma_ms", "bogus"]), _VALUES))
def test_any_scenario_keys_give_impairments_or_an_impairment_error(keys):
    try:
        imp = Impairments.from_mapping(keys)
    except ImpairmentError:
        return
    imp.fading_db(1, [0, 1])
    imp.clock_offset_ms(3)
    assert imp.fading_max_db >= 0


# -- the command line -----------------------------------------------------------------------


def test_scenario_from_args_seeds_the_impairments_with_the_scenario_seed():
    s = scenario_from_args(seed=4, fading="rician", rssi_step_db=1.0, days=None)
    assert s.impairments == Impairments(fading="rician", rssi_step_db=1.0, seed=4)
    assert scenario_from_args(seed=4).impairments == Impairments()


def test_command_line_run_with_impairments(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "radio_sim", "run", "--hotspots", "150", "--beacons-per-day",
         "8", "--days", "0.25", "--seed", "3", "--density", "0.05", "--fading", "rician",
         "--rician-k-db", "4", "--rssi-error-db", "2", "--rssi-step-db", "1",
         "--gain-error-db", "1.5", "--out", str(tmp_path / "ok")],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "ok" / "summary.json").read_text())
    assert summary["scenario"]["impairments"]["fading"] == "rician"
    assert summary["scenario"]["impairments"]["seed"] == 3
    with open(tmp_path / "ok" / "link_table.csv", encoding="utf-8") as fh:
        rssi = [float(row["rssi_dbm"]) for row in csv.DictReader(fh)]
    assert rssi and all(r == round(r) for r in rssi)

    bad = subprocess.run(
        [sys.executable, "-m", "radio_sim", "run", "--hotspots", "20", "--rician-k-db", "nan",
         "--out", str(tmp_path / "bad")], capture_output=True, text=True, timeout=120,
        check=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "rician_k_db" in last

"""Collision models with timing: Bor et al.'s critical section and the receiver lock."""

from __future__ import annotations

from pathlib import Path

import h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.radio import LORASIM, Station
from radio_sim import Channel, Scheduler, Transmission, World, load_scenario, run_scenario
from radio_sim._collisions import capture_lock_lost, capture_timing_lost
from radio_sim._lora import airtime_s

SYMBOL_SF7_S = 128 / 125_000  # 1.024 ms
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _hs(name, lat, lon) -> Station:
    return Station(name, cell=h3.str_to_int(h3.latlng_to_cell(lat, lon, 12)), region="EU868")


def _tx(pid, sender, start, *, sf=7, power=14.0, freq=868_100_000):
    return Transmission(pid, sender, start, airtime_s(20, sf, 125_000), freq, sf, 125_000, 5,
                        power)


def _outcomes(collision: str, world: World, txs: list[Transmission]) -> dict:
    """(packet, receiver) -> delivered, with every packet run through one channel."""
    channel = Channel(world, model=LORASIM, sensitivity="lorasim", collision=collision,
                      regulatory_limits=False, report_margin_db=300)
    scheduler = Scheduler()
    out: dict[tuple[int, int], bool] = {}

    def finish(pid):
        out.update({(r.packet_id, r.receiver): r.delivered for r in channel.end(pid)})

    def begin(tx):
        channel.begin(tx)
        scheduler.schedule(tx.end_s, finish, tx.packet_id)

    for tx in txs:
        scheduler.schedule(tx.start_s, begin, tx)
    scheduler.run()
    return out


# -- the rules on their own ------------------------------------------------------------------


def test_an_interferer_over_before_the_critical_section_spares_the_frame():
    me = np.array([-100.0])
    weak_other = np.array([-90.0])  # 10 dB stronger than me: it would win on power
    # it ends 2.9 symbols into my preamble: I still have 5 preamble symbols
    early = capture_timing_lost(10.0, 7, 125_000, 10.0 + 2.9 * SYMBOL_SF7_S, me, weak_other, 6.0)
    late = capture_timing_lost(10.0, 7, 125_000, 10.0 + 3.1 * SYMBOL_SF7_S, me, weak_other, 6.0)
    assert not early[0] and late[0]


def test_the_power_rule_after_the_critical_section():
    other_end = 11.0
    assert not capture_timing_lost(10.0, 7, 125_000, other_end, np.array([-94.0]),
                                   np.array([-100.0]), 6.0)[0]  # 6 dB stronger: survives
    assert capture_timing_lost(10.0, 7, 125_000, other_end, np.array([-95.0]),
                               np.array([-100.0]), 6.0)[0]  # within 6 dB: lost


def test_a_later_stronger_frame_takes_the_receiver_only_during_the_first_preamble():
    first_start = 10.0
    strong, weak = np.array([-80.0]), np.array([-100.0])
    in_preamble = first_start + 7.0 * SYMBOL_SF7_S
    after = first_start + 8.5 * SYMBOL_SF7_S
    first_end = first_start + airtime_s(20, 7, 125_000)
    # within the first frame's preamble, the later stronger frame is received ...
    assert not capture_lock_lost(in_preamble, 7, 125_000, first_start, first_end, 7, 125_000,
                                 strong, weak, 6.0)[0]
    # ... after it, the receiver stays locked: the later frame is lost whatever its power
    assert capture_lock_lost(after, 7, 125_000, first_start, first_end, 7, 125_000,
                             strong, weak, 6.0)[0]
    # Bor et al. alone would have kept it
    assert not capture_timing_lost(after, 7, 125_000, first_end, strong, weak, 6.0)[0]


# -- must show: timing delivers more than capture, never more than no collisions -------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(3, 8), frames=st.integers(4, 30),
       window_s=st.floats(0.05, 2.0))
def test_timing_delivers_at_least_capture_and_at_most_the_collision_free_bound(
        seed, n, frames, window_s):
    rng = np.random.default_rng(seed)
    world = World([_hs(f"h{i}", 44 + rng.uniform(-0.002, 0.002),
                       -71 + rng.uniform(-0.003, 0.003)) for i in range(n)])
    txs = [_tx(k, int(rng.integers(n)), float(rng.uniform(0, window_s)),
               sf=int(rng.choice([7, 8])), power=float(rng.uniform(2, 14)))
           for k in range(frames)]
    alone = _outcomes("capture", world, [Transmission(
        t.packet_id, t.transmitter, 100.0 * t.packet_id, t.airtime_s, t.freq_hz,
        t.spreading_factor, t.bandwidth_hz, t.coding_rate, t.tx_power_dbm) for t in txs])
    capture = _outcomes("capture", world, txs)
    timing = _outcomes("capture-timing", world, txs)
    lock = _outcomes("capture-lock", world, txs)
    for key, ok in capture.items():
        assert not ok or timing[key], "capture delivered what timing lost"
    for key, ok in timing.items():
        assert not ok or alone[key], "timing delivered what a collision-free air would not"
    for key, ok in lock.items():
        assert not ok or timing[key], "the lock rule delivered what timing lost"
    assert sum(capture.values()) <= sum(timing.values()) <= sum(alone.values())


def test_a_frame_whose_preamble_start_is_hit_survives_only_with_timing():
    world = World([_hs("rx", 44.0, -71.0), _hs("a", 44.001, -71.0), _hs("b", 44.0, -71.0014)])
    first = _tx(1, 1, 0.0)
    second = _tx(2, 2, first.end_s - SYMBOL_SF7_S)  # the first ends 1 symbol into its preamble
    assert _outcomes("capture", world, [first, second])[(2, 0)] is False
    assert _outcomes("capture-timing", world, [first, second])[(2, 0)] is True


def test_timing_delivers_strictly_more_than_capture_at_the_same_load(tmp_path):
    der = {}
    for collision in ("capture", "capture-timing"):
        scenario = load_scenario(SCENARIOS / "bor0.toml", collision=collision, days=0.3).scenario
        der[collision] = run_scenario(scenario, tmp_path / collision).summary["der"]
    assert der["capture-timing"] > der["capture"]


@pytest.mark.parametrize("collision", ["capture-timing", "capture-lock"])
def test_equal_frames_overlapping_in_the_payload_destroy_each_other(collision):
    world = World([_hs("rx", 44.0, -71.0), _hs("a", 44.001, -71.0), _hs("b", 44.0, -71.0014)])
    got = _outcomes(collision, world, [_tx(1, 1, 0.0), _tx(2, 2, 0.02)])
    assert got[(1, 0)] is False and got[(2, 0)] is False

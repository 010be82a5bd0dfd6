"""The simulator's channel: reception rules, collisions, regulations, and pure ALOHA."""

from __future__ import annotations

import math

import h3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.radio import LORASIM, FreeSpace, LogDistance, Station, time_on_air_s
from radio_sim._channel import Channel, Transmission
from radio_sim._errors import DutyCycleError, DwellTimeError, SimConfigError
from radio_sim._scenario import lorasim_preset, run_scenario
from radio_sim._world import World


def _hs(name, lat, lon, **kw) -> Station:
    return Station(name, cell=h3.str_to_int(h3.latlng_to_cell(lat, lon, 12)), **kw)


def _tx(pid, sender, start, *, sf=7, freq=868_100_000, payload=20, power=14.0):
    return Transmission(pid, sender, start, float(time_on_air_s(payload, sf, 125_000)), freq,
                        sf, 125_000, 5, power)


def _line_world(distances_km, **kw) -> World:
    """A receiver at the origin and one hotspot at each distance due north."""
    hs = [_hs("rx", 44.0, -71.0, **kw)]
    hs += [_hs(f"n{i}", 44.0 + d / 111.195, -71.0, **kw) for i, d in enumerate(distances_km)]
    return World(hs)


def _receive(channel, tx):
    channel.begin(tx)
    return {r.receiver: r for r in channel.end(tx.packet_id)}


# -- reception rules ----------------------------------------------------------------------


def test_near_packet_is_delivered_far_one_is_below_sensitivity():
    world = _line_world([0.05, 40.0], region="EU868")  # LoRaSim's urban loss: metres count
    channel = Channel(world, model=LORASIM, sensitivity="lorasim", report_margin_db=200)
    near = _receive(channel, _tx(1, 1, 0.0))[0]
    far = _receive(channel, _tx(2, 2, 10.0))[0]
    assert near.delivered and near.reason == "delivered"
    assert not far.delivered and far.reason == "below_sensitivity"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), sigma=st.floats(0, 10), sf=st.integers(7, 12),
       sens=st.sampled_from(["textbook", "lorasim", "sx1276"]))
def test_nothing_under_sensitivity_or_snr_floor_is_ever_delivered(seed, sigma, sf, sens):
    rng = np.random.default_rng(seed)
    world = World([_hs(f"h{i}", 44 + rng.uniform(-0.05, 0.05), -71 + rng.uniform(-0.07, 0.07),
                       region="EU868", noise_figure_db=float(rng.uniform(3, 9)))
                   for i in range(12)])
    channel = Channel(world, model=LogDistance(sigma_db=0.0), shadowing_sigma_db=sigma,
                      seed=seed, sensitivity=sens, report_margin_db=30,
                      regulatory_limits=False)
    floors = {7: -7.5, 8: -10, 9: -12.5, 10: -15, 11: -17.5, 12: -20}
    for k in range(12):
        for r in _receive(channel, _tx(k, k, 100.0 * k, sf=sf)).values():
            limit = channel.sensitivity_dbm(np.array([r.receiver]), sf, 125_000)[0]
            if r.rssi_dbm < limit or r.snr_db < floors[sf]:
                assert not r.delivered
            if r.delivered:
                assert r.rssi_dbm >= limit and r.snr_db >= floors[sf]


def test_snr_floor_rejects_what_the_measured_sensitivity_would_accept():
    # LoRaSim's SF7 sensitivity (-126.5 dBm) lies below the thermal floor + SNR floor
    # (-117.0 - 7.5 = -124.5 dBm at NF 6): in between, the SNR floor decides
    world = _line_world([1.0])
    channel = Channel(world, model=FreeSpace(), sensitivity="lorasim", regulatory_limits=False)
    rx_power = lambda power: _receive(channel, _tx(int(-power * 10), 1, -power * 10,  # noqa: E731
                                                   power=power))[0]
    budget = 14.0 - rx_power(14.0).rssi_dbm  # path loss + gains
    r = rx_power(-125.5 + budget)
    assert -126.5 < r.rssi_dbm < -124.5
    assert (r.delivered, r.reason) == (False, "snr_below_floor")


def test_a_radio_that_is_transmitting_receives_nothing():
    world = _line_world([0.04, 0.06], region="EU868")
    channel = Channel(world, model=LORASIM, sensitivity="lorasim", regulatory_limits=False)
    channel.begin(_tx(1, 1, 0.0, sf=7, freq=868_100_000))
    channel.begin(_tx(2, 0, 0.01, sf=9, freq=868_500_000))  # the receiver talks, elsewhere
    heard = {r.receiver: r for r in channel.end(1)}
    assert heard[0].reason == "half_duplex" and not heard[0].delivered
    assert heard[2].delivered  # a silent neighbour hears it


def test_demodulator_cap():
    world = _line_world([0.03, 0.04, 0.05], region="EU868")
    channel = Channel(world, model=LORASIM, sensitivity="lorasim", max_demodulators=2,
                      regulatory_limits=False)
    freqs = [868_100_000, 868_300_000, 868_500_000]
    for k in range(3):  # three packets at once on three channels
        channel.begin(_tx(k, k + 1, 0.001 * k, freq=freqs[k]))
    outcome = [{r.receiver: r for r in channel.end(k)}[0].reason for k in range(3)]
    assert outcome == ["delivered", "delivered", "no_demodulator"]


# -- collisions -----------------------------------------------------------------------------


def _pair(channel, sf_a=7, sf_b=7, freq_b=868_100_000):
    channel.begin(_tx(1, 1, 0.0, sf=sf_a))
    channel.begin(_tx(2, 2, 0.02, sf=sf_b, freq=freq_b))
    return {r.receiver: r for r in channel.end(1)}[0], {r.receiver: r for r in channel.end(2)}[0]


@pytest.mark.parametrize("collision", ["simple", "capture", "inter-sf"])
def test_equal_same_sf_packets_destroy_each_other(collision):
    world = _line_world([0.5, 0.5001])
    channel = Channel(world, model=FreeSpace(), collision=collision, regulatory_limits=False)
    a, b = _pair(channel)
    assert (a.reason, b.reason) == ("collision", "collision")


def test_capture_keeps_the_packet_6db_stronger_simple_loses_both():
    world = _line_world([0.5, 4.0])  # free space: 18 dB apart
    for collision, expected in (("simple", ("collision", "collision")),
                                ("capture", ("delivered", "collision"))):
        channel = Channel(world, model=FreeSpace(), collision=collision,
                          regulatory_limits=False)
        a, b = _pair(channel)
        assert (a.reason, b.reason) == expected, collision


def test_inter_sf_interference_follows_goursaud():
    # the interferer (SF12) is 30 dB stronger than the SF7 packet: SF7 needs SIR >= -20 dB
    world = _line_world([3.0, 0.095])
    for collision, expected in (("capture", "delivered"), ("inter-sf", "collision")):
        channel = Channel(world, model=FreeSpace(), collision=collision,
                          regulatory_limits=False)
        a, _ = _pair(channel, sf_a=7, sf_b=12)
        assert a.reason == expected, collision


def test_other_frequencies_never_collide():
    world = _line_world([0.5, 0.5001])
    channel = Channel(world, model=FreeSpace(), collision="simple", regulatory_limits=False)
    a, b = _pair(channel, freq_b=868_300_000)
    assert (a.reason, b.reason) == ("delivered", "delivered")


# -- regulations and symmetry ----------------------------------------------------------------


def test_eu868_duty_cycle_forbids_the_next_packet_too_soon():
    world = _line_world([0.5], region="EU868")
    channel = Channel(world, model=FreeSpace())
    first = _tx(1, 1, 0.0, sf=12)  # 1.48 s on air -> 146.8 s off at 1 %
    channel.begin(first)
    channel.end(1)
    with pytest.raises(DutyCycleError, match=r"1\.0% duty cycle"):
        channel.begin(_tx(2, 1, 100.0, sf=12))
    channel.begin(_tx(3, 1, first.end_s + 100 * first.airtime_s, sf=12))


def test_us915_dwell_time_forbids_long_packets():
    world = _line_world([0.5], region="US915")
    channel = Channel(world, model=FreeSpace())
    with pytest.raises(DwellTimeError, match="400 ms|0.4"):
        channel.begin(_tx(1, 1, 0.0, sf=10, freq=902_300_000, payload=60))


def test_links_are_symmetric_with_shadowing():
    world = _line_world([2.0], region="EU868")
    channel = Channel(world, model=LogDistance(), shadowing_sigma_db=8.0, seed=3,
                      regulatory_limits=False, report_margin_db=100)
    ab = _receive(channel, _tx(1, 0, 0.0))[1].rssi_dbm
    ba = _receive(channel, _tx(2, 1, 10.0))[0].rssi_dbm
    assert ab == pytest.approx(ba, abs=1e-9)


def test_bad_channel_parameters():
    world = _line_world([1.0])
    with pytest.raises(SimConfigError, match="collision model"):
        Channel(world, model=FreeSpace(), collision="aloha")
    with pytest.raises(SimConfigError, match="sensitivity"):
        Channel(world, model=FreeSpace(), sensitivity="datasheet")


# -- pure ALOHA -------------------------------------------------------------------------------


def _aloha_run(collision: str, tmp_path, nodes=50, offered_load=0.25, packets=12_000):
    # offered load G = N lambda T per channel; pure ALOHA delivers exp(-2G)
    airtime = float(time_on_air_s(20, 12, 125_000))
    rate = offered_load / (nodes * airtime)  # per node, per second
    days = packets / (nodes * rate) / 86_400
    s = lorasim_preset(nodes, avg_send_time_s=1 / rate, seed=11, days=days,
                       collision=collision)
    return run_scenario(s, tmp_path / collision).summary, math.exp(-2 * offered_load)


def test_simple_collisions_match_pure_aloha_and_capture_does_better(tmp_path):
    simple, expected = _aloha_run("simple", tmp_path)
    assert simple["beacons_refused"] == {}
    assert simple["by_reason"]["below_sensitivity"] == 0  # every node is in range
    assert abs(simple["delivery_ratio"] - expected) < 0.02
    capture, _ = _aloha_run("capture", tmp_path)
    assert capture["delivery_ratio"] > simple["delivery_ratio"]

"""Beacon derivation, challenge secrets and beacon power (coverage_net.poc, issue #10 items 2-3)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coverage_net.identity import Keypair
from coverage_net.poc import (
    BEACON_FRAME_BYTES,
    MIN_TOKEN_BYTES,
    SEALED_SECRET_BYTES,
    BeaconError,
    PocError,
    SecretError,
    beacon_eirp_centi_dbm,
    beacon_frame_bytes,
    beacon_matches,
    beacon_payload,
    beacon_tx_power_dbm,
    open_sealed_secret,
    parse_beacon,
    seal_secret,
    secret_hash,
)
from coverage_net.radio import REGIONS, get_region, time_on_air_s

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"
VECTORS = json.loads((VECTORS_DIR / "poc_beacons_v1.json").read_text(encoding="utf-8"))["vectors"]
_gen_spec = importlib.util.spec_from_file_location("make_poc_beacon_vectors",
                                                   VECTORS_DIR / "make_poc_beacon_vectors.py")
make_vectors = importlib.util.module_from_spec(_gen_spec)
_gen_spec.loader.exec_module(make_vectors)

ALICE = Keypair.from_seed(bytes(range(32)))
BOB = Keypair.from_seed(bytes(range(1, 33)))
SECRET = hashlib.sha256(b"secret").digest()
CHALLENGE_ID = hashlib.sha256(b"challenge").digest()
US915_DR0 = {"spreading_factor": 10, "bandwidth_hz": 125_000}

# every (region, data rate) a beacon fits in: all but SF11/SF12 at 125 kHz under a 400 ms dwell
BEACON_RATES = [(region, rate) for region in REGIONS.values() for rate in region.data_rates
                if not (region.dwell_time_s is not None and rate.spreading_factor >= 11
                        and rate.bandwidth_hz == 125_000)]


# --- committed vectors -------------------------------------------------------------------------

@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"{v['region']}-SF{v['spreading_factor']}"
                         f"-{v['bandwidth_hz'] // 1000}k-dwell{v['dwell_time_ms']}")
def test_vector_frames_are_derived_exactly(vector):
    secret = bytes.fromhex(vector["secret"])
    challenge_id = bytes.fromhex(vector["challenge_id"])
    region = make_vectors.region_for(vector["region"], vector["dwell_time_ms"])
    rate = {"spreading_factor": vector["spreading_factor"], "bandwidth_hz": vector["bandwidth_hz"]}
    frame = bytes.fromhex(vector["frame"])
    assert beacon_payload(secret, challenge_id, region, **rate) == frame
    assert secret_hash(secret).hex() == vector["secret_hash"]
    # the layout, recomputed here by hand: MHDR, version, prefix, truncated HMAC
    mac = hmac.new(secret, b"coverage-net/poc/beacon/v1\x00" + challenge_id, "sha256").digest()
    assert frame == b"\xe0\x01" + challenge_id[:4] + mac[:len(frame) - 6]
    domain = b"coverage-net/poc/secret/v1\x00"
    assert secret_hash(secret) == hashlib.sha256(domain + secret).digest()
    assert parse_beacon(frame) == (challenge_id[:4], mac[:len(frame) - 6])
    assert beacon_matches(frame, secret, challenge_id, region, **rate)


def test_vectors_file_is_what_the_generator_writes():
    assert (VECTORS_DIR / "poc_beacons_v1.json").read_text(encoding="utf-8") == \
        make_vectors.render(), "run tests/vectors/make_poc_beacon_vectors.py (a protocol break)"


def test_us915_sf10_beacon_is_the_longest_frame_within_400_ms():
    assert beacon_frame_bytes("US915", **US915_DR0) == 24
    assert float(time_on_air_s(24, 10, 125_000)) == pytest.approx(0.370688)
    assert float(time_on_air_s(25, 10, 125_000)) > 0.4


def test_tight_dwell_shrinks_the_token_down_to_eight_bytes_then_refuses():
    us915 = get_region("US915")
    assert beacon_frame_bytes(dataclasses.replace(us915, dwell_time_s=0.35), **US915_DR0) == 19
    assert beacon_frame_bytes(dataclasses.replace(us915, dwell_time_s=0.3), **US915_DR0) == 14
    with pytest.raises(BeaconError, match="14 bytes.*8-byte token.*250 ms dwell time of US915"):
        beacon_frame_bytes(dataclasses.replace(us915, dwell_time_s=0.25), **US915_DR0)


def test_no_dwell_limit_gives_the_fixed_length_even_at_sf12():
    assert beacon_frame_bytes("EU868", spreading_factor=12, bandwidth_hz=125_000) == 24


@pytest.mark.parametrize("region", ["AU915", "AS923-1"])
def test_sf12_under_a_dwell_limit_is_refused(region):
    with pytest.raises(BeaconError, match="dwell time"):
        beacon_payload(SECRET, CHALLENGE_ID, region, spreading_factor=12, bandwidth_hz=125_000)


@pytest.mark.parametrize(("region", "rate", "message"), [
    ("MARS", US915_DR0, "not a known region"),
    ("EU868", {"spreading_factor": 9, "bandwidth_hz": 500_000}, "not a data rate of EU868"),
])
def test_bad_region_or_rate_is_named(region, rate, message):
    with pytest.raises(BeaconError, match=message):
        beacon_payload(SECRET, CHALLENGE_ID, region, **rate)


@pytest.mark.parametrize(("secret", "challenge_id", "message"), [
    (bytes(31), CHALLENGE_ID, "secret must be 32 bytes; got 31"),
    (SECRET, bytes(4), "challenge_id must be 32 bytes; got 4"),
    ("x" * 32, CHALLENGE_ID, "secret must be 32 bytes; got str"),
])
def test_bad_secret_or_challenge_id_is_named(secret, challenge_id, message):
    with pytest.raises(PocError, match=message):
        beacon_payload(secret, challenge_id, "US915", **US915_DR0)


# --- every region and beacon rate, fuzzed ------------------------------------------------------

@given(st.sampled_from(BEACON_RATES), st.binary(min_size=32, max_size=32),
       st.binary(min_size=32, max_size=32))
def test_every_beacon_fits_the_dwell_time_and_round_trips(region_rate, secret, challenge_id):
    region, rate = region_rate
    kwargs = {"spreading_factor": rate.spreading_factor, "bandwidth_hz": rate.bandwidth_hz}
    frame = beacon_payload(secret, challenge_id, region, **kwargs)
    airtime_s = float(time_on_air_s(len(frame), rate.spreading_factor, rate.bandwidth_hz))
    region.check_dwell_time(airtime_s)  # raises if it does not fit
    assert len(frame) == BEACON_FRAME_BYTES  # real regions never need to shrink it
    prefix, token = parse_beacon(frame)
    assert prefix == challenge_id[:4] and len(token) >= MIN_TOKEN_BYTES
    assert beacon_matches(frame, secret, challenge_id, region, **kwargs)
    assert not beacon_matches(frame, bytes(32) if secret != bytes(32) else bytes([1]) * 32,
                              challenge_id, region, **kwargs)


@pytest.mark.parametrize(("region", "rate"), [
    (region, rate) for region in REGIONS.values() for rate in region.data_rates
    if (region, rate) not in BEACON_RATES],
    ids=lambda x: x.name if hasattr(x, "name") else f"DR{x.index}")
def test_rates_left_out_are_exactly_those_where_the_shortest_beacon_breaks_the_dwell(region, rate):
    with pytest.raises(BeaconError, match="dwell time"):
        beacon_frame_bytes(region, spreading_factor=rate.spreading_factor,
                           bandwidth_hz=rate.bandwidth_hz)
    shortest_s = float(time_on_air_s(6 + MIN_TOKEN_BYTES, rate.spreading_factor,
                                     rate.bandwidth_hz))
    assert shortest_s > region.dwell_time_s


@given(st.binary(max_size=300))
def test_parse_beacon_never_raises_on_received_bytes(frame):
    parsed = parse_beacon(frame)
    if parsed is not None:
        prefix, token = parsed
        assert frame[:2] == b"\xe0\x01" and frame[2:6] == prefix and frame[6:] == token
        assert 8 <= len(token) <= 32


@pytest.mark.parametrize("frame", [
    b"", b"\xe0\x01" + bytes(11),  # one byte short of an 8-byte token
    b"\x40\x01" + bytes(22),  # an unconfirmed data uplink, not proprietary
    b"\xe1\x01" + bytes(22),  # proprietary, but Major 1
    b"\xe0\x02" + bytes(22),  # an unknown beacon format version
    b"\xe0\x01" + bytes(37),  # a token longer than an HMAC-SHA256
])
def test_frames_that_are_not_beacons_parse_to_none(frame):
    assert parse_beacon(frame) is None


def test_parse_beacon_refuses_a_non_bytes_argument():
    with pytest.raises(BeaconError, match="frame must be bytes; got str"):
        parse_beacon("e001")


def test_a_flipped_bit_or_another_challenge_does_not_match():
    frame = beacon_payload(SECRET, CHALLENGE_ID, "US915", **US915_DR0)
    flipped = frame[:-1] + bytes([frame[-1] ^ 1])
    assert not beacon_matches(flipped, SECRET, CHALLENGE_ID, "US915", **US915_DR0)
    other = hashlib.sha256(b"another challenge").digest()
    assert not beacon_matches(frame, SECRET, other, "US915", **US915_DR0)
    assert not beacon_matches(frame[:-1], SECRET, CHALLENGE_ID, "US915", **US915_DR0)
    assert not beacon_matches(frame.hex(), SECRET, CHALLENGE_ID, "US915", **US915_DR0)


# --- sealed secrets ------------------------------------------------------------------------------

def test_seal_and_open_round_trip():
    sealed = seal_secret(SECRET, BOB.public_key)
    assert len(sealed) == SEALED_SECRET_BYTES
    assert SECRET not in sealed
    assert open_sealed_secret(sealed, BOB) == SECRET
    assert seal_secret(SECRET, BOB.public_key) != sealed  # a fresh ephemeral key every time


def test_a_box_sealed_to_another_key_is_refused():
    sealed = seal_secret(SECRET, BOB.public_key)
    with pytest.raises(SecretError, match=f"does not open with the key of {ALICE.peer_id}"):
        open_sealed_secret(sealed, ALICE)


@pytest.mark.parametrize("bit", [0, 8 * 32 + 3, 8 * 40, 8 * SEALED_SECRET_BYTES - 1])
def test_a_flipped_bit_is_refused(bit):
    sealed = bytearray(seal_secret(SECRET, BOB.public_key))
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SecretError, match="sealed to another key or altered"):
        open_sealed_secret(bytes(sealed), BOB)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: seal_secret(bytes(16), BOB.public_key), "secret must be 32 bytes; got 16"),
    (lambda: seal_secret(SECRET, bytes(31)), "must be 32 bytes .*got 31"),
    (lambda: seal_secret(SECRET, bytes(32)), "not a usable ed25519 public key"),
    (lambda: open_sealed_secret(bytes(79), BOB), "must be 80 bytes .*got 79"),
    (lambda: open_sealed_secret(bytes(80), BOB.seed()), "must be a coverage_net.identity.Keypair"),
    (lambda: secret_hash(bytes(33)), "secret must be 32 bytes; got 33"),
])
def test_bad_secret_inputs_are_named(call, message):
    with pytest.raises(SecretError, match=message):
        call()


# --- beacon power --------------------------------------------------------------------------------

@pytest.mark.parametrize(("region", "gain_dbi", "radio_max_dbm", "tx_dbm", "eirp_centi_dbm"), [
    # US915 and AU915 allow 30 dBm EIRP, EU868 16 dBm; hand-computed
    ("US915", 0, 27, 27, 2700),        # the radio's maximum binds
    ("US915", 3, 27, 27, 3000),        # 30 - 3 = 27 exactly
    ("US915", 5.8, 27, 24, 2980),      # floor(24.2)
    ("US915", 8.15, 30, 21, 2915),     # floor(21.85)
    ("US915", 3, 20, 20, 2300),        # an SX1276 at +20 dBm
    ("EU868", 0, 27, 16, 1600),
    ("EU868", 2.15, 27, 13, 1515),     # a dipole: floor(13.85)
    ("EU868", 8, 14, 8, 1600),
    ("EU868", 16.01, 27, -1, 1501),    # floor(-0.01) is -1, not 0
    ("AU915", 9, 27, 21, 3000),
    ("AU915", -1.5, 27, 27, 2550),     # a lossy antenna: 31.5 capped by the radio
    ("AU915", -1.5, 40, 31, 2950),     # floor(31.5)
])
def test_tx_power_table(region, gain_dbi, radio_max_dbm, tx_dbm, eirp_centi_dbm):
    assert beacon_tx_power_dbm(region, gain_dbi, radio_max_dbm) == tx_dbm
    assert type(beacon_tx_power_dbm(region, gain_dbi, radio_max_dbm)) is int
    assert beacon_eirp_centi_dbm(region, gain_dbi, radio_max_dbm) == eirp_centi_dbm
    assert eirp_centi_dbm <= get_region(region).max_eirp_dbm * 100


@given(st.sampled_from(sorted(REGIONS)), st.integers(-2000, 4000), st.integers(-10, 40))
def test_beacon_eirp_never_exceeds_the_region_limit(region, gain_centi_dbi, radio_max_dbm):
    gain_dbi = gain_centi_dbi / 100
    eirp = beacon_eirp_centi_dbm(region, gain_dbi, radio_max_dbm)
    assert eirp <= round(REGIONS[region].max_eirp_dbm * 100)
    assert eirp > round(REGIONS[region].max_eirp_dbm * 100) - 100 or \
        beacon_tx_power_dbm(region, gain_dbi, radio_max_dbm) == radio_max_dbm


@pytest.mark.parametrize(("gain", "radio_max", "message"), [
    (5.805, 27, "more than two decimals"),
    (float("nan"), 27, "must be finite"),
    ("5", 27, "must be a number of dB"),
    (5, 27.0, "radio_max_dbm must be a whole number"),
    (5, True, "radio_max_dbm must be a whole number"),
])
def test_bad_power_inputs_are_named(gain, radio_max, message):
    with pytest.raises(BeaconError, match=message):
        beacon_tx_power_dbm("US915", gain, radio_max)

"""A proof-of-coverage round end to end through the real messages (issue #10 items 2-3).

Real ed25519 keys, real sealed boxes, real canonical CBOR: the challenger seals a
secret into a signed `Challenge`, which travels as bytes; the challengee opens it,
derives its beacon, and files a signed `BeaconReport` revealing the secret and
stating its EIRP; anybody holding the two messages and the beacon checks the round.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import pytest

from coverage_net.identity import Keypair
from coverage_net.messages import (
    EIRP_CENTI_DBM,
    MAX_MESSAGE_BYTES,
    SEALED_SECRET,
    BeaconReport,
    Challenge,
    HotspotAnnouncement,
    decode,
)
from coverage_net.messages._fields import SECRET
from coverage_net.poc import (
    SEALED_SECRET_BYTES,
    SECRET_BYTES,
    SecretError,
    beacon_eirp_centi_dbm,
    beacon_matches,
    beacon_payload,
    beacon_tx_power_dbm,
    open_sealed_secret,
    seal_secret,
    secret_hash,
)
from coverage_net.radio import get_region

CHALLENGER = Keypair.from_seed(bytes(range(32)))
CHALLENGEE = Keypair.from_seed(bytes(range(32, 64)))
OUTSIDER = Keypair.from_seed(bytes(range(64, 96)))
T0_MS = 1_790_000_000_000
EPOCH = 7
RADIO_MAX_DBM = 27
RATE = {"spreading_factor": 9, "bandwidth_hz": 125_000}
FREQ_HZ = 868_100_000

ANNOUNCEMENT = HotspotAnnouncement(
    hotspot_key=CHALLENGEE.public_key, cell=0x8A2A1072B59FFFF, antenna_gain_dbi=2.5,
    antenna_height_m=12.0, region="EU868", timestamp_ms=T0_MS).sign(CHALLENGEE)


def _gossip(message):
    """What a peer receives: the message's bytes, decoded and checked from scratch."""
    return decode(message.to_cbor())


def _challenge(secret: bytes) -> Challenge:
    return _gossip(Challenge(
        challenger_key=CHALLENGER.public_key, challengee_key=CHALLENGEE.public_key, epoch=EPOCH,
        secret_hash=secret_hash(secret), sealed_secret=seal_secret(secret, CHALLENGEE.public_key),
        timestamp_ms=T0_MS).sign(CHALLENGER))


def _challengee_beacons(challenge: Challenge) -> tuple[bytes, BeaconReport]:
    """The challengee's side: open the box, derive the beacon, report it (after the air)."""
    announcement = _gossip(ANNOUNCEMENT)
    secret = open_sealed_secret(challenge.sealed_secret, CHALLENGEE)
    frame = beacon_payload(secret, challenge.content_id, announcement.region, **RATE)
    report = BeaconReport(
        hotspot_key=CHALLENGEE.public_key, challenge_id=challenge.content_id, epoch=challenge.epoch,
        secret=secret, payload_hash=hashlib.sha256(frame).digest(), freq_hz=FREQ_HZ, **RATE,
        tx_power_dbm=beacon_tx_power_dbm(announcement.region, announcement.antenna_gain_dbi,
                                         RADIO_MAX_DBM),
        eirp_centi_dbm=beacon_eirp_centi_dbm(announcement.region, announcement.antenna_gain_dbi,
                                             RADIO_MAX_DBM),
        radio_timestamp_us=123_456_789, host_time_ms=T0_MS + 1_000).sign(CHALLENGEE)
    return frame, _gossip(report)


def _round_checks(challenge: Challenge, report: BeaconReport, heard_frame: bytes) -> bool:
    """What anybody can check from the two gossiped messages and a frame a witness heard."""
    return (report.challenge_id == challenge.content_id
            and report.hotspot_key == challenge.challengee_key
            and report.epoch == challenge.epoch
            and secret_hash(report.secret) == challenge.secret_hash
            and hashlib.sha256(heard_frame).digest() == report.payload_hash
            and beacon_matches(heard_frame, report.secret, report.challenge_id,
                               ANNOUNCEMENT.region, spreading_factor=report.spreading_factor,
                               bandwidth_hz=report.bandwidth_hz))


def test_a_round_end_to_end_with_real_keys():
    secret = os.urandom(SECRET_BYTES)
    challenge = _challenge(secret)
    assert isinstance(challenge, Challenge)
    assert challenge.signer_key == CHALLENGER.public_key
    assert secret not in challenge.to_cbor()  # the gossiped bytes do not carry it in clear

    frame, report = _challengee_beacons(challenge)
    assert isinstance(report, BeaconReport)
    assert report.secret == secret
    # EU868 allows 16 dBm EIRP: floor(16 - 2.5) = 13 dBm conducted, + 2.5 dBi = 15.5 dBm
    assert report.eirp_centi_dbm == 1_550
    assert report.tx_power_dbm == 13.0
    assert _round_checks(challenge, report, frame)


def test_only_the_challengee_opens_the_sealed_secret():
    challenge = _challenge(os.urandom(SECRET_BYTES))
    with pytest.raises(SecretError, match="does not open with the key of"):
        open_sealed_secret(challenge.sealed_secret, OUTSIDER)
    with pytest.raises(SecretError, match="does not open"):
        open_sealed_secret(challenge.sealed_secret, CHALLENGER)  # nor the challenger's own key
    altered = bytes([challenge.sealed_secret[0] ^ 1]) + challenge.sealed_secret[1:]
    tampered = _gossip(dataclasses.replace(challenge, sealed_secret=altered).sign(CHALLENGER))
    with pytest.raises(SecretError, match="altered on the way"):
        open_sealed_secret(tampered.sealed_secret, CHALLENGEE)


def test_a_wrong_reveal_or_a_wrong_beacon_fails_the_round():
    challenge = _challenge(os.urandom(SECRET_BYTES))
    frame, report = _challengee_beacons(challenge)
    lying = _gossip(dataclasses.replace(report, secret=os.urandom(SECRET_BYTES)).sign(CHALLENGEE))
    assert secret_hash(lying.secret) != challenge.secret_hash
    assert not _round_checks(challenge, lying, frame)
    # a beacon guessed without the secret does not match, though it has the right prefix
    guessed = beacon_payload(os.urandom(SECRET_BYTES), challenge.content_id, "EU868", **RATE)
    assert guessed[:6] == frame[:6] and guessed != frame
    assert not _round_checks(challenge, report, guessed)
    # the report ties to its challenge, not to another one with the same secret
    other = _challenge(report.secret)
    assert other.content_id != challenge.content_id  # a fresh box each time
    assert not _round_checks(other, report, frame)


def test_message_field_kinds_agree_with_poc_sizes():
    # messages cannot import poc (poc imports messages), so the sizes meet here
    assert SEALED_SECRET.length == SEALED_SECRET_BYTES == 80
    assert SECRET.length == SECRET_BYTES
    eu868 = get_region("EU868")
    assert EIRP_CENTI_DBM.lo <= beacon_eirp_centi_dbm(eu868, -20.0, RADIO_MAX_DBM)
    assert beacon_eirp_centi_dbm("US915", 40.0, 30) <= EIRP_CENTI_DBM.hi


def test_the_largest_challenge_and_beacon_report_fit_their_limits():
    # byte fields have fixed sizes; integers at their widest, the float needing double precision
    challenge = Challenge(
        challenger_key=CHALLENGER.public_key, challengee_key=bytes([255]) * 32, epoch=2**63 - 1,
        secret_hash=bytes([255]) * 32, sealed_secret=bytes([255]) * SEALED_SECRET_BYTES,
        timestamp_ms=2**63 - 1).sign(CHALLENGER)
    report = BeaconReport(
        hotspot_key=CHALLENGEE.public_key, challenge_id=bytes([255]) * 32, epoch=2**63 - 1,
        secret=bytes([255]) * 32, payload_hash=bytes([255]) * 32, freq_hz=3_000_000_000,
        spreading_factor=12, bandwidth_hz=500_000, tx_power_dbm=-29.123456789,  # a double
        eirp_centi_dbm=EIRP_CENTI_DBM.lo, radio_timestamp_us=2**64 - 1,
        host_time_ms=2**63 - 1).sign(CHALLENGEE)
    for message in (challenge, report):
        size = len(message.to_cbor())
        assert size <= type(message).MAX_BYTES <= MAX_MESSAGE_BYTES, (type(message), size)
        assert size < 512, (type(message), size)  # small on the wire, far from the limit
        assert _gossip(message) == message

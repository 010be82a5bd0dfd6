"""Regenerate messages_v1.json, the encoding vectors of the gossip messages (version 1).

A peer built from another codebase must produce these bytes, content ids and
signatures exactly, or the network sees its messages as different messages. The
file is derived from `coverage_net.messages` and is deterministic (ed25519
signatures are): running this script on an unchanged tree rewrites identical
bytes (``--check`` only compares). A change to it is a protocol break.

    python tests/vectors/make_messages_vectors.py [--check]

Each vector has the message ``type``, the 32-byte ed25519 ``seed`` of the
signer, the ``fields`` in plain JSON (integers, floats, text; byte strings as
hex, listed in ``hex_fields``), then the canonical CBOR ``bytes``, the
``content_id`` (SHA-256 of those bytes), the ``signature`` and the
``sync_partition``, all hex but the last.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

from coverage_net.identity import Keypair
from coverage_net.messages import (
    DOMAIN_PREFIX,
    BeaconReport,
    Challenge,
    DataTransferReceipt,
    FixedBytes,
    HotspotAnnouncement,
    Message,
    WitnessReport,
)

OUTPUT = Path(__file__).with_name("messages_v1.json")

ALICE = bytes(range(32))
BOB = bytes(range(32, 64))
T0_MS = 1_700_000_000_000


def _key(seed: bytes) -> bytes:
    return Keypair.from_seed(seed).public_key


# A real sealed box (coverage_net.poc.seal_secret) is randomised: a fresh ephemeral
# key each call. The vector uses fixed 80 bytes instead, so the file is deterministic;
# messages check only the box's size, and the sealing has its own tests.
SEALED_SECRET = bytes(range(80))
SECRET = bytes(range(100, 132))
CHALLENGE = Challenge(challenger_key=_key(ALICE), challengee_key=_key(BOB), epoch=42,
                      secret_hash=hashlib.sha256(b"secret").digest(),
                      sealed_secret=SEALED_SECRET, timestamp_ms=T0_MS)
CHALLENGE_ID = CHALLENGE.sign(Keypair.from_seed(ALICE)).content_id
PAYLOAD_HASH = hashlib.sha256(b"payload").digest()

SAMPLES: list[tuple[bytes, Message]] = [
    (ALICE, HotspotAnnouncement(
        hotspot_key=_key(ALICE), cell=0x8A2A1072B59FFFF, antenna_gain_dbi=2.5,
        antenna_height_m=12.0, region="EU868", timestamp_ms=T0_MS)),
    # floats that need single and double precision; a region other than EU868
    (BOB, HotspotAnnouncement(
        hotspot_key=_key(BOB), cell=0x872A1072BFFFFFF, antenna_gain_dbi=-1.75,
        antenna_height_m=8.1, region="US915", timestamp_ms=T0_MS + 3_600_000)),
    (ALICE, CHALLENGE),
    (BOB, BeaconReport(
        hotspot_key=_key(BOB), challenge_id=CHALLENGE_ID, epoch=42, secret=SECRET,
        payload_hash=PAYLOAD_HASH, freq_hz=868_100_000, spreading_factor=9, bandwidth_hz=125_000,
        tx_power_dbm=14.0, eirp_centi_dbm=1_600,
        radio_timestamp_us=123_456_789, host_time_ms=T0_MS + 1_000)),
    (ALICE, WitnessReport(
        witness_key=_key(ALICE), challenge_id=CHALLENGE_ID, epoch=42, payload_hash=PAYLOAD_HASH,
        rssi_dbm=-112.5, snr_db=-7.25, freq_hz=868_100_000, spreading_factor=9,
        bandwidth_hz=125_000, radio_timestamp_us=2**64 - 1, host_time_ms=T0_MS + 1_020)),
    (BOB, DataTransferReceipt(
        router_key=_key(BOB), hotspot_key=_key(ALICE), packet_hash=PAYLOAD_HASH, epoch=42,
        payload_bytes=23, data_credits=1, timestamp_ms=T0_MS + 2_000)),
]


def hex_fields(cls: type[Message]) -> list[str]:
    """The fields of `cls` (signature aside) that are byte strings, written as hex."""
    return [f.name for f in dataclasses.fields(cls)
            if f.name != "signature" and isinstance(f.metadata["kind"], FixedBytes)]


def fields_to_json(message: Message) -> dict[str, object]:
    hexed = set(hex_fields(type(message)))
    return {f.name: getattr(message, f.name).hex() if f.name in hexed else getattr(message, f.name)
            for f in dataclasses.fields(message) if f.name != "signature"}


def fields_from_json(cls: type[Message], fields: dict[str, object]) -> dict[str, object]:
    hexed = set(hex_fields(cls))
    return {name: bytes.fromhex(value) if name in hexed else value
            for name, value in fields.items()}


def vector(seed: bytes, message: Message) -> dict[str, object]:
    signed = message.sign(Keypair.from_seed(seed))
    return {
        "type": signed.TYPE, "version": signed.VERSION, "seed": seed.hex(),
        "hex_fields": hex_fields(type(signed)), "fields": fields_to_json(signed),
        "bytes": signed.to_cbor().hex(), "content_id": signed.content_id.hex(),
        "signature": signed.signature.hex(), "sync_partition": signed.sync_partition,
    }


def render() -> str:
    document = {
        "description": "coverage-net gossip message encoding vectors, version 1; "
                       "regenerate with tests/vectors/make_messages_vectors.py",
        "domain_prefix": DOMAIN_PREFIX.decode("ascii"),
        "vectors": [vector(seed, message) for seed, message in SAMPLES],
    }
    return json.dumps(document, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare with the committed file; exit 1 if it differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        same = OUTPUT.exists() and OUTPUT.read_text(encoding="utf-8") == text
        print(f"{OUTPUT.name}: {'up to date' if same else 'DIFFERS; rerun without --check'}")
        return 0 if same else 1
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

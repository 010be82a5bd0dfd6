"""Regenerate poc_beacons_v1.json, the beacon derivation vectors (version 1).

Every hotspot, simulator and verifier must derive these exact frames from these
secrets and challenge ids, or honest beacons fail verification. The file is
derived from `coverage_net.poc` and is deterministic: running this script on an
unchanged tree rewrites identical bytes, and tests/test_poc_beacon.py fails when
the file and the code disagree. A change to it is a protocol break.

    python tests/vectors/make_poc_beacon_vectors.py

Each vector has the 32-byte ``secret`` and ``challenge_id`` (hex), the ``region``
name, an optional ``dwell_time_ms`` overriding the region's (to pin the token
shrinking), the data rate as ``spreading_factor`` and ``bandwidth_hz``, then the
``secret_hash`` and the beacon ``frame`` (hex).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from coverage_net.poc import beacon_payload, secret_hash
from coverage_net.radio import get_region

OUTPUT = Path(__file__).with_name("poc_beacons_v1.json")

# (region, dwell_time_ms override or None, spreading factor, bandwidth in Hz)
CASES = [
    ("US915", None, 10, 125_000),
    ("US915", None, 7, 125_000),
    ("US915", None, 12, 500_000),
    ("EU868", None, 9, 125_000),
    ("EU868", None, 12, 125_000),
    ("AU915", None, 10, 125_000),
    ("AS923-1", None, 10, 125_000),
    ("KR920", None, 9, 125_000),
    ("IN865", None, 8, 125_000),
    ("US915", 350, 10, 125_000),
    ("US915", 300, 10, 125_000),
]


def region_for(name: str, dwell_time_ms: int | None):
    region = get_region(name)
    if dwell_time_ms is None:
        return region
    return dataclasses.replace(region, dwell_time_s=dwell_time_ms / 1000)


def vectors() -> list[dict]:
    result = []
    for i, (name, dwell_time_ms, spreading_factor, bandwidth_hz) in enumerate(CASES):
        secret = hashlib.sha256(b"poc beacon vector secret %d" % i).digest()
        challenge_id = hashlib.sha256(b"poc beacon vector challenge %d" % i).digest()
        frame = beacon_payload(secret, challenge_id, region_for(name, dwell_time_ms),
                               spreading_factor=spreading_factor, bandwidth_hz=bandwidth_hz)
        result.append({
            "secret": secret.hex(), "challenge_id": challenge_id.hex(), "region": name,
            "dwell_time_ms": dwell_time_ms, "spreading_factor": spreading_factor,
            "bandwidth_hz": bandwidth_hz, "secret_hash": secret_hash(secret).hex(),
            "frame": frame.hex(),
        })
    return result


def render() -> str:
    document = {"format": "coverage-net poc beacon vectors", "version": 1, "vectors": vectors()}
    return json.dumps(document, indent=1) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")

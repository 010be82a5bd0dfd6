"""Builders shared by the rewards tests: keys, registries, verdicts and receipts."""

from __future__ import annotations

import functools
import hashlib

from h3.api import basic_int as h3

from coverage_net.identity import Keypair
from coverage_net.messages import HotspotAnnouncement
from coverage_net.poc import Reason, Registry, Verdict
from coverage_net.rewards import DataTransferReceipt, data_credits_for

ROUTER = Keypair.from_seed(b"router".ljust(32, b"\0"))


@functools.cache
def key(i: int) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(b"hotspot %d" % i).digest())


def spread_cells(n: int) -> list[int]:
    """`n` res-12 cells 0.2 degrees apart (~20 km): no two share a crowded hex."""
    return [h3.latlng_to_cell(44.0 + 0.2 * (i // 5), -72.0 + 0.2 * (i % 5), 12)
            for i in range(n)]


def registry(cells: list[int]) -> Registry:
    return Registry(HotspotAnnouncement(
        hotspot_key=key(i).public_key, cell=cell, antenna_gain_dbi=3.0,
        antenna_height_m=10.0, region="US915", timestamp_ms=1).sign(key(i))
        for i, cell in enumerate(cells))


def _id(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def beacon(epoch: int, challenge: int, beaconer: int, *, valid: bool = True) -> Verdict:
    return Verdict(report_id=_id("b", epoch, challenge), report_type="beacon_report",
                   challenge_id=_id("c", epoch, challenge), epoch=epoch,
                   hotspot_key=key(beaconer).public_key, valid=valid,
                   reason=Reason.VALID if valid else Reason.SECRET_MISMATCH, rewarded=valid)


def witness(epoch: int, challenge: int, hearer: int, *, valid: bool = True,
            rewarded: bool = True) -> Verdict:
    return Verdict(report_id=_id("w", epoch, challenge, hearer), report_type="witness_report",
                   challenge_id=_id("c", epoch, challenge), epoch=epoch,
                   hotspot_key=key(hearer).public_key, valid=valid,
                   reason=Reason.VALID if valid else Reason.RSSI_TOO_STRONG,
                   rewarded=valid and rewarded)


def round_verdicts(epoch: int, challenge: int, beaconer: int, hearers: list[int]) -> list[Verdict]:
    return [beacon(epoch, challenge, beaconer),
            *(witness(epoch, challenge, h) for h in hearers)]


def receipt(epoch: int, packet: int, hotspot: int, *, payload_bytes: int = 30,
            router: Keypair = ROUTER, timestamp_ms: int = 1_000,
            data_credits: int | None = None) -> DataTransferReceipt:
    return DataTransferReceipt(
        router_key=router.public_key, hotspot_key=key(hotspot).public_key,
        packet_hash=_id("p", packet), epoch=epoch, payload_bytes=payload_bytes,
        data_credits=data_credits_for(payload_bytes) if data_credits is None else data_credits,
        timestamp_ms=timestamp_ms).sign(router)

"""The proof-of-coverage messages: announcement, challenge, beacon and witness reports.

Times come from the caller's clock (`timestamp_ms`, `host_time_ms`: milliseconds
since the Unix epoch); nothing here reads the wall clock. A radio timestamp is the
radio's own free-running microsecond counter, comparable only within one radio.

Sync partitions: a challenge and every report of its round share the challenge's
`epoch`, so one partition holds a whole round; announcements, which belong to no
round, are bucketed by `ANNOUNCEMENT_PARTITION_MS` of their own timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from coverage_net.messages._base import Message, spec
from coverage_net.messages._fields import (
    ANTENNA_GAIN_DBI,
    ANTENNA_HEIGHT_M,
    BANDWIDTH_HZ,
    EIRP_CENTI_DBM,
    EPOCH,
    FREQ_HZ,
    H3_CELL,
    HASH,
    PUBLIC_KEY,
    RADIO_TIME_US,
    REGION,
    RSSI_DBM,
    SEALED_SECRET,
    SECRET,
    SNR_DB,
    SPREADING_FACTOR,
    TX_POWER_DBM,
    UNIX_TIME_MS,
)

__all__ = [
    "ANNOUNCEMENT_PARTITION_MS", "BeaconReport", "Challenge", "HotspotAnnouncement",
    "WitnessReport",
]

ANNOUNCEMENT_PARTITION_MS = 3_600_000
"""Announcements are synced in one-hour buckets of their `timestamp_ms`."""


@dataclass(frozen=True, kw_only=True, repr=False)  # Message.__repr__
class HotspotAnnouncement(Message):
    """A hotspot asserts where its antenna is and what it is; signed by the hotspot.

    `cell` is an H3 cell at any resolution (as int); validators judge reports
    against the path from this cell, so the newest announcement by `timestamp_ms`
    is the one that counts. `region` is the canonical LoRaWAN region name
    (``get_region(region).name``), e.g. "EU868".
    """

    TYPE: ClassVar[str] = "hotspot_announcement"
    SIGNER: ClassVar[str] = "hotspot_key"
    PARTITION_FIELD: ClassVar[str] = "timestamp_ms"
    PARTITION_BUCKET: ClassVar[int] = ANNOUNCEMENT_PARTITION_MS

    hotspot_key: bytes = spec(PUBLIC_KEY)
    cell: int = spec(H3_CELL)
    antenna_gain_dbi: float = spec(ANTENNA_GAIN_DBI)
    antenna_height_m: float = spec(ANTENNA_HEIGHT_M)
    region: str = spec(REGION)
    timestamp_ms: int = spec(UNIX_TIME_MS)


@dataclass(frozen=True, kw_only=True, repr=False)  # Message.__repr__
class Challenge(Message):
    """A challenger asks a challengee to beacon in `epoch`; signed by the challenger.

    The secret the beacon payload derives from travels with the challenge, by
    gossip, in `sealed_secret`: a sealed box (``coverage_net.poc.seal_secret``)
    only the challengee's identity key opens, so nobody else can predict the
    beacon. `secret_hash` (``coverage_net.poc.secret_hash``) commits the
    challenger to the secret before anyone has heard the beacon; the beacon
    report reveals it and anyone checks it against this hash. Only the box's
    size is checked here: whether it opens is the challengee's business.
    """

    TYPE: ClassVar[str] = "challenge"
    SIGNER: ClassVar[str] = "challenger_key"
    PARTITION_FIELD: ClassVar[str] = "epoch"

    challenger_key: bytes = spec(PUBLIC_KEY)
    challengee_key: bytes = spec(PUBLIC_KEY)
    epoch: int = spec(EPOCH)
    secret_hash: bytes = spec(HASH)
    sealed_secret: bytes = spec(SEALED_SECRET)
    timestamp_ms: int = spec(UNIX_TIME_MS)


@dataclass(frozen=True, kw_only=True, repr=False)  # Message.__repr__
class BeaconReport(Message):
    """The challengee reports the beacon it put on the air; signed by the challengee.

    `challenge_id` is the content id of the signed `Challenge`; `payload_hash`
    the SHA-256 of the transmitted payload, which witnesses hash the same way.
    `epoch` repeats the challenge's, so the report is synced with its challenge.
    `secret` reveals the challenge's secret (after the beacon is on the air), so
    anyone can check it against the challenge's `secret_hash` and re-derive the
    beacon. `eirp_centi_dbm` is the EIRP the hotspot states it beaconed at, in
    integer hundredths of a dBm (``coverage_net.poc.beacon_eirp_centi_dbm``), which
    verifiers judge by; `tx_power_dbm` is the radio's own report.
    """

    TYPE: ClassVar[str] = "beacon_report"
    SIGNER: ClassVar[str] = "hotspot_key"
    PARTITION_FIELD: ClassVar[str] = "epoch"

    hotspot_key: bytes = spec(PUBLIC_KEY)
    challenge_id: bytes = spec(HASH)
    epoch: int = spec(EPOCH)
    secret: bytes = spec(SECRET)
    payload_hash: bytes = spec(HASH)
    freq_hz: int = spec(FREQ_HZ)
    spreading_factor: int = spec(SPREADING_FACTOR)
    bandwidth_hz: int = spec(BANDWIDTH_HZ)
    tx_power_dbm: float = spec(TX_POWER_DBM)
    eirp_centi_dbm: int = spec(EIRP_CENTI_DBM)
    radio_timestamp_us: int = spec(RADIO_TIME_US)
    host_time_ms: int = spec(UNIX_TIME_MS)


@dataclass(frozen=True, kw_only=True, repr=False)  # Message.__repr__
class WitnessReport(Message):
    """A hotspot reports a beacon its radio heard; signed by the witness.

    It names the round by `challenge_id` (the content id of the `Challenge`),
    not by the beacon report's id: the round's id is fixed before the beacon, and
    the challengee cannot orphan witnesses by withholding or re-signing its report.
    Verifiers match witness to beacon by `payload_hash`. `epoch` repeats the
    challenge's, so the report is synced with its challenge.
    """

    TYPE: ClassVar[str] = "witness_report"
    SIGNER: ClassVar[str] = "witness_key"
    PARTITION_FIELD: ClassVar[str] = "epoch"

    witness_key: bytes = spec(PUBLIC_KEY)
    challenge_id: bytes = spec(HASH)
    epoch: int = spec(EPOCH)
    payload_hash: bytes = spec(HASH)
    rssi_dbm: float = spec(RSSI_DBM)
    snr_db: float = spec(SNR_DB)
    freq_hz: int = spec(FREQ_HZ)
    spreading_factor: int = spec(SPREADING_FACTOR)
    bandwidth_hz: int = spec(BANDWIDTH_HZ)
    radio_timestamp_us: int = spec(RADIO_TIME_US)
    host_time_ms: int = spec(UNIX_TIME_MS)

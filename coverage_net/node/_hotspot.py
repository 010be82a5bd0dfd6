"""The hotspot's composition root: a peer, its radio, its announcement, its PoC actors.

`run_hotspot` is what ``coverage-net hotspot run`` runs. In one nursery it starts the
peer (store, libp2p network, gossip, sync, status; `run_peer`), opens the radio the
operator configured (a devboard with our firmware, an RN2483 module, a Semtech packet
forwarder, or a simulator pty), announces where the hotspot stands (a signed
`HotspotAnnouncement`, published again only when what it asserts changes), and runs
the beaconer and the witness listener on the radio (`start_hotspot_poc`), and the
forwarder that sells the device uplinks the radio hears to routers
(`run_uplink_forwarder`).

What must survive a restart does, because everything goes through the store first:
a report is stored before it is gossiped (and sync serves it to peers that missed
it), and a challenge addressed to this hotspot is stored when it arrives; on start,
the challenges of the last two epochs addressed to it that it has not beaconed for
are handed to the beaconer again (`pending_challenges`), which answers those whose
window is still open and logs why for the others.

The status file ``hotspot.json`` (beside the peer's ``peer.json``) holds the
hotspot's key, its announcement, its proof-of-coverage counters and what a validator
last said about it (its newest verdicts and its balance, `query_validators`);
``coverage-net hotspot status`` reads it with the store.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

import h3
import trio

from coverage_net.identity import Keypair
from coverage_net.messages import BeaconReport, Challenge, HotspotAnnouncement, decode
from coverage_net.p2p import TOPIC_PREFIX
from coverage_net.poc import HotspotIdentity, NetworkParams, PocMetrics
from coverage_net.radio import STATION_CELL_RES
from coverage_net.store import MessageStore
from firmware_bridge import Radio

from ._hotspot_query import query_validators
from ._peer import PeerConfig, RunningPeer, run_peer
from ._poc import start_hotspot_poc
from ._uplinks import UplinkCollector, UplinkMetrics, run_uplink_forwarder

__all__ = ["HOTSPOT_STATUS_FILENAME", "HotspotSettings", "RunningHotspot",
           "hotspot_announcement", "pending_challenges", "read_hotspot_status", "run_hotspot"]

logger = logging.getLogger(__name__)

HOTSPOT_STATUS_FILENAME = "hotspot.json"
_CHALLENGE_TOPIC = TOPIC_PREFIX + Challenge.TYPE
_BEACON_TOPIC = TOPIC_PREFIX + BeaconReport.TYPE
_ANNOUNCEMENT_TOPIC = TOPIC_PREFIX + HotspotAnnouncement.TYPE


@dataclass(frozen=True)
class HotspotSettings:
    """Everything a hotspot process needs (the daemon's config file maps onto this)."""

    keypair: Keypair
    lat_deg: float
    lon_deg: float
    antenna_height_m: float
    antenna_gain_dbi: float
    region: str
    params: NetworkParams
    open_radio: Callable[[], AbstractAsyncContextManager[Radio]]
    """Opens the configured radio (an ``async with`` context)."""
    peer: PeerConfig
    radio_max_dbm: int = 22
    status_interval_s: float = 1.0
    query_interval_s: float = 5.0
    """How often a validator is asked for this hotspot's verdicts and balance."""
    poc_metrics: PocMetrics = field(default_factory=PocMetrics)
    """The beaconer's and witness listener's counters (give the peer's metrics endpoint a
    `PocCollector` of these)."""

    @property
    def data_dir(self) -> Path:
        return Path(self.peer.data_dir)

    def identity(self) -> HotspotIdentity:
        return HotspotIdentity(self.keypair, self.region, self.antenna_gain_dbi,
                               self.radio_max_dbm)


@dataclass
class RunningHotspot:
    """A started hotspot: its peer, its announcement and its PoC counters."""

    peer: RunningPeer
    announcement: HotspotAnnouncement
    poc: PocMetrics
    resumed: int = 0
    """Stored challenges handed to the beaconer again on start."""
    validators_say: dict | None = None
    """The last answer of a validator about this hotspot (`query_validators`): the
    chain's height, the hotspot's balance, its newest verdicts."""
    uplinks: UplinkMetrics = field(default_factory=UplinkMetrics)
    """The uplink forwarder's counters (device packets offered to routers)."""


def hotspot_announcement(settings: HotspotSettings, timestamp_ms: int) -> HotspotAnnouncement:
    """The signed announcement of what the hotspot asserts: its cell, antenna, region."""
    cell = h3.str_to_int(h3.latlng_to_cell(settings.lat_deg, settings.lon_deg,
                                           STATION_CELL_RES))
    return HotspotAnnouncement(hotspot_key=settings.keypair.public_key, cell=cell,
                               antenna_gain_dbi=settings.antenna_gain_dbi,
                               antenna_height_m=settings.antenna_height_m,
                               region=settings.region, timestamp_ms=timestamp_ms
                               ).sign(settings.keypair)


def _latest_announcement(store: MessageStore, key: bytes) -> HotspotAnnouncement | None:
    latest = None
    for row in store.range(topic=_ANNOUNCEMENT_TOPIC, partition_from=0,
                           partition_to=2**63 - 1):
        message = decode(row.data)
        if isinstance(message, HotspotAnnouncement) and message.hotspot_key == key and \
                (latest is None or message.timestamp_ms > latest.timestamp_ms):
            latest = message
    return latest


def _same_assertion(a: HotspotAnnouncement, b: HotspotAnnouncement) -> bool:
    return (a.cell, a.antenna_gain_dbi, a.antenna_height_m, a.region) == \
        (b.cell, b.antenna_gain_dbi, b.antenna_height_m, b.region)


def pending_challenges(store: MessageStore, key: bytes) -> list[Challenge]:
    """Challenges of the two newest epochs the store holds challenges of, addressed to
    `key`, with no beacon report of it in the store, oldest first: what a restarted
    hotspot may still owe (the beaconer refuses those past their window)."""
    held = store.partition_digests(topic=_CHALLENGE_TOPIC, partition_from=0,
                                   partition_to=2**63 - 1)
    if not held:
        return []
    epoch = max(held)
    lo = max(epoch - 1, 0)
    answered = set()
    for row in store.range(topic=_BEACON_TOPIC, partition_from=lo, partition_to=epoch):
        report = decode(row.data)
        if isinstance(report, BeaconReport) and report.hotspot_key == key:
            answered.add(report.challenge_id)
    owed = []
    for row in store.range(topic=_CHALLENGE_TOPIC, partition_from=lo, partition_to=epoch):
        challenge = decode(row.data)
        if isinstance(challenge, Challenge) and challenge.challengee_key == key and \
                challenge.content_id not in answered:
            owed.append(challenge)
    return sorted(owed, key=lambda c: (c.timestamp_ms, c.content_id))


def read_hotspot_status(data_dir: Path) -> dict | None:
    """The last ``hotspot.json`` written in `data_dir` (None before the first)."""
    try:
        return json.loads((Path(data_dir) / HOTSPOT_STATUS_FILENAME).read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _jsonable(value: object) -> object:
    """`value` with bytes as hex (a validator's answer carries report ids)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _write_status(settings: HotspotSettings, running: RunningHotspot, clock_ms: int) -> None:
    a = running.announcement
    # not dataclasses.asdict: it rebuilds a Counter from (key, count) pairs, counting pairs
    poc = {f.name: getattr(running.poc, f.name) for f in dataclasses.fields(running.poc)}
    status = {"pid": os.getpid(), "hotspot_key": settings.keypair.public_key.hex(),
              "peer_id": running.peer.peer_id, "addrs": running.peer.addrs,
              "connected": running.peer.connected_peers(),
              "announcement": {"cell": h3.int_to_str(a.cell), "lat_deg": settings.lat_deg,
                               "lon_deg": settings.lon_deg, "region": a.region,
                               "antenna_gain_dbi": a.antenna_gain_dbi,
                               "antenna_height_m": a.antenna_height_m,
                               "timestamp_ms": a.timestamp_ms},
              "poc": {**poc, "refused": dict(poc["refused"])}, "resumed": running.resumed,
              "validators_say": _jsonable(running.validators_say),
              "uplinks": running.uplinks.as_json(),
              "updated_ms": clock_ms}
    path = settings.data_dir / HOTSPOT_STATUS_FILENAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(status, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


async def _status_loop(settings: HotspotSettings, running: RunningHotspot) -> None:
    while True:
        _write_status(settings, running, settings.peer.clock_ms())
        await trio.sleep(settings.status_interval_s)


async def run_hotspot(settings: HotspotSettings, *,
                      task_status: trio.TaskStatus[RunningHotspot] = trio.TASK_STATUS_IGNORED
                      ) -> None:
    """Run one hotspot until cancelled (``nursery.start(run_hotspot, settings)``)."""
    clock_ms = settings.peer.clock_ms
    async with trio.open_nursery() as nursery:
        uplinks = UplinkMetrics()
        peer: RunningPeer = await nursery.start(run_peer, dataclasses.replace(
            settings.peer, metrics_collectors=(*settings.peer.metrics_collectors,
                                               UplinkCollector(uplinks))))
        async with settings.open_radio() as radio:
            now_ms = clock_ms()
            announcement = hotspot_announcement(settings, now_ms)
            known = _latest_announcement(peer.store, settings.keypair.public_key)
            if known is not None and _same_assertion(known, announcement):
                announcement = known
            else:
                await peer.publish(announcement)
                logger.info("announced cell %s (gain %.1f dBi, height %.1f m, %s)",
                            h3.int_to_str(announcement.cell), settings.antenna_gain_dbi,
                            settings.antenna_height_m, settings.region)
            owed = pending_challenges(peer.store, settings.keypair.public_key)
            poc = await start_hotspot_poc(nursery, peer.p2p.gossip, radio, settings.identity(),
                                          settings.params, clock_ms, pending=owed,
                                          metrics=settings.poc_metrics)
            if owed:
                logger.info("resuming %d challenge(s) received before the restart", len(owed))
            await nursery.start(functools.partial(
                run_uplink_forwarder, settings.keypair, settings.params, radio=radio,
                network=peer.p2p.network, gossip=peer.p2p.gossip, clock_ms=clock_ms,
                metrics=uplinks))
            running = RunningHotspot(peer, announcement, poc, resumed=len(owed), uplinks=uplinks)
            nursery.start_soon(_status_loop, settings, running)

            def keep(answer: dict) -> None:
                running.validators_say = answer

            nursery.start_soon(functools.partial(
                query_validators, peer.p2p.network, settings.keypair.public_key,
                list(settings.params.validators), keep,
                interval_s=settings.query_interval_s))
            task_status.started(running)
            await trio.sleep_forever()


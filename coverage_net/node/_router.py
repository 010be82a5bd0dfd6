"""The router's composition root: a peer that buys the device uplinks hotspots offer.

`run_router` is what ``coverage-net router run`` runs: the peer (`run_peer`: store,
libp2p, gossip, sync, metrics), and the offer handler on `UPLINK_PROTOCOL`. For each
offer (checked by `decode_offer`) the first offer of a packet, by packet hash, wins:

1. the purchase (packet hash, hotspot key, the receipt, the sink line) is committed
   to ``router.sqlite`` in the data directory; the packet hash is its primary key,
   so a later offer, also one after a restart, is refused "already_bought" and a
   packet is never paid twice;
2. the sink line (JSON: time, hotspot key, packet hash, payload hex, RSSI, SNR,
   frequency, data rate, epoch) is appended to the sink file and fsynced, then the
   purchase is marked sunk; lines of purchases not marked (a crash between the two)
   are appended again on start, so the sink is at-least-once, never short;
3. the receipt is published (stored, then gossiped; sync serves it to whoever missed
   it) and returned to the hotspot.

The epoch of a receipt is the chain's: ``(now - genesis_ms) // epoch_length_ms``.
``router.json`` (beside ``peer.json``) holds the counters ``coverage-net router
status`` shows: bought, refused by reason, sink lines.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import trio
from prometheus_client.core import CounterMetricFamily

from coverage_net.errors import CoverageNetError
from coverage_net.identity import Keypair
from coverage_net.messages import DataTransferReceipt
from coverage_net.poc import NetworkParams
from coverage_net.rewards import data_credits_for

from ._peer import PeerConfig, RunningPeer, run_peer
from ._uplinks import (
    UPLINK_LIMITS,
    UPLINK_PROTOCOL,
    UplinkOffer,
    UplinkRefused,
    UplinkReply,
    decode_offer,
    encode_reply,
)

__all__ = ["ROUTER_DB_FILENAME", "ROUTER_STATUS_FILENAME", "RouterCollector", "RouterCounters",
           "RouterError",
           "RouterSettings", "RunningRouter", "read_router_status", "run_router"]

logger = logging.getLogger(__name__)

ROUTER_STATUS_FILENAME = "router.json"
ROUTER_DB_FILENAME = "router.sqlite"
_SCHEMA = """CREATE TABLE IF NOT EXISTS bought (
    packet_hash BLOB PRIMARY KEY, hotspot_key BLOB NOT NULL, receipt BLOB NOT NULL,
    line TEXT NOT NULL, sunk INTEGER NOT NULL DEFAULT 0, bought_ms INTEGER NOT NULL)"""


class RouterError(CoverageNetError):
    """The router cannot do what was asked (its state is missing or unusable)."""


@dataclass(frozen=True)
class RouterSettings:
    """Everything a router process needs (``router.toml`` maps onto this)."""

    keypair: Keypair
    params: NetworkParams
    genesis_ms: int
    """When epoch 0 began (the chain's genesis time), ms since the Unix epoch."""
    sink_path: Path
    peer: PeerConfig
    status_interval_s: float = 1.0

    @property
    def data_dir(self) -> Path:
        return Path(self.peer.data_dir)


@dataclass
class RouterCounters:
    """What the router did since it started (`router.json`, metrics)."""

    bought: int = 0
    data_credits: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    sink_lines: int = 0


@dataclass
class RunningRouter:
    peer: RunningPeer
    counters: RouterCounters
    bought_total: int
    """Purchases in the database (across restarts) when started."""


class _Purchases:
    """The router's SQLite book of bought packets and its sink file."""

    def __init__(self, data_dir: Path, sink_path: Path) -> None:
        self._db = sqlite3.connect(data_dir / ROUTER_DB_FILENAME, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        sink_path.parent.mkdir(parents=True, exist_ok=True)
        self._sink = open(sink_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        self._sink.close()
        self._db.close()

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM bought").fetchone()[0]

    def buy(self, packet_hash: bytes, hotspot_key: bytes, receipt: DataTransferReceipt,
            line: str, now_ms: int) -> bool:
        """Record a purchase; False if the packet was bought before (by anyone)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO bought (packet_hash, hotspot_key, receipt, line, bought_ms)"
            " VALUES (?, ?, ?, ?, ?)", (packet_hash, hotspot_key, receipt.to_cbor(), line, now_ms))
        return cursor.rowcount == 1

    def sink(self, packet_hash: bytes, line: str) -> None:
        """Append the line durably, then mark it sunk."""
        self._sink.write(line + "\n")
        self._sink.flush()
        os.fsync(self._sink.fileno())
        self._db.execute("UPDATE bought SET sunk = 1 WHERE packet_hash = ?", (packet_hash,))

    def resink(self) -> int:
        """Append the lines of purchases whose sink write may not have happened."""
        rows = self._db.execute("SELECT packet_hash, line FROM bought WHERE sunk = 0 "
                                "ORDER BY bought_ms").fetchall()
        for packet_hash, line in rows:
            self.sink(packet_hash, line)
        return len(rows)


def _sink_line(offer: UplinkOffer, epoch: int, now_ms: int) -> str:
    return json.dumps({"time_ms": now_ms, "epoch": epoch, "hotspot_key": offer.hotspot_key.hex(),
                       "packet_hash": offer.packet_hash.hex(), "payload_hex": offer.payload.hex(),
                       "rssi_dbm": offer.rssi_dbm, "snr_db": offer.snr_db,
                       "freq_hz": offer.freq_hz, "spreading_factor": offer.spreading_factor,
                       "bandwidth_hz": offer.bandwidth_hz, "received_ms": offer.received_ms},
                      sort_keys=True)


class _OfferHandler:
    def __init__(self, settings: RouterSettings, purchases: _Purchases, peer: RunningPeer,
                 counters: RouterCounters) -> None:
        self._settings = settings
        self._purchases = purchases
        self._peer = peer
        self._counters = counters

    def _buy(self, offer: UplinkOffer) -> DataTransferReceipt:
        s = self._settings
        now_ms = s.peer.clock_ms()
        if now_ms < s.genesis_ms:
            raise UplinkRefused("before_genesis", f"the chain starts at {s.genesis_ms} ms; "
                                f"it is {now_ms} ms")
        epoch = (now_ms - s.genesis_ms) // s.params.epoch_length_ms
        size = len(offer.payload)
        receipt = DataTransferReceipt(
            router_key=s.keypair.public_key, hotspot_key=offer.hotspot_key,
            packet_hash=offer.packet_hash, epoch=epoch, payload_bytes=size,
            data_credits=data_credits_for(size), timestamp_ms=now_ms).sign(s.keypair)
        line = _sink_line(offer, epoch, now_ms)
        if not self._purchases.buy(offer.packet_hash, offer.hotspot_key, receipt, line, now_ms):
            raise UplinkRefused("already_bought", f"packet {offer.packet_hash.hex()[:16]}... "
                                "was bought from the hotspot that offered it first")
        self._purchases.sink(offer.packet_hash, line)
        self._counters.sink_lines += 1
        return receipt

    async def __call__(self, peer_id: str, data: bytes) -> bytes:
        try:
            offer = decode_offer(data, peer_id)
            receipt = self._buy(offer)  # no await in between: one offer at a time
        except UplinkRefused as exc:
            self._counters.refused[exc.reason] += 1
            logger.info("refused an uplink from %s: %s", peer_id, exc)
            return encode_reply(UplinkReply(refused=exc.reason, detail=exc.detail))
        self._counters.bought += 1
        self._counters.data_credits += receipt.data_credits
        await self._peer.publish(receipt)
        logger.info("bought uplink %s from %s (epoch %d, %d data credits)",
                    receipt.packet_hash.hex()[:12], peer_id, receipt.epoch, receipt.data_credits)
        return encode_reply(UplinkReply(receipt=receipt))


class RouterCollector:
    """The router's counters as Prometheus metrics."""

    def __init__(self, counters: RouterCounters) -> None:
        self._counters = counters

    def collect(self) -> Iterator[CounterMetricFamily]:
        c = self._counters
        yield CounterMetricFamily("coverage_net_router_bought", "Uplinks bought since start.",
                                  value=c.bought)
        yield CounterMetricFamily("coverage_net_router_data_credits",
                                  "Data credits paid since start.", value=c.data_credits)
        yield CounterMetricFamily("coverage_net_router_sink_lines",
                                  "Lines appended to the sink since start.", value=c.sink_lines)
        refused = CounterMetricFamily("coverage_net_router_refused",
                                      "Offers refused since start, by reason.",
                                      labels=["reason"])
        for reason, count in sorted(c.refused.items()):
            refused.add_metric([reason], count)
        yield refused


def read_router_status(data_dir: Path) -> dict | None:
    """The last ``router.json`` written in `data_dir` (None before the first)."""
    try:
        return json.loads((Path(data_dir) / ROUTER_STATUS_FILENAME).read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_status(settings: RouterSettings, running: RunningRouter,
                  purchases: _Purchases) -> None:
    c = running.counters
    status = {"pid": os.getpid(), "router_key": settings.keypair.public_key.hex(),
              "peer_id": running.peer.peer_id, "addrs": running.peer.addrs,
              "connected": running.peer.connected_peers(),
              "known_router": settings.keypair.public_key in settings.params.rewards.routers,
              "bought": c.bought, "bought_total": purchases.count(),
              "data_credits": c.data_credits, "refused": dict(c.refused),
              "sink_lines": c.sink_lines, "sink": str(settings.sink_path),
              "updated_ms": settings.peer.clock_ms()}
    path = settings.data_dir / ROUTER_STATUS_FILENAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(status, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


async def run_router(settings: RouterSettings, *,
                     task_status: trio.TaskStatus[RunningRouter] = trio.TASK_STATUS_IGNORED
                     ) -> None:
    """Run one router until cancelled (``nursery.start(run_router, settings)``)."""
    counters = RouterCounters()
    if settings.keypair.public_key not in settings.params.rewards.routers:
        logger.warning("this router's key %s is not in the network parameters' routers: "
                       "its receipts earn the hotspots nothing",
                       settings.keypair.public_key.hex())
    config = dataclasses.replace(settings.peer, metrics_collectors=(
        *settings.peer.metrics_collectors, RouterCollector(counters)))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with closing(_Purchases(settings.data_dir, settings.sink_path)) as purchases:
        resunk = purchases.resink()
        if resunk:
            logger.info("appended %d bought uplink(s) the sink missed before the restart",
                        resunk)
        async with trio.open_nursery() as nursery:
            peer: RunningPeer = await nursery.start(run_peer, config)
            peer.p2p.network.register_protocol(
                UPLINK_PROTOCOL, _OfferHandler(settings, purchases, peer, counters),
                UPLINK_LIMITS)
            running = RunningRouter(peer, counters, purchases.count())
            _write_status(settings, running, purchases)
            task_status.started(running)
            try:
                while True:
                    await trio.sleep(settings.status_interval_s)
                    _write_status(settings, running, purchases)
            finally:  # stopped: the status says what it did to the end
                _write_status(settings, running, purchases)

"""Device uplinks a hotspot hears, sold to routers: the offer protocol and the forwarder.

A hotspot's radio listens on its region's beacon channel and data rate; besides
beacons it hears whatever LoRaWAN devices send there. Every received frame that is
a LoRaWAN data uplink (and not one of our beacons) is offered to a router:

- the routers are the keys in ``params.rewards.routers``: only their receipts earn,
  so only they are asked (their peer ids follow from the keys);
- the offer is an `UplinkOffer`, canonical CBOR signed by the hotspot's key, so the
  router pays the key that carried the packet and no one can sell another
  hotspot's packet in its name (the router also checks the asking peer is that key);
- the reply (`encode_reply`) is a signed `DataTransferReceipt` or a refusal with a
  reason from `REFUSALS`; a refusal is final, a failed request (unreachable, timed
  out) is retried a few times, then logged and dropped.

The router stores and gossips the receipts it signs (every validator gets them by
gossip, and by sync from the router's store); the hotspot checks each receipt it is
handed and stores it too (gossiping it again is a duplicate, which gossip drops), so
a receipt survives even if the router goes down before its gossip went out.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import trio
from prometheus_client.core import CounterMetricFamily

from coverage_net.errors import CoverageNetError
from coverage_net.identity import Keypair, peer_id_from_public_key
from coverage_net.messages import (
    PUBLIC_KEY,
    UNIX_TIME_MS,
    DataTransferReceipt,
    FieldKind,
    Integer,
    MalformedMessageError,
    Message,
    MessageError,
    Real,
    SignatureError,
    canonical_dumps,
    loads_cbor_item,
    spec,
)
from coverage_net.p2p import GossipService, Network, ProtocolLimits, RequestError
from coverage_net.poc import NetworkParams, parse_beacon
from coverage_net.rewards import data_credits_for
from firmware_bridge import Radio, RadioConfig, RxPacket, is_data_uplink

__all__ = ["REFUSALS", "UPLINK_LIMITS", "UPLINK_PROTOCOL", "UplinkCollector", "UplinkError",
           "UplinkMetrics",
           "UplinkOffer", "UplinkRefused", "UplinkReply", "decode_offer", "decode_reply",
           "encode_reply", "is_sellable_uplink", "run_uplink_forwarder", "sensor_radio_config",
           "uplink_offer"]

logger = logging.getLogger(__name__)

UPLINK_PROTOCOL = "/coverage-net/uplink/1.0.0"
UPLINK_LIMITS = ProtocolLimits(max_request_bytes=1024, max_response_bytes=1024,
                               read_timeout_s=5.0, handler_timeout_s=5.0)
"""An offer is ~400 bytes at most (a 255-byte packet and its metadata); a reply less."""

REFUSALS = ("malformed", "bad_signature", "wrong_sender", "not_an_uplink", "already_bought",
            "before_genesis")
"""Why a router refuses an offer: not decodable, not signed by its hotspot key, sent by
another peer than that key's, not a LoRaWAN data uplink, the packet is already paid,
the chain has not started."""

_MAX_PACKET_BYTES = 255
_REPLY_KEYS = {"receipt", "refused", "detail"}


class UplinkError(CoverageNetError):
    """An uplink offer or reply is unusable (what was wrong is in the message)."""


class UplinkRefused(UplinkError):
    """A router refused an offer; `reason` is one of `REFUSALS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class _PacketBytes(FieldKind):
    """A LoRa PHY payload: 1 to 255 bytes."""

    def check(self, where: str, value: object, *, wire: bool) -> bytes:
        if type(value) is not bytes and (wire or not isinstance(value, bytearray | memoryview)):
            raise MalformedMessageError(f"{where} must be a byte string (a LoRa packet); got "
                                        f"{type(value).__name__}")
        value = bytes(value)
        if not 1 <= len(value) <= _MAX_PACKET_BYTES:
            raise MalformedMessageError(f"{where} must be 1 to {_MAX_PACKET_BYTES} bytes (a LoRa "
                                        f"packet); got {len(value)} bytes")
        return value

    def show(self, value: object) -> str:
        return f"{len(value)} bytes"  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True, repr=False)  # Message.__repr__
class UplinkOffer(Message, register=False):
    """A hotspot offers one packet it heard to a router; signed by the hotspot. Not
    gossiped (``register=False``): it travels only on `UPLINK_PROTOCOL`."""

    TYPE: ClassVar[str] = "uplink_offer"
    SIGNER: ClassVar[str] = "hotspot_key"
    PARTITION_FIELD: ClassVar[str] = "received_ms"
    MAX_BYTES: ClassVar[int] = UPLINK_LIMITS.max_request_bytes

    hotspot_key: bytes = spec(PUBLIC_KEY)
    payload: bytes = spec(_PacketBytes())
    rssi_dbm: float = spec(Real(-200.0, 30.0, "received signal strength in dBm"))
    snr_db: float = spec(Real(-60.0, 60.0, "signal-to-noise ratio in dB"))
    freq_hz: int = spec(Integer(30_000_000, 3_000_000_000, "carrier frequency in Hz"))
    spreading_factor: int = spec(Integer(5, 12, "LoRa spreading factor"))
    bandwidth_hz: int = spec(Integer(7_800, 1_625_000, "LoRa bandwidth in Hz"))
    received_ms: int = spec(UNIX_TIME_MS)

    @property
    def packet_hash(self) -> bytes:
        """SHA-256 of the PHY payload: what a packet is bought (once) by."""
        return hashlib.sha256(self.payload).digest()


def uplink_offer(keypair: Keypair, packet: RxPacket, received_ms: int) -> UplinkOffer:
    """The signed offer of a received packet."""
    return UplinkOffer(hotspot_key=keypair.public_key, payload=packet.payload,
                       rssi_dbm=max(-200.0, min(30.0, packet.rssi_dbm)),
                       snr_db=max(-60.0, min(60.0, packet.snr_db)), freq_hz=packet.freq_hz,
                       spreading_factor=packet.spreading_factor,
                       bandwidth_hz=packet.bandwidth_hz, received_ms=received_ms).sign(keypair)


def sensor_radio_config(params: NetworkParams, region: str, *,
                        tx_power_dbm: int = 14) -> RadioConfig:
    """What a device must send on for hotspots of `region` to hear it: the region's beacon
    channel and data rate (a hotspot's radio demodulates only that). For
    `radio_sim.SensorFleet` and ``serve(..., sensor_config=...)``."""
    beacon = params.beacon(region)
    return RadioConfig(freq_hz=beacon.freq_hz, spreading_factor=beacon.spreading_factor,
                       bandwidth_hz=beacon.bandwidth_hz, tx_power_dbm=tx_power_dbm)


def is_sellable_uplink(frame: bytes) -> bool:
    """A LoRaWAN data uplink and not one of our beacons (a router buys only these)."""
    return parse_beacon(frame) is None and is_data_uplink(frame)


def decode_offer(data: bytes, sender_peer_id: str) -> UplinkOffer:
    """The checked offer in `data` sent by `sender_peer_id`; `UplinkRefused` with the reason."""
    if len(data) > UPLINK_LIMITS.max_request_bytes:
        raise UplinkRefused("malformed", f"{len(data)} bytes is over the "
                            f"{UPLINK_LIMITS.max_request_bytes}-byte cap of an offer")
    try:
        offer = UplinkOffer.from_cbor(data)
    except SignatureError as exc:
        raise UplinkRefused("bad_signature", str(exc)) from None
    except MessageError as exc:
        raise UplinkRefused("malformed", str(exc)) from None
    if peer_id_from_public_key(offer.hotspot_key) != sender_peer_id:
        raise UplinkRefused("wrong_sender", f"the offer is signed by hotspot "
                            f"{offer.hotspot_key.hex()[:16]}... but came from peer "
                            f"{sender_peer_id}: a hotspot sells only what it heard itself")
    if not is_sellable_uplink(offer.payload):
        raise UplinkRefused("not_an_uplink", "the packet is not a LoRaWAN data uplink "
                            f"(MHDR 0x{offer.payload[0]:02X}, {len(offer.payload)} bytes)")
    return offer


@dataclass(frozen=True)
class UplinkReply:
    """A router's answer: a receipt, or the reason it refused."""

    receipt: DataTransferReceipt | None = None
    refused: str | None = None
    detail: str = ""


def encode_reply(reply: UplinkReply) -> bytes:
    """Canonical CBOR: ``{"receipt": bytes}`` or ``{"refused": reason, "detail": text}``."""
    if reply.receipt is not None:
        return canonical_dumps({"receipt": reply.receipt.to_cbor()})
    return canonical_dumps({"refused": reply.refused, "detail": reply.detail[:300]})


def decode_reply(data: bytes) -> UplinkReply:
    """The router's reply, strictly; `UplinkError` saying what was wrong with it."""
    try:
        item = loads_cbor_item(data, max_bytes=UPLINK_LIMITS.max_response_bytes)
    except MessageError as exc:
        raise UplinkError(f"the router's reply is not CBOR: {exc}") from None
    if not isinstance(item, dict) or not set(item) <= _REPLY_KEYS or not item:
        raise UplinkError(f"the router's reply must be a map with keys from "
                          f"{sorted(_REPLY_KEYS)}; got {type(item).__name__}")
    if "receipt" in item:
        try:
            return UplinkReply(receipt=DataTransferReceipt.from_cbor(item["receipt"]))
        except (MessageError, TypeError) as exc:
            raise UplinkError(f"the router's receipt is not a valid receipt: {exc}") from None
    reason, detail = item.get("refused"), item.get("detail", "")
    if reason not in REFUSALS or not isinstance(detail, str):
        raise UplinkError(f"the router's refusal reason must be one of {', '.join(REFUSALS)} "
                          f"with a text detail; got {reason!r}")
    return UplinkReply(refused=reason, detail=detail)


@dataclass
class UplinkMetrics:
    """The forwarder's counters (the hotspot's status file and metrics show them)."""

    heard: int = 0
    """Data uplinks heard (beacons and other frames are not counted)."""
    receipts: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    """Offers given up after every attempt failed (no router reachable)."""
    bad_receipts: int = 0

    def as_json(self) -> dict[str, object]:
        """Plain data for a status file (not `dataclasses.asdict`, which miscopies a Counter)."""
        return {"heard": self.heard, "receipts": self.receipts, "refused": dict(self.refused),
                "failed": self.failed, "bad_receipts": self.bad_receipts}


class UplinkCollector:
    """The forwarder's counters as Prometheus metrics (served beside the hotspot's peer)."""

    def __init__(self, metrics: UplinkMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily]:
        m = self._metrics
        for name, value, text in (
                ("heard", m.heard, "LoRaWAN data uplinks the radio heard."),
                ("receipts", m.receipts, "Uplinks sold: receipts received from a router."),
                ("failed", m.failed, "Uplinks no router answered for, after every attempt."),
                ("bad_receipts", m.bad_receipts, "Receipts refused as not for the packet.")):
            yield CounterMetricFamily(f"coverage_net_uplinks_{name}", text, value=value)
        refused = CounterMetricFamily("coverage_net_uplinks_refused",
                                      "Offers a router refused, by reason.", labels=["reason"])
        for reason, count in sorted(m.refused.items()):
            refused.add_metric([reason], count)
        yield refused


@dataclass(frozen=True)
class _Forwarder:
    keypair: Keypair
    routers: tuple[bytes, ...]
    network: Network
    gossip: GossipService
    clock_ms: Callable[[], int]
    metrics: UplinkMetrics
    attempts: int
    retry_s: float
    timeout_s: float

    def _router_order(self) -> list[bytes]:
        """Connected routers first (no dial), in the parameters' order."""
        connected = set(self.network.connected_peers())
        return sorted(self.routers, key=lambda k: peer_id_from_public_key(k) not in connected)

    def _check_receipt(self, offer: UplinkOffer, receipt: DataTransferReceipt) -> str | None:
        if receipt.router_key not in self.routers:
            return "signed by a key that is not a router of the network parameters"
        if receipt.hotspot_key != self.keypair.public_key or \
                receipt.packet_hash != offer.packet_hash:
            return "not for this hotspot and packet"
        if receipt.payload_bytes != len(offer.payload) or \
                receipt.data_credits != data_credits_for(len(offer.payload)):
            return "its size or data credits are not the packet's"
        return None

    async def sell(self, offer: UplinkOffer) -> None:
        data = offer.to_cbor()
        what = f"uplink {offer.packet_hash.hex()[:12]}"
        for attempt in range(self.attempts):
            for router in self._router_order():
                peer = peer_id_from_public_key(router)
                try:
                    raw = await self.network.request(peer, UPLINK_PROTOCOL, data,
                                                     timeout_s=self.timeout_s)
                    reply = decode_reply(raw)
                except (RequestError, UplinkError) as exc:
                    logger.debug("%s: router %s failed (attempt %d): %s", what, peer,
                                 attempt + 1, exc)
                    continue
                if reply.refused is not None:
                    self.metrics.refused[reply.refused] += 1
                    logger.info("%s refused by router %s: %s (%s)", what, peer, reply.refused,
                                reply.detail)
                    return
                assert reply.receipt is not None
                problem = self._check_receipt(offer, reply.receipt)
                if problem is not None:
                    self.metrics.bad_receipts += 1
                    logger.warning("%s: router %s returned a receipt %s; trying another",
                                   what, peer, problem)
                    continue
                self.metrics.receipts += 1
                await self.gossip.publish(reply.receipt)
                logger.info("%s sold to router %s (epoch %d, %d data credits)", what, peer,
                            reply.receipt.epoch, reply.receipt.data_credits)
                return
            if attempt + 1 < self.attempts:
                await trio.sleep(self.retry_s * (attempt + 1))
        self.metrics.failed += 1
        logger.warning("%s: no router bought it after %d attempts; dropped", what,
                       self.attempts)


async def run_uplink_forwarder(keypair: Keypair, params: NetworkParams, *, radio: Radio,
                               network: Network, gossip: GossipService,
                               clock_ms: Callable[[], int], metrics: UplinkMetrics | None = None,
                               attempts: int = 4, retry_s: float = 1.0, timeout_s: float = 5.0,
                               max_in_flight: int = 64,
                               routers: Sequence[bytes] | None = None,
                               task_status: trio.TaskStatus[UplinkMetrics] =
                               trio.TASK_STATUS_IGNORED) -> None:
    """Offer every data uplink `radio` hears to the routers, until cancelled.

    Started with ``nursery.start``: returns its `UplinkMetrics` once it listens. At most
    `max_in_flight` offers are pending at once; a packet heard beyond that is dropped
    (counted as failed) so a dead router cannot make the hotspot hoard packets.
    """
    metrics = metrics if metrics is not None else UplinkMetrics()
    chosen = tuple(params.rewards.routers if routers is None else routers)
    forwarder = _Forwarder(keypair, chosen, network, gossip, clock_ms, metrics, attempts,
                           retry_s, timeout_s)
    limit = trio.Semaphore(max_in_flight)

    async def sell(offer: UplinkOffer) -> None:
        try:
            await forwarder.sell(offer)
        finally:
            limit.release()

    async with radio.packets() as packets, trio.open_nursery() as nursery:
        task_status.started(metrics)
        if not chosen:
            logger.info("the network parameters list no routers: uplinks are not forwarded")
        async for packet in packets:
            if not packet.crc_ok or not chosen or not is_sellable_uplink(packet.payload):
                continue
            metrics.heard += 1
            try:
                limit.acquire_nowait()
            except trio.WouldBlock:
                metrics.failed += 1
                logger.warning("%d offers pending: uplink dropped", max_in_flight)
                continue
            nursery.start_soon(sell, uplink_offer(keypair, packet, clock_ms()))

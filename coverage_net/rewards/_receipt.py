"""`DataTransferReceipt`: a router's signed word that a hotspot carried a packet it bought.

Routers are listed in the network parameters (`RewardParams.routers`); a receipt
signed by any other key earns nothing. A packet is paid once: of the receipts for
one `packet_hash`, the earliest (`timestamp_ms`, then content id) counts.
`data_credits` must be what `data_credits_for` gives for `payload_bytes` (one data
credit per started 24 bytes, as Helium priced them), so a router cannot inflate a
hotspot's share by overstating what it paid.

The type is not in `coverage_net.messages.MESSAGE_TYPES` yet (``register=False``):
`coverage_net.p2p` derives its gossip topics from that registry when it is
imported, so a type registered from this higher layer would add a topic depending
on import order. Receipts are decoded with `DataTransferReceipt.from_cbor`; they
join gossip, with a topic of their own, when the router process does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from coverage_net.messages import EPOCH, HASH, PUBLIC_KEY, UNIX_TIME_MS, Integer, Message, spec

__all__ = ["DATA_CREDIT_BYTES", "DataTransferReceipt", "data_credits_for"]

DATA_CREDIT_BYTES = 24
"""Payload bytes one data credit buys."""
_MAX_PAYLOAD_BYTES = 255  # a LoRa PHY payload


def data_credits_for(payload_bytes: int) -> int:
    """Data credits a packet of `payload_bytes` costs: one per started 24 bytes, at least one."""
    return max(1, -(-payload_bytes // DATA_CREDIT_BYTES))


@dataclass(frozen=True, kw_only=True, repr=False)  # Message.__repr__
class DataTransferReceipt(Message, register=False):
    """A router bought one device packet that `hotspot_key` carried in `epoch`; signed by
    the router. `packet_hash` is the SHA-256 of the LoRaWAN PHY payload."""

    TYPE: ClassVar[str] = "data_transfer_receipt"
    SIGNER: ClassVar[str] = "router_key"
    PARTITION_FIELD: ClassVar[str] = "epoch"

    router_key: bytes = spec(PUBLIC_KEY)
    hotspot_key: bytes = spec(PUBLIC_KEY)
    packet_hash: bytes = spec(HASH)
    epoch: int = spec(EPOCH)
    payload_bytes: int = spec(Integer(1, _MAX_PAYLOAD_BYTES, "LoRa PHY payload bytes"))
    data_credits: int = spec(Integer(1, 2**32 - 1, "data credits paid for the packet"))
    timestamp_ms: int = spec(UNIX_TIME_MS)

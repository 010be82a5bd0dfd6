"""`DataTransferReceipt`: a router's signed word that a hotspot carried a packet it bought.

It lives here, beside the proof-of-coverage messages, because `coverage_net.p2p`
derives its gossip topics and sync ranges from `MESSAGE_TYPES` when it is imported:
a type registered from a higher layer (it was `coverage_net.rewards`) would add a
topic or not depending on import order. Registered here, every node gossips, stores
(under ``/coverage-net/1/data_transfer_receipt``, where the rewards read them) and
syncs receipts like any report. What a receipt is worth is for `coverage_net.rewards`
(`data_credits_for`, `valid_receipts`): a router listed in the network parameters,
one payment per packet, the credits the payload size gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._base import Message, spec
from ._fields import EPOCH, HASH, PUBLIC_KEY, UNIX_TIME_MS, Integer

__all__ = ["DataTransferReceipt"]

_MAX_PAYLOAD_BYTES = 255  # a LoRa PHY payload


@dataclass(frozen=True, kw_only=True, repr=False)  # Message.__repr__
class DataTransferReceipt(Message):
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

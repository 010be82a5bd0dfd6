"""`DataTransferReceipt`: a router's signed word that a hotspot carried a packet it bought.

Routers are listed in the network parameters (`RewardParams.routers`); a receipt
signed by any other key earns nothing. A packet is paid once: of the receipts for
one `packet_hash`, the earliest (`timestamp_ms`, then content id) counts.
`data_credits` must be what `data_credits_for` gives for `payload_bytes` (one data
credit per started 24 bytes, as Helium priced them), so a router cannot inflate a
hotspot's share by overstating what it paid.

The message type itself is defined in `coverage_net.messages` (so that p2p gossips,
stores and syncs it like every registered type) and re-exported here.
"""

from __future__ import annotations

from coverage_net.messages import DataTransferReceipt

__all__ = ["DATA_CREDIT_BYTES", "DataTransferReceipt", "data_credits_for"]

DATA_CREDIT_BYTES = 24
"""Payload bytes one data credit buys."""


def data_credits_for(payload_bytes: int) -> int:
    """Data credits a packet of `payload_bytes` costs: one per started 24 bytes, at least one."""
    return max(1, -(-payload_bytes // DATA_CREDIT_BYTES))

"""Counters a peer keeps about what it received, rejected, dropped and synced.

Rejections and drops are counted by reason, so an operator (and the tests) can
see exactly why input was refused. `PeerMetrics.snapshot` is what the peer writes
to its status file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["PeerMetrics", "REJECT_REASONS"]

REJECT_REASONS = (
    "oversize",        # more than MAX_MESSAGE_BYTES; not parsed
    "not_cbor",        # not exactly one well-formed CBOR item (garbage, truncated, trailing
                       # bytes, tags such as bignums)
    "bad_schema",      # CBOR, but not a message: wrong/missing/unknown fields, non-canonical
    "unknown_type",    # a message type this node does not know
    "bad_signature",   # forged or altered
    "wrong_topic",     # a valid message published on another type's topic
    "blocked_peer",    # forwarded by a peer on our blocklist
)


@dataclass
class PeerMetrics:
    """Plain counters; one instance per peer, updated from the peer's trio tasks."""

    rejected: Counter[str] = field(default_factory=Counter)
    """Gossip messages refused by the topic validators, by reason."""
    dropped: Counter[str] = field(default_factory=Counter)
    """Messages py-libp2p would have lost, by place (outbound queue, spam limit)."""
    accepted: int = 0
    """Gossip messages that passed validation (before de-duplication)."""
    stored: int = 0
    """Messages newly committed to the store (gossip, sync and own publishes)."""
    duplicates: int = 0
    """Valid messages that were already stored (replays, late gossip after sync)."""
    gossip_seen: int = 0
    """Gossip payloads that arrived again after their id was seen (not re-validated)."""
    published: int = 0
    synced: int = 0
    """Messages fetched through sync that gossip had not delivered."""
    sync_rounds: int = 0
    sync_errors: int = 0
    sync_requests_served: int = 0
    sync_requests_refused: int = 0
    bad_rpcs: int = 0
    """Gossip RPC frames that could not be decoded or processed; each reset that stream."""
    requests: Counter[str] = field(default_factory=Counter)
    """Inbound request/response streams by outcome (`coverage_net.p2p.REQUEST_OUTCOMES`)."""

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1

    def drop(self, where: str, count: int = 1) -> None:
        self.dropped[where] += count

    def snapshot(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return {
            "accepted": self.accepted, "stored": self.stored, "duplicates": self.duplicates,
            "gossip_seen": self.gossip_seen,
            "published": self.published, "synced": self.synced,
            "sync_rounds": self.sync_rounds, "sync_errors": self.sync_errors,
            "sync_requests_served": self.sync_requests_served,
            "sync_requests_refused": self.sync_requests_refused,
            "bad_rpcs": self.bad_rpcs,
            "rejected": dict(sorted(self.rejected.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "requests": dict(sorted(self.requests.items())),
        }

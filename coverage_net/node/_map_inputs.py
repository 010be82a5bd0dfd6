"""What a map from proof reads from a node's store: valid witnesses, announced hotspots,
bought uplinks, over a range of epochs.

Verdict rows are read one epoch at a time when a range is given (a store of a million
verdicts is never held whole in memory as rows); `coverage_net.coverage.witness_proofs`
decodes only the figure it needs from each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from coverage_net.coverage import WitnessProofs, witness_proofs
from coverage_net.messages import HotspotAnnouncement
from coverage_net.store import MessageStore, VerdictRow

from ._rewards import load_receipts, load_registry

__all__ = ["MapInputs", "load_map_inputs"]


@dataclass(frozen=True)
class MapInputs:
    proofs: WitnessProofs
    hotspots: tuple[HotspotAnnouncement, ...]
    uplinks_by_hotspot: dict[bytes, int]
    epochs: tuple[int, int] | None
    """The epochs read (inclusive); None: every epoch the store holds."""


def load_map_inputs(store: MessageStore, epochs: tuple[int, int] | None = None) -> MapInputs:
    """The map's inputs from `store`, of `epochs` (inclusive) or of all epochs."""
    proofs = witness_proofs(_rows(store, epochs))
    first, last = epochs if epochs is not None else (0, 2**63 - 1)
    uplinks = Counter(r.hotspot_key for r in load_receipts(store, first, last))
    return MapInputs(proofs, load_registry(store).announcements, dict(uplinks), epochs)


def _rows(store: MessageStore, epochs: tuple[int, int] | None) -> Iterator[VerdictRow]:
    if epochs is None:
        yield from store.verdict_rows()
        return
    for epoch in range(epochs[0], epochs[1] + 1):
        yield from store.verdict_rows(epoch=epoch)

"""Proven coverage: the H3 cells where valid witnesses place a receiver that heard a hotspot.

A valid witness verdict proves that a radio standing where the witness asserts (its
announcement, checked by the verifier against the physics of the path and the
neighbours) received the beacon of another hotspot. That receiver's cell is proven
coverage: a device there is heard. Routers add the cells of hotspots that carried
device uplinks they bought (`DataTransferReceipt`s).

Per cell at the map's resolution: the best measured RSSI of a valid witness (centi-dBm,
as the verdict states it), how many valid witnesses, how many distinct hotspots were
heard there, the last epoch seen, and how many uplinks were bought from hotspots there.
Everything here is integers from the verdicts: the same store gives the same map.

`witness_proofs` reads verdict rows (the store's columns and the verdict's canonical
CBOR body), decoding only the figure it needs; `prove_cells` aggregates with numpy, so
a million verdicts take seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import cbor2
import h3
import numpy as np

from coverage_net.messages import BeaconReport, WitnessReport

from ._errors import CoverageError

__all__ = ["NO_RSSI", "ProvenCells", "WitnessProofs", "prove_cells", "witness_proofs"]

NO_RSSI = -(2**31)
"""`best_rssi_centi_dbm` of a cell proven by bought uplinks only (no witness there)."""
_MEASURED = "measured_rssi_centi_dbm"


class VerdictRowLike(Protocol):
    """What `witness_proofs` reads of a stored verdict (`coverage_net.store.VerdictRow`)."""

    challenge_id: bytes
    epoch: int
    report_type: str
    hotspot_key: bytes
    valid: bool
    body: bytes


@dataclass(frozen=True)
class WitnessProofs:
    """Valid witnesses in columns: who heard whom, when, how strongly."""

    witness_keys: tuple[bytes, ...]
    beaconer_keys: tuple[bytes, ...]
    epochs: np.ndarray  # int64
    rssi_centi_dbm: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.witness_keys)


def witness_proofs(rows: Iterable[VerdictRowLike]) -> WitnessProofs:
    """The valid witnesses among `rows`, each tied to the hotspot whose beacon it heard
    (the valid beacon verdict of the same challenge). A witness whose beacon verdict is
    not among `rows`, or not valid, proves nothing."""
    beaconer: dict[bytes, bytes] = {}
    pending: list[tuple[bytes, bytes, int, bytes]] = []
    for row in rows:
        if not row.valid:
            continue
        if row.report_type == BeaconReport.TYPE:
            beaconer[row.challenge_id] = row.hotspot_key
        elif row.report_type == WitnessReport.TYPE:
            pending.append((row.challenge_id, row.hotspot_key, row.epoch, row.body))
    witnesses, beaconers, epochs, rssi = [], [], [], []
    for challenge_id, witness, epoch, body in pending:
        heard = beaconer.get(challenge_id)
        if heard is None:
            continue
        figures = cbor2.loads(body).get("figures", {})
        measured = figures.get(_MEASURED)
        if type(measured) is not int:
            raise CoverageError(f"a valid witness verdict of epoch {epoch} has no integer "
                                f"{_MEASURED} figure; the store holds another verdict format")
        witnesses.append(witness)
        beaconers.append(heard)
        epochs.append(epoch)
        rssi.append(measured)
    return WitnessProofs(tuple(witnesses), tuple(beaconers),
                         np.asarray(epochs, dtype=np.int64), np.asarray(rssi, dtype=np.int64))


@dataclass(frozen=True)
class ProvenCells:
    """Proven cells at `res`, sorted by H3 index, with their figures in columns."""

    res: int
    cells: np.ndarray  # uint64 H3 indexes
    best_rssi_centi_dbm: np.ndarray  # int64; NO_RSSI where only uplinks prove the cell
    witnesses: np.ndarray  # int64
    hotspots_heard: np.ndarray  # int64: distinct hotspots heard from the cell
    last_epoch: np.ndarray  # int64; -1 where only uplinks prove the cell
    uplinks: np.ndarray  # int64: device packets bought from hotspots in the cell
    proven_hotspots: frozenset[bytes]
    """Hotspots with at least one valid witness of their beacons: coverage proven."""

    def __len__(self) -> int:
        return len(self.cells)


def prove_cells(proofs: WitnessProofs, hotspot_cells: Mapping[bytes, int], res: int, *,
                uplinks_by_hotspot: Mapping[bytes, int] | None = None) -> ProvenCells:
    """Aggregate `proofs` into cells at `res`; `hotspot_cells` places each hotspot (its
    announced H3 cell, any finer resolution). A witness or uplink hotspot with no
    announcement places nothing."""
    if not 0 <= res <= 15:
        raise CoverageError(f"H3 resolution {res} is not in 0..15")
    keys = sorted(set(proofs.witness_keys) | set(uplinks_by_hotspot or ()))
    placed = {k: _parent(hotspot_cells[k], res) for k in keys if k in hotspot_cells}
    beaconer_ids = {k: i for i, k in enumerate(sorted(set(proofs.beaconer_keys)))}
    keep = np.fromiter((k in placed for k in proofs.witness_keys), dtype=bool,
                       count=len(proofs))
    w_cells = np.fromiter((placed.get(k, 0) for k in proofs.witness_keys), dtype=np.uint64,
                          count=len(proofs))[keep]
    heard = np.fromiter((beaconer_ids[k] for k in proofs.beaconer_keys), dtype=np.int64,
                        count=len(proofs))[keep]
    epochs, rssi = proofs.epochs[keep], proofs.rssi_centi_dbm[keep]
    u_keys = [k for k in (uplinks_by_hotspot or {}) if k in placed]
    u_cells = np.asarray([placed[k] for k in u_keys], dtype=np.uint64)
    u_counts = np.asarray([uplinks_by_hotspot[k] for k in u_keys], dtype=np.int64)
    cells = np.unique(np.concatenate([w_cells, u_cells]))
    n = len(cells)
    best = np.full(n, NO_RSSI, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    distinct = np.zeros(n, dtype=np.int64)
    uplinks = np.zeros(n, dtype=np.int64)
    at = np.searchsorted(cells, w_cells)
    np.maximum.at(best, at, rssi)
    np.add.at(count, at, 1)
    np.maximum.at(last, at, epochs)
    pairs = np.unique(at * (len(beaconer_ids) + 1) + heard)
    np.add.at(distinct, pairs // (len(beaconer_ids) + 1), 1)
    np.add.at(uplinks, np.searchsorted(cells, u_cells), u_counts)
    proven = frozenset(k for k, w in zip(proofs.beaconer_keys, proofs.witness_keys, strict=True)
                       if w in placed)
    return ProvenCells(res, cells, best, count, distinct, last, uplinks, proven)


def _parent(cell: int, res: int) -> int:
    if h3.get_resolution(h3.int_to_str(cell)) < res:
        raise CoverageError(f"hotspot cell {cell:x} is coarser than the map's resolution {res}")
    return h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cell), res))

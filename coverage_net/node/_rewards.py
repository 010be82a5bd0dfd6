"""Rewards from a node's data directory: the glue between the store, `rewards` and the ledger.

The message store holds what the epoch is computed from (the verifier's verdicts,
the hotspot announcements, data-transfer receipts); `book_epoch` computes the
manifest with the pure `coverage_net.rewards.epoch_rewards` and books it, with the
hash of every input, in the ledger. `check_epoch` recomputes a booked epoch from
what the store holds now and names every disagreement: an input changed since it
was booked, a ledger row that is not the manifest's, a recomputed payout that
differs.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, fields

from coverage_net.messages import HotspotAnnouncement, decode
from coverage_net.p2p import TOPIC_PREFIX
from coverage_net.poc import NetworkParams, Registry, Verdict
from coverage_net.rewards import (
    DataTransferReceipt,
    Payout,
    RewardLedger,
    RewardManifest,
    differences,
    epoch_rewards,
    witnessed_beacon_epochs,
)
from coverage_net.store import MessageStore, StoredMessage

from ._verdicts import verdict_from_row

__all__ = ["EpochRewardInputs", "book_epoch", "check_epoch", "compute_epoch", "load_epoch_inputs",
           "load_receipts", "load_registry", "save_announcements", "save_receipts"]

RECEIPT_TOPIC = TOPIC_PREFIX + DataTransferReceipt.TYPE
_ANNOUNCEMENT_TOPIC = TOPIC_PREFIX + HotspotAnnouncement.TYPE
_LAST_PARTITION = 2**63 - 1
INPUT_KINDS = ("verdict", "receipt", "announcement", "history")
_PAYOUT_FIELDS = tuple(f.name for f in fields(Payout))


@dataclass(frozen=True)
class EpochRewardInputs:
    """What one epoch's rewards are computed from, as the store holds it now."""

    epoch: int
    verdicts: tuple[Verdict, ...]
    receipts: tuple[DataTransferReceipt, ...]
    registry: Registry
    last_witnessed: dict[bytes, int]
    hashes: dict[str, dict[bytes, bytes]]
    """kind (`INPUT_KINDS`) -> {id: sha256}: of the stored bytes of each verdict, receipt
    and counted announcement by content id, and per hotspot key of its last witnessed
    epoch before this one (the beacon history)."""


def save_receipts(store: MessageStore, receipts: Iterable[DataTransferReceipt], *,
                  received_ms: int) -> int:
    """Store receipts (by content id, partition = epoch); how many were new."""
    return len(store.put_many([
        StoredMessage(r.content_id, RECEIPT_TOPIC, r.sync_partition, r.TYPE, r.to_cbor(),
                      received_ms, None) for r in receipts]))


def save_announcements(store: MessageStore, announcements: Iterable[HotspotAnnouncement], *,
                       received_ms: int) -> int:
    """Store hotspot announcements (the registry the rewards place hotspots by)."""
    return len(store.put_many([
        StoredMessage(a.content_id, _ANNOUNCEMENT_TOPIC, a.sync_partition, a.TYPE, a.to_cbor(),
                      received_ms, None) for a in announcements]))


def load_registry(store: MessageStore) -> Registry:
    """Every hotspot announcement in `store`, the newest of each hotspot counting."""
    announcements = [decode(m.data) for m in store.range(
        topic=_ANNOUNCEMENT_TOPIC, partition_from=0, partition_to=_LAST_PARTITION)]
    return Registry(a for a in announcements if isinstance(a, HotspotAnnouncement))


def load_receipts(store: MessageStore, first_epoch: int, last_epoch: int
                  ) -> list[DataTransferReceipt]:
    """The data-transfer receipts of epochs `first_epoch`..`last_epoch` in `store`."""
    return [DataTransferReceipt.from_cbor(m.data) for m in store.range(
        topic=RECEIPT_TOPIC, partition_from=first_epoch, partition_to=last_epoch)]


def load_epoch_inputs(store: MessageStore, params: NetworkParams, epoch: int) -> EpochRewardInputs:
    """The epoch's verdicts and receipts, the registry, and the beacon history of the
    interactive window before the epoch, read from `store`."""
    rows = store.verdict_rows(epoch=epoch)
    verdicts = tuple(verdict_from_row(row) for row in rows)
    stored = list(store.range(topic=RECEIPT_TOPIC, partition_from=epoch, partition_to=epoch))
    receipts = tuple(DataTransferReceipt.from_cbor(m.data) for m in stored)
    registry = load_registry(store)
    window = -(-params.rewards.interactive_window_ms // params.epoch_length_ms)
    last: dict[bytes, int] = {}
    for earlier in range(max(0, epoch - window), epoch):
        # the indexed columns say all this needs (each row's columns were checked
        # against its body when it was stored): no decoding of every verdict body
        found = witnessed_beacon_epochs(store.verdict_rows(epoch=earlier))
        last.update(found)  # later epochs overwrite earlier ones
    hashes = {"verdict": {r.report_id: hashlib.sha256(r.body).digest() for r in rows},
              "receipt": {m.content_id: hashlib.sha256(m.data).digest() for m in stored},
              "announcement": {a.content_id: hashlib.sha256(a.to_cbor()).digest()
                               for a in registry.announcements},
              "history": {k: hashlib.sha256(e.to_bytes(8, "big")).digest()
                          for k, e in last.items()}}
    return EpochRewardInputs(epoch, verdicts, receipts, registry, last, hashes)


def compute_epoch(store: MessageStore, params: NetworkParams, epoch: int
                  ) -> tuple[RewardManifest, EpochRewardInputs]:
    """The epoch's manifest from what `store` holds now, and the inputs it came from."""
    inputs = load_epoch_inputs(store, params, epoch)
    manifest = epoch_rewards(params, epoch, inputs.verdicts, inputs.registry, inputs.receipts,
                             inputs.last_witnessed)
    return manifest, inputs


def book_epoch(store: MessageStore, ledger: RewardLedger, params: NetworkParams,
               epoch: int) -> tuple[RewardManifest, bool]:
    """Compute `epoch` from the store and book it; (manifest, whether it was new)."""
    manifest, inputs = compute_epoch(store, params, epoch)
    return manifest, ledger.record(manifest, inputs.hashes)


def _input_problems(kind: str, booked: dict[bytes, bytes], now: dict[bytes, bytes]) -> list[str]:
    problems = []
    what = "beacon history of hotspot" if kind == "history" else kind
    for item in sorted(set(booked) | set(now)):
        if item not in now:
            problems.append(f"{what} {item.hex()} was used for the epoch and is gone")
        elif item not in booked:
            problems.append(f"{what} {item.hex()} was not there when the epoch was booked")
        elif booked[item] != now[item]:
            problems.append(f"{what} {item.hex()} changed since the epoch was booked")
    return problems


def _row_problems(manifest: RewardManifest, rows: dict[str, Payout]) -> list[str]:
    problems = []
    booked = manifest.by_account()
    for account in sorted(set(booked) | set(rows)):
        want, have = booked.get(account), rows.get(account)
        if want == have:
            continue
        if want is not None and have is not None:
            name = next(f for f in _PAYOUT_FIELDS if getattr(want, f) != getattr(have, f))
            what = f"{name} {getattr(have, name):,} where the manifest says {getattr(want, name):,}"
        else:
            what = "missing" if have is None else "not in the manifest"
        problems.append(f"ledger payout row of epoch {manifest.epoch} to {account}: {what}")
    return problems


def check_epoch(store: MessageStore, ledger: RewardLedger, params: NetworkParams,
                epoch: int) -> tuple[RewardManifest, list[str]]:
    """Recompute a booked epoch; (the booked manifest, every disagreement in words)."""
    booked = ledger.manifest(epoch)  # refuses a manifest that does not hash to its hash
    problems = _row_problems(booked, ledger.payouts(epoch))
    recomputed, inputs = compute_epoch(store, params, epoch)
    for kind in INPUT_KINDS:
        problems += _input_problems(kind, ledger.input_hashes(epoch, kind), inputs.hashes[kind])
    # the first difference, and the first payout that differs when that is not it
    # (a changed input usually moves a pool first; the operator asks whose payout)
    found = list(itertools.islice(differences(booked, recomputed), 1))
    payout = next((d for d in differences(booked, recomputed) if d.startswith("payout")), None)
    if payout is not None and payout not in found:
        found.append(payout)
    problems += [f"recomputed from the store: {d}" for d in found]
    return booked, problems

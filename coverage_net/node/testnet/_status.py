"""What the running network has done so far, read from the processes' own files.

The testnet does not join the network to watch it: every daemon already writes its
status (``validator.json``: each decided height and its finality latency;
``hotspot.json``: the proof-of-coverage counters) and keeps its SQLite files, so
progress is read from those, as an operator would. A file that is missing or
half-written counts as "nothing yet", never as an error: processes start and write at
their own pace.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from coverage_net.store import MessageStore, StoreError

from ._layout import TestnetLayout

__all__ = ["HOTSPOT_STATUS_FILENAME", "VALIDATOR_STATUS_FILENAME", "NetworkSnapshot",
           "read_snapshot", "read_status_file", "verdict_counts"]

VALIDATOR_STATUS_FILENAME = "validator.json"  # coverage_net.node's names (not imported:
HOTSPOT_STATUS_FILENAME = "hotspot.json"  # py-libp2p is slow to import)


@dataclass(frozen=True)
class NetworkSnapshot:
    """The network's progress at one moment."""

    finalized: int
    """Heights (epochs) decided by a quorum (2f + 1) of the validators."""
    latencies_ms: tuple[int, ...]
    """Finality latency of each of those heights (median over the validators that decided it)."""
    valid: int
    invalid: int
    """Verdicts stored by the most advanced validator."""
    hotspots_reporting: int
    """Hotspots that have written their status."""
    beacons_sent: int
    witnesses_filed: int
    leader: str | None
    """The validator with the most decided heights (its store and ledger are read)."""

    @property
    def last_latency_ms(self) -> int | None:
        return self.latencies_ms[-1] if self.latencies_ms else None


def read_status_file(data_dir: Path, filename: str) -> dict | None:
    """A process's status JSON, or None when it is absent or caught half-written."""
    try:
        data = json.loads((Path(data_dir) / filename).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_snapshot(layout: TestnetLayout, *, with_verdicts: bool = True) -> NetworkSnapshot:
    """The network's progress now, from its status files (and a validator's store)."""
    decided: dict[str, dict[int, int | None]] = {}  # validator -> height -> latency
    for name in layout.validator_names:
        status = read_status_file(layout.data_dir(name), VALIDATOR_STATUS_FILENAME) or {}
        heights = status.get("decided")
        # a height a restarted validator found on its chain has no latency (None)
        decided[name] = ({int(h): d.get("latency_ms") for h, d in heights.items()}
                         if isinstance(heights, dict) else {})
    quorum = 2 * ((layout.validators - 1) // 3) + 1
    by_height: dict[int, list[int | None]] = {}
    for heights in decided.values():
        for height, latency in heights.items():
            by_height.setdefault(height, []).append(latency)
    final = sorted(h for h, lat in by_height.items() if len(lat) >= quorum)
    leader = max(decided, key=lambda v: len(decided[v])) if decided else None
    if leader is not None and not decided[leader]:
        leader = None
    valid = invalid = 0
    if with_verdicts and leader is not None:
        valid, invalid = verdict_counts(layout.data_dir(leader))
    beacons = witnesses = reporting = 0
    for name in layout.hotspot_names:
        status = read_status_file(layout.data_dir(name), HOTSPOT_STATUS_FILENAME)
        if status is None:
            continue
        reporting += 1
        poc = status.get("poc") if isinstance(status.get("poc"), dict) else {}
        beacons += int(poc.get("beacons_sent", 0))
        witnesses += int(poc.get("witnesses_filed", 0))
    return NetworkSnapshot(
        finalized=len(final),
        latencies_ms=tuple(int(statistics.median(known)) for h in final
                           if (known := [x for x in by_height[h] if x is not None])),
        valid=valid, invalid=invalid, hotspots_reporting=reporting,
        beacons_sent=beacons, witnesses_filed=witnesses, leader=leader)


def verdict_counts(data_dir: Path) -> tuple[int, int]:
    """(valid, invalid) verdicts in the message store of `data_dir` ((0, 0) before it exists)."""
    try:
        with MessageStore.open(data_dir, create=False) as store:
            counts = store.verdict_counts()
    except StoreError:
        return 0, 0
    valid = sum(n for (_, _, ok), n in counts.items() if ok)
    return valid, sum(counts.values()) - valid

"""The testnet's results: each hotspot's rewards from a validator's ledger, and a coverage map.

Rewards are read from the ledger a validator booked (``ledger.sqlite``), summed over
every epoch, per hotspot and pool, so the table shows what the network agreed to pay,
not what the testnet expected. The map is GeoJSON of the H3 cells where coverage was
proven: the asserted cells of hotspots with a valid beacon or a valid witness report
(a witness proves its receiver hears, a valid beacon that its transmitter is heard),
at resolution 8 (about 0.7 km2), the granularity coverage maps use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from h3.api import basic_int as h3

from coverage_net.rewards import LedgerError, RewardLedger
from coverage_net.store import MessageStore, StoreError

from ._errors import TestnetError
from ._layout import TestnetLayout

__all__ = ["MAP_RESOLUTION", "RewardRow", "read_rewards", "write_coverage_map",
           "write_rewards"]

MAP_RESOLUTION = 8


@dataclass(frozen=True)
class RewardRow:
    """What one hotspot earned over the whole run, in the smallest unit, by pool."""

    name: str
    role: str
    beacon: int
    witness: int
    data: int
    beacons: int
    witnesses: int

    @property
    def total(self) -> int:
        return self.beacon + self.witness + self.data


def read_rewards(layout: TestnetLayout, validator: str) -> list[RewardRow]:
    """Every hotspot's rewards as booked in `validator`'s ledger, in plan order."""
    try:
        with RewardLedger.open(layout.data_dir(validator), create=False) as ledger:
            rows = []
            for hotspot in layout.plan.hotspots:
                history = ledger.account_history(layout.keypair(hotspot.name).public_key.hex())
                rows.append(RewardRow(hotspot.name, hotspot.role,
                                      *(sum(getattr(p, pool) for _, p in history)
                                        for pool in ("beacon", "witness", "data", "beacons",
                                                     "witnesses"))))
            return rows
    except LedgerError as exc:
        raise TestnetError(f"validator {validator} booked no rewards: {exc}") from None


def write_rewards(rows: list[RewardRow], path: Path) -> None:
    """The rewards table as JSON (amounts in the smallest unit), for scripts and tests."""
    data = [{"name": r.name, "role": r.role, "beacon": r.beacon, "witness": r.witness,
             "data": r.data, "total": r.total, "beacons": r.beacons, "witnesses": r.witnesses}
            for r in rows]
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def write_coverage_map(layout: TestnetLayout, validator: str, path: Path) -> int:
    """Write the proven cells (see the module doc) from `validator`'s verdicts as a GeoJSON
    FeatureCollection at `path`; returns how many cells."""
    names = {layout.keypair(h.name).public_key: h for h in layout.plan.hotspots}
    cells: dict[int, dict] = {}
    try:
        with MessageStore.open(layout.data_dir(validator), create=False) as store:
            rows = store.verdict_rows()
    except StoreError:
        rows = []
    for row in rows:
        hotspot = names.get(row.hotspot_key)
        if not row.valid or hotspot is None:
            continue
        cell = h3.cell_to_parent(hotspot.asserted_cell, MAP_RESOLUTION)
        entry = cells.setdefault(cell, {"hotspots": set(), "beacons": 0, "witnesses": 0})
        entry["hotspots"].add(hotspot.name)
        entry["beacons" if "beacon" in row.report_type else "witnesses"] += 1
    features = [{"type": "Feature",
                 "geometry": {"type": "Polygon", "coordinates": [_ring(cell)]},
                 "properties": {"cell": h3.int_to_str(cell), "hotspots": sorted(e["hotspots"]),
                                "valid_beacons": e["beacons"],
                                "valid_witnesses": e["witnesses"]}}
                for cell, e in sorted(cells.items())]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1)
                    + "\n", encoding="utf-8")
    return len(features)


def _ring(cell: int) -> list[list[float]]:
    """The cell's boundary as a closed GeoJSON ring (lon, lat)."""
    ring = [[lon, lat] for lat, lon in h3.cell_to_boundary(cell)]
    return ring + ring[:1]

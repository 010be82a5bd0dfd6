"""The verifier's view of the air: modelled path loss between announced hotspots, batched.

One `PathPredictor.loss_centi_db` call per beacon covers every receiver the
verifier asks about (its witnesses and the neighbours that should have heard it):
one kernel call, terrain included. Losses are quantized to integer centi-dB at once,
so everything downstream compares integers; the kernel computes each path on its
own, so the result does not depend on the thread count or on which other paths
share the call.

Hotspots do not move between announcements, so the same links come back every time
a hotspot beacons; a bounded cache keyed by both ends' assertions and the frequency
keeps them (a re-announced hotspot has a new key, so nothing stale is reused).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from coverage_net.messages import WitnessReport
from coverage_net.radio import (
    InvalidInputError,
    ITMModel,
    Model,
    Terrain,
    TerrainModel,
    path_loss_db,
)

from ._params import NetworkParams
from ._registry import Registry

__all__ = ["PathPredictor"]

_LinkKey = tuple[int, float, int, float, int]


def _centi(values: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(values, dtype=np.float64) * 100.0).astype(np.int64)


class PathPredictor:
    """Path loss between registered hotspots under the network's propagation model.

    ``terrain`` is needed when the parameters name the terrain model (the DEM tiles
    listed in the parameters). ``num_threads`` is the kernel's OpenMP thread count;
    verdicts are identical for any value. ``cache_links`` bounds the link cache
    (0 turns it off).
    """

    def __init__(self, params: NetworkParams, terrain: Terrain | None = None, *,
                 num_threads: int | None = 1, cache_links: int = 500_000) -> None:
        self.model: Model = params.propagation.build_model(terrain)
        self.is_terrain = isinstance(self.model, TerrainModel | ITMModel)
        self.num_threads = num_threads
        self.cache_links = cache_links
        self._cache: OrderedDict[_LinkKey, int] = OrderedDict()
        self.kernel_paths = 0
        """Paths computed by the kernel so far (cache misses)."""

    @staticmethod
    def _keys(registry: Registry, tx: int, receivers: Iterable[int],
              freq_hz: int) -> list[_LinkKey]:
        """The cache keys of the links from `tx` to each of `receivers`."""
        cells, heights = registry.cells, registry.heights_m
        tx_cell, tx_height = cells[tx], heights[tx]
        return [(tx_cell, tx_height, cells[rx], heights[rx], freq_hz) for rx in receivers]

    def loss_centi_db(self, registry: Registry, tx: int, receivers: np.ndarray,
                      freq_hz: int) -> np.ndarray:
        """Modelled path loss (int64 centi-dB) from hotspot `tx` to each of `receivers`."""
        receivers = np.asarray(receivers, dtype=np.int64)
        out = np.empty(receivers.shape, dtype=np.int64)
        if receivers.size == 0:
            return out
        keys: list[_LinkKey] = []
        if not self.cache_links:
            missing = list(range(receivers.size))
        else:
            keys = self._keys(registry, tx, receivers.tolist(), freq_hz)
            hits = list(map(self._cache.get, keys))
            if None in hits:
                missing = [n for n, hit in enumerate(hits) if hit is None]
                if len(missing) < len(hits):
                    out[:] = [0 if hit is None else hit for hit in hits]
            else:
                missing = []
                out[:] = hits
        if missing:
            idx = np.asarray(missing, dtype=np.int64)
            rx = receivers[idx]
            sites = registry.sites
            assert sites is not None
            loss = path_loss_db(sites[tx:tx + 1], sites[rx], self.model, freq_hz=float(freq_hz),
                                tx_height_m=registry.height_m[tx:tx + 1],
                                rx_height_m=registry.height_m[rx], num_threads=self.num_threads)
            self.kernel_paths += int(idx.size)
            centi = _centi(loss)
            out[idx] = centi
            if self.cache_links:
                for n, value in zip(missing, centi.tolist(), strict=True):
                    self._cache[keys[n]] = value
                while len(self._cache) > self.cache_links:
                    self._cache.popitem(last=False)
        return out

    def prefetch(self, registry: Registry,
                 beacons: Iterable[tuple[bytes, int, Iterable[WitnessReport]]],
                 neighbour_radius_m: int) -> None:
        """Compute, in one kernel call, every link ``(beaconer key, beacon freq_hz, its
        round's witness reports)`` may need judged: the beaconer to its neighbours within
        `neighbour_radius_m` and to the announced hotspots that say they heard it.

        A validator knows all the beacons of an epoch before it judges them: one call
        builds one DEM mosaic for all of them instead of one per beacon. Each path is
        computed on its own and the mosaic is an exact copy of the tiles' grid, so the
        losses are the same as the per-beacon calls'. Does nothing without a cache, or
        when the links would not fit in it or in one mosaic (the per-beacon calls then
        do the work).
        """
        if not self.cache_links:
            return
        txs: list[int] = []
        rxs: list[int] = []
        keys: list[_LinkKey] = []
        wanted: set[_LinkKey] = set()
        freqs: list[int] = []
        for beaconer, freq_hz, witnesses in beacons:
            tx = registry.get(beaconer)
            if tx is None:
                continue
            heard = [h.index for h in map(registry.get, (w.witness_key for w in witnesses))
                     if h is not None]
            receivers = np.union1d(registry.near(tx.index, neighbour_radius_m),
                                   np.asarray(heard, dtype=np.int64))
            others = receivers[receivers != tx.index].tolist()
            for rx, key in zip(others, self._keys(registry, tx.index, others, freq_hz),
                               strict=True):
                if key not in self._cache and key not in wanted:
                    wanted.add(key)
                    keys.append(key)
                    txs.append(tx.index)
                    rxs.append(rx)
                    freqs.append(freq_hz)
        if not keys or len(keys) > self.cache_links:
            return
        sites = registry.sites
        assert sites is not None
        tx_idx, rx_idx = np.asarray(txs, dtype=np.int64), np.asarray(rxs, dtype=np.int64)
        try:
            loss = path_loss_db(sites[tx_idx], sites[rx_idx], self.model,
                                freq_hz=np.asarray(freqs, dtype=np.float64),
                                tx_height_m=registry.height_m[tx_idx],
                                rx_height_m=registry.height_m[rx_idx],
                                num_threads=self.num_threads)
        except InvalidInputError:  # too wide for one mosaic: leave it to the beacons
            return
        self.kernel_paths += len(keys)
        for key, value in zip(keys, _centi(loss).tolist(), strict=True):
            self._cache[key] = value
        while len(self._cache) > self.cache_links:
            self._cache.popitem(last=False)

    @staticmethod
    def free_space_loss_centi_db(distance_m: np.ndarray, freq_hz: int) -> np.ndarray:
        """Free-space loss (int64 centi-dB) over whole-metre distances, floored at 1 m."""
        d = np.maximum(np.asarray(distance_m, dtype=np.float64), 1.0)
        return _centi(20.0 * np.log10(4.0 * np.pi * d * float(freq_hz) / 299_792_458.0))


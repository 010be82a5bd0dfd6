"""The status file (``peer.json``) and the blocklist file watcher: small actors of a node.

``peer.json`` says what this node is, whom it is connected to, what it holds and
its counters; operators and tests read it. It is written atomically at start and
then, checked every interval, whenever anything in it has changed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import trio

from ._discovery import read_blocklist
from ._gossip_service import GossipService
from ._metrics import PeerMetrics
from ._network import Network

__all__ = ["STATUS_FILENAME", "StatusWriter", "watch_blocklist"]

STATUS_FILENAME = "peer.json"
_BLOCKLIST_POLL_S = 0.2


class StatusWriter:
    """Writes ``peer.json`` in ``data_dir`` now and every ``interval_s``."""

    def __init__(self, data_dir: Path, network: Network, gossip: GossipService,
                 metrics: PeerMetrics, *, clock_ms: Callable[[], int],
                 interval_s: float = 0.5, extra: Mapping[str, object] | None = None) -> None:
        self._path = Path(data_dir) / STATUS_FILENAME
        self._network = network
        self._gossip = gossip
        self._metrics = metrics
        self._clock_ms = clock_ms
        self._interval_s = interval_s
        self._last: dict[str, object] | None = None
        self._extra = dict(extra or {})
        """Fixed fields the node adds (``metrics_addr``: where its metrics are served)."""

    def write(self, *, force: bool = True) -> None:
        """Write the file (with ``force=False``, only if anything but the time changed)."""
        status = {
            "peer_id": self._network.local_id, "pid": os.getpid(),
            "addrs": self._network.listen_addrs(),
            "connected": self._network.connected_peers(),
            "stored_total": self._gossip.stored_total,
            "metrics": self._metrics.snapshot(), "network": self._network.status(),
            **self._extra,
        }
        if not force and status == self._last:
            return
        self._last = status
        status = {**status, "updated_ms": self._clock_ms()}
        tmp = self._path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(status), encoding="utf-8")
        os.replace(tmp, self._path)

    async def run(self) -> None:
        self.write()
        while True:
            await trio.sleep(self._interval_s)
            self.write(force=False)


async def watch_blocklist(path: Path, network: Network) -> None:
    """Apply the blocklist file to ``network`` whenever the file changes."""
    last: tuple[int, int] | None = None
    while True:
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp != last:
            last = stamp
            network.set_blocklist(read_blocklist(path))
        await trio.sleep(_BLOCKLIST_POLL_S)

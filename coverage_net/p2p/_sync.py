"""Sync: request/response exchanges that let a node fetch what gossip missed.

Runs over the network seam (`Network.request`), one exchange per request, on
`SYNC_PROTOCOL`. Requests and responses are canonical CBOR maps, read with the
one strict codec (`coverage_net.messages.loads_cbor_item`: exactly one
well-formed item, no tags, no trailing bytes):

- ``{"op": "digests", "topic", "from", "to"}`` ->
  ``{"digests": [[partition, count, sha256], ...]}``:
  per-partition summaries of the content ids held, so two nodes find the
  partitions where they differ without listing anything else; with
  ``"ranges": [[topic, from, to], ...]`` instead, one list of rows per range
  (a round asks for every topic in one request);
- ``{"op": "ids", "topic", "from", "to", "after", "limit"}`` -> ``{"ids": [...]}``:
  one page of content ids, ascending, after ``after``;
- ``{"op": "get", "ids": [...]}`` -> ``{"messages": [...]}``: the encoded messages
  held among those ids (at most `MAX_GET_IDS` per request).

A request out of protocol is refused (the request layer returns the reason).
Fetched messages go through the same checks as gossip (`check_gossip_payload`)
and must hash to an id asked for; nothing a peer sends is trusted.

Cost is bounded: a routine round compares only the recent partitions of each
topic (from `RECENT_PARTITIONS` below the newest one held); the whole history is
reconciled when a peer connects and then at most every `full_interval_s`; and
rounds that find nothing back off, from ``interval_s`` up to 8 s, so an idle
network costs little.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

import trio

from coverage_net.messages import MessageError, canonical_dumps, loads_cbor_item
from coverage_net.store import CONTENT_ID_BYTES, MessageStore

from ._errors import RequestError, RequestHandlerError, SyncError
from ._gossip_service import GossipService, Incoming
from ._metrics import PeerMetrics
from ._network import Network, ProtocolLimits
from ._topics import TOPICS
from ._validate import check_gossip_payload

__all__ = ["SYNC_PROTOCOL", "MAX_GET_IDS", "IDS_PAGE", "RECENT_PARTITIONS", "MAX_PARTITION",
           "SyncService", "answer_sync_request", "encode_sync", "decode_sync"]

logger = logging.getLogger(__name__)

SYNC_PROTOCOL = "/coverage-net/sync/2.0.0"
MAX_GET_IDS = 256
MAX_RANGES = 64
IDS_PAGE = 1000
MAX_PARTITION = 2**63 - 1
RECENT_PARTITIONS = 2
"""A routine round compares partitions from (newest held - this) up."""
SYNC_LIMITS = ProtocolLimits(max_request_bytes=64 * 1024,
                             max_response_bytes=4 * 1024 * 1024, read_timeout_s=10.0)
_CBOR_DEPTH = 4
_ATTEMPTS = 2
_GOSSIP_QUIET_S = 1.0  # periodic sync waits for gossip to pause this long...
_SYNC_AT_LEAST_S = 10.0  # ...but never longer than this between rounds
_NEW_PEER_SYNC_ATTEMPTS = 5
_IDLE_INTERVAL_LIMIT_S = 8.0  # rounds that find nothing back off up to this
_NEW_PEER_SYNC_RETRY_S = 0.3


def encode_sync(value: dict[str, Any]) -> bytes:
    return canonical_dumps(value)


def decode_sync(payload: bytes, *, max_bytes: int) -> dict[str, Any]:
    """One sync map from untrusted bytes; ValueError saying what was wrong."""
    try:
        value = loads_cbor_item(payload, max_bytes=max_bytes, max_depth=_CBOR_DEPTH)
    except MessageError as exc:
        raise ValueError(f"not one well-formed CBOR item: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a CBOR map, got {type(value).__name__}")
    return value


class SyncService:
    """Serves sync requests from the store and runs sync rounds against peers."""

    def __init__(self, network: Network, store: MessageStore, gossip: GossipService,
                 metrics: PeerMetrics, *, interval_s: float = 1.0,
                 full_interval_s: float = 60.0, request_timeout_s: float = 5.0) -> None:
        self._network = network
        self._store = store
        self._gossip = gossip
        self._metrics = metrics
        self._interval_s = interval_s
        self._full_interval_s = full_interval_s
        self._request_timeout_s = request_timeout_s
        self._last_try: dict[str, float] = {}
        self._last_full: dict[str, float] = {}
        network.register_protocol(SYNC_PROTOCOL, self._serve, SYNC_LIMITS)

    # -- serving ----------------------------------------------------------------------

    async def _serve(self, peer: str, payload: bytes) -> bytes:
        try:
            request = decode_sync(payload, max_bytes=SYNC_LIMITS.max_request_bytes)
            response = answer_sync_request(self._store, request)
        except (ValueError, TypeError) as exc:
            self._metrics.sync_requests_refused += 1
            logger.info("sync request from %s refused: %s", peer, exc)
            raise RequestHandlerError(str(exc)[:200]) from None
        self._metrics.sync_requests_served += 1
        return encode_sync(response)

    # -- the actor --------------------------------------------------------------------

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sync_new_peers)
            last_round = trio.current_time()
            interval = self._interval_s
            while True:
                await trio.sleep(interval)
                now = trio.current_time()
                # While gossip is flowing, sync would mostly fetch what gossip is about
                # to deliver anyway; wait for a pause (bounded by _SYNC_AT_LEAST_S).
                if now - self._gossip.last_gossip_time < _GOSSIP_QUIET_S \
                        and now - last_round < _SYNC_AT_LEAST_S:
                    continue
                peers = [p for p in self._network.connected_peers()
                         if self._network.supports(p, SYNC_PROTOCOL)]
                if not peers:
                    continue
                last_round = now
                # The peer we have gone longest without trying; ties by id.
                peer = min(peers, key=lambda p: (self._last_try.get(p, -math.inf), p))
                full = now - self._last_full.get(peer, -math.inf) >= self._full_interval_s
                fetched = await self.sync_once(peer, full=full)
                # Rounds that find nothing back off (an idle network costs little);
                # one that repairs something brings the pace back.
                interval = self._interval_s if fetched else \
                    min(interval * 2, _IDLE_INTERVAL_LIMIT_S)

    async def _sync_new_peers(self) -> None:
        async def sync_new(peer: str) -> None:
            # A fresh connection may still be settling (identify not done, both sides
            # dialed at once): retry a few times while the peer is connected.
            for _ in range(_NEW_PEER_SYNC_ATTEMPTS):
                if self._network.supports(peer, SYNC_PROTOCOL) \
                        and await self.sync_once(peer, full=True) is not None:
                    return
                await trio.sleep(_NEW_PEER_SYNC_RETRY_S)
                if peer not in self._network.connected_peers():
                    return

        async with trio.open_nursery() as nursery:
            async for peer in self._network.new_peers:
                nursery.start_soon(sync_new, peer)

    async def sync_once(self, peer: str, *, full: bool) -> int | None:
        """One round with ``peer``: how many messages it fetched, or None if it failed
        (logged and counted)."""
        now = trio.current_time()
        self._last_try[peer] = now
        try:
            fetched = await self.sync_with(peer, full=full)
        except SyncError as exc:
            self._metrics.sync_errors += 1
            logger.info("sync with %s failed: %s", peer, exc)
            return None
        if full:
            self._last_full[peer] = now
        self._metrics.sync_rounds += 1
        if fetched:
            logger.info("sync with %s fetched %d message(s)", peer, fetched)
        return fetched

    # -- one round --------------------------------------------------------------------

    async def request(self, peer: str, request: dict[str, Any]) -> dict[str, Any]:
        """One sync exchange; a timeout is retried once (a lost frame, a busy peer)."""
        for attempt in range(_ATTEMPTS):
            try:
                payload = await self._network.request(
                    peer, SYNC_PROTOCOL, encode_sync(request), timeout_s=self._request_timeout_s)
                return decode_sync(payload, max_bytes=SYNC_LIMITS.max_response_bytes)
            except RequestError as exc:
                if exc.kind == "timeout" and attempt + 1 < _ATTEMPTS:
                    continue
                raise SyncError(f"sync {request.get('op')} with {peer} failed: {exc}") from None
            except ValueError as exc:
                raise SyncError(f"sync {request.get('op')} with {peer}: {exc}") from None
        raise AssertionError("unreachable")

    async def sync_with(self, peer: str, *, full: bool = True) -> int:
        """Fetch from ``peer`` what it holds and we lack; return how many.

        One digests request covers every topic. ``full=False`` compares only recent
        partitions. SyncError when the peer fails or answers out of protocol.
        """
        ranges = []
        for topic in TOPICS:
            lo = 0
            if not full:
                newest = self._store.latest_partition(topic)
                lo = 0 if newest is None else max(0, newest - RECENT_PARTITIONS)
            ranges.append([topic, lo, MAX_PARTITION])
        return await self.sync_ranges(peer, ranges)

    async def sync_ranges(self, peer: str, ranges: list[list[Any]]) -> int:
        """Fetch from ``peer`` what it holds and we lack in ``ranges`` (``[topic, from,
        to]`` partition ranges, at most `MAX_RANGES`); return how many. A validator
        fetches one epoch's partitions this way before it votes on them."""
        theirs_by_topic = await self._digests(peer, ranges)
        fetched_total = 0
        for (topic, lo, hi), theirs in zip(ranges, theirs_by_topic, strict=True):
            ours = self._store.partition_digests(topic=topic, partition_from=lo,
                                                 partition_to=hi)
            for partition, summary in sorted(theirs.items()):
                if ours.get(partition) != summary:
                    fetched_total += await self._sync_partition(peer, topic, partition)
        self._metrics.synced += fetched_total
        return fetched_total

    async def _digests(self, peer: str, ranges: list[list[Any]]
                       ) -> list[dict[int, tuple[int, bytes]]]:
        response = await self.request(peer, {"op": "digests", "ranges": ranges})
        per_range = response.get("digests")
        if not isinstance(per_range, list) or len(per_range) != len(ranges):
            raise SyncError(f"{peer} sent a digests response without one list per range")
        out = []
        for rows in per_range:
            if not isinstance(rows, list):
                raise SyncError(f"{peer} sent a malformed digests list")
            digests: dict[int, tuple[int, bytes]] = {}
            for row in rows:
                if not (isinstance(row, list) and len(row) == 3 and type(row[0]) is int
                        and type(row[1]) is int and isinstance(row[2], bytes)):
                    raise SyncError(f"{peer} sent a malformed digest row")
                digests[row[0]] = (row[1], row[2])
            out.append(digests)
        return out

    async def _sync_partition(self, peer: str, topic: str, partition: int) -> int:
        fetched = 0
        after: bytes | None = None
        while True:
            response = await self.request(peer, {"op": "ids", "topic": topic,
                                                 "from": partition, "to": partition,
                                                 "after": after, "limit": IDS_PAGE})
            ids = response.get("ids")
            if not isinstance(ids, list) or not all(_is_id(i) for i in ids):
                raise SyncError(f"{peer} sent a malformed ids response")
            if not ids:
                return fetched
            missing = self._store.missing(ids)
            for start in range(0, len(missing), MAX_GET_IDS):
                batch = await self._get(peer, topic, missing[start:start + MAX_GET_IDS])
                fetched += self._gossip.ingest(batch)
            if len(ids) < IDS_PAGE:
                return fetched
            after = ids[-1]

    async def _get(self, peer: str, topic: str, wanted: list[bytes]) -> list[Incoming]:
        response = await self.request(peer, {"op": "get", "ids": wanted})
        messages = response.get("messages")
        if not isinstance(messages, list) or len(messages) > len(wanted):
            raise SyncError(f"{peer} sent a malformed get response")
        asked = set(wanted)
        out = []
        for data in messages:
            if not isinstance(data, bytes) or hashlib.sha256(data).digest() not in asked:
                self._metrics.reject("sync_unrequested")
                continue
            verdict = check_gossip_payload(data, topic)
            if verdict.message is None:
                self._metrics.reject(verdict.reason or "invalid")
                continue
            out.append(Incoming(verdict.message, topic, data, f"sync:{peer}"))
        return out


def answer_sync_request(store: MessageStore, request: dict[str, Any]) -> dict[str, Any]:
    """The response to one sync request; ValueError/TypeError when it is out of protocol."""
    if not isinstance(request, dict):
        raise ValueError(f"a sync request is a CBOR map; got {type(request).__name__}")
    op = request.get("op")
    if op == "digests" and "ranges" in request:
        ranges = request["ranges"]
        if not isinstance(ranges, list) or not 1 <= len(ranges) <= MAX_RANGES \
                or not all(isinstance(r, list) and len(r) == 3 for r in ranges):
            raise ValueError(f"'ranges' must be a list of 1..{MAX_RANGES} "
                             "[topic, from, to] lists")
        keys = ("topic", "from", "to")
        return {"digests": [_digest_rows(store, *_range(dict(zip(keys, r, strict=True))))
                            for r in ranges]}
    if op == "digests":
        return {"digests": _digest_rows(store, *_range(request))}
    if op == "ids":
        topic, lo, hi = _range(request)
        after = request.get("after")
        if after is not None and not _is_id(after):
            raise ValueError("'after' must be a 32-byte content id or null")
        limit = request.get("limit", IDS_PAGE)
        if type(limit) is not int or not 1 <= limit <= IDS_PAGE:
            raise ValueError(f"'limit' must be an integer in 1..{IDS_PAGE}")
        return {"ids": store.ids(topic=topic, partition_from=lo, partition_to=hi, after=after,
                                 limit=limit)}
    if op == "get":
        ids = request.get("ids")
        if not isinstance(ids, list) or len(ids) > MAX_GET_IDS \
                or not all(_is_id(i) for i in ids):
            raise ValueError(f"'ids' must be a list of at most {MAX_GET_IDS} content ids")
        found = (store.get(cid) for cid in ids)
        return {"messages": [m.data for m in found if m is not None]}
    raise ValueError(f"unknown op {str(op)[:40]!r}; expected digests, ids or get")


def _digest_rows(store: MessageStore, topic: str, lo: int, hi: int) -> list[list[Any]]:
    digests = store.partition_digests(topic=topic, partition_from=lo, partition_to=hi)
    return [[p, n, d] for p, (n, d) in sorted(digests.items())]


def _range(request: dict[str, Any]) -> tuple[str, int, int]:
    topic, lo, hi = request.get("topic"), request.get("from"), request.get("to")
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {str(topic)[:60]!r}")
    if type(lo) is not int or type(hi) is not int or not 0 <= lo <= hi <= MAX_PARTITION:
        raise ValueError("'from' and 'to' must be integers with 0 <= from <= to < 2**63")
    return topic, lo, hi


def _is_id(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == CONTENT_ID_BYTES

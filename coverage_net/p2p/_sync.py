"""Sync: a request/response protocol that lets a peer fetch what gossip missed.

One exchange per libp2p stream (py-libp2p's `RequestResponse`, varint-framed),
requests and responses are small CBOR maps:

- ``{"op": "digests", "topic", "from", "to"}`` -> ``{"digests": [[epoch, count, sha256], ...]}``:
  per-epoch summaries of the content ids held, so two peers find the epochs
  where they differ without listing anything else;
- ``{"op": "ids", "topic", "from", "to", "after", "limit"}`` -> ``{"ids": [...]}``:
  one page of content ids, ascending, after ``after``;
- ``{"op": "get", "ids": [...]}`` -> ``{"messages": [...]}``: the encoded messages
  held among those ids (at most `MAX_GET_IDS` per request).

A request out of protocol gets ``{"error": "..."}``. Fetched messages go through
the same checks as gossip (`check_gossip_payload`) and must hash to the id asked
for; nothing a peer sends is trusted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import cbor2
from libp2p.abc import IHost
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.request_response import (
    RequestContext,
    RequestResponse,
    RequestResponseConfig,
    RequestResponseError,
)

from coverage_net.store import CONTENT_ID_BYTES, MessageStore

from ._errors import SyncError
from ._metrics import PeerMetrics
from ._topics import TOPICS
from ._validate import Verdict, check_gossip_payload

__all__ = ["SYNC_PROTOCOL", "MAX_GET_IDS", "IDS_PAGE", "SyncService", "CborCodec",
           "answer_sync_request"]

logger = logging.getLogger(__name__)

SYNC_PROTOCOL = TProtocol("/coverage-net/sync/1.0.0")
MAX_GET_IDS = 256
IDS_PAGE = 1000
MAX_EPOCH = 2**63 - 1
_MAX_REQUEST_BYTES = 64 * 1024
_MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class CborCodec:
    """`RequestResponseCodec` for CBOR maps (decoding failures raise, and are refused)."""

    def encode_request(self, request: dict[str, Any]) -> bytes:
        return cbor2.dumps(request, canonical=True)

    def decode_request(self, payload: bytes) -> dict[str, Any]:
        return _decode_map(payload)

    def encode_response(self, response: dict[str, Any]) -> bytes:
        return cbor2.dumps(response, canonical=True)

    def decode_response(self, payload: bytes) -> dict[str, Any]:
        return _decode_map(payload)


def _decode_map(payload: bytes) -> dict[str, Any]:
    try:
        value = cbor2.loads(payload)
    except Exception as exc:  # untrusted bytes: any failure is out of protocol
        raise ValueError(f"not CBOR: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a CBOR map, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class Fetched:
    """A message sync fetched and checked, ready for the peer's ingest."""

    topic: str
    data: bytes
    verdict: Verdict


class SyncService:
    """Serves sync requests from ``store`` and runs sync rounds against other peers."""

    def __init__(self, host: IHost, store: MessageStore, metrics: PeerMetrics, *,
                 allowed: Callable[[ID], bool] = lambda _peer: True,
                 timeout_s: float = 5.0) -> None:
        self._host = host
        self._allowed = allowed
        self._store = store
        self._metrics = metrics
        self._rr = RequestResponse(host)
        self._codec = CborCodec()
        self._config = RequestResponseConfig(
            timeout=timeout_s, max_request_size=_MAX_REQUEST_BYTES,
            max_response_size=_MAX_RESPONSE_BYTES)
        self._rr.set_handler(SYNC_PROTOCOL, self._serve, self._codec, self._config)

    # -- serving ----------------------------------------------------------------------

    async def _serve(self, request: dict[str, Any], context: RequestContext) -> dict[str, Any]:
        if not self._allowed(context.peer_id):
            self._metrics.sync_requests_refused += 1
            return {"error": "blocked"}
        try:
            response = self.answer(request)
        except (ValueError, TypeError) as exc:
            self._metrics.sync_requests_refused += 1
            logger.info("sync request from %s refused: %s", context.peer_id, exc)
            return {"error": str(exc)[:200]}
        self._metrics.sync_requests_served += 1
        return response

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        return answer_sync_request(self._store, request)

    # -- asking -----------------------------------------------------------------------

    async def request(self, peer: ID, request: dict[str, Any]) -> dict[str, Any]:
        # Never dial for sync (opening a stream to an unconnected peer would): sync talks
        # only to peers we are connected to and have not blocked.
        if not self._allowed(peer) or not self._host.get_network().get_connections(peer):
            raise SyncError(f"sync with {peer}: not connected (or blocked)")
        try:
            response = await self._rr.send_request(peer, [SYNC_PROTOCOL], request,
                                                   self._codec, self._config)
        except (RequestResponseError, ValueError) as exc:
            raise SyncError(f"sync {request.get('op')} with {peer} failed: {exc}") from exc
        if "error" in response:
            raise SyncError(f"{peer} refused sync {request.get('op')}: {response['error']}")
        return response

    async def sync_with(self, peer: ID,
                        ingest: Callable[[ID, list[Fetched]], Awaitable[None]]) -> int:
        """Fetch from ``peer`` every message it holds that we lack; return how many.

        Raises SyncError when the peer fails or answers out of protocol.
        """
        fetched_total = 0
        for topic in TOPICS:
            theirs = await self._digests(peer, topic)
            ours = self._store.partition_digests(topic=topic, partition_from=0,
                                                  partition_to=MAX_EPOCH)
            for epoch, summary in sorted(theirs.items()):
                if ours.get(epoch) == summary:
                    continue
                fetched_total += await self._sync_epoch(peer, topic, epoch, ingest)
        return fetched_total

    async def _digests(self, peer: ID, topic: str) -> dict[int, tuple[int, bytes]]:
        response = await self.request(
            peer, {"op": "digests", "topic": topic, "from": 0, "to": MAX_EPOCH})
        rows = response.get("digests")
        if not isinstance(rows, list):
            raise SyncError(f"{peer} sent a digests response without a 'digests' list")
        digests: dict[int, tuple[int, bytes]] = {}
        for row in rows:
            if not (isinstance(row, list) and len(row) == 3 and type(row[0]) is int
                    and type(row[1]) is int and isinstance(row[2], bytes)):
                raise SyncError(f"{peer} sent a malformed digest row")
            digests[row[0]] = (row[1], row[2])
        return digests

    async def _sync_epoch(self, peer: ID, topic: str, epoch: int,
                          ingest: Callable[[ID, list[Fetched]], Awaitable[None]]) -> int:
        fetched = 0
        after: bytes | None = None
        while True:
            response = await self.request(peer, {"op": "ids", "topic": topic, "from": epoch,
                                                 "to": epoch, "after": after,
                                                 "limit": IDS_PAGE})
            ids = response.get("ids")
            if not isinstance(ids, list) or not all(_is_id(i) for i in ids):
                raise SyncError(f"{peer} sent a malformed ids response")
            if not ids:
                return fetched
            missing = self._store.missing(ids)
            for start in range(0, len(missing), MAX_GET_IDS):
                wanted = missing[start:start + MAX_GET_IDS]
                batch = await self._get(peer, topic, wanted)
                if batch:
                    await ingest(peer, batch)
                    fetched += len(batch)
            if len(ids) < IDS_PAGE:
                return fetched
            after = ids[-1]

    async def _get(self, peer: ID, topic: str, wanted: list[bytes]) -> list[Fetched]:
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
            if not verdict.ok:
                self._metrics.reject(verdict.reason or "invalid")
                continue
            out.append(Fetched(topic, data, verdict))
        return out


def answer_sync_request(store: MessageStore, request: dict[str, Any]) -> dict[str, Any]:
    """The response to one sync request; ValueError/TypeError when it is out of protocol."""
    if not isinstance(request, dict):
        raise ValueError(f"a sync request is a CBOR map; got {type(request).__name__}")
    op = request.get("op")
    if op == "digests":
        topic, lo, hi = _range(request)
        digests = store.partition_digests(topic=topic, partition_from=lo, partition_to=hi)
        return {"digests": [[e, n, d] for e, (n, d) in sorted(digests.items())]}
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


def _range(request: dict[str, Any]) -> tuple[str, int, int]:
    topic, lo, hi = request.get("topic"), request.get("from"), request.get("to")
    if topic not in TOPICS:
        raise ValueError(f"unknown topic {str(topic)[:60]!r}")
    if type(lo) is not int or type(hi) is not int or not 0 <= lo <= hi <= MAX_EPOCH:
        raise ValueError("'from' and 'to' must be integers with 0 <= from <= to < 2**63")
    return topic, lo, hi


def _is_id(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == CONTENT_ID_BYTES

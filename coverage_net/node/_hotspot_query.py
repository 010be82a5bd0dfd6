"""What the validators say about a hotspot: its recent verdicts and its balance on the chain.

A hotspot judges nothing itself; the validators do. So a validator answers
`HOTSPOT_QUERY_PROTOCOL` (one canonical CBOR request ``{"hotspot": key}``, one answer):
the height of its chain, the hotspot's balance there (smallest units) and its newest
verdicts, each with the reason. A running hotspot asks a connected validator every
few seconds (`query_validators`) and keeps the answer in its status file, which is
what ``coverage-net hotspot status`` shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from coverage_net.consensus import ChainStore
from coverage_net.identity import peer_id_from_public_key
from coverage_net.messages import MessageError, canonical_dumps, loads_cbor_item
from coverage_net.p2p import Network, ProtocolLimits, RequestError, RequestHandlerError
from coverage_net.store import MessageStore

__all__ = ["HOTSPOT_QUERY_PROTOCOL", "RECENT_VERDICTS", "answer_hotspot_query",
           "query_validators", "serve_hotspot_queries"]

logger = logging.getLogger(__name__)

HOTSPOT_QUERY_PROTOCOL = "/coverage-net/hotspot-query/1.0.0"
RECENT_VERDICTS = 20
"""Verdicts an answer lists, newest epoch first."""
_LIMITS = ProtocolLimits(max_request_bytes=128, max_response_bytes=16 * 1024)


def answer_hotspot_query(store: MessageStore, chain: ChainStore, hotspot_key: bytes) -> dict:
    """The chain's height, the hotspot's balance and its newest verdicts."""
    rows = store.verdict_rows(hotspot_key=hotspot_key)
    newest = sorted(rows, key=lambda r: (-r.epoch, r.report_id))[:RECENT_VERDICTS]
    return {"height": chain.height(),
            "balance": chain.balance(hotspot_key.hex()),
            "verdicts": [{"report_id": r.report_id, "report_type": r.report_type,
                          "epoch": r.epoch, "valid": r.valid, "reason": r.reason}
                         for r in newest]}


def serve_hotspot_queries(network: Network, store: MessageStore, chain: ChainStore) -> None:
    """Answer hotspot queries on `network` from this validator's store and chain."""

    async def handle(_peer: str, payload: bytes) -> bytes:
        try:
            request = loads_cbor_item(payload, max_bytes=_LIMITS.max_request_bytes)
        except MessageError as exc:
            raise RequestHandlerError(f"a hotspot query is {{'hotspot': <32-byte key>}}: "
                                      f"{exc}") from None
        key = request.get("hotspot") if isinstance(request, dict) else None
        if not isinstance(key, bytes) or len(key) != 32:
            raise RequestHandlerError("a hotspot query is {'hotspot': <32-byte key>}")
        return canonical_dumps(answer_hotspot_query(store, chain, key))

    network.register_protocol(HOTSPOT_QUERY_PROTOCOL, handle, _LIMITS)


async def query_validators(network: Network, hotspot_key: bytes, validator_keys: list[bytes],
                           keep: Callable[[dict], None], *, interval_s: float = 5.0) -> None:
    """Every `interval_s`, ask one connected validator (in turn) about `hotspot_key` and
    hand the answer (with the validator's peer id) to `keep`. Until cancelled."""
    validators = [peer_id_from_public_key(k) for k in validator_keys]
    turn = 0
    request = canonical_dumps({"hotspot": hotspot_key})
    while True:
        up = set(network.connected_peers())
        connected = [p for p in validators if p in up]
        if connected:
            peer = connected[turn % len(connected)]
            turn += 1
            try:
                raw = await network.request(peer, HOTSPOT_QUERY_PROTOCOL, request,
                                            timeout_s=interval_s)
                answer = loads_cbor_item(raw, max_bytes=_LIMITS.max_response_bytes)
            except (RequestError, MessageError) as exc:
                logger.debug("hotspot query to %s failed: %s", peer, exc)
            else:
                if isinstance(answer, dict):
                    keep({**answer, "validator": peer})
        await trio.sleep(interval_s)

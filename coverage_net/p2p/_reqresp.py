"""Request/response between two peers over libp2p streams, safe against the asker.

Wire format (one request and one response per stream, after multistream-select
has agreed on the protocol id):

- the asker writes one *frame*: an unsigned varint (minimal, at most 9 bytes,
  as multiformats' unsigned-varint) giving the body's length, then the body,
  which is the request payload; then it closes its writing side;
- the answerer writes one frame whose body is one status byte and the rest:
  ``0x00`` + the response payload, or ``0x01`` + a UTF-8 reason the handler
  refused the request for; then it closes the stream.

Every protocol has `ProtocolLimits`: a cap on request and response payloads
(checked against the declared length before any body byte is read), a time
within which a whole request frame must arrive (so a slow or stalled sender
cannot hold a stream), and a time for the handler and for writing the response
(an asker that stops reading cannot either). On the answering side anything out
of protocol resets that one stream and is counted by reason in
``PeerMetrics.requests`` (`REQUEST_OUTCOMES`); the process keeps serving. Each
frame is written with one ``write`` call and each stream has one writer, so a
frame is never interleaved with another; a write that fails half-way resets the
stream rather than leave a torn frame. (Before our handler sees a stream,
py-libp2p bounds multistream-select by its own negotiation timeout, 10 s.)

The asker's `Libp2pRequests.request` dials the peer by id from the
`AddressBook` when not connected, bounds the whole exchange by its timeout and
raises `RequestError` with a ``kind`` (`REQUEST_ERROR_KINDS`) for every failure.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF, StreamError
from libp2p.peer.id import ID
from libp2p.protocol_muxer.exceptions import MultiselectClientError, ProtocolNotSupportedError

from ._addrbook import AddressBook
from ._errors import DialError, P2PError, PeerConfigError, RequestError, RequestHandlerError
from ._metrics import PeerMetrics
from ._network import PING_LIMITS, ProtocolLimits
from ._network import RequestHandler as Handler  # noqa: F401 - the handler type

__all__ = ["Libp2pRequests", "FrameError", "read_frame", "encode_frame", "REQUEST_OUTCOMES",
           "REQUEST_ERROR_KINDS", "STATUS_OK", "STATUS_REFUSED"]

logger = logging.getLogger(__name__)

STATUS_OK = 0
STATUS_REFUSED = 1
_MAX_VARINT_BYTES = 9
_MAX_REASON_BYTES = 256
_READ_CHUNK = 64 * 1024
_RESET_TIMEOUT_S = 1.0
_NAMESPACE = "/coverage-net/"

REQUEST_OUTCOMES = (
    "served",             # answered with status ok
    "handler_refused",    # answered with status refused (the handler raised RequestHandlerError)
    "bad_length",         # length prefix is not a minimal unsigned varint of at most 9 bytes
    "oversize",           # declared request length over the protocol's cap; body never read
    "truncated",          # the asker ended its side mid-frame
    "stalled",            # the whole request frame did not arrive within read_timeout_s
    "reset",              # the asker reset the stream (or the connection went) mid-exchange
    "handler_error",      # the handler raised (a bug): reset, logged with its traceback
    "handler_timeout",    # the handler took longer than handler_timeout_s
    "oversize_response",  # the handler returned more than the protocol's response cap
    "write_failed",       # the response could not be written whole within write_timeout_s
    "busy",               # max_inbound_per_peer (or max_inbound_total) already in flight
    "blocked",            # the asker is on the blocklist
    "unknown_protocol",   # multistream refused a /coverage-net/ protocol nobody registered
)

REQUEST_ERROR_KINDS = (
    "timeout",       # no whole response within the request's timeout
    "unsupported",   # the peer does not speak the protocol (multistream refused it)
    "unreachable",   # not connected and could not be dialed (no address, refused, blocked)
    "oversize",      # request over our cap, or the response declared over it
    "reset",         # the stream failed (reset or ended by the peer) before a whole response
    "refused",       # the peer's handler refused; the message carries its reason
    "bad_response",  # not a response frame (bad length prefix, empty, unknown status byte)
)


class FrameError(P2PError):
    """A frame could not be read; ``reason`` is one of `REQUEST_OUTCOMES`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def encode_frame(body: bytes) -> bytes:
    """``body`` with its unsigned-varint length in front."""
    length = len(body)
    prefix = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            prefix.append(byte | 0x80)
        else:
            prefix.append(byte)
            return bytes(prefix) + body


async def read_frame(receive: Callable[[int], Awaitable[bytes]], max_bytes: int) -> bytes:
    """Read one frame with ``receive(n)`` (returns 1..n bytes, ``b""`` or StreamEOF at end).

    The length is checked against ``max_bytes`` as soon as it is known to exceed
    it, before any body byte is read. Raises FrameError ("bad_length",
    "oversize", "truncated", "reset"). No timeout here: the caller bounds it.
    """
    length = 0
    for index in range(_MAX_VARINT_BYTES):
        (byte,) = await _receive_exactly(receive, 1)
        if index and byte == 0:
            raise FrameError("bad_length", "length prefix is not minimally encoded")
        length |= (byte & 0x7F) << (7 * index)
        if length > max_bytes:
            raise FrameError("oversize", f"frame declares more than {max_bytes} bytes")
        if not byte & 0x80:
            return await _receive_exactly(receive, length)
    raise FrameError("bad_length", f"length prefix longer than {_MAX_VARINT_BYTES} bytes")


async def _receive_exactly(receive: Callable[[int], Awaitable[bytes]], count: int) -> bytes:
    parts = []
    remaining = count
    while remaining:
        try:
            chunk = await receive(min(remaining, _READ_CHUNK))
        except StreamEOF:
            chunk = b""
        except StreamError as exc:  # reset by the sender, or the connection went
            raise FrameError("reset", f"stream failed mid-frame: {exc or type(exc).__name__}"
                             ) from None
        if not chunk:
            raise FrameError("truncated", f"stream ended {remaining} byte(s) short of a frame")
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


# -- the service ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Registration:
    handler: Handler
    limits: ProtocolLimits


class Libp2pRequests:
    """Serves registered protocols on ``host`` and sends requests to other peers.

    ``allowed(peer_id)`` (base58) gates both directions: a peer it refuses is neither
    served nor asked. ``book`` is the address book requests dial from (one is made
    if not given; it is `address_book`).
    """

    def __init__(self, host: IHost, metrics: PeerMetrics, *,
                 allowed: Callable[[str], bool] = lambda _peer: True,
                 book: AddressBook | None = None, max_inbound_per_peer: int = 128,
                 max_inbound_total: int = 2048) -> None:
        if not 0 < max_inbound_per_peer <= max_inbound_total:
            raise PeerConfigError("need 0 < max_inbound_per_peer <= max_inbound_total; got "
                                  f"{max_inbound_per_peer} and {max_inbound_total}")
        self._host = host
        self._metrics = metrics
        self._allowed = allowed
        self.address_book = book or AddressBook(host, allowed=allowed)
        self._max_inbound = max_inbound_per_peer
        self._max_inbound_total = max_inbound_total
        self._inflight: collections.Counter[str] = collections.Counter()
        self._protocols: dict[str, _Registration] = {}
        _count_unknown_protocols(host, metrics)

    def register_protocol(self, protocol_id: str, handler: Handler,
                          limits: ProtocolLimits) -> None:
        """Serve ``protocol_id`` with ``handler``; its limits also bound our requests."""
        if not protocol_id.startswith("/"):
            raise PeerConfigError(f"a protocol id starts with '/'; got {protocol_id!r}")
        self._protocols[protocol_id] = _Registration(handler, limits)

        async def serve(stream: INetStream) -> None:
            await self._serve(protocol_id, stream)

        self._host.set_stream_handler(TProtocol(protocol_id), serve)

    def protocols_of(self, peer_id: str) -> frozenset[str]:
        """The protocols ``peer_id`` advertised through identify (empty if not yet known)."""
        try:
            return frozenset(self._host.get_peerstore().get_protocols(ID.from_base58(peer_id)))
        except Exception:  # not in the peerstore (yet), or not a peer id
            return frozenset()

    # -- asking ------------------------------------------------------------------------

    async def request(self, peer_id: str, protocol_id: str, payload: bytes, timeout_s: float,
                      *, limits: ProtocolLimits | None = None) -> bytes:
        """Send ``payload`` to ``peer_id`` on ``protocol_id``; return the response payload.

        ``limits`` default to those the protocol was registered with (else
        `PING_LIMITS`). Raises RequestError; its ``kind`` is one of `REQUEST_ERROR_KINDS`.
        """
        limits = limits or (self._protocols[protocol_id].limits
                            if protocol_id in self._protocols else PING_LIMITS)
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive; got {timeout_s}")
        what = f"{protocol_id} request to {peer_id}"
        if len(payload) > limits.max_request_bytes:
            raise RequestError("oversize", f"{what}: {len(payload)} bytes is over the "
                               f"protocol's cap of {limits.max_request_bytes}")
        stream: INetStream | None = None
        try:
            with trio.fail_after(timeout_s):
                try:
                    await self.address_book.dial(peer_id, timeout_s)
                    stream = await self._host.new_stream(ID.from_base58(peer_id),
                                                         [TProtocol(protocol_id)])
                except DialError as exc:
                    raise RequestError("unreachable", f"{what}: {exc}") from None
                except Exception as exc:  # py-libp2p: StreamFailure, SwarmException, ...
                    if _protocol_refused(exc):
                        raise RequestError("unsupported",
                                           f"{what}: the peer does not speak it") from None
                    raise RequestError("reset", f"{what}: the stream failed while opening: "
                                       f"{exc}") from None
                body = await self._exchange(stream, payload, limits, what)
        except trio.TooSlowError:
            await _reset_quietly(stream)
            raise RequestError("timeout", f"{what}: no response within {timeout_s} s") from None
        except BaseException:
            await _reset_quietly(stream)
            raise
        return _parse_response(body, what)

    async def _exchange(self, stream: INetStream, payload: bytes, limits: ProtocolLimits,
                        what: str) -> bytes:
        try:
            await stream.write(encode_frame(payload))
            await stream.close_write()
            body = await read_frame(stream.read, limits.max_response_bytes + 1)
        except FrameError as exc:
            kind = {"oversize": "oversize", "bad_length": "bad_response"}.get(exc.reason, "reset")
            raise RequestError(kind, f"{what}: response {exc}") from None
        except StreamError as exc:
            raise RequestError("reset", f"{what}: stream failed: {exc or type(exc).__name__}"
                               ) from None
        try:
            await stream.close()
        except Exception as exc:  # the peer already closed; the response is whole
            logger.debug("closing a finished request stream: %s", exc)
        return body

    # -- serving -----------------------------------------------------------------------

    async def _serve(self, protocol_id: str, stream: INetStream) -> None:
        peer_id = stream.muxed_conn.peer_id.to_base58()
        registration = self._protocols[protocol_id]
        if not self._allowed(peer_id):
            await self._fail(stream, "blocked", peer_id, protocol_id)
            return
        if self._inflight[peer_id] >= self._max_inbound \
                or self._inflight.total() >= self._max_inbound_total:
            await self._fail(stream, "busy", peer_id, protocol_id)
            return
        self._inflight[peer_id] += 1
        try:
            outcome = await self._answer(registration, peer_id, stream)
        except Exception:  # never let one stream end the connection or the node
            logger.exception("serving %s to %s failed", protocol_id, peer_id)
            outcome = "handler_error"
        finally:
            self._inflight[peer_id] -= 1
            if not self._inflight[peer_id]:
                del self._inflight[peer_id]
        if outcome in ("served", "handler_refused"):
            self._metrics.requests[outcome] += 1
        else:
            await self._fail(stream, outcome, peer_id, protocol_id)

    async def _answer(self, registration: _Registration, peer_id: str,
                      stream: INetStream) -> str:
        """Read, handle, write; returns the outcome (the caller resets on failure)."""
        limits = registration.limits
        try:
            with trio.fail_after(limits.read_timeout_s):
                request = await read_frame(stream.read, limits.max_request_bytes)
        except trio.TooSlowError:
            return "stalled"
        except FrameError as exc:
            return exc.reason
        outcome = "served"
        try:
            with trio.fail_after(limits.handler_timeout_s):
                response = bytes([STATUS_OK]) + await registration.handler(peer_id, request)
        except trio.TooSlowError:
            return "handler_timeout"
        except RequestHandlerError as exc:
            outcome = "handler_refused"
            reason = str(exc).encode("utf-8", "replace")[:_MAX_REASON_BYTES]
            response = bytes([STATUS_REFUSED]) + reason[:limits.max_response_bytes]
        except Exception:
            logger.exception("request handler failed for %s", peer_id)
            return "handler_error"
        if len(response) > limits.max_response_bytes + 1:
            logger.error("request handler returned %d bytes, over the cap of %d",
                         len(response) - 1, limits.max_response_bytes)
            return "oversize_response"
        try:
            with trio.fail_after(limits.write_timeout_s):
                await stream.write(encode_frame(response))
                await stream.close()
        except (trio.TooSlowError, StreamError) as exc:
            logger.info("response to %s not written whole: %s", peer_id,
                        exc or type(exc).__name__)
            return "write_failed"
        return outcome

    async def _fail(self, stream: INetStream, reason: str, peer_id: str,
                    protocol_id: str) -> None:
        self._metrics.requests[reason] += 1
        logger.info("reset a %s stream from %s: %s", protocol_id, peer_id, reason)
        await _reset_quietly(stream)


def _parse_response(body: bytes, what: str) -> bytes:
    if not body:
        raise RequestError("bad_response", f"{what}: empty response frame (no status byte)")
    status, rest = body[0], body[1:]
    if status == STATUS_OK:
        return rest
    if status == STATUS_REFUSED:
        reason = rest.decode("utf-8", "replace")
        raise RequestError("refused", f"{what}: refused: {reason}")
    raise RequestError("bad_response", f"{what}: unknown status byte {status}")


def _protocol_refused(exc: BaseException) -> bool:
    """Whether multistream-select refused the protocol (py-libp2p says so only in words
    when it tried a list of protocols, as `RequestResponse` also checks)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ProtocolNotSupportedError) or (
                isinstance(seen, MultiselectClientError) and "not supported" in str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _reset_quietly(stream: INetStream | None) -> None:
    if stream is None:
        return
    with trio.CancelScope(shield=True), trio.move_on_after(_RESET_TIMEOUT_S):
        try:
            await stream.reset()
        except Exception as exc:  # already closed or reset
            logger.debug("stream reset failed: %s", exc)


class _CountingHandlers(dict):
    """Multistream's protocol table, counting asks for our protocols that nobody serves.

    py-libp2p answers an unknown protocol inside multistream-select (``na``) and
    no handler of ours ever sees the stream; the negotiation looks protocols up
    with ``in``, so this is the one place to count them. Only ids under our
    namespace are counted: other implementations probe protocol versions we do
    not speak (e.g. newer gossipsub), and that is not an error.
    """

    def __init__(self, table: dict, metrics: PeerMetrics) -> None:
        super().__init__(table)
        self._metrics = metrics

    def __contains__(self, protocol: object) -> bool:
        found = super().__contains__(protocol)
        if not found and isinstance(protocol, str) and protocol.startswith(_NAMESPACE):
            self._metrics.requests["unknown_protocol"] += 1
        return found


def _count_unknown_protocols(host: IHost, metrics: PeerMetrics) -> None:
    mux = host.get_mux()
    if not isinstance(mux.handlers, _CountingHandlers):
        mux.handlers = _CountingHandlers(mux.handlers, metrics)

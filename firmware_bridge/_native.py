"""The `native` driver: our firmware's protocol (PROTOCOL.md) over any byte stream.

One reader task owns the stream: it decodes frames, hands RX events to
subscribers and completes the request waiting for each response (matched by
seq). Requests go one at a time; a request that meets silence is resent with
the same seq (the device answers a repeat from memory, so a retried TRANSMIT is
never sent twice) and fails with `DeviceTimeoutError` after the last try.

When the stream breaks (USB unplugged, pty closed) every request in flight
fails at once with `DeviceDisconnectedError` - a transmit completes or raises,
it never vanishes - and the reader reconnects with exponential backoff, says
HELLO again, re-applies the last configuration, and records the gap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from ._errors import (
    BridgeError,
    DeviceBusyError,
    DeviceDisconnectedError,
    DeviceError,
    DeviceTimeoutError,
    InvalidParameterError,
    RadioFailureError,
    UnsupportedError,
)
from ._framing import PROTOCOL_VERSION, FrameDecoder, RawFrame
from ._protocol import (
    MsgType,
    NackCode,
    configure_body,
    encode_frame,
    info_from_frame,
    rx_packet_from_frame,
    tx_result_from_frame,
)
from ._radio import Gap, Radio, RadioConfig, RadioInfo, TxResult
from ._serial import open_serial_stream

logger = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[trio.abc.Stream]]

_NACK_ERRORS: dict[int, type[DeviceError]] = {
    NackCode.BUSY: DeviceBusyError,
    NackCode.INVALID_PARAMETER: InvalidParameterError,
    NackCode.UNSUPPORTED: UnsupportedError,
    NackCode.RADIO_FAILURE: RadioFailureError,
    NackCode.BAD_FRAME: DeviceError,
    NackCode.UNKNOWN_TYPE: UnsupportedError,
}

_EXPECTED = {
    MsgType.HELLO: MsgType.INFO,
    MsgType.GET_INFO: MsgType.INFO,
    MsgType.CONFIGURE: MsgType.ACK,
    MsgType.TRANSMIT: MsgType.TX_DONE,
    MsgType.PING: MsgType.PONG,
}


@dataclass
class _Pending:
    seq: int
    done: trio.Event
    frame: RawFrame | None = None
    error: BaseException | None = None


class NativeRadio(Radio):
    """A devboard running our firmware, over serial, TCP or any trio stream factory."""

    driver = "native"

    def __init__(self, connect: Connect, *, name: str = "stream", clock=time.time,
                 timeout_s: float = 0.5, retries: int = 3, reconnect_timeout_s: float = 30.0,
                 backoff_initial_s: float = 0.1, backoff_max_s: float = 5.0) -> None:
        super().__init__(clock=clock)
        if retries < 1:
            raise BridgeError(f"retries must be >= 1, got {retries}")
        self.name = name
        self._connect = connect
        self._timeout_s = timeout_s
        self._retries = retries
        self._reconnect_timeout_s = reconnect_timeout_s
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._stream: trio.abc.Stream | None = None
        self._decoder = FrameDecoder()
        self._request_lock = trio.Lock()
        self._pending: _Pending | None = None
        self._seq = 0
        self._connected = trio.Event()
        self._dead: BaseException | None = None
        self._info: RadioInfo | None = None
        self._closing = False
        self.gaps: list[Gap] = []

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def open_serial(cls, port: str, *, baudrate: int = 115200, **kwargs) -> NativeRadio:
        """A devboard on a serial port (opened DTR/RTS low, exclusive) or a pty."""
        return cls(lambda: open_serial_stream(port, baudrate), name=str(port), **kwargs)

    @classmethod
    def open_tcp(cls, host: str, port: int, **kwargs) -> NativeRadio:
        """A devboard behind a TCP byte stream (ser2net, the simulator)."""
        return cls(lambda: trio.open_tcp_stream(host, port), name=f"{host}:{port}", **kwargs)

    # -- lifecycle ------------------------------------------------------------------------
    async def _start(self, nursery: trio.Nursery) -> None:
        self._stream = await self._connect()
        self._connected.set()
        nursery.start_soon(self._reader)
        self._info = await self._hello()

    async def _stop(self) -> None:
        self._closing = True
        self._fail_pending(DeviceDisconnectedError(f"{self.name}: radio closed"))
        if self._stream is not None:
            await self._stream.aclose()
            self._stream = None

    @property
    def frame_stats(self):
        """Frames the decoder dropped, by reason (cobs_error, bad_crc, ...)."""
        return self._decoder.stats

    # -- the reader -----------------------------------------------------------------------
    async def _reader(self) -> None:
        while True:
            try:
                data = await self._stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                if self._closing:
                    return
                logger.warning("device stream broke", extra={"port": self.name,
                                                             "error": str(exc)})
                data = b""
            if self._closing:
                return
            if not data:
                if not await self._reconnect():
                    return
                continue
            for raw in self._decoder.feed(data):
                self._dispatch(raw)

    def _dispatch(self, raw: RawFrame) -> None:
        if raw.msg_type == MsgType.RX:
            try:
                packet = rx_packet_from_frame(raw, self.now())
            except BridgeError as exc:
                self.stats["bad_rx_body"] += 1
                logger.warning("RX frame with a bad body dropped",
                               extra={"port": self.name, "error": str(exc)})
                return
            self._deliver(packet)
            return
        pending = self._pending
        if pending is None or pending.seq != raw.seq or pending.done.is_set():
            self.stats["unmatched_responses"] += 1
            logger.debug("response with no request waiting",
                         extra={"port": self.name, "seq": raw.seq, "type": raw.msg_type})
            return
        pending.frame = raw
        pending.done.set()

    async def _reconnect(self) -> bool:
        """Fail what is in flight, then reconnect with backoff; False when given up."""
        start = self.now()
        self._connected = trio.Event()
        self.stats["disconnects"] += 1
        self._fail_pending(DeviceDisconnectedError(f"{self.name}: device disconnected"))
        stream, self._stream = self._stream, None
        if stream is not None:
            with trio.CancelScope(shield=True):
                await stream.aclose()
        delay, max_delay = self._backoff
        deadline = trio.current_time() + self._reconnect_timeout_s
        while True:
            await trio.sleep(delay)
            try:
                self._stream = await self._connect()
                break
            except (OSError, BridgeError) as exc:
                if trio.current_time() + delay >= deadline:
                    self._dead = DeviceDisconnectedError(
                        f"{self.name}: device gone and not back after "
                        f"{self._reconnect_timeout_s:g} s ({exc})")
                    logger.error("giving up on the device", extra={"port": self.name})
                    self._connected.set()  # wake waiters so they see _dead
                    return False
                delay = min(delay * 2, max_delay)
        self._decoder = FrameDecoder(stats=self._decoder.stats)
        self._connected.set()
        # the request lock is free: every request in flight was failed above
        self._nursery.start_soon(self._restore, start)
        return True

    async def _restore(self, gap_start: float) -> None:
        try:
            self._info = await self._hello()
            if self.config is not None:
                await self._apply(self.config)
        except BridgeError as exc:
            logger.error("re-initialising the device failed",
                         extra={"port": self.name, "error": str(exc)})
            return
        gap = Gap(gap_start, self.now())
        self.gaps.append(gap)
        self.stats["reconnects"] += 1
        logger.warning("device back after a gap", extra={"port": self.name,
                                                         "gap_s": round(gap.duration_s, 3)})

    def _fail_pending(self, error: BaseException) -> None:
        pending = self._pending
        if pending is not None and not pending.done.is_set():
            pending.error = error
            pending.done.set()

    # -- requests -------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = self._seq % 65535 + 1
        return self._seq

    async def _request(self, msg_type: MsgType, body: bytes = b"", *,
                       timeout_s: float | None = None) -> RawFrame:
        async with self._request_lock:
            if self._dead is not None:
                raise self._dead
            await self._connected.wait()
            if self._dead is not None:
                raise self._dead
            seq = self._next_seq()
            frame = encode_frame(msg_type, seq, body)
            wait_s = self._timeout_s if timeout_s is None else timeout_s
            for attempt in range(1, self._retries + 1):
                pending = _Pending(seq, trio.Event())
                self._pending = pending
                try:
                    await self._stream.send_all(frame)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError,
                        AttributeError) as exc:
                    raise DeviceDisconnectedError(
                        f"{self.name}: cannot send {msg_type.name}: {exc}") from None
                with trio.move_on_after(wait_s):
                    await pending.done.wait()
                self._pending = None
                if pending.error is not None:
                    raise pending.error
                if pending.frame is not None:
                    return self._check_response(msg_type, pending.frame)
                self.stats["retries"] += 1
                logger.info("no answer, resending", extra={"port": self.name, "seq": seq,
                                                           "type": msg_type.name,
                                                           "attempt": attempt})
            raise DeviceTimeoutError(
                f"{self.name}: no answer to {msg_type.name} (seq {seq}) after "
                f"{self._retries} tries of {wait_s:g} s")

    def _check_response(self, request: MsgType, frame: RawFrame) -> RawFrame:
        if frame.msg_type == MsgType.NACK:
            code = frame.body[0] if frame.body else 0
            detail = frame.body[1:].decode("utf-8", "replace")
            error = _NACK_ERRORS.get(code, DeviceError)
            try:
                name = NackCode(code).name
            except ValueError:
                name = f"code {code}"
            raise error(f"{self.name}: device refused {request.name}: {name}"
                        + (f" ({detail})" if detail else ""))
        if frame.msg_type != _EXPECTED[request]:
            raise DeviceError(f"{self.name}: device answered {request.name} with "
                              f"type 0x{frame.msg_type:02x}")
        return frame

    async def _hello(self) -> RadioInfo:
        frame = await self._request(MsgType.HELLO, bytes([PROTOCOL_VERSION]))
        info = info_from_frame(frame)
        if info.protocol_version != PROTOCOL_VERSION:
            raise UnsupportedError(
                f"{self.name}: device speaks protocol version {info.protocol_version}, "
                f"this driver speaks {PROTOCOL_VERSION}: update the firmware or the host")
        return info

    async def _apply(self, config: RadioConfig) -> None:
        await self._request(MsgType.CONFIGURE, configure_body(config))

    # -- the Radio interface ------------------------------------------------------------------
    async def configure(self, config: RadioConfig) -> None:
        await self._apply(config)
        self.config = config

    async def transmit(self, payload: bytes) -> TxResult:
        config = self._require_config()
        if not 1 <= len(payload) <= 255:
            raise InvalidParameterError(
                f"a LoRa payload has 1 to 255 bytes, this one has {len(payload)}")
        airtime_s = config.airtime_s(len(payload))
        frame = await self._request(MsgType.TRANSMIT, bytes(payload),
                                    timeout_s=airtime_s + self._timeout_s)
        self.stats["tx_packets"] += 1
        return tx_result_from_frame(frame)

    async def info(self) -> RadioInfo:
        frame = await self._request(MsgType.GET_INFO)
        self._info = info_from_frame(frame)
        return self._info

    async def ping(self, data: bytes = b"") -> float:
        """Round-trip time in seconds of a PING carrying `data` (checked on return)."""
        start = trio.current_time()
        frame = await self._request(MsgType.PING, data)
        if frame.body != data:
            raise DeviceError(f"{self.name}: PONG carried different data")
        return trio.current_time() - start


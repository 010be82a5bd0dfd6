"""The devboard emulator: our firmware's device side of the native protocol, in Python.

Product code, not a test fake: the radio simulator ships it as its virtual
devboards (one per simulated hotspot, each on a `PtyDevice`). `NativeDeviceCore`
is sans-IO (bytes in, bytes out, time from an injected clock), so the same
object also serves driver tests on a pty and unit tests that feed it bytes
directly. It answers requests as PROTOCOL.md says, including the seq memory that
makes a retried TRANSMIT safe, and has hooks to script failures (refusals, lost
responses).

Examples
--------
>>> from firmware_bridge._framing import FrameDecoder
>>> from firmware_bridge._protocol import MsgType, build, Ping, to_wire
>>> dev = NativeDeviceCore()
>>> reply = dev.receive(to_wire(build(MsgType.PING, 1, Ping(data=b"hi"))))
>>> [(f.msg_type, f.body) for f in FrameDecoder().feed(reply)]
[(133, b'hi')]
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ._errors import ConfigError, FrameError
from ._framing import FrameDecoder, RawFrame, wire
from ._protocol import (
    MAX_PAYLOAD,
    REGION_BITS,
    Configure,
    Hello,
    Info,
    MsgType,
    NackCode,
    Transmit,
    TxDone,
    build,
    config_from_body,
    expect_body,
    is_known_type,
    is_request_type,
    nack_body,
    parse,
    regions_mask,
    rx_body_from_packet,
)
from ._radio import RadioConfig, RxPacket

logger = logging.getLogger(__name__)

_U64 = 0xFFFF_FFFF_FFFF_FFFF


class DeviceBackend(Protocol):
    """Where a device's transmissions go (the radio simulator's channel, a test probe).

    Raising from `on_transmit` makes the device answer NACK RADIO_FAILURE.
    """

    def on_transmit(self, payload: bytes, config: RadioConfig) -> None: ...


@dataclass
class _Memo:
    request: bytes  # type byte and body: a retry repeats them exactly
    response: bytes | None  # wire bytes; None while the TRANSMIT is still on air


@dataclass
class _OnAir:
    seq: int
    memo: _Memo
    config: RadioConfig
    airtime_s: float
    done_s: float  # device clock when TX_DONE is due


class NativeDeviceCore:
    """The device side of the native protocol, sans-IO.

    `receive(data)` takes bytes from the host and returns the replies;
    `poll()` returns output that fell due since (TX_DONE once the packet's
    airtime has passed, queued RX events). Time comes from `clock`; with
    `time_scale` < 1 a transmission finishes sooner than its airtime (fast
    tests) while TX_DONE still reports the real airtime.

    Every call is thread-safe: a `PtyDevice` thread may call `receive` and
    `poll` while a test or the simulator calls `push_rx`.
    """

    MEMORY = 8  # requests whose responses are remembered, by seq

    def __init__(self, backend: DeviceBackend | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 firmware_version: str = "coverage-net-fw 0.1.0", radio_chip: str = "SX1262",
                 regions: Iterable[str] = REGION_BITS, time_scale: float = 1.0,
                 max_payload: int = MAX_PAYLOAD) -> None:
        if not time_scale >= 0:
            raise ValueError(f"time_scale is {time_scale!r}; it must be >= 0")
        if not 1 <= max_payload <= MAX_PAYLOAD:
            raise ValueError(f"max_payload is {max_payload!r}; it must be 1..{MAX_PAYLOAD}")
        self.backend = backend
        self.firmware_version = firmware_version
        self.radio_chip = radio_chip
        self.regions = tuple(regions)
        self.time_scale = float(time_scale)
        self.max_payload = int(max_payload)
        self._regions_mask = regions_mask(self.regions)
        self._clock = clock
        self._boot_s = clock()
        self._lock = threading.RLock()
        self.stats: Counter[str] = Counter()
        self._decoder = FrameDecoder(stats=self.stats)  # drop reasons count here too
        self.config: RadioConfig | None = None
        self.configs: list[RadioConfig] = []
        self.transmitted: list[bytes] = []
        self._memory: OrderedDict[int, _Memo] = OrderedDict()
        self._on_air: _OnAir | None = None
        self._outbox: list[bytes] = []
        self._scripted_nacks: deque[NackCode] = deque()
        self._responses_to_drop = 0
        self._event_seq = 0

    # -- the sans-IO device ---------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        """Bytes from the host in; replies (and any output already due) out."""
        with self._lock:
            self._finish_due()
            for raw in self._decoder.feed(data):
                self._handle(raw)
            self._finish_due()  # a zero-airtime transmit is done at once
            return self._drain()

    def poll(self) -> bytes:
        """Output due now: TX_DONE of a finished transmission, queued RX events."""
        with self._lock:
            self._finish_due()
            return self._drain()

    @property
    def on_air(self) -> bool:
        """Whether a transmission is in progress (by the device clock)."""
        with self._lock:
            return self._on_air is not None and self._clock() < self._on_air.done_s

    def radio_time_us(self, t_s: float | None = None) -> int:
        """The device's microsecond clock (zero at construction) at clock time `t_s`."""
        t_s = self._clock() if t_s is None else t_s
        return round((t_s - self._boot_s) * 1e6) & _U64

    # -- scripting hooks --------------------------------------------------------------------
    def push_rx(self, payload: bytes, *, rssi_dbm: float, snr_db: float,
                freq_hz: int | None = None, spreading_factor: int | None = None,
                bandwidth_hz: int | None = None, coding_rate: int | None = None,
                freq_error_hz: float = 0.0, crc_ok: bool = True,
                radio_timestamp_us: int | None = None) -> None:
        """Queue an RX event, as if the radio had received `payload` now.

        Radio parameters default to the current configuration; before any
        CONFIGURE they must all be given.
        """
        with self._lock:
            cfg = self.config
            given = (freq_hz, spreading_factor, bandwidth_hz, coding_rate)
            if cfg is None and None in given:
                raise ConfigError("the device is not configured: pass freq_hz, "
                                  "spreading_factor, bandwidth_hz and coding_rate to push_rx")
            packet = RxPacket(
                payload=bytes(payload), rssi_dbm=rssi_dbm, snr_db=snr_db,
                freq_hz=cfg.freq_hz if freq_hz is None else freq_hz,
                spreading_factor=(cfg.spreading_factor if spreading_factor is None
                                  else spreading_factor),
                bandwidth_hz=cfg.bandwidth_hz if bandwidth_hz is None else bandwidth_hz,
                coding_rate=cfg.coding_rate if coding_rate is None else coding_rate,
                radio_timestamp_us=(self.radio_time_us() if radio_timestamp_us is None
                                    else radio_timestamp_us),
                host_time_s=0.0, crc_ok=crc_ok, freq_error_hz=freq_error_hz)
            body = rx_body_from_packet(packet)
            self._event_seq = (self._event_seq + 1) & 0xFFFF
            self._outbox.append(wire(build(MsgType.RX, self._event_seq, body)))
            self.stats["rx_events"] += 1

    def nack_next(self, code: NackCode | int, count: int = 1) -> None:
        """Refuse the next `count` new requests with NACK `code` (retries replay as usual)."""
        with self._lock:
            self._scripted_nacks.extend([NackCode(code)] * count)

    def drop_next_responses(self, count: int) -> None:
        """Lose the next `count` responses on the way to the host (it will time out)."""
        with self._lock:
            self._responses_to_drop += count

    # -- requests -------------------------------------------------------------------------
    def _handle(self, raw: RawFrame) -> None:
        t = raw.msg_type
        self.stats["frames"] += 1
        if not is_request_type(t) or not is_known_type(t):
            if not is_known_type(t):
                self.stats["unknown_type"] += 1
            else:
                self.stats["unexpected_type"] += 1  # a device -> host message
            logger.debug("request of type 0x%02x dropped", t,
                         extra={"reason": "unknown_type", "msg_type": t, "seq": raw.seq})
            if is_request_type(t):
                self._reply(raw, MsgType.NACK, nack_body(NackCode.UNKNOWN_TYPE,
                                                         f"type 0x{t:02x} is not a request"))
            return
        memo = self._memory.get(raw.seq)
        if memo is not None and memo.request == bytes([t]) + raw.body:
            self.stats["replayed"] += 1
            if memo.response is None:  # that TRANSMIT is on air: its TX_DONE comes once
                self.stats["retried_while_on_air"] += 1
            else:
                self._emit(memo.response)
            return
        if self._scripted_nacks:
            code = self._scripted_nacks.popleft()
            self.stats["scripted_nacks"] += 1
            self._reply(raw, MsgType.NACK, nack_body(code, "scripted by nack_next"),
                        remember=code != NackCode.BUSY)
            return
        name = MsgType(t).name.lower()
        self.stats[name] += 1
        try:
            getattr(self, "_on_" + name)(raw)
        except FrameError as exc:
            self._reply(raw, MsgType.NACK, nack_body(NackCode.BAD_FRAME, str(exc)))

    def _on_hello(self, raw: RawFrame) -> None:
        expect_body(parse(raw), Hello)
        self._memory.clear()  # a new session: seqs of the old one mean nothing now
        self._reply(raw, MsgType.INFO, self._info())

    def _on_get_info(self, raw: RawFrame) -> None:
        if raw.body:
            raise FrameError(f"GET_INFO body is {len(raw.body)} bytes; it must be empty")
        self._reply(raw, MsgType.INFO, self._info())

    def _on_ping(self, raw: RawFrame) -> None:
        self._reply(raw, MsgType.PONG, raw.body)

    def _on_configure(self, raw: RawFrame) -> None:
        body = expect_body(parse(raw), Configure)
        if self._busy(raw):
            return
        try:
            cfg = config_from_body(body)
        except ConfigError as exc:
            self._reply(raw, MsgType.NACK, nack_body(NackCode.INVALID_PARAMETER, str(exc)))
            return
        self.config = cfg
        self.configs.append(cfg)
        self._reply(raw, MsgType.ACK, b"")

    def _on_transmit(self, raw: RawFrame) -> None:
        payload = expect_body(parse(raw), Transmit).data
        if self._busy(raw):
            return
        cfg = self.config
        refusal = None
        if cfg is None:
            refusal = "not configured: send CONFIGURE first"
        elif not 1 <= len(payload) <= self.max_payload:
            refusal = f"payload is {len(payload)} bytes; it must be 1..{self.max_payload}"
        if refusal is not None:
            self._reply(raw, MsgType.NACK, nack_body(NackCode.INVALID_PARAMETER, refusal))
            return
        if self.backend is not None:
            try:
                self.backend.on_transmit(payload, cfg)
            except Exception as exc:  # the backend's way to fail the radio
                logger.warning("transmit failed in the backend", exc_info=True,
                               extra={"seq": raw.seq, "length": len(payload)})
                self._reply(raw, MsgType.NACK, nack_body(NackCode.RADIO_FAILURE, str(exc)))
                return
        self.transmitted.append(payload)
        airtime_s = cfg.airtime_s(len(payload))
        memo = _Memo(bytes([raw.msg_type]) + raw.body, None)
        self._remember(raw.seq, memo)
        self._on_air = _OnAir(raw.seq, memo, cfg, airtime_s,
                              self._clock() + airtime_s * self.time_scale)

    def _busy(self, raw: RawFrame) -> bool:
        if self._on_air is None:
            return False
        self.stats["busy"] += 1
        self._reply(raw, MsgType.NACK, nack_body(NackCode.BUSY, "transmitting"), remember=False)
        return True

    def _info(self) -> Info:
        return Info(firmware_version=self.firmware_version.encode("utf-8"),
                    radio_chip=self.radio_chip.encode("utf-8"), regions=self._regions_mask,
                    max_payload=self.max_payload)

    # -- output ---------------------------------------------------------------------------
    def _finish_due(self) -> None:
        tx = self._on_air
        if tx is None or self._clock() < tx.done_s:
            return
        self._on_air = None
        body = TxDone(airtime_us=round(tx.airtime_s * 1e6),
                      radio_timestamp_us=self.radio_time_us(tx.done_s),
                      tx_power_dbm=tx.config.tx_power_dbm)
        tx.memo.response = wire(build(MsgType.TX_DONE, tx.seq, body))
        self.stats["tx_done"] += 1
        self._emit(tx.memo.response)

    def _reply(self, raw: RawFrame, msg_type: MsgType, body, *, remember: bool = True) -> None:
        response = wire(build(msg_type, raw.seq, body))
        # only requests with effects are remembered (PROTOCOL.md): a HELLO, GET_INFO or
        # PING is simply answered again, and a new session's HELLO always clears memory
        if remember and raw.msg_type in (MsgType.CONFIGURE, MsgType.TRANSMIT):
            self._remember(raw.seq, _Memo(bytes([raw.msg_type]) + raw.body, response))
        if msg_type == MsgType.NACK:
            self.stats["nacks"] += 1
        self._emit(response)

    def _remember(self, seq: int, memo: _Memo) -> None:
        self._memory[seq] = memo
        self._memory.move_to_end(seq)
        while len(self._memory) > self.MEMORY:
            self._memory.popitem(last=False)

    def _emit(self, response: bytes) -> None:
        if self._responses_to_drop:
            self._responses_to_drop -= 1
            self.stats["responses_dropped"] += 1
            return
        self._outbox.append(response)

    def _drain(self) -> bytes:
        out = b"".join(self._outbox)
        self._outbox.clear()
        return out

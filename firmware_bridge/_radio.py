"""The one `Radio` interface everything above the bridge uses.

A driver (our firmware's native protocol, a Microchip RN2483, a Semtech packet
forwarder) or the radio simulator implements `Radio`; nothing above can tell
them apart. The interface is async on trio: a radio is an async context manager
whose background tasks (the reader of the serial port, the UDP server) run while
it is open. `BlockingRadio` wraps any radio for plain blocking scripts.

Received packets fan out to every subscriber of `Radio.packets()`; a subscriber
that falls behind by more than its buffer loses the newest packets and the
loss is counted in `Radio.stats["rx_dropped_slow_consumer"]`, never silent.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from coverage_net.radio import BANDWIDTHS_HZ, get_region, time_on_air_s

from ._errors import BridgeError, ConfigError

logger = logging.getLogger(__name__)

FREQ_MIN_HZ = 137_000_000  # SX127x/SX126x tuning range
FREQ_MAX_HZ = 1_020_000_000
LORAWAN_PUBLIC_SYNC_WORD = 0x34


def _check_range(name: str, value, low, high) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{name} is {value!r}; it must be a number in [{low}, {high}]")


@dataclass(frozen=True)
class RadioConfig:
    """Everything the radio needs to transmit and receive one kind of LoRa packet.

    Examples
    --------
    >>> RadioConfig(freq_hz=903_900_000, spreading_factor=10).airtime_s(20)
    0.370688
    """

    freq_hz: int
    spreading_factor: int
    bandwidth_hz: int = 125_000
    coding_rate: int = 5  # denominator of 4/x: 5..8
    tx_power_dbm: int = 14
    sync_word: int = LORAWAN_PUBLIC_SYNC_WORD
    preamble_symbols: int = 8
    iq_inverted: bool = False

    def __post_init__(self) -> None:
        _check_range("freq_hz", self.freq_hz, FREQ_MIN_HZ, FREQ_MAX_HZ)
        _check_range("spreading_factor", self.spreading_factor, 7, 12)
        if self.bandwidth_hz not in BANDWIDTHS_HZ:
            raise ConfigError(f"bandwidth_hz is {self.bandwidth_hz!r}; it must be one of "
                              f"{sorted(BANDWIDTHS_HZ)}")
        _check_range("coding_rate", self.coding_rate, 5, 8)
        _check_range("tx_power_dbm", self.tx_power_dbm, -9, 22)
        _check_range("sync_word", self.sync_word, 0, 255)
        _check_range("preamble_symbols", self.preamble_symbols, 6, 65535)
        for name in ("freq_hz", "spreading_factor", "coding_rate", "tx_power_dbm", "sync_word",
                     "preamble_symbols"):
            if int(getattr(self, name)) != getattr(self, name):
                raise ConfigError(f"{name} must be a whole number, got {getattr(self, name)!r}")
        if not isinstance(self.iq_inverted, bool):
            raise ConfigError(f"iq_inverted must be True or False, got {self.iq_inverted!r}")

    @classmethod
    def for_region(cls, region: str, *, data_rate: int, channel: int = 0,
                   tx_power_dbm: int | None = None) -> RadioConfig:
        """The uplink configuration of a region's channel and data rate."""
        r = get_region(region)
        try:
            ch = r.uplink_channels[channel]
        except IndexError:
            raise ConfigError(f"{r.name} has uplink channels 0..{len(r.uplink_channels) - 1}, "
                              f"not {channel}") from None
        dr = r.data_rate(data_rate)
        if data_rate not in ch.data_rates:
            raise ConfigError(f"{r.name} channel {channel} ({ch.freq_hz / 1e6:.1f} MHz) does not "
                              f"carry DR{data_rate}; it carries {list(ch.data_rates)}")
        power = r.default_tx_power_dbm if tx_power_dbm is None else tx_power_dbm
        return cls(freq_hz=ch.freq_hz, spreading_factor=dr.spreading_factor,
                   bandwidth_hz=dr.bandwidth_hz, tx_power_dbm=int(min(power, 22)))

    def airtime_s(self, payload_bytes: int) -> float:
        """Time on air of a packet of this configuration (Semtech AN1200.13)."""
        return float(time_on_air_s(payload_bytes, self.spreading_factor, self.bandwidth_hz,
                                   self.coding_rate, self.preamble_symbols))


@dataclass(frozen=True)
class TxResult:
    """What the radio reports after a packet has left the antenna."""

    airtime_s: float
    radio_timestamp_us: int  # radio clock at the end of transmission
    tx_power_dbm: float  # power actually used


@dataclass(frozen=True)
class RxPacket:
    """One received LoRa packet with its reception metadata."""

    payload: bytes
    rssi_dbm: float
    snr_db: float
    freq_hz: int
    spreading_factor: int
    bandwidth_hz: int
    coding_rate: int
    radio_timestamp_us: int  # radio clock at the receive-done interrupt (end of packet)
    host_time_s: float  # host clock when the packet reached the driver
    crc_ok: bool
    freq_error_hz: float = 0.0


@dataclass(frozen=True)
class RadioInfo:
    """What a radio says about itself."""

    driver: str
    firmware_version: str
    radio_chip: str
    supported_regions: tuple[str, ...] = ()
    protocol_version: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Gap:
    """A time the device was unreachable (unplugged, rebooting), in host-clock seconds."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class Radio(abc.ABC):
    """A LoRa radio. Open it with ``async with``; background tasks run while it is open.

    Subclasses implement `configure`, `transmit` and `info`, start their
    background tasks in `_start(nursery)`, release resources in `_stop()`, and
    hand every received packet to `_deliver`.
    """

    driver: str = "abstract"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._subscribers: list[trio.MemorySendChannel] = []
        self._stack: contextlib.AsyncExitStack | None = None
        self._nursery: trio.Nursery | None = None
        self.config: RadioConfig | None = None
        self.stats: Counter[str] = Counter()

    async def __aenter__(self) -> Radio:
        stack = contextlib.AsyncExitStack()
        self._nursery = await stack.enter_async_context(trio.open_nursery())
        try:
            await self._start(self._nursery)
        except BaseException:
            self._nursery.cancel_scope.cancel()
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(self, *exc_info) -> bool | None:
        try:
            with trio.CancelScope(shield=True):
                await self._stop()
        finally:
            for s in self._subscribers:
                s.close()
            self._subscribers.clear()
            self._nursery.cancel_scope.cancel()
            stack, self._stack = self._stack, None
            suppress = await stack.__aexit__(*exc_info)
        return suppress

    async def _start(self, nursery: trio.Nursery) -> None:  # noqa: B027 - optional hook
        """Start background tasks (override)."""

    async def _stop(self) -> None:  # noqa: B027 - optional hook
        """Release resources (override)."""

    @abc.abstractmethod
    async def configure(self, config: RadioConfig) -> None:
        """Apply a configuration; the radio then receives with it."""

    @abc.abstractmethod
    async def transmit(self, payload: bytes) -> TxResult:
        """Send one packet; returns once it has left the antenna, raises otherwise."""

    @abc.abstractmethod
    async def info(self) -> RadioInfo:
        """Firmware version, radio chip, supported regions."""

    def packets(self, max_buffer: int = 1024) -> trio.MemoryReceiveChannel:
        """A new subscription to received packets (close it to unsubscribe)."""
        send, receive = trio.open_memory_channel(max_buffer)
        self._subscribers.append(send)
        return receive

    def _deliver(self, packet: RxPacket) -> None:
        self.stats["rx_packets"] += 1
        for s in list(self._subscribers):
            try:
                s.send_nowait(packet)
            except trio.WouldBlock:
                self.stats["rx_dropped_slow_consumer"] += 1
                logger.warning("rx subscriber full: packet dropped",
                               extra={"driver": self.driver, "freq_hz": packet.freq_hz})
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.remove(s)

    def now(self) -> float:
        """The host clock this radio stamps packets with."""
        return self._clock()

    def _require_config(self) -> RadioConfig:
        if self.config is None:
            raise BridgeError("configure the radio before transmitting")
        return self.config


class BlockingRadio:
    """Drive an async `Radio` from blocking code: a trio loop runs in a thread.

    >>> # with BlockingRadio(lambda: NativeRadio.open_serial("/dev/ttyACM0")) as r:
    >>> #     r.configure(RadioConfig(903_900_000, 10)); r.transmit(b"hi")
    """

    def __init__(self, factory: Callable[[], Radio], *, rx_queue: int = 4096) -> None:
        self._factory = factory
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._queue: queue.Queue[RxPacket] = queue.Queue(rx_queue)
        self._radio: Radio | None = None
        self._token = None
        self._closing: trio.Event | None = None
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True,
                                        name="blocking-radio")
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    async def _main(self) -> None:
        try:
            async with self._factory() as radio:
                self._radio = radio
                self._token = trio.lowlevel.current_trio_token()
                self._closing = trio.Event()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, radio)
                    self._ready.set()
                    await self._closing.wait()
                    nursery.cancel_scope.cancel()
        except BaseException as exc:  # reported to the constructor or to close()
            self._error = exc
            self._ready.set()

    async def _pump(self, radio: Radio) -> None:
        async with radio.packets() as rx:
            async for packet in rx:
                try:
                    self._queue.put_nowait(packet)
                except queue.Full:
                    radio.stats["rx_dropped_slow_consumer"] += 1

    def _call(self, fn, *args):
        if self._token is None or not self._thread.is_alive():
            raise BridgeError("the radio is closed")
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def configure(self, config: RadioConfig) -> None:
        self._call(self._radio.configure, config)

    def transmit(self, payload: bytes) -> TxResult:
        return self._call(self._radio.transmit, payload)

    def info(self) -> RadioInfo:
        return self._call(self._radio.info)

    def receive(self, timeout_s: float | None = None) -> RxPacket | None:
        """The next received packet, or None after `timeout_s`."""
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    @property
    def stats(self) -> Counter[str]:
        return self._radio.stats

    def close(self) -> None:
        if self._thread.is_alive() and self._token is not None:
            trio.from_thread.run_sync(self._closing.set, trio_token=self._token)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BlockingRadio:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

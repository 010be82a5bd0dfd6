"""The shared simulated air, and `SimRadio`: a `Radio` on it with no pty in between.

`SimAir` bundles a `World`, its `Channel` and a `RealtimeScheduler`. Radios of
the world's hotspots (a `SimRadio` in this process, or a virtual devboard's
device core behind a pty) transmit into it; when a packet's airtime is over the
channel says who heard it, and each delivered reception goes to the receiver
that is listening and tuned to the packet. The channel hears every frequency and
spreading factor; a LoRa radio demodulates one configuration, so tuning is
decided here: same frequency, spreading factor, bandwidth and IQ polarity.

`SimAir` runs in one trio task (`run()`); everything it does happens in that
task's thread. By default its scheduler paces virtual time by `trio.current_time`,
so a test under `trio.testing.MockClock(autojump_threshold=0)` runs a minute of
air in no wall time at all.

Examples
--------
>>> async def demo(world, channel):  # doctest: +SKIP
...     sim = SimAir(world, channel)
...     async with trio.open_nursery() as nursery:
...         await nursery.start(sim.run)
...         async with sim.radio("a") as a, sim.radio("b") as b:
...             ...
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Protocol

import trio

from firmware_bridge import (
    ConfigError,
    DeviceDisconnectedError,
    InvalidParameterError,
    Radio,
    RadioConfig,
    RadioFailureError,
    RadioInfo,
    RxPacket,
    TxResult,
)

from ._channel import Channel, Reception, Transmission
from ._engine import RealtimeScheduler
from ._errors import RegulatoryLimitError, SimConfigError, SimError
from ._world import World

logger = logging.getLogger(__name__)

FIRMWARE_VERSION = "coverage-net-sim 0.1"
RADIO_CHIP = "SX1262 (simulated)"
MAX_PAYLOAD = 255
_U64 = 0xFFFF_FFFF_FFFF_FFFF

Observer = Callable[[Transmission, list[Reception]], None]


class Listener(Protocol):
    """A hotspot's receiver on the air: its current configuration and where packets go."""

    @property
    def config(self) -> RadioConfig | None: ...

    def on_reception(self, tx: Transmission, reception: Reception) -> None:
        """A delivered packet this receiver was tuned to (called in the air's thread)."""


def tuned_to(rx: RadioConfig | None, tx: RadioConfig) -> bool:
    """Whether a single-channel radio configured `rx` demodulates a packet sent with `tx`."""
    return rx is not None and (rx.freq_hz, rx.spreading_factor, rx.bandwidth_hz,
                               rx.iq_inverted) == (tx.freq_hz, tx.spreading_factor,
                                                   tx.bandwidth_hz, tx.iq_inverted)


def centi(value: float) -> float:
    """RSSI or SNR as the native protocol carries it: hundredths in an i16."""
    return min(max(round(value * 100), -32768), 32767) / 100


class SimAir:
    """World + Channel + RealtimeScheduler, and the radios listening on them."""

    def __init__(self, world: World, channel: Channel, *,
                 scheduler: RealtimeScheduler | None = None, speed: float = 1.0) -> None:
        if channel.world is not world:
            raise SimConfigError("the channel was built for another world: pass "
                                 "Channel(world, ...) of this world")
        self.world = world
        self.channel = channel
        self.scheduler = (RealtimeScheduler(speed=speed, wall_clock=trio.current_time)
                          if scheduler is None else scheduler)
        self.observers: list[Observer] = []  # called with every packet's receptions
        self.stats: Counter[str] = Counter()
        self._listeners: dict[int, Listener] = {}
        self._packet_ids = itertools.count(1)
        self._on_air: dict[int, tuple[Transmission, RadioConfig, Callable | None]] = {}
        self._thread: int | None = None

    # -- time -----------------------------------------------------------------------------
    def now(self) -> float:
        """Virtual time, seconds (the device clock of every simulated radio)."""
        return self.scheduler.now

    @property
    def running(self) -> bool:
        return self._thread is not None

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Run the air until cancelled: ``await nursery.start(air.run)`` before transmitting."""
        if self._thread is not None:
            raise SimError("this SimAir is already running")
        self._thread = threading.get_ident()
        try:
            task_status.started()
            await self.scheduler.run()
        finally:
            self._thread = None

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[SimAir]:
        """Run the air in a thread with its own trio loop, for blocking code.

        The scheduler's wall clock must then work in any thread (`time.monotonic`,
        as for virtual devboards), not `trio.current_time`.
        """
        started = threading.Event()
        handle: dict = {}

        async def main() -> None:
            with trio.CancelScope() as scope:
                handle["token"] = trio.lowlevel.current_trio_token()
                handle["scope"] = scope
                async with trio.open_nursery() as nursery:
                    await nursery.start(self.run)
                    started.set()

        def target() -> None:
            try:
                trio.run(main)
            except BaseException as exc:  # re-raised in the caller's thread
                handle["error"] = exc
            finally:
                started.set()

        thread = threading.Thread(target=target, daemon=True, name="sim-air")
        thread.start()
        started.wait()
        try:
            if "error" in handle:
                raise handle["error"]
            yield self
        finally:
            if "scope" in handle:
                with contextlib.suppress(trio.RunFinishedError):
                    trio.from_thread.run_sync(handle["scope"].cancel,
                                              trio_token=handle["token"])
            thread.join()
        if "error" in handle:
            raise handle["error"]

    def call_from_thread(self, fn: Callable, *args, timeout_s: float = 5.0):
        """From another thread: `fn(*args)` in the air's thread; its result or exception."""
        if threading.get_ident() == self._thread:
            return fn(*args)
        future: concurrent.futures.Future = concurrent.futures.Future()

        def call() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args))
            except Exception as exc:  # handed to the calling thread
                future.set_exception(exc)

        self.scheduler.call_soon_threadsafe(call)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            if future.cancel():
                raise SimError(f"the simulator did not answer within {timeout_s:g} s: "
                               "is SimAir.run() (or serve) running?") from None
            return future.result()

    # -- radios ---------------------------------------------------------------------------
    def radio(self, name: str) -> SimRadio:
        """A `SimRadio` for hotspot `name` (open it with ``async with``)."""
        return SimRadio(self, name)

    def attach(self, index: int, listener: Listener) -> None:
        """`listener` receives for hotspot `index` from now on (one per hotspot)."""
        if not 0 <= index < len(self.world):
            raise SimConfigError(f"hotspot index {index} is not in this world of "
                                 f"{len(self.world)}")
        current = self._listeners.get(index)
        if current is not None and current is not listener:
            raise SimConfigError(f"hotspot {self.world.names[index]!r} already has a radio "
                                 "listening; close it first")
        self._listeners[index] = listener

    def detach(self, index: int, listener: Listener) -> None:
        if self._listeners.get(index) is listener:
            del self._listeners[index]

    # -- the air (in the air's thread) ------------------------------------------------------
    def begin(self, transmitter: int, payload: bytes, config: RadioConfig,
              on_end: Callable[[Transmission, list[Reception]], None] | None = None
              ) -> Transmission:
        """Put a packet on the air now; `RegulatoryLimitError` if the radio must stay silent."""
        tx = Transmission(packet_id=next(self._packet_ids), transmitter=transmitter,
                          start_s=self.scheduler.now,
                          airtime_s=config.airtime_s(len(payload)), freq_hz=config.freq_hz,
                          spreading_factor=config.spreading_factor,
                          bandwidth_hz=config.bandwidth_hz, coding_rate=config.coding_rate,
                          tx_power_dbm=float(config.tx_power_dbm), payload=bytes(payload))
        try:
            self.channel.begin(tx)
        except RegulatoryLimitError:
            self.stats["tx_refused"] += 1
            raise
        self._on_air[tx.packet_id] = (tx, config, on_end)
        self.scheduler.schedule(tx.end_s, self._end, tx.packet_id)
        self.stats["tx"] += 1
        return tx

    def _end(self, packet_id: int) -> None:
        tx, config, on_end = self._on_air.pop(packet_id)
        receptions = self.channel.end(packet_id)
        for r in receptions:
            if not r.delivered:
                continue
            listener = self._listeners.get(r.receiver)
            if listener is None or not tuned_to(listener.config, config):
                self.stats["rx_not_tuned"] += 1
                continue
            self.stats["rx_demodulated"] += 1
            try:
                listener.on_reception(tx, r)
            except Exception:  # one broken receiver must not stop the air
                logger.exception("a receiver failed to take a packet",
                                 extra={"receiver": self.world.names[r.receiver],
                                        "packet_id": packet_id})
        for observe in (*self.observers, *([on_end] if on_end else [])):
            observe(tx, receptions)


class SimRadio(Radio):
    """A hotspot's radio on a `SimAir`, in-process: the `Radio` for fast tests.

    Behaves as the native driver on a virtual devboard would (same firmware
    name, chip, RSSI/SNR resolution, typed errors) without the pty; it must be
    used in the trio run whose task runs `SimAir.run()`.
    """

    driver = "sim"

    def __init__(self, sim: SimAir, hotspot_name: str, *,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__(clock=sim.now if clock is None else clock)
        self.sim = sim
        self.name = hotspot_name
        try:
            self.index = sim.world.index_of(hotspot_name)
        except (KeyError, ValueError, LookupError):
            raise SimConfigError(f"no hotspot named {hotspot_name!r} in the world") from None
        self.hotspot = sim.world.hotspots[self.index]
        self._boot_s = sim.now()
        self._lock = trio.Lock()

    def radio_time_us(self, t_s: float) -> int:
        """The radio's microsecond clock (zero at construction) at virtual time `t_s`."""
        return round((t_s - self._boot_s) * 1e6) & _U64

    async def _start(self, nursery: trio.Nursery) -> None:
        self.sim.attach(self.index, self)

    async def _stop(self) -> None:
        self.sim.detach(self.index, self)

    async def configure(self, config: RadioConfig) -> None:
        if not isinstance(config, RadioConfig):
            raise ConfigError(f"configure takes a RadioConfig, not {type(config).__name__}")
        async with self._lock:  # waits for a transmission in progress, as the driver does
            self.config = config

    async def transmit(self, payload: bytes) -> TxResult:
        config = self._require_config()
        payload = bytes(payload)
        if not 1 <= len(payload) <= MAX_PAYLOAD:
            raise InvalidParameterError(
                f"a LoRa payload has 1 to {MAX_PAYLOAD} bytes, this one has {len(payload)}")
        async with self._lock:
            if not self.sim.running:
                raise DeviceDisconnectedError(
                    f"{self.name}: the simulated air is not running: "
                    "`await nursery.start(air.run)` first")
            done = trio.Event()
            try:
                tx = self.sim.begin(self.index, payload, config,
                                    on_end=lambda tx, receptions: done.set())
            except RegulatoryLimitError as exc:
                raise RadioFailureError(f"{self.name}: device refused TRANSMIT: "
                                        f"RADIO_FAILURE ({exc})") from exc
            await done.wait()
        self.stats["tx_packets"] += 1
        return TxResult(airtime_s=tx.airtime_s, radio_timestamp_us=self.radio_time_us(tx.end_s),
                        tx_power_dbm=config.tx_power_dbm)

    async def info(self) -> RadioInfo:
        return RadioInfo(driver=self.driver, firmware_version=FIRMWARE_VERSION,
                         radio_chip=RADIO_CHIP, supported_regions=(self.hotspot.region,),
                         extra={"hotspot": self.name, "cell": str(self.hotspot.cell)})

    def on_reception(self, tx: Transmission, reception: Reception) -> None:
        self._deliver(RxPacket(
            payload=tx.payload, rssi_dbm=centi(reception.rssi_dbm),
            snr_db=centi(reception.snr_db), freq_hz=tx.freq_hz,
            spreading_factor=tx.spreading_factor, bandwidth_hz=tx.bandwidth_hz,
            coding_rate=tx.coding_rate, radio_timestamp_us=self.radio_time_us(tx.end_s),
            host_time_s=self.now(), crc_ok=True))

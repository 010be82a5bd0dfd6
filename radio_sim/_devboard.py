"""Virtual devboards: one pty per simulated hotspot, speaking the native protocol.

Each hotspot of a `World` gets the firmware's device side (`NativeDeviceCore`)
on a pseudo-terminal, published under a stable symlink `<dir>/<hotspot name>`.
A hotspot process opens that path with the unmodified native driver, exactly as
it would open a USB devboard, and cannot tell the difference. What the device
transmits goes into the shared `SimAir` (channel + scheduler); what it receives
is what the channel delivered to it, at the configuration it is tuned to.

Threads: each pty runs in a thread of its own, the air in the scheduler's trio
task. A transmission crosses over with `call_soon_threadsafe`, and the pty
thread waits for the channel's verdict so a refusal (duty cycle, dwell time)
becomes the device's NACK. Receptions cross back through a queue the pty thread
drains: the scheduler never takes a device's lock, so the two cannot deadlock.
Device clocks read the scheduler's virtual clock, so device timestamps and
TX_DONE follow virtual time at any `speed`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter, deque
from collections.abc import Collection, Sequence
from pathlib import Path

import h3
import trio

from firmware_bridge import NativeDeviceCore, PtyDevice, RadioConfig

from ._channel import Channel, Reception, Transmission
from ._engine import RealtimeScheduler
from ._errors import SimConfigError
from ._sensors import Sensor, SensorFleet
from ._simradio import FIRMWARE_VERSION, RADIO_CHIP, SimAir, centi
from ._world import World

logger = logging.getLogger(__name__)


def _cell_str(cell) -> str:
    return cell if isinstance(cell, str) else h3.int_to_str(int(cell))


class SimBackend:
    """The backend of one hotspot's `NativeDeviceCore`, and the device its pty serves.

    `on_transmit` (pty thread) hands the packet to the air and waits for the
    channel to accept it; a refusal raises, so the device answers NACK
    RADIO_FAILURE with the reason. `on_reception` (air thread) queues a packet
    the hotspot demodulated; the next `receive` or `poll` (pty thread) turns it
    into an RX event of the core.
    """

    def __init__(self, air: SimAir, index: int, *, begin_timeout_s: float = 5.0,
                 max_queued_rx: int = 1024) -> None:
        hotspot = air.world.hotspots[index]
        self.air = air
        self.index = index
        self.name = hotspot.name
        self.begin_timeout_s = begin_timeout_s
        self.stats: Counter[str] = Counter()
        self._rx: deque[tuple[Transmission, Reception]] = deque()
        self._max_rx = max_queued_rx
        self.core = NativeDeviceCore(self, clock=air.now, firmware_version=FIRMWARE_VERSION,
                                     radio_chip=RADIO_CHIP, regions=(hotspot.region,))

    @property
    def config(self) -> RadioConfig | None:
        """The configuration the device receives with (None before CONFIGURE)."""
        return self.core.config

    # -- DeviceBackend (pty thread) ---------------------------------------------------------
    def on_transmit(self, payload: bytes, config: RadioConfig) -> None:
        self.air.call_from_thread(self.air.begin, self.index, bytes(payload), config,
                                  timeout_s=self.begin_timeout_s)

    # -- Listener (air thread) ------------------------------------------------------------
    def on_reception(self, tx: Transmission, reception: Reception) -> None:
        if len(self._rx) >= self._max_rx:
            self.stats["rx_dropped_queue_full"] += 1
            logger.warning("devboard rx queue full: packet dropped",
                           extra={"hotspot": self.name, "packet_id": tx.packet_id})
            return
        self._rx.append((tx, reception))

    # -- SansIODevice (pty thread) ----------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        self._flush_rx()
        return self.core.receive(data)

    def poll(self) -> bytes:
        self._flush_rx()
        return self.core.poll()

    def _flush_rx(self) -> None:
        core = self.core
        while self._rx:
            tx, r = self._rx.popleft()
            try:
                core.push_rx(tx.payload, rssi_dbm=centi(r.rssi_dbm),
                             snr_db=centi(r.snr_db), freq_hz=tx.freq_hz,
                             spreading_factor=tx.spreading_factor,
                             bandwidth_hz=tx.bandwidth_hz, coding_rate=tx.coding_rate,
                             crc_ok=True, radio_timestamp_us=core.radio_time_us(tx.end_s))
                self.stats["rx"] += 1
            except Exception:  # a packet the protocol cannot carry must not kill the pty
                self.stats["rx_unencodable"] += 1
                logger.exception("reception could not become an RX event",
                                 extra={"hotspot": self.name, "packet_id": tx.packet_id})


class VirtualDevboards:
    """One `NativeDeviceCore` on one `PtyDevice` per hotspot of `world` (but the stations
    named in `without`: the sensors of `radio_sim.SensorFleet`).

    The scheduler's wall clock is read from the pty threads, so it must work in
    any thread (the default `time.monotonic`). Run the air (`self.air.run()`, or
    `serve`) while the boards are up: a transmission waits for it.
    """

    def __init__(self, world: World, channel: Channel, scheduler: RealtimeScheduler,
                 dir: str | os.PathLike, *, poll_interval_s: float = 0.002,
                 without: Collection[str] = ()) -> None:
        self.air = SimAir(world, channel, scheduler=scheduler)
        self.world = world
        self.dir = Path(dir)
        self.backends: dict[str, SimBackend] = {}
        self.sensors: SensorFleet | None = None
        """The sensors `serve` runs on this air, if any."""
        self.devices: dict[str, PtyDevice] = {}
        for index, hotspot in enumerate(world.hotspots):
            name = hotspot.name
            if name in without:  # a sensor: it transmits on its own, nobody opens it
                continue
            if not name or "/" in name or name in (".", "..") or "\0" in name:
                raise SimConfigError(f"hotspot name {name!r} cannot name a port symlink: "
                                     "use names without '/'")
            backend = SimBackend(self.air, index)
            self.air.attach(index, backend)
            self.backends[name] = backend
            self.devices[name] = PtyDevice(backend, self.dir / name,
                                           poll_interval_s=poll_interval_s)

    def core(self, name: str) -> NativeDeviceCore:
        """Hotspot `name`'s device core (its scripting hooks work as on any core)."""
        return self.backends[name].core

    def device(self, name: str) -> PtyDevice:
        return self.devices[name]

    def port(self, name: str) -> Path:
        """The stable path a host opens for hotspot `name`."""
        return self.devices[name].path

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> VirtualDevboards:
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            for device in self.devices.values():
                device.start()
        except BaseException:
            self.stop()
            raise
        logger.info("virtual devboards up", extra={"hotspots": len(self.devices),
                                                   "dir": str(self.dir)})
        return self

    def stop(self) -> None:
        """Close every pty and remove its symlink."""
        for device in self.devices.values():
            device.unplug()

    def __enter__(self) -> VirtualDevboards:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- the manifest -----------------------------------------------------------------------
    def manifest(self) -> dict:
        """Hotspot name -> its port symlink, the pty behind it, its cell and position; and
        sensor name -> its cell, position, LoRaWAN address and period."""
        hotspots = {}
        for name, device in self.devices.items():
            hotspot = self.world.hotspots[self.backends[name].index]
            try:
                pty = os.readlink(device.path)
            except OSError:
                pty = None  # not started
            hotspots[name] = {"port": str(device.path), "pty": pty,
                              "cell": _cell_str(hotspot.cell),
                              "lat": float(hotspot.lat_deg), "lon": float(hotspot.lon_deg)}
        sensors = {}
        for sensor in (self.sensors.sensors if self.sensors is not None else ()):
            station = self.world.hotspots[self.world.index_of(sensor.name)]
            sensors[sensor.name] = {"cell": _cell_str(station.cell),
                                    "lat": float(station.lat_deg), "lon": float(station.lon_deg),
                                    "dev_addr": f"{sensor.dev_addr:08x}",
                                    "every_s": sensor.every_s}
        return {"hotspots": hotspots, **({"sensors": sensors} if sensors else {})}

    def write_manifest(self, path: str | os.PathLike) -> Path:
        """Write `manifest()` as JSON, atomically (a reader never sees half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.manifest(), f, indent=2)
                f.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


async def serve(world: World, *, channel: Channel, dir: str | os.PathLike,
                manifest_path: str | os.PathLike, speed: float = 1.0,
                sensors: Sequence[Sensor] = (), sensor_config: RadioConfig | None = None,
                task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Serve one virtual devboard per hotspot in real time (scaled by `speed`) until cancelled.

    With ``nursery.start(serve, ...)`` the start returns the `VirtualDevboards`
    once every port and the manifest exist. `sensors` (stations of `world`, which get
    no devboard) send their LoRaWAN uplinks with `sensor_config` (the region's beacon
    channel and data rate, where the hotspots listen); the fleet is ``boards.sensors``.
    """
    if sensors and sensor_config is None:
        raise SimConfigError("sensors need a sensor_config: the channel and data rate they "
                             "send on (the region's beacon channel, where hotspots listen)")
    scheduler = RealtimeScheduler(speed=speed)
    boards = VirtualDevboards(world, channel, scheduler, dir,
                              without={s.name for s in sensors})
    if sensors:
        boards.sensors = SensorFleet(boards.air, sensors, sensor_config).start()
        logger.info("sensors on the air", extra={"sensors": len(sensors),
                                                 "freq_hz": sensor_config.freq_hz})
    with boards:
        manifest = boards.write_manifest(manifest_path)
        try:
            task_status.started(boards)  # a transmission before the air runs just waits
            await boards.air.run()  # no nursery here: Ctrl-C surfaces as KeyboardInterrupt
        finally:
            manifest.unlink(missing_ok=True)  # its ports are about to vanish

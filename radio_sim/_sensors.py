"""Simulated sensors: LoRaWAN devices of the world that send data uplinks on a timer.

A sensor is a station of the `World` (so the channel decides, with the same physics
as for hotspots, which hotspots hear it) that has no devboard: it transmits an
unconfirmed LoRaWAN 1.0.x data uplink (`firmware_bridge.data_uplink_frame`: ABP
session keys, encrypted payload, MIC, a per-sensor 32-bit frame counter) every
`Sensor.every_s` virtual seconds, on the radio configuration it is given. The
simulator knows nothing of the network parameters: the caller passes the region's
beacon channel and data rate, the one configuration hotspots listen on.

The interface is small on purpose:

- `Sensor` (one device) and `read_sensors` (a JSON file of them, for
  ``coverage-net sim serve --sensors FILE``);
- `SensorFleet(air, sensors, config)`: ``start()`` schedules every sensor's uplinks
  on the air's scheduler; counters in ``stats``, frame counters in ``fcnt``.

`serve(..., sensors=..., sensor_config=...)` does both and gives sensors no pty.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from firmware_bridge import RadioConfig, data_uplink_frame

from ._errors import RegulatoryLimitError, SimConfigError
from ._simradio import SimAir

__all__ = ["Sensor", "SensorFleet", "read_sensors", "sensor_reading"]

logger = logging.getLogger(__name__)

_SENSOR_KEYS = {"name", "every_s", "first_s", "fport", "dev_addr", "payload_bytes"}


def _derived(name: str, what: bytes, size: int) -> bytes:
    return hashlib.sha256(b"coverage-net sim sensor\x00" + what + b"\x00"
                          + name.encode("utf-8")).digest()[:size]


@dataclass(frozen=True)
class Sensor:
    """Station `name` of the world sends a data uplink every `every_s` virtual seconds,
    the first `first_s` after the fleet starts. Its address and session keys default
    to values derived from its name, so a world file names a sensor and nothing more."""

    name: str
    every_s: float
    first_s: float = 1.0
    fport: int = 1
    payload_bytes: int = 8
    """Clear application bytes; 8 (a 21-byte frame) fits US915's 400 ms dwell at SF10."""
    dev_addr: int | None = None
    nwk_skey: bytes = b""
    app_skey: bytes = b""

    def __post_init__(self) -> None:
        if not self.every_s > 0:
            raise SimConfigError(f"sensor {self.name!r}: every_s must be positive; "
                                 f"got {self.every_s}")
        if not self.first_s >= 0:
            raise SimConfigError(f"sensor {self.name!r}: first_s must be 0 or more; "
                                 f"got {self.first_s}")
        if not 1 <= self.fport <= 223:
            raise SimConfigError(f"sensor {self.name!r}: fport must be 1 to 223; "
                                 f"got {self.fport}")
        if not 4 <= self.payload_bytes <= 200:
            raise SimConfigError(f"sensor {self.name!r}: payload_bytes must be 4 to 200; "
                                 f"got {self.payload_bytes}")
        if self.dev_addr is None:
            object.__setattr__(self, "dev_addr", int.from_bytes(_derived(self.name, b"addr", 4),
                                                                "little"))
        for key in ("nwk_skey", "app_skey"):
            if not getattr(self, key):
                object.__setattr__(self, key, _derived(self.name, key.encode(), 16))

    def frame(self, fcnt: int) -> bytes:
        """The uplink it sends with frame counter `fcnt` (a pure function of both)."""
        return data_uplink_frame(dev_addr=self.dev_addr, fcnt=fcnt, fport=self.fport,
                                 payload=sensor_reading(self, fcnt), nwk_skey=self.nwk_skey,
                                 app_skey=self.app_skey)


def sensor_reading(sensor: Sensor, fcnt: int) -> bytes:
    """The clear application payload of uplink `fcnt`: the counter (4 bytes, big-endian)
    and bytes derived from the sensor and counter, as a stand-in reading."""
    filler = _derived(sensor.name, fcnt.to_bytes(4, "big"), 32)
    return (fcnt.to_bytes(4, "big") + filler * 8)[:sensor.payload_bytes]


def read_sensors(path: str | os.PathLike) -> list[Sensor]:
    """Sensors from a JSON file: ``[{"name": "s1", "every_s": 30}, ...]`` (optional keys:
    first_s, fport, payload_bytes, dev_addr). Each name must be a station of the world."""
    path = Path(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SimConfigError(f"{path}: cannot read a sensors file: {exc}") from None
    if not isinstance(items, list):
        raise SimConfigError(f"{path}: must hold a JSON list of sensors")
    sensors = []
    for k, item in enumerate(items):
        where = f"{path}: sensor [{k}]"
        if not isinstance(item, dict) or "name" not in item or "every_s" not in item:
            raise SimConfigError(f"{where} must be an object with name and every_s")
        unknown = set(item) - _SENSOR_KEYS
        if unknown:
            raise SimConfigError(f"{where} has unknown key(s) {sorted(unknown)}; "
                                 f"known: {sorted(_SENSOR_KEYS)}")
        try:
            sensors.append(Sensor(**item))
        except TypeError as exc:
            raise SimConfigError(f"{where}: {exc}") from None
    return sensors


@dataclass
class SensorFleet:
    """Puts the uplinks of `sensors` (stations of ``air.world``) on ``air`` on a timer."""

    air: SimAir
    sensors: Sequence[Sensor]
    config: RadioConfig
    stats: Counter[str] = field(default_factory=Counter)
    fcnt: dict[str, int] = field(default_factory=dict)
    """The next frame counter of each sensor."""

    def __post_init__(self) -> None:
        world = self.air.world
        names = [s.name for s in self.sensors]
        if len(set(names)) != len(names):
            raise SimConfigError("a sensor is listed twice: sensor names must be unique")
        missing = [n for n in names if n not in world.names]
        if missing:
            raise SimConfigError(f"sensor(s) {missing} are not stations of the world: add "
                                 "them to the world file (a sensor stands somewhere)")
        self._index = {n: world.index_of(n) for n in names}

    @property
    def names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.sensors)

    def start(self) -> SensorFleet:
        """Schedule every sensor's first uplink (call before or while the air runs)."""
        scheduler = self.air.scheduler
        for sensor in self.sensors:
            self.fcnt.setdefault(sensor.name, 0)
            scheduler.schedule(scheduler.now + sensor.first_s, self._send, sensor)
        return self

    def _send(self, sensor: Sensor) -> None:
        scheduler = self.air.scheduler
        scheduler.schedule(scheduler.now + sensor.every_s, self._send, sensor)
        fcnt = self.fcnt[sensor.name]
        try:
            self.air.begin(self._index[sensor.name], sensor.frame(fcnt),
                           self.config)
        except RegulatoryLimitError as exc:  # duty cycle: this one stays silent
            self.stats["uplinks_refused"] += 1
            log = logger.warning if self.stats["uplinks_refused"] == 1 else logger.info
            log("sensor %s stayed silent: %s", sensor.name, exc)
            return
        self.fcnt[sensor.name] = fcnt + 1
        self.stats["uplinks_sent"] += 1

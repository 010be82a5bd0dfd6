"""Every setting of every process, declared once, as the typed sections the daemons read.

Each field of a section carries its declaration (type, help, default, check); the
loader, the sample writer and `coverage-net config check` all walk these classes,
so adding a setting here is the whole change. The daemons take a `HotspotConfig`,
`ValidatorConfig` or `RouterConfig` and never see TOML or the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, get_type_hints

from coverage_net.consensus import CoreConfig
from coverage_net.p2p import PeerConfigError, parse_bootstrap, parse_listen_addr
from coverage_net.radio import REGIONS, STATION_LIMITS, RegionError, get_region

from ._errors import ConfigError
from ._types import (
    BOOL,
    FLOAT,
    HOST_PORT,
    HOST_PORT_OR_OFF,
    INT,
    PATH,
    STR,
    STR_LIST,
    HostPort,
    Invalid,
    choice,
    setting,
    shown,
)

__all__ = [
    "ChainSettings", "ConsensusSettings", "DataSettings", "HotspotConfig",
    "IdentitySettings", "LocationSettings", "LogSettings", "MetricsSettings",
    "NetworkSettings", "RadioSettings", "RouterConfig", "SinkSettings",
    "ValidatorChainSettings", "ValidatorConfig", "KINDS", "RADIO_DRIVERS", "config_class",
]

# the driver names of `coverage-net bridge` (a simulator pty speaks "native")
RADIO_DRIVERS = ("native", "rn2483", "semtech-udp")
_SERIAL_BAUDRATES = {"native": 115200, "rn2483": 57600}
LOG_LEVELS = ("debug", "info", "warning", "error")


def _between(low: float, high: float, *, low_open: bool = False) -> Callable[[float], float]:
    def check(value: float) -> float:
        if value < low or value > high or (low_open and value == low):
            span = (f"greater than {low:g} and at most {high:g}" if low_open
                    else f"between {low:g} and {high:g}")
            raise Invalid(f"must be {span}; got {value:g}")
        return value
    return check


def _positive(value: int) -> int:
    if value <= 0:
        raise Invalid(f"must be greater than 0; got {value}")
    return value


def _not_negative(value: int) -> int:
    if value < 0:
        raise Invalid(f"must be 0 or more; got {value}")
    return value


def _each(parse: Callable[[str], Any], *, at_least_one: bool) -> Callable[[tuple], tuple]:
    """Check every address in a list with the network's own parser."""
    def check(values: tuple[str, ...]) -> tuple[str, ...]:
        if at_least_one and not values:
            raise Invalid("must list at least one address")
        for value in values:
            try:
                parse(value)
            except PeerConfigError as exc:
                # the network's message may quote the entry raw; a config error is one line
                raise Invalid(f"has a bad entry: {' '.join(str(exc).split())}") from None
        return values
    return check


def _region(value: str) -> str:
    try:
        return get_region(value).name
    except RegionError:
        raise Invalid(f"must be a region name ({', '.join(REGIONS)}); got {shown(value)}") from None


def _not_empty(value: str) -> str:
    if not value.strip():
        raise Invalid(f"must not be empty; got {shown(value)}")
    return value


def _needs_port(radio: Mapping[str, Any]) -> str | None:
    driver = radio["driver"]
    return None if driver == "semtech-udp" else f'when radio.driver is "{driver}"'


def _core_default(name: str) -> int:
    return CoreConfig.__dataclass_fields__[name].default


_GRACE_MS = 2_000
"""The validator's default wait for late reports (`coverage_net.node.ValidatorPoc`'s)."""
_HEIGHT_M = STATION_LIMITS["antenna_height_m"]
_GAIN_DBI = STATION_LIMITS["antenna_gain_dbi"]


# --- sections every process has -------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class IdentitySettings:
    key_file: Path = setting(
        PATH, "the node's ed25519 key file, as `coverage-net keys generate --out` writes it",
        default="{kind}.key")


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    listen: tuple[str, ...] = setting(
        STR_LIST, "multiaddrs to accept peers on, /ip4/HOST/tcp/PORT (port 0: any free port)",
        default=("/ip4/127.0.0.1/tcp/0",), check=_each(parse_listen_addr, at_least_one=True))
    bootstrap: tuple[str, ...] = setting(
        STR_LIST, "peers to dial at start, /ip4/HOST/tcp/PORT/p2p/PEER_ID",
        default=(), check=_each(parse_bootstrap, at_least_one=False))


@dataclass(frozen=True, kw_only=True)
class DataSettings:
    dir: Path = setting(PATH, "the directory of the node's SQLite store and state",
                        default="data")


@dataclass(frozen=True, kw_only=True)
class MetricsSettings:
    listen: HostPort | None = setting(
        HOST_PORT_OR_OFF, 'where to serve Prometheus metrics over HTTP, "HOST:PORT"; "" for off',
        default=HostPort("127.0.0.1", 0))


@dataclass(frozen=True, kw_only=True)
class ChainSettings:
    params: Path = setting(PATH, "the network parameters file (TOML or JSON) the chain runs on",
                           example="network-params.json")


@dataclass(frozen=True, kw_only=True)
class ValidatorChainSettings(ChainSettings):
    genesis: Path = setting(PATH, "the chain's genesis file (see `coverage-net chain genesis`)",
                            example="genesis.toml")
    dem_dir: Path | None = setting(
        PATH, "the directory of the DEM tiles the parameters' terrain model names (needed "
        "only when the propagation model is the terrain model)", default=None,
        example="dem")
    join: bool = setting(
        BOOL, "true for a key that is not in the genesis: follow the chain and vote from the "
        "height a change (`coverage-net chain change`) makes it a validator", default=False)
    grace_ms: int = setting(
        INT, "how long after an epoch closes to wait for its reports still in flight before "
        "fetching what is missing from the other validators and judging it, milliseconds "
        "(the epoch's height starts here once it is judged)", default=_GRACE_MS,
        check=_not_negative)


@dataclass(frozen=True, kw_only=True)
class LogSettings:
    level: str = setting(choice(*LOG_LEVELS), "how much the process logs", default="info")


# --- the hotspot's own ----------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class LocationSettings:
    lat: float = setting(FLOAT, "the hotspot's asserted latitude, degrees",
                         check=_between(-90, 90), example=44.2706)
    lon: float = setting(FLOAT, "the hotspot's asserted longitude, degrees",
                         check=_between(-180, 180), example=-71.3033)
    antenna_height_m: float = setting(
        FLOAT, "the antenna's height above ground, metres",
        default=5.0, check=_between(*_HEIGHT_M, low_open=True))
    antenna_gain_dbi: float = setting(FLOAT, "the antenna's gain, dBi",
                                      default=3.0, check=_between(*_GAIN_DBI))


@dataclass(frozen=True, kw_only=True)
class RadioSettings:
    driver: str = setting(
        choice(*RADIO_DRIVERS),
        "which kind of radio: a coverage-net devboard or simulator pty (native), "
        "a Microchip RN2483/RN2903 module (rn2483), or a Semtech UDP packet forwarder",
        default="native")
    port: str | None = setting(
        STR, "the serial port or pty of the radio (/dev/ttyACM0); native also takes HOST:PORT",
        default=None, required_when=_needs_port, check=_not_empty, example="/dev/ttyACM0")
    baudrate: int | None = setting(
        INT, "the serial speed (default 115200 for native, 57600 for rn2483)",
        default=lambda radio: _SERIAL_BAUDRATES.get(radio["driver"]), check=_positive)
    udp_listen: HostPort = setting(
        HOST_PORT, "where to listen for the packet forwarder (semtech-udp only)",
        default=HostPort("127.0.0.1", 1700))
    region: str = setting(STR, "the LoRaWAN region the radio works in", default="US915",
                          check=_region)


# --- the validator's own --------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class ConsensusSettings:
    timeout_propose_ms: int = setting(
        INT, "how long to wait for a round's proposal, milliseconds",
        default=_core_default("timeout_propose_ms"), check=_positive)
    timeout_prevote_ms: int = setting(
        INT, "how long to wait once 2f+1 prevotes disagree, milliseconds",
        default=_core_default("timeout_prevote_ms"), check=_positive)
    timeout_precommit_ms: int = setting(
        INT, "how long to wait once 2f+1 precommits disagree, milliseconds",
        default=_core_default("timeout_precommit_ms"), check=_positive)
    timeout_delta_ms: int = setting(
        INT, "how much each timeout grows per failed round, milliseconds",
        default=_core_default("timeout_delta_ms"), check=_not_negative)


# --- the router's own -----------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class SinkSettings:
    path: Path = setting(PATH, "the JSONL file the router appends bought uplinks to",
                         default="uplinks.jsonl")


# --- the processes --------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class _ProcessConfig:
    """The sections every process has; a process's own sections come first in its sample."""

    KIND: ClassVar[str]
    identity: IdentitySettings
    network: NetworkSettings
    chain: ChainSettings
    data: DataSettings
    metrics: MetricsSettings
    log: LogSettings


@dataclass(frozen=True, kw_only=True)
class HotspotConfig(_ProcessConfig):
    """What `coverage-net hotspot run` needs: where it stands, its radio, its network."""

    KIND: ClassVar[str] = "hotspot"
    location: LocationSettings
    radio: RadioSettings


@dataclass(frozen=True, kw_only=True)
class ValidatorConfig(_ProcessConfig):
    """What `coverage-net validator run` needs: its chain, its timeouts, its network."""

    KIND: ClassVar[str] = "validator"
    chain: ValidatorChainSettings
    consensus: ConsensusSettings


@dataclass(frozen=True, kw_only=True)
class RouterConfig(_ProcessConfig):
    """What `coverage-net router run` needs: where bought uplinks go, its network, and the
    chain's genesis (its receipts are dated in the chain's epochs)."""

    KIND: ClassVar[str] = "router"
    chain: ValidatorChainSettings
    sink: SinkSettings


_CLASSES = {cls.KIND: cls for cls in (HotspotConfig, ValidatorConfig, RouterConfig)}
KINDS = tuple(_CLASSES)

AnyConfig = HotspotConfig | ValidatorConfig | RouterConfig


def config_class(kind: str) -> type[AnyConfig]:
    """The configuration class of a process kind ("hotspot", "validator", "router")."""
    try:
        return _CLASSES[kind]
    except KeyError:
        raise ConfigError(f"unknown process kind {kind!r}; expected one of "
                          f"{', '.join(KINDS)}") from None


def sections(cls: type) -> list[tuple[str, type]]:
    """(section name, section class) of a configuration class, in order."""
    hints = get_type_hints(cls)
    own = set(vars(cls).get("__annotations__", {}))
    ordered = sorted(fields(cls), key=lambda f: f.name not in own)  # stable: own ones first
    return [(f.name, hints[f.name]) for f in ordered]

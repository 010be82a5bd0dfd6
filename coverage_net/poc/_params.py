"""Network parameters: one TOML file every node loads, hashed so all agree on it.

Consensus will put `NetworkParams.digest()` in the genesis block: a node whose file
differs in any value computes another digest and cannot join. The digest is the
SHA-256 of the canonical CBOR encoding (`coverage_net.messages.canonical_dumps`) of
the *normalized* parameters (`to_dict()`): defaults filled in, region names
canonical, hex lowercase, validators sorted (they are a set). So equal content gives
an equal digest whatever the TOML key order, formatting, comments or spelling of
defaults.

Everything the verifier compares is an integer (ms, Hz, centi-dB, centi-sigma), so a
verdict never depends on float rounding. Only the propagation model's own parameters
(e.g. the terrain model's k-factor) are floats: they feed the model, not a comparison.
Unknown keys are refused, so a typo cannot silently leave a default in force; every
error names the key path (``regions.US915.beacon.freq_hz``) and what was wrong.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from coverage_net.identity import PUBLIC_KEY_BYTES
from coverage_net.messages import canonical_dumps
from coverage_net.radio import (
    MODEL_NAMES,
    CoverageNetError,
    Model,
    Region,
    Terrain,
    get_region,
    model_from_name,
)

from ._errors import ParamsError
from ._param_checks import _hex, _int, _int_at, _join, _refuse_unknown, _table
from ._reward_params import RewardParams, reward_params

__all__ = [
    "DAY_MS", "VERIFIER_RULES", "BeaconParams", "NetworkParams", "PropagationParams",
    "VerifierParams", "load_params", "params_from_dict",
]

DAY_MS = 86_400_000
"""Milliseconds in a day: the unit of the challenge rate."""

VERIFIER_RULES = 6
"""The version of the verifier's rules this build implements. It goes up whenever a
change of rule would give other verdicts for the same reports and parameters:
1, the neighbour statistic counted per direction of a link; 2, counted per pair of
hotspots; 3, with the SNR spread check (`coverage_net.poc._snr_spread`); 4, with the
arrival-time check (`coverage_net.poc._arrival`); 5, its clock solve leaving out the
pairs of hosts that report early (`coverage_net.poc.solve_clocks`); 6, "early" there
meaning 75 ms instead of 150 (`coverage_net.poc.PAIR_EARLY_MS`). Parameters
name the rules their network runs (`VerifierParams.rules`), so
they are in the digest the genesis block holds, and a build refuses parameters that
name rules it does not implement: nodes on different rules then part at genesis, with
an error saying why, instead of disagreeing later on verdicts."""

_SHA256_HEX_CHARS = 64
_MODEL_ALIASES = {"cost231-hata": "cost231"}

ParamValue = int | float | str | bool | None


@dataclass(frozen=True)
class BeaconParams:
    """The one channel and data rate every hotspot of a region beacons and listens on.

    Hotspot radios and the simulated devboards demodulate one channel and data rate
    at a time, so the whole region must agree on them.
    """

    freq_hz: int
    spreading_factor: int
    bandwidth_hz: int


@dataclass(frozen=True)
class PropagationParams:
    """The path-loss model the verifier predicts RSSI with, by its `MODEL_NAMES` name.

    ``params`` holds every parameter of the model (defaults filled in), sorted by name.
    """

    model: str = "terrain"
    params: tuple[tuple[str, ParamValue], ...] = ()

    def build_model(self, terrain: Terrain | None = None) -> Model:
        """The model object; ``terrain`` is used by the terrain model (flat if None)."""
        return dataclasses.replace(model_from_name(self.model, terrain=terrain),
                                   **dict(self.params))


@dataclass(frozen=True)
class VerifierParams:
    """Every verifier threshold, as integers in the unit its name says."""

    rules: int = VERIFIER_RULES
    """The version of the verifier's rules the network runs (`VERIFIER_RULES`); this
    build accepts only its own."""
    rssi_sigma_centi_db: int = 600
    """Standard deviation of measured minus modelled RSSI, in 0.01 dB."""
    max_k_sigma_centi: int = 300
    """How many sigmas (x100) a witness RSSI may sit from the model before it is flagged."""
    min_distance_res11_cells: int = 8
    """Witnesses nearer than this many H3 resolution-11 cells to the beaconer are refused."""
    max_distance_m: int = 100_000
    """Witnesses farther than this from the beaconer are refused."""
    freq_tolerance_hz: int = 2_000
    """How far a witnessed frequency may be from the region's beacon channel."""
    max_arrival_lag_ms: int = 10_000
    """Latest a witness report may arrive after the beacon report, by host time."""
    max_rewarded_witnesses: int = 14
    """Witnesses rewarded per beacon, chosen in a deterministic order from the entropy."""
    max_witnesses_per_hotspot_per_epoch: int = 16
    """Witness reports one hotspot may file per epoch; the rest are refused."""
    free_space_allowance_centi_db: int = 1200
    """How far above free space a witness RSSI may be (antenna gain and measurement
    errors, constructive multipath) before it is refused as impossible."""
    noise_figure_centi_db: int = 600
    """Receiver noise figure the verifier assumes for the noise floor and sensitivity."""
    snr_tolerance_centi_db: int = 600
    """How far a witness's SNR may sit from RSSI minus the noise floor."""
    likely_margin_centi_sigma: int = 128
    """A receiver whose modelled RSSI is this many sigmas (x100) above sensitivity is
    likely to hear a beacon (1.28 sigma: 90 %); as far below, it is unlikely to."""
    neighbour_radius_m: int = 20_000
    """Hotspots this close to a beaconer are the neighbours judged for hearing it."""
    min_likely_neighbours: int = 3
    """A beacon is judged by its neighbours only when at least this many are likely hearers."""
    hotspot_window_epochs: int = 48
    """Epochs of link history judged for a hotspot's neighbour consistency (48 x 30 min = 1 day)."""
    hotspot_min_anomalies: int = 3
    """Fewer anomalous pairs than this (improbable hits and probable misses, a link and
    its reverse counted once) never flag a hotspot."""
    radio_clock_tolerance_ms: int = 2_000
    """How far one hotspot's radio-minus-host time may wander within an epoch (host
    clock steps, radio drift) before a report is taken for another radio's packet."""
    hotspot_z_centi: int = 350
    """A hotspot is flagged when its anomalous pairs exceed their expectation by this
    many (x100) Poisson standard deviations (plus `hotspot_min_anomalies` - 1)."""
    reciprocity_sigma_centi_db: int = 360
    """Standard deviation of one RSSI report about the link's true level (fading and
    measurement error, not the model's error): a link's two directions are compared with it."""
    reciprocity_miss_floor_ppm: int = 100_000
    """Chance that a receiver misses a beacon it should hear for reasons other than
    the path (collisions, its own transmission, a reboot)."""
    reciprocity_min_links: int = 6
    """A hotspot with fewer two-way links than this is never flagged for reciprocity."""
    min_unanswered_challenges: int = 2
    """A hotspot that witnesses but answered none of at least this many challenges in
    the window with a valid beacon is flagged (a key with no radio cannot beacon)."""
    min_unanswered_challengers: int = 2
    """... and those challenges came from at least this many different validators (f + 1
    for 3f + 1 validators: one lying challenger cannot silence a hotspot alone)."""
    reciprocity_z_centi: int = 400
    """A hotspot is flagged when its links' reciprocity terms exceed their expectation
    by this many (x100) standard deviations."""
    model_fit_sigma_centi_db: int = 350
    """Least standard deviation of the propagation model's error on a real link (its
    persistent shadowing and the antennas' gain errors, which no model knows): an honest
    hotspot's mean residuals over its links scatter about zero at least this much."""
    model_fit_min_links: int = 3
    """A hotspot heard on fewer links than this in the window is never flagged for its fit."""
    model_fit_tail_ppm: int = 1_000
    """A hotspot is flagged when its links fit the model so well that an honest hotspot's
    would fit as well with at most this chance (the chi-square lower tail, in ppm)."""
    snr_spread_sigma_centi_db: int = 25
    """Least standard deviation of a real radio's SNR minus (its RSSI minus the noise
    floor) from report to report: two estimators, each with its own error and rounding.
    An SX127x's whole-dB RSSI against its quarter-dB SNR alone give 0.29 dB, before any
    measurement error (the simulated radios': 1.15 dB)."""
    snr_spread_min_reports: int = 6
    """A hotspot with fewer unsaturated witness reports than this in the window is never
    flagged for its SNR spread."""
    snr_spread_tail_ppm: int = 1_000
    """A hotspot is flagged when its SNR follows its RSSI so exactly that an honest
    radio's would with at most this chance (the chi-square lower tail, in ppm)."""
    arrival_excess_max_ms: int = 150
    """A witness report that reached its host this much later than the two hosts' solved
    clock offsets allow is refused as a repeat of the beacon (`arrival_late`) and kept
    out of the hotspot statistics: a rebroadcast comes at least one beacon airtime late
    (SF10: about 0.3 s), host timestamps jitter by tens of ms."""
    arrival_min_reports: int = 3
    """A hotspot's clock offset is used once at least this many of its reports (as
    witness or beaconer) are in its estimate; until then its reports are not timed."""
    arrival_wait_epochs: int = 2
    """An untimed hit on a path the model does not find likely waits this many epochs
    at most for both clocks to be known (it could be a repeat), then counts untimed."""


_VERIFIER_MINIMUM = {"freq_tolerance_hz": 0, "min_distance_res11_cells": 0}
_MODEL_FIT_TAIL_LIMIT_PPM = 500_000  # a flag for fitting better than the median is no flag

_DEFAULT_REGIONS = {
    # SF10/125 kHz: the slowest rate every region offers on an uplink channel, and
    # short enough for a ~24-byte beacon under the 400 ms dwell limit of US915/AU915/AS923.
    "US915": BeaconParams(903_900_000, 10, 125_000),
    "EU868": BeaconParams(868_100_000, 10, 125_000),
    "AU915": BeaconParams(916_800_000, 10, 125_000),
    "AS923-1": BeaconParams(923_200_000, 10, 125_000),
    "KR920": BeaconParams(922_100_000, 10, 125_000),
    "IN865": BeaconParams(865_062_500, 10, 125_000),
}
_DEFAULT_DEM_TILES = {
    # NASADEM 3 arc-second tile of the White Mountains, the simulator's terrain
    "N44W072.hgt": "03548a0306d409a90d2d6fbf94ec1ca8d67d1e2e918d21637bbe40f60f9a30f2",
}


def _default_propagation() -> PropagationParams:
    return _propagation({}, "propagation")


@dataclass(frozen=True)
class NetworkParams:
    """The whole parameter tree; build it with `load_params` or `params_from_dict`.

    ``NetworkParams()`` is the default network (mainnet-like times).
    """

    epoch_length_ms: int = 1_800_000
    challenges_per_hotspot_per_day: int = 4
    challenge_window_ms: int = 300_000
    validators: tuple[bytes, ...] = ()
    """The challengers: ed25519 public keys, sorted."""
    regions: Mapping[str, BeaconParams] = field(
        default_factory=lambda: MappingProxyType(dict(_DEFAULT_REGIONS)))
    """Beacon channel and data rate by canonical region name (read-only)."""
    propagation: PropagationParams = field(default_factory=_default_propagation)
    dem_tiles: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(dict(_DEFAULT_DEM_TILES)))
    """DEM tile file name -> lowercase sha256 hex of its bytes (read-only)."""
    verifier: VerifierParams = field(default_factory=VerifierParams)
    rewards: RewardParams = field(default_factory=RewardParams)
    """Emission, pools and the HIP-15/17 constants (`coverage_net.poc._reward_params`)."""

    def __hash__(self) -> int:
        # the read-only mappings are unhashable; equal parameters have equal digests
        return hash(self.digest())

    def beacon(self, region: str) -> BeaconParams:
        """The beacon channel of a region (any spelling `get_region` accepts)."""
        try:
            name = get_region(region).name
        except CoverageNetError as exc:
            raise ParamsError(str(exc)) from None
        if name not in self.regions:
            raise ParamsError(f"region {name} has no beacon channel in the network parameters; "
                              f"configured: {', '.join(sorted(self.regions))}")
        return self.regions[name]

    def to_dict(self) -> dict[str, object]:
        """The normalized parameters as plain TOML-able data (`params_from_dict` inverts it).

        A model parameter left at None (e.g. the terrain model's sample spacing) is
        kept as None here; TOML has no null, so omit such a key in a file.
        """
        return {
            "epoch_length_ms": self.epoch_length_ms,
            "challenges_per_hotspot_per_day": self.challenges_per_hotspot_per_day,
            "challenge_window_ms": self.challenge_window_ms,
            "validators": [key.hex() for key in self.validators],
            "regions": {name: {"beacon": dataclasses.asdict(beacon)}
                        for name, beacon in sorted(self.regions.items())},
            "propagation": {"model": self.propagation.model,
                            "params": dict(self.propagation.params)},
            "dem_tiles": dict(sorted(self.dem_tiles.items())),
            "verifier": dataclasses.asdict(self.verifier),
            "rewards": self.rewards.to_dict(),
        }

    def digest(self) -> bytes:
        """SHA-256 of the canonical CBOR of `to_dict()`: what the genesis block will hold."""
        return hashlib.sha256(canonical_dumps(self.to_dict())).digest()


def load_params(path: str | Path) -> NetworkParams:
    """Read and check a network parameters file (TOML, or JSON when it ends in ``.json``);
    `ParamsError` names what is wrong."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ParamsError(f"cannot read network parameters {path}: "
                          f"{exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path}: not UTF-8 text (byte {exc.start}); "
                          f"a network parameters file is TOML") from None
    try:
        # JSON holds `to_dict()` as a node writes it beside its data; TOML is what people edit
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParamsError(f"{path}: not valid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ParamsError(f"{path}: not valid JSON: {exc}") from None
    try:
        return params_from_dict(data)
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None


def params_from_dict(data: Mapping[str, object]) -> NetworkParams:
    """Check and normalize parsed parameters; absent keys take their defaults."""
    top = _table(data, "")
    _refuse_unknown(top, {f.name for f in dataclasses.fields(NetworkParams)}, "")
    defaults = NetworkParams()
    epoch_ms = _int(top, "epoch_length_ms", defaults.epoch_length_ms, minimum=1)
    rate = _int(top, "challenges_per_hotspot_per_day",
                defaults.challenges_per_hotspot_per_day, minimum=1)
    if rate * epoch_ms > DAY_MS:
        raise ParamsError(
            f"challenges_per_hotspot_per_day: {rate} a day with epoch_length_ms={epoch_ms} "
            f"needs more than one challenge per hotspot per epoch; lower the rate to at most "
            f"{DAY_MS // epoch_ms} or shorten the epoch")
    window_ms = _int(top, "challenge_window_ms",
                     min(defaults.challenge_window_ms, epoch_ms), minimum=1)
    if window_ms > epoch_ms:
        raise ParamsError(f"challenge_window_ms: {window_ms} is longer than the epoch "
                          f"(epoch_length_ms={epoch_ms}); a challenge must close within it")
    regions = (_regions(top["regions"], "regions") if "regions" in top
               else defaults.regions)
    tiles = (_dem_tiles(top["dem_tiles"], "dem_tiles") if "dem_tiles" in top
             else defaults.dem_tiles)
    return NetworkParams(
        epoch_length_ms=epoch_ms,
        challenges_per_hotspot_per_day=rate,
        challenge_window_ms=window_ms,
        validators=_validators(top.get("validators", []), "validators"),
        regions=MappingProxyType(dict(regions)),
        propagation=_propagation(top.get("propagation", {}), "propagation"),
        dem_tiles=MappingProxyType(dict(tiles)),
        verifier=_verifier(top.get("verifier", {}), "verifier"),
        rewards=reward_params(top.get("rewards", {}), "rewards"),
    )


def _validators(value: object, path: str) -> tuple[bytes, ...]:
    if not isinstance(value, list | tuple):
        raise ParamsError(f"{path}: must be a list of hex ed25519 public keys, got {value!r}")
    keys = [_hex(item, f"{path}[{i}]", PUBLIC_KEY_BYTES, "an ed25519 public key")
            for i, item in enumerate(value)]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise ParamsError(f"{path}[{i}]: validator {key.hex()} is listed twice")
    return tuple(sorted(keys))


def _regions(value: object, path: str) -> dict[str, BeaconParams]:
    table = _table(value, path)
    if not table:
        raise ParamsError(f"{path}: at least one region needs a beacon channel")
    regions: dict[str, BeaconParams] = {}
    for key, region_value in table.items():
        region_path = _join(path, key)
        try:
            region = get_region(key)
        except CoverageNetError as exc:
            raise ParamsError(f"{region_path}: {exc}") from None
        if region.name in regions:
            raise ParamsError(f"{region_path}: region {region.name} is given twice")
        region_table = _table(region_value, region_path)
        _refuse_unknown(region_table, {"beacon"}, region_path)
        if "beacon" not in region_table:
            raise ParamsError(f"{region_path}.beacon: missing; give freq_hz, "
                              f"spreading_factor and bandwidth_hz")
        regions[region.name] = _beacon(region, region_table["beacon"], f"{region_path}.beacon")
    return regions


def _channel_rates(region: Region) -> dict[int, set[int]]:
    """Every channel centre frequency of the region -> the data rate indices it carries."""
    rates: dict[int, set[int]] = {}
    for channel in (*region.uplink_channels, *region.downlink_channels, region.rx2_channel):
        rates.setdefault(channel.freq_hz, set()).update(channel.data_rates)
    for freq_hz in region.beacon_freqs_hz:
        rates.setdefault(freq_hz, set()).add(region.beacon_data_rate)
    return rates


def _beacon(region: Region, value: object, path: str) -> BeaconParams:
    table = _table(value, path)
    names = [f.name for f in dataclasses.fields(BeaconParams)]
    _refuse_unknown(table, set(names), path)
    for name in names:
        if name not in table:
            raise ParamsError(f"{_join(path, name)}: missing")
    freq_hz, sf, bandwidth_hz = (_int_at(path, table, name, 0, minimum=1)
                                 for name in names)
    channels = _channel_rates(region)
    if freq_hz not in channels:
        sample = ", ".join(f"{f / 1e6:g} MHz" for f in sorted(channels)[:4])
        raise ParamsError(
            f"{path}.freq_hz: {freq_hz} ({freq_hz / 1e6:g} MHz) is not a channel of "
            f"{region.name}; give a channel centre frequency such as {sample}")
    try:
        region.data_rate_for(sf, bandwidth_hz)
    except CoverageNetError as exc:
        raise ParamsError(f"{path}.spreading_factor: {exc}") from None
    offered = {rate.index for rate in region.data_rates
               if (rate.spreading_factor, rate.bandwidth_hz) == (sf, bandwidth_hz)}
    if not offered & channels[freq_hz]:
        raise ParamsError(
            f"{path}: SF{sf}/{bandwidth_hz // 1000} kHz is not carried on "
            f"{freq_hz / 1e6:g} MHz in {region.name}; pick a channel that carries it")
    return BeaconParams(freq_hz, sf, bandwidth_hz)


def _propagation(value: object, path: str) -> PropagationParams:
    table = _table(value, path)
    _refuse_unknown(table, {"model", "params"}, path)
    name = table.get("model", PropagationParams.model)
    if not isinstance(name, str):
        raise ParamsError(f"{path}.model: must be a model name, got {name!r}")
    key = name.strip().lower().replace("_", "-")
    key = _MODEL_ALIASES.get(key, key)
    if key not in MODEL_NAMES:
        raise ParamsError(f"{path}.model: unknown path-loss model {name!r}; choose one of: "
                          f"{', '.join(MODEL_NAMES)}")
    default_model = model_from_name(key)
    params_path = f"{path}.params"
    given = _table(table.get("params", {}), params_path)
    known = {f.name: getattr(default_model, f.name)
             for f in dataclasses.fields(default_model) if f.name != "terrain"}
    _refuse_unknown(given, set(known), params_path)
    values = {name: _model_value(given.get(name, default), default, _join(params_path, name))
              for name, default in known.items()}
    try:
        dataclasses.replace(default_model, **values)
    except CoverageNetError as exc:
        raise ParamsError(f"{params_path}: {exc}") from None
    return PropagationParams(model=key, params=tuple(sorted(values.items())))


def _model_value(value: object, default: ParamValue, path: str) -> ParamValue:
    """Coerce to the type of the model's default, so `gamma = 2` and `2.0` hash alike."""
    if isinstance(default, bool) or isinstance(default, str):
        if type(value) is not type(default):
            raise ParamsError(f"{path}: must be a {type(default).__name__}, got {value!r}")
        return value
    if value is None and default is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParamsError(f"{path}: must be a number, got {value!r}")
    if isinstance(default, int):
        if not isinstance(value, int):
            raise ParamsError(f"{path}: must be an integer, got {value!r}")
        return value
    if not math.isfinite(value):
        raise ParamsError(f"{path}: must be finite, got {value!r}")
    return float(value)


def _dem_tiles(value: object, path: str) -> dict[str, str]:
    table = _table(value, path)
    tiles: dict[str, str] = {}
    for name, digest in table.items():
        tile_path = _join(path, str(name))
        if not isinstance(name, str) or not name.strip():
            raise ParamsError(f"{tile_path}: a tile needs a file name")
        tiles[name] = _hex(digest, tile_path, _SHA256_HEX_CHARS // 2, "a sha256").hex()
    return tiles


def _verifier(value: object, path: str) -> VerifierParams:
    table = _table(value, path)
    defaults = VerifierParams()
    names = [f.name for f in dataclasses.fields(VerifierParams)]
    _refuse_unknown(table, set(names), path)
    values = {name: _int_at(path, table, name, getattr(defaults, name),
                             minimum=_VERIFIER_MINIMUM.get(name, 1))
              for name in names}
    if values["rules"] != VERIFIER_RULES:
        raise ParamsError(
            f"{path}.rules: these parameters name verifier rules {values['rules']}, and this "
            f"build of coverage-net implements rules {VERIFIER_RULES} only: its verdicts "
            f"would differ from those of the network's other nodes. Run a build that "
            f"implements rules {values['rules']}, or set rules = {VERIFIER_RULES} "
            f"(a new network, or a parameter change every validator makes at one height)")
    for name in ("model_fit_tail_ppm", "snr_spread_tail_ppm"):
        if values[name] >= _MODEL_FIT_TAIL_LIMIT_PPM:
            raise ParamsError(f"{path}.{name}: must be below {_MODEL_FIT_TAIL_LIMIT_PPM}"
                              f" (a lower tail, in ppm), got {values[name]}")
    return VerifierParams(**values)

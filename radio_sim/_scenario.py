"""Scenario runs in virtual time: hotspots beacon, the channel decides who hears them.

Every sender transmits `beacons_per_day` frames, as a Poisson process or as
LoRaSim's renewal process (`_traffic`), each on a channel of its region's uplink
plan (drawn per frame or fixed per node) with its node's setting (`_nodes`: the
scenario's data rate or raw SF/BW, chosen by link budget, or given by name), to
every hotspot or to the receivers `receivers` names (`_layout`). Each
packet's receptions go to a link table (CSV, one row per receiver that heard the
packet within `report_margin_db` of its sensitivity: delivered, or lost and why)
and are counted into a summary. A run is a pure function of its `Scenario`:
the same seed gives a byte-identical link table.

The `lorasim` preset reproduces LoRaSim's setting (Bor et al. 2016): its
log-distance constants, its measured sensitivity table, 14 dBm, 20-byte packets,
SF12/125 kHz, one receiver at the centre, nodes uniformly within its range, and
the simple collision model.

`Scenario.impairments` (an `Impairments`, or a mapping of its keys) puts fading,
measurement error and antenna gain error on the air; all off by default, so a
scenario without them gives the link table it always gave.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from coverage_net.radio import (
    LORASIM,
    LORASIM_SENSITIVITY_DBM,
    MODEL_NAMES,
    get_region,
    model_from_name,
)

from ._channel import REASONS, Channel, ReceptionBatch, Transmission
from ._engine import Scheduler
from ._errors import RegulatoryLimitError, SimConfigError
from ._impairments import Impairments
from ._layout import build_world, check_receivers, place_receivers
from ._nodes import SETTING_RULES, NodeRadios, choose_settings, with_powers
from ._traffic import TRAFFIC_MODELS, arrivals
from ._world import World

DAY_S = 86_400.0
LINK_COLUMNS = ("packet_id", "start_s", "transmitter", "receiver", "freq_hz",
                "spreading_factor", "rssi_dbm", "snr_db", "delivered", "reason")


@dataclass(frozen=True)
class Scenario:
    """Everything a run depends on (it is written into the summary)."""

    hotspots: int = 1000
    beacons_per_day: float = 4.0
    days: float = 1.0
    region: str = "US915"
    seed: int = 0
    model: str = "hata-suburban"
    collision: str = "capture"
    shadowing_sigma_db: float = 0.0
    sensitivity: str = "textbook"
    data_rate: int | None = None  # None: the region's slowest 125 kHz uplink data rate
    payload_bytes: int = 20
    tx_power_dbm: float = 20.0
    gain_dbi: float = 3.0
    height_m: float = 10.0
    density_per_km2: float = 0.01  # with Hata-suburban rooftop links: ~25 witnesses per beacon
    center: tuple[float, float] = (44.5, -71.5)
    max_demodulators: int | None = 8  # an SX130x concentrator demodulates 8 packets at once
    receivers: str | int | tuple[str, ...] = "all"  # "all", "central", a count, or names
    world_file: str | None = None
    report_margin_db: float = 10.0
    max_range_m: float = 100_000.0
    channel_count: int | None = None  # use only the first k channels carrying the data rate
    regulatory_limits: bool = True  # enforce duty cycle and dwell time on transmit
    impairments: Impairments = Impairments()  # all off
    coding_rate: int = 5  # 4/5 .. 4/8
    spreading_factor: int | None = None  # with bandwidth_hz: a raw setting instead of data_rate
    bandwidth_hz: int | None = None
    node_settings: str = "fixed"  # or "distance", "distance-power", "adr" (see _nodes)
    choose_from: str = "region"  # settings the rules pick from: "region" or "lorasim"
    nodes: Mapping[str, Mapping] = field(default_factory=dict, hash=False)  # by name
    channels: str = "drawn"  # "drawn" per packet or "fixed" per node
    traffic: str = "poisson"  # or "renewal": an exponential gap after each own frame
    world_seed: int | None = None  # seed of the generated positions (None: seed)
    radius_m: float | None = None  # generated world: disk radius instead of the density

    def __post_init__(self) -> None:
        if isinstance(self.impairments, Mapping):  # scenario keys, e.g. from a JSON file
            object.__setattr__(self, "impairments", Impairments.from_mapping(self.impairments))
        if not isinstance(self.impairments, Impairments):
            raise SimConfigError(f"impairments must be an Impairments or a mapping of its "
                                 f"keys, got {type(self.impairments).__name__}")
        if self.model not in MODEL_NAMES:
            raise SimConfigError(f"model {self.model!r} is not one of {list(MODEL_NAMES)}")
        if isinstance(self.receivers, list):
            object.__setattr__(self, "receivers", tuple(self.receivers))
        check_receivers(self.receivers)
        if not isinstance(self.nodes, Mapping):
            raise SimConfigError(f"nodes must map hotspot names to settings, got "
                                 f"{type(self.nodes).__name__}")
        object.__setattr__(self, "nodes", {k: dict(v) if isinstance(v, Mapping) else v
                                           for k, v in self.nodes.items()})
        for name, allowed in (("channels", ("drawn", "fixed")), ("traffic", TRAFFIC_MODELS),
                              ("node_settings", SETTING_RULES),
                              ("choose_from", ("region", "lorasim"))):
            if getattr(self, name) not in allowed:
                raise SimConfigError(f"{name} {getattr(self, name)!r} is not one of "
                                     f"{list(allowed)}")
        if (self.spreading_factor is None) != (self.bandwidth_hz is None):
            raise SimConfigError("give spreading_factor and bandwidth_hz together (or "
                                 "neither, for data_rate)")
        if self.radius_m is not None and not (math.isfinite(self.radius_m)
                                              and self.radius_m > 0):
            raise SimConfigError(f"radius_m must be > 0, got {self.radius_m}")
        for name in ("beacons_per_day", "days", "density_per_km2"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise SimConfigError(f"{name} must be > 0, got {value}")
        if self.world_file is None and self.hotspots < 1:
            raise SimConfigError(f"hotspots must be >= 1, got {self.hotspots}")
        if self.channel_count is not None and self.channel_count < 1:
            raise SimConfigError(f"channel_count must be >= 1, got {self.channel_count}")
        if not 1 <= self.payload_bytes <= 255:
            raise SimConfigError(f"payload_bytes must be 1..255, got {self.payload_bytes}")


def lorasim_preset(nodes: int = 100, *, avg_send_time_s: float = 1000.0, seed: int = 0,
                   **overrides) -> Scenario:
    """LoRaSim's setting: `nodes` senders (SF12/125 kHz, EU868 DR0) uniformly within range of
    one receiver, each sending on average every `avg_send_time_s`."""
    budget_db = 14.0 - LORASIM_SENSITIVITY_DBM[(12, 125_000)]
    max_dist_m = LORASIM.d0_m * 10 ** ((budget_db - LORASIM.pl0_db) / (10 * LORASIM.gamma))
    # uniform in a disk of radius 0.95 max_dist: every node in range of the centre
    area_km2 = math.pi * (0.95 * max_dist_m / 1e3) ** 2
    settings = dict(hotspots=nodes + 1, beacons_per_day=DAY_S / avg_send_time_s, seed=seed,
                    model="lorasim", collision="simple", sensitivity="lorasim",
                    payload_bytes=20, tx_power_dbm=14.0, gain_dbi=0.0, region="EU868",
                    density_per_km2=(nodes + 1) / area_km2, receivers="central",
                    max_demodulators=None, channel_count=1, regulatory_limits=False)
    settings.update(overrides)
    return Scenario(**settings)


def _data_rate(region, index: int | None):
    if index is not None:
        return region.data_rate(index)
    rates = [region.data_rate(i) for ch in region.uplink_channels for i in ch.data_rates]
    rates = [r for r in rates if r.bandwidth_hz == 125_000]
    return max(rates, key=lambda r: r.spreading_factor)


@dataclass
class RunResult:
    summary: dict
    link_table: Path
    summary_path: Path


def _csv_field(text: str) -> str:
    """A CSV field as the csv module would quote it (minimal quoting)."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


class _LinkTable:
    """The link table, one CSV row per reported reception, in event order.

    Rows are formatted with one f-string each (names are escaped once per world):
    a 10,000-hotspot day writes millions of rows.
    """

    def __init__(self, path: Path, world: World, receivers: np.ndarray | None) -> None:
        self.path = path
        self._names = np.array([_csv_field(n) for n in world.names], dtype=object)
        self._receivers = receivers
        self._fh = open(path, "w", encoding="utf-8", newline="")
        self._fh.write(",".join(LINK_COLUMNS) + "\n")
        self.rows = 0

    def write(self, batch: ReceptionBatch) -> ReceptionBatch:
        if self._receivers is not None and len(batch):
            keep = np.isin(batch.receivers, self._receivers)
            batch = ReceptionBatch(batch.tx, batch.receivers[keep], batch.rssi_dbm[keep],
                                   batch.snr_db[keep], batch.delivered[keep],
                                   batch.reason[keep])
        if not len(batch):
            return batch
        tx = batch.tx
        head = (f"{tx.packet_id},{tx.start_s:.6f},{self._names[tx.transmitter]},")
        tail = f",{tx.freq_hz},{tx.spreading_factor},"
        self._fh.write("".join(
            f"{head}{rx}{tail}{p:.2f},{q:.2f},{int(k)},{r}\n"
            for rx, p, q, k, r in zip(self._names[batch.receivers].tolist(),
                                      batch.rssi_dbm.tolist(), batch.snr_db.tolist(),
                                      batch.delivered.tolist(), batch.reason.tolist(),
                                      strict=True)))
        self.rows += len(batch)
        return batch

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


def _setting(s: Scenario, region) -> tuple[int, int]:
    """The scenario's (SF, BW): a raw setting, or its data rate's."""
    if s.spreading_factor is not None:
        return s.spreading_factor, s.bandwidth_hz
    dr = _data_rate(region, s.data_rate)
    return dr.spreading_factor, dr.bandwidth_hz


def _channel_plan(region, s: Scenario, radios: NodeRadios) -> dict[int, list[int]]:
    """Uplink frequencies by bandwidth: the region's channels of that width (all of its
    channels when it has none, which only a run without regulatory limits accepts)."""
    plan: dict[int, list[int]] = {}
    for bw in sorted(set(radios.bandwidth_hz.tolist())):
        freqs = [ch.freq_hz for ch in region.uplink_channels
                 if any(region.data_rate(i).bandwidth_hz == bw for i in ch.data_rates)]
        freqs = freqs or [ch.freq_hz for ch in region.uplink_channels]
        plan[bw] = freqs[:s.channel_count] if s.channel_count is not None else freqs
    return plan


def _channel_for(s: Scenario, world: World, model) -> Channel:
    return Channel(world, model=model, collision=s.collision,
                   shadowing_sigma_db=s.shadowing_sigma_db, seed=s.seed,
                   sensitivity=s.sensitivity, max_demodulators=s.max_demodulators,
                   report_margin_db=s.report_margin_db, max_range_m=s.max_range_m,
                   regulatory_limits=s.regulatory_limits, impairments=s.impairments)


def run_scenario(s: Scenario, out_dir: str | os.PathLike,
                 progress: Callable[[float, float], None] | None = None) -> RunResult:
    """Run `s` in virtual time; write link_table.csv and summary.json into `out_dir`."""
    started = time.perf_counter()
    region = get_region(s.region)
    world, receivers = place_receivers(build_world(s), s)
    model = model_from_name(s.model)
    channel = _channel_for(s, world, model)
    listening = np.arange(len(world)) if receivers is None else receivers
    senders = np.setdiff1d(np.arange(len(world)), listening) if receivers is not None \
        else np.arange(len(world))
    base = _setting(s, region)
    radios = choose_settings(
        s, region, world, senders, listening, model, base,
        lambda r, sf, bw: channel.threshold_dbm(np.array([r]), sf, bw)[0],
        lambda r, bw: channel.noise_floor_dbm(np.array([r]), bw)[0],
        region.uplink_channels[0].freq_hz)
    if (radios.tx_power_dbm != s.tx_power_dbm).any():  # the channel's range reads them
        world = with_powers(world, radios.tx_power_dbm)
        channel = _channel_for(s, world, model)
    plan = _channel_plan(region, s, radios)
    rng = np.random.default_rng(s.seed)
    horizon_s = s.days * DAY_S
    start_s, sender = arrivals(s.traffic, rng, senders, s.beacons_per_day / DAY_S,
                               radios.airtime_s, horizon_s)
    n_freqs = np.array([len(plan[int(b)]) for b in radios.bandwidth_hz.tolist()])
    if s.channels == "fixed":  # one channel per node, drawn once
        chan = rng.integers(0, n_freqs)[sender]
    elif len(set(n_freqs.tolist())) == 1:
        chan = rng.integers(0, int(n_freqs[0]), len(start_s))
    else:
        chan = rng.integers(0, n_freqs[sender])

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = _LinkTable(out / "link_table.csv", world, receivers)
    counts: Counter[str] = Counter()
    witnesses: list[int] = []
    refused: Counter[str] = Counter()
    scheduler = Scheduler()

    def begin(tx: Transmission) -> None:
        try:
            channel.begin(tx)
        except RegulatoryLimitError as exc:
            refused[type(exc).__name__] += 1
            return
        scheduler.schedule(tx.end_s, finish, tx.packet_id)

    def finish(packet_id: int) -> None:
        batch = table.write(channel.end_batch(packet_id))
        counts.update(batch.reason.tolist())
        witnesses.append(int(batch.delivered.sum()))

    r = radios
    for k in range(len(start_s)):
        i = int(sender[k])
        tx = Transmission(k, i, float(start_s[k]), float(r.airtime_s[i]),
                          plan[int(r.bandwidth_hz[i])][int(chan[k])],
                          int(r.spreading_factor[i]), int(r.bandwidth_hz[i]),
                          int(r.coding_rate[i]), float(r.tx_power_dbm[i]), b"")
        scheduler.schedule(tx.start_s, begin, tx)
    try:
        scheduler.run(progress=(lambda t: progress(t, horizon_s)) if progress else None,
                      progress_every=2_000)
    finally:
        table.close()
    summary = _summary(s, world, counts, witnesses, refused, len(start_s), radios, senders,
                       time.perf_counter() - started, scheduler.events_run)
    summary_path = out / "summary.json"
    tmp = summary_path.with_name("summary.json.tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, summary_path)
    return RunResult(summary, table.path, summary_path)


def _summary(s, world, counts, witnesses, refused, scheduled, radios: NodeRadios, senders,
             wall_s, events) -> dict:
    w = np.array(witnesses, dtype=int)
    audible = sum(counts[r] for r in REASONS if r not in ("below_sensitivity",
                                                          "snr_below_floor"))
    transmitted = scheduled - sum(refused.values())
    first = int(senders[0]) if len(senders) else 0
    return {
        "scenario": asdict(s),
        "hotspots": len(world),
        "spreading_factor": int(radios.spreading_factor[first]),
        "bandwidth_hz": int(radios.bandwidth_hz[first]),
        "airtime_s": round(float(radios.airtime_s[first]), 6),
        "settings": radios.settings(senders),
        "beacons_scheduled": scheduled,
        "beacons_transmitted": transmitted,
        "beacons_refused": dict(refused),
        # LoRaSim's data extraction rate: frames that reached at least one receiver
        "der": round(int((w > 0).sum()) / transmitted, 6) if transmitted else None,
        "receptions_reported": sum(counts.values()),
        "by_reason": {r: counts[r] for r in REASONS},
        # among receptions strong enough to be decoded, the share that was
        "delivery_ratio": round(counts["delivered"] / audible, 6) if audible else None,
        "collisions": counts["collision"],
        "witnesses_per_beacon": {
            "mean": round(float(w.mean()), 4) if len(w) else 0.0,
            "median": float(np.median(w)) if len(w) else 0.0,
            "p90": float(np.percentile(w, 90)) if len(w) else 0.0,
            "max": int(w.max()) if len(w) else 0,
            "none": int((w == 0).sum()),
        },
        "events": events,
        "wall_time_s": round(wall_s, 3),
    }

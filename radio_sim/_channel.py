"""The LoRa channel: who hears a transmission, and whether it survives.

An object of its own, driven by whatever scheduler calls it: `begin(tx)` when a
packet goes on the air, `end(packet_id)` when it is over, which returns one
`Reception` per receiver that heard it (delivered, or lost and why). It never
reads a clock; times come with the transmissions.

Physics, per receiver j of a packet from i:

* received power = tx power + gain_i + gain_j - path loss (any
  `coverage_net.radio` model, terrain included) + the link's shadowing (a
  seeded draw that is the same for i->j and j->i);
* with `impairments=` (`Impairments`, all off by default): the gains are the
  antennas' true gains (asserted + a fixed per-hotspot error, used both when
  sending and receiving), the received power carries per-packet Rician fading
  (it decides reception and interference), and the RSSI and SNR a radio reports
  carry measurement error and the radio's quantisation;
* with `clutter=` (`ClutterField`, off by default): each end of a link loses the
  hidden clutter of its H3 area, which the propagation model does not know;
* SNR = received power - thermal noise floor (bandwidth, j's noise figure);
* reception needs the sensitivity of the SF/BW (`sensitivity=`: the textbook
  noise floor + SNR floor, LoRaSim's measured table, or the SX1276 datasheet)
  and an SNR at or above the SF's demodulation floor;
* a radio that transmits at any time during the packet hears nothing of it
  (half duplex); at most `max_demodulators` packets are demodulated at once
  (earlier starts first);
* collisions with packets overlapping in time on the same frequency:
  `"simple"` (LoRaSim: any same-SF overlap destroys both), `"capture"` (same SF:
  a packet survives if it is `capture_threshold_db` stronger than every
  interferer), `"inter-sf"` (capture, plus other-SF interferers judged against
  Goursaud's SIR isolation matrix), and two rules that also ask when the
  interferer overlaps (`_collisions`): `"capture-timing"` (Bor et al. 2016: only
  an overlap of the critical section, then the power rule) and `"capture-lock"`
  (also: a frame that starts after another's preamble cannot take the receiver,
  after Rahmadhani & Kuipers 2018).

Candidate receivers come from the world's H3 neighbourhoods within the range
at which the best receiver could still hear the packet (at the fading's largest
gain), never from all pairs.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from coverage_net.radio import (
    LORASIM_SENSITIVITY_DBM,
    MAX_REPORTED_SNR_DB,
    SX1276_SENSITIVITY_DBM,
    FreeSpace,
    ITMModel,
    Model,
    RegionError,
    Sites,
    TerrainModel,
    get_region,
    path_loss_db,
    shadowing_db,
    thermal_noise_floor_dbm,
)

from ._clutter import ClutterField
from ._collisions import capture_lock_lost, capture_timing_lost
from ._errors import DutyCycleError, DwellTimeError, SimConfigError
from ._impairments import Impairments
from ._lora import SF6_SENSITIVITY_DBM, snr_floor
from ._world import World

REASONS = ("delivered", "below_sensitivity", "snr_below_floor", "half_duplex",
           "no_demodulator", "collision")

# Minimum SIR (dB) for the desired packet (row, SF7..SF12) to survive an
# interferer (column, SF7..SF12) on the same channel. Goursaud & Gorce,
# "Dedicated networks for IoT: PHY/MAC state of the art and challenges",
# EAI Endorsed Trans. IoT 2015, table 3 (as used by Croce et al. 2018).
GOURSAUD_SIR_DB = np.array([
    [6.0, -16.0, -18.0, -19.0, -19.0, -20.0],
    [-24.0, 6.0, -20.0, -22.0, -22.0, -22.0],
    [-27.0, -27.0, 6.0, -23.0, -25.0, -25.0],
    [-30.0, -30.0, -30.0, 6.0, -26.0, -28.0],
    [-33.0, -33.0, -33.0, -33.0, 6.0, -29.0],
    [-36.0, -36.0, -36.0, -36.0, -36.0, 6.0],
])


class CollisionModel(StrEnum):
    SIMPLE = "simple"
    CAPTURE = "capture"
    INTER_SF = "inter-sf"
    CAPTURE_TIMING = "capture-timing"  # Bor et al., MSWiM 2016 (LoRaSim's full check)
    CAPTURE_LOCK = "capture-lock"  # + Rahmadhani & Kuipers, WiNTECH 2018


@dataclass(frozen=True)
class Transmission:
    """One packet on the air."""

    packet_id: int
    transmitter: int
    start_s: float
    airtime_s: float
    freq_hz: int
    spreading_factor: int
    bandwidth_hz: int
    coding_rate: int
    tx_power_dbm: float  # conducted
    payload: bytes = b""

    @property
    def end_s(self) -> float:
        return self.start_s + self.airtime_s


@dataclass(frozen=True)
class Reception:
    """What one receiver made of one packet."""

    packet_id: int
    transmitter: int
    receiver: int
    rssi_dbm: float
    snr_db: float
    delivered: bool
    reason: str  # one of REASONS


@dataclass(frozen=True)
class ReceptionBatch:
    """The receptions of one packet as arrays (what the scenario runner writes out)."""

    tx: Transmission
    receivers: np.ndarray  # hotspot indices
    rssi_dbm: np.ndarray
    snr_db: np.ndarray
    delivered: np.ndarray  # bool
    reason: np.ndarray  # object array of REASONS

    def __len__(self) -> int:
        return len(self.receivers)

    def receptions(self) -> list[Reception]:
        tx = self.tx
        return [Reception(tx.packet_id, tx.transmitter, int(j), float(p), float(s), bool(k),
                          str(r))
                for j, p, s, k, r in zip(self.receivers.tolist(), self.rssi_dbm.tolist(),
                                         self.snr_db.tolist(), self.delivered.tolist(),
                                         self.reason.tolist(), strict=True)]


@dataclass
class _OnAir:
    tx: Transmission
    receivers: np.ndarray  # sorted hotspot indices (candidates)
    rx_dbm: np.ndarray  # received power at each


class Channel:
    """Decides receptions for a `World`; see the module docstring for the physics."""

    def __init__(self, world: World, *, model: Model, collision: str = "capture",
                 capture_threshold_db: float = 6.0, shadowing_sigma_db: float = 0.0,
                 seed: int = 0, sensitivity: str = "textbook",
                 max_demodulators: int | None = None, max_range_m: float = 100_000.0,
                 report_margin_db: float = 10.0, regulatory_limits: bool = True,
                 link_cache: int = 4096, impairments: Impairments | None = None,
                 clutter: ClutterField | None = None) -> None:
        try:
            self.collision = CollisionModel(collision)
        except ValueError:
            raise SimConfigError(f"collision model {collision!r} is not one of "
                                 f"{[c.value for c in CollisionModel]}") from None
        if sensitivity not in ("textbook", "lorasim", "sx1276"):
            raise SimConfigError(f"sensitivity {sensitivity!r} is not one of "
                                 "'textbook', 'lorasim', 'sx1276'")
        if max_demodulators is not None and max_demodulators < 1:
            raise SimConfigError(f"max_demodulators must be >= 1, got {max_demodulators}")
        for name, value in (("capture_threshold_db", capture_threshold_db),
                            ("shadowing_sigma_db", shadowing_sigma_db),
                            ("max_range_m", max_range_m), ("report_margin_db", report_margin_db)):
            if not (math.isfinite(value) and value >= 0):
                raise SimConfigError(f"{name} must be a finite number >= 0, got {value}")
        if impairments is None:
            impairments = Impairments()
        if not isinstance(impairments, Impairments):
            raise SimConfigError(f"impairments must be an Impairments, got "
                                 f"{type(impairments).__name__}")
        self.world = world
        self.model = model
        self.impairments = impairments
        # the antennas' true gains; the world keeps what the hotspots assert
        self.true_gain_dbi = world.gain_dbi
        if impairments.gain_error_sigma_db > 0:
            self.true_gain_dbi = world.gain_dbi + impairments.gain_errors_db(
                np.arange(len(world)))
        # each hotspot's clutter (dB), drawn once: a link loses both ends' clutter
        self.clutter_db = (np.zeros(len(world)) if clutter is None
                           else clutter.loss_db(world.lat_deg, world.lon_deg))
        self.capture_threshold_db = capture_threshold_db
        self.shadowing_sigma_db = shadowing_sigma_db
        self.seed = seed
        self.sensitivity = sensitivity
        self.max_demodulators = max_demodulators
        self.max_range_m = max_range_m
        self.report_margin_db = report_margin_db
        self.regulatory_limits = regulatory_limits
        self.stats: Counter[str] = Counter()
        self._on_air: dict[int, _OnAir] = {}
        self._recent: list[_OnAir] = []  # ended, kept while they can still overlap others
        self._max_airtime_s = 0.0
        self._next_allowed_s: dict[tuple[int, float], float] = {}
        self._links: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._link_cache = link_cache
        self._range_m: dict[tuple[int, int, int], float] = {}
        self._per_hotspot: dict[tuple, object] = {}

    # -- link budget ------------------------------------------------------------------------
    def noise_floor_dbm(self, receivers: np.ndarray, bw_hz: int) -> np.ndarray:
        """Thermal noise floor of each receiver (its noise figure) at this bandwidth."""
        key = ("noise", bw_hz)
        table = self._per_hotspot.get(key)
        if table is None:
            table = np.asarray(thermal_noise_floor_dbm(bw_hz, self.world.noise_figure_db),
                               dtype=float)
            self._per_hotspot[key] = table
        return table[receivers]

    def sensitivity_dbm(self, receivers: np.ndarray, sf: int, bw_hz: int) -> np.ndarray:
        """Sensitivity of each receiver for this SF/BW (computed once per SF/BW)."""
        key = ("sens", sf, bw_hz)
        table = self._per_hotspot.get(key)
        if table is None:
            if self.sensitivity == "textbook":
                everyone = np.arange(len(self.world))
                table = self.noise_floor_dbm(everyone, bw_hz) + self._snr_floor(sf)
            elif sf == 6:  # in neither measured table: the SX1276 datasheet, as LoRaSim
                table = np.full(len(self.world), SF6_SENSITIVITY_DBM[bw_hz])
            else:
                source = (LORASIM_SENSITIVITY_DBM if self.sensitivity == "lorasim"
                          else SX1276_SENSITIVITY_DBM)
                table = np.full(len(self.world), float(source[(sf, bw_hz)]))
            self._per_hotspot[key] = table
        return table[receivers]

    def threshold_dbm(self, receivers: np.ndarray, sf: int, bw_hz: int) -> np.ndarray:
        """Weakest received power each receiver decodes: its sensitivity, or its noise
        floor plus the SF's SNR floor if that is higher (what `end` requires)."""
        return np.maximum(self.sensitivity_dbm(receivers, sf, bw_hz),
                          self.noise_floor_dbm(receivers, bw_hz) + self._snr_floor(sf))

    def _snr_floor(self, sf: int) -> float:
        key = ("snr", sf)
        if key not in self._per_hotspot:
            self._per_hotspot[key] = snr_floor(sf)
        return self._per_hotspot[key]

    def _range_for(self, sf: int, bw_hz: int, freq_hz: int) -> float:
        """Farthest distance at which the best-placed receiver could still hear a packet."""
        key = (sf, bw_hz, freq_hz // 1_000_000)
        if key in self._range_m:
            return self._range_m[key]
        w = self.world
        best_sens = float(np.min(self.sensitivity_dbm(np.arange(len(w)), sf, bw_hz)))
        budget = (float(w.tx_power_dbm.max()) + 2 * float(self.true_gain_dbi.max())
                  - best_sens + self.report_margin_db + 4.0 * self.shadowing_sigma_db
                  + self.impairments.fading_max_db
                  - 2.0 * min(0.0, float(self.clutter_db.min(initial=0.0))))
        model = FreeSpace() if isinstance(self.model, TerrainModel | ITMModel) else self.model
        d = np.geomspace(10.0, self.max_range_m, 200)
        lat0, lon0 = float(np.mean(w.lat_deg)), float(np.mean(w.lon_deg))
        here = Sites.from_latlon(lat0, lon0)
        there = Sites.from_latlon(np.clip(lat0 + np.degrees(d / 6371008.8), -90, 90),
                                  np.full(d.shape, lon0))
        loss = path_loss_db(here, there, model, freq_hz=freq_hz,
                            tx_height_m=float(w.height_m.max()),
                            rx_height_m=float(w.height_m.max()))
        audible = np.flatnonzero(loss <= budget)
        reach = float(d[audible[-1]] * 1.05) if len(audible) else 10.0
        self._range_m[key] = min(reach, self.max_range_m)
        return self._range_m[key]

    def _link(self, i: int, tx: Transmission) -> tuple[np.ndarray, np.ndarray]:
        """(receivers, path loss + shadowing dB) from hotspot i on this frequency."""
        key = (i, tx.freq_hz)
        hit = self._links.get(key)
        if hit is not None:
            self._links.move_to_end(key)
            self.stats["link_cache_hits"] += 1
            return hit
        w = self.world
        js = w.neighbours(i, self._range_for(tx.spreading_factor, tx.bandwidth_hz, tx.freq_hz))
        if len(js) == 0:
            result = (js, np.empty(0))
        else:
            tx_site, rx_sites = w.sites[i], w.sites[js]
            loss = path_loss_db(tx_site, rx_sites, self.model, freq_hz=tx.freq_hz,
                                tx_height_m=float(w.height_m[i]), rx_height_m=w.height_m[js])
            if self.shadowing_sigma_db > 0:
                loss = loss - shadowing_db(tx_site, rx_sites, self.shadowing_sigma_db,
                                           seed=self.seed)
            loss = loss + self.clutter_db[i] + self.clutter_db[js]
            result = (js, np.asarray(loss, dtype=float))
        self._links[key] = result
        if len(self._links) > self._link_cache:
            self._links.popitem(last=False)
        return result

    # -- the air ----------------------------------------------------------------------------
    def _check_regulations(self, tx: Transmission) -> None:
        region = get_region(self.world.regions[tx.transmitter])
        try:
            region.check_dwell_time(tx.airtime_s)
            band = region.sub_band_for(tx.freq_hz)
        except RegionError as exc:
            self.stats["refused_dwell_time"] += 1
            raise DwellTimeError(f"{self.world.names[tx.transmitter]}: {exc}") from None
        key = (tx.transmitter, band.freq_lo_hz)
        allowed = self._next_allowed_s.get(key, -math.inf)
        if tx.start_s < allowed - 1e-9:
            self.stats["refused_duty_cycle"] += 1
            raise DutyCycleError(
                f"{self.world.names[tx.transmitter]} must stay silent on "
                f"{band.freq_lo_hz / 1e6:.1f}-{band.freq_hi_hz / 1e6:.1f} MHz until "
                f"t = {allowed:.3f} s ({band.duty_cycle:.1%} duty cycle)")
        self._next_allowed_s[key] = tx.end_s + region.min_off_time_s(tx.airtime_s, tx.freq_hz)

    def begin(self, tx: Transmission) -> None:
        """A packet goes on the air (call at `tx.start_s`)."""
        if tx.packet_id in self._on_air:
            raise SimConfigError(f"packet id {tx.packet_id} is already on the air")
        if self.regulatory_limits:
            self._check_regulations(tx)
        receivers, loss_db = self._link(tx.transmitter, tx)
        gain = self.true_gain_dbi
        rx_dbm = tx.tx_power_dbm + gain[tx.transmitter] + gain[receivers] - loss_db
        if self.impairments.fading != "none":
            rx_dbm = rx_dbm + self.impairments.fading_db(tx.packet_id, receivers)
        self._on_air[tx.packet_id] = _OnAir(tx, receivers, rx_dbm)
        self._max_airtime_s = max(self._max_airtime_s, tx.airtime_s)
        self.stats["transmissions"] += 1

    def _overlapping(self, me: _OnAir) -> list[_OnAir]:
        t0, t1 = me.tx.start_s, me.tx.end_s
        return [o for o in (*self._on_air.values(), *self._recent)
                if o is not me and o.tx.start_s < t1 and o.tx.end_s > t0]

    def end(self, packet_id: int) -> list[Reception]:
        """The packet is over (call at its end): one Reception per receiver that heard it."""
        return self.end_batch(packet_id).receptions()

    def end_batch(self, packet_id: int) -> ReceptionBatch:
        """`end` as arrays: receivers within `report_margin_db` of their sensitivity."""
        me = self._on_air.pop(packet_id, None)
        if me is None:
            raise SimConfigError(f"packet id {packet_id} is not on the air")
        tx = me.tx
        js, p = me.receivers, me.rx_dbm
        self._prune(tx.end_s)
        self._recent.append(me)
        sens = self.sensitivity_dbm(js, tx.spreading_factor, tx.bandwidth_hz)
        heard = p >= sens - self.report_margin_db
        js, p, sens = js[heard], p[heard], sens[heard]
        snr = p - self.noise_floor_dbm(js, tx.bandwidth_hz)
        reason = np.full(len(js), "delivered", dtype=object)
        ok = np.ones(len(js), bool)

        def lose(mask: np.ndarray, why: str) -> None:
            hit = mask & ok
            reason[hit] = why
            ok[hit] = False

        lose(p < sens, "below_sensitivity")
        lose(snr < self._snr_floor(tx.spreading_factor), "snr_below_floor")
        others = self._overlapping(me)
        if others:
            talking = np.array([o.tx.transmitter for o in others])
            lose(np.isin(js, talking), "half_duplex")
            if self.max_demodulators is not None:
                lose(self._busy_demodulators(me, js, others) >= self.max_demodulators,
                     "no_demodulator")
            lose(self._collided(me, js, p, others), "collision")
        self.stats["receptions"] += len(js)
        for why, n in Counter(reason.tolist()).items():
            self.stats[why] += n
        imp = self.impairments
        if not imp.reports_exactly:  # decided on the true figures, reported with errors
            p = imp.reported_rssi_dbm(tx.packet_id, js, p)
            snr = imp.reported_snr_db(tx.packet_id, js, snr)
        # decided on the true SNR; reported as a modem does, saturated
        return ReceptionBatch(tx, js, p, np.minimum(snr, MAX_REPORTED_SNR_DB), ok, reason)

    def _power_at(self, other: _OnAir, js: np.ndarray) -> np.ndarray:
        """`other`'s received power at each of `js` (-inf where it is not a candidate)."""
        out = np.full(len(js), -np.inf)
        if len(other.receivers):
            pos = np.searchsorted(other.receivers, js)
            pos_c = np.minimum(pos, len(other.receivers) - 1)
            found = other.receivers[pos_c] == js
            out[found] = other.rx_dbm[pos_c[found]]
        return out

    def _busy_demodulators(self, me: _OnAir, js: np.ndarray, others: list[_OnAir]) -> np.ndarray:
        busy = np.zeros(len(js), int)
        for o in others:
            if o.tx.start_s < me.tx.start_s or (o.tx.start_s == me.tx.start_s
                                                and o.tx.packet_id < me.tx.packet_id):
                sens = self.sensitivity_dbm(js, o.tx.spreading_factor, o.tx.bandwidth_hz)
                busy += self._power_at(o, js) >= sens
        return busy

    def _collided(self, me: _OnAir, js: np.ndarray, p: np.ndarray,
                  others: list[_OnAir]) -> np.ndarray:
        tx = me.tx
        lost = np.zeros(len(js), bool)
        for o in others:
            if o.tx.freq_hz != tx.freq_hz or o.tx.bandwidth_hz != tx.bandwidth_hz:
                continue
            q = self._power_at(o, js)
            same_sf = o.tx.spreading_factor == tx.spreading_factor
            if self.collision is CollisionModel.SIMPLE:
                if same_sf:  # LoRaSim: an interferer the receiver can hear destroys the packet
                    sens = self.sensitivity_dbm(js, o.tx.spreading_factor, o.tx.bandwidth_hz)
                    lost |= q >= sens
                continue
            if same_sf and self.collision is CollisionModel.CAPTURE_TIMING:
                lost |= capture_timing_lost(tx.start_s, tx.spreading_factor, tx.bandwidth_hz,
                                            o.tx.end_s, p, q, self.capture_threshold_db)
            elif same_sf and self.collision is CollisionModel.CAPTURE_LOCK:
                lost |= capture_lock_lost(tx.start_s, tx.spreading_factor, tx.bandwidth_hz,
                                          o.tx.start_s, o.tx.end_s, o.tx.spreading_factor,
                                          o.tx.bandwidth_hz, p, q, self.capture_threshold_db)
            elif same_sf:
                lost |= p - q < self.capture_threshold_db
            elif self.collision is CollisionModel.INTER_SF and min(
                    tx.spreading_factor, o.tx.spreading_factor) >= 7:  # the matrix has no SF6
                need = GOURSAUD_SIR_DB[tx.spreading_factor - 7, o.tx.spreading_factor - 7]
                lost |= p - q < need
        return lost

    def _prune(self, now_s: float) -> None:
        horizon = now_s - self._max_airtime_s
        if self._recent and self._recent[0].tx.end_s < horizon:
            self._recent = [o for o in self._recent if o.tx.end_s >= horizon]

    @property
    def on_air(self) -> int:
        return len(self._on_air)

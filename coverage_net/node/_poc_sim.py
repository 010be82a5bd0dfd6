"""A proof-of-coverage network in one process: simulated air, real messages, the real verifier.

`run_poc_scenario` places hotspots on a DEM (radio_sim's world generator), runs epochs
in virtual time: the epoch's entropy selects challengees and challengers, validators
sign `Challenge`s with sealed secrets, challengees beacon through the radio simulator's
`Channel` (terrain, shadowing, per-packet fading, measurement and antenna-gain errors,
host clock offsets, optionally a hidden clutter field: the simulator's air is *not* the
verifier's model), hotspots that hear a beacon sign `WitnessReport`s, and
`coverage_net.poc.verify_epoch` judges every report. Attackers (see `ATTACKS`) are
hotspots whose reports do not come honestly from their own radio at their asserted
place, each in a naive form (numbers invented without the model) and a model-aware one
(numbers made plausible with the verifier's own model).

Everything is seeded: the same `PocScenario` gives the same verdicts byte for byte.
By default messages go straight from the simulated hotspots to the verifier (what
gossip would deliver to a validator); tests may pass a carrier that sends them by
gossip over the in-memory network in virtual time (`coverage_net.node.testing`),
and the verifier judges what reached it.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import h3
import numpy as np

from coverage_net.identity import Keypair
from coverage_net.messages import BeaconReport, Challenge, HotspotAnnouncement, WitnessReport
from coverage_net.poc import (
    DAY_MS,
    NetworkParams,
    PathPredictor,
    Registry,
    beacon_eirp_centi_dbm,
    beacon_payload,
    beacon_tx_power_dbm,
    challengees_for_epoch,
    challenger_for,
    epoch_entropy_from_seed,
    params_from_dict,
    seal_secret,
    secret_hash,
)
from coverage_net.radio import (
    EARTH_RADIUS_M,
    Station,
    Terrain,
    sensitivity_dbm,
    thermal_noise_floor_dbm,
    time_on_air_s,
)

from ._poc_attacks import file_witnesses, in_range_honest, rebroadcast_witnesses, replay_later
from ._poc_judge import EpochJudge
from ._poc_radios import (
    BEACON,
    EIRP_DBM,
    MAX_SNR_DB,
    RADIO_MAX_DBM,
    REGION,
    START_MS,
    STATION_CELL_RES,
    rssi_dbm,
)
from ._poc_results import ATTACKS, EpochInput, PocScenario, ScenarioResult, TransportFigures

logger = logging.getLogger(__name__)

__all__ = ["run_poc_scenario"]

def _keys(seed: int, n: int, what: bytes) -> list[Keypair]:
    return [Keypair.from_seed(hashlib.sha256(what + seed.to_bytes(8, "big")
                                             + i.to_bytes(4, "big")).digest()) for i in range(n)]


def _move(lat: float, lon: float, distance_m: float, bearing_rad: float) -> tuple[float, float]:
    d = distance_m / EARTH_RADIUS_M
    la, lo = math.radians(lat), math.radians(lon)
    la2 = math.asin(math.sin(la) * math.cos(d) + math.cos(la) * math.sin(d) * math.cos(bearing_rad))
    lo2 = lo + math.atan2(math.sin(bearing_rad) * math.sin(d) * math.cos(la),
                          math.cos(d) - math.sin(la) * math.sin(la2))
    return math.degrees(la2), math.degrees(lo2)


class _Sim:
    """The running scenario (one object so the attack helpers share its state)."""

    def __init__(self, sc: PocScenario) -> None:
        from radio_sim import (  # layer 5 picks the sim
            Channel,
            ClutterField,
            Impairments,
            World,
            on_dem,
        )
        self.sc = sc
        self.rng = np.random.default_rng(sc.seed)
        self.terrain = Terrain(sc.dem_dir)
        # the air's model and the verifier's (by default the terrain model over the tile)
        self.model = params_from_dict({"propagation": {"model": sc.propagation}}
                                      ).propagation.build_model(self.terrain)
        base = on_dem(sc.hotspots, self.terrain, seed=sc.seed, antenna_height_m=10.0,
                      antenna_gain_dbi=3.0, tx_power_dbm=20.0, region=REGION)
        stations = list(base.hotspots)
        n = len(stations)
        self.keys = _keys(sc.seed, n, b"hotspot")
        self.validators = _keys(sc.seed, 3, b"validator")
        self.role = ["honest"] * n
        order = self.rng.permutation(n).tolist()
        self._pick_ring(base, order, sc.attackers.get("ring", 0))
        self.stamp_victim = self._pick_early_stamp(base, order,
                                                   sc.attackers.get("early_stamp", 0))
        for attack in ATTACKS:
            if attack in ("ring", "early_stamp"):
                continue
            for _ in range(sc.attackers.get(attack, 0)):
                self.role[order.pop()] = attack
        unknown = set(sc.attackers) - set(ATTACKS)
        if unknown:
            raise ValueError(f"unknown attacks {sorted(unknown)}; known: {ATTACKS}")
        # assertions: the truth, except for spoofers (5 km off) and sybils (beside their twin)
        self.asserted = [(s.lat_deg, s.lon_deg) for s in stations]
        self.confederate: dict[int, int] = {}
        self.twin: dict[int, int] = {}
        extra: list[Station] = []
        for i, role in enumerate(self.role[:n]):
            s = stations[i]
            if role == "spoof_5km":
                self.asserted[i] = self._inside(s.lat_deg, s.lon_deg, 5_000.0)
            elif role == "relay_30km":  # a confederate radio 30 km away, not announced
                lat, lon = self._inside(s.lat_deg, s.lon_deg, 30_000.0)
                self.confederate[i] = n + len(extra)
                extra.append(Station(f"confederate-{i}", lat_deg=lat, lon_deg=lon,
                                     antenna_height_m=10.0, antenna_gain_dbi=3.0,
                                     tx_power_dbm=20.0, region=REGION))
            elif role == "self_witness":  # model-aware: a sybil key asserted 500 m away
                self.twin[i] = len(self.keys)
                self.keys.append(_keys(sc.seed + 7_919 * (i + 1), 1, b"sybil")[0])
                self.role.append("self_witness")
                self.asserted.append(self._inside(s.lat_deg, s.lon_deg, 500.0))
        self.world = World(stations + extra)
        self.n_radio = len(stations)
        self.impairments = Impairments(seed=sc.seed, **dict(sc.impairments))
        clutter = (ClutterField(sc.clutter_sigma_db, seed=sc.seed) if sc.clutter_sigma_db
                   else None)
        self.channel = Channel(self.world, model=self.model,
                               shadowing_sigma_db=sc.shadowing_sigma_db, seed=sc.seed,
                               impairments=self.impairments, clutter=clutter)
        self.clock_offset_ms = [self._clock_offset(i) for i in range(len(self.keys))]
        self.host_stamps = 0
        overrides: dict[str, object] = {"validators": [k.public_key.hex() for k in self.validators],
                                        "propagation": {"model": sc.propagation}}
        if sc.verifier:
            overrides["verifier"] = dict(sc.verifier)
        self.params: NetworkParams = params_from_dict(overrides)
        anns = []
        for i, key in enumerate(self.keys):
            lat, lon = self.asserted[i]
            cell = h3.str_to_int(h3.latlng_to_cell(lat, lon, STATION_CELL_RES))
            anns.append(HotspotAnnouncement(
                hotspot_key=key.public_key, cell=cell, antenna_gain_dbi=3.0,
                antenna_height_m=10.0, region=REGION, timestamp_ms=START_MS - 1).sign(key))
        self.registry = Registry(anns)
        self.index_of = {k.public_key: i for i, k in enumerate(self.keys)}
        self.predictor = PathPredictor(self.params, self.terrain, num_threads=sc.num_threads)
        beacon = self.params.beacon(REGION)
        self.beacon = beacon
        self.sens_dbm = float(sensitivity_dbm(beacon.spreading_factor, beacon.bandwidth_hz, 6.0))
        self.noise_dbm = float(thermal_noise_floor_dbm(beacon.bandwidth_hz, 6.0))
        self.packet_id = 0
        self.beacons_sent = 0
        self.fraud: dict[bytes, bytes] = {}

    def _pick_ring(self, world, order: list[int], size: int) -> None:
        """Ring members: hotspots with no radio path between any two (modelled RSSI at
        least 20 dB below sensitivity), so every witness they file of each other is forged."""
        if not size:
            return
        b = BEACON
        sens = float(sensitivity_dbm(b.spreading_factor, b.bandwidth_hz, 6.0))
        lat, lon = world.lat_deg, world.lon_deg
        members: list[int] = []
        for i in list(order):
            if len(members) == size:
                break
            if members and np.any(rssi_dbm(self.model, (lat[i], lon[i]), lat[members],
                                             lon[members], EIRP_DBM) + 20.0 > sens):
                continue
            members.append(i)
            order.remove(i)
        if len(members) < size:
            raise ValueError(f"found only {len(members)} hotspots with no path between them")
        for i in members:
            self.role[i] = "ring"

    def _pick_early_stamp(self, world, order: list[int], size: int) -> int | None:
        """The victim of ``early_stamp`` (the next hotspot in `order`, left honest) and
        its colluders, the `size` hotspots nearest to it; None without colluders."""
        if not size:
            return None
        victim = order.pop()
        lat, lon = world.lat_deg, world.lon_deg
        here = (float(lat[victim]), float(lon[victim]))
        distance = {i: h3.great_circle_distance(here, (float(lat[i]), float(lon[i])), unit="m")
                    for i in order}
        for i in sorted(order, key=lambda i: (distance[i], i))[:size]:
            self.role[i] = "early_stamp"
            order.remove(i)
        return victim

    def _inside(self, lat: float, lon: float, distance_m: float) -> tuple[float, float]:
        """A point `distance_m` away on a seeded bearing that stays on the DEM tile."""
        for _ in range(64):
            la, lo = _move(lat, lon, distance_m, float(self.rng.uniform(0, 2 * math.pi)))
            if 44.02 < la < 44.98 and -71.98 < lo < -71.02:
                return la, lo
        raise ValueError(f"no point {distance_m} m from ({lat}, {lon}) stays on the tile")

    def _clock_offset(self, i: int) -> int:
        if self.impairments is not None and i < self.n_radio:
            return int(self.impairments.clock_offset_ms(i))
        sigma = float(self.sc.impairments.get("clock_offset_sigma_ms", 0.0))
        r = np.random.default_rng([self.sc.seed, 104_729, i]).normal(0.0, sigma)
        return int(np.clip(r, -3 * sigma, 3 * sigma))

    # --- the model an attacker uses to make numbers plausible -------------------------------
    def model_rssi_dbm(self, tx: int, rx: int, eirp_dbm: float) -> float:
        (lat, lon) = self.asserted[rx]
        return float(rssi_dbm(self.model, self.asserted[tx], lat, lon, eirp_dbm)[0])

    def plausible(self, rssi_dbm: float) -> tuple[float, float]:
        """RSSI/SNR a model-aware attacker files: modelled value, a little noise, radio steps."""
        rssi = round(rssi_dbm + float(self.rng.normal(0.0, 2.0)))
        snr = min(round((rssi - self.noise_dbm) * 4) / 4, MAX_SNR_DB)
        return float(rssi), float(snr)

    def witness(self, i: int, ch: Challenge, payload: bytes, t_ms: int, rssi: float,
                snr: float, *, fraud: bool = False, by: int | None = None,
                radio: int | None = None) -> WitnessReport:
        report = WitnessReport(
            witness_key=self.keys[i].public_key, challenge_id=ch.content_id, epoch=ch.epoch,
            payload_hash=hashlib.sha256(payload).digest(), rssi_dbm=rssi, snr_db=snr,
            freq_hz=self.beacon.freq_hz, spreading_factor=self.beacon.spreading_factor,
            bandwidth_hz=self.beacon.bandwidth_hz,
            radio_timestamp_us=self.radio_clock_us(i if radio is None else radio, t_ms),
            host_time_ms=self.host_time_ms(i, t_ms + 150)).sign(self.keys[i])
        if fraud:
            self.fraud[report.content_id] = self.keys[i if by is None else by].public_key
        return report

    def host_time_ms(self, i: int, true_ms: int) -> int:
        """Hotspot `i`'s host timestamp of an event at `true_ms`: its clock's fixed offset
        plus this packet's jitter (a hotspot without a radio of its own: offset only)."""
        self.host_stamps += 1
        jitter = self.impairments.host_jitter_ms(self.host_stamps, i) if i < self.n_radio else 0
        return true_ms + self.clock_offset_ms[i] + jitter

    def radio_clock_us(self, radio: int, t_ms: int) -> int:
        """Radio `radio`'s free-running 32-bit microsecond counter when it heard at `t_ms`."""
        start = int.from_bytes(hashlib.sha256(b"radio" + radio.to_bytes(4, "big")).digest()[:4],
                               "big")
        return (start + t_ms * 1000) % (1 << 32) or 1

    def airtime_s(self, payload: bytes) -> float:
        """Time on air of `payload` at the beacon data rate."""
        b = self.beacon
        return float(time_on_air_s(len(payload), b.spreading_factor, b.bandwidth_hz))

    def transmit(self, tx: int, payload: bytes, t_s: float, power_dbm: float) -> dict[int, tuple]:
        from radio_sim import Transmission
        self.packet_id += 1
        b = self.beacon
        airtime = self.airtime_s(payload)
        self.channel.begin(Transmission(self.packet_id, tx, t_s, airtime, b.freq_hz,
                                        b.spreading_factor, b.bandwidth_hz, 5, power_dbm,
                                        payload))
        # an SX127x/SX126x reports packet SNR up to about +10 dB however strong the signal
        return {r.receiver: (r.rssi_dbm, min(r.snr_db, MAX_SNR_DB))
                for r in self.channel.end(self.packet_id) if r.delivered}


@dataclass(frozen=True)
class CarryContext:
    """What a carrier needs to know of the scenario to carry its messages."""

    hotspot_keys: tuple[bytes, ...]
    validator_keys: tuple[bytes, ...]
    seed: int
    start_ms: int
    epoch_length_ms: int


Carrier = Callable[[Iterable[EpochInput], Callable[[EpochInput], None], CarryContext],
                   TransportFigures]
"""Takes the epochs' messages to the judge (once per epoch, with what arrived)."""


def carry_direct(epochs: Iterable[EpochInput], judge: Callable[[EpochInput], None],
                 ctx: CarryContext) -> TransportFigures:
    """Each epoch's messages straight to the judge (what gossip delivers when it loses
    nothing)."""
    published = epochs_judged = 0
    for inp in epochs:
        published += len(inp.challenges) + len(inp.beacon_reports) + len(inp.witness_reports)
        judge(inp)
        epochs_judged += 1
    return TransportFigures("direct", published=published, delivered=published, lost=0,
                            undecodable=0, virtual_s=epochs_judged * ctx.epoch_length_ms / 1000)


def run_poc_scenario(sc: PocScenario, progress: Callable[[int, int], None] | None = None, *,
                     carry: Carrier = carry_direct) -> ScenarioResult:
    """Run `sc` until it has sent ``sc.beacons`` beacons; see the module doc.

    `carry` takes each epoch's messages to the verifier: by default straight there;
    tests pass `coverage_net.node.testing.memory_carrier()` to send them by gossip
    over the in-memory network in virtual time, the verifier judging what arrived.
    """
    sim = _Sim(sc)
    report = None if progress is None else (lambda: progress(sim.beacons_sent, sc.beacons))
    judge = EpochJudge(sim.registry, sim.params, sim.predictor, keep_inputs=sc.keep_inputs,
                       after_each=report)
    transport = carry(_epochs(sim), judge, CarryContext(
        tuple(k.public_key for k in sim.keys), tuple(k.public_key for k in sim.validators),
        sc.seed, START_MS, sim.params.epoch_length_ms))
    in_range = in_range_honest(sim)
    role_of = {k.public_key: sim.role[i] for i, k in enumerate(sim.keys)}
    return ScenarioResult(judge.verdicts, role_of, sim.beacons_sent, judge.epochs, judge.flagged,
                          in_range, judge.inputs, sim.registry, sim.params, dict(sim.fraud),
                          DAY_MS // sim.params.epoch_length_ms, transport,
                          {k.public_key: sim.clock_offset_ms[i] for i, k in enumerate(sim.keys)})


def _epochs(sim: _Sim) -> Iterator[EpochInput]:
    """Every message the network produces, epoch by epoch, until ``sc.beacons`` beacons
    have gone on the air (counted in ``sim.beacons_sent``)."""
    sc, params = sim.sc, sim.params
    seed = hashlib.sha256(b"scenario" + sc.seed.to_bytes(8, "big")).digest()
    epoch = 0
    prev_round: list[tuple[Challenge, bytes, int, set[int]]] = []
    eligible = sim.registry.keys
    while sim.beacons_sent < sc.beacons:
        entropy = epoch_entropy_from_seed(seed, epoch)
        t0_ms = START_MS + epoch * params.epoch_length_ms
        challenges, reports, witnesses = [], [], []
        rounds_now: list[tuple[Challenge, bytes, int, set[int]]] = []
        chosen = challengees_for_epoch(entropy, epoch, eligible, params)
        for k, key in enumerate(chosen):
            if sim.beacons_sent >= sc.beacons:
                break
            i = sim.index_of[key]
            v_key = challenger_for(entropy, epoch, key, params.validators)
            validator = next(v for v in sim.validators if v.public_key == v_key)
            secret = hashlib.sha256(b"secret" + entropy + key).digest()
            t_ms = t0_ms + 10_000 + k * 20_000
            ch = Challenge(challenger_key=v_key, challengee_key=key, epoch=epoch,
                           secret_hash=secret_hash(secret),
                           sealed_secret=seal_secret(secret, key, ephemeral_key=hashlib.sha256(
                               b"eph" + secret).digest()),
                           timestamp_ms=t_ms).sign(validator)
            challenges.append(ch)
            if i >= sim.n_radio:  # a sybil has no radio of its own: nothing goes on the air
                continue
            payload = beacon_payload(secret, ch.content_id, REGION,
                                     spreading_factor=sim.beacon.spreading_factor,
                                     bandwidth_hz=sim.beacon.bandwidth_hz)
            power = beacon_tx_power_dbm(REGION, 3.0, RADIO_MAX_DBM)
            eirp_centi = beacon_eirp_centi_dbm(REGION, 3.0, RADIO_MAX_DBM)
            beacon_t_ms = t_ms + 2_000
            heard = sim.transmit(i, payload, (beacon_t_ms - START_MS) / 1000.0, power)
            sim.beacons_sent += 1
            reports.append(BeaconReport(
                hotspot_key=key, challenge_id=ch.content_id, epoch=epoch, secret=secret,
                payload_hash=hashlib.sha256(payload).digest(), freq_hz=sim.beacon.freq_hz,
                spreading_factor=sim.beacon.spreading_factor,
                bandwidth_hz=sim.beacon.bandwidth_hz, tx_power_dbm=float(power),
                eirp_centi_dbm=eirp_centi, radio_timestamp_us=0,
                host_time_ms=sim.host_time_ms(i, beacon_t_ms + 100)).sign(sim.keys[i]))
            rounds_now.append((ch, payload, i, set(heard)))
            witnesses.extend(rebroadcast_witnesses(sim, ch, payload, i, beacon_t_ms, heard))
            witnesses.extend(file_witnesses(sim, ch, payload, i, beacon_t_ms, heard, eirp_centi))
        witnesses.extend(replay_later(sim, prev_round, t0_ms + params.epoch_length_ms // 2))
        prev_round = rounds_now
        yield EpochInput(epoch, entropy, tuple(challenges), tuple(reports), tuple(witnesses))
        epoch += 1

"""What each hotspot of a proof-of-coverage scenario files when a beacon is on the air.

Honest hotspots witness what their radio heard. Attackers (`ATTACKS`) file what
their role makes of it: naive, numbers invented or copied as measured; model-aware,
numbers the verifier's own model finds plausible at their assertion. Replayers and
rebroadcasters put beacons on the air again for the honest hotspots around them to
witness. The scenario (`coverage_net.node._poc_sim`) calls these for every beacon.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from coverage_net.messages import Challenge, WitnessReport
from coverage_net.poc import beacon_tx_power_dbm

from ._poc_radios import EIRP_DBM, MAX_SNR_DB, RADIO_MAX_DBM, REGION, START_MS, rssi_dbm
from ._poc_results import EARLY_STAMP_MS

if TYPE_CHECKING:
    from ._poc_sim import _Sim

__all__ = ["file_witnesses", "forged_witnesses", "in_range_honest", "rebroadcast_witnesses",
           "replay_later"]


def file_witnesses(sim: _Sim, ch: Challenge, payload: bytes, tx: int, t_ms: int,
               heard: dict[int, tuple], eirp_centi: int) -> list[WitnessReport]:
    out = []
    aware = sim.sc.model_aware
    eirp = eirp_centi / 100
    for j in range(sim.n_radio):
        role = sim.role[j]
        got = heard.get(j)
        if (role in ("honest", "ring", "replay", "rebroadcast")
                or (role == "self_witness" and j not in sim.twin)):
            if got is not None and role != "ring":
                out.append(sim.witness(j, ch, payload, t_ms, *got))
        elif role == "spoof_5km":
            if got is not None:
                out.extend(forged_witnesses(sim, j, ch, payload, t_ms, tx, eirp, got))
        elif role == "invent_rssi":
            # files for every beacon the model puts within reach, heard or not
            model = sim.model_rssi_dbm(tx, j, eirp)
            if aware:
                if model >= sim.sens_dbm + 3.0:
                    out.append(sim.witness(j, ch, payload, t_ms, *sim.plausible(model), fraud=True))
            elif got is not None or model >= sim.sens_dbm - 20.0:
                rssi = float(sim.rng.integers(-130, -40))
                out.append(sim.witness(j, ch, payload, t_ms, rssi,
                                       min(rssi - sim.noise_dbm, MAX_SNR_DB), fraud=True))
        elif role == "early_stamp":  # the victim's beacons stamped early, clocks alike
            if got is not None:
                early = tx == sim.stamp_victim
                stamped_ms = t_ms - EARLY_STAMP_MS if early else t_ms
                out.append(sim.witness(j, ch, payload, stamped_ms, *got, fraud=early))
        elif role == "relay_30km":
            if got is not None:
                out.append(sim.witness(j, ch, payload, t_ms, *got))
            relayed = heard.get(sim.confederate[j])
            if relayed is not None and got is None:
                out.extend(forged_witnesses(sim, j, ch, payload, t_ms, tx, eirp, relayed,
                                   radio=sim.confederate[j]))
        elif role == "self_witness":  # j beacons; its sybil (or itself, naive) witnesses
            if tx == j:
                if aware:
                    twin = sim.twin[j]
                    rssi, snr = sim.plausible(sim.model_rssi_dbm(tx, twin, eirp))
                    out.append(sim.witness(twin, ch, payload, t_ms, rssi, snr, fraud=True))
                else:
                    out.append(sim.witness(j, ch, payload, t_ms, -40.0, 10.0, fraud=True))
            elif got is not None:
                out.append(sim.witness(j, ch, payload, t_ms, *got))
    ring = [i for i, r in enumerate(sim.role) if r == "ring"]
    if tx in ring:
        for j in ring:
            if j == tx:
                continue
            if aware:
                model = sim.model_rssi_dbm(tx, j, eirp)
                rssi, snr = sim.plausible(max(model, sim.sens_dbm + 2.0))
            else:
                rssi = float(sim.rng.integers(-120, -80))
                snr = min(rssi - sim.noise_dbm, MAX_SNR_DB)
            out.append(sim.witness(j, ch, payload, t_ms, rssi, snr, fraud=True))
    for j in ring:  # ring members also witness honestly what they really hear
        if heard.get(j) is not None and tx not in ring:
            out.append(sim.witness(j, ch, payload, t_ms, *heard[j]))
    return out


def forged_witnesses(sim: _Sim, j: int, ch: Challenge, payload: bytes, t_ms: int, tx: int,
            eirp_dbm: float, measured: tuple, radio: int | None = None) -> list[WitnessReport]:
    """A witness by `j` built from a reception that is not its own honest one: naive, the
    measured numbers as they are; model-aware, numbers the verifier's model finds
    plausible at j's assertion (none when even the model says j cannot hear). `radio`
    is the radio that heard it, whose clock the naive report carries."""
    if not sim.sc.model_aware:
        return [sim.witness(j, ch, payload, t_ms, *measured, fraud=True, radio=radio)]
    rssi, snr = sim.plausible(sim.model_rssi_dbm(tx, j, eirp_dbm))
    if rssi < sim.sens_dbm:
        return []
    return [sim.witness(j, ch, payload, t_ms, rssi, snr, fraud=True)]


def rebroadcast_witnesses(sim: _Sim, ch: Challenge, payload: bytes, tx: int, t_ms: int,
                 heard: dict[int, tuple]) -> list[WitnessReport]:
    """A rebroadcaster that heard the beacon puts it on the air again at once: as soon as
    the beacon has ended (its airtime) plus a 10 ms turnaround, the least a radio that
    must receive a packet whole before sending it can manage. Hotspots around it that
    missed the original witness it with honest times and real RSSI."""
    out = []
    airtime_ms = math.ceil(1000 * sim.airtime_s(payload))
    for r in (i for i, role in enumerate(sim.role[:sim.n_radio]) if role == "rebroadcast"):
        if r not in heard or r == tx:
            continue
        t2_ms = t_ms + airtime_ms + 10
        power = beacon_tx_power_dbm(REGION, 3.0, RADIO_MAX_DBM)
        again = sim.transmit(r, payload, (t2_ms - START_MS) / 1000.0, power)
        for j, got in sorted(again.items()):
            if j in heard or j == tx or sim.role[j] != "honest":
                continue
            out.append(sim.witness(j, ch, payload, t2_ms, *got, fraud=True, by=r))
    return out


def replay_later(sim: _Sim, old: list[tuple[Challenge, bytes, int, set[int]]],
                  t_ms: int) -> list[WitnessReport]:
    """Replay: beacons heard one epoch ago go on the air again now; the hotspots around
    the replayer witness them (naming the old challenge, at today's time). Model-aware,
    the replayer also files its own witness back-dated to the beacon with a plausible
    RSSI, as if it had been filed late."""
    out = []
    if sim.sc.model_aware:
        for ch, payload, tx, _ in old:
            for r in (i for i, role in enumerate(sim.role[:sim.n_radio]) if role == "replay"):
                model = sim.model_rssi_dbm(tx, r, 30.0)
                if r != tx and model >= sim.sens_dbm:
                    out.append(sim.witness(r, ch, payload, ch.timestamp_ms + 2_000,
                                           *sim.plausible(model), fraud=True))
    power = beacon_tx_power_dbm(REGION, 3.0, RADIO_MAX_DBM)
    for k, (ch, payload, tx, heard_by) in enumerate(old):
        for r in (i for i, role in enumerate(sim.role[:sim.n_radio]) if role == "replay"):
            if r not in heard_by or r == tx:
                continue
            t2_ms = t_ms + 1_000 * k
            again = sim.transmit(r, payload, (t2_ms - START_MS) / 1000.0, power)
            for j, got in sorted(again.items()):
                if j != tx and sim.role[j] == "honest":
                    out.append(sim.witness(j, ch, payload, t2_ms, *got, fraud=True, by=r))
    return out


def in_range_honest(sim: _Sim) -> dict[bytes, int]:
    """For each attacker, the honest hotspots the model puts in range of its assertion."""
    out = {}
    for i, role in enumerate(sim.role):
        if role == "honest":
            continue
        honest = [j for j, r in enumerate(sim.role) if r == "honest"]
        a = sim.asserted[i]
        lat = np.asarray([sim.asserted[j][0] for j in honest])
        lon = np.asarray([sim.asserted[j][1] for j in honest])
        rssi = rssi_dbm(sim.model, a, lat, lon, EIRP_DBM)
        out[sim.keys[i].public_key] = int(np.sum(rssi >= sim.sens_dbm + 6.0))
    return out

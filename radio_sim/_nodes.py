"""Per-node radio settings of a scenario: fixed, chosen by link budget, or given by name.

The rules that choose (`SETTING_RULES`) look at each sender's mean link budget to
its best receiver (path loss without shadowing or fading, as LoRaSim does):

* ``fixed``: every node sends with the scenario's setting;
* ``distance``: the setting with the shortest airtime whose sensitivity the
  received power exceeds (Bor et al. 2016, experiment 3);
* ``distance-power``: that, then the power lowered to the margin left, not below
  2 dBm (their experiment 5);
* ``adr``: Semtech's network-side ADR ("LoRaWAN - simple rate adaptation
  recommended algorithm", Semtech 2016): from the slowest setting and full power,
  the SNR margin over the demodulation floor less a 10 dB installation margin,
  in 3 dB steps, first raises the data rate, then lowers the power by 2 dB.

Then `Scenario.nodes` overrides any field for named hotspots.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from coverage_net.radio import Model, Region, RegionError, path_loss_db

from ._errors import SimConfigError
from ._lora import LORASIM_GRID, airtime_s, check_setting, region_grid, snr_floor
from ._world import World

__all__ = ["NODE_FIELDS", "SETTING_RULES", "NodeRadios", "choose_settings"]

SETTING_RULES = ("fixed", "distance", "distance-power", "adr")
NODE_FIELDS = ("data_rate", "spreading_factor", "bandwidth_hz", "coding_rate",
               "payload_bytes", "tx_power_dbm")
ADR_INSTALLATION_MARGIN_DB = 10.0
ADR_STEP_DB = 3.0
ADR_POWER_STEP_DB = 2.0
MIN_TX_POWER_DBM = 2.0  # LoRaSim's floor in experiment 5


@dataclass(frozen=True)
class NodeRadios:
    """One entry per hotspot (receivers included, unused)."""

    spreading_factor: np.ndarray
    bandwidth_hz: np.ndarray
    coding_rate: np.ndarray
    payload_bytes: np.ndarray
    tx_power_dbm: np.ndarray
    airtime_s: np.ndarray

    def settings(self, senders: np.ndarray) -> dict[str, int]:
        """How many senders use each SF/BW, e.g. {"SF7/125": 40}."""
        keys = [f"SF{s}/{b // 1000}" for s, b in zip(self.spreading_factor[senders].tolist(),
                                                    self.bandwidth_hz[senders].tolist(),
                                                    strict=True)]
        return {k: keys.count(k) for k in sorted(set(keys))}


def _best_rx_dbm(world: World, senders: np.ndarray, receivers: np.ndarray, model: Model,
                 freq_hz: int, power_dbm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(received power at the best receiver, that receiver) per sender, mean path loss."""
    best = np.full(len(senders), -np.inf)
    which = np.zeros(len(senders), int)
    for r in receivers.tolist():
        loss = path_loss_db(world.sites[senders], world.sites[r], model, freq_hz=freq_hz,
                            tx_height_m=world.height_m[senders],
                            rx_height_m=float(world.height_m[r]))
        p = (power_dbm[senders] + world.gain_dbi[senders] + world.gain_dbi[r]
             - np.asarray(loss, dtype=float))
        better = p > best
        best[better], which[better] = p[better], r
    return best, which


def choose_settings(s, region: Region, world: World, senders: np.ndarray,
                    receivers: np.ndarray, model: Model, base: tuple[int, int],
                    sensitivity_dbm, noise_floor_dbm, freq_hz: int) -> NodeRadios:
    """The settings of every node for scenario ``s`` (see the module docstring).

    ``sensitivity_dbm(receiver, sf, bw)`` and ``noise_floor_dbm(receiver, bw)`` come
    from the channel, so the rules judge a link as the channel will.
    """
    if s.node_settings not in SETTING_RULES:
        raise SimConfigError(f"node_settings {s.node_settings!r} is not one of "
                             f"{list(SETTING_RULES)}")
    n = len(world)
    sf = np.full(n, base[0])
    bw = np.full(n, base[1])
    power = np.full(n, float(s.tx_power_dbm))
    if s.node_settings != "fixed":
        grid = LORASIM_GRID if s.choose_from == "lorasim" else region_grid(region)
        rx_dbm, best = _best_rx_dbm(world, senders, receivers, model, freq_hz, power)
        for k, i in enumerate(senders.tolist()):
            sf[i], bw[i], power[i] = _rule(s, grid, float(rx_dbm[k]), float(power[i]),
                                           int(best[k]), sensitivity_dbm, noise_floor_dbm)
    radios = {"spreading_factor": sf, "bandwidth_hz": bw, "tx_power_dbm": power,
              "coding_rate": np.full(n, s.coding_rate),
              "payload_bytes": np.full(n, s.payload_bytes)}
    _override(radios, s.nodes, world, region)
    for setting in {(int(a), int(b), int(c)) for a, b, c in zip(
            sf[senders], bw[senders], radios["coding_rate"][senders], strict=True)}:
        check_setting(region, *setting, s.regulatory_limits)
    payload = radios["payload_bytes"]
    if not ((payload >= 1) & (payload <= 255)).all():
        raise SimConfigError("payload_bytes must be 1..255 for every node")
    rows = list(zip(payload.tolist(), sf.tolist(), bw.tolist(), radios["coding_rate"].tolist(),
                    strict=True))
    once = {row: airtime_s(*map(int, row)) for row in set(rows)}  # a few distinct settings
    air = np.array([once[row] for row in rows])
    return NodeRadios(airtime_s=air, **radios)


def _rule(s, grid, rx_dbm: float, power_dbm: float, receiver: int, sensitivity_dbm,
          noise_floor_dbm) -> tuple[int, int, float]:
    if s.node_settings == "adr":
        return _adr(grid, rx_dbm, power_dbm, receiver, noise_floor_dbm)
    usable = [(airtime_s(s.payload_bytes, sf, bw, s.coding_rate), k, sf, bw)
              for k, (sf, bw) in enumerate(grid)
              if float(sensitivity_dbm(receiver, sf, bw)) < rx_dbm]
    if not usable:  # out of reach of every setting: the most sensitive one
        sens = [float(sensitivity_dbm(receiver, sf, bw)) for sf, bw in grid]
        return (*grid[int(np.argmin(sens))], power_dbm)
    _, _, sf, bw = min(usable)
    if s.node_settings == "distance-power":
        margin = rx_dbm - float(sensitivity_dbm(receiver, sf, bw))
        power_dbm = max(MIN_TX_POWER_DBM, power_dbm - math.floor(margin))
    return sf, bw, power_dbm


def _adr(grid, rx_dbm: float, power_dbm: float, receiver: int,
         noise_floor_dbm) -> tuple[int, int, float]:
    faster = sorted(grid, key=lambda g: airtime_s(20, g[0], g[1]), reverse=True)
    k = 0  # from the slowest setting
    sf, bw = faster[k]
    snr = rx_dbm - float(noise_floor_dbm(receiver, bw))
    steps = math.floor((snr - snr_floor(sf) - ADR_INSTALLATION_MARGIN_DB) / ADR_STEP_DB)
    while steps > 0 and k + 1 < len(faster):
        k, steps = k + 1, steps - 1
    while steps > 0 and power_dbm - ADR_POWER_STEP_DB >= MIN_TX_POWER_DBM:
        power_dbm, steps = power_dbm - ADR_POWER_STEP_DB, steps - 1
    return (*faster[k], power_dbm)


def _override(radios: dict[str, np.ndarray], nodes: Mapping, world: World,
              region: Region) -> None:
    for name, fields in nodes.items():
        i = world.index_of(name)
        if not isinstance(fields, Mapping):
            raise SimConfigError(f"nodes.{name} must be a table of settings, got {fields!r}")
        for key, value in fields.items():
            if key not in NODE_FIELDS:
                raise SimConfigError(f"nodes.{name}.{key}: not a per-node setting; use one "
                                     f"of {list(NODE_FIELDS)}")
            if key == "data_rate":  # a region data rate: its SF and bandwidth
                try:
                    rate = region.data_rate(value)
                except RegionError as exc:
                    raise SimConfigError(f"nodes.{name}.data_rate: {exc}") from None
                radios["spreading_factor"][i] = rate.spreading_factor
                radios["bandwidth_hz"][i] = rate.bandwidth_hz
            else:
                radios[key][i] = value


def with_powers(world: World, tx_power_dbm: np.ndarray) -> World:
    """``world`` with each hotspot's conducted power replaced (the channel reads it for
    its range)."""
    if np.array_equal(world.tx_power_dbm, tx_power_dbm):
        return world
    return World([replace(h, tx_power_dbm=float(p))
                  for h, p in zip(world.hotspots, tx_power_dbm.tolist(), strict=True)])

"""The testnet's directory: keys, genesis, parameters, one TOML config per process, the world.

Everything a process needs is written before any starts, in the layouts the daemons
and tools already know: the chain as `coverage-net chain genesis` writes it
(``genesis.toml``, ``network-params.json``, ``v<i>/key.json`` with ``v<i>`` the
validator's data directory), each process's configuration in the schema of
`coverage_net.config` inside its own data directory with paths relative to it, and
the world file the simulator serves. ``testnet.json`` records who is who (names,
roles, keys, true and asserted positions) for the report and for tests.

Keys derive from the seed: the same seed gives the same network, peer ids included.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from coverage_net.consensus import Genesis, GenesisValidator, save_genesis
from coverage_net.identity import Keypair, peer_id_from_public_key, save_keypair
from coverage_net.poc import DAY_MS, NetworkParams, params_from_dict
from coverage_net.radio import Station

from ._errors import TestnetError
from ._plan import HOTSPOT_ANTENNA_M, WorldPlan
from ._supervisor import ProcessSpec

__all__ = ["GENESIS_FILENAME", "PARAMS_FILENAME", "SIM_NAME", "ROUTER_NAME", "TestnetLayout",
           "write_testnet"]

GENESIS_FILENAME = "genesis.toml"  # as coverage_net.node writes them (not imported:
PARAMS_FILENAME = "network-params.json"  # py-libp2p is slow to import)
SIM_NAME = "sim"
ROUTER_NAME = "router"
SENSORS = 2
"""Simulated sensors, each 100 m from one of the first neighbours."""
_SENSOR_OFFSET_DEG = 100 / 111_195
_CHAIN_ID = "coverage-net-testnet"
_COMMAND = (sys.executable, "-m", "coverage_net.cli")


@dataclass(frozen=True)
class TestnetLayout:
    """Where everything of one testnet lives, and how to start each of its processes."""

    __test__ = False  # not a pytest test class

    out_dir: Path
    plan: WorldPlan
    validators: int
    seed: int
    genesis_time_ms: int
    epoch_ms: int
    ports: tuple[int, ...]
    """Each validator's listening port on 127.0.0.1, as the genesis lists them."""

    @property
    def validator_names(self) -> list[str]:
        return [f"v{i}" for i in range(self.validators)]

    @property
    def hotspot_names(self) -> list[str]:
        return [h.name for h in self.plan.hotspots]

    @property
    def world_path(self) -> Path:
        return self.out_dir / "world.csv"

    @property
    def radio_dir(self) -> Path:
        return self.out_dir / "radio"

    @property
    def manifest_path(self) -> Path:
        return self.radio_dir / "manifest.json"

    @property
    def log_dir(self) -> Path:
        return self.out_dir / "logs"

    def data_dir(self, name: str) -> Path:
        """The data directory (and config directory) of process `name`."""
        if name in self.validator_names or name == ROUTER_NAME:
            return self.out_dir / name
        if name in self.hotspot_names:
            return self.out_dir / "hotspots" / name
        raise TestnetError(f"no process named {name!r} in this testnet")

    def kind(self, name: str) -> str:
        """"validator", "router" or "hotspot"."""
        self.data_dir(name)
        return ("validator" if name in self.validator_names
                else "router" if name == ROUTER_NAME else "hotspot")

    def config_path(self, name: str) -> Path:
        return self.data_dir(name) / f"{self.kind(name)}.toml"

    def key_path(self, name: str) -> Path:
        return self.data_dir(name) / "key.json"

    def keypair(self, name: str) -> Keypair:
        """Process `name`'s key, from the seed (the key file holds the same)."""
        digest = hashlib.sha256(f"coverage-net testnet {self.seed} {name}".encode()).digest()
        return Keypair.from_seed(digest)

    def process_specs(self) -> list[ProcessSpec]:
        """Every process in start order: simulator, validators, router, hotspots."""
        sim = ProcessSpec(SIM_NAME, (*_COMMAND, "sim", "serve", "--world", str(self.world_path),
                                     "--dir", str(self.radio_dir), "--manifest",
                                     str(self.manifest_path), "--model", self.plan.model,
                                     "--seed", str(self.seed), "--air", "realistic",
                                     *self.sensor_args()),
                          self.log_dir / f"{SIM_NAME}.log")
        return [sim] + [self.process_spec(name) for name in
                        (*self.validator_names, ROUTER_NAME, *self.hotspot_names)]

    def process_spec(self, name: str) -> ProcessSpec:
        """`coverage-net <kind> run --config <its config>`, logging to logs/<name>.log."""
        return ProcessSpec(name, (*_COMMAND, self.kind(name), "run", "--config",
                                  str(self.config_path(name))),
                           self.log_dir / f"{name}.log", cwd=self.data_dir(name))

    @property
    def sensors_path(self) -> Path:
        return self.out_dir / "sensors.json"

    def sensor_args(self) -> tuple[str, ...]:
        """The simulated sensors (devices sending LoRaWAN uplinks for the router to buy) on
        the beacon channel of the network parameters: options for `sim serve`."""
        return ("--sensors", str(self.sensors_path), "--params",
                str(self.out_dir / PARAMS_FILENAME))


def write_testnet(out_dir: Path, plan: WorldPlan, *, validators: int, epoch_s: float,
                  seed: int, genesis_time_ms: int, ports: list[int],
                  router_port: int = 0) -> TestnetLayout:
    """Write a whole testnet into `out_dir` (which must be new or empty). `ports`: the
    validators'; `router_port`: the router's (0: any free one, then hotspots find it
    only through discovery), which hotspots dial to sell the uplinks they hear."""
    out_dir = Path(out_dir).absolute()  # processes run in their own data directories
    _check_out_dir(out_dir)
    if validators < 1:
        raise TestnetError(f"--validators must be at least 1; got {validators}")
    if len(ports) != validators:
        raise TestnetError(f"{len(ports)} ports for {validators} validators")
    epoch_ms = round(epoch_s * 1000)
    layout = TestnetLayout(out_dir, plan, validators, seed, genesis_time_ms, epoch_ms,
                           tuple(ports))
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [*layout.validator_names, ROUTER_NAME, *layout.hotspot_names]
    for name in names:
        layout.data_dir(name).mkdir(parents=True, exist_ok=True)
        save_keypair(layout.keypair(name), layout.key_path(name))
    params = _params(layout)
    (out_dir / PARAMS_FILENAME).write_text(json.dumps(params.to_dict(), indent=2) + "\n",
                                           encoding="utf-8")
    genesis = Genesis(
        chain_id=_CHAIN_ID,
        validators=tuple(GenesisValidator(layout.keypair(v).public_key,
                                          f"/ip4/127.0.0.1/tcp/{port}")
                         for v, port in zip(layout.validator_names, ports, strict=True)),
        params_digest=params.digest(),
        first_entropy=hashlib.sha256(f"coverage-net testnet entropy {seed}".encode()).digest(),
        genesis_time_ms=genesis_time_ms)
    save_genesis(genesis, out_dir / GENESIS_FILENAME)
    _write_world(layout)
    bootstrap = [f"/ip4/127.0.0.1/tcp/{port}/p2p/"
                 f"{peer_id_from_public_key(layout.keypair(v).public_key)}"
                 for v, port in zip(layout.validator_names, ports, strict=True)]
    for i, name in enumerate(layout.validator_names):
        _write_config(layout, name, {
            "network": {"listen": [f"/ip4/127.0.0.1/tcp/{ports[i]}"],
                        "bootstrap": bootstrap[:i] + bootstrap[i + 1:]},
            "chain": {"params": f"../{PARAMS_FILENAME}", "genesis": f"../{GENESIS_FILENAME}"}})
    router_addr = f"/ip4/127.0.0.1/tcp/{router_port}"
    _write_config(layout, ROUTER_NAME, {
        "network": {"listen": [router_addr], "bootstrap": bootstrap},
        "chain": {"params": f"../{PARAMS_FILENAME}", "genesis": f"../{GENESIS_FILENAME}"},
        "sink": {"path": "uplinks.jsonl"}})
    for hotspot in plan.hotspots:
        _write_config(layout, hotspot.name, {
            "location": {"lat": hotspot.asserted_lat_deg, "lon": hotspot.asserted_lon_deg,
                         "antenna_height_m": HOTSPOT_ANTENNA_M},
            "radio": {"driver": "native", "port": str(layout.radio_dir / hotspot.name),
                      "region": plan.region},
            "network": {"bootstrap": bootstrap + ([
                f"{router_addr}/p2p/"
                f"{peer_id_from_public_key(layout.keypair(ROUTER_NAME).public_key)}"]
                if router_port else [])},
            "chain": {"params": f"../../{PARAMS_FILENAME}"}})
    _save(out_dir / "testnet.json", _roster(layout))
    return layout


def _write_world(layout: TestnetLayout) -> None:
    """The simulator's world (every radio where it really is, at `HOTSPOT_ANTENNA_M`) and
    a sensor beside each of the first `SENSORS` neighbours (sending every half epoch)."""
    from radio_sim import World  # the testnet (layer 5) picks the simulator

    plan = layout.plan
    near = plan.named("neighbour")[:SENSORS]
    sensors = [Station(f"sensor{i + 1}", lat_deg=h.radio_lat_deg + _SENSOR_OFFSET_DEG,
                       lon_deg=h.radio_lon_deg, region=plan.region, antenna_height_m=1.5)
               for i, h in enumerate(near)]
    World(plan.stations() + sensors).to_csv(layout.world_path)
    _save(layout.sensors_path, [{"name": s.name, "every_s": layout.epoch_ms / 2000,
                                 "first_s": 2.0 + i} for i, s in enumerate(sensors)])


def _params(layout: TestnetLayout) -> NetworkParams:
    """Short epochs, every hotspot challenged about once an epoch (windows a fifth of
    it), the validators as challengers, the router's receipts counted, and the
    simulator's path-loss model. Every verifier check runs with its defaults: the
    simulator serves a realistic air (``sim serve --air realistic``: shadowing, fading,
    measurement and gain errors the model does not know), as a real network's is."""
    return params_from_dict({
        "epoch_length_ms": layout.epoch_ms,
        "challenges_per_hotspot_per_day": max(1, DAY_MS // layout.epoch_ms),
        # a fifth of the epoch: every challenge's window closes within its epoch
        "challenge_window_ms": max(2_000, layout.epoch_ms // 5),
        "validators": [layout.keypair(v).public_key.hex() for v in layout.validator_names],
        "propagation": {"model": layout.plan.model},
        "rewards": {"routers": [layout.keypair(ROUTER_NAME).public_key.hex()]},
    })


def _write_config(layout: TestnetLayout, name: str, sections: dict[str, dict]) -> None:
    common = {"identity": {"key_file": "key.json"}, "data": {"dir": "."},
              "metrics": {"listen": "127.0.0.1:0"}, "log": {"level": "info"}}
    merged = {**common, **sections}
    text = f"# {layout.kind(name)} {name} of the testnet in {layout.out_dir}\n"
    for section, values in merged.items():
        text += f"\n[{section}]\n" + "".join(f"{key} = {_toml_value(value)}\n"
                                             for key, value in values.items())
    layout.config_path(name).write_text(text, encoding="utf-8")


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, float) and math.isfinite(value) or isinstance(value, int):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def _roster(layout: TestnetLayout) -> dict:
    def key(name: str) -> str:
        return layout.keypair(name).public_key.hex()
    return {
        "epoch_ms": layout.epoch_ms, "genesis_time_ms": layout.genesis_time_ms,
        "seed": layout.seed, "region": layout.plan.region, "model": layout.plan.model,
        "validators": {v: {"key": key(v), "port": port}
                       for v, port in zip(layout.validator_names, layout.ports, strict=True)},
        "router": key(ROUTER_NAME),
        "hotspots": {h.name: {"key": key(h.name), "role": h.role,
                              "radio": [h.radio_lat_deg, h.radio_lon_deg],
                              "asserted": [h.asserted_lat_deg, h.asserted_lon_deg]}
                     for h in layout.plan.hotspots}}


def _save(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise TestnetError(f"--out {out_dir} is a file; give a new or empty directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise TestnetError(f"--out {out_dir} is not empty; give a new or empty directory "
                           "(a testnet never writes over another)")
    parent = out_dir.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise TestnetError(f"--out {out_dir}: cannot create it ({parent} is not writable)")

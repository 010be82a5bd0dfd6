"""Running a testnet: write it, start its processes in order, wait for epochs, stop, report.

`Testnet` is the running network over a `Supervisor`: the CLI uses it start to end,
and a test can reach through `Testnet.supervisor` to kill and restart a hotspot or a
validator mid-run, then wait for more epochs. Order matters: the simulator first (the
hotspots open its ptys), then the validators (everyone bootstraps to them), the router,
the hotspots. The genesis time leaves the processes room to start, so the first epoch
is not lost to imports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._chain_genesis import free_ports
from ._errors import TestnetError, TestnetTimeoutError
from ._layout import SIM_NAME, TestnetLayout, write_testnet
from ._plan import plan_world
from ._report import RewardRow, read_rewards, write_coverage_map, write_rewards
from ._status import VALIDATOR_STATUS_FILENAME, NetworkSnapshot, read_snapshot, read_status_file
from ._supervisor import StopResult, Supervisor

__all__ = ["MAP_FILENAME", "REWARDS_FILENAME", "Testnet", "TestnetOptions", "TestnetResult",
           "free_ports", "prepare_testnet", "run_testnet"]

logger = logging.getLogger(__name__)

MAP_FILENAME = "coverage-map.geojson"
REWARDS_FILENAME = "rewards.json"
_SIM_START_TIMEOUT_S = 60.0
_STARTUP_S_PER_PROCESS = 1.5
"""Seconds of genesis delay per process: importing py-libp2p, opening stores, then
meeting the others (16 processes took ~17 s to start on the shared 2-core box, and a
validator challenges in epoch 0 only the hotspots whose announcements it holds when
epoch 0 begins; at 1 s each, epoch 0 had no challenges in 3 of 4 demo runs)."""
_POLL_S = 1.0


@dataclass(frozen=True)
class TestnetOptions:
    """What `coverage-net testnet` was asked for."""

    __test__ = False  # not a pytest test class

    out_dir: Path
    hotspots: int
    epochs: int
    validators: int = 4
    dem_dir: Path | None = None
    region: str = "US915"
    seed: int = 0
    epoch_s: float = 20.0
    start_delay_s: float | None = None
    """Seconds from now to the genesis; default, time for every process to start."""
    timeout_s: float | None = None
    """Give up when the epochs are not final by then; default, generous for the epochs."""


@dataclass(frozen=True)
class TestnetResult:
    """How the run ended: progress, rewards, the map and how every process stopped."""

    __test__ = False  # not a pytest test class

    layout: TestnetLayout
    snapshot: NetworkSnapshot
    rewards: list[RewardRow]
    map_path: Path
    map_cells: int
    stopped: list[StopResult]


def prepare_testnet(options: TestnetOptions) -> TestnetLayout:
    """Plan the world and write the whole testnet into `options.out_dir`."""
    if options.epochs < 1:
        raise TestnetError(f"--epochs must be at least 1; got {options.epochs}")
    if options.epoch_s < 5:
        raise TestnetError(f"--epoch-s must be at least 5 (a beacon, its witnesses and their "
                           f"reports must fit in an epoch); got {options.epoch_s:g}")
    plan = plan_world(options.hotspots, seed=options.seed, region=options.region,
                      dem_dir=options.dem_dir)
    processes = 2 + options.validators + options.hotspots
    delay_s = (options.start_delay_s if options.start_delay_s is not None
               else 5.0 + _STARTUP_S_PER_PROCESS * processes)
    *ports, router_port = free_ports(options.validators + 1)
    return write_testnet(options.out_dir, plan, validators=options.validators,
                         epoch_s=options.epoch_s, seed=options.seed,
                         genesis_time_ms=time.time_ns() // 1_000_000 + round(delay_s * 1000),
                         ports=ports, router_port=router_port)


class Testnet:
    """A written testnet's processes under `supervisor` (see the module doc)."""

    __test__ = False  # not a pytest test class

    def __init__(self, layout: TestnetLayout, supervisor: Supervisor) -> None:
        self.layout, self.supervisor = layout, supervisor

    def start(self) -> None:
        """Start the simulator, wait for its ports, then every other process."""
        sim, *others = self.layout.process_specs()
        self.supervisor.start(sim)
        self.supervisor.wait_for(SIM_NAME, self.layout.manifest_path, _SIM_START_TIMEOUT_S)
        for spec in others:
            self.supervisor.start(spec)

    def wait_for_epochs(self, epochs: int, *, timeout_s: float,
                        on_progress: Callable[[NetworkSnapshot], None] | None = None
                        ) -> NetworkSnapshot:
        """Watch until `epochs` heights are final; a process that dies or the time running
        out raises an error that names it."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.supervisor.check()
            snapshot = read_snapshot(self.layout)
            if on_progress is not None:
                on_progress(snapshot)
            if snapshot.finalized >= epochs:
                return snapshot
            if time.monotonic() > deadline:
                raise TestnetTimeoutError(self._stalled(snapshot, epochs, timeout_s))
            time.sleep(_POLL_S)

    def default_timeout_s(self, epochs: int) -> float:
        """Until genesis, the epochs and three more, and a minute of slack."""
        to_genesis_s = max(0.0, self.layout.genesis_time_ms / 1000 - time.time())
        return to_genesis_s + (epochs + 3) * self.layout.epoch_ms / 1000 + 60.0

    def _stalled(self, snapshot: NetworkSnapshot, epochs: int, timeout_s: float) -> str:
        heights = []
        for name in self.layout.validator_names:
            status = read_status_file(self.layout.data_dir(name), VALIDATOR_STATUS_FILENAME)
            decided = sorted(int(h) for h in (status or {}).get("decided", {}))
            heights.append(f"{name} {decided if status else 'no status yet'}")
        return (f"only {snapshot.finalized} of {epochs} epochs were finalized within "
                f"{timeout_s:.0f} s (decided heights: {'; '.join(heights)}; "
                f"{snapshot.hotspots_reporting} of {len(self.layout.hotspot_names)} hotspots "
                f"wrote a status); see the logs in {self.layout.log_dir}")

    def stop(self) -> list[StopResult]:
        """Stop every process (SIGINT, then SIGKILL with a warning), hotspots first; how
        each ended is in the results (`StopResult.clean`)."""
        return self.supervisor.stop_all()

    def report(self, snapshot: NetworkSnapshot, stopped: list[StopResult]) -> TestnetResult:
        """Rewards (also written to rewards.json) and the coverage map from the most
        advanced validator's files."""
        if snapshot.leader is None:
            raise TestnetError("no validator decided any height; nothing to report")
        rewards = read_rewards(self.layout, snapshot.leader)
        write_rewards(rewards, self.layout.out_dir / REWARDS_FILENAME)
        map_path = self.layout.out_dir / MAP_FILENAME
        cells = write_coverage_map(self.layout, snapshot.leader, map_path)
        return TestnetResult(self.layout, snapshot, rewards, map_path, cells, stopped)


def run_testnet(layout: TestnetLayout, epochs: int, *, timeout_s: float | None = None,
                on_progress: Callable[[NetworkSnapshot], None] | None = None) -> TestnetResult:
    """The whole `coverage-net testnet` on a prepared `layout`: start every process, wait
    for `epochs` final epochs, stop them all, report."""
    with Supervisor() as supervisor:
        testnet = Testnet(layout, supervisor)
        testnet.start()
        snapshot = testnet.wait_for_epochs(
            epochs, timeout_s=timeout_s or testnet.default_timeout_s(epochs),
            on_progress=on_progress)
        stopped = testnet.stop()
    logger.info("stopped after %d epochs", snapshot.finalized)
    return testnet.report(read_snapshot(layout), stopped)  # the files are final now

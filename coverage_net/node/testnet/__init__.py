"""`coverage-net testnet`: a whole coverage-net network on one machine (layer 5).

A seeded world (`plan_world`: hotspots in range of each other, one far out of range,
one liar), written as keys, genesis, parameters and per-process TOML configs
(`write_testnet`), run as real processes (the radio simulator, validators, a router,
hotspots) under a reusable `Supervisor`, watched through the processes' own status
files (`read_snapshot`), and reported as each hotspot's rewards from a validator's
ledger and a GeoJSON map of the cells where coverage was proven.
"""

from ._errors import ProcessExitedError, TestnetError, TestnetTimeoutError
from ._layout import ROUTER_NAME, SIM_NAME, TestnetLayout, write_testnet
from ._plan import (
    DEFAULT_CENTER,
    MIN_HOTSPOTS,
    PlannedHotspot,
    WorldPlan,
    link_margins_db,
    plan_world,
)
from ._progress import ProgressDisplay, describe
from ._report import MAP_RESOLUTION, RewardRow, read_rewards, write_coverage_map, write_rewards
from ._run import (
    MAP_FILENAME,
    REWARDS_FILENAME,
    Testnet,
    TestnetOptions,
    TestnetResult,
    free_ports,
    prepare_testnet,
    run_testnet,
)
from ._status import NetworkSnapshot, read_snapshot, read_status_file, verdict_counts
from ._supervisor import LOG_TAIL_LINES, ProcessSpec, StopResult, Supervisor, log_tail

__all__ = [
    "TestnetError", "ProcessExitedError", "TestnetTimeoutError",
    "plan_world", "WorldPlan", "PlannedHotspot", "link_margins_db", "MIN_HOTSPOTS",
    "DEFAULT_CENTER", "write_testnet", "TestnetLayout", "SIM_NAME", "ROUTER_NAME",
    "Supervisor", "ProcessSpec", "StopResult", "log_tail", "LOG_TAIL_LINES",
    "read_snapshot", "read_status_file", "verdict_counts", "NetworkSnapshot",
    "ProgressDisplay", "describe", "read_rewards", "write_coverage_map", "RewardRow",
    "MAP_RESOLUTION", "Testnet", "TestnetOptions", "TestnetResult", "prepare_testnet",
    "run_testnet", "free_ports", "MAP_FILENAME", "REWARDS_FILENAME", "write_rewards",
]

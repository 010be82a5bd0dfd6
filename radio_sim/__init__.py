"""The software radio simulator (layer 3): the air between simulated hotspots.

A `World` of hotspots on H3 cells, a `Channel` that decides who hears whom (path loss
from `coverage_net.radio`, noise, collisions, capture, half duplex, regional limits, and
seeded `Impairments`: fading, measurement and antenna gain errors, clock offsets; a
hidden `ClutterField` the model does not know), a `Scheduler` in virtual or real time,
virtual devboards on ptys that speak the native bridge protocol, sensors that send
LoRaWAN uplinks on a timer (`SensorFleet`), and a scenario runner.
"""

from ._channel import (
    GOURSAUD_SIR_DB,
    REASONS,
    Channel,
    CollisionModel,
    Reception,
    ReceptionBatch,
    Transmission,
)
from ._clutter import ClutterField
from ._devboard import SimBackend, VirtualDevboards, serve
from ._engine import EventHandle, RealtimeScheduler, Scheduler
from ._errors import (
    DutyCycleError,
    DwellTimeError,
    ImpairmentError,
    RegulatoryLimitError,
    SimConfigError,
    SimError,
)
from ._impairments import (
    FADING_MODELS,
    REALISTIC_IMPAIRMENTS,
    REALISTIC_SHADOWING_DB,
    Impairments,
)
from ._nodes import SETTING_RULES
from ._scenario import (
    LINK_COLUMNS,
    RunResult,
    Scenario,
    lorasim_preset,
    run_scenario,
)
from ._scenario_file import ScenarioFile, load_scenario, scenario_from_args
from ._sensors import Sensor, SensorFleet, read_sensors, sensor_reading
from ._simradio import SimAir, SimRadio
from ._traffic import TRAFFIC_MODELS
from ._world import CELL_RES, World, WorldError, clustered, on_dem, uniform

__all__ = [
    "GOURSAUD_SIR_DB", "REASONS", "Channel", "CollisionModel", "Reception", "ReceptionBatch",
    "Transmission", "ClutterField", "SimBackend", "VirtualDevboards", "serve", "EventHandle",
    "RealtimeScheduler", "Scheduler", "DutyCycleError", "DwellTimeError",
    "RegulatoryLimitError", "SimConfigError", "SimError", "LINK_COLUMNS", "RunResult",
    "Scenario", "lorasim_preset", "run_scenario", "scenario_from_args", "SimAir", "SimRadio",
    "CELL_RES", "World", "WorldError", "clustered", "on_dem", "uniform", "FADING_MODELS",
    "ImpairmentError", "Impairments", "REALISTIC_IMPAIRMENTS", "REALISTIC_SHADOWING_DB",
    "Sensor", "SensorFleet", "read_sensors", "sensor_reading",
    "ScenarioFile", "load_scenario", "TRAFFIC_MODELS", "SETTING_RULES",
]

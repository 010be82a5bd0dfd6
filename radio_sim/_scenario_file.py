"""Scenario files: a `Scenario` in TOML or JSON, with what its run is expected to give.

Top-level keys are `Scenario` fields (`impairments` and `nodes` are tables); an
optional ``expected`` table records the result the file is checked against:

```toml
hotspots = 101
collision = "capture-timing"
traffic = "renewal"
receivers = "central"

[expected]
der = 0.912            # LoRaSim's data extraction rate
source = "bench/lorasim.py: seeds 0-19, 30 simulated days each"
test_days = 2.0        # how long a test run lasts (5 seeds), to land within 1 pp
```

`coverage-net sim run --scenario FILE` runs one; options given on the command
line override the file's values.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from ._errors import SimConfigError
from ._impairments import Impairments
from ._scenario import Scenario, lorasim_preset

__all__ = ["ScenarioFile", "load_scenario", "scenario_from_args"]

_FIELDS = frozenset(f.name for f in fields(Scenario))
_EXPECTED = frozenset({"der", "delivery_ratio", "source", "test_days", "tolerance_pp"})


@dataclass(frozen=True)
class ScenarioFile:
    """A scenario as read from `path`, and its ``expected`` table (empty when absent)."""

    path: Path
    scenario: Scenario
    expected: dict


def _read(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SimConfigError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text)
        if suffix == ".json":
            data = json.loads(text)
            if not isinstance(data, dict):
                raise SimConfigError(f"{path}: a scenario file holds one object of settings")
            return data
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise SimConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    raise SimConfigError(f"{path}: a scenario file ends in .toml or .json, not {suffix!r}")


def load_scenario(path: str | os.PathLike, **overrides) -> ScenarioFile:
    """Read a scenario file; ``overrides`` replace its values (None means keep)."""
    path = Path(path)
    data = _read(path)
    expected = data.pop("expected", {})
    if not isinstance(expected, dict) or not set(expected) <= _EXPECTED:
        raise SimConfigError(f"{path}: expected must be a table of "
                             f"{sorted(_EXPECTED)}, got {expected!r}")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise SimConfigError(f"{path}: unknown setting {unknown[0]!r}; a scenario file "
                             f"takes {sorted(_FIELDS)}")
    if "center" in data:
        data["center"] = tuple(data["center"])
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        scenario = Scenario(**data)
    except SimConfigError as exc:
        raise SimConfigError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise SimConfigError(f"{path}: {exc}") from None
    return ScenarioFile(path, scenario, expected)


_IMPAIRMENT_KEYS = frozenset(f.name for f in fields(Impairments)) - {"seed"}


def scenario_from_args(**kwargs) -> Scenario:
    """A Scenario from CLI-style arguments (None means default).

    Impairment keys (`fading`, `rssi_error_sigma_db`, ...) may be given flat; their
    draws are seeded by the scenario's seed. With ``scenario_file`` the file's values
    are the defaults the arguments override."""
    preset = kwargs.pop("preset", None)
    scenario_file = kwargs.pop("scenario_file", None)
    given = {k: v for k, v in kwargs.items() if v is not None}
    impaired = {k: given.pop(k) for k in _IMPAIRMENT_KEYS & set(given)}
    if impaired:
        given["impairments"] = Impairments(seed=given.get("seed", 0), **impaired)
    if scenario_file is not None:
        if preset is not None:
            raise SimConfigError("give --preset or --scenario, not both")
        return load_scenario(scenario_file, **given).scenario
    if preset == "lorasim":
        nodes = given.pop("hotspots", 100)
        return lorasim_preset(nodes, **given)
    return Scenario(**given)

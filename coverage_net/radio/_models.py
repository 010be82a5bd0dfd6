"""Path-loss models as small frozen descriptions, and the names the CLI uses for them.

`params()` gives the kernel's five model parameters (unused ones are zero); for
the log-distance model they are (d0_m, pl0_db, gamma, log10(d0_m), sigma_db).

A model object holds only parameters; `propagation.path_loss_db` runs it. The
log-distance preset `LORASIM` carries the constants published with LoRaSim
(Bor et al., "Do LoRa Low-Power Wide-Area Networks Scale?", MSWiM 2016):
d0 = 40 m, PL(d0) = 127.41 dB, gamma = 2.08, sigma = 3.57 dB in the paper; the
preset keeps sigma at 0 so that its mean loss is the paper's and callers opt in
to shadowing with ``dataclasses.replace(LORASIM, sigma_db=3.57)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ._errors import InvalidInputError, UnknownModelError
from ._terrain import Terrain

# kernel model codes (ext/pathloss.pyx `Model`)
_FREE_SPACE, _LOG_DISTANCE, _HATA_URBAN, _HATA_SUBURBAN, _HATA_OPEN, _COST231, _TWO_RAY = range(7)


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InvalidInputError(f"{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class FreeSpace:
    """ITU-R P.525 free-space loss over the slant distance between antenna tops."""

    name = "free-space"
    code = _FREE_SPACE
    needs_positive_heights = False

    def params(self) -> tuple[float, ...]:
        return (0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class LogDistance:
    """PL(d) = PL(d0) + 10 gamma log10(d / d0) + X_sigma, X_sigma log-normal shadowing.

    The shadowing draw is keyed on the unordered pair of endpoints and the seed:
    the same link always gets the same draw, in either direction.
    """

    d0_m: float = 40.0
    pl0_db: float = 127.41
    gamma: float = 2.08
    sigma_db: float = 0.0

    name = "log-distance"
    code = _LOG_DISTANCE
    needs_positive_heights = False

    def __post_init__(self) -> None:
        _positive("d0_m", self.d0_m)
        _positive("gamma", self.gamma)
        if not math.isfinite(self.pl0_db):
            raise InvalidInputError(f"pl0_db must be finite, got {self.pl0_db!r}")
        if not (math.isfinite(self.sigma_db) and self.sigma_db >= 0):
            raise InvalidInputError(f"sigma_db must be finite and >= 0, got {self.sigma_db!r}")

    def params(self) -> tuple[float, ...]:
        return (float(self.d0_m), float(self.pl0_db), float(self.gamma),
                math.log10(self.d0_m), float(self.sigma_db))


LORASIM = LogDistance(d0_m=40.0, pl0_db=127.41, gamma=2.08, sigma_db=0.0)


@dataclass(frozen=True)
class Hata:
    """Okumura-Hata (small/medium city mobile correction), valid 150-1500 MHz, 1-20 km.

    The transmitter is the base station (height hb), the receiver the mobile (hm).
    """

    environment: Literal["urban", "suburban", "open"] = "urban"

    needs_positive_heights = True

    def __post_init__(self) -> None:
        if self.environment not in ("urban", "suburban", "open"):
            raise InvalidInputError(
                f"Hata environment must be 'urban', 'suburban' or 'open', "
                f"got {self.environment!r}")

    @property
    def name(self) -> str:
        return f"hata-{self.environment}"

    @property
    def code(self) -> int:
        return {"urban": _HATA_URBAN, "suburban": _HATA_SUBURBAN,
                "open": _HATA_OPEN}[self.environment]

    def params(self) -> tuple[float, ...]:
        return (0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Cost231Hata:
    """COST-231 Hata (1500-2000 MHz extension); C_m = 3 dB for metropolitan centres."""

    metropolitan: bool = False

    name = "cost231"
    code = _COST231
    needs_positive_heights = True

    def params(self) -> tuple[float, ...]:
        return (3.0 if self.metropolitan else 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class TwoRay:
    """Two-ray ground reflection: free space up to the crossover 4 pi ht hr / lambda,
    then 40 log10(d) - 20 log10(ht) - 20 log10(hr)."""

    name = "two-ray"
    code = _TWO_RAY
    needs_positive_heights = True

    def params(self) -> tuple[float, ...]:
        return (0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, eq=False)
class TerrainModel:
    """Free space plus diffraction over the DEM profile of the great-circle path.

    The profile is sampled every `sample_spacing_m` (default: the DEM's spacing,
    about 93 m for 3 arc-second tiles), heights get the earth bulge for an
    effective radius `k_factor` times the earth's, and the obstruction loss is the
    ITU-R P.526 knife-edge approximation of the main edge (`method="single"`) or
    Deygout's construction with a main and up to two secondary edges
    (`method="deygout"`, `deygout_depth=2`; deeper recursion takes more edges).
    """

    terrain: Terrain
    method: Literal["deygout", "single"] = "deygout"
    deygout_depth: int = 2
    k_factor: float = 4.0 / 3.0
    sample_spacing_m: float | None = None
    max_samples: int = 8192

    name = "terrain"
    needs_positive_heights = False

    def __post_init__(self) -> None:
        if self.method not in ("deygout", "single"):
            raise InvalidInputError(
                f"terrain method must be 'deygout' or 'single', got {self.method!r}")
        if not 1 <= int(self.deygout_depth) <= 6:
            raise InvalidInputError(
                f"deygout_depth must be 1..6, got {self.deygout_depth!r}")
        _positive("k_factor", self.k_factor)
        if self.sample_spacing_m is not None:
            _positive("sample_spacing_m", self.sample_spacing_m)
        if not 3 <= int(self.max_samples) <= 1_000_000:
            raise InvalidInputError(
                f"max_samples must be 3..1000000, got {self.max_samples!r}")

    @property
    def depth(self) -> int:
        return 1 if self.method == "single" else int(self.deygout_depth)


Model = FreeSpace | LogDistance | Hata | Cost231Hata | TwoRay | TerrainModel

MODEL_NAMES = (
    "free-space", "log-distance", "lorasim", "hata-urban", "hata-suburban", "hata-open",
    "cost231", "two-ray", "terrain",
)


def model_from_name(name: str, *, terrain: Terrain | None = None) -> Model:
    """The model a CLI name stands for; `terrain` is used by the terrain model."""
    key = name.strip().lower().replace("_", "-")
    if key == "free-space":
        return FreeSpace()
    if key == "log-distance":
        return LogDistance()
    if key == "lorasim":
        return LORASIM
    if key.startswith("hata-"):
        return Hata(environment=key.removeprefix("hata-"))
    if key in ("cost231", "cost231-hata"):
        return Cost231Hata()
    if key == "two-ray":
        return TwoRay()
    if key == "terrain":
        return TerrainModel(terrain if terrain is not None else Terrain.flat())
    raise UnknownModelError(
        f"unknown path-loss model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")

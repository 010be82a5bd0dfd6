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


def _check_sampling(sample_spacing_m: float | None, max_samples: int) -> None:
    """The profile sampling of the models that walk a DEM profile."""
    if sample_spacing_m is not None:
        _positive("sample_spacing_m", sample_spacing_m)
    if not 3 <= int(max_samples) <= 1_000_000:
        raise InvalidInputError(f"max_samples must be 3..1000000, got {max_samples!r}")


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
        _check_sampling(self.sample_spacing_m, self.max_samples)

    @property
    def depth(self) -> int:
        return 1 if self.method == "single" else int(self.deygout_depth)


_POLARIZATIONS = ("vertical", "horizontal")


@dataclass(frozen=True, eq=False)
class ITMModel:
    """The Longley-Rice Irregular Terrain Model (NTIA ITM 1.2.2), point-to-point mode,
    over the same DEM profile as `TerrainModel` (without its k-factor bulge: ITM
    curves the earth with the refractivity it is given).

    The ground (relative `permittivity`, `conductivity_s_m`), the sea-level surface
    refractivity `refractivity_n` (N-units; scaled to the profile's mean height),
    `polarization` and the radio `climate` (1 equatorial, 2 continental subtropical,
    3 maritime subtropical, 4 desert, 5 continental temperate, 6 maritime temperate
    over land, 7 over sea) are ITM's inputs. `variability_mode` is ITM's mdvar
    (0 single message, 1 individual, 2 mobile, 3 broadcast; +10 no location
    variability, +20 no situation variability); 12 is NTIA's point-to-point
    choice. The loss returned is the one not exceeded in `time_pct` of the time,
    `location_pct` of locations and `situation_pct` of situations (50: medians).
    Defaults: average ground (15, 0.005 S/m), N = 301, vertical antennas.
    """

    terrain: Terrain
    climate: int = 5
    permittivity: float = 15.0
    conductivity_s_m: float = 0.005
    refractivity_n: float = 301.0
    polarization: Literal["vertical", "horizontal"] = "vertical"
    variability_mode: int = 12
    time_pct: float = 50.0
    location_pct: float = 50.0
    situation_pct: float = 50.0
    sample_spacing_m: float | None = None
    max_samples: int = 8192

    name = "itm"
    needs_positive_heights = True

    def __post_init__(self) -> None:
        if isinstance(self.climate, bool) or self.climate not in range(1, 8):
            raise InvalidInputError(f"ITM climate must be 1..7, got {self.climate!r}")
        _positive("permittivity", self.permittivity)
        _positive("conductivity_s_m", self.conductivity_s_m)
        if not (isinstance(self.refractivity_n, (int, float))
                and 250.0 <= self.refractivity_n <= 400.0):
            raise InvalidInputError(
                f"refractivity_n must be 250..400 N-units, got {self.refractivity_n!r}")
        if self.polarization not in _POLARIZATIONS:
            raise InvalidInputError(
                f"polarization must be 'vertical' or 'horizontal', got {self.polarization!r}")
        mode = self.variability_mode
        if isinstance(mode, bool) or not isinstance(mode, int) or mode % 10 > 3 \
                or not 0 <= mode < 30:
            raise InvalidInputError(
                f"variability_mode must be 0..3 plus 10 and/or 20, got {mode!r}")
        for name in ("time_pct", "location_pct", "situation_pct"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 < value < 100.0):
                raise InvalidInputError(f"{name} must be strictly between 0 and 100, "
                                        f"got {value!r}")
        _check_sampling(self.sample_spacing_m, self.max_samples)


Model = FreeSpace | LogDistance | Hata | Cost231Hata | TwoRay | TerrainModel | ITMModel

MODEL_NAMES = (
    "free-space", "log-distance", "lorasim", "hata-urban", "hata-suburban", "hata-open",
    "cost231", "two-ray", "terrain", "itm",
)


def model_from_name(name: str, *, terrain: Terrain | None = None) -> Model:
    """The model a CLI name stands for; `terrain` is used by the terrain and ITM models."""
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
    if key in ("itm", "longley-rice"):
        return ITMModel(terrain if terrain is not None else Terrain.flat())
    raise UnknownModelError(
        f"unknown path-loss model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")

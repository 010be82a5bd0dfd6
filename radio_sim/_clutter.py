"""A hidden clutter field: extra path loss per H3 area that no propagation model knows.

Buildings, forest and ground cover add loss around a radio that a terrain model over
a bare-earth DEM cannot see, and it varies from place to place. `ClutterField` gives
each H3 area (resolution 6 by default, about 36 km²) one seeded normal draw of extra
loss in dB; a link loses the clutter of the area at each of its ends, so the air stays
reciprocal (A->B equals B->A, as the verifier's reciprocity check expects of real
radios). It exists so that model calibration (`coverage_net.coverage.calibrate`) can
be shown to recover what the model misses: the simulator's air carries it, the
verifier's model does not.

Draws come from the same counter-based generator as the `Impairments` (no state), so
an area's clutter depends only on the seed and the area's H3 index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import h3
import numpy as np

from ._errors import SimConfigError
from ._impairments import _normals

__all__ = ["ClutterField"]

_CLUTTER_STREAM = 6  # beside the impairments' streams 1..5
_CLAMP_SIGMAS = 3.0


@dataclass(frozen=True)
class ClutterField:
    """Extra loss per H3 area at `res`: normal(0, `sigma_db`), clamped to 3 sigma.

    Examples
    --------
    >>> field = ClutterField(sigma_db=6.0, seed=3)
    >>> field.loss_db([44.3, 44.3], [-71.4, -71.4]).tolist() == [field.loss_db(44.3, -71.4)[0]] * 2
    True
    """

    sigma_db: float
    seed: int = 0
    res: int = 6

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sigma_db) and self.sigma_db >= 0):
            raise SimConfigError(f"clutter sigma_db must be a finite number >= 0, "
                                 f"got {self.sigma_db}")
        if not 0 <= self.res <= 15:
            raise SimConfigError(f"clutter res must be an H3 resolution 0..15, got {self.res}")

    def area_db(self, areas) -> np.ndarray:
        """Extra loss (dB) of H3 areas at `res` (int indexes)."""
        areas = np.atleast_1d(np.asarray(areas, dtype=np.uint64))
        z, _ = _normals(self.seed, _CLUTTER_STREAM, areas.astype(np.int64), 0)
        return self.sigma_db * np.clip(z, -_CLAMP_SIGMAS, _CLAMP_SIGMAS)

    def areas(self, lat_deg, lon_deg) -> np.ndarray:
        """The H3 areas (uint64 indexes at `res`) of points."""
        lat = np.atleast_1d(np.asarray(lat_deg, dtype=float)).ravel()
        lon = np.atleast_1d(np.asarray(lon_deg, dtype=float)).ravel()
        return np.fromiter((h3.str_to_int(h3.latlng_to_cell(a, o, self.res))
                            for a, o in zip(lat.tolist(), lon.tolist(), strict=True)),
                           dtype=np.uint64, count=len(lat))

    def loss_db(self, lat_deg, lon_deg) -> np.ndarray:
        """Extra loss (dB) at points: their area's draw (a flat array)."""
        return self.area_db(self.areas(lat_deg, lon_deg))

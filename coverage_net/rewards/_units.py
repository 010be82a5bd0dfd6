"""HIP-15 reward units per beacon, exact.

With ``w`` valid, rewarded witnesses of a beacon, ``N`` = `witness_target` and
``r`` = `witness_decay_ppm` / 10^6:

- the beaconer earns ``w / N`` for ``w <= N``, else ``min(2, 2 - r^(w - N))``;
- each witness earns ``1`` for ``w <= N``, else ``(N - (1 - r^(w - N))) / w``.

So a beacon is worth most when about N hotspots hear it, and a crowd of witnesses
shares a total that grows ever more slowly. The units are exact rationals
(`fractions.Fraction`); `UnitTable` turns them into integers over one common
denominator so that summing a million witnesses stays integer arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["UnitTable", "beaconer_units", "witness_units"]

_PPM = 1_000_000


def _decay(decay_ppm: int, excess: int) -> Fraction:
    return Fraction(decay_ppm, _PPM) ** excess


def beaconer_units(witnesses: int, target: int, decay_ppm: int) -> Fraction:
    """The beaconer's units for a beacon with `witnesses` valid rewarded witnesses."""
    if witnesses < 0:
        raise ValueError(f"witnesses must be >= 0, got {witnesses}")
    if witnesses <= target:
        return Fraction(witnesses, target)
    return min(Fraction(2), 2 - _decay(decay_ppm, witnesses - target))


def witness_units(witnesses: int, target: int, decay_ppm: int) -> Fraction:
    """Each witness's units for a beacon with `witnesses` valid rewarded witnesses (>= 1)."""
    if witnesses < 1:
        raise ValueError(f"a witness's units need witnesses >= 1, got {witnesses}")
    if witnesses <= target:
        return Fraction(1)
    return (target - (1 - _decay(decay_ppm, witnesses - target))) / witnesses


@dataclass(frozen=True)
class UnitTable:
    """The units for 0..`max_witnesses` witnesses as integers over `denominator`.

    ``beaconer[w] / denominator == beaconer_units(w, ...)`` exactly (and likewise for
    ``witness``; ``witness[0]`` is 0), `denominator` being the least common one.
    """

    denominator: int
    beaconer: tuple[int, ...]
    witness: tuple[int, ...]

    @classmethod
    def build(cls, max_witnesses: int, target: int, decay_ppm: int) -> UnitTable:
        beacon = [beaconer_units(w, target, decay_ppm) for w in range(max_witnesses + 1)]
        each = [Fraction(0)] + [witness_units(w, target, decay_ppm)
                                for w in range(1, max_witnesses + 1)]
        denominator = math.lcm(*(u.denominator for u in beacon + each))
        return cls(denominator,
                   tuple(int(u * denominator) for u in beacon),
                   tuple(int(u * denominator) for u in each))

"""One hotspot's reports against its own radio clock.

Radio timestamps are free-running per radio (an RN2483 has none and reports 0; a
Semtech concentrator's is a 32-bit microsecond counter that wraps every 71.6 min),
so they are compared only with the same hotspot's other reports: radio time minus
host time, modulo the wrap, is the same for every packet one radio heard, up to the
clocks' drift over an epoch. Reports off the offset most of its reports share came
from another radio's packets (a relay).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

__all__ = ["RADIO_CLOCK_WRAP_US", "off_the_radio_clock"]

RADIO_CLOCK_WRAP_US = 1 << 32
"""A 32-bit microsecond counter wraps after this many microseconds (71.6 min)."""

_MIN_REPORTS = 3


def off_the_radio_clock(stamps: Sequence[tuple[int, int]], tolerance_ms: int) -> list[int]:
    """Indices of the ``(radio_timestamp_us, host_time_ms)`` pairs off the majority clock.

    Pairs with no radio timestamp (0) are never judged. Nothing is judged below three
    stamped reports, or when no offset is shared by more than half of them.

    >>> off_the_radio_clock([(1_000_000, 0), (2_000_000, 1_000), (9_000_000, 2_000)], 100)
    [2]
    """
    stamped = [k for k, (radio_us, _) in enumerate(stamps) if radio_us]
    if len(stamped) < _MIN_REPORTS:
        return []
    tolerance_us = tolerance_ms * 1000
    offsets = [(stamps[k][0] - stamps[k][1] * 1000) % RADIO_CLOCK_WRAP_US for k in stamped]
    if max(offsets) - min(offsets) <= tolerance_us:
        return []  # the usual case: every report within the tolerance of every other
    # how many offsets lie within the tolerance of each (on the circle of the wrap):
    # sorted twice over, so every window is one contiguous run of the doubled list
    ordered = sorted(offsets)
    doubled = ordered + [o + RADIO_CLOCK_WRAP_US for o in ordered]

    def support(a: int) -> int:
        centre = a if a >= tolerance_us else a + RADIO_CLOCK_WRAP_US
        return (bisect.bisect_right(doubled, centre + tolerance_us)
                - bisect.bisect_left(doubled, centre - tolerance_us))

    counts = [support(a) for a in offsets]
    best = max(range(len(offsets)), key=lambda k: (counts[k], -offsets[k]))
    if counts[best] * 2 <= len(offsets):
        return []  # no clock most reports agree on: nothing to hold the others to
    centre = offsets[best]
    odd = []
    for k, offset in zip(stamped, offsets, strict=True):
        d = (offset - centre) % RADIO_CLOCK_WRAP_US
        if min(d, RADIO_CLOCK_WRAP_US - d) > tolerance_us:
            odd.append(k)
    return odd

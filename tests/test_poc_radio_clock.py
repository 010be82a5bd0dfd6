"""The radio-clock check against its rule written out plainly (one offset against all others).

`off_the_radio_clock` returns early when every offset lies within the tolerance of
every other; drifts of a few tolerances exercise both that path and the full one.
"""

from hypothesis import given
from hypothesis import strategies as st

from coverage_net.poc._radio_clock import RADIO_CLOCK_WRAP_US, off_the_radio_clock

TOLERANCE_MS = 2_000
T0_MS = 1_767_225_600_000


def _rule(stamps: list[tuple[int, int]], tolerance_ms: int) -> list[int]:
    """The documented rule, quadratic: the majority offset's outliers."""
    tol_us = tolerance_ms * 1000
    stamped = [k for k, (radio_us, _) in enumerate(stamps) if radio_us]
    if len(stamped) < 3:
        return []
    offsets = [(stamps[k][0] - stamps[k][1] * 1000) % RADIO_CLOCK_WRAP_US for k in stamped]

    def apart(a: int, b: int) -> int:
        d = (a - b) % RADIO_CLOCK_WRAP_US
        return min(d, RADIO_CLOCK_WRAP_US - d)

    counts = [sum(apart(a, b) <= tol_us for b in offsets) for a in offsets]
    best = max(range(len(offsets)), key=lambda k: (counts[k], -offsets[k]))
    if counts[best] * 2 <= len(offsets):
        return []
    return [k for k, o in zip(stamped, offsets, strict=True) if apart(o, offsets[best]) > tol_us]


@given(base_us=st.integers(0, RADIO_CLOCK_WRAP_US - 1),
       drifts_us=st.lists(st.integers(-3 * TOLERANCE_MS * 1000, 3 * TOLERANCE_MS * 1000),
                          min_size=3, max_size=12))
def test_radio_clock_follows_its_rule_on_both_sides_of_the_tolerance(base_us, drifts_us):
    stamps = [((base_us + drift + (T0_MS + k) * 1000) % RADIO_CLOCK_WRAP_US or 1, T0_MS + k)
              for k, drift in enumerate(drifts_us)]
    assert off_the_radio_clock(stamps, TOLERANCE_MS) == _rule(stamps, TOLERANCE_MS)


def test_an_offset_exactly_one_tolerance_off_agrees_and_one_microsecond_more_does_not():
    tol_us = TOLERANCE_MS * 1000

    def stamps(last_off_us: int) -> list[tuple[int, int]]:
        return [(5_000_000 + d + (T0_MS + k) * 1000, T0_MS + k)
                for k, d in enumerate((0, 0, 0, last_off_us))]

    assert off_the_radio_clock(stamps(tol_us), TOLERANCE_MS) == []
    assert off_the_radio_clock(stamps(tol_us + 1), TOLERANCE_MS) == [3]

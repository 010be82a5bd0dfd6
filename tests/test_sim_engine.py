"""The scheduler: deterministic order, virtual time, real time on trio."""

from __future__ import annotations

import threading

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from radio_sim._engine import RealtimeScheduler, Scheduler


@given(times=st.lists(st.floats(0, 1000, allow_nan=False), max_size=200))
def test_events_run_in_time_order_and_ties_in_insertion_order(times):
    s = Scheduler()
    seen = []
    for k, t in enumerate(times):
        s.schedule(t, seen.append, (t, k))
    s.run()
    assert seen == sorted(seen)  # by time, then by insertion index
    assert s.events_run == len(times)


def test_events_may_schedule_events_and_cancel():
    s = Scheduler()
    log = []

    def tick(n):
        log.append((s.now, n))
        if n < 3:
            s.schedule_in(1.5, tick, n + 1)

    s.schedule(0.0, tick, 0)
    h = s.schedule(2.0, log.append, "cancelled")
    h.cancel()
    s.run(until_s=100.0)
    assert log == [(0.0, 0), (1.5, 1), (3.0, 2), (4.5, 3)]
    assert s.now == 100.0


def test_cannot_schedule_in_the_past():
    s = Scheduler(start_s=10.0)
    with pytest.raises(ValueError, match="already at 10.0"):
        s.schedule(5.0, print)


def test_run_until_stops_before_later_events():
    s = Scheduler()
    log = []
    for t in (1.0, 2.0, 3.0):
        s.schedule(t, log.append, t)
    s.run(until_s=2.0)
    assert log == [1.0, 2.0] and s.now == 2.0
    s.run()
    assert log == [1.0, 2.0, 3.0]


async def test_realtime_scheduler_paces_virtual_time_by_the_clock(autojump_clock):
    s = RealtimeScheduler(wall_clock=trio.current_time, speed=10.0)
    fired = []
    start = trio.current_time()
    s.schedule(50.0, lambda: fired.append(trio.current_time() - start))
    await s.run(until_s=60.0)
    # 50 virtual seconds at 10x are 5 seconds of the (mock) wall clock
    assert fired == [pytest.approx(5.0, abs=1e-6)]
    assert s.now == pytest.approx(60.0, abs=1e-6)


async def test_realtime_scheduler_takes_work_from_other_threads():
    s = RealtimeScheduler(speed=1.0)
    done = trio.Event()
    seen = []

    def from_thread():
        s.call_soon_threadsafe(lambda: (seen.append(s.now), done.set()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(s.run)
        await trio.sleep(0.05)
        threading.Thread(target=from_thread).start()
        with trio.fail_after(10):
            await done.wait()
        nursery.cancel_scope.cancel()
    assert seen and seen[0] >= 0.0

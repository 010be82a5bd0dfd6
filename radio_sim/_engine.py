"""The discrete-event scheduler: virtual time, or real time on trio. It knows nothing of radio.

Events are callbacks scheduled at a time. Equal times run in the order they were
scheduled (a sequence number breaks ties), so a run is deterministic given its
inputs and seed. `Scheduler.run` advances virtual time as fast as the events
allow; `RealtimeScheduler.run` maps the same virtual clock onto the wall clock
and also accepts events from other threads (the pty threads of virtual
devboards), so the same channel code runs in both.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio


@dataclass(order=True)
class _Event:
    time_s: float
    seq: int
    callback: Callable = field(compare=False)
    args: tuple = field(compare=False, default=())
    cancelled: bool = field(compare=False, default=False)


class EventHandle:
    """What `schedule` returns; `cancel()` drops the event if it has not run."""

    __slots__ = ("_event",)

    def __init__(self, event: _Event) -> None:
        self._event = event

    @property
    def time_s(self) -> float:
        return self._event.time_s

    def cancel(self) -> None:
        self._event.cancelled = True


class Scheduler:
    """Virtual time: `run()` jumps from event to event.

    Examples
    --------
    >>> s = Scheduler()
    >>> out = []
    >>> _ = s.schedule(2.0, out.append, "b"); _ = s.schedule(1.0, out.append, "a")
    >>> _ = s.schedule(2.0, out.append, "c")
    >>> s.run(); out, s.now
    (['a', 'b', 'c'], 2.0)
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = float(start_s)
        self._queue: list[_Event] = []
        self._seq = itertools.count()
        self.events_run = 0

    @property
    def now(self) -> float:
        return self._now

    def schedule(self, at_s: float, callback: Callable, *args) -> EventHandle:
        """Run `callback(*args)` at virtual time `at_s` (not before now)."""
        if at_s < self._now:
            raise ValueError(f"cannot schedule at {at_s} s: the clock is already at "
                             f"{self._now} s")
        event = _Event(float(at_s), next(self._seq), callback, args)
        heapq.heappush(self._queue, event)
        return EventHandle(event)

    def schedule_in(self, delay_s: float, callback: Callable, *args) -> EventHandle:
        return self.schedule(self._now + delay_s, callback, *args)

    def next_time(self) -> float | None:
        while self._queue and self._queue[0].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0].time_s if self._queue else None

    def step(self) -> bool:
        """Run the next event; False when none is left."""
        if self.next_time() is None:
            return False
        event = heapq.heappop(self._queue)
        self._now = event.time_s
        self.events_run += 1
        event.callback(*event.args)
        return True

    def run(self, until_s: float | None = None,
            progress: Callable[[float], None] | None = None,
            progress_every: int = 10_000) -> None:
        """Run events in time order; stop before the first event after `until_s`."""
        while True:
            t = self.next_time()
            if t is None or (until_s is not None and t > until_s):
                break
            self.step()
            if progress is not None and self.events_run % progress_every == 0:
                progress(self._now)
        if until_s is not None and until_s > self._now:
            self._now = float(until_s)
        if progress is not None:
            progress(self._now)


class RealtimeScheduler(Scheduler):
    """The same clock paced by the wall clock (scaled by `speed`), on trio.

    Other threads hand work in with `call_soon_threadsafe`; it runs in the trio
    task at the current virtual time.
    """

    def __init__(self, start_s: float = 0.0, *, speed: float = 1.0,
                 wall_clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(start_s)
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self._wall = wall_clock
        self._wall0: float | None = None
        self._virtual0 = float(start_s)
        self._inbox: list[tuple[Callable, tuple]] = []
        self._inbox_lock = threading.Lock()
        self._wakeup: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None

    def _virtual_now(self) -> float:
        if self._wall0 is None:
            return self._now
        return self._virtual0 + (self._wall() - self._wall0) * self.speed

    @property
    def now(self) -> float:
        return max(self._now, self._virtual_now())

    def schedule(self, at_s: float, callback: Callable, *args) -> EventHandle:
        handle = super().schedule(max(at_s, self._now), callback, *args)
        if self._wakeup is not None:
            self._wakeup.set()
        return handle

    def call_soon_threadsafe(self, callback: Callable, *args) -> None:
        """From any thread: run `callback(*args)` in the scheduler's task, now."""
        with self._inbox_lock:
            self._inbox.append((callback, args))
        token = self._token
        if token is not None:
            try:
                token.run_sync_soon(self._poke)
            except trio.RunFinishedError:
                pass

    def _poke(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _drain_inbox(self) -> None:
        with self._inbox_lock:
            items, self._inbox = self._inbox, []
        for callback, args in items:
            self._now = max(self._now, self._virtual_now())
            callback(*args)

    async def run(self, until_s: float | None = None) -> None:  # type: ignore[override]
        """Run in real time until `until_s` (virtual) or forever; cancel to stop."""
        self._token = trio.lowlevel.current_trio_token()
        self._wall0 = self._wall()
        self._virtual0 = self._now
        try:
            while until_s is None or self._virtual_now() < until_s:
                self._wakeup = trio.Event()
                self._drain_inbox()
                while (t := self.next_time()) is not None and t <= self._virtual_now():
                    self.step()
                self._drain_inbox()
                t = self.next_time()
                horizon = until_s if t is None else (t if until_s is None else min(t, until_s))
                wait_s = (None if horizon is None
                          else max(0.0, (horizon - self._virtual_now()) / self.speed))
                with trio.move_on_after(wait_s if wait_s is not None else float("inf")):
                    await self._wakeup.wait()
        finally:
            self._token = None

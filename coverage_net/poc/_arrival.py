"""Arrival time: each host's clock offset, solved for from the reports, and the witness
reports that came later than those clocks allow (a beacon heard again, rebroadcast).

A witness report's lag behind its beacon report, by the two hosts' clocks, is
``lag = o_w - o_b + d + e``: the witness's clock offset, minus the beaconer's, plus
the delay every report shares (a beacon report is stamped when the beacon goes out, a
witness report when the packet has been received and read), plus the jitter of the
two timestamps (time sync, a forwarder's polling, a serial link: tens of ms). A fixed
offset hides nothing, because it is solved for: every report is one equation between
two hosts, and every host is in many. A rebroadcast, though, reaches the hotspots
around the rebroadcaster at least one beacon airtime after the beacon (SF10: about
0.3 s; the rebroadcaster must receive the packet whole before it can send it), so
their reports of it are late by that much against the solved offsets. Such a report
did not hear the beaconer: `_judge_round` refuses it (`Reason.ARRIVAL_LATE`) and keeps
it out of every hotspot statistic, so the honest hotspots a wormhole makes witness
beacons they cannot hear are not flagged for it.

The solve: the equations are the witness reports the physics judged valid, late or
not (a repeat among them is trimmed: the solve refits without the reports that came
late, `coverage_net.poc.solve_clocks`; and a report judged late by a clock gone wrong
can still set it right). The solve also leaves out the pairs of hosts whose reports
came early against the clocks and against both hosts' other reports: witnesses that
stamp one hotspot's beacons early would otherwise pull its clock late. The ledger keeps
the equations for the window (`hotspot_window_epochs`) and solves all of them at once
every `SOLVE_EVERY_EPOCHS`, and after every epoch that has hits waiting to be timed
(below): a day's equations tie every group of hosts to the rest, which one epoch's did
not. A host's offset is used once at least `arrival_min_reports` of the window's
equations are its.

Until both its hosts' clocks are known (a network's first hours, a new hotspot's
first reports), a report cannot be timed. Its verdict is given without the arrival
check; but if the model does not find its path likely (what a repeat's path is), its
link waits (`ClockLedger.pending`) instead of going into the statistics: after the
next solve that knows both clocks, it goes in, in its own epoch, if it was not late,
and is dropped if it was. So a wormhole's first repeats flag nobody, and a liar's
first unlikely hits still count against it, one solve later. A hit waits at most
`arrival_wait_epochs`, then goes in untimed: a liar's reports, mostly refused by the
physics, give its clock few equations, and that must not hide its hits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._clock_solve import solve_clocks

__all__: list[str] = []  # private to coverage_net.poc

SOLVE_EVERY_EPOCHS = 4
"""The clocks are solved every this many epochs (a solve is 3-8 ms at 200 hosts), and
after every epoch that leaves hits waiting to be timed (`ClockLedger.pending`: a
network's first hours, a new hotspot); the equations are added every epoch."""

ClockRows = tuple[np.ndarray, int, np.ndarray]
"""One judged round: its valid witnesses' registry indices, the beaconer's, the lags (ms)."""
EpochEquations = tuple[tuple[bytes, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]
"""One epoch's equations: the hosts in them (sorted keys), then per equation the
beaconer's and the witness's position in those, and the lag (ms); sorted by those."""


Pending = tuple[tuple, bytes, bytes, int]
"""An untimed hit: (its link observation, the witness's key, the beaconer's, the lag ms)."""


@dataclass(frozen=True)
class ClockLedger:
    """The window's clock equations (per epoch, `EpochEquations`), what the last solve
    made of them (per host, by hotspot key, its clock offset in ms,
    up to one constant shared by all, and how many equations it is in; the shared
    delay), and the hits waiting to be timed."""

    by_epoch: Mapping[int, EpochEquations] = field(default_factory=dict)
    offsets: Mapping[bytes, tuple[int, int]] = field(default_factory=dict)
    delay_ms: int = 0
    solved_at: int | None = None
    """The epoch of the last solve."""
    pending: tuple[Pending, ...] = ()
    """Hits judged while a clock was not known, on paths the model did not find likely,
    sorted: each goes into the statistics once both clocks are known and say it was
    not late (`advance`)."""

    def arrays(self, keys: Sequence[bytes], min_reports: int) -> tuple[np.ndarray, np.ndarray]:
        """(offset ms, known) per index of `keys` (a registry's): each host's solved offset
        (0 for hosts not seen), and whether it is known (`known_offset`)."""
        offset = np.zeros(len(keys), dtype=np.int64)
        known = np.zeros(len(keys), dtype=bool)
        for i, key in enumerate(keys):
            solved = known_offset(self.offsets, key, min_reports)
            if solved is not None:
                offset[i], known[i] = solved, True
        return offset, known

    def advance(self, epoch: int, keys: Sequence[bytes], rows: Sequence[ClockRows],
                pending: Sequence[Pending], window_epochs: int, min_reports: int,
                max_excess_ms: int, wait_epochs: int) -> tuple[ClockLedger, list[tuple]]:
        """The ledger after `epoch`, and the link observations the statistics gain.

        `epoch`'s equations are added (`rows` index `keys`, the registry's), those
        before the window dropped, and the clocks solved when it is time. Then every
        pending hit (the ledger's, then `epoch`'s `pending`) whose two clocks are known
        with at least `min_reports` equations each is timed: its link observation is
        returned if it came at most `max_excess_ms` late, dropped if later. The others
        wait up to `wait_epochs` epochs after their own (while both hotspots are in
        `keys`), then are returned untimed: a host whose clock stays unknown (a liar's
        reports, mostly refused, make few equations) does not hide its hits by it.
        """
        low = epoch - window_epochs + 1
        by_epoch = {e: eq for e, eq in self.by_epoch.items() if e >= low}
        equations = _epoch_equations(keys, rows)
        if equations is not None:
            by_epoch[epoch] = equations
        offsets, delay_ms, solved_at = self.offsets, self.delay_ms, self.solved_at
        due = (solved_at is None or bool(self.pending) or bool(pending)
               or epoch - solved_at >= SOLVE_EVERY_EPOCHS)
        if due and by_epoch:
            ordered = [by_epoch[e] for e in sorted(by_epoch)]
            hosts = sorted({k for eq in ordered for k in eq[0]})
            index = {k: i for i, k in enumerate(hosts)}
            # each epoch's positions, in its own sorted hosts, as positions in `hosts`
            columns = [(at[np.array(b, dtype=np.int64)], at[np.array(w, dtype=np.int64)],
                        np.array(lag, dtype=np.int64))
                       for keys_e, b, w, lag in ordered
                       for at in (np.array([index[k] for k in keys_e], dtype=np.int64),)]
            start = np.array([*(offsets.get(k, (0, 0))[0] for k in hosts), delay_ms],
                             dtype=np.int64)  # the last solve's: a shorter solve
            solved = solve_clocks(*(np.concatenate(c) for c in zip(*columns, strict=True)),
                                  len(hosts), start)
            offsets = {k: (int(solved.offsets_ms[i]), int(solved.equations[i]))
                       for i, k in enumerate(hosts)}
            delay_ms, solved_at = solved.delay_ms, epoch
        announced = set(keys)
        timed: list[tuple] = []
        waiting: list[Pending] = []
        for item in sorted((*self.pending, *pending)):
            link, witness, beaconer, lag = item
            if link[0] < low or witness not in announced or beaconer not in announced:
                continue  # out of the window, or no longer announced
            w = known_offset(offsets, witness, min_reports)
            b = known_offset(offsets, beaconer, min_reports)
            if w is None or b is None:
                if epoch - link[0] < wait_epochs:
                    waiting.append(item)
                else:  # waited long enough: counted untimed, as before the check existed
                    timed.append(link)
            elif lag - (w - b) - delay_ms <= max_excess_ms:
                timed.append(link)
        return ClockLedger(by_epoch, offsets, delay_ms, solved_at, tuple(waiting)), timed


def known_offset(offsets: Mapping[bytes, tuple[int, int]], key: bytes,
                 min_reports: int) -> int | None:
    """The host's solved clock offset (ms) if it rests on at least `min_reports` of the
    window's equations (the one rule for whether a clock is known), else None."""
    solved = offsets.get(key)
    return solved[0] if solved is not None and solved[1] >= min_reports else None


def _epoch_equations(keys: Sequence[bytes], rows: Sequence[ClockRows]) -> EpochEquations | None:
    """One epoch's `rows` (indices into `keys`) as `EpochEquations`, sorted, so the same
    equations in any order give the same solve; None if there are none."""
    if not rows or not any(w.size for w, _, _ in rows):
        return None
    witness = np.concatenate([w for w, _, _ in rows])
    beaconer = np.concatenate([np.full(w.size, b, dtype=np.int64) for w, b, _ in rows])
    lag = np.concatenate([x for _, _, x in rows])
    used = np.unique(np.concatenate([beaconer, witness]))
    hosts = sorted(keys[i] for i in used.tolist())
    position = {k: p for p, k in enumerate(hosts)}
    local = np.zeros(len(keys), dtype=np.int64)
    local[used] = [position[keys[i]] for i in used.tolist()]
    b, w = local[beaconer], local[witness]
    order = np.lexsort((lag, w, b))
    return (tuple(hosts), tuple(b[order].tolist()), tuple(w[order].tolist()),
            tuple(lag[order].tolist()))


def timed_reports(witness: np.ndarray, beaconer: int, known: np.ndarray) -> np.ndarray:
    """Which reports (witness registry indices, of one beaconer's round) can be timed:
    both their hosts' clocks are `known` (`ClockLedger.arrays`)."""
    return known[witness] & bool(known[beaconer])


def arrival_excess_ms(lag_ms: np.ndarray, witness: np.ndarray, beaconer: int,
                      offset: np.ndarray, timed: np.ndarray, delay_ms: int) -> np.ndarray:
    """How much later than the two hosts' solved clocks and the shared delay allow each
    report came (ms); 0 where a report is not `timed` (both its hosts' clocks known)."""
    excess = lag_ms - (offset[witness] - offset[beaconer]) - delay_ms
    return np.where(timed, excess, 0)

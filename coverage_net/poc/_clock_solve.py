"""Host clock offsets from report lags: a least-squares solve every machine computes alike.

Every witness report the physics judged valid is one equation between two host clocks,
``lag = o_witness - o_beaconer + d``: the witness's clock offset, minus the beaconer's,
plus the delay ``d`` every report shares. `solve_clocks` finds the offsets (up to the
one constant no lag can show: they are returned with their sum as close to 0 as
rounding allows) and the delay by least squares, then refits without the reports
later than each of `TRIMS_MS` behind the previous fit. The trim is one-sided: nothing
arrives before it was sent, while a rebroadcast (a wormhole) always arrives late, so a
host whose reports are half repeats still keeps its honest ones
(`bench/arrival_solve.py` measures it against the simulator's true clocks).

A witness may lie about its own host time, though: witnesses that stamp their reports
of one hotspot's beacons early (their other reports honestly) would pull its clock late,
and its honest witnesses' reports would then look late and be trimmed. So after the
trims, the reports of each pair of hosts (a witness and a beaconer) are taken together
(their median), and a pair is left out, with every report of it, and the whole solve
run again, when (`early_pairs`):

- its reports came more than `PAIR_EARLY_MS` earlier than the beaconer's other
  witnesses' did;
- and, with the beaconer's clock set back by as much as its own receptions came early
  (what a clock pulled late shows), more than the last trim (`TRIMS_MS[-1]`) earlier
  than the clocks allow and more than `PAIR_EARLY_MS` earlier than the witness's
  other receptions;
- unless the hosts that heard the witness's own beacons find its clock set late by
  half as much (a host whose clock a wormhole's repeats have pulled late sees its
  honest reports early; the witnesses of its own beacons show it).

Each median is over pairs, at least `PAIR_MIN_PAIRS`, not reports, so a few witnesses
filing many reports carry one voice each. What is left: colluders stamping no more
than the last trim early (a pair must also come more than that earlier than the clocks
allow) still move a clock a little, twelve of them at most about 40 ms
(`tests/test_poc_arrival.py`).

Determinism: the solve is conjugate gradients (preconditioned by the diagonal) on
the normal equations, built from integer counts and sums, with every product
elementwise (IEEE-754 rounds each alike everywhere), every matrix-vector sum
accumulated in input order (`numpy.bincount`) and every dot product exactly rounded
(`math.fsum`); the iteration count follows from those numbers alone. The same
equations in the same order give the same offsets on every machine, and the offsets
are rounded to integer ms before anything uses them.
The order of the equations is the caller's (the verifier's sorted order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ClockSolution", "PAIR_EARLY_MS", "TRIMS_MS", "solve_clocks"]

TRIMS_MS = (1_600, 800, 400, 150, 80)
"""The refits: each drops the reports later than this (ms) behind the previous fit."""
PAIR_EARLY_MS = 75
"""A pair of hosts is left out when its reports came this much earlier (ms, their
median) than the beaconer's other witnesses' and the witness's other receptions' (and
more than the last trim earlier than the clocks allow; see the module doc). 150 ms under
rules 5, where twelve colluders 150 ms early still moved a clock 53-77 ms."""
PAIR_MIN_PAIRS = 3
"""Those medians, and the one over the witness's own beacons, need this many pairs."""
PAIR_ROUNDS = 3
"""At most this many times pairs are left out and the solve run again."""
_RIDGE = 1e-6
"""Added to the diagonal: a host with no equation, or a group tied to no other, keeps
offset 0 instead of leaving the system singular."""
_TOLERANCE = 1e-10
"""Conjugate gradients stop when the residual's norm falls under this fraction of the
right-hand side's (the offsets then agree with an exact solve far below 1 ms)."""
_MAX_ITERATIONS = 2_000


@dataclass(frozen=True)
class ClockSolution:
    """Integer ms: per host its clock offset (up to a shared constant) and how many of
    the equations it is in; the delay every report shares; and per equation, how much
    later it came than the solved clocks allow (the residual of the last fit)."""

    offsets_ms: np.ndarray
    equations: np.ndarray
    delay_ms: int
    late_ms: np.ndarray
    early_pair: np.ndarray
    """Per equation: left out because its pair of hosts reported early (`early_pairs`)."""
    fitted: np.ndarray
    """Per equation: in the last fit, the one the offsets are (neither trimmed as late
    nor left out as early)."""
    iterations: int
    """Conjugate-gradient iterations over all fits (the cost)."""


def solve_clocks(beaconer: np.ndarray, witness: np.ndarray, lag_ms: np.ndarray,
                 hosts: int, start_ms: np.ndarray | None = None) -> ClockSolution:
    """Solve `hosts` clock offsets and the shared delay from the equations
    ``lag_ms[i] = o[witness[i]] - o[beaconer[i]] + d`` (see the module doc).

    `start_ms` (the offsets, then the delay: ``hosts + 1`` integers), where the solve
    starts: an earlier solve's answer makes it shorter (the least squares it converges
    to are the same, to the tolerance)."""
    beaconer = np.asarray(beaconer, dtype=np.int64)
    witness = np.asarray(witness, dtype=np.int64)
    lag = np.asarray(lag_ms, dtype=np.int64)
    if not beaconer.shape == witness.shape == lag.shape or beaconer.ndim != 1:
        raise ValueError("beaconer, witness and lag_ms must be 1-d arrays of one length")
    if lag.size and (min(beaconer.min(), witness.min()) < 0
                     or max(beaconer.max(), witness.max()) >= hosts):
        raise ValueError(f"host indices must be in [0, {hosts})")
    if np.any(beaconer == witness):
        raise ValueError("an equation between a host and itself")
    x = np.zeros(hosts + 1)  # the offsets, then the delay
    if start_ms is not None:
        start = np.asarray(start_ms, dtype=np.int64)
        if start.shape != (hosts + 1,):
            raise ValueError(f"start_ms must hold {hosts + 1} integers (offsets, then delay)")
        x = start.astype(float)
    iterations = 0
    late = np.zeros(lag.size)
    fitted: np.ndarray | None = None
    dropped = np.zeros(lag.size, dtype=bool)  # the pairs left out as stamped early
    for rounds_left in range(PAIR_ROUNDS, -1, -1):
        keep = ~dropped
        for trim in (None, *TRIMS_MS):
            if trim is not None:
                keep = (late <= trim) & ~dropped
            if fitted is not None and np.array_equal(keep, fitted):
                continue  # the same equations as the last fit: the same answer
            x, used = _fit(beaconer[keep], witness[keep], lag[keep], hosts, x)
            fitted = keep
            iterations += used
            late = lag - (x[witness] - x[beaconer] + x[hosts])
        if not rounds_left:
            break
        early = early_pairs(beaconer, witness, np.rint(late).astype(np.int64), hosts)
        if not (early & ~dropped).any():
            break
        dropped |= early
    offsets = np.rint(x[:hosts]).astype(np.int64)
    delay = int(np.rint(x[hosts]))
    late_ms = lag - (offsets[witness] - offsets[beaconer] + delay)
    counts = np.bincount(beaconer, minlength=hosts) + np.bincount(witness, minlength=hosts)
    assert fitted is not None  # the first pass always fits
    return ClockSolution(offsets, counts.astype(np.int64), delay, late_ms, dropped, fitted,
                         iterations)


def _fit(beaconer: np.ndarray, witness: np.ndarray, lag: np.ndarray, hosts: int,
         start: np.ndarray) -> tuple[np.ndarray, int]:
    """Least squares of the equations from `start`, by conjugate gradients on the
    normal equations ``A^T A x = A^T lag`` (A: +1 at the witness, -1 at the
    beaconer, +1 at the delay); the solution with its offsets' mean removed."""
    size = hosts + 1
    # A^T A, as (row, column, value) entries summed by the matrix-vector product: its
    # diagonal (each host's equations, and all of them for the delay), each host's
    # coupling to the delay (as witness minus as beaconer), and -1 per equation between
    # its two hosts, both ways; integers, O(equations), never a dense n^2 array
    as_witness = np.bincount(witness, minlength=hosts)
    as_beaconer = np.bincount(beaconer, minlength=hosts)
    pairs, count = np.unique(witness * size + beaconer, return_counts=True)
    w_of, b_of = pairs // size, pairs % size
    diagonal = np.append(as_witness + as_beaconer, lag.size)
    coupling = as_witness - as_beaconer
    hosts_index = np.arange(hosts)
    row = np.concatenate([np.arange(size), hosts_index, np.full(hosts, hosts), w_of, b_of])
    col = np.concatenate([np.arange(size), np.full(hosts, hosts), hosts_index, b_of, w_of])
    entries = np.concatenate([diagonal, coupling, coupling, -count, -count]).astype(float)
    weights = lag.astype(float)
    rhs = np.append(np.bincount(witness, weights=weights, minlength=hosts)
                    - np.bincount(beaconer, weights=weights, minlength=hosts),
                    math.fsum(weights.tolist()))

    def times(v: np.ndarray) -> np.ndarray:
        return np.bincount(row, weights=entries * v[col], minlength=size) + _RIDGE * v

    def dot(a: np.ndarray, b: np.ndarray) -> float:
        return math.fsum((a * b).tolist())

    inverse_diagonal = 1.0 / (diagonal.astype(float) + _RIDGE)  # the preconditioner
    x = start.copy()
    r = rhs - times(x)
    z = inverse_diagonal * r
    p = z.copy()
    rz = dot(r, z)
    stop = _TOLERANCE * _TOLERANCE * dot(rhs, rhs)
    used = 0
    while used < _MAX_ITERATIONS and dot(r, r) > stop:
        q = times(p)
        alpha = rz / dot(p, q)
        x = x + alpha * p
        r = r - alpha * q
        z = inverse_diagonal * r
        rz_next = dot(r, z)
        p = z + (rz_next / rz) * p
        rz = rz_next
        used += 1
    mean = math.fsum(x[:hosts].tolist()) / hosts if hosts else 0.0
    x[:hosts] -= mean
    return x, used



_VALUE_BITS = 21
"""The medians sort (group, value) as one integer: the value, clipped to +-2**20 ms (17
min, far beyond every threshold here), in the low bits, the group above them."""
_HALF = 1 << (_VALUE_BITS - 1)
_DIRECT_HOSTS = 1 << 20
"""Up to this many hosts, a pair's number (witness * hosts + beaconer, under 2**40) and a
value fit one int64 key; beyond, the pairs are numbered densely first (slower)."""


def _keys(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    return (group << _VALUE_BITS) | (np.clip(values, -_HALF, _HALF - 1) + _HALF)


def _value(keys: np.ndarray) -> np.ndarray:
    return (keys & ((1 << _VALUE_BITS) - 1)) - _HALF


def _medians(group: np.ndarray, values: np.ndarray, groups: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per group (``0 .. groups - 1``) the lower median of its integer `values` (0 for an
    empty group) and how many it has."""
    keys = np.sort(_keys(group, values))
    counts = np.bincount(group, minlength=groups)
    has = counts > 0
    median = np.zeros(groups, dtype=np.int64)
    median[has] = _value(keys[(np.cumsum(counts) - counts + (counts - 1) // 2)[has]])
    return median, counts


def early_pairs(beaconer: np.ndarray, witness: np.ndarray, late_ms: np.ndarray,
                hosts: int) -> np.ndarray:
    """Per equation: whether its pair of hosts (witness, beaconer) reported early by the
    rule of the module doc, given each equation's integer residual `late_ms` (how much
    later it came than the solved clocks allow)."""
    if not late_ms.size:
        return np.zeros(0, dtype=bool)
    # the equations sorted by pair, then residual: each pair's median, in one sort
    pair_of = witness * hosts + beaconer
    numbers = None
    if hosts > _DIRECT_HOSTS:  # pair numbers too wide to share an int64 with a value
        numbers, pair_of = np.unique(pair_of, return_inverse=True)
    keys = _keys(pair_of, late_ms)
    order = np.argsort(keys)  # ties are equal keys: their order changes nothing
    keys = keys[order]
    pair = keys >> _VALUE_BITS
    starts = np.flatnonzero(np.concatenate([[True], pair[1:] != pair[:-1]]))
    counts = np.diff(np.append(starts, keys.size))
    pair_ms = _value(keys[starts + (counts - 1) // 2])
    first = pair[starts] if numbers is None else numbers[pair[starts]]
    w_of, b_of = first // hosts, first % hosts
    by_witnesses, witnesses = _medians(b_of, pair_ms, hosts)  # a beaconer's witnesses
    by_beaconers, beaconers = _medians(w_of, pair_ms, hosts)  # a witness's beaconers
    # a beaconer whose own receptions came early has its clock pulled late by as much
    pulled = np.where(beaconers >= PAIR_MIN_PAIRS, np.minimum(by_beaconers, 0), 0)
    fixed = pair_ms + pulled[b_of]
    early = ((fixed < -TRIMS_MS[-1])
             & (pair_ms < by_witnesses[b_of] - PAIR_EARLY_MS)
             & (fixed < by_beaconers[w_of] - PAIR_EARLY_MS)
             & (2 * by_witnesses[w_of] < -fixed)  # its own beacons: not set late
             & (witnesses[b_of] >= PAIR_MIN_PAIRS) & (beaconers[w_of] >= PAIR_MIN_PAIRS)
             & (witnesses[w_of] >= PAIR_MIN_PAIRS))
    out = np.empty(keys.size, dtype=bool)
    out[order] = np.repeat(early, counts)
    return out

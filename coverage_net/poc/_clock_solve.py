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

__all__ = ["ClockSolution", "TRIMS_MS", "solve_clocks"]

TRIMS_MS = (1_600, 800, 400, 150, 80)
"""The refits: each drops the reports later than this (ms) behind the previous fit."""
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
    keep = np.ones(lag.size, dtype=bool)
    iterations = 0
    late = np.zeros(lag.size)
    fitted: np.ndarray | None = None
    for trim in (None, *TRIMS_MS):
        if trim is not None:
            keep = late <= trim
        if fitted is not None and np.array_equal(keep, fitted):
            continue  # the same equations as the last fit: the same answer
        x, used = _fit(beaconer[keep], witness[keep], lag[keep], hosts, x)
        fitted = keep
        iterations += used
        late = lag - (x[witness] - x[beaconer] + x[hosts])
    offsets = np.rint(x[:hosts]).astype(np.int64)
    delay = int(np.rint(x[hosts]))
    late_ms = lag - (offsets[witness] - offsets[beaconer] + delay)
    counts = np.bincount(beaconer, minlength=hosts) + np.bincount(witness, minlength=hosts)
    return ClockSolution(offsets, counts.astype(np.int64), delay, late_ms, iterations)


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

"""When each sender transmits: a Poisson process, or a renewal process without self-overlap.

Both take the run's one seeded generator and draw node by node in index order, so a
run stays a pure function of its scenario.
"""

from __future__ import annotations

import numpy as np

from ._errors import SimConfigError

__all__ = ["TRAFFIC_MODELS", "arrivals"]

TRAFFIC_MODELS = ("poisson", "renewal")


def _poisson(rng: np.random.Generator, rate_per_s: float, horizon_s: float) -> np.ndarray:
    n = rng.poisson(rate_per_s * horizon_s)
    return np.sort(rng.uniform(0.0, horizon_s, n))


def _renewal(rng: np.random.Generator, mean_gap_s: float, airtime_s: float,
             horizon_s: float) -> np.ndarray:
    """LoRaSim's ``transmit`` loop (Bor et al. 2016): wait an exponential gap of mean
    ``mean_gap_s``, send for ``airtime_s``, repeat. A node never overlaps its own
    frames; its long-run rate is ``1 / (mean_gap_s + airtime_s)``."""
    per_cycle_s = mean_gap_s + airtime_s
    batch = int(horizon_s / per_cycle_s * 1.1) + 16
    starts: list[np.ndarray] = []
    t0 = 0.0
    while True:
        gaps = rng.exponential(mean_gap_s, batch)
        # start k = t0 + gaps[0..k] + k airtimes
        s = t0 + np.cumsum(gaps) + airtime_s * np.arange(batch)
        inside = s[s < horizon_s]
        starts.append(inside)
        if len(inside) < batch:
            return np.concatenate(starts)
        t0 = float(s[-1]) + airtime_s


def arrivals(traffic: str, rng: np.random.Generator, senders: np.ndarray,
             rate_per_s: float, airtime_s: np.ndarray,
             horizon_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(start_s, sender) of every frame, sorted by time then sender.

    ``poisson``: each sender starts frames at ``rate_per_s`` (they may overlap its own).
    ``renewal``: each sender waits an exponential gap of mean ``1 / rate_per_s`` after
    each of its frames ends (LoRaSim's traffic), so ``airtime_s[i]`` matters.
    """
    if traffic not in TRAFFIC_MODELS:
        raise SimConfigError(f"traffic {traffic!r} is not one of {list(TRAFFIC_MODELS)}")
    starts, who = [], []
    for i in senders.tolist():
        if traffic == "poisson":
            t = _poisson(rng, rate_per_s, horizon_s)
        else:
            t = _renewal(rng, 1.0 / rate_per_s, float(airtime_s[i]), horizon_s)
        starts.append(t)
        who.append(np.full(len(t), i))
    start_s = np.concatenate(starts) if starts else np.empty(0)
    sender = np.concatenate(who) if who else np.empty(0, int)
    order = np.lexsort((sender, start_s))
    return start_s[order], sender[order]

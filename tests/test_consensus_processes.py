"""Four ``coverage-net chain validator`` processes on 127.0.0.1, over real libp2p.

What `test_consensus_driver.py` shows on the in-memory network in virtual time, shown
with operating-system processes and wall clocks: every epoch finalizes within 2 s of
its close with all up and within 5 s with one crashed; a 2|2 partition finalizes
nothing until it heals; a validator killed with SIGKILL mid-round, three times,
restarts, catches up through the driver's sync and never signs twice. Each validator
runs the chain's app (`ChainApp`), so its chain is checked from genesis too. The latencies
asserted are protocol properties read from the validators' status files (decision
time minus the epoch's close), never the duration of a test; the epochs are long
enough (3 s) that two shared cores do not blur them.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from coverage_net.node.testing import LocalChain

pytestmark = pytest.mark.serial  # finality deadlines in wall-clock seconds

EPOCH_MS = 3_000
WAIT_S = 60.0  # liveness bound while polling status files, not a performance assertion


def _now_ms() -> int:
    return time.time_ns() // 1_000_000

def _assert_agreement(chain: LocalChain) -> dict[int, str]:
    """No two validators finalized different blocks at any height; height -> block id."""
    blocks: dict[int, set[str]] = {}
    for v in chain.validators:
        for height, d in v.decided().items():
            blocks.setdefault(height, set()).add(d["block_id"])
    for height, ids in blocks.items():
        assert len(ids) == 1, f"height {height}: different blocks finalized: {ids}"
    return {h: next(iter(ids)) for h, ids in blocks.items()}

def _latencies_ms(chain: LocalChain, indices, heights) -> list[int]:
    """Per height, the latency of the last of `indices` to decide it."""
    return [max(chain.validators[i].decided()[h]["latency_ms"] for i in indices)
            for h in heights]

def _epochs_finalize_within_ms(chain: LocalChain, live: list[int], epochs: int) -> list[int]:
    """The latencies of the next `epochs` heights that close with `live` up (agreed)."""
    first = chain.height_closing_after(_now_ms()) + 1
    heights = range(first, first + epochs)
    chain.wait_decided(live, heights[-1], timeout_s=WAIT_S + epochs * EPOCH_MS / 1000)
    _assert_agreement(chain)
    return _latencies_ms(chain, live, heights)


def _assert_chains_hold(chain: LocalChain, indices) -> None:
    """Each validator's chain (blocks and certificates, appended by `ChainApp`) holds
    from genesis to the last height it decided."""
    for i in indices:
        v = chain.validators[i]
        assert v.chain_problems() == (max(v.decided()), [])


def test_four_validators_finalize_every_epoch_within_2_s(tmp_path):
    with LocalChain(tmp_path, epoch_ms=EPOCH_MS) as chain:
        latencies = _epochs_finalize_within_ms(chain, [0, 1, 2, 3], 4)
    assert max(latencies) < 2_000, latencies
    _assert_chains_hold(chain, range(4))


def test_with_one_validator_killed_every_epoch_finalizes_within_5_s(tmp_path):
    with LocalChain(tmp_path, epoch_ms=EPOCH_MS) as chain:
        chain.validators[3].kill()
        # 5 heights: validator 3 is the round-0 proposer of at least one of them
        latencies = _epochs_finalize_within_ms(chain, [0, 1, 2], 5)
    assert max(latencies) < 5_000, latencies


def test_a_2_2_partition_finalizes_nothing_and_progress_resumes_after_healing(tmp_path):
    with LocalChain(tmp_path, epoch_ms=EPOCH_MS) as chain:
        chain.partition((0, 1), (2, 3))
        cut_ms = _now_ms()
        cut_from = chain.height_closing_after(cut_ms + 2_000)  # blocklists applied by then
        time.sleep(4 * EPOCH_MS / 1000)
        heal_ms = _now_ms()
        chain.heal()
        during = [h for v in chain.validators for h, d in v.decided().items()
                  if h >= cut_from]
        resume_from = chain.height_closing_after(_now_ms())
        chain.wait_decided(range(4), resume_from + 1, timeout_s=WAIT_S)
        _assert_agreement(chain)
        after = [d["decided_ms"] for v in chain.validators for h, d in v.decided().items()
                 if h >= cut_from]
    assert during == [], f"heights finalized across a 2|2 partition: {sorted(set(during))}"
    assert min(after) > heal_ms

def test_kill_9_mid_round_three_times_restarts_catches_up_and_never_double_signs(tmp_path):
    with LocalChain(tmp_path, epoch_ms=EPOCH_MS) as chain:
        victim = chain.validators[1]
        for _ in range(3):
            height = chain.height_closing_after(_now_ms()) + 1
            wait_s = (chain.close_ms(height) - _now_ms()) / 1000 + 0.03  # votes in flight
            time.sleep(max(wait_s, 0))
            victim.kill()
            others_height = height + 1
            victim.start()
            victim.wait_ready()
            # it resumes where it stopped and fetches what it missed from its peers
            chain.wait_decided([0, 1, 2, 3], others_height + 1, timeout_s=WAIT_S)
        statuses = [v.status() for v in chain.validators]
        blocks = _assert_agreement(chain)
    for v in chain.validators:
        records = v.signed_records()
        per_step = Counter((r.height, r.round, r.step) for r in records)
        assert records and max(per_step.values()) == 1
    assert sum(s["metrics"]["evidence"] for s in statuses) == 0  # no peer saw a double vote
    _assert_chains_hold(chain, range(4))
    assert set(victim.decided()) >= set(range(min(blocks), max(blocks) - 1))

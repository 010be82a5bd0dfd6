"""The consensus driver on the in-memory network (`coverage_net.p2p.testing`), in virtual
time under trio's MockClock: real signed votes, the crash-safe signer on real SQLite
files, quorum certificates; four validators finalize epoch after epoch, with one crashed,
across a 2|2 partition that heals, and over lossy links for many seeds."""

from __future__ import annotations

import hashlib

import pytest
import trio
from consensus_helpers import make_genesis, validator_key

from coverage_net.consensus import (
    CONSENSUS_TOPIC,
    ConsensusDriver,
    EvidenceLog,
    QuorumCertificate,
    SignedVote,
    Step,
    Vote,
    VoteKind,
    VoteSigner,
)
from coverage_net.p2p.testing import LinkProfile, MemoryNetwork, run_deterministic

EPOCH_S = 30.0
HEIGHTS = 4


class _Blocks:
    """The app: blocks every validator can fetch (a shared store); `bad` ones do not
    check out (a proposer whose verdicts or rewards differ)."""

    def __init__(self, bad_proposers: frozenset[int] = frozenset()) -> None:
        self.store: dict[bytes, tuple[int, bool]] = {}
        self.bad = bad_proposers
        self.closed: dict[int, set[int]] = {i: set() for i in range(4)}
        """Validator -> the heights whose epoch it has closed (judged) so far."""
        self.asked_early: list[tuple[int, int]] = []
        """(validator, height) of every block asked about before that validator had
        closed the height's epoch: its store could not have judged it yet."""

    def app(self, me: int, commits: dict[int, tuple[bytes, QuorumCertificate, float]]):
        blocks = self

        class App:
            def propose(self, height: int, round_: int) -> bytes:
                block_id = hashlib.sha256(b"%d/%d/%d" % (height, round_, me)).digest()
                blocks.store[block_id] = (height, me not in blocks.bad)
                return block_id

            def validate(self, height: int, block_id: bytes) -> bool:
                if height not in blocks.closed[me]:
                    blocks.asked_early.append((me, height))
                    return False  # what a store without the epoch's verdicts builds
                return blocks.store.get(block_id, (-1, False)) == (height, True)

            def commit(self, height: int, block_id: bytes, qc: QuorumCertificate) -> None:
                commits[height] = (block_id, qc, trio.current_time())

            def certificate(self, height: int) -> QuorumCertificate | None:
                return commits[height][1] if height in commits else None

            def block_body(self, height: int, block_id: bytes) -> bytes | None:
                return None  # every validator reads blocks from the shared store

            def offer_body(self, data: bytes) -> tuple[int, bytes] | None:
                return None

        return App()


CLEAN_LINKS = LinkProfile()


def _run(tmp_path, seed: int, *, link=CLEAN_LINKS, crashed=(), partition_s=None,
         bad=frozenset(), heights=HEIGHTS, equivocate_at_s=None, blocks=None,
         closes_late_s: dict[int, float] | None = None, sync_every_s: float = 1.0):
    """Run 4 validators for `heights` epochs; per validator: height -> (block, qc, time).
    `closes_late_s`: validator -> how much later than the others it closes each epoch
    (its verification took longer) and so starts the height."""
    genesis = make_genesis(4)
    commits: dict[int, dict[int, tuple[bytes, QuorumCertificate, float]]] = {
        i: {} for i in range(4)}
    blocks = blocks or _Blocks(bad)
    late = closes_late_s or {}

    async def main():
        net = MemoryNetwork(seed, link=link)
        ids = [validator_key(i).peer_id for i in range(4)]
        endpoints = net.full_mesh(ids)
        async with trio.open_nursery() as nursery:
            await nursery.start(net.run)
            senders = []
            for i in range(4):
                signer = VoteSigner.open(tmp_path / f"v{i}", validator_key(i), genesis)
                driver = ConsensusDriver(endpoints[i], genesis, signer,
                                         blocks.app(i, commits[i]), sync_every_s=sync_every_s,
                                         evidence_log=EvidenceLog.open(tmp_path / f"v{i}"))
                send, receive = trio.open_memory_channel[int](16)
                senders.append(send)
                await nursery.start(driver.run, receive)
            for i in crashed:
                net.crash(ids[i])
            if equivocate_at_s is not None:  # validator 3 signs a second prevote (no signer)
                await trio.sleep_until(equivocate_at_s)
                other = SignedVote.create(Vote(VoteKind.PREVOTE, 0, 0, bytes(range(32)), 3),
                                          genesis, validator_key(3))
                await endpoints[3].publish(CONSENSUS_TOPIC, other.to_cbor())
            if partition_s is not None:
                net.partition(ids[:2], ids[2:])
            for height in range(heights):
                for i in sorted(range(4), key=lambda v: late.get(v, 0.0)):
                    # the epoch closes: validator i has judged it and starts its height
                    await trio.sleep_until(height * EPOCH_S + 1.0 + late.get(i, 0.0))
                    blocks.closed[i].add(height)
                    senders[i].send_nowait(height)
                if partition_s is not None and trio.current_time() >= partition_s[1]:
                    net.heal()
            await trio.sleep(EPOCH_S * 2)
            nursery.cancel_scope.cancel()

    run_deterministic(main, seed=seed)
    return genesis, commits


def _agree(genesis, commits, live: list[int], heights: int = HEIGHTS):
    for h in range(heights):
        blocks = {commits[i][h][0] for i in live}
        assert len(blocks) == 1, f"height {h}: {len(blocks)} different blocks finalized"
        for i in live:
            commits[i][h][1].verify(genesis)  # a quorum certificate anyone can check


def _latency_s(commits, live, h: int) -> float:
    return max(commits[i][h][2] for i in live) - (h * EPOCH_S + 1.0)


def test_four_validators_finalize_every_epoch_within_2_s(tmp_path):
    genesis, commits = _run(tmp_path, seed=1)
    _agree(genesis, commits, [0, 1, 2, 3])
    for h in range(HEIGHTS):
        assert _latency_s(commits, [0, 1, 2, 3], h) < 2.0


def test_with_one_validator_crashed_every_epoch_finalizes_within_5_s(tmp_path):
    genesis, commits = _run(tmp_path, seed=2, crashed=(3,))
    assert commits[3] == {}
    _agree(genesis, commits, [0, 1, 2])
    for h in range(HEIGHTS):
        assert _latency_s(commits, [0, 1, 2], h) < 5.0


def test_a_2_2_partition_finalizes_nothing_and_progress_resumes_when_it_heals(tmp_path):
    heal_at = 2 * EPOCH_S + 1.0  # healed when the third epoch closes
    genesis, commits = _run(tmp_path, seed=3, partition_s=(0.0, heal_at))
    _agree(genesis, commits, [0, 1, 2, 3])
    for i in range(4):
        for h in range(HEIGHTS):
            assert commits[i][h][2] >= heal_at  # nothing final on either side before


def test_a_proposer_whose_block_does_not_check_out_is_voted_down(tmp_path):
    genesis, commits = _run(tmp_path, seed=4, bad=frozenset({1}))
    _agree(genesis, commits, [0, 1, 2, 3])
    blocks = _Blocks()
    for h in range(HEIGHTS):
        block_id = commits[0][h][0]
        proposers = [p for p in range(4) for r in range(4)
                     if hashlib.sha256(b"%d/%d/%d" % (h, r, p)).digest() == block_id]
        assert proposers and proposers[0] != 1, blocks


@pytest.mark.parametrize("seed", range(30, 36))
def test_a_proposal_and_votes_that_arrive_before_the_height_starts_wait_for_it(tmp_path, seed):
    """Validators 2 and 3 judge each epoch 2 s after 0 and 1 (a slower host): validator
    0's proposal of height 0, and the prevotes of 0 and 1, reach them before they have
    closed epoch 0. They are held until the height starts there, never judged against a
    store without the epoch's verdicts (a block refused for good), and never dropped:
    with sync slowed to once a minute, round 0 still decides every height."""
    blocks = _Blocks()
    genesis, commits = _run(tmp_path, seed=seed, blocks=blocks, closes_late_s={2: 2.0, 3: 2.0},
                            sync_every_s=60.0)
    assert blocks.asked_early == []
    _agree(genesis, commits, [0, 1, 2, 3])
    for i in range(4):
        assert [commits[i][h][1].round for h in range(HEIGHTS)] == [0] * HEIGHTS


@pytest.mark.parametrize("seed", range(10, 22))
def test_lossy_links_many_seeds_safety_and_liveness(tmp_path, seed):
    genesis, commits = _run(tmp_path, seed=seed, heights=3,
                            link=LinkProfile(latency_s=(0.005, 0.4), loss=0.2))
    assert all(sorted(commits[i]) == [0, 1, 2] for i in range(4))  # every height, everywhere
    _agree(genesis, commits, [0, 1, 2, 3], heights=3)


def test_an_equivocating_validator_is_recorded_as_evidence(tmp_path):
    """Validator 3 prevotes the block of height 0 (through its signer), then signs and
    gossips a second prevote for another value: every other validator records the pair,
    both signatures checked, and the height still finalizes."""
    genesis, commits = _run(tmp_path, seed=7, heights=2, equivocate_at_s=1.5)
    _agree(genesis, commits, [0, 1, 2, 3], heights=2)
    for i in range(3):
        with EvidenceLog.open(tmp_path / f"v{i}") as log:
            evidence = log.all()
        assert len(evidence) == 1
        assert evidence[0].check(genesis).validator_key == validator_key(3).public_key
        assert (evidence[0].kind, evidence[0].height, evidence[0].round) == ("vote", 0, 0)


def test_a_vote_signed_differently_before_a_restart_is_not_sent_and_the_height_finalizes(
        tmp_path, caplog):
    """Validator 0 signed a prevote for another block at (0, 0) before a crash: after the
    restart its signer refuses the prevote the core now asks for, the driver does not
    send it (no second signature, no exception) and the other three finalize height 0
    with validator 0."""
    genesis = make_genesis(4)
    elsewhere = hashlib.sha256(b"a block seen before the crash").digest()
    with VoteSigner.open(tmp_path / "v0", validator_key(0), genesis) as signer:
        signer.sign_vote(Vote(VoteKind.PREVOTE, 0, 0, elsewhere, 0))
    caplog.set_level("WARNING", logger="coverage_net.consensus._driver")
    genesis, commits = _run(tmp_path, seed=5, heights=2)
    _agree(genesis, commits, [0, 1, 2, 3], heights=2)
    assert any("not signing" in r.getMessage() for r in caplog.records)
    with VoteSigner.open(tmp_path / "v0", validator_key(0), genesis) as signer:
        (prevote,) = [r for r in signer.records() if (r.height, r.round, r.step) ==
                      (0, 0, Step.PREVOTE)]
    assert prevote.value_id == elsewhere  # the one signature at (0, 0, prevote) stands

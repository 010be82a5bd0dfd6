"""Validators converge on one set of reports per epoch (`EpochReconciler`, `ChainApp`).

Real reports from the proof-of-coverage simulation on the real tile, in real SQLite
stores. Validator B's store lacked one witness report when epoch 0 closed (it came
late), so its block differs from A's. A's proposal carries its verdict leaves: B
judges the epoch again over exactly those reports, adopts the verdicts, and accepts
A's block, and both judge the next epoch alike. A proposal naming *fewer* reports
than a validator judged is refused (a proposer cannot leave reports out), and leaves
whose verdicts a validator cannot reproduce change nothing. Once a block B could not
rebuild is certified, B fetches it from A over the in-memory network
(`start_block_sync`), judges the epoch again over the fetched leaves and appends it as
its own.
"""

from __future__ import annotations

import functools
import hashlib

import pytest
import trio

from coverage_net.consensus import (
    ChainStore,
    Genesis,
    GenesisValidator,
    QuorumCertificate,
    SignedVote,
    Vote,
    VoteKind,
    verdict_leaves,
    verify_chain,
)
from coverage_net.identity import Keypair
from coverage_net.node import (
    ChainApp,
    EpochCloser,
    EpochReconciler,
    PocScenario,
    ScenarioResult,
    run_poc_scenario,
    start_block_sync,
)
from coverage_net.node._verdicts import verdict_from_row
from coverage_net.p2p import topic_of
from coverage_net.p2p.testing import MemoryNetwork, run_deterministic
from coverage_net.poc import PathPredictor
from coverage_net.radio import Terrain
from coverage_net.rewards import RewardLedger
from coverage_net.store import MessageStore, StoredMessage

START_MS = 1_767_225_600_000  # the scenario's epoch 0 (coverage_net.node._poc_sim)
KEYS = [Keypair.from_seed(hashlib.sha256(b"v%d" % i).digest()) for i in range(4)]


@functools.cache
def _scenario(dem_dir: str) -> ScenarioResult:
    return run_poc_scenario(PocScenario(dem_dir=dem_dir, hotspots=30, beacons=24, seed=5,
                                        keep_inputs=True))


def _genesis(result: ScenarioResult) -> Genesis:
    return Genesis(chain_id="reconcile-test",
                   validators=tuple(GenesisValidator(k.public_key, f"/ip4/127.0.0.1/tcp/{9000 + i}")
                                    for i, k in enumerate(KEYS)),
                   params_digest=result.params.digest(), first_entropy=bytes(32),
                   genesis_time_ms=START_MS)


class _Validator:
    """A validator's store, closer, reconciler and chain app in a data directory."""

    def __init__(self, root, result: ScenarioResult, predictor: PathPredictor,
                 genesis: Genesis, *, without: frozenset[bytes] = frozenset()) -> None:
        assert result.registry is not None
        self.result = result
        self.store = MessageStore.open(root)
        messages = [m for inp in result.epoch_inputs
                    for m in (*inp.challenges, *inp.beacon_reports, *inp.witness_reports)]
        self.put([*result.registry.announcements,
                  *(m for m in messages if m.content_id not in without)])
        entropy = {inp.epoch: inp.entropy for inp in result.epoch_inputs}
        self.closer = EpochCloser(self.store, result.params, predictor, sync=None,
                                  peers=list, entropy_for=entropy.__getitem__,
                                  clock_ms=lambda: 0, genesis_ms=START_MS, grace_ms=0)
        self.reconciler = EpochReconciler(self.store, result.params, predictor, self.closer,
                                          sync=None, peers=list,
                                          entropy_for=entropy.__getitem__, genesis_ms=START_MS)
        self.app = ChainApp(root, result.params, genesis, store=self.store,
                            chain=ChainStore.open(root, genesis), ledger=RewardLedger.open(root))
        self.asked: list[tuple[int, bytes, tuple[bytes, ...]]] = []
        self.app.reconcile = lambda h, b, leaves: self.asked.append((h, b, leaves))

    def put(self, messages) -> None:
        self.store.put_many([StoredMessage(m.content_id, topic_of(m), m.sync_partition, m.TYPE,
                                           m.to_cbor(), 0, None) for m in messages])

    def leaves(self, epoch: int) -> tuple[bytes, ...]:
        return verdict_leaves([verdict_from_row(r) for r in self.store.verdict_rows(epoch=epoch)])

    def close(self) -> None:
        for f in (self.app.chain, self.app.ledger, self.store):
            f.close()


@pytest.fixture
def pair(dem_dir, tmp_path):
    """A with every report; B without one witness report of epoch 0 when it closed it."""
    result = _scenario(str(dem_dir))
    predictor = PathPredictor(result.params, Terrain(dem_dir), num_threads=1)
    genesis = _genesis(result)
    late = result.epoch_inputs[0].witness_reports[0]
    a = _Validator(tmp_path / "a", result, predictor, genesis)
    b = _Validator(tmp_path / "b", result, predictor, genesis, without=frozenset({late.content_id}))

    async def close_epoch_0() -> None:
        await a.closer.close(0)
        await b.closer.close(0)

    trio.run(close_epoch_0)
    b.put([late])  # it arrives after B judged the epoch
    yield a, b, late
    a.close()
    b.close()


def test_a_validator_that_missed_a_report_adopts_the_proposers_set_and_its_block(pair):
    a, b, late = pair
    assert late.content_id not in {leaf[:32] for leaf in b.leaves(0)}
    block_a = a.app.propose(0, 0)
    assert b.app.offer_body(a.app.block_body(0, block_a)) == (0, block_a)
    assert b.app.validate(0, block_a) is None  # it asks to judge the epoch again
    [(height, block_id, leaves)] = b.asked
    assert (height, block_id, leaves) == (0, block_a, a.leaves(0))
    assert trio.run(b.reconciler.reconcile, 0, leaves) is True
    b.app.forget_epoch(0)
    assert b.leaves(0) == a.leaves(0)  # the verdicts the chain agrees on, stored
    assert b.app.validate(0, block_a) is True and b.app.refused == []
    assert b.reconciler.adopted == 1

    async def close_epoch_1() -> None:  # the history after the epoch is the same too
        await a.closer.close(1)
        await b.closer.close(1)

    trio.run(close_epoch_1)
    assert b.leaves(1) == a.leaves(1)


def test_a_proposal_that_leaves_reports_out_is_refused_not_adopted(pair):
    a, b, _ = pair
    block_b = b.app.propose(0, 1)  # B's block judged one report fewer
    assert a.app.offer_body(b.app.block_body(0, block_b)) == (0, block_b)
    assert a.app.validate(0, block_b) is False
    assert a.asked == [] and a.app.refused == [(0, block_b)]


def test_leaves_a_validator_cannot_reproduce_change_nothing(pair):
    a, b, _ = pair
    own = b.leaves(0)
    forged = tuple(leaf[:32] + hashlib.sha256(leaf).digest() for leaf in a.leaves(0))
    assert trio.run(b.reconciler.reconcile, 0, forged) is False
    assert b.leaves(0) == own and b.reconciler.refused == 1
    unknown = (*a.leaves(0), bytes(range(32)) + bytes(32))  # a report no one has
    assert trio.run(b.reconciler.reconcile, 0, tuple(sorted(unknown))) is False
    assert b.leaves(0) == own


def test_a_certified_block_b_cannot_rebuild_is_fetched_judged_again_and_appended(pair):
    a, b, _ = pair
    genesis = a.app.genesis
    block_a = a.app.propose(0, 0)
    qc = QuorumCertificate.from_votes(
        [SignedVote.create(Vote(VoteKind.PRECOMMIT, 0, 0, block_a, i), genesis, KEYS[i])
         for i in (0, 1, 2)], genesis)
    a.app.commit(0, block_a, qc)

    async def main() -> None:
        net = MemoryNetwork(3)
        end_a, end_b = net.full_mesh([KEYS[0].peer_id, KEYS[1].peer_id])
        async with trio.open_nursery() as nursery:
            await nursery.start(net.run)
            await start_block_sync(nursery, end_a, genesis, a.app)
            await start_block_sync(nursery, end_b, genesis, b.app,
                                   reconcile=b.reconciler.reconcile)
            b.app.commit(0, block_a, qc)  # B's own block 0 differs: fetched from A
            while b.app.chain.height() < 0:
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()

    run_deterministic(main, seed=3)
    assert b.app.chain.get(0).block.block_id() == block_a and verify_chain(b.app.chain) == []
    assert b.reconciler.adopted == 1 and b.app.adopted == []  # rebuilt after judging again
    assert b.leaves(0) == a.leaves(0) and b.app.chain.leaves(0) is None
    assert b.app.ledger.manifest(0) == a.app.ledger.manifest(0)

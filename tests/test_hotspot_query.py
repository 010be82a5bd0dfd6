"""What a validator tells a hotspot about itself (`HOTSPOT_QUERY_PROTOCOL`): its newest
verdicts with their reasons and its balance on the chain, answered from a real store
and chain file over the in-memory network; malformed queries are refused."""

from __future__ import annotations

import functools

import trio
from consensus_helpers import make_genesis, validator_key
from rewards_helpers import key, round_verdicts, witness

from coverage_net.consensus import (
    EMPTY_ROOT,
    Block,
    ChainStore,
    QuorumCertificate,
    SignedVote,
    Vote,
    VoteKind,
    state_root,
)
from coverage_net.node import save_verdicts
from coverage_net.node._hotspot_query import (
    HOTSPOT_QUERY_PROTOCOL,
    RECENT_VERDICTS,
    query_validators,
    serve_hotspot_queries,
)
from coverage_net.p2p import RequestError
from coverage_net.p2p.testing import MemoryNetwork, run_deterministic
from coverage_net.store import MessageStore

HOTSPOT = key(1).public_key


def _chain_paying(tmp_path, genesis, amount: int) -> ChainStore:
    chain = ChainStore.open(tmp_path, genesis)
    balances = {HOTSPOT.hex(): amount}
    block = Block(height=0, prev_block_id=genesis.hash(), next_entropy=bytes(32),
                  verdicts_root=EMPTY_ROOT, verdict_count=0, registry_changes_root=EMPTY_ROOT,
                  rewards_manifest_sha256=bytes(32), state_root=state_root(balances),
                  evidence_root=EMPTY_ROOT, proposer=0, time_ms=1)
    qc = QuorumCertificate.from_votes(
        [SignedVote.create(Vote(VoteKind.PRECOMMIT, 0, 0, block.block_id(), i), genesis,
                           validator_key(i)) for i in range(3)], genesis)
    chain.append(block, qc, balances)
    return chain


def test_a_hotspot_learns_its_verdicts_and_balance_from_a_validator(tmp_path):
    genesis = make_genesis()
    answers: list[dict] = []
    refused: list[str] = []
    with MessageStore.open(tmp_path) as store, _chain_paying(tmp_path, genesis, 12_345) as chain:
        verdicts = [v for epoch in range(30) for v in round_verdicts(epoch, 1, 1, [2, 3])]
        save_verdicts(store, [*verdicts, witness(31, 2, 1, valid=False)])

        async def main():
            net = MemoryNetwork(1)
            validator, hotspot = net.full_mesh([validator_key(0).peer_id, key(1).peer_id])
            async with trio.open_nursery() as nursery:
                await nursery.start(net.run)
                serve_hotspot_queries(validator, store, chain)
                nursery.start_soon(functools.partial(
                    query_validators, hotspot, HOTSPOT, [validator_key(0).public_key],
                    answers.append, interval_s=1.0))
                try:
                    await hotspot.request(validator_key(0).peer_id, HOTSPOT_QUERY_PROTOCOL,
                                          b"\xa1\x67hotspot\x41\x00", timeout_s=1.0)
                except RequestError as exc:
                    refused.append(str(exc))
                await trio.sleep(2.5)
                nursery.cancel_scope.cancel()

        run_deterministic(main, seed=1)
    answer = answers[-1]
    assert (answer["height"], answer["balance"]) == (0, 12_345)
    assert answer["validator"] == validator_key(0).peer_id
    listed = answer["verdicts"]
    assert len(listed) == RECENT_VERDICTS
    assert listed[0] == {"report_id": listed[0]["report_id"], "report_type": "witness_report",
                         "epoch": 31, "valid": False, "reason": "rssi_too_strong"}
    assert [v["epoch"] for v in listed] == sorted((v["epoch"] for v in listed), reverse=True)
    assert refused and "32-byte key" in refused[0]

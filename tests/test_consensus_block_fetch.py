"""Fetching a certified block from peers (`BlockFetcher`, `BlockServer`) on the in-memory
network under MockClock: a block of 5,000 verdicts comes in parts from two peers, each
part checked against the header as it arrives; a peer that lies (a tampered part, a
manifest that is not the header's, another block) is refused with what was wrong and
the other peer's answer is taken; every answer stays under the protocol's limits."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
import trio
from consensus_helpers import make_genesis, validator_key
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.consensus import (
    BLOCK_LIMITS,
    MAX_BLOCK_VERDICTS,
    PART_LEAVES,
    PARTS_PER_REQUEST,
    ApprovedChange,
    Block,
    BlockError,
    BlockFetcher,
    BlockFetchError,
    BlockPart,
    BlockRequest,
    BlockServer,
    ChainChange,
    GenesisValidator,
    QuorumCertificate,
    ServedBlock,
    SignedVote,
    Vote,
    VoteKind,
    changes_root,
    decode_head,
    decode_manifest_chunk,
    decode_parts,
    evidence_root,
    state_root,
    verdicts_root,
)
from coverage_net.messages import canonical_dumps
from coverage_net.p2p.testing import MemoryNetwork, run_deterministic
from coverage_net.rewards import Payout, RewardManifest

GENESIS = make_genesis()
LEAVES = tuple(sorted(hashlib.sha256(b"report %d" % i).digest()
                      + hashlib.sha256(b"verdict %d" % i).digest() for i in range(5000)))
BALANCES = {"a": 5}
MANIFEST = RewardManifest(epoch=3, params_digest=bytes(32), emission=300,
                          pools=(("beacon", 300),),
                          payouts=(Payout("a", beacon=100), Payout("b", beacon=200)))
BLOCK = Block(height=3, prev_block_id=bytes(32), next_entropy=bytes(32),
              verdicts_root=verdicts_root(LEAVES), verdict_count=len(LEAVES),
              registry_changes_root=bytes(32), rewards_manifest_sha256=MANIFEST.sha256(),
              state_root=state_root({"a": 105, "b": 200}), evidence_root=evidence_root(()),
              proposer=1, time_ms=0)
QC = QuorumCertificate.from_votes(
    [SignedVote.create(Vote(VoteKind.PRECOMMIT, 3, 0, BLOCK.block_id(), i), GENESIS,
                       validator_key(i)) for i in (0, 1, 2)], GENESIS)
HONEST = ServedBlock.of(BLOCK, QC, (), MANIFEST.to_cbor(), LEAVES)


class _Holds:
    """A peer's `BlockSource` that holds one block (whatever id is asked for)."""

    def __init__(self, served: ServedBlock | None) -> None:
        self.served = served

    def served_block(self, _height: int, _block_id: bytes) -> ServedBlock | None:
        return self.served


def _fetch(*served_by_peer: ServedBlock | None, balances=BALANCES, seed: int = 1, qc=QC):
    """Peers 1.. serve these, asked in that order by peer 0; (the block or the error,
    the refusals)."""
    out: list[object] = []

    async def main() -> None:
        net = MemoryNetwork(seed)
        ids = [validator_key(i).peer_id for i in range(len(served_by_peer) + 1)]
        endpoints = net.full_mesh(ids)
        async with trio.open_nursery() as nursery:
            await nursery.start(net.run)
            for endpoint, served in zip(endpoints, (None, *served_by_peer), strict=True):
                BlockServer(_Holds(served)).register(endpoint)
            fetcher = BlockFetcher(endpoints[0], GENESIS, peers=lambda: ids[1:])
            try:
                out.append(await fetcher.fetch(qc, balances=balances))
            except BlockFetchError as exc:
                out.append(exc)
            out.append(fetcher.refused)
            nursery.cancel_scope.cancel()

    run_deterministic(main, seed=seed)
    return out[0], out[1]


def test_a_large_block_comes_in_checked_parts_from_two_peers_a_tampered_part_refused():
    part = HONEST.parts[7]
    forged = replace(part, leaves=(part.leaves[0][:32] + bytes(32), *part.leaves[1:]))
    tampered = replace(HONEST, parts=(*HONEST.parts[:7], forged, *HONEST.parts[8:]))
    fetched, refused = _fetch(tampered, HONEST)
    assert len(HONEST.parts) == 157 > 2 * PARTS_PER_REQUEST  # three runs: bad, good, bad
    assert fetched.leaves == LEAVES and fetched.manifest == MANIFEST
    assert fetched.block == BLOCK and fetched.certificate == QC
    assert fetched.payouts == {"a": 100, "b": 200}
    [reason] = refused  # parts 0-63 from the tampered peer; the rest it served is right
    assert validator_key(1).peer_id in reason
    assert "block part 7 is not part 7 of block 3's verdicts" in reason


def test_a_manifest_that_is_not_the_headers_is_refused():
    other = RewardManifest(epoch=3, params_digest=bytes(32), emission=300,
                           pools=(("beacon", 300),),
                           payouts=(Payout("a", beacon=101), Payout("b", beacon=199)))
    lying = replace(HONEST, manifest_cbor=other.to_cbor())
    fetched, refused = _fetch(lying, HONEST)
    assert fetched.manifest == MANIFEST
    [reason] = refused
    assert "block 3's manifest: its sha256" in reason
    assert "is not the header's rewards_manifest_sha256" in reason
    error, _ = _fetch(lying)
    assert isinstance(error, BlockFetchError)
    assert "its head and manifest: no peer served it right" in str(error)
    assert "is not the header's rewards_manifest_sha256" in str(error)


def test_another_block_a_peer_without_it_and_balances_that_do_not_give_the_state_root():
    other = replace(BLOCK, time_ms=1)
    wrong = ServedBlock.of(other, None, (), MANIFEST.to_cbor(), LEAVES)
    error, refused = _fetch(wrong, None)
    assert isinstance(error, BlockFetchError)
    assert "not the certified" in refused[0]
    assert "no block" in refused[1] and "at height 3 here" in refused[1]
    error, _ = _fetch(HONEST, balances={"a": 6})
    assert isinstance(error, BlockFetchError) and "state_root" in str(error)


def test_a_blocks_validator_set_change_comes_with_its_head_and_is_checked():
    """Approved by validators 0-2 (a quorum in office), effective at height 5."""
    change = ChainChange(5, tuple(GenesisValidator(validator_key(i).public_key,
                                                   f"/ip4/127.0.0.1/tcp/{4001 + i}")
                                  for i in (1, 2, 3, 4)))
    approved = ApprovedChange(change, ())
    for i in (0, 1, 2):
        approved = approved.approve(validator_key(i), GENESIS)
    block = replace(BLOCK, changes_root=changes_root((approved,)))
    qc = QuorumCertificate.from_votes(
        [SignedVote.create(Vote(VoteKind.PRECOMMIT, 3, 0, block.block_id(), i), GENESIS,
                           validator_key(i)) for i in (0, 1, 2)], GENESIS)
    with_change = ServedBlock.of(block, qc, (), MANIFEST.to_cbor(), LEAVES, (approved,))
    without = replace(with_change, changes=())
    fetched, refused = _fetch(without, with_change, qc=qc)
    assert fetched.changes == (approved,) and fetched.block == block
    [reason] = refused
    assert "its changes do not hash to the header's changes_root" in reason


def test_a_certificate_that_does_not_verify_is_not_fetched():
    short = QuorumCertificate(QC.height, QC.round, QC.block_id, QC.signatures[:2])

    async def main() -> None:
        net = MemoryNetwork(2)
        [endpoint] = net.full_mesh([validator_key(0).peer_id])
        fetcher = BlockFetcher(endpoint, GENESIS, peers=list)
        with pytest.raises(BlockFetchError, match="not fetching block 3"):
            await fetcher.fetch(short, balances=BALANCES)

    run_deterministic(main, seed=2)


def test_the_largest_answers_fit_the_protocols_limits():
    """A run of parts of a block of `MAX_BLOCK_VERDICTS` (audit paths of 19 hashes)."""
    depth = (MAX_BLOCK_VERDICTS // PART_LEAVES - 1).bit_length()
    part = BlockPart(2**19 - 1, PART_LEAVES, tuple(bytes(64) for _ in range(PART_LEAVES)),
                     tuple(bytes(32) for _ in range(depth)))
    answer = canonical_dumps({"parts": [part.to_cbor()] * PARTS_PER_REQUEST})
    assert depth == 19 and len(answer) < BLOCK_LIMITS.max_response_bytes
    request = BlockRequest(2**63 - 1, bytes(32), "manifest", 64 * 1024 * 1024, 128 * 1024)
    assert len(request.to_cbor()) <= BLOCK_LIMITS.max_request_bytes


def test_a_request_says_what_is_wrong():
    assert BlockRequest.from_cbor(BlockRequest(3, bytes(32), "parts", 64, 64).to_cbor()) == \
        BlockRequest(3, bytes(32), "parts", 64, 64)
    with pytest.raises(BlockError, match="count of parts"):
        BlockRequest(3, bytes(32), "parts", 0, PARTS_PER_REQUEST + 1)
    with pytest.raises(BlockError, match="what is 'leaves'"):
        BlockRequest(3, bytes(32), "leaves")
    with pytest.raises(BlockError, match="block_id"):
        BlockRequest(3, bytes(31), "head")


_VALUES = st.one_of(st.integers(-2, 2**64), st.binary(max_size=80), st.text(max_size=8),
                    st.none(), st.lists(st.binary(max_size=70), max_size=3))
_KEYS = st.sampled_from(["height", "block_id", "what", "first", "count", "header",
                         "certificate", "evidence", "size", "chunk", "parts", "x"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.dictionaries(_KEYS, _VALUES, max_size=6).map(canonical_dumps)))
def test_the_protocols_parsers_take_any_bytes_and_refuse_with_a_block_error(data):
    outcomes = []
    for parse in (BlockRequest.from_cbor, decode_head, decode_manifest_chunk, decode_parts):
        try:
            outcomes.append(parse(data) is not None)
        except BlockError as exc:
            outcomes.append(str(exc) != "")  # refused, and the message says why
    assert all(outcomes)  # no other exception escaped, and none returned nothing

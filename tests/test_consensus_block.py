"""Blocks: a canonical header and its id; 50,000 verdict leaves fetched in provable parts."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from consensus_helpers import make_genesis
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.consensus import (
    EMPTY_ROOT,
    MAX_BLOCK_VERDICTS,
    PART_LEAVES,
    Block,
    BlockError,
    BlockPart,
    assemble_parts,
    block_parts,
    check_part,
    merkle_root,
    state_root,
    verdict_leaf,
    verdict_leaves,
    verdicts_root,
)
from coverage_net.messages import MAX_MESSAGE_BYTES, canonical_dumps
from coverage_net.poc import Reason, Verdict


def _leaves(n: int) -> tuple[bytes, ...]:
    return tuple(sorted(hashlib.sha256(b"report %d" % i).digest() +
                        hashlib.sha256(b"verdict %d" % i).digest() for i in range(n)))


def _block(leaves, **changes) -> Block:
    fields = dict(height=12, prev_block_id=make_genesis(4).hash(),
                  next_entropy=hashlib.sha256(b"entropy 13").digest(),
                  verdicts_root=verdicts_root(leaves), verdict_count=len(leaves),
                  registry_changes_root=EMPTY_ROOT, rewards_manifest_sha256=bytes(range(32)),
                  state_root=state_root({"a": 1}), evidence_root=EMPTY_ROOT, proposer=2,
                  time_ms=1_764_806_460_000)
    return Block(**{**fields, **changes})


LEAVES_50K = _leaves(50_000)
BLOCK_50K = _block(LEAVES_50K)


def test_block_id_is_sha256_of_canonical_header_and_round_trips():
    block = _block(_leaves(3))
    assert block.block_id() == hashlib.sha256(canonical_dumps(block.to_dict())).digest()
    assert Block.from_cbor(block.to_cbor()) == block
    assert dataclasses.replace(block, proposer=3).block_id() != block.block_id()
    assert len(block.to_cbor()) < MAX_MESSAGE_BYTES


@pytest.mark.parametrize(("change", "message"), [
    ({"height": -1}, "Block.height"), ({"next_entropy": b"x"}, "Block.next_entropy"),
    ({"verdict_count": MAX_BLOCK_VERDICTS + 1}, "Block.verdict_count"),
    ({"proposer": True}, "Block.proposer"), ({"state_root": "00" * 32}, "Block.state_root"),
])
def test_bad_header_fields_named(change, message):
    with pytest.raises(BlockError, match=message):
        _block(_leaves(1), **change)


def test_header_parse_is_strict():
    block = _block(_leaves(1))
    with pytest.raises(BlockError, match="missing key"):
        Block.from_cbor(canonical_dumps({"height": 1}))
    with pytest.raises(BlockError, match="not valid CBOR"):
        Block.from_cbor(block.to_cbor()[:-1])
    with pytest.raises(BlockError, match="unknown key"):
        Block.from_cbor(canonical_dumps({**block.to_dict(), "extra": 1}))


def test_fifty_thousand_verdicts_in_parts_each_proven():
    parts = block_parts(LEAVES_50K)
    assert len(parts) == BLOCK_50K.part_count() == -(-50_000 // PART_LEAVES)
    largest = max(len(p.to_cbor()) for p in parts)
    assert largest <= MAX_MESSAGE_BYTES
    for part in parts:
        decoded = BlockPart.from_cbor(part.to_cbor())
        assert check_part(decoded, BLOCK_50K) == part.leaves
    assert assemble_parts(reversed(parts), BLOCK_50K) == LEAVES_50K


def test_swapped_or_altered_part_refused():
    parts = block_parts(LEAVES_50K)
    swapped = dataclasses.replace(parts[7], leaves=parts[8].leaves)
    with pytest.raises(BlockError, match="is not part 7 of block 12"):
        check_part(swapped, BLOCK_50K)
    moved = dataclasses.replace(parts[8], index=7)
    with pytest.raises(BlockError, match="is not part 7"):
        check_part(moved, BLOCK_50K)
    altered = list(parts[3].leaves)
    altered[5] = altered[5][:32] + bytes(32)
    with pytest.raises(BlockError, match="is not part 3"):
        check_part(dataclasses.replace(parts[3], leaves=tuple(altered)), BLOCK_50K)
    with pytest.raises(BlockError, match="has 31 leaves"):
        check_part(dataclasses.replace(parts[3], leaves=parts[3].leaves[1:]), BLOCK_50K)
    with pytest.raises(BlockError, match="index"):
        check_part(dataclasses.replace(parts[0], index=len(parts)), BLOCK_50K)
    with pytest.raises(BlockError, match="missing part"):
        assemble_parts(parts[1:], BLOCK_50K)
    with pytest.raises(BlockError, match="given twice"):
        assemble_parts((*parts, parts[0]), BLOCK_50K)


def test_other_block_refuses_the_parts():
    other = _block(_leaves(50_001))
    with pytest.raises(BlockError, match="is not part 0"):
        check_part(block_parts(LEAVES_50K)[0], other)


def test_worst_case_part_fits_a_message():
    """The most leaves a part holds, with the longest path MAX_BLOCK_VERDICTS allows."""
    depth = (MAX_BLOCK_VERDICTS // PART_LEAVES - 1).bit_length()
    part = BlockPart(2**19 - 1, PART_LEAVES, tuple(b"\xff" * 64 for _ in range(PART_LEAVES)),
                     tuple(b"\xff" * 32 for _ in range(depth)))
    assert len(part.to_cbor()) <= MAX_MESSAGE_BYTES


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.sampled_from([1, 2, 4, 8, 16, 32]))
def test_any_size_and_part_length_assembles(n, part_leaves):
    leaves = _leaves(n)
    block = _block(leaves)
    parts = block_parts(leaves, part_leaves)
    assert assemble_parts(parts, block, part_leaves) == leaves


def test_part_length_must_be_a_power_of_two_that_fits():
    for bad in (0, 3, 64):
        with pytest.raises(BlockError, match="power of two"):
            block_parts(_leaves(10), bad)


def test_verdict_leaves_from_real_verdicts():
    verdicts = [Verdict(report_id=hashlib.sha256(b"r%d" % i).digest(),
                        report_type="witness_report", challenge_id=bytes(32), epoch=12,
                        hotspot_key=bytes([i + 1]) * 32, valid=True, reason=Reason.VALID)
                for i in range(5)]
    leaves = verdict_leaves(reversed(verdicts))
    assert [leaf[:32] for leaf in leaves] == sorted(v.report_id for v in verdicts)
    assert verdict_leaf(verdicts[0]) == verdicts[0].report_id + \
        hashlib.sha256(verdicts[0].to_cbor()).digest()
    with pytest.raises(BlockError, match="has two verdicts"):
        verdict_leaves([verdicts[0], dataclasses.replace(verdicts[0], epoch=13)])


def test_state_root_is_order_free_and_checked():
    assert state_root({"a": 1, "b": 2}) == state_root({"b": 2, "a": 1})
    assert state_root({"a": 1, "b": 2}) != state_root({"a": 2, "b": 1})
    assert state_root({}) == EMPTY_ROOT
    assert state_root({"a": 5}) == merkle_root([canonical_dumps(["a", 5])])
    with pytest.raises(BlockError, match="balance of 'a'"):
        state_root({"a": -1})
    with pytest.raises(BlockError, match="balance of 'a'"):
        state_root({"a": 1.0})

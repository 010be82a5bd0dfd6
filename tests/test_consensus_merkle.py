"""The Merkle tree: RFC 6962 shape and hashes; every proof verifies, any change fails."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.consensus import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_hash_inclusion,
    verify_inclusion,
)

_leaves = st.lists(st.binary(max_size=40), min_size=1, max_size=70)


def _rfc6962_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 section 2.1, by its recursive definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _rfc6962_root(leaves[:k]) + _rfc6962_root(leaves[k:]))\
        .digest()


def test_empty_and_small_trees():
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert merkle_root([b"a"]) == leaf_hash(b"a") != hashlib.sha256(b"a").digest()
    three = node_hash(node_hash(leaf_hash(b"a"), leaf_hash(b"b")), leaf_hash(b"c"))
    assert merkle_root([b"a", b"b", b"c"]) == three


def test_a_node_is_not_a_leaf():
    # the second-preimage attack: present two leaf hashes as one 64-byte leaf
    two = [b"a", b"b"]
    forged = leaf_hash(b"a") + leaf_hash(b"b")
    assert merkle_root([forged]) != merkle_root(two)


@settings(max_examples=150, deadline=None)
@given(_leaves)
def test_root_matches_rfc6962_definition(leaves):
    assert merkle_root(leaves) == _rfc6962_root(leaves)


@settings(max_examples=150, deadline=None)
@given(_leaves)
def test_every_leaf_proof_verifies(leaves):
    tree = MerkleTree(leaves)
    for i, leaf in enumerate(leaves):
        assert verify_inclusion(leaf, i, len(leaves), tree.proof(i), tree.root)


@settings(max_examples=150, deadline=None)
@given(_leaves, st.data())
def test_changed_leaf_index_or_proof_fails(leaves, data):
    tree = MerkleTree(leaves)
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = tree.proof(i)
    leaf = leaves[i]
    assert not verify_inclusion(leaf + b"x", i, n, proof, tree.root)
    if leaves.count(leaf) == 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda j: j != i)) if n > 1 else None
        if other is not None:
            assert not verify_inclusion(leaf, other, n, proof, tree.root)
    # (the size is not bound by the proof alone, as in RFC 9162: the block header carries it)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[j] = bytes(32) if bad[j] != bytes(32) else b"\x01" * 32
        assert not verify_inclusion(leaf, i, n, bad, tree.root)
        assert not verify_inclusion(leaf, i, n, proof[:-1], tree.root)
    assert not verify_inclusion(leaf, i, n, (*proof, bytes(32)), tree.root)
    assert not verify_inclusion(leaf, i, n, proof, hashlib.sha256(tree.root).digest())


@pytest.mark.parametrize("bad", [(-1, 4), (4, 4), (0, 0), (True, 4)])
def test_bad_index_or_size_is_false_not_an_error(bad):
    tree = MerkleTree([b"a", b"b", b"c", b"d"])
    index, size = bad
    assert not verify_inclusion(b"a", index, size, tree.proof(0), tree.root)


def test_proof_index_out_of_range():
    with pytest.raises(IndexError, match="out of range"):
        MerkleTree([b"a"]).proof(1)
    with pytest.raises(TypeError, match="leaf 1 must be bytes"):
        MerkleTree([b"a", "b"])


@settings(max_examples=60, deadline=None)
@given(_leaves, st.sampled_from([1, 2, 4, 8]))
def test_aligned_runs_are_subtrees(leaves, run):
    """Subtree roots over aligned runs of 2^k leaves make the same root (block parts)."""
    parts = [leaves[i:i + run] for i in range(0, len(leaves), run)]
    over_parts = MerkleTree.from_hashes([merkle_root(p) for p in parts])
    assert over_parts.root == merkle_root(leaves)
    for i, part in enumerate(parts):
        assert verify_hash_inclusion(merkle_root(part), i, len(parts), over_parts.proof(i),
                                     over_parts.root)

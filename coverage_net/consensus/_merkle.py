"""A binary SHA-256 Merkle tree as in RFC 6962 / RFC 9162 (Certificate Transparency).

Leaves hash as ``SHA-256(0x00 || data)`` and inner nodes as ``SHA-256(0x01 || left ||
right)``: the prefixes keep an inner node from ever passing as a leaf (the
second-preimage attack on plain Merkle trees). The tree over n leaves splits at the
largest power of two below n, so every aligned run of 2^k leaves is one subtree: a
block's verdict list can be proven part by part (`_block`) with the same root. The
root of no leaves is SHA-256 of the empty string (`EMPTY_ROOT`).

Built bottom-up (a last odd node moves up unchanged), which gives the same tree as
RFC 6962's recursive split; proofs follow RFC 9162 section 2.1.3.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["EMPTY_ROOT", "MerkleTree", "leaf_hash", "merkle_root", "node_hash",
           "verify_hash_inclusion", "verify_inclusion"]

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of a tree with no leaves."""
_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


class MerkleTree:
    """Every level of the tree over `leaves` (byte strings), kept so that each of many
    proofs costs log n, not n. `from_hashes` builds one over already-hashed subtrees."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        for i, leaf in enumerate(leaves):
            if not isinstance(leaf, bytes | bytearray):
                raise TypeError(f"Merkle leaf {i} must be bytes; got {type(leaf).__name__}")
        self._levels = _levels([leaf_hash(leaf) for leaf in leaves])

    @classmethod
    def from_hashes(cls, hashes: Sequence[bytes]) -> MerkleTree:
        """A tree whose bottom level is `hashes` (leaf hashes or subtree roots)."""
        tree = cls.__new__(cls)
        tree._levels = _levels([bytes(h) for h in hashes])
        return tree

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def proof(self, index: int) -> tuple[bytes, ...]:
        """The audit path of leaf `index`: sibling hashes from the bottom up."""
        if type(index) is not int or not 0 <= index < self.size:
            raise IndexError(f"leaf index {index!r} out of range for a tree of {self.size}")
        path = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return tuple(path)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root of the tree over `leaves`."""
    return MerkleTree(leaves).root


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """True when `proof` shows `leaf` (its data, hashed here) at `index` of a `size`-leaf
    tree with `root`. Never raises for a wrong proof: the caller says what it means."""
    return verify_hash_inclusion(leaf_hash(leaf), index, size, proof, root)


def verify_hash_inclusion(node: bytes, index: int, size: int, proof: Sequence[bytes],
                          root: bytes) -> bool:
    """`verify_inclusion` for an already-hashed node (a subtree root at `index` of a tree
    of `size` such subtrees): RFC 9162, section 2.1.3.2."""
    if type(index) is not int or type(size) is not int or not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, node
    for p in proof:
        if not isinstance(p, bytes) or len(p) != 32 or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def _levels(hashes: list[bytes]) -> list[list[bytes]]:
    levels = [hashes]
    while len(levels[-1]) > 1:
        below = levels[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        levels.append(above)
    return levels

"""Errors of consensus: `ConsensusError` is the package's base."""

from __future__ import annotations

from coverage_net.errors import CoverageNetError

__all__ = [
    "BlockError", "BlockFetchError", "CertificateError", "ConsensusError", "DoubleSignError",
    "EvidenceError", "GenesisError", "InvalidVoteError", "SignerStateError",
]


class ConsensusError(CoverageNetError):
    """Base of every error raised by `coverage_net.consensus`."""


class GenesisError(ConsensusError):
    """A genesis file or record is unreadable or inconsistent; the message names the key."""


class InvalidVoteError(ConsensusError):
    """A signed vote or proposal does not belong to this chain: another chain's genesis, a
    key that is no validator, or a signature that does not verify."""


class CertificateError(ConsensusError):
    """A quorum certificate does not prove its block final under this genesis."""


class DoubleSignError(ConsensusError):
    """The signer was asked to sign a second, different vote or proposal for a (height,
    round, step) it already signed; signing it would be equivocation."""


class SignerStateError(ConsensusError):
    """The signer's record of what it signed is missing, unreadable or belongs to another
    key or chain; signing without it could equivocate."""


class BlockError(ConsensusError):
    """A block, or a part of its verdict list, is malformed or does not match its roots."""


class BlockFetchError(ConsensusError):
    """No peer served a certified block whose every part checks; the message says what
    each peer asked got wrong (the caller asks again later)."""


class EvidenceError(ConsensusError):
    """Evidence of equivocation is malformed or does not prove a conflict."""

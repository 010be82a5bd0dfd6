"""The reward manifest: one epoch's payouts as a canonical, hashable object.

A block carries (or commits to) `RewardManifest.sha256()`; anyone who recomputes
the epoch from the same verdicts, receipts, registry and parameters gets the same
bytes. Every amount is an integer in the token's smallest unit, and the payouts,
the rounding remainder included (account ``remainder``), add up to the emission
exactly: `from_cbor` refuses a manifest that does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

from coverage_net.messages import MessageError, canonical_dumps, loads_cbor_item

from ._errors import ManifestError

__all__ = ["REMAINDER_ACCOUNT", "Payout", "RewardManifest", "differences", "first_difference"]

REMAINDER_ACCOUNT = "remainder"
"""Where the units no floor division could hand out go (and pools nobody earned)."""
_MAX_MANIFEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Payout:
    """What one account earned in the epoch, by pool, with the figures behind it.

    `account` is a hotspot's public key in hex, or a named account from the
    parameters (or ``remainder``). `scale_pico` is the hotspot's HIP-17 transmit
    scale in units of 10^-12, rounded down.
    """

    account: str
    beacon: int = 0
    witness: int = 0
    data: int = 0
    share: int = 0
    """A named account's share of the emission (and the remainder's units)."""
    beacons: int = 0
    """Valid beacons it sent that count for rewards."""
    witnesses: int = 0
    """Valid, rewarded witness reports it filed."""
    data_credits: int = 0
    scale_pico: int = 0

    @property
    def total(self) -> int:
        return self.beacon + self.witness + self.data + self.share

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_PAYOUT_FIELDS = tuple(f.name for f in fields(Payout))


@dataclass(frozen=True)
class RewardManifest:
    """One epoch's rewards (see the module doc). `payouts` are sorted by account."""

    epoch: int
    params_digest: bytes
    emission: int
    pools: tuple[tuple[str, int], ...]
    """The pools after the data-transfer pool's unused part moved: sorted (name, units)."""
    payouts: tuple[Payout, ...]

    def __post_init__(self) -> None:
        accounts = [p.account for p in self.payouts]
        if accounts != sorted(set(accounts)):
            raise ManifestError("payouts must be sorted and unique by account")
        for p in self.payouts:
            bad = [name for name in _PAYOUT_FIELDS[1:]
                   if type(getattr(p, name)) is not int or getattr(p, name) < 0]
            if bad:
                raise ManifestError(f"payout to {p.account}: {bad[0]} must be an integer >= 0, "
                                    f"got {getattr(p, bad[0])!r}")
        paid = sum(p.total for p in self.payouts)
        if paid != self.emission:
            raise ManifestError(f"epoch {self.epoch}: payouts add up to {paid}, not the "
                                f"emission {self.emission}")

    @property
    def remainder(self) -> int:
        return self.payout(REMAINDER_ACCOUNT).total

    def payout(self, account: str) -> Payout:
        """The account's payout (an all-zero one when it earned nothing)."""
        for p in self.payouts:
            if p.account == account:
                return p
        return Payout(account)

    def by_account(self) -> dict[str, Payout]:
        return {p.account: p for p in self.payouts}

    def to_dict(self) -> dict[str, object]:
        return {"epoch": self.epoch, "params_digest": self.params_digest,
                "emission": self.emission, "pools": dict(self.pools),
                "payouts": [p.to_dict() for p in self.payouts]}

    def to_cbor(self) -> bytes:
        """The canonical CBOR encoding: equal manifests give equal bytes."""
        return canonical_dumps(self.to_dict())

    def sha256(self) -> bytes:
        """What a block commits to."""
        return hashlib.sha256(self.to_cbor()).digest()

    def to_json_dict(self) -> dict[str, object]:
        """`to_dict` with bytes in hex, for JSON (keys sorted by the caller's dump)."""
        out = self.to_dict()
        out["params_digest"] = self.params_digest.hex()
        out["sha256"] = self.sha256().hex()
        return out

    @classmethod
    def from_cbor(cls, data: bytes) -> RewardManifest:
        """Decode `to_cbor` bytes; anything else raises `ManifestError` saying what is wrong."""
        try:
            item = loads_cbor_item(data, max_bytes=_MAX_MANIFEST_BYTES)
        except MessageError as exc:
            raise ManifestError(f"not a reward manifest: {exc}") from exc
        expected = {"epoch", "params_digest", "emission", "pools", "payouts"}
        if not isinstance(item, dict) or set(item) != expected:
            raise ManifestError(f"not a reward manifest: expected a map with keys "
                                f"{sorted(expected)}")
        pools, payouts = item["pools"], item["payouts"]
        if (type(item["epoch"]) is not int or type(item["emission"]) is not int
                or type(item["params_digest"]) is not bytes or not isinstance(pools, dict)
                or not isinstance(payouts, list)):
            raise ManifestError("not a reward manifest: a field has the wrong type")
        if not all(type(k) is str and type(v) is int for k, v in pools.items()):
            raise ManifestError("not a reward manifest: pools must map names to integers")
        rows = []
        for row in payouts:
            if not isinstance(row, dict) or set(row) != set(_PAYOUT_FIELDS) \
                    or type(row["account"]) is not str:
                raise ManifestError(f"not a reward manifest: a payout must hold exactly "
                                    f"{', '.join(_PAYOUT_FIELDS)}")
            rows.append(Payout(**row))
        manifest = cls(item["epoch"], item["params_digest"], item["emission"],
                       tuple(sorted(pools.items())), tuple(rows))
        if manifest.to_cbor() != data:
            raise ManifestError("not a reward manifest: not the canonical encoding")
        return manifest


def differences(expected: RewardManifest, got: RewardManifest) -> Iterator[str]:
    """Every way `got` differs from `expected`, in words: the epoch's figures, then the
    pools, then the payouts by account and field."""
    for name in ("epoch", "params_digest", "emission"):
        a, b = getattr(expected, name), getattr(got, name)
        if a != b:
            show = (lambda v: v.hex()) if isinstance(a, bytes) else str
            yield f"{name}: expected {show(a)}, got {show(b)}"
    yield from _mapping_differences("pool", dict(expected.pools), dict(got.pools))
    want, have = expected.by_account(), got.by_account()
    for account in sorted(set(want) | set(have)):
        a, b = want.get(account, Payout(account)), have.get(account, Payout(account))
        for name in _PAYOUT_FIELDS[1:]:
            if getattr(a, name) != getattr(b, name):
                yield (f"payout to {account}: {name} expected {getattr(a, name):,}, "
                       f"got {getattr(b, name):,}")


def _mapping_differences(what: str, expected: Mapping[str, int],
                         got: Mapping[str, int]) -> Iterator[str]:
    for name in sorted(set(expected) | set(got)):
        if expected.get(name) != got.get(name):
            yield f"{what} {name}: expected {expected.get(name)}, got {got.get(name)}"


def first_difference(expected: RewardManifest, got: RewardManifest) -> str | None:
    """The first way `got` differs from `expected`, in words (None when equal)."""
    return next(differences(expected, got), None)

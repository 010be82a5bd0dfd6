"""One epoch's rewards from its verdicts: a pure function, exact to the last unit.

`epoch_rewards(params, epoch, verdicts, registry, receipts, last_witnessed)`:

1. Emission: `RewardParams.emission_per_epoch`, halved every `halving_interval_epochs`.
2. Pools, each ``emission * bps // 10_000``: beacons, witnesses, data transfer and the
   named accounts; what the floor divisions leave goes to ``remainder``.
3. Data transfer pays each hotspot ``data_credit_value`` per data credit of its valid
   receipts, scaled down in proportion when that exceeds the pool; the unused part of
   the pool goes to beacons and witnesses (`unused_data_to_beacons_bps`, the rest).
4. Every valid beacon with ``w`` rewarded witnesses earns its beaconer the HIP-15
   beaconer units for ``w`` and each of those witnesses the witness units for ``w``
   (`coverage_net.rewards._units`), both times the beaconer's HIP-17 transmit scale
   (`coverage_net.rewards._density`), rounded down to 10^-12. The beacon and witness
   pools are shared in proportion to those weights.
5. Every share is a floor division; the units left over go to ``remainder``, so the
   payouts add up to the emission exactly.

No clock, no I/O, no floats: the same inputs in any order give the same manifest.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Protocol

from coverage_net.messages import SignatureError
from coverage_net.poc import BPS, NetworkParams, Registry, RewardParams, Verdict

from ._density import transmit_scales
from ._errors import RewardsError
from ._manifest import REMAINDER_ACCOUNT, Payout, RewardManifest
from ._receipt import DataTransferReceipt, data_credits_for
from ._units import UnitTable

__all__ = ["SCALE_ONE", "emission_for_epoch", "epoch_rewards", "interactive_hotspots",
           "valid_receipts", "witnessed_beacon_epochs"]

logger = logging.getLogger(__name__)

SCALE_ONE = 10**12
"""A transmit scale of 1 in the fixed point the weights use (pico units, rounded down)."""
_BEACON = "beacon_report"


class VerdictLike(Protocol):
    """What `witnessed_beacon_epochs` reads of a verdict (a stored row has it too)."""

    report_type: str
    challenge_id: bytes
    hotspot_key: bytes
    epoch: int
    valid: bool

_WITNESS = "witness_report"


def emission_for_epoch(rewards: RewardParams, epoch: int) -> int:
    """Units minted in `epoch`: the initial emission halved once per interval passed."""
    if rewards.halving_interval_epochs == 0:
        return rewards.emission_per_epoch
    return rewards.emission_per_epoch >> (epoch // rewards.halving_interval_epochs)


def witnessed_beacon_epochs(verdicts: Iterable[Verdict | VerdictLike]) -> dict[bytes, int]:
    """Per beaconer, the latest epoch among `verdicts` in which a valid beacon of its
    was witnessed by at least one valid witness (HIP-17's interactive evidence)."""
    beaconer: dict[bytes, tuple[bytes, int]] = {}
    witnessed: set[bytes] = set()
    for v in verdicts:
        if not v.valid:
            continue
        if v.report_type == _BEACON:
            beaconer[v.challenge_id] = (v.hotspot_key, v.epoch)
        elif v.report_type == _WITNESS:
            witnessed.add(v.challenge_id)
    out: dict[bytes, int] = {}
    for challenge, (key, epoch) in beaconer.items():
        if challenge in witnessed and out.get(key, -1) < epoch:
            out[key] = epoch
    return out


def interactive_hotspots(params: NetworkParams, epoch: int,
                         last_witnessed: Mapping[bytes, int]) -> frozenset[bytes]:
    """Hotspots whose last witnessed valid beacon lies within the interactive window,
    counting whole epochs: (epoch - last) * epoch length <= `interactive_window_ms`."""
    window = params.rewards.interactive_window_ms
    return frozenset(key for key, last in last_witnessed.items()
                     if last <= epoch and (epoch - last) * params.epoch_length_ms <= window)


def valid_receipts(params: NetworkParams, epoch: int, registry: Registry,
                   receipts: Iterable[DataTransferReceipt]) -> dict[bytes, DataTransferReceipt]:
    """The receipts that pay, by packet hash: signed by a listed router, for a registered
    hotspot, in `epoch`, priced right; of several for one packet, the earliest
    (timestamp, then content id). The others are logged and earn nothing."""
    routers = frozenset(params.rewards.routers)
    best: dict[bytes, tuple[tuple[int, bytes], DataTransferReceipt]] = {}
    refused: Counter[str] = Counter()
    for r in receipts:
        if r.router_key not in routers:
            refused["router not in the network parameters"] += 1
        elif r.epoch != epoch:
            refused["another epoch"] += 1
        elif r.hotspot_key not in registry:
            refused["hotspot not registered"] += 1
        elif r.data_credits != data_credits_for(r.payload_bytes):
            refused["data credits do not match the payload size"] += 1
        elif not _signed(r):
            refused["bad signature"] += 1
        else:
            order = (r.timestamp_ms, r.content_id)
            held = best.get(r.packet_hash)
            if held is None or order < held[0]:
                best[r.packet_hash] = (order, r)
    for why, count in sorted(refused.items()):
        logger.info("epoch %d: %d data-transfer receipt(s) earn nothing: %s", epoch, count, why)
    return {packet: r for packet, (_, r) in best.items()}


def _signed(receipt: DataTransferReceipt) -> bool:
    try:
        receipt.verify()
    except SignatureError:
        return False
    return True


def _rounds(epoch: int, verdicts: Iterable[Verdict]
            ) -> tuple[dict[bytes, bytes], dict[bytes, list[bytes]]]:
    """(beaconer by challenge for valid beacons, rewarded witnesses by challenge)."""
    seen: dict[bytes, Verdict] = {}
    beaconer: dict[bytes, bytes] = {}
    rewarded: dict[bytes, list[bytes]] = defaultdict(list)
    for v in verdicts:
        if v.epoch != epoch:
            raise RewardsError(f"the verdict of report {v.report_id.hex()} is for epoch "
                               f"{v.epoch}, not {epoch}")
        held = seen.get(v.report_id)
        if held is not None:  # the same report twice: once is enough
            if held != v:
                raise RewardsError(f"two different verdicts for report {v.report_id.hex()}")
            continue
        seen[v.report_id] = v
        if not v.valid:
            continue
        if v.report_type == _BEACON:
            if beaconer.setdefault(v.challenge_id, v.hotspot_key) != v.hotspot_key:
                raise RewardsError(f"two valid beacons for challenge {v.challenge_id.hex()}")
        elif v.report_type == _WITNESS and v.rewarded:
            rewarded[v.challenge_id].append(v.hotspot_key)
    return beaconer, rewarded


def _share(pool: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`pool` split in proportion to `weights`, each share rounded down."""
    total = sum(weights.values())
    if total == 0:
        return {}
    return {account: pool * w // total for account, w in weights.items()}


def epoch_rewards(params: NetworkParams, epoch: int, verdicts: Iterable[Verdict],
                  registry: Registry, receipts: Iterable[DataTransferReceipt] = (),
                  last_witnessed: Mapping[bytes, int] | None = None) -> RewardManifest:
    """The epoch's `RewardManifest` (see the module doc).

    `last_witnessed` is the beacon history before this epoch: per hotspot, the last
    epoch a valid beacon of its was witnessed (`witnessed_beacon_epochs` over the
    earlier epochs' verdicts); this epoch's own verdicts are added to it here.
    """
    rp = params.rewards
    verdicts = list(verdicts)
    beaconer, rewarded = _rounds(epoch, verdicts)
    history = dict(last_witnessed or {})
    for key, last in witnessed_beacon_epochs(verdicts).items():
        history[key] = max(history.get(key, last), last)
    interactive = interactive_hotspots(params, epoch, history)
    cells = {key: h.cell for key, h in registry.by_key.items()}
    scales = {key: _pico(s) for key, s in transmit_scales(cells, interactive,
                                                           rp.hex_density).items()}
    table = UnitTable.build(params.verifier.max_rewarded_witnesses, rp.witness_target,
                            rp.witness_decay_ppm)

    beacon_w: Counter[bytes] = Counter()
    witness_w: Counter[bytes] = Counter()
    beacons: Counter[bytes] = Counter()
    witnessed: Counter[bytes] = Counter()
    for challenge, key in beaconer.items():
        hearers = rewarded.get(challenge, ())
        w = len(hearers)
        if w >= len(table.beaconer):
            raise RewardsError(
                f"challenge {challenge.hex()} has {w} rewarded witnesses, more than the "
                f"parameters' max_rewarded_witnesses ({len(table.beaconer) - 1})")
        scale = scales.get(key, 0)
        beacon_w[key] += table.beaconer[w] * scale
        beacons[key] += 1
        each = table.witness[w] * scale
        for hearer in hearers:
            witness_w[hearer] += each
            witnessed[hearer] += 1
    orphans = set(rewarded) - set(beaconer)
    if orphans:
        raise RewardsError(f"rewarded witnesses of challenge {min(orphans).hex()}, which has "
                           "no valid beacon")

    receipts_paid = valid_receipts(params, epoch, registry, receipts)
    credits: Counter[bytes] = Counter()
    for r in receipts_paid.values():
        credits[r.hotspot_key] += r.data_credits

    emission = emission_for_epoch(rp, epoch)
    beacon_pool = emission * rp.beacon_bps // BPS
    witness_pool = emission * rp.witness_bps // BPS
    data_pool = emission * rp.data_transfer_bps // BPS
    shares = {name: emission * bps // BPS for name, bps in rp.accounts}
    data_paid = min(data_pool, sum(credits.values()) * rp.data_credit_value)
    unused = data_pool - data_paid
    to_beacons = unused * rp.unused_data_to_beacons_bps // BPS
    beacon_pool += to_beacons
    witness_pool += unused - to_beacons

    hexed = {key: key.hex() for key in (*beacon_w, *witness_w, *credits, *beacons, *witnessed)}
    beacon_pay = _share(beacon_pool, {hexed[k]: w for k, w in beacon_w.items()})
    witness_pay = _share(witness_pool, {hexed[k]: w for k, w in witness_w.items()})
    data_pay = _share(data_paid, {hexed[k]: c for k, c in credits.items()})
    rows: dict[str, Payout] = {}
    for key, account in hexed.items():
        rows[account] = Payout(account, beacon=beacon_pay.get(account, 0),
                               witness=witness_pay.get(account, 0),
                               data=data_pay.get(account, 0), beacons=beacons[key],
                               witnesses=witnessed[key], data_credits=credits[key],
                               scale_pico=scales.get(key, 0))
    for name, amount in shares.items():
        rows[name] = Payout(name, share=amount)
    paid = sum(p.total for p in rows.values())
    rows[REMAINDER_ACCOUNT] = Payout(REMAINDER_ACCOUNT, share=emission - paid)
    pools = {"beacon": beacon_pool, "witness": witness_pool, "data_transfer": data_paid,
             **{f"account:{name}": amount for name, amount in shares.items()}}
    return RewardManifest(epoch=epoch, params_digest=params.digest(), emission=emission,
                          pools=tuple(sorted(pools.items())),
                          payouts=tuple(rows[a] for a in sorted(rows)))


def _pico(scale: Fraction) -> int:
    return scale.numerator * SCALE_ONE // scale.denominator

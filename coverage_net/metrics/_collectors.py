"""Collectors: Prometheus families read from a process's live objects when scraped.

Nothing is copied on a timer: each collector holds the object the process already
keeps (`PeerMetrics`, the consensus driver, the finality record, `PocMetrics`, the
message store, the reward ledger) and turns it into families in ``collect``, so a
scrape shows the figures of that moment and costs nothing between scrapes. Names carry
the ``coverage_net_`` prefix and their unit; counters end in ``_total``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

if TYPE_CHECKING:
    from coverage_net.consensus import ConsensusDriver
    from coverage_net.p2p import PeerMetrics
    from coverage_net.poc import PocMetrics
    from coverage_net.rewards import RewardLedger
    from coverage_net.store import MessageStore

__all__ = ["FINALITY_BUCKETS_S", "ConsensusCollector", "FinalityCollector", "PeerCollector",
           "PocCollector", "RewardsCollector", "VerdictCollector"]

FINALITY_BUCKETS_S = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Upper bounds of the finality latency histogram: a height is normally final within a
few seconds of its epoch's close (timeouts: propose 3 s, prevote and precommit 1 s)."""

_PEER_COUNTERS = {  # PeerMetrics field -> (family name, help)
    "accepted": ("gossip_accepted", "Gossip messages that passed validation (before "
                 "de-duplication)."),
    "stored": ("messages_stored", "Messages newly committed to the store (gossip, sync and "
               "own publishes)."),
    "duplicates": ("messages_duplicate", "Valid messages that were already stored."),
    "gossip_seen": ("gossip_seen_again", "Gossip payloads that arrived again after their id "
                    "was seen (not re-validated)."),
    "published": ("messages_published", "Messages this peer published (messages out)."),
    "synced": ("messages_synced", "Messages fetched by sync that gossip had not delivered."),
    "sync_rounds": ("sync_rounds", "Sync rounds run with connected peers."),
    "sync_errors": ("sync_errors", "Sync rounds that failed."),
    "sync_requests_served": ("sync_requests_served", "Sync requests answered for other "
                             "peers."),
    "sync_requests_refused": ("sync_requests_refused", "Sync requests from other peers "
                              "refused."),
    "bad_rpcs": ("gossip_bad_rpcs", "Gossip RPC frames that could not be decoded or "
                 "processed (each reset its stream)."),
}
_PEER_BY_LABEL = {  # PeerMetrics counter field -> (family name, label, help)
    "rejected": ("gossip_rejected", "reason", "Gossip messages refused by the topic "
                 "validators, by reason."),
    "dropped": ("messages_dropped", "where", "Messages py-libp2p would have lost, by place."),
    "requests": ("requests", "outcome", "Inbound request/response streams, by outcome."),
}

_POC_COUNTERS = {  # PocMetrics field -> help (family: coverage_net_poc_<field>_total)
    "challenges_issued": "Challenges this node issued as a challenger.",
    "challenges_skipped_late": "Challenges not issued because their window had passed.",
    "beacons_sent": "Beacons this hotspot put on the air.",
    "witnesses_filed": "Witness reports this hotspot filed.",
    "beacons_held": "Beacons heard before their challenge arrived (held for it).",
    "held_resolved": "Held beacons whose challenge then arrived.",
    "held_expired": "Held beacons whose challenge never arrived in time.",
    "held_dropped": "Held beacons dropped because too many were held.",
    "frames_ignored": "Radio frames that were not beacons.",
    "own_beacons_ignored": "This hotspot's own beacons heard back.",
    "repeats_ignored": "Beacons heard again for a challenge already witnessed.",
    "challenges_ignored": "Challenges the witness listener would not witness for (bad "
                          "signature, window, challenger).",
}


class _Connected(Protocol):
    def connected_peers(self) -> Sequence[str]: ...


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(f"coverage_net_{name}", documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"coverage_net_{name}", documentation, value=value)


def _labelled_counter(name: str, label: str, documentation: str, counts: Mapping[str, int],
                      always: Iterable[str] = ()) -> CounterMetricFamily:
    """One family with a sample per label value; `always` are shown even at zero."""
    family = CounterMetricFamily(f"coverage_net_{name}", documentation, labels=[label])
    for key in sorted({*always, *counts}):
        family.add_metric([str(key)], counts.get(key, 0))
    return family


class PeerCollector:
    """A peer's network: connected peers, stored messages, and its `PeerMetrics`.

    `stored_total` (the gossip service's count of stored messages) is optional: the
    validator's network has no message store of its own.
    """

    def __init__(self, metrics: PeerMetrics, network: _Connected, *,
                 stored_total: Callable[[], int] | None = None) -> None:
        self._metrics, self._network, self._stored_total = metrics, network, stored_total

    def collect(self) -> Iterator[Metric]:
        from coverage_net.p2p import REJECT_REASONS, REQUEST_OUTCOMES

        m = self._metrics
        yield _gauge("peers_connected", "Peers this node is connected to now.",
                     len(self._network.connected_peers()))
        if self._stored_total is not None:
            yield _gauge("store_messages", "Messages in this node's message store.",
                         self._stored_total())
        for field, (name, documentation) in _PEER_COUNTERS.items():
            yield _counter(name, documentation, getattr(m, field))
        always = {"rejected": REJECT_REASONS, "requests": REQUEST_OUTCOMES}
        for field, (name, label, documentation) in _PEER_BY_LABEL.items():
            yield _labelled_counter(name, label, documentation, getattr(m, field),
                                    always.get(field, ()))


class ConsensusCollector:
    """A validator's consensus driver: where it is, and what it sent, got and refused."""

    def __init__(self, driver: ConsensusDriver) -> None:
        self._driver = driver

    def collect(self) -> Iterator[Metric]:
        state, m = self._driver.state, self._driver.metrics
        yield _gauge("consensus_height", "Height (epoch) the consensus driver is deciding.",
                     state.height)
        yield _gauge("consensus_round", "Round of the current height.", state.round)
        yield _counter("consensus_decided_heights", "Heights decided since the process "
                       "started.", len(m.decided))
        yield _counter("consensus_messages_sent", "Signed votes and proposals gossiped.",
                       m.sent)
        yield _counter("consensus_messages_received", "Signed votes and proposals received "
                       "and accepted.", m.received)
        yield _counter("consensus_messages_rejected", "Consensus messages rejected (bad "
                       "signature, chain or validator).", m.rejected)
        yield _counter("consensus_messages_synced", "Sync replies received from peers "
                       "(what they held at this height).", m.synced)
        yield _counter("consensus_evidence", "Equivocations seen (two signed messages of one "
                       "validator for one step).", m.evidence)
        yield _counter("consensus_signatures_refused", "Votes or proposals the signer "
                       "refused: signed differently before a restart.", m.refused)


class FinalityCollector:
    """The finality latency of each decided height (decision time minus the close of its
    epoch), from the validator's record: ``{str(height): {"latency_ms": ...}, ...}``."""

    def __init__(self, decided: Mapping[str, Mapping[str, int]],
                 buckets_s: Sequence[float] = FINALITY_BUCKETS_S) -> None:
        self._decided, self._buckets_s = decided, tuple(buckets_s)

    def collect(self) -> Iterator[Metric]:
        decided = self._decided
        if not decided:
            return
        last = max(decided, key=int)
        yield _gauge("finalized_height", "Highest height this validator has finalized.",
                     int(last))
        # a height found on the chain after a crash has no latency (it was not seen)
        latencies_s = [d["latency_ms"] / 1000 for d in decided.values()
                       if d.get("latency_ms") is not None]
        if decided[last].get("latency_ms") is not None:
            yield _gauge("finality_latency_last_seconds", "Finality latency of the highest "
                         "finalized height (decision time minus its epoch's close).",
                         decided[last]["latency_ms"] / 1000)
        buckets = [(_le(b), sum(1 for x in latencies_s if x <= b)) for b in self._buckets_s]
        buckets.append(("+Inf", len(latencies_s)))
        yield HistogramMetricFamily(
            "coverage_net_finality_latency_seconds", "Finality latency of every height this "
            "validator finalized (decision time minus its epoch's close).",
            buckets=buckets, sum_value=sum(latencies_s))


def _le(bound_s: float) -> str:
    return repr(float(bound_s))


class PocCollector:
    """The proof-of-coverage actors' `PocMetrics` of a node that runs them."""

    def __init__(self, metrics: PocMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        for field in dataclasses.fields(m):
            if field.name in _POC_COUNTERS:
                yield _counter(f"poc_{field.name}", _POC_COUNTERS[field.name],
                               getattr(m, field.name))
        yield _labelled_counter("poc_challenges_refused", "reason", "Challenges the beaconer "
                                "refused, by reason.", m.refused)


class VerdictCollector:
    """Stored verdicts by report type, reason and validity (one grouped count per scrape)."""

    def __init__(self, store: MessageStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "coverage_net_verdicts", "Verdicts in this node's store, by report type, reason "
            "and validity (a recomputed verdict replaces the earlier one).",
            labels=["report_type", "reason", "valid"])
        for (report_type, reason, valid), count in sorted(self._store.verdict_counts().items()):
            family.add_metric([report_type, reason, str(valid).lower()], count)
        yield family


class RewardsCollector:
    """Rewards booked in the ledger: epochs, units paid in all, and chosen accounts'
    balances (a hotspot its own; never every account, which would be a series each)."""

    def __init__(self, ledger: RewardLedger, accounts: Iterable[str] = ()) -> None:
        self._ledger, self._accounts = ledger, tuple(accounts)

    def collect(self) -> Iterator[Metric]:
        epochs = self._ledger.epochs()
        balances = self._ledger.balances()
        yield _gauge("rewards_booked_epochs", "Epochs whose reward manifest is booked.",
                     len(epochs))
        if epochs:
            yield _gauge("rewards_last_booked_epoch", "Latest epoch booked.", epochs[-1])
        yield _counter("rewards_booked_units", "Reward units booked to all accounts, in the "
                       "token's smallest unit.", sum(balances.values()))
        if self._accounts:
            family = GaugeMetricFamily("coverage_net_rewards_balance_units", "Balance of an "
                                       "account, in the token's smallest unit.",
                                       labels=["account"])
            for account in self._accounts:
                family.add_metric([account], balances.get(account, 0))
            yield family

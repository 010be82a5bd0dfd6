"""Seeded adversarial schedules for the consensus core (test tier: the product never imports it).

`run_schedule(random_schedule(seed))` runs n cores (`coverage_net.consensus._core`)
on a deterministic in-memory message scheduler in virtual time: every message is
delivered after a random delay, or lost, or dropped by a partition, to validators
that may crash and recover (their state kept, as a write-ahead log would), with up
to f byzantine validators. Before the global stabilisation time (GST) anything
goes; after it every message arrives within `POST_GST_MAX_DELAY_MS` and each honest
validator regossips what it sent at its height, relays others' proposals and votes of
the rounds that matter (`_Run.relayed`), and the certificates of the heights it
decided (what block sync would give a laggard). Checked on every run:

- agreement: no two honest validators decide different values at one height;
- validity: what is decided is a valid value (never a byzantine's forged block);
- certificates: every decision carries precommits from a quorum of distinct
  validators for that value and round, each one actually sent by its validator;
- no honest validator sends two different votes for one (height, round, step);
- liveness: after GST every honest validator decides every height.

The same seed gives the same run (`ScheduleResult.trace_digest`), so a failing seed
printed by a test replays exactly.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from ._core import (
    BroadcastProposal,
    BroadcastVote,
    CommitIn,
    CoreConfig,
    CoreState,
    Decide,
    EvidenceFound,
    GetValue,
    ProposalIn,
    ScheduleTimeout,
    StartHeight,
    TimeoutIn,
    ValueIn,
    VoteIn,
    apply,
    initial_state,
)
from ._types import Proposal, Step, TimeoutKind, Vote, VoteKind, max_faulty, quorum

__all__ = ["BEHAVIOURS", "Schedule", "ScheduleResult", "random_schedule", "run_schedule"]

BEHAVIOURS = ("silent", "equivocate", "double_vote", "invalid_value", "random_votes")
"""What a byzantine validator does: say nothing; propose and vote two ways to two halves;
add a conflicting vote to each of its votes; propose a forged block (verdicts or rewards
that honest validators recompute differently); send random votes for random rounds."""
POST_GST_MAX_DELAY_MS = 50
GOSSIP_EVERY_MS = 1_000
LIVENESS_BUDGET_MS = 120_000
"""Virtual time after GST within which every honest validator must decide every height."""
NEXT_HEIGHT_AFTER_MS = 200
_BAD = b"BAD"


@dataclass(frozen=True)
class Schedule:
    """One adversarial run (build it with `random_schedule`)."""

    seed: int
    n: int
    heights: int
    byzantine: tuple[tuple[int, str], ...]
    gst_ms: int
    loss: float
    max_delay_ms: int
    partition: tuple[frozenset[int], int, int] | None
    """(one side, from ms, to ms); messages across are dropped meanwhile."""
    crashes: tuple[tuple[int, int, int], ...]
    """(validator, down at ms, up at ms)."""


@dataclass
class ScheduleResult:
    schedule: Schedule
    decisions: dict[int, dict[int, tuple[int, bytes]]]
    """Honest validator -> height -> (round, value id)."""
    violations: list[str]
    end_ms: int
    deliveries: int
    evidence: int
    trace_digest: str


def random_schedule(seed: int, *, n: int | None = None) -> Schedule:
    """A seeded schedule: 4 or 7 validators, up to f byzantine, random loss, delays,
    a partition and crashes before a random GST."""
    rng = random.Random(seed)
    n = n or rng.choice((4, 4, 4, 7))
    f = max_faulty(n)
    bad = rng.sample(range(n), rng.randint(0, f))
    byzantine = tuple(sorted((i, rng.choice(BEHAVIOURS)) for i in bad))
    honest = [i for i in range(n) if i not in bad]
    gst = rng.randint(0, 30_000)
    partition = None
    if rng.random() < 0.5 and gst > 0:
        side = frozenset(rng.sample(range(n), rng.randint(1, n - 1)))
        start = rng.randint(0, gst)
        partition = (side, start, rng.randint(start, gst))
    crashes = []
    for i in rng.sample(honest, rng.randint(0, min(2, len(honest)))):
        if gst > 0:
            down = rng.randint(0, gst)
            crashes.append((i, down, rng.randint(down, gst)))
    return Schedule(seed=seed, n=n, heights=rng.randint(1, 3), byzantine=byzantine, gst_ms=gst,
                    loss=rng.choice((0.0, 0.05, 0.3)), max_delay_ms=rng.choice((20, 200, 2_000)),
                    partition=partition, crashes=tuple(sorted(crashes)))


def _value_id(height: int, round_: int, sender: int, tag: bytes = b"") -> bytes:
    digest = hashlib.sha256(b"%d/%d/%d" % (height, round_, sender) + tag).digest()
    return (_BAD + digest[3:]) if tag == _BAD else digest


def _valid(value_id: bytes) -> bool:
    return not value_id.startswith(_BAD)


@dataclass(frozen=True)
class _Certificate:
    """A decided height's proposal and quorum of precommits, as block sync serves it."""

    height: int
    round: int
    value_id: bytes
    precommits: tuple[Vote, ...]


Message = Proposal | Vote | _Certificate


@dataclass
class _Node:
    index: int
    behaviour: str | None
    state: CoreState
    down: bool = False
    future: list[Message] = field(default_factory=list)
    sent: dict[int, list[Message]] = field(default_factory=lambda: defaultdict(list))
    certificate: dict[int, _Certificate] = field(default_factory=dict)


CoreApply = Callable[[CoreState, object], tuple[CoreState, list]]


class _Run:
    def __init__(self, schedule: Schedule, core: CoreApply = apply) -> None:
        self.sc = schedule
        self.core = core
        self.rng = random.Random(schedule.seed * 7_919 + 1)
        bad = dict(schedule.byzantine)
        self.nodes = [_Node(i, bad.get(i), initial_state(CoreConfig(n=schedule.n, me=i), 0))
                      for i in range(schedule.n)]
        self.queue: list[tuple[int, int, Callable[[], None]]] = []
        self.seq = 0
        self.now = 0
        self.decisions: dict[int, dict[int, tuple[int, bytes]]] = defaultdict(dict)
        self.violations: list[str] = []
        self.sent_votes: set[Vote] = set()
        self.honest_votes: dict[tuple[int, int, int, VoteKind], bytes | None] = {}
        self.deliveries = 0
        self.evidence = 0
        self.trace = hashlib.sha256()

    # -- scheduling ------------------------------------------------------------------

    def at(self, when: int, action: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, action))

    def honest(self) -> list[_Node]:
        return [node for node in self.nodes if node.behaviour is None]

    def done(self) -> bool:
        return all(len(self.decisions[node.index]) == self.sc.heights for node in self.honest())

    def run(self) -> ScheduleResult:
        for node in self.nodes:
            self.at(0, lambda node=node: self.feed(node, StartHeight(0)))
            self.at(GOSSIP_EVERY_MS, lambda node=node: self.gossip(node))
        for i, down, up in self.sc.crashes:
            self.at(down, lambda i=i: self.crash(i))
            self.at(up, lambda i=i: self.recover(i))
        deadline = self.sc.gst_ms + LIVENESS_BUDGET_MS
        while self.queue and not self.done():
            self.now, _, action = heapq.heappop(self.queue)
            if self.now > deadline:
                break
            action()
        if not self.done():
            missing = {node.index: sorted(set(range(self.sc.heights))
                                          - set(self.decisions[node.index]))
                       for node in self.honest()}
            self.violations.append(f"liveness: undecided heights {missing} "
                                   f"{LIVENESS_BUDGET_MS} ms after GST")
        self.check_agreement()
        return ScheduleResult(self.sc, dict(self.decisions), self.violations, self.now,
                              self.deliveries, self.evidence, self.trace.hexdigest())

    # -- the network -----------------------------------------------------------------

    def cut(self, a: int, b: int) -> bool:
        if self.sc.partition is None:
            return False
        side, start, end = self.sc.partition
        return start <= self.now < end and ((a in side) != (b in side))

    def send(self, sender: int, message: Message, to: list[int] | None = None) -> None:
        if isinstance(message, Vote):
            self.sent_votes.add(message)
        for target in (to if to is not None else range(self.sc.n)):
            if target == sender:
                continue
            if self.now < self.sc.gst_ms:
                if self.rng.random() < self.sc.loss or self.cut(sender, target):
                    continue
                delay = self.rng.randint(1, self.sc.max_delay_ms)
            else:
                delay = self.rng.randint(1, POST_GST_MAX_DELAY_MS)
            self.at(self.now + delay, lambda t=target, m=message: self.deliver(t, m))

    def deliver(self, target: int, message: Message) -> None:
        node = self.nodes[target]
        if node.down or node.behaviour in ("silent",):
            return
        self.deliveries += 1
        self.trace.update(repr((self.now, target, message)).encode())
        if message.height > node.state.height:
            node.future.append(message)
            return
        if isinstance(message, _Certificate):
            self.feed(node, CommitIn(message.height, message.round, message.value_id,
                                     message.precommits, _valid(message.value_id)))
        elif isinstance(message, Proposal):
            self.feed(node, ProposalIn(message, _valid(message.value_id)))
        else:
            self.feed(node, VoteIn(message))

    def gossip(self, node: _Node) -> None:
        """Regossip this validator's messages at its height, and the certificates of the
        heights it decided (what block sync gives a laggard)."""
        if not node.down and node.behaviour != "silent":
            for message in node.sent.get(node.state.height, ()):
                self.send(node.index, message)
            if node.behaviour is None:
                for message in self.relayed(node.state):
                    self.send(node.index, message)
            for height in sorted(node.certificate):
                self.send(node.index, node.certificate[height])
        if not self.done():
            self.at(self.now + GOSSIP_EVERY_MS, lambda: self.gossip(node))

    @staticmethod
    def relayed(st: CoreState) -> list[Message]:
        """Others' messages a validator passes on, as vote gossip does: the proposals and
        votes of its round, and the votes of the rounds its lock, its valid value and
        the round's proposals rest on (so a peer can check the same polka)."""
        rounds = {st.round, st.locked_round, st.valid_round}
        rounds |= {p.valid_round for p in st.proposals.get(st.round, ())}
        out: list[Message] = [p for p in st.proposals.get(st.round, ()) if p.sender != st.config.me]
        for (round_, _), held in sorted(st.votes.items()):
            if round_ in rounds:
                out += [v for sender, votes in sorted(held.items()) if sender != st.config.me
                        for v in votes]
        return out

    def crash(self, i: int) -> None:
        self.nodes[i].down = True

    def recover(self, i: int) -> None:
        node = self.nodes[i]
        node.down = False
        st = node.state
        if st.decision is not None and st.height + 1 < self.sc.heights:
            self.at(self.now, lambda: self.feed(node, StartHeight(st.height + 1)))
        # timers are lost with the process: arm again the ones that were pending (what a
        # write-ahead log of scheduled timeouts restores)
        pending = {TimeoutKind.PROPOSE: st.step is Step.PROPOSE,
                   TimeoutKind.PREVOTE: ("prevote-timeout", st.round) in st.fired,
                   TimeoutKind.PRECOMMIT: ("precommit-timeout", st.round) in st.fired}
        for kind in (k for k, armed in pending.items() if armed):
            self.at(self.now + st.config.timeout_ms(kind, st.round),
                    lambda k=kind, h=st.height, r=st.round: self.feed(node, TimeoutIn(k, h, r)))

    # -- a validator -----------------------------------------------------------------

    def feed(self, node: _Node, event: object) -> None:
        if node.down:
            return
        node.state, outputs = self.core(node.state, event)
        for out in outputs:
            self.carry_out(node, out)
        if isinstance(event, StartHeight):
            pending, node.future = node.future, []
            for message in pending:
                self.deliver(node.index, message)

    def carry_out(self, node: _Node, out: object) -> None:
        b = node.behaviour
        if isinstance(out, BroadcastVote):
            self.broadcast_vote(node, out.vote)
        elif isinstance(out, BroadcastProposal):
            self.broadcast_proposal(node, out.proposal)
        elif isinstance(out, ScheduleTimeout):
            self.at(self.now + out.after_ms, lambda: self.feed(
                node, TimeoutIn(out.kind, out.height, out.round)))
        elif isinstance(out, GetValue):
            tag = _BAD if b == "invalid_value" else b""
            self.feed(node, ValueIn(out.height, out.round,
                                    _value_id(out.height, out.round, node.index, tag)))
        elif isinstance(out, Decide):
            self.decided(node, out)
        elif isinstance(out, EvidenceFound):
            self.evidence += 1

    def broadcast_vote(self, node: _Node, vote: Vote) -> None:
        b = node.behaviour
        if b == "silent":
            return
        if b is None:
            key = (vote.sender, vote.height, vote.round, vote.kind)
            if self.honest_votes.setdefault(key, vote.value_id) != vote.value_id:
                self.violations.append(f"honest validator {vote.sender} signed conflicting "
                                       f"{vote.kind} votes at height {vote.height} round "
                                       f"{vote.round}")
        node.sent[vote.height].append(vote)
        if b in ("equivocate", "double_vote"):
            other = Vote(vote.kind, vote.height, vote.round,
                         None if vote.value_id is not None else _value_id(
                             vote.height, vote.round, node.index, b"other"), vote.sender)
            half = self.rng.sample(range(self.sc.n), self.sc.n // 2)
            self.send(node.index, vote, [t for t in range(self.sc.n) if t not in half])
            self.send(node.index, other, half)
            node.sent[vote.height].append(other)
            return
        if b == "random_votes":
            for _ in range(2):
                kind = self.rng.choice(list(VoteKind))
                value = self.rng.choice((None, vote.value_id, _value_id(0, 0, 0, b"r")))
                junk = Vote(kind, vote.height, vote.round + self.rng.randint(0, 3), value,
                            vote.sender)
                self.send(node.index, junk)
        self.send(node.index, vote)

    def broadcast_proposal(self, node: _Node, proposal: Proposal) -> None:
        if node.behaviour == "silent":
            return
        node.sent[proposal.height].append(proposal)
        if node.behaviour == "equivocate":
            other = Proposal(proposal.height, proposal.round,
                             _value_id(proposal.height, proposal.round, node.index, b"alt"),
                             -1, proposal.sender)
            half = self.rng.sample(range(self.sc.n), self.sc.n // 2)
            self.send(node.index, proposal, [t for t in range(self.sc.n) if t not in half])
            self.send(node.index, other, half)
            node.sent[proposal.height].append(other)
            return
        self.send(node.index, proposal)

    def decided(self, node: _Node, d: Decide) -> None:
        q = quorum(self.sc.n)
        senders = {v.sender for v in d.precommits}
        if node.behaviour is None:
            if len(senders) < q or any(
                    v.kind is not VoteKind.PRECOMMIT or (v.height, v.round, v.value_id)
                    != (d.height, d.round, d.value_id) or v not in self.sent_votes
                    for v in d.precommits):
                self.violations.append(f"validator {node.index} decided height {d.height} "
                                       "without a quorum certificate of sent precommits")
            if not _valid(d.value_id):
                self.violations.append(f"validator {node.index} decided an invalid value at "
                                       f"height {d.height}")
            self.decisions[node.index][d.height] = (d.round, d.value_id)
        node.certificate[d.height] = _Certificate(d.height, d.round, d.value_id, d.precommits)
        if d.height + 1 < self.sc.heights:
            self.at(self.now + NEXT_HEIGHT_AFTER_MS,
                    lambda: self.feed(node, StartHeight(d.height + 1)))

    def check_agreement(self) -> None:
        for height in range(self.sc.heights):
            values = {self.decisions[node.index][height][1] for node in self.honest()
                      if height in self.decisions[node.index]}
            if len(values) > 1:
                self.violations.append(f"agreement: {len(values)} different values decided "
                                       f"at height {height}")


def run_schedule(schedule: Schedule, core: CoreApply = apply) -> ScheduleResult:
    """Run one schedule to the end (see the module doc); violations are listed, not raised.
    `core` is the honest validators' state machine (tests pass broken ones to show the
    checks catch them)."""
    return _Run(schedule, core).run()

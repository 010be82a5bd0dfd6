"""The consensus core: Algorithm 1 of "The latest gossip on BFT consensus", as a pure function.

``apply(state, input) -> (state, outputs)``: no I/O, no clock, no randomness. The
driver delivers proposals (with the validity of their value, which it checks by
re-running the verifier and the rewards), votes, fired timeouts and proposed values,
and carries out the outputs: broadcast, schedule a timeout, ask for a value, decide,
record evidence. Line numbers below are the paper's.

- Rounds: the proposer of (h, r) is validator ``(h + r) mod n``; a round's timeouts
  grow linearly, ``base + r * delta`` (`CoreConfig`).
- A validator's own messages count as received the moment it sends them.
- Of a proposer's proposals for one round, the first decides the prevote (lines
  22/28); any of them, with the precommits for its value, decides the height
  (line 49), so a validator that saw an equivocating proposer's other value still
  follows the quorum. Every vote counts for its own value, one per sender and value,
  and a sender once in a total: an equivocator's two votes are two messages, as in
  the paper, and the second is also reported as evidence. (Counting only the first
  would let an equivocator split honest validators' views of a polka for good.)
- After deciding (line 49) the core waits in `Step.COMMIT` until the driver starts
  the next height (`StartHeight`): the next epoch has to close before it has a value.
- Messages of other heights are ignored; the driver keeps those of later heights
  and delivers them once that height starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ._errors import ConsensusError
from ._types import Proposal, Step, TimeoutKind, Vote, VoteKind, max_faulty, quorum

__all__ = [
    "BroadcastProposal", "BroadcastVote", "CoreConfig", "CoreInput", "CoreOutput", "CoreState",
    "CommitIn", "Decide", "EvidenceFound", "GetValue", "OBSERVER", "ProposalIn",
    "ScheduleTimeout", "StartHeight", "TimeoutIn", "ValueIn", "VoteIn", "apply",
    "initial_state", "proposer_of",
]


# --- inputs and outputs --------------------------------------------------------------------


@dataclass(frozen=True)
class StartHeight:
    """The driver starts `height` (its epoch has closed; a proposer can build a block)."""

    height: int


@dataclass(frozen=True)
class ProposalIn:
    """A proposal received, and whether its value is valid (the driver re-ran the
    verifier and the rewards on the block it names)."""

    proposal: Proposal
    valid: bool


@dataclass(frozen=True)
class VoteIn:
    vote: Vote


@dataclass(frozen=True)
class TimeoutIn:
    kind: TimeoutKind
    height: int
    round: int


@dataclass(frozen=True)
class ValueIn:
    """The value the driver built for this validator's proposal (answering `GetValue`)."""

    height: int
    round: int
    value_id: bytes


@dataclass(frozen=True)
class CommitIn:
    """A decided height's certificate, from block sync: precommits of a quorum for
    `value_id` in `round` whose signatures the driver checked, and the validity of the
    value. It decides the height even when this validator holds other votes of some of
    those senders (an equivocator's other vote), since the signatures prove them."""

    height: int
    round: int
    value_id: bytes
    precommits: tuple[Vote, ...]
    valid: bool


CoreInput = StartHeight | ProposalIn | VoteIn | TimeoutIn | ValueIn | CommitIn


@dataclass(frozen=True)
class BroadcastProposal:
    proposal: Proposal


@dataclass(frozen=True)
class BroadcastVote:
    vote: Vote


@dataclass(frozen=True)
class ScheduleTimeout:
    kind: TimeoutKind
    height: int
    round: int
    after_ms: int


@dataclass(frozen=True)
class GetValue:
    """Build a block for (height, round) and answer with `ValueIn`."""

    height: int
    round: int


@dataclass(frozen=True)
class Decide:
    """The height is decided: `value_id` in `round`, with the precommits that decided it
    (a quorum certificate once the driver attaches their signatures)."""

    height: int
    round: int
    value_id: bytes
    precommits: tuple[Vote, ...]


@dataclass(frozen=True)
class EvidenceFound:
    """One sender sent two different messages for one (height, round, step)."""

    first: Vote | Proposal
    second: Vote | Proposal


CoreOutput = BroadcastProposal | BroadcastVote | ScheduleTimeout | GetValue | Decide | EvidenceFound


# --- state ---------------------------------------------------------------------------------


OBSERVER = -1
"""`CoreConfig.me` of a node that is not in the validator set of the height."""


@dataclass(frozen=True)
class CoreConfig:
    """n validators, this one's index (`OBSERVER`: a node that follows the height without
    voting, e.g. a validator the next change adds), and the timeouts (base + round *
    delta, in ms)."""

    n: int
    me: int
    timeout_propose_ms: int = 3_000
    timeout_prevote_ms: int = 1_000
    timeout_precommit_ms: int = 1_000
    timeout_delta_ms: int = 500

    def __post_init__(self) -> None:
        if self.n < 1 or not (0 <= self.me < self.n or self.me == OBSERVER):
            raise ConsensusError(f"validator index {self.me} is not in 0..{self.n - 1}")
        if min(self.timeout_propose_ms, self.timeout_prevote_ms, self.timeout_precommit_ms,
               self.timeout_delta_ms) < 0:
            raise ConsensusError("timeouts must be >= 0 ms")

    @property
    def f(self) -> int:
        return max_faulty(self.n)

    @property
    def quorum(self) -> int:
        return quorum(self.n)

    def timeout_ms(self, kind: TimeoutKind, round_: int) -> int:
        base = {TimeoutKind.PROPOSE: self.timeout_propose_ms,
                TimeoutKind.PREVOTE: self.timeout_prevote_ms,
                TimeoutKind.PRECOMMIT: self.timeout_precommit_ms}[kind]
        return base + round_ * self.timeout_delta_ms


_Empty: Mapping = MappingProxyType({})


@dataclass(frozen=True)
class CoreState:
    """One validator's state at one height (never mutated: `apply` returns a new one)."""

    config: CoreConfig
    height: int
    round: int = 0
    step: Step = Step.COMMIT
    started: bool = False
    locked_value: bytes | None = None
    locked_round: int = -1
    valid_value: bytes | None = None
    valid_round: int = -1
    proposals: Mapping[int, tuple[Proposal, ...]] = field(default_factory=lambda: _Empty)
    """Per round, the proposals received from that round's proposer, first first."""
    validity: Mapping[bytes, bool] = field(default_factory=lambda: _Empty)
    """Per value id, whether the driver found the value valid."""
    votes: Mapping[tuple[int, VoteKind], Mapping[int, tuple[Vote, ...]]] = field(
        default_factory=lambda: _Empty)
    """Per (round, kind), each sender's votes, first first (more than one only from an
    equivocator: each counts for its own value, as every message does in the paper,
    and a sender counts once in any total)."""
    fired: frozenset[tuple[str, int]] = frozenset()
    """The "for the first time" rules that fired, by (rule, round)."""
    decision: tuple[int, bytes] | None = None
    """(round, value id) once the height is decided."""
    evidence_seen: frozenset[tuple[object, ...]] = frozenset()
    sent: Mapping[tuple[int, VoteKind], Vote] = field(default_factory=lambda: _Empty)
    """This validator's own votes at this height (one per round and kind)."""


def initial_state(config: CoreConfig, height: int) -> CoreState:
    """A validator about to start `height` (waiting for `StartHeight`)."""
    return CoreState(config=config, height=height)


def proposer_of(height: int, round_: int, n: int) -> int:
    """Round-robin: every validator proposes in turn, shifted by one each height."""
    return (height + round_) % n


# --- apply ---------------------------------------------------------------------------------


def apply(state: CoreState, event: CoreInput) -> tuple[CoreState, list[CoreOutput]]:
    """The new state and what to do, for one input (see the module doc)."""
    out: list[CoreOutput] = []
    s = _Mutable(state, out)
    if isinstance(event, StartHeight):
        s.start_height(event.height)
    elif isinstance(event, CommitIn):
        s.commit(event)
    elif not s.st.started or s.st.step is Step.COMMIT:
        pass  # not running this height (not started yet, or decided)
    elif isinstance(event, ProposalIn):
        s.receive_proposal(event.proposal, event.valid)
    elif isinstance(event, VoteIn):
        s.receive_vote(event.vote)
    elif isinstance(event, TimeoutIn):
        s.timeout(event)
    elif isinstance(event, ValueIn):
        s.value(event)
    else:
        raise ConsensusError(f"not a consensus input: {event!r}")
    if s.st.started and s.st.step is not Step.COMMIT:
        s.run_rules()
    return s.st, out


class _Mutable:
    """The working copy inside one `apply` call (state replaced, never changed in place)."""

    def __init__(self, state: CoreState, out: list[CoreOutput]) -> None:
        self.st = state
        self.out = out

    def _set(self, **changes: object) -> None:
        self.st = dataclasses.replace(self.st, **changes)

    @property
    def cfg(self) -> CoreConfig:
        return self.st.config

    # -- counting --------------------------------------------------------------------

    def _votes(self, round_: int, kind: VoteKind) -> Mapping[int, tuple[Vote, ...]]:
        return self.st.votes.get((round_, kind), _Empty)

    def _for(self, round_: int, kind: VoteKind, value_id: bytes | None) -> list[Vote]:
        """The votes for `value_id`, one per sender."""
        return [v for held in self._votes(round_, kind).values() for v in held
                if v.value_id == value_id]

    def _count(self, round_: int, kind: VoteKind, value_id: bytes | None) -> int:
        return len(self._for(round_, kind, value_id))

    def _total(self, round_: int, kind: VoteKind) -> int:
        return len(self._votes(round_, kind))

    def _proposal(self, round_: int, value_id: bytes | None = None) -> Proposal | None:
        """The round's first proposal, or its proposal of `value_id`."""
        for p in self.st.proposals.get(round_, ()):
            if value_id is None or p.value_id == value_id:
                return p
        return None

    # -- receiving -------------------------------------------------------------------

    def receive_proposal(self, p: Proposal, valid: bool) -> None:
        if p.height != self.st.height or p.round < 0 or p.valid_round >= p.round \
                or p.sender != proposer_of(p.height, p.round, self.cfg.n):
            return
        held = self.st.proposals.get(p.round, ())
        if any(q.value_id == p.value_id for q in held):
            return
        if held:
            self._evidence(held[0], p)
        self._set(proposals=MappingProxyType({**self.st.proposals, p.round: (*held, p)}),
                  validity=MappingProxyType({**self.st.validity, p.value_id: valid}))

    def receive_vote(self, v: Vote) -> None:
        if v.height != self.st.height or v.round < 0 or not 0 <= v.sender < self.cfg.n:
            return
        key = (v.round, v.kind)
        held = self._votes(*key)
        mine = held.get(v.sender, ())
        if any(w.value_id == v.value_id for w in mine):
            return
        if mine:
            self._evidence(mine[0], v)
        self._set(votes=MappingProxyType({
            **self.st.votes, key: MappingProxyType({**held, v.sender: (*mine, v)})}))

    def _evidence(self, first: Vote | Proposal, second: Vote | Proposal) -> None:
        tag = (type(first).__name__, first.sender, first.round,
               getattr(first, "kind", None), second.value_id)
        if tag not in self.st.evidence_seen:
            self._set(evidence_seen=self.st.evidence_seen | {tag})
            self.out.append(EvidenceFound(first, second))

    # -- sending ---------------------------------------------------------------------

    def _vote(self, kind: VoteKind, value_id: bytes | None) -> None:
        key = (self.st.round, kind)
        if key in self.st.sent or self.cfg.me == OBSERVER:  # one vote per (round, step)
            return
        vote = Vote(kind, self.st.height, self.st.round, value_id, self.cfg.me)
        self._set(sent=MappingProxyType({**self.st.sent, key: vote}))
        self.out.append(BroadcastVote(vote))
        self.receive_vote(vote)

    def _propose(self, value_id: bytes, valid_round: int) -> None:
        p = Proposal(self.st.height, self.st.round, value_id, valid_round, self.cfg.me)
        self.out.append(BroadcastProposal(p))
        self.receive_proposal(p, True)

    def _schedule(self, kind: TimeoutKind) -> None:
        self.out.append(ScheduleTimeout(kind, self.st.height, self.st.round,
                                        self.cfg.timeout_ms(kind, self.st.round)))

    # -- the algorithm ---------------------------------------------------------------

    def start_height(self, height: int) -> None:
        if self.st.started and height <= self.st.height:
            return  # already running (or past) this height
        if self.st.started and self.st.step is not Step.COMMIT:
            raise ConsensusError(f"height {height} started while height {self.st.height} is "
                                 "undecided (the driver syncs the block first)")
        self.st = dataclasses.replace(initial_state(self.cfg, height), started=True)
        self.start_round(0)

    def commit(self, c: CommitIn) -> None:
        st = self.st
        if c.height != st.height or st.decision is not None or not c.valid:
            return
        matching = {v.sender for v in c.precommits
                    if (v.kind, v.height, v.round, v.value_id)
                    == (VoteKind.PRECOMMIT, c.height, c.round, c.value_id)
                    and 0 <= v.sender < self.cfg.n}
        if len(matching) < self.cfg.quorum or len(matching) != len(c.precommits):
            return
        self._set(decision=(c.round, c.value_id), step=Step.COMMIT, started=True)
        self.out.append(Decide(c.height, c.round, c.value_id, tuple(sorted(c.precommits))))

    def start_round(self, round_: int) -> None:  # StartRound, lines 11-21
        self._set(round=round_, step=Step.PROPOSE)
        if proposer_of(self.st.height, round_, self.cfg.n) == self.cfg.me:
            if self.st.valid_value is not None:
                self._propose(self.st.valid_value, self.st.valid_round)
            else:
                self.out.append(GetValue(self.st.height, round_))
        else:
            self._schedule(TimeoutKind.PROPOSE)

    def value(self, event: ValueIn) -> None:
        st = self.st
        if (event.height, event.round) == (st.height, st.round) and st.step is Step.PROPOSE \
                and proposer_of(st.height, st.round, self.cfg.n) == self.cfg.me \
                and self._proposal(st.round) is None:
            self._propose(event.value_id, -1)

    def timeout(self, event: TimeoutIn) -> None:
        st = self.st
        if (event.height, event.round) != (st.height, st.round):
            return
        if event.kind is TimeoutKind.PROPOSE and st.step is Step.PROPOSE:  # line 57
            self._vote(VoteKind.PREVOTE, None)
            self._set(step=Step.PREVOTE)
        elif event.kind is TimeoutKind.PREVOTE and st.step is Step.PREVOTE:  # line 61
            self._vote(VoteKind.PRECOMMIT, None)
            self._set(step=Step.PRECOMMIT)
        elif event.kind is TimeoutKind.PRECOMMIT:  # line 65
            self.start_round(st.round + 1)

    def run_rules(self) -> None:
        """Apply every rule whose condition holds, until none does."""
        while self.st.step is not Step.COMMIT and self._one_rule():
            pass

    def _one_rule(self) -> bool:
        st, q = self.st, self.cfg.quorum
        r = st.round
        # line 49: a decision, in any round
        for round_, held in sorted(st.proposals.items()):
            for p in held:
                precommits = self._for(round_, VoteKind.PRECOMMIT, p.value_id)
                if len(precommits) >= q and st.validity.get(p.value_id):
                    self._set(decision=(round_, p.value_id), step=Step.COMMIT)
                    self.out.append(Decide(st.height, round_, p.value_id,
                                           tuple(sorted(precommits))))
                    return False
        # line 55: f + 1 messages of a later round
        later = self._later_round()
        if later is not None:
            self.start_round(later)
            return True
        first = self._proposal(r)
        if st.step is Step.PROPOSE and first is not None:
            ok = st.validity.get(first.value_id, False)
            if first.valid_round == -1:  # line 22
                lock_ok = st.locked_round == -1 or st.locked_value == first.value_id
                self._vote(VoteKind.PREVOTE, first.value_id if ok and lock_ok else None)
                self._set(step=Step.PREVOTE)
                return True
            vr = first.valid_round  # line 28
            if vr < r and self._count(vr, VoteKind.PREVOTE, first.value_id) >= q:
                lock_ok = st.locked_round <= vr or st.locked_value == first.value_id
                self._vote(VoteKind.PREVOTE, first.value_id if ok and lock_ok else None)
                self._set(step=Step.PREVOTE)
                return True
        if st.step is Step.PREVOTE and self._total(r, VoteKind.PREVOTE) >= q \
                and ("prevote-timeout", r) not in st.fired:  # line 34
            self._set(fired=st.fired | {("prevote-timeout", r)})
            self._schedule(TimeoutKind.PREVOTE)
            return True
        if st.step >= Step.PREVOTE and ("polka", r) not in st.fired:  # line 36
            for p in st.proposals.get(r, ()):
                if st.validity.get(p.value_id) and \
                        self._count(r, VoteKind.PREVOTE, p.value_id) >= q:
                    self._set(fired=st.fired | {("polka", r)})
                    if st.step is Step.PREVOTE:
                        self._set(locked_value=p.value_id, locked_round=r)
                        self._vote(VoteKind.PRECOMMIT, p.value_id)
                        self._set(step=Step.PRECOMMIT)
                    self._set(valid_value=p.value_id, valid_round=r)
                    return True
        if st.step is Step.PREVOTE and self._count(r, VoteKind.PREVOTE, None) >= q:  # line 44
            self._vote(VoteKind.PRECOMMIT, None)
            self._set(step=Step.PRECOMMIT)
            return True
        if self._total(r, VoteKind.PRECOMMIT) >= q \
                and ("precommit-timeout", r) not in st.fired:  # line 47
            self._set(fired=st.fired | {("precommit-timeout", r)})
            self._schedule(TimeoutKind.PRECOMMIT)
            return True
        return False

    def _later_round(self) -> int | None:
        """The highest round above ours from which f + 1 validators sent something."""
        senders: dict[int, set[int]] = {}
        for (round_, _), votes in self.st.votes.items():
            if round_ > self.st.round:
                senders.setdefault(round_, set()).update(votes)
        for round_, held in self.st.proposals.items():
            if round_ > self.st.round:
                senders.setdefault(round_, set()).update(p.sender for p in held)
        rounds = [r for r, who in senders.items() if len(who) >= self.cfg.f + 1]
        return max(rounds) if rounds else None

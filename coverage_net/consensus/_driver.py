"""The consensus driver: the pure core (`_core`) wired to the network, timers, signer and app.

One trio actor per validator (`ConsensusDriver.run`). Everything it does to the
core goes through one inbox, in order: signed proposals and votes from gossip
(checked: signature, chain, validator), certificates from sync, fired timers, and
the heights the node starts as epochs close. What the core outputs it carries out:

- a vote or proposal is signed by the crash-safe `VoteSigner` (recorded durably
  first, never two different ones for one height, round and step), then gossiped
  on `CONSENSUS_TOPIC`;
- a timeout is a trio sleep (virtual under MockClock) that feeds `TimeoutIn`;
- a value is asked of the `ConsensusApp` (the block for the height), and a
  proposed block's validity too (the app re-runs the verifier and the rewards);
- a proposal goes out after its block's body (`BlockBody`: the header and the
  evidence it includes) on `CONSENSUS_BLOCKS_TOPIC`; a proposal whose body has not
  arrived yet (the app says None) waits for it, and a body that never comes leaves
  the proposal to the core's timeout, as a lost proposal would (a certificate decides
  its height at once: the app fetches a block it cannot rebuild); proposals and
  votes of a height not started here yet (its epoch is not judged here yet) are held
  until it starts, so a block is never judged against a store without the epoch's
  verdicts;
- a decision becomes a `QuorumCertificate` of the precommits' signatures, handed
  to the app's `commit` and served to peers that lag;
- an equivocation (two signed messages of one validator for one height, round and
  step) is recorded, both signatures checked, in the `EvidenceLog` when one is given.

Gossip delivers each payload once and promises nothing, so every `sync_every_s` the
driver asks one connected peer, in turn, over `CONSENSUS_SYNC_PROTOCOL`, for what it
holds at the driver's height: the block bodies, the signed messages, and the
certificate when that peer has decided it. That is both the repair of lost messages
and block sync for a validator that was down or cut off.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import trio

from coverage_net.identity import peer_id_from_public_key
from coverage_net.messages import MessageError, canonical_dumps, decode, loads_cbor_item
from coverage_net.p2p import Network, ProtocolLimits, RequestError, RequestHandlerError

from ._certificate import QuorumCertificate
from ._change import GenesisAt
from ._core import (
    OBSERVER,
    BroadcastProposal,
    BroadcastVote,
    CommitIn,
    CoreConfig,
    CoreInput,
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
from ._errors import ConsensusError, DoubleSignError
from ._evidence import Evidence, EvidenceLog
from ._genesis import Genesis
from ._signer import VoteSigner
from ._types import Proposal, Vote, VoteKind
from ._wire import SignedProposal, SignedVote

__all__ = ["CONSENSUS_BLOCKS_TOPIC", "CONSENSUS_SYNC_PROTOCOL", "CONSENSUS_TOPIC", "ConsensusApp",
           "ConsensusDriver", "DriverMetrics"]

logger = logging.getLogger(__name__)

CONSENSUS_TOPIC = "/coverage-net/1/consensus"
CONSENSUS_BLOCKS_TOPIC = "/coverage-net/1/consensus-blocks"
CONSENSUS_SYNC_PROTOCOL = "/coverage-net/consensus-sync/1.0.0"
SYNC_LIMITS = ProtocolLimits(max_request_bytes=64, max_response_bytes=1024 * 1024)
_TYPES = {SignedVote.TYPE: SignedVote, SignedProposal.TYPE: SignedProposal}
_KEPT_HEIGHTS = 8
"""Heights of signed messages and certificates kept to serve peers that lag."""


@dataclass(frozen=True)
class _Unchecked:
    """A proposal of a later height, its block not yet asked about."""

    proposal: Proposal


class ConsensusApp(Protocol):
    """What consensus asks of the node: blocks to propose, their validity, and commits."""

    def propose(self, height: int, round_: int) -> bytes:
        """Build this validator's block for (height, round); its block id."""

    def validate(self, height: int, block_id: bytes) -> bool | None:
        """Whether the block is one this validator would have built (same verdicts, same
        rewards, evidence it can check); None while its body has not arrived."""

    def block_body(self, height: int, block_id: bytes) -> bytes | None:
        """The encoded body of a block this validator built or received (None if unknown):
        gossiped before a proposal of it, and served to peers that sync."""

    def offer_body(self, data: bytes) -> tuple[int, bytes] | None:
        """A block body from a peer: (height, block id) if the app took it (it parses and
        its evidence checks), else None (the app logs why)."""

    def commit(self, height: int, block_id: bytes, certificate: QuorumCertificate) -> None:
        """The height is final: apply the block."""

    def certificate(self, height: int) -> QuorumCertificate | None:
        """The certificate of a height this node finalized, from its chain (None when it
        has none): served to a peer that lags by more than the driver keeps in memory."""


@dataclass
class DriverMetrics:
    decided: dict[int, tuple[int, bytes]] = field(default_factory=dict)
    """Height -> (round, block id)."""
    evidence: int = 0
    bodies: int = 0
    """Block bodies taken from peers."""
    received: int = 0
    refused: int = 0
    """Votes or proposals the signer refused: signed differently before a restart."""
    rejected: int = 0
    sent: int = 0
    synced: int = 0


class ConsensusDriver:
    """One validator's consensus actor (see the module doc)."""

    def __init__(self, network: Network, genesis: Genesis, signer: VoteSigner,
                 app: ConsensusApp, *, config: CoreConfig | None = None,
                 sync_every_s: float = 1.0, first_height: int = 0,
                 evidence_log: EvidenceLog | None = None,
                 genesis_at: GenesisAt | None = None) -> None:
        self.network, self.signer, self.app = network, signer, app
        self.genesis_at: GenesisAt = genesis_at or (lambda _height: genesis)
        """The validators in office at a height (the chain's `genesis_at` when the set can
        change through blocks; the genesis's set for ever otherwise)."""
        self.genesis = self.genesis_at(first_height)
        """The validators in office at the height being decided."""
        signer.rebind(self.genesis)
        me = OBSERVER if signer.index is None else signer.index
        # `config` gives the timeouts; who votes is the set's in office (it can change)
        self.config = CoreConfig(n=self.genesis.n, me=me) if config is None else \
            dataclasses.replace(config, n=self.genesis.n, me=me)
        self.state = initial_state(self.config, first_height)
        self.sync_every_s = sync_every_s
        self.metrics = DriverMetrics()
        self.certificates: dict[int, QuorumCertificate] = {}
        self._held: dict[int, dict[bytes, bytes]] = {}
        """Height -> content id -> signed message bytes (ours and others')."""
        self._precommits: dict[tuple[int, int, bytes, int], SignedVote] = {}
        self._signed: dict[Vote | Proposal, SignedVote | SignedProposal] = {}
        """The signed form of every core record held (for evidence)."""
        self.evidence_log = evidence_log
        self._validator_peers = frozenset(peer_id_from_public_key(v.public_key)
                                          for v in {*genesis.validators,
                                                    *self.genesis.validators})
        self._bodies: dict[int, dict[bytes, bytes]] = {}
        """Height -> block id -> encoded body (served to peers that sync)."""
        self._parked: dict[bytes, list[Proposal]] = {}
        """Block id -> proposals waiting for the block's body (or the epoch judged again)."""
        self._future: list[CoreInput | _Unchecked] = []
        self._waiting_heights: list[int] = []
        self._inbox_send, self._inbox = trio.open_memory_channel[CoreInput | _Unchecked](
            math.inf)
        self._nursery: trio.Nursery | None = None

    # -- running --------------------------------------------------------------------

    async def run(self, heights: trio.MemoryReceiveChannel[int], *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Drive the core until cancelled; `heights` says when each height may start."""
        self.network.set_gossip_callback(self._on_gossip,
                                         [CONSENSUS_TOPIC, CONSENSUS_BLOCKS_TOPIC])
        self.network.register_protocol(CONSENSUS_SYNC_PROTOCOL, self._serve_sync, SYNC_LIMITS)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._forward_heights, heights)
            nursery.start_soon(self._sync_loop)
            task_status.started()
            async for event in self._inbox:
                await self._feed(event)

    async def _forward_heights(self, heights: trio.MemoryReceiveChannel[int]) -> None:
        async for height in heights:
            self._inbox_send.send_nowait(StartHeight(height))

    async def _feed(self, event: CoreInput | _Unchecked) -> None:
        if isinstance(event, _Unchecked):
            if self._not_started(event.proposal.height):
                self._future.append(event)  # checked when its height starts
                return
            checked = self._checked(event.proposal)
            if checked is None:
                return
            event = checked
        st = self.state
        if isinstance(event, StartHeight) and st.started and st.decision is None \
                and event.height > st.height:
            self._waiting_heights.append(event.height)  # after this height is decided
            return
        height = getattr(event, "height", None)
        if isinstance(event, VoteIn | ProposalIn):
            height = (event.vote if isinstance(event, VoteIn) else event.proposal).height
        if not isinstance(event, StartHeight) and height is not None and (
                height > self.state.height
                or isinstance(event, VoteIn | ProposalIn) and self._not_started(height)):
            # kept until its height starts here (the core drops votes and proposals that
            # come before); a certificate of this height (CommitIn) is applied at once:
            # a node catching up needs it before it can judge the next epoch
            self._future.append(event)
            return
        if isinstance(event, StartHeight) and (not st.started or event.height > st.height):
            self._take_office(event.height)
        self.state, outputs = apply(self.state, event)
        for out in outputs:
            await self._carry_out(out)
        if isinstance(event, StartHeight) and self.state.height == event.height:
            pending, self._future = self._future, []
            for later in pending:
                self._inbox_send.send_nowait(later)
        if self.state.decision is not None and self._waiting_heights:
            waiting, self._waiting_heights = sorted(self._waiting_heights), []
            for height in waiting:
                self._inbox_send.send_nowait(StartHeight(height))

    def _take_office(self, height: int) -> None:
        """Before `height` starts: vote as the validators in office there are (this node's
        index among them, or none: it follows without voting)."""
        config = self.genesis_at(height)
        if config.hash() == self.genesis.hash():
            return
        self.genesis = config
        self.signer.rebind(config)
        me = OBSERVER if self.signer.index is None else self.signer.index
        self.config = dataclasses.replace(self.config, n=config.n, me=me)
        self.state = dataclasses.replace(self.state, config=self.config)
        self._validator_peers |= {peer_id_from_public_key(v.public_key)
                                  for v in config.validators}
        logger.warning("height %d: %d validators in office; this node is %s", height, config.n,
                       "an observer" if me == OBSERVER else f"validator {me}")

    async def _carry_out(self, out: object) -> None:
        if isinstance(out, BroadcastVote):
            try:
                signed = self.signer.sign_vote(out.vote)
            except DoubleSignError as exc:
                self._refused_to_sign(exc)
                return
            self._keep(out.vote, signed)
            if out.vote.kind is VoteKind.PRECOMMIT and out.vote.value_id is not None:
                self._precommits[(out.vote.height, out.vote.round, out.vote.value_id,
                                  out.vote.sender)] = signed
            await self._publish(signed.to_cbor())
        elif isinstance(out, BroadcastProposal):
            try:
                signed = self.signer.sign_proposal(out.proposal)
            except DoubleSignError as exc:
                self._refused_to_sign(exc)
                return
            self._keep(out.proposal, signed)
            body = self.app.block_body(out.proposal.height, out.proposal.value_id)
            if body is not None:
                self._bodies.setdefault(out.proposal.height, {})[out.proposal.value_id] = body
                await self.network.publish(CONSENSUS_BLOCKS_TOPIC, body)
            await self._publish(signed.to_cbor())
        elif isinstance(out, ScheduleTimeout):
            assert self._nursery is not None
            self._nursery.start_soon(self._timer, out)
        elif isinstance(out, GetValue):
            block_id = self.app.propose(out.height, out.round)
            self._inbox_send.send_nowait(ValueIn(out.height, out.round, block_id))
        elif isinstance(out, Decide):
            self._decided(out)
        elif isinstance(out, EvidenceFound):
            self.metrics.evidence += 1
            logger.warning("equivocation by validator %d at height %d round %d: %r and %r",
                           out.first.sender, out.first.height, out.first.round, out.first,
                           out.second)
            first, second = self._signed.get(out.first), self._signed.get(out.second)
            if self.evidence_log is not None and first is not None and second is not None:
                self.evidence_log.record(Evidence.of(first, second),
                                         self._genesis_of(first.height))

    def _refused_to_sign(self, exc: DoubleSignError) -> None:
        """After a restart the core may ask again for a (height, round, step) signed before
        the crash, with another value (a timer fired before the proposal came back): the
        signer refuses, and the message is simply not sent, as if it were lost; the
        protocol tolerates that, it does not tolerate the second signature."""
        self.metrics.refused += 1
        logger.warning("not signing: %s", exc)

    def _decided(self, d: Decide) -> None:
        qc = self.certificates.get(d.height)
        if qc is None or (qc.round, qc.block_id) != (d.round, d.value_id):
            qc = QuorumCertificate.from_votes(
                [self._precommits[(d.height, d.round, d.value_id, v.sender)]
                 for v in d.precommits], self.genesis)
            self.certificates[d.height] = qc
        self.metrics.decided[d.height] = (d.round, d.value_id)
        logger.info("height %d decided in round %d: block %s", d.height, d.round,
                    d.value_id.hex()[:16])
        self.app.commit(d.height, d.value_id, qc)
        for old in [h for h in self.certificates if h < d.height - _KEPT_HEIGHTS]:
            del self.certificates[old]

    async def _timer(self, t: ScheduleTimeout) -> None:
        await trio.sleep(t.after_ms / 1000)
        self._inbox_send.send_nowait(TimeoutIn(t.kind, t.height, t.round))

    async def _publish(self, data: bytes) -> None:
        self.metrics.sent += 1
        await self.network.publish(CONSENSUS_TOPIC, data)

    def _keep(self, core: Vote | Proposal, signed: SignedVote | SignedProposal) -> None:
        """Hold a signed message (already checked) under its height and its core record."""
        height = core.height
        self._held.setdefault(height, {})[signed.content_id] = signed.to_cbor()
        self._signed[core] = signed
        for old in [h for h in self._held if h < height - _KEPT_HEIGHTS]:
            del self._held[old]
            self._bodies.pop(old, None)
            self._signed = {k: v for k, v in self._signed.items() if k.height > old}
            self._parked = {k: [p for p in v if p.height > old]
                            for k, v in self._parked.items()}

    # -- receiving ------------------------------------------------------------------

    def _on_gossip(self, _source: str, topic: str, data: bytes) -> bool:
        if topic == CONSENSUS_BLOCKS_TOPIC:
            return self._take_body(data)
        event = self._admit(data)
        if event is None:
            return False
        self._inbox_send.send_nowait(event)
        return True

    def _admit(self, data: bytes) -> CoreInput | _Unchecked | None:
        """A signed message as a core input, or None (logged) when it is not acceptable."""
        try:
            message = decode(data, types=_TYPES)
            core = message.to_core(self._genesis_of(message.height))  # type: ignore[attr-defined]
        except (MessageError, ConsensusError) as exc:
            self.metrics.rejected += 1
            logger.info("consensus message refused: %s", exc)
            return None
        if core.height < self.state.height - _KEPT_HEIGHTS:
            return None
        self.metrics.received += 1
        self._keep(core, message)  # type: ignore[arg-type]
        if isinstance(core, Vote):
            if core.kind is VoteKind.PRECOMMIT and core.value_id is not None:
                self._precommits.setdefault((core.height, core.round, core.value_id,
                                             core.sender), message)  # type: ignore[arg-type]
            return VoteIn(core)
        if self._not_started(core.height):
            # the app can judge its block only once the height starts here (the epoch's
            # verdicts are not in its store before)
            return _Unchecked(core)
        return self._checked(core)

    def _not_started(self, height: int) -> bool:
        """Whether `height` has not started here yet: a later one, or the one this node
        waits to start (the first after a start, before its epoch is judged here)."""
        return height > self.state.height or (height == self.state.height
                                              and not self.state.started)

    def _genesis_of(self, height: int) -> Genesis:
        """The validators in office at `height`: known for the height being decided and
        the next (a change takes effect two heights after its block), so a vote of those
        heights is checked with the right set; one further ahead is checked again when
        sync brings it back."""
        return self.genesis_at(height)

    def _checked(self, proposal: Proposal) -> ProposalIn | None:
        """The proposal with the app's verdict on its block, or None while it waits for
        the block's body (or for the app to judge the epoch again)."""
        valid = self.app.validate(proposal.height, proposal.value_id)
        if valid is None:
            self._parked.setdefault(proposal.value_id, []).append(proposal)
            return None
        return ProposalIn(proposal, valid)

    def _take_body(self, data: bytes) -> bool:
        """Offer a block body to the app; then the proposals and certificates that waited
        for it go on. True if the app took it (gossip relays it)."""
        taken = self.app.offer_body(data)
        if taken is None:
            self.metrics.rejected += 1
            return False
        height, block_id = taken
        if block_id in self._bodies.get(height, {}):
            return True
        self.metrics.bodies += 1
        self._bodies.setdefault(height, {})[block_id] = data
        self.recheck(block_id)
        return True

    def recheck(self, block_id: bytes) -> None:
        """Ask the app again about the proposals of `block_id` that wait for it (its body
        came, or the app judged the epoch again)."""
        for waiting in self._parked.pop(block_id, []):
            valid = self.app.validate(waiting.height, block_id)
            if valid is None:
                self._parked.setdefault(block_id, []).append(waiting)
            else:
                self._inbox_send.send_nowait(ProposalIn(waiting, valid))

    # -- sync -----------------------------------------------------------------------

    async def _serve_sync(self, _peer: str, payload: bytes) -> bytes:
        try:
            request = loads_cbor_item(payload, max_bytes=SYNC_LIMITS.max_request_bytes)
            height = request["height"] if isinstance(request, dict) else None
        except (MessageError, KeyError):
            height = None
        if type(height) is not int or height < 0:
            raise RequestHandlerError("a consensus sync request is {'height': <int >= 0>}")
        qc = self.certificates.get(height)
        if qc is None and height < self.state.height:  # older than memory: the chain's
            qc = self.app.certificate(height)
        return canonical_dumps({"messages": sorted(self._held.get(height, {}).values()),
                                "bodies": sorted(self._bodies.get(height, {}).values()),
                                "certificate": qc.to_cbor() if qc is not None else b""})

    async def _sync_loop(self) -> None:
        turn = 0
        while True:
            await trio.sleep(self.sync_every_s)
            # only validators speak the sync protocol (hotspots share the network)
            peers = [p for p in self.network.connected_peers() if p in self._validator_peers]
            if not peers:
                continue
            peer = peers[turn % len(peers)]
            turn += 1
            await self._sync_with(peer)

    async def _sync_with(self, peer: str) -> None:
        height = self.state.height
        try:
            raw = await self.network.request(peer, CONSENSUS_SYNC_PROTOCOL,
                                             canonical_dumps({"height": height}),
                                             timeout_s=self.sync_every_s * 2)
            reply = loads_cbor_item(raw, max_bytes=SYNC_LIMITS.max_response_bytes)
        except (RequestError, MessageError) as exc:
            logger.debug("consensus sync with %s failed: %s", peer, exc)
            return
        if not isinstance(reply, dict) or not isinstance(reply.get("messages"), list):
            return
        self.metrics.synced += 1
        for body in reply.get("bodies", ()):
            if isinstance(body, bytes) and body not in self._bodies.get(height, {}).values():
                self._take_body(body)
        for data in self._unseen(reply["messages"], height):
            event = self._admit(data)
            if event is not None:
                self._inbox_send.send_nowait(event)
        if reply.get("certificate"):
            self._take_certificate(reply["certificate"])

    def _unseen(self, messages: Iterable[object], height: int) -> list[bytes]:
        held = set(self._held.get(height, {}).values())
        return [m for m in messages if isinstance(m, bytes) and m not in held]

    def _take_certificate(self, data: object) -> None:
        try:
            qc = QuorumCertificate.from_cbor(data)  # type: ignore[arg-type]
            qc.verify(self._genesis_of(qc.height))
        except ConsensusError as exc:
            self.metrics.rejected += 1
            logger.info("certificate refused: %s", exc)
            return
        if qc.height != self.state.height or self.state.decision is not None:
            return
        self._commit_certified(qc)

    def _commit_certified(self, qc: QuorumCertificate) -> None:
        """Decide a height from a checked certificate: final by quorum, whether or not this
        validator can rebuild its block (the app fetches one it cannot, `BlockFetcher`)."""
        self.certificates[qc.height] = qc
        precommits = tuple(Vote(VoteKind.PRECOMMIT, qc.height, qc.round, qc.block_id, i)
                           for i, _ in qc.signatures)
        self._inbox_send.send_nowait(CommitIn(qc.height, qc.round, qc.block_id, precommits,
                                              True))

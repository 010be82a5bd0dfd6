"""The proof-of-coverage scenario carried by gossip over the in-memory network.

`run_poc_scenario(sc, carry=memory_carrier(link_loss))` hands its epochs here (a
test-tier carrier: the product runs the scenario direct). Every hotspot
key (sybils included) and every validator gets an endpoint on one
`MemoryNetwork`; each hotspot links to one validator (by index), the validators to
each other, all links with the scenario's loss. Each message is encoded and
published on its topic by its author's endpoint at its simulated time, in trio
virtual time under `run_deterministic`, so one seed gives one run. The first
validator decodes what its gossip callback receives with the real `decode` and,
a grace period after each epoch ends, the judge gets exactly that.

Hotspot endpoints subscribe to nothing: they publish their own reports and the
in-memory gossip, like gossipsub's per-topic mesh, never sends or relays anyone
else's through them; that keeps 200 hotspots and tens of thousands of reports to
a few transmissions per report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import trio

from coverage_net.messages import (
    BeaconReport,
    Challenge,
    Message,
    MessageError,
    WitnessReport,
    decode,
)
from coverage_net.p2p import TOPICS, topic_of
from coverage_net.p2p.testing import LinkProfile, MemoryNetwork, run_deterministic

from .._poc_results import EpochInput, TransportFigures
from .._poc_sim import Carrier, CarryContext

logger = logging.getLogger(__name__)

__all__ = ["GRACE_S", "carry_over_memory_network", "memory_carrier"]

GRACE_S = 5.0
"""Virtual seconds after an epoch's end before the verifier judges what it received:
many times a gossip path's latency (three hops of at most 50 ms), shorter than the
10 s before the next epoch's first challenge."""


def _stamp_ms(message: Message) -> int:
    """When the author sends it: a challenge at its timestamp, a report at its host time."""
    return message.timestamp_ms if isinstance(message, Challenge) else message.host_time_ms


class _Inbox:
    """The verifying validator's gossip callback: decode, keep, count what fails."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.undecodable = 0

    def __call__(self, _source: str, _topic: str, data: bytes) -> bool:
        try:
            self.received.append(decode(data))
        except MessageError as exc:
            self.undecodable += 1
            logger.warning("undecodable gossip refused", extra={"error": str(exc)})
            return False  # refused: not forwarded, as gossipsub does
        return True

    def take(self, epoch: int, entropy: bytes) -> EpochInput:
        got, self.received = self.received, []
        return EpochInput(epoch, entropy,
                          tuple(m for m in got if isinstance(m, Challenge)),
                          tuple(m for m in got if isinstance(m, BeaconReport)),
                          tuple(m for m in got if isinstance(m, WitnessReport)))


def carry_over_memory_network(epochs: Iterable[EpochInput], judge: Callable[[EpochInput], None],
                              *, hotspot_keys: Sequence[bytes], validator_keys: Sequence[bytes],
                              seed: int, link_loss: float, start_ms: int,
                              epoch_length_ms: int) -> TransportFigures:
    """Publish every message of `epochs` over a fresh `MemoryNetwork` and call `judge`
    once per epoch with what the first validator received; return the figures."""
    hub = MemoryNetwork(seed, link=LinkProfile(loss=link_loss))
    endpoint_of = {}
    for i, key in enumerate(validator_keys):
        endpoint_of[key] = hub.add_node(f"validator-{i}")
    for i, key in enumerate(hotspot_keys):
        endpoint_of[key] = hub.add_node(f"hotspot-{i}")
        hub.connect(f"hotspot-{i}", f"validator-{i % len(validator_keys)}")
    for a in range(len(validator_keys)):
        for b in range(a + 1, len(validator_keys)):
            hub.connect(f"validator-{a}", f"validator-{b}")
    inbox = _Inbox()
    endpoint_of[validator_keys[0]].set_gossip_callback(inbox, TOPICS)
    for key in validator_keys[1:]:  # relays: they forward, the first validator judges
        endpoint_of[key].set_gossip_callback(lambda _s, _t, _d: True, TOPICS)
    delivered: set[bytes] = set()
    published = 0

    async def main() -> float:
        nonlocal published
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            t0 = trio.current_time()
            end = t0
            for inp in epochs:
                end = t0 + ((inp.epoch + 1) * epoch_length_ms) / 1000
                sent = [*inp.challenges, *inp.beacon_reports, *inp.witness_reports]
                for m in sorted(sent, key=_stamp_ms):  # stable: ties keep the sim's order
                    # at its time; a back-dated one now; none after its epoch's window
                    at_s = t0 + (_stamp_ms(m) - start_ms) / 1000
                    await trio.sleep_until(min(max(at_s, trio.current_time()), end))
                    published += 1
                    data = m.to_cbor()
                    if m.signer_key == validator_keys[0]:  # its own challenge: kept, not heard
                        inbox("self", topic_of(m), data)
                    await endpoint_of[m.signer_key].publish(topic_of(m), data)
                await trio.sleep_until(end + GRACE_S)
                got = inbox.take(inp.epoch, inp.entropy)
                delivered.update(m.content_id for m in (*got.challenges, *got.beacon_reports,
                                                        *got.witness_reports))
                judge(got)
            nursery.cancel_scope.cancel()
            return trio.current_time() - t0

    virtual_s = run_deterministic(main, seed=seed)
    figures = TransportFigures(
        "memory", published=published, delivered=len(delivered),
        lost=published - len(delivered), undecodable=inbox.undecodable,
        virtual_s=float(virtual_s), link_transmissions=hub.delivered, link_losses=hub.lost)
    logger.info("scenario carried over the in-memory network",
                extra={"published": figures.published, "delivered": figures.delivered,
                       "lost": figures.lost, "virtual_s": figures.virtual_s})
    return figures


def memory_carrier(link_loss: float = 0.0) -> Carrier:
    """A carrier for `run_poc_scenario`: the scenario's messages over a `MemoryNetwork`
    whose every link loses a transmission with probability `link_loss`."""
    if not 0.0 <= link_loss < 1.0:
        raise ValueError(f"link_loss must be in [0, 1); got {link_loss}")

    def carry(epochs: Iterable[EpochInput], judge: Callable[[EpochInput], None],
              ctx: CarryContext) -> TransportFigures:
        return carry_over_memory_network(
            epochs, judge, hotspot_keys=ctx.hotspot_keys, validator_keys=ctx.validator_keys,
            seed=ctx.seed, link_loss=link_loss, start_ms=ctx.start_ms,
            epoch_length_ms=ctx.epoch_length_ms)
    return carry

"""Proof-of-coverage wiring: a hotspot's beaconer and witness listener, a validator's challenger.

The actors of `coverage_net.poc` know neither the network nor the store; here
they get what they need from them: challenges from a gossip subscription, a
channel whose messages are published (stored, then gossiped), and, for the
challenger, the announced hotspots from the store. ``hotspot run`` and the
validator's root call these with a real radio and network; the tests with a
`SimRadio` and the in-memory network.
"""

from __future__ import annotations

import functools
import math
import secrets as secrets_module
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import trio

from coverage_net.identity import Keypair
from coverage_net.messages import Challenge, HotspotAnnouncement, Message, decode
from coverage_net.p2p import TOPIC_PREFIX, GossipService
from coverage_net.poc import (
    DEFAULT_MAX_HELD_BEACONS,
    HotspotIdentity,
    NetworkParams,
    PocMetrics,
    run_beaconer,
    run_challenger,
    run_witness_listener,
)
from coverage_net.store import MessageStore
from firmware_bridge import Radio

__all__ = ["RunningChallenger", "announced_hotspots", "start_challenger", "start_hotspot_poc"]

_PUBLISH_QUEUE = 64
_ANNOUNCEMENT_TOPIC = TOPIC_PREFIX + HotspotAnnouncement.TYPE
_LAST_PARTITION = 2**63 - 1


async def _publish_all(outbox: trio.MemoryReceiveChannel[Message], gossip: GossipService) -> None:
    async for message in outbox:
        await gossip.publish(message)


def _outbox(nursery: trio.Nursery, gossip: GossipService) -> trio.MemorySendChannel[Message]:
    send, receive = trio.open_memory_channel[Message](_PUBLISH_QUEUE)
    nursery.start_soon(_publish_all, receive, gossip)
    return send


async def start_hotspot_poc(nursery: trio.Nursery, gossip: GossipService, radio: Radio,
                            identity: HotspotIdentity, params: NetworkParams,
                            clock_ms: Callable[[], int], *,
                            max_held: int = DEFAULT_MAX_HELD_BEACONS,
                            pending: Iterable[Challenge] = (),
                            metrics: PocMetrics | None = None) -> PocMetrics:
    """Run the beaconer and the witness listener on ``radio`` (open) in ``nursery``.

    ``pending``: challenges stored before a restart that the beaconer gets first (it
    answers those still in their window, and refuses the others with the reason).
    ``metrics``: the counters to keep (new ones unless given, e.g. already exported).
    Returns once the radio listens on the beacon channel.
    """
    metrics = metrics if metrics is not None else PocMetrics()
    publish = _outbox(nursery, gossip)
    challenges = gossip.subscribe((Challenge.TYPE,))
    pending = list(pending)
    if pending:
        challenges = _prepend(nursery, pending, challenges)
    await nursery.start(functools.partial(
        run_witness_listener, identity, params, radio=radio,
        challenges=gossip.subscribe((Challenge.TYPE,)), publish=publish, clock_ms=clock_ms,
        metrics=metrics, max_held=max_held))
    nursery.start_soon(functools.partial(
        run_beaconer, identity, params, radio=radio, challenges=challenges, publish=publish,
        clock_ms=clock_ms, metrics=metrics))
    return metrics


def _prepend(nursery: trio.Nursery, first: list[Message],
             then: trio.MemoryReceiveChannel[Message]) -> trio.MemoryReceiveChannel[Message]:
    """A channel of `first`, then whatever arrives on `then`."""
    send, receive = trio.open_memory_channel[Message](math.inf)
    for message in first:
        send.send_nowait(message)

    async def forward() -> None:
        async with send:
            async for message in then:
                await send.send(message)

    nursery.start_soon(forward)
    return receive


def announced_hotspots(store: MessageStore) -> list[bytes]:
    """The keys of every hotspot with an announcement in ``store``, sorted."""
    keys = set()
    for row in store.range(topic=_ANNOUNCEMENT_TOPIC, partition_from=0,
                           partition_to=_LAST_PARTITION):
        announcement = decode(row.data)
        if isinstance(announcement, HotspotAnnouncement):
            keys.add(announcement.hotspot_key)
    return sorted(keys)


@dataclass(frozen=True)
class RunningChallenger:
    """A started challenger: its counters, and the secrets of its recent challenges."""

    metrics: PocMetrics
    secrets: dict[bytes, bytes] = field(default_factory=dict)
    """challenge id -> secret, for a reveal after the window."""


async def start_challenger(nursery: trio.Nursery, gossip: GossipService, store: MessageStore,
                           keypair: Keypair, params: NetworkParams,
                           clock_ms: Callable[[], int], *,
                           entropy_for: Callable[[int], bytes],
                           random_bytes: Callable[[int], bytes] = secrets_module.token_bytes,
                           eligible_hotspots: Callable[[int], Iterable[bytes]] | None = None,
                           genesis_ms: int = 0) -> RunningChallenger:
    """Run this validator's challenger in ``nursery``, publishing through ``gossip``.

    The eligible hotspots of an epoch are, unless given, those announced in
    ``store`` when the epoch begins. ``random_bytes`` is the operating system's
    generator unless a simulation passes a seeded one.
    """
    running = RunningChallenger(PocMetrics())
    eligible = eligible_hotspots or (lambda epoch: announced_hotspots(store))
    nursery.start_soon(functools.partial(
        run_challenger, keypair, params, eligible_hotspots=eligible, entropy_for=entropy_for,
        random_bytes=random_bytes, clock_ms=clock_ms, publish=_outbox(nursery, gossip),
        secrets=running.secrets, metrics=running.metrics, genesis_ms=genesis_ms))
    await trio.lowlevel.checkpoint()
    return running

"""Which gossip topic and which sync epoch each message belongs to.

Every message type has its own topic, so a peer can subscribe to and sync only
what it needs. The epoch is the sync partition key (the store's ``epoch``
column): a `Challenge` names its consensus epoch; the other types carry a
timestamp and are bucketed by `EPOCH_LENGTH_MS` of their own time. Sync compares
per-epoch digests, so an epoch only has to be stable, not globally meaningful.
"""

from __future__ import annotations

from coverage_net.messages import (
    BeaconReport,
    Challenge,
    HotspotAnnouncement,
    Message,
    WitnessReport,
)

__all__ = ["TOPIC_PREFIX", "TOPICS", "EPOCH_LENGTH_MS", "topic_of", "epoch_of", "type_of_topic"]

TOPIC_PREFIX = "/coverage-net/1/"
EPOCH_LENGTH_MS = 3_600_000
"""Time bucket of timestamped messages for sync: one hour."""

_TOPIC_BY_TYPE: dict[str, str] = {
    cls.TYPE: TOPIC_PREFIX + cls.TYPE
    for cls in (HotspotAnnouncement, Challenge, BeaconReport, WitnessReport)
}
TOPICS: tuple[str, ...] = tuple(_TOPIC_BY_TYPE.values())
"""Every topic a peer subscribes to and syncs, in a fixed order."""

_TYPE_BY_TOPIC = {topic: type_ for type_, topic in _TOPIC_BY_TYPE.items()}


def topic_of(message: Message) -> str:
    """The gossip topic a message is published on."""
    return _TOPIC_BY_TYPE[message.TYPE]


def type_of_topic(topic: str) -> str | None:
    """The message type tag carried on ``topic``, or None for a topic we do not know."""
    return _TYPE_BY_TOPIC.get(topic)


def epoch_of(message: Message) -> int:
    """The sync epoch of a message (see the module docstring)."""
    if isinstance(message, Challenge):
        return message.epoch
    if isinstance(message, HotspotAnnouncement):
        return message.timestamp_ms // EPOCH_LENGTH_MS
    if isinstance(message, BeaconReport | WitnessReport):
        return message.host_time_ms // EPOCH_LENGTH_MS
    raise TypeError(f"no epoch rule for message type {message.TYPE!r}")

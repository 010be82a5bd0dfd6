"""Which gossip topic and which sync partition each message belongs to.

Every message type has its own topic, ``TOPIC_PREFIX + TYPE``, so a peer can
subscribe to and sync only what it needs; the topics come from the message
registry (`MESSAGE_TYPES`). The sync partition is what each type declares
(`Message.sync_partition`; the store's ``partition`` column): a challenge and its
reports share the challenge's epoch. Sync compares per-partition digests, so a
partition only has to be stable, not globally meaningful.
"""

from __future__ import annotations

from coverage_net.messages import MESSAGE_TYPES, Message

__all__ = ["TOPIC_PREFIX", "TOPICS", "topic_of", "partition_of", "type_of_topic"]

TOPIC_PREFIX = "/coverage-net/1/"

TOPICS: tuple[str, ...] = tuple(TOPIC_PREFIX + tag for tag in sorted(MESSAGE_TYPES))
"""Every topic a peer subscribes to and syncs, sorted by type tag."""

_TYPE_BY_TOPIC = {TOPIC_PREFIX + tag: tag for tag in MESSAGE_TYPES}


def topic_of(message: Message) -> str:
    """The gossip topic a message is published on."""
    return TOPIC_PREFIX + message.TYPE


def type_of_topic(topic: str) -> str | None:
    """The message type tag carried on ``topic``, or None for a topic we do not know."""
    return _TYPE_BY_TOPIC.get(topic)


def partition_of(message: Message) -> int:
    """The sync partition of a message (what its type declares)."""
    return message.sync_partition

"""Which gossip topic each message type travels on: one topic per registered type.

Topics come from the one registry of message types (`MESSAGE_TYPES`), so a new
message type is gossiped and synced as soon as it is defined. Each type also
declares its sync partition (`Message.sync_partition`): a challenge's reports
share the challenge's partition.
"""

from __future__ import annotations

from coverage_net.messages import MESSAGE_TYPES, Message

__all__ = ["TOPIC_PREFIX", "TOPICS", "topic_of", "type_of_topic"]

TOPIC_PREFIX = "/coverage-net/1/"

TOPICS: tuple[str, ...] = tuple(sorted(TOPIC_PREFIX + tag for tag in MESSAGE_TYPES))
"""Every topic a node subscribes to and syncs, in a fixed order."""


def topic_of(message: Message) -> str:
    """The gossip topic a message is published on."""
    return TOPIC_PREFIX + message.TYPE


def type_of_topic(topic: str) -> str | None:
    """The message type tag carried on ``topic``, or None for a topic we do not know."""
    if not topic.startswith(TOPIC_PREFIX):
        return None
    tag = topic[len(TOPIC_PREFIX):]
    return tag if tag in MESSAGE_TYPES else None

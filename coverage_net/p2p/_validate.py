"""The gossip-layer check: size, decoding and signature, and nothing else.

Whether a report is *true* (the physics, the challenge it answers) is for the
proof-of-coverage verifier, which may not have what it needs yet; a message that
passes here is accepted and any judgement that needs more context is deferred.
"""

from __future__ import annotations

from dataclasses import dataclass

from coverage_net.messages import (
    MAX_MESSAGE_BYTES,
    Message,
    MessageError,
    OversizeMessageError,
    SignatureError,
    UnknownTypeError,
    decode,
    loads_cbor_item,
)

from ._topics import type_of_topic

__all__ = ["Verdict", "check_gossip_payload"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Either a decoded, signature-checked message, or the reason it was refused."""

    message: Message | None
    reason: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.message is not None


def check_gossip_payload(data: bytes, topic: str) -> Verdict:
    """Judge one gossip payload received on ``topic``; never raises on bad bytes."""
    if len(data) > MAX_MESSAGE_BYTES:
        return Verdict(None, "oversize", f"{len(data)} bytes > {MAX_MESSAGE_BYTES}")
    try:
        message = decode(data)
    except OversizeMessageError as exc:
        return Verdict(None, "oversize", str(exc))
    except UnknownTypeError as exc:
        return Verdict(None, "unknown_type", str(exc))
    except SignatureError as exc:
        return Verdict(None, "bad_signature", str(exc))
    except MessageError as exc:
        return Verdict(None, "bad_schema" if _is_cbor(data) else "not_cbor", str(exc))
    expected = type_of_topic(topic)
    if message.TYPE != expected:
        return Verdict(None, "wrong_topic", f"a {message.TYPE} on topic {topic}")
    return Verdict(message)


def _is_cbor(data: bytes) -> bool:
    """Exactly one well-formed CBOR item and nothing after it (the strict codec)."""
    try:
        loads_cbor_item(data, max_bytes=MAX_MESSAGE_BYTES)
    except MessageError:
        return False
    return True

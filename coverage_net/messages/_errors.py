"""Exceptions of `coverage_net.messages`.

Decoding bytes from the network raises only `MessageError` subclasses, whatever
the bytes are; a node can catch `MessageError`, drop the message and penalise the
peer. Messages say which field was wrong and how.
"""

from __future__ import annotations

from coverage_net.errors import CoverageNetError


class MessageError(CoverageNetError):
    """Base class of every error raised by `coverage_net.messages`."""


class MalformedMessageError(MessageError, ValueError):
    """Not CBOR, not canonical, or not the schema: a missing, unknown or mistyped field,
    or a value out of range. Also raised when constructing a message with bad values."""


class MalformedCBORError(MalformedMessageError):
    """Bytes that are not exactly one well-formed CBOR item of the allowed subset: not
    CBOR, truncated, trailing bytes, a tag, too deeply nested, or over the size limit."""


class UnknownTypeError(MessageError, ValueError):
    """The type tag or its version is not one this node understands (upgrade?)."""


class OversizeMessageError(MessageError, ValueError):
    """The encoding is larger than its type's `MAX_BYTES`, or larger than
    `MAX_MESSAGE_BYTES` (then it was not parsed)."""


class SignatureError(MessageError):
    """A signature is missing, does not verify, or the key signing is not the message's
    signer."""

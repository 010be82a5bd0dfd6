"""The one place that talks to cbor2: canonical encoding and strict decoding.

Messages use a small subset of CBOR: maps with text keys whose values are ints,
floats, text and byte strings. The decoder is told to refuse everything else it
would otherwise turn into Python objects (tags such as dates, bignums, regexes or
shared references; indefinite lengths; duplicate keys; deep nesting), and every
failure of cbor2 on untrusted bytes becomes a `MalformedMessageError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import cbor2

from coverage_net.messages._errors import MalformedMessageError

__all__ = ["MAX_NESTING", "canonical_dumps", "strict_loads"]

MAX_NESTING = 4
"""Deepest container nesting accepted; today's messages are one flat map."""


class _TagRejected(Exception):
    def __init__(self, tag: int) -> None:
        super().__init__(f"CBOR tag {tag} is not allowed in a message")


def _reject_tag_hook(_decoder: object, tag: object) -> object:
    raise _TagRejected(getattr(tag, "tag", -1))


class _RejectEveryTag(Mapping[int, Callable[..., object]]):
    """Overrides every built-in semantic decoder (dates, bignums, sets, ...) with a refusal."""

    def __getitem__(self, tag: int) -> Callable[..., object]:
        def refuse(*_args: object) -> object:
            raise _TagRejected(tag)
        return refuse

    def __contains__(self, tag: object) -> bool:
        return True

    def __iter__(self) -> Iterator[int]:
        return iter(())

    def __len__(self) -> int:
        return 0


_NO_TAGS = _RejectEveryTag()


def canonical_dumps(value: object) -> bytes:
    """Canonical CBOR (RFC 7049 section 3.9): shortest forms, map keys sorted."""
    return cbor2.dumps(value, canonical=True)


def strict_loads(data: bytes) -> object:
    """Decode one CBOR item; MalformedMessageError for anything outside the subset.

    Trailing bytes are not detected here; the caller compares the re-encoding.
    """
    try:
        return cbor2.loads(
            data, tag_hook=_reject_tag_hook, semantic_decoders=_NO_TAGS, str_errors="strict",
            max_depth=MAX_NESTING, allow_indefinite=False, allow_duplicate_keys=False,
            strict_hashable_types=True)
    except Exception as exc:  # any failure on untrusted bytes is a malformed message
        cause = exc.__cause__ if isinstance(exc.__cause__, _TagRejected) else exc
        reason = str(cause) or type(cause).__name__
        raise MalformedMessageError(f"not valid message CBOR: {reason[:200]}") from None

"""The one place that talks to cbor2: canonical encoding and the strict network codec.

Everything read from the network is CBOR from a stranger, so every read goes
through `loads_cbor_item`: exactly one well-formed item, nothing after it, no
tags (dates, bignums, regexes, shared references...), no indefinite lengths, no
duplicate map keys, no simple values other than false/true/null, and bounded
container nesting. Every failure becomes a `MalformedCBORError` that says what was
wrong, whatever cbor2 raised.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import cbor2

from coverage_net.messages._errors import MalformedCBORError

__all__ = [
    "MAX_NESTING", "canonical_dumps", "canonical_items", "canonical_key_order",
    "canonical_map_header", "loads_cbor_item", "loads_cbor_quick",
]

MAX_NESTING = 4
"""Default deepest container nesting: a map of lists of lists of byte strings."""
_REASON_CHARS = 200


class _TagRejected(Exception):
    def __init__(self, tag: int) -> None:
        super().__init__(f"CBOR tag {tag} is not allowed")


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
_PLAIN = (int, float, str, bytes, bool, type(None))
_PLAIN_TYPES = frozenset(_PLAIN)


def canonical_dumps(value: object) -> bytes:
    """Canonical CBOR (RFC 7049 section 3.9): shortest forms, map keys sorted."""
    return cbor2.dumps(value, canonical=True)


def canonical_items(items: Sequence[object]) -> bytes:
    """The canonical encodings of ``items``, one after another, with no header.

    A canonical map is its header followed by its keys and values in canonical key
    order, so a caller that knows that order (a message's schema) lays the pairs
    out flat and builds the map, or the map without one pair, from slices; cbor2
    then encodes the values (shortest integers and floats) without sorting keys.
    """
    return cbor2.dumps(items, canonical=True)[_head_length(len(items)):]


def canonical_map_header(pairs: int) -> bytes:
    """The head of a definite-length map of ``pairs`` pairs (major type 5, shortest length)."""
    length = _head_length(pairs) - 1
    if length == 0:
        return bytes([0xA0 | pairs])
    return bytes([0xA0 | {1: 24, 2: 25, 4: 26, 8: 27}[length]]) + pairs.to_bytes(length, "big")


def canonical_key_order(keys: Iterable[str]) -> tuple[str, ...]:
    """``keys`` in the order `canonical_dumps` writes a map with them (cbor2's own rule)."""
    return tuple(cbor2.loads(canonical_dumps(dict.fromkeys(keys))))


def _head_length(count: int) -> int:
    """Bytes in the head of an array or map of ``count`` items (1, 2, 3, 5 or 9)."""
    if count < 24:
        return 1
    if count < 2**8:
        return 2
    if count < 2**16:
        return 3
    return 5 if count < 2**32 else 9


def loads_cbor_quick(data: bytes, *, max_depth: int = MAX_NESTING) -> object:
    """The first CBOR item of ``data`` decoded as `loads_cbor_item` would, or None.

    Without its checks and explanations: trailing bytes are ignored, simple values
    other than false/true/null pass, and a refusal is just None. Only for a caller
    that keeps the result after re-encoding it to exactly ``data`` (which no input
    with trailing bytes, odd values, tags or indefinite lengths survives) and asks
    `loads_cbor_item` what was wrong otherwise: `decode`'s fast path.
    """
    try:
        return cbor2.loads(
            data, tag_hook=_reject_tag_hook, semantic_decoders=_NO_TAGS, str_errors="strict",
            max_depth=max_depth, allow_indefinite=False, allow_duplicate_keys=False,
            strict_hashable_types=True)
    except Exception:  # untrusted bytes: any refusal means "take the strict path"
        return None


def loads_cbor_item(data: bytes, *, max_bytes: int, max_depth: int = MAX_NESTING) -> object:
    """Decode untrusted bytes that must be exactly one CBOR item; raise `MalformedCBORError`.

    The size is checked before any parsing. ``max_depth`` counts containers: a flat
    map is depth 1, a map of lists of lists of byte strings is depth 3. The result is
    built only of dict, list, int, float, str, bytes, bool and None.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    if len(data) > max_bytes:
        raise MalformedCBORError(f"{len(data)} bytes is over the limit of {max_bytes}; not parsed")
    if not data:
        raise MalformedCBORError("empty input; expected one CBOR item")
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(
            stream, tag_hook=_reject_tag_hook, semantic_decoders=_NO_TAGS, str_errors="strict",
            max_depth=max_depth, allow_indefinite=False, allow_duplicate_keys=False,
            strict_hashable_types=True).decode()
    except Exception as exc:  # any failure on untrusted bytes is malformed input
        cause = exc.__cause__ if isinstance(exc.__cause__, _TagRejected) else exc
        reason = str(cause) or type(cause).__name__
        raise MalformedCBORError(f"not valid CBOR: {reason[:_REASON_CHARS]}") from None
    if stream.tell() != len(data):
        raise MalformedCBORError(
            f"{len(data) - stream.tell()} trailing byte(s) after one CBOR item of "
            f"{stream.tell()} bytes")
    _check_plain(value, max_depth)
    return value


def _check_plain(value: object, depth_left: int) -> None:
    """Refuse the simple values cbor2 turns into objects (undefined, simple(n)), and
    containers nested deeper than allowed (cbor2's own limit misses empty ones)."""
    if isinstance(value, _PLAIN):
        return
    if type(value) is dict and depth_left > 1 and _PLAIN_TYPES.issuperset(
            map(type, value)) and _PLAIN_TYPES.issuperset(map(type, value.values())):
        return  # a flat map of plain values (every message): no recursion needed
    if isinstance(value, list | dict) and depth_left <= 0:
        raise MalformedCBORError("not valid CBOR: containers nested too deep "
                                 "(over the nesting limit)")
    if isinstance(value, list):
        for item in value:
            _check_plain(item, depth_left - 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, depth_left - 1)
            _check_plain(item, depth_left - 1)
    else:
        raise MalformedCBORError(f"CBOR value {value!r:.40} is not allowed "
                                 "(only maps, arrays, integers, floats, text, bytes, "
                                 "booleans and null)")

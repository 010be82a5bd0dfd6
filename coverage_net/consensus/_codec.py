"""Strict reading of the consensus records that are plain canonical CBOR maps.

Blocks, block parts, quorum certificates and evidence are not signed messages (their
authority is the signatures inside them, or the root a certified block commits to),
but they come from strangers just the same: each is read with the strict codec, must
have exactly its keys, and must re-encode to the same bytes, so one record has one
encoding and one hash.
"""

from __future__ import annotations

from coverage_net.messages import MessageError, canonical_dumps, loads_cbor_item

__all__ = ["check_bytes", "check_int", "decode_map"]


def decode_map(data: bytes, *, what: str, keys: frozenset[str], max_bytes: int,
               max_depth: int, error: type[Exception]) -> dict[str, object]:
    """The canonical CBOR map in `data` with exactly `keys`, or `error` saying what is wrong."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise error(f"{what}: expected bytes; got {type(data).__name__}")
    data = bytes(data)
    try:
        body = loads_cbor_item(data, max_bytes=max_bytes, max_depth=max_depth)
    except MessageError as exc:
        raise error(f"{what}: {exc}") from None
    if not isinstance(body, dict):
        raise error(f"{what}: expected a CBOR map; got {type(body).__name__}")
    missing = sorted(keys - set(body))
    unknown = sorted(map(repr, set(body) - keys))
    if missing or unknown:
        parts = ([f"missing key(s) {', '.join(missing)}"] if missing else []) + \
                ([f"unknown key(s) {', '.join(unknown)}"] if unknown else [])
        raise error(f"{what}: {'; '.join(parts)}")
    if canonical_dumps(body) != data:
        raise error(f"{what}: not in canonical CBOR form")
    return body


def check_int(value: object, where: str, lo: int, hi: int, error: type[Exception]) -> int:
    """`value` if it is an int (not a bool) in [lo, hi]; else `error` naming `where`."""
    if type(value) is not int or not lo <= value <= hi:
        raise error(f"{where}: must be an integer in [{lo}, {hi}]; got {value!r:.60}")
    return value


def check_bytes(value: object, where: str, length: int, error: type[Exception]) -> bytes:
    """`value` as bytes if it is `length` bytes; else `error` naming `where`."""
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        shown = f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else \
            type(value).__name__
        raise error(f"{where}: must be {length} bytes; got {shown}")
    return bytes(value)

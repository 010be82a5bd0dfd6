"""Checks shared by the sections of the network parameters: every error names the key path."""

from __future__ import annotations

from collections.abc import Mapping

from ._errors import ParamsError

__all__ = ["_hex", "_int", "_int_at", "_join", "_refuse_unknown", "_table"]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _table(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        where = path or "the top level"
        raise ParamsError(f"{where}: must be a table, got {type(value).__name__} {value!r}")
    return value


def _refuse_unknown(table: Mapping[str, object], allowed: set[str], path: str) -> None:
    unknown = sorted(str(key) for key in table if key not in allowed)
    if unknown:
        raise ParamsError(f"{_join(path, unknown[0])}: unknown key; "
                          f"allowed here: {', '.join(sorted(allowed))}")


def _int(table: Mapping[str, object], key: str, default: int, *, minimum: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamsError(f"{key}: must be an integer, got {value!r}")
    if value < minimum:
        raise ParamsError(f"{key}: must be at least {minimum}, got {value}")
    return value


def _int_at(path: str, table: Mapping[str, object], key: str, default: int, *,
            minimum: int) -> int:
    """`_int` inside a nested table: its error names the whole key path."""
    try:
        return _int(table, key, default, minimum=minimum)
    except ParamsError as exc:
        raise ParamsError(f"{_join(path, str(exc))}") from None


def _hex(value: object, path: str, length: int, what: str) -> bytes:
    chars = 2 * length
    if not isinstance(value, str):
        raise ParamsError(f"{path}: must be {what} as {chars} hex characters, got {value!r}")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ParamsError(f"{path}: {value!r} is not hex; {what} is {chars} hex "
                          f"characters") from None
    if len(raw) != length:
        raise ParamsError(f"{path}: {what} is {length} bytes ({chars} hex characters), "
                          f"got {len(raw)} bytes")
    return raw

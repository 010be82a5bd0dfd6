"""Value types of settings and the declaration of one setting.

Each type parses a value twice over (as TOML gave it, and as an environment
variable's text) and can write a value back as TOML for the samples, so the file,
the environment and the sample can never disagree about what a setting holds.
A parse failure raises `Invalid` with a phrase ("must be an integer") that the
loader puts after the key and the file's name.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["HostPort"]


class Invalid(Exception):
    """A value that does not fit; the message is a phrase such as "must be an integer"."""


class HostPort(NamedTuple):
    """A TCP or UDP address to listen on, as ``host:port`` in a configuration file."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def shown(value: object) -> str:
    """A value as the user wrote it (TOML-like), for "got ..." in a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return str(value)


def did_you_mean(word: str, candidates: list[str]) -> str:
    """' (did you mean "x"?)' for the closest candidate, or ''."""
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {json.dumps(close[0])}?)" if close else ""


@dataclass(frozen=True)
class ValueType:
    """How one kind of value is read from TOML and from the environment, and written."""

    from_toml: Callable[[object], Any]
    from_env: Callable[[str], Any]
    to_toml: Callable[[Any], str]
    is_path: bool = False


def _wrong(describe: str, value: object) -> Invalid:
    return Invalid(f"must be {describe}; got {shown(value)}")


def _toml_str(value: object) -> str:
    if not isinstance(value, str):
        raise _wrong("a string", value)
    return value


def _toml_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong("an integer", value)
    return value


def _env_int(text: str) -> int:
    stripped = text.strip()
    if not stripped.lstrip("+-").isdecimal() or not stripped.isascii():
        raise _wrong("an integer", text)
    return int(stripped)


def _finite(value: float, original: object) -> float:
    if not math.isfinite(value):
        raise _wrong("a finite number", original)
    return value


def _toml_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong("a number", value)
    return _finite(float(value), value)


def _env_float(text: str) -> float:
    try:
        return _finite(float(text), text)
    except ValueError:
        raise _wrong("a number", text) from None


def _toml_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _wrong("true or false", value)
    return value


_ENV_BOOLS = {"true": True, "1": True, "yes": True, "on": True,
              "false": False, "0": False, "no": False, "off": False}


def _env_bool(text: str) -> bool:
    try:
        return _ENV_BOOLS[text.strip().lower()]
    except KeyError:
        raise _wrong("true or false (or 1/0, yes/no, on/off)", text) from None


def _toml_path(value: object) -> Path:
    if not isinstance(value, str) or not value or "\0" in value:
        raise _wrong("a file or directory path", value)
    return Path(os.path.expanduser(value))  # unlike Path's, leaves an unknown ~user as is


def _toml_str_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _wrong("a list of strings", value)
    return tuple(value)


def _env_str_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _host_port(value: object, *, allow_empty: bool) -> HostPort | None:
    describe = '"HOST:PORT" (e.g. "127.0.0.1:9100")' + (', or "" for off' if allow_empty else "")
    if not isinstance(value, str):
        raise _wrong(describe, value)
    if value == "" and allow_empty:
        return None
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdecimal() or not port.isascii() \
            or int(port) > 65535 or any(c.isspace() for c in host):
        raise _wrong(describe, value)
    return HostPort(host, int(port))


def _toml_text(value: object) -> str:
    return shown(str(value) if isinstance(value, Path | HostPort) else value)


STR = ValueType(_toml_str, str, _toml_text)
INT = ValueType(_toml_int, _env_int, _toml_text)
FLOAT = ValueType(_toml_float, _env_float, _toml_text)
BOOL = ValueType(_toml_bool, _env_bool, _toml_text)
PATH = ValueType(_toml_path, _toml_path, _toml_text, is_path=True)
STR_LIST = ValueType(_toml_str_list, _env_str_list, _toml_text)
HOST_PORT = ValueType(lambda v: _host_port(v, allow_empty=False),
                      lambda t: _host_port(t, allow_empty=False), _toml_text)
HOST_PORT_OR_OFF = ValueType(lambda v: _host_port(v, allow_empty=True),
                             lambda t: _host_port(t, allow_empty=True),
                             lambda v: _toml_text("" if v is None else v))


def choice(*names: str) -> ValueType:
    """One of a few names, compared exactly (a typo gets a did-you-mean)."""
    describe = "one of " + ", ".join(json.dumps(n) for n in names)

    def parse(value: object) -> str:
        if isinstance(value, str) and value in names:
            return value
        hint = did_you_mean(value, list(names)) if isinstance(value, str) else ""
        raise Invalid(f"must be {describe}; got {shown(value)}{hint}")

    return ValueType(parse, parse, _toml_text)


REQUIRED: Any = object()
"""The default of a setting that has none: the file or the environment must give it."""


@dataclass(frozen=True)
class Spec:
    """One setting: its type, what it is for, its default and its check.

    `default` is a value, `REQUIRED`, or a function of the section's other values
    (the serial speed follows the driver). `required_when` returns why the setting
    is needed ("when radio.driver is "native"") or None. `check` returns the value,
    perhaps normalized, or raises `Invalid`. `example` fills a required setting in
    the sample file.
    """

    type: ValueType
    help: str
    default: Any = REQUIRED
    check: Callable[[Any], Any] | None = None
    required_when: Callable[[Mapping[str, Any]], str | None] | None = None
    example: Any = None


def setting(type_: ValueType, help_: str, **spec: Any) -> Any:
    """A dataclass field that carries its setting's declaration."""
    return field(metadata={"spec": Spec(type_, help_, **spec)})

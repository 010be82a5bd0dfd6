"""Field kinds: the wire type, range and meaning of each message field.

A kind checks a value twice over. From the wire (``wire=True``) the CBOR type
must be exact: an int is not a float, a bool is not an int, bytes are bytes.
From Python (``wire=False``, a message being constructed) it is lenient about
representation only: numpy integers and ints become ``int``/``float`` as the
schema says, bytearrays become bytes and ``-0.0`` becomes ``0.0``, so that one
value has one encoding. Ranges are checked either way.
"""

from __future__ import annotations

import abc
import math
import numbers
from dataclasses import dataclass

from h3.api import basic_int as h3

from coverage_net.messages._errors import MalformedMessageError
from coverage_net.radio import BANDWIDTHS_HZ, SPREADING_FACTORS, RegionError, get_region

__all__ = [
    "ANTENNA_GAIN_DBI", "ANTENNA_HEIGHT_M", "BANDWIDTH_HZ", "EPOCH", "FREQ_HZ", "H3_CELL", "HASH",
    "EIRP_CENTI_DBM", "PUBLIC_KEY", "RADIO_TIME_US", "REGION", "RSSI_DBM", "SEALED_SECRET",
    "SECRET", "SIGNATURE", "SNR_DB",
    "SPREADING_FACTOR", "TX_POWER_DBM", "UNIX_TIME_MS", "FieldKind", "FixedBytes", "H3Cell",
    "Integer", "IntegerChoice", "ListOf", "Real", "RegionName",
]


def _got(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{len(value)} bytes"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


class FieldKind(abc.ABC):
    """Base of the field kinds; `check` returns the normalised value or raises."""

    @abc.abstractmethod
    def check(self, where: str, value: object, *, wire: bool) -> object:
        """The normalised value, or a MessageError naming `where`."""

    def show(self, value: object) -> str:
        """The value as a message's repr shows it."""
        return repr(value)


@dataclass(frozen=True)
class FixedBytes(FieldKind):
    length: int
    meaning: str

    def check(self, where: str, value: object, *, wire: bool) -> bytes:
        if type(value) is bytes and len(value) == self.length:  # the common case, first
            return value
        ok_types = bytes if wire else (bytes, bytearray, memoryview)
        if not isinstance(value, ok_types) or (wire and type(value) is not bytes):
            raise MalformedMessageError(
                f"{where} must be a byte string ({self.length}-byte {self.meaning}); "
                f"got {_got(value)}")
        value = bytes(value)
        if len(value) != self.length:
            raise MalformedMessageError(
                f"{where} must be {self.length} bytes ({self.meaning}); got {len(value)} bytes")
        return value

    def show(self, value: object) -> str:
        return f"{bytes(value).hex()[:16]}..."


def _integer(where: str, value: object, meaning: str, *, wire: bool) -> int:
    if type(value) is int:  # the common case, on the wire and off it
        return value
    exact = False
    lenient = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    if not (exact if wire else lenient):
        raise MalformedMessageError(f"{where} must be an integer ({meaning}); got {_got(value)}")
    return int(value)


@dataclass(frozen=True)
class Integer(FieldKind):
    lo: int
    hi: int
    meaning: str

    def check(self, where: str, value: object, *, wire: bool) -> int:
        if type(value) is int and self.lo <= value <= self.hi:  # the common case, first
            return value
        value = _integer(where, value, self.meaning, wire=wire)
        if not self.lo <= value <= self.hi:
            raise MalformedMessageError(
                f"{where} is {value}; it must lie in [{self.lo}, {self.hi}] ({self.meaning})")
        return value


@dataclass(frozen=True)
class IntegerChoice(FieldKind):
    choices: tuple[int, ...]
    meaning: str

    def check(self, where: str, value: object, *, wire: bool) -> int:
        if type(value) is int and value in self.choices:  # the common case, first
            return value
        value = _integer(where, value, self.meaning, wire=wire)
        if value not in self.choices:
            allowed = ", ".join(map(str, self.choices))
            raise MalformedMessageError(f"{where} is {value}; it must be one of {allowed}")
        return value


@dataclass(frozen=True)
class Real(FieldKind):
    lo: float
    hi: float
    meaning: str

    def check(self, where: str, value: object, *, wire: bool) -> float:
        if type(value) is float and math.isfinite(value) and self.lo <= value <= self.hi:
            return value + 0.0  # the common case, first (-0.0 + 0.0 == +0.0, as below)
        if wire:
            if type(value) is not float:
                raise MalformedMessageError(
                    f"{where} must be a CBOR float ({self.meaning}); got {_got(value)}")
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise MalformedMessageError(
                f"{where} must be a real number ({self.meaning}); got {_got(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise MalformedMessageError(f"{where} is {value}; it must be finite ({self.meaning})")
        if not self.lo <= value <= self.hi:
            raise MalformedMessageError(
                f"{where} is {value:g}; it must lie in [{self.lo:g}, {self.hi:g}] "
                f"({self.meaning})")
        return value + 0.0  # -0.0 + 0.0 == +0.0: one value, one encoding


@dataclass(frozen=True)
class H3Cell(FieldKind):
    def check(self, where: str, value: object, *, wire: bool) -> int:
        value = _integer(where, value, "an H3 cell index as int", wire=wire)
        try:
            valid = h3.is_valid_cell(value)
        except (OverflowError, ValueError, TypeError):  # negative or wider than 64 bits
            valid = False
        if not valid:
            shown = f"{value:#x}" if value >= 0 else str(value)
            raise MalformedMessageError(f"{where} is {shown}; it is not a valid H3 cell")
        return value

    def show(self, value: object) -> str:
        return f"{value:x}"  # the H3 string form


@dataclass(frozen=True)
class RegionName(FieldKind):
    def check(self, where: str, value: object, *, wire: bool) -> str:
        if type(value) is not str:
            raise MalformedMessageError(
                f"{where} must be a text string (a region name); got {_got(value)}")
        try:
            region = get_region(value)
        except RegionError as exc:
            raise MalformedMessageError(f"{where}: {exc}") from None
        if value != region.name:  # one spelling per region, so one encoding
            raise MalformedMessageError(
                f"{where} is {value!r}; write the region as {region.name!r}")
        return value


@dataclass(frozen=True)
class ListOf(FieldKind):
    """A list of up to `max_items` values of one kind: a CBOR array on the wire, a tuple
    in Python (so a message stays hashable and immutable).

    Each item is checked by `item` exactly as a field of that kind would be, and its
    position is named in errors. Only scalar item kinds make sense (lists of lists
    would need their own nesting budget); `__post_init__` refuses a list of lists.
    """

    item: FieldKind
    max_items: int

    def __post_init__(self) -> None:
        if isinstance(self.item, ListOf):
            raise TypeError("ListOf items must be a scalar kind, not another ListOf")
        if isinstance(self.max_items, bool) or not isinstance(self.max_items, int) \
                or self.max_items < 1:
            raise TypeError(f"ListOf.max_items must be a positive int; got {self.max_items!r}")

    def check(self, where: str, value: object, *, wire: bool) -> tuple[object, ...]:
        ok = type(value) is list if wire else isinstance(value, list | tuple)
        if not ok:
            expected = "a CBOR array" if wire else "a list or tuple"
            raise MalformedMessageError(f"{where} must be {expected}; got {_got(value)}")
        if len(value) > self.max_items:
            raise MalformedMessageError(
                f"{where} has {len(value)} items; at most {self.max_items} are allowed")
        return tuple(self.item.check(f"{where}[{index}]", item, wire=wire)
                     for index, item in enumerate(value))

    def show(self, value: object) -> str:
        items = [self.item.show(item) for item in value][:3]
        more = f", ... {len(value) - 3} more" if len(value) > 3 else ""
        return f"[{', '.join(items)}{more}]"


PUBLIC_KEY = FixedBytes(32, "ed25519 public key")
SIGNATURE = FixedBytes(64, "ed25519 signature")
HASH = FixedBytes(32, "SHA-256 digest")
# 32-byte ephemeral X25519 key, 16-byte MAC, 32-byte secret: coverage_net.poc.seal_secret's box.
# Only the size is checked here (messages must not import poc, which imports messages).
SEALED_SECRET = FixedBytes(80, "sealed box")
SECRET = FixedBytes(32, "challenge secret")
# SQLite stores signed 64-bit integers: keep times and epochs inside that
UNIX_TIME_MS = Integer(0, 2**63 - 1, "milliseconds since the Unix epoch")
EPOCH = Integer(0, 2**63 - 1, "epoch number")
RADIO_TIME_US = Integer(0, 2**64 - 1, "radio clock in microseconds, unsigned 64-bit")
FREQ_HZ = Integer(30_000_000, 3_000_000_000, "carrier frequency in Hz, 30 MHz - 3 GHz")
SPREADING_FACTOR = IntegerChoice(SPREADING_FACTORS, "LoRa spreading factor")
BANDWIDTH_HZ = IntegerChoice(BANDWIDTHS_HZ, "LoRa bandwidth in Hz")
ANTENNA_GAIN_DBI = Real(-20.0, 40.0, "antenna gain in dBi")
ANTENNA_HEIGHT_M = Real(0.0, 1000.0, "antenna height above ground in metres")
TX_POWER_DBM = Real(-30.0, 40.0, "transmit power (EIRP) in dBm")
EIRP_CENTI_DBM = Integer(-3000, 6000, "EIRP in hundredths of a dBm, -30 to +60 dBm")
RSSI_DBM = Real(-200.0, 30.0, "received signal strength in dBm")
SNR_DB = Real(-60.0, 60.0, "signal-to-noise ratio in dB")
H3_CELL = H3Cell()
REGION = RegionName()

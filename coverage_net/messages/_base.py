"""The common shape of every message: schema, canonical CBOR, content id, signature.

A message on the wire is one canonical CBOR map::

    {"type": <type tag>, "version": <int>, <field>: <value>, ..., "signature": <64 bytes>}

Its content id is the SHA-256 of exactly those bytes, so a message has one id
wherever it is stored. Each type also declares its size limit (`MAX_BYTES`) and
its sync partition (`sync_partition`): the integer key under which stores group
messages so that peers can compare them partition by partition.

The signature covers ``DOMAIN_PREFIX + type + b"\\0"`` followed by the same map
without the signature; the prefix keeps a signature on one message type (or on
anything else the key signs) from ever verifying as another.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Self

from coverage_net.identity import Keypair, verify_signature
from coverage_net.messages._cbor import (
    MAX_NESTING,
    canonical_dumps,
    loads_cbor_item,
    loads_cbor_quick,
)
from coverage_net.messages._errors import (
    MalformedMessageError,
    OversizeMessageError,
    SignatureError,
    UnknownTypeError,
)
from coverage_net.messages._fields import PUBLIC_KEY, SIGNATURE, FieldKind, Integer
from coverage_net.messages._wire import WirePlan

__all__ = [
    "DEFAULT_MAX_BYTES", "DOMAIN_PREFIX", "MAX_MESSAGE_BYTES", "MESSAGE_TYPES", "SHORT_ID_CHARS",
    "Message", "decode", "short_id", "spec",
]

MAX_MESSAGE_BYTES = 4096
"""Largest encoding of any type; checked before any parsing. Today's messages are < 300
bytes. A type that needs more (blocks) raises this ceiling too: gossip and its tests
size their oversize checks by it."""
DEFAULT_MAX_BYTES = MAX_MESSAGE_BYTES
"""A type's `MAX_BYTES` unless it says otherwise (a type may only lower it)."""
DOMAIN_PREFIX = b"coverage-net/v1/"
SHORT_ID_CHARS = 12
"""Hex characters of a content id shown in logs (48 bits: unique enough to read, not to key)."""

_TYPE_KEY = "type"
_VERSION_KEY = "version"
_SIGNATURE = "signature"
_TYPE_TAG = re.compile(r"[a-z][a-z0-9_]{0,47}")
_REGISTRY: dict[str, type[Message]] = {}
MESSAGE_TYPES: Mapping[str, type[Message]] = MappingProxyType(_REGISTRY)
"""Every message class by its type tag (read-only; subclassing `Message` registers)."""


def spec(kind: FieldKind) -> Any:
    """Declare a message field and its wire kind (a dataclass field, keyword-only)."""
    return dataclasses.field(metadata={"kind": kind})


def short_id(content_id: bytes) -> str:
    """The log form of a content id: its first `SHORT_ID_CHARS` hex characters."""
    return bytes(content_id).hex()[:SHORT_ID_CHARS]


@functools.cache
def _schema(cls: type[Message]) -> dict[str, FieldKind]:
    """Field name -> kind for the fields of `cls` other than the signature.

    Also checks, once per class, what `__init_subclass__` cannot see before the
    dataclass exists: every field has a kind, and `SIGNER` names a public key.
    """
    schema = {}
    for f in dataclasses.fields(cls):
        if f.name == _SIGNATURE:
            continue
        if "kind" not in f.metadata or f.name in (_TYPE_KEY, _VERSION_KEY):
            raise TypeError(f"{cls.__name__}.{f.name} must be declared with spec(kind) and "
                            f"not be named {_TYPE_KEY!r} or {_VERSION_KEY!r}")
        schema[f.name] = f.metadata["kind"]
    if schema.get(cls.SIGNER) is not PUBLIC_KEY:
        raise TypeError(f"{cls.__name__}.SIGNER = {cls.SIGNER!r} is not a public-key field")
    partition = schema.get(cls.PARTITION_FIELD)
    if not isinstance(partition, Integer) or partition.lo < 0:
        raise TypeError(f"{cls.__name__}.PARTITION_FIELD = {cls.PARTITION_FIELD!r} is not a "
                        "non-negative integer field")
    return schema


@dataclass(frozen=True, kw_only=True, repr=False)
class Message:
    """Base class of all messages: frozen, keyword-only, validated on construction.

    Subclasses set `TYPE` (the wire tag, lowercase snake case), `SIGNER` (the
    name of the field holding the public key that signs) and `PARTITION_FIELD`
    (the integer field their sync partition derives from, divided by
    `PARTITION_BUCKET`), may lower `MAX_BYTES` (at most `MAX_MESSAGE_BYTES`),
    declare their fields with `spec(kind)`, and are registered in `MESSAGE_TYPES`
    for `decode` by being defined. A class defined with ``register=False`` (a
    test's own type) stays out of `MESSAGE_TYPES`; only its own `from_cbor`
    decodes it. Constructing a message with a bad value raises MalformedMessageError.
    """

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    SIGNER: ClassVar[str] = ""
    PARTITION_FIELD: ClassVar[str] = ""
    PARTITION_BUCKET: ClassVar[int] = 1
    MAX_BYTES: ClassVar[int] = DEFAULT_MAX_BYTES
    DOMAIN: ClassVar[bytes] = b""

    signature: bytes | None = dataclasses.field(default=None, metadata={"kind": SIGNATURE})

    def __init_subclass__(cls, *, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not _TYPE_TAG.fullmatch(cls.TYPE):
            raise TypeError(f"{cls.__name__}.TYPE must be a lowercase snake_case tag; "
                            f"got {cls.TYPE!r}")
        if cls.TYPE in _REGISTRY:
            raise TypeError(f"message type {cls.TYPE!r} is already defined by "
                            f"{_REGISTRY[cls.TYPE].__qualname__}")
        if not cls.SIGNER:
            raise TypeError(f"{cls.__name__}.SIGNER must name its public-key field")
        if not cls.PARTITION_FIELD:
            raise TypeError(f"{cls.__name__}.PARTITION_FIELD must name the integer field its "
                            "sync partition derives from")
        for name, value, hi in (("PARTITION_BUCKET", cls.PARTITION_BUCKET, None),
                                ("MAX_BYTES", cls.MAX_BYTES, MAX_MESSAGE_BYTES)):
            if type(value) is not int or value < 1 or (hi is not None and value > hi):
                bound = ">= 1" if hi is None else f"in 1..{hi}"
                raise TypeError(f"{cls.__name__}.{name} must be an int {bound}; got {value!r}")
        cls.DOMAIN = DOMAIN_PREFIX + cls.TYPE.encode("ascii") + b"\x00"
        if register:
            _REGISTRY[cls.TYPE] = cls

    def __post_init__(self) -> None:
        if type(self) is Message:
            raise TypeError("Message is abstract; construct one of its subclasses")
        name = type(self).__name__
        for field, kind in _schema(type(self)).items():
            value = kind.check(f"{name}.{field}", getattr(self, field), wire=False)
            object.__setattr__(self, field, value)
        if self.signature is not None:
            sig = SIGNATURE.check(f"{name}.signature", self.signature, wire=False)
            object.__setattr__(self, "signature", sig)

    def __repr__(self) -> str:
        """Byte strings as short hex and cells in hex (the H3 string form), for logs."""
        parts = [f"{field}={kind.show(getattr(self, field))}"
                 for field, kind in _schema(type(self)).items()]
        sig = "None" if self.signature is None else SIGNATURE.show(self.signature)
        return f"{type(self).__name__}({', '.join(parts)}, signature={sig})"

    # --- encoding -----------------------------------------------------------------------

    def _body(self) -> dict[str, object]:
        body: dict[str, object] = {_TYPE_KEY: self.TYPE, _VERSION_KEY: self.VERSION}
        for field in _schema(type(self)):
            body[field] = getattr(self, field)
        return body

    def to_cbor(self) -> bytes:
        """The canonical encoding: what goes on the wire and what the content id hashes."""
        body = self._body()
        if self.signature is not None:
            body[_SIGNATURE] = self.signature
        data = canonical_dumps(body)
        if len(data) > self.MAX_BYTES:
            raise OversizeMessageError(f"{self.TYPE} encodes to {len(data)} bytes; the limit "
                                       f"is {type(self).__name__}.MAX_BYTES = {self.MAX_BYTES}")
        return data

    def signing_bytes(self) -> bytes:
        """What the signer signs: the type's domain, then the encoding without signature."""
        return self.DOMAIN + canonical_dumps(self._body())

    @functools.cached_property
    def content_id(self) -> bytes:
        """SHA-256 of `to_cbor()` (32 bytes); an unsigned message has a different id."""
        return hashlib.sha256(self.to_cbor()).digest()

    @property
    def sync_partition(self) -> int:
        """The store and sync partition: `PARTITION_FIELD`'s value // `PARTITION_BUCKET`."""
        return getattr(self, self.PARTITION_FIELD) // self.PARTITION_BUCKET

    @property
    def short_id(self) -> str:
        """The first `SHORT_ID_CHARS` hex characters of the content id, for logs."""
        return short_id(self.content_id)

    # --- signatures ---------------------------------------------------------------------

    @property
    def signer_key(self) -> bytes:
        """The public key that must sign this message (the value of its `SIGNER` field)."""
        return getattr(self, self.SIGNER)

    @property
    def is_signed(self) -> bool:
        return self.signature is not None

    def sign(self, keypair: Keypair) -> Self:
        """A copy carrying `keypair`'s signature; SignatureError if it is not the signer."""
        if keypair.public_key != self.signer_key:
            raise SignatureError(
                f"{self.TYPE} must be signed by its {self.SIGNER} "
                f"({self.signer_key.hex()[:16]}...); this keypair is "
                f"{keypair.public_key.hex()[:16]}...")
        return dataclasses.replace(self, signature=keypair.sign(self.signing_bytes()))

    def verify(self) -> Self:
        """Return self if the signature is the signer's over this content; else SignatureError."""
        if self.signature is None:
            raise SignatureError(f"{self.TYPE} is not signed")
        if not verify_signature(self.signer_key, self.signature, self.signing_bytes()):
            raise SignatureError(
                f"{self.TYPE} signature does not verify against its {self.SIGNER} "
                f"{self.signer_key.hex()[:16]}... (forged, altered, or signed as another type)")
        return self

    @classmethod
    def from_cbor(cls, data: bytes) -> Self:
        """`decode`, and also require the message to be of this class (registered or not)."""
        types = _REGISTRY if _REGISTRY.get(cls.TYPE) is cls else {**_REGISTRY, cls.TYPE: cls}
        message = decode(data, types=types)
        if not isinstance(message, cls):
            raise MalformedMessageError(f"expected a {cls.TYPE} message; got {message.TYPE}")
        return message


def decode(data: bytes, *, types: Mapping[str, type[Message]] = MESSAGE_TYPES) -> Message:
    """Parse and check a message from untrusted bytes; raise only `MessageError`s.

    In order: size against `MAX_MESSAGE_BYTES` (OversizeMessageError, not
    parsed), exactly one well-formed CBOR item (`loads_cbor_item`), a map with a
    ``type`` known in ``types`` (UnknownTypeError) and its ``version``, size
    against the type's `MAX_BYTES` (OversizeMessageError), exactly the schema's
    fields with exact CBOR types and ranges, canonical form (re-encoding must
    reproduce the input byte for byte: no longer-than-needed integers or floats,
    sorted keys) (MalformedMessageError), then the signature (SignatureError).

    A well-formed message takes a fast path (`WirePlan`) that makes the same
    checks with one re-encoding; anything it does not accept goes through the
    strict path above, which names what was wrong.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise OversizeMessageError(f"message is {len(data)} bytes; the limit is "
                                   f"MAX_MESSAGE_BYTES = {MAX_MESSAGE_BYTES}; not parsed")
    message, unsigned = _parse_fast(data, types) or _parse_strict(data, types)
    message.__dict__["content_id"] = hashlib.sha256(data).digest()  # the cached_property
    if not verify_signature(message.signer_key, message.signature, message.DOMAIN + unsigned):
        message.verify()  # raises the SignatureError that says why
    return message


def _parse_fast(data: bytes, types: Mapping[str, type[Message]]
                ) -> tuple[Message, bytes] | None:
    """The message (signature unchecked) and its unsigned canonical map, or None: then
    `_parse_strict` decides. Accepts only what `_parse_strict` accepts, identically."""
    body = loads_cbor_quick(data, max_depth=MAX_NESTING)
    if type(body) is not dict:
        return None
    tag = body.get(_TYPE_KEY)
    cls = types.get(tag) if type(tag) is str else None
    if cls is None or len(data) > cls.MAX_BYTES:
        return None
    checked = _wire_plan(cls).check(data, body)
    if checked is None:
        return None
    values, unsigned = checked
    message = object.__new__(cls)
    message.__dict__.update(values)  # frozen: its __setattr__ refuses; the values are checked
    return message, unsigned


@functools.cache
def _wire_plan(cls: type[Message]) -> WirePlan:
    return WirePlan(cls.TYPE, cls.VERSION, _schema(cls), cls.__name__)


def _parse_strict(data: bytes, types: Mapping[str, type[Message]]) -> tuple[Message, bytes]:
    """`decode`'s checks up to the signature, one by one, each naming what was wrong:
    the message (signature unchecked) and its unsigned canonical map."""
    body = loads_cbor_item(data, max_bytes=MAX_MESSAGE_BYTES, max_depth=MAX_NESTING)
    if not isinstance(body, dict):
        raise MalformedMessageError(f"a message is a CBOR map; got {type(body).__name__}")
    cls = _message_class(body, types)
    name = cls.__name__
    if len(data) > cls.MAX_BYTES:
        raise OversizeMessageError(f"{cls.TYPE} is {len(data)} bytes; the limit is "
                                   f"{name}.MAX_BYTES = {cls.MAX_BYTES}")
    schema = {**_schema(cls), _SIGNATURE: SIGNATURE}
    given = set(body) - {_TYPE_KEY, _VERSION_KEY}
    missing = sorted(set(schema) - given)
    unknown = sorted(map(repr, given - set(schema)))
    if missing or unknown:
        parts = ([f"missing field(s) {', '.join(missing)}"] if missing else []) + \
                ([f"unknown field(s) {', '.join(unknown)}"] if unknown else [])
        raise MalformedMessageError(f"{cls.TYPE}: {'; '.join(parts)}")
    values = {field: kind.check(f"{name}.{field}", body[field], wire=True)
              for field, kind in schema.items()}
    # every value passed the wire check, stricter than __post_init__'s: set them as they are
    message = object.__new__(cls)
    for field, value in values.items():
        object.__setattr__(message, field, value)
    # the canonical form, and the signing bytes, from the one checked map (what
    # `to_cbor` and `signing_bytes` would rebuild from the message, field by field)
    full = {_TYPE_KEY: cls.TYPE, _VERSION_KEY: cls.VERSION, **values}
    if canonical_dumps(full) != data:
        raise MalformedMessageError(
            f"{cls.TYPE}: not in canonical CBOR form (keys sorted length-first, shortest "
            "integer and float encodings, +0.0 for zero)")
    del full[_SIGNATURE]
    return message, canonical_dumps(full)


def _message_class(body: dict[Any, Any], types: Mapping[str, type[Message]]) -> type[Message]:
    tag = body.get(_TYPE_KEY)
    if type(tag) is not str:
        raise MalformedMessageError(
            f"a message needs a text {_TYPE_KEY!r} field; got {type(tag).__name__}")
    cls = types.get(tag)
    if cls is None:
        known = ", ".join(sorted(types))
        raise UnknownTypeError(f"unknown message type {tag[:60]!r}; this node knows: {known}")
    version = body.get(_VERSION_KEY)
    if type(version) is not int:
        raise MalformedMessageError(
            f"{tag}: {_VERSION_KEY!r} must be an integer; got {type(version).__name__}")
    if version != cls.VERSION:
        raise UnknownTypeError(f"{tag} version {version} is not supported (this node reads "
                               f"version {cls.VERSION}; upgrade if the sender is newer)")
    return cls

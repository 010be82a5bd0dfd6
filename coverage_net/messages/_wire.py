"""`decode`'s fast path: one re-encoding proves canonical form and gives the signed bytes.

Ingest is dominated by the signature check, and a validator decodes every report
it hears, so what `decode` adds around libsodium matters. The strict path builds
the checked map twice (the canonical-form check, then the signing bytes) and
cbor2 sorts each map's keys again. Here a type's canonical key order is worked out
once (`WirePlan`); a received map must list exactly those keys in that order, and
its checked values are encoded once, flat, in that order: the wire must equal the
map header and that encoding byte for byte. The signed encoding is the same map
without its ``signature`` pair, so it is cut from the wire around that pair. The
pair starts with fixed bytes (the key and the head of a 64-byte string); the cut
is made only where those occur once in the wire, so it cannot land inside a value
that happens to hold them (then the strict path re-encodes instead).

The fast path only ever accepts: any doubt (not a map, unknown type, wrong keys,
a value that fails its check, a byte that differs) returns None, and `decode`
runs the strict path, which finds and names the error. Whatever it accepts is the
canonical encoding of values that passed the same checks, which the strict path
would accept with the same values and signing bytes; a hypothesis test holds the
two paths to that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter

from coverage_net.messages._cbor import (
    canonical_items,
    canonical_key_order,
    canonical_map_header,
)
from coverage_net.messages._errors import MessageError
from coverage_net.messages._fields import SIGNATURE, FieldKind

__all__ = ["WirePlan"]

_TYPE_KEY = "type"
_VERSION_KEY = "version"
_SIGNATURE = "signature"


class WirePlan:
    """The canonical layout of one message type, computed once per type.

    ``fields`` are the type's fields other than the signature, with their kinds;
    ``name`` is the class name that field checks report (as the strict path does).
    """

    def __init__(self, type_tag: str, version: int, fields: Mapping[str, FieldKind],
                 name: str) -> None:
        kinds = {**fields, _SIGNATURE: SIGNATURE}
        constants = {_TYPE_KEY: type_tag, _VERSION_KEY: version}
        self.keys = canonical_key_order([*constants, *kinds])
        """Every key of the wire map, in canonical order (what a decoded map must list)."""
        # type and version are written as the type's own constants, never copied from
        # the wire: a wire value that differs (true for 1, say) then fails the comparison
        self._checks: tuple[tuple[Callable[..., object], str], ...] = tuple(
            (_constant(constants[key]) if key in constants else kinds[key].check,
             f"{name}.{key}") for key in self.keys)
        fields = [i for i, key in enumerate(self.keys) if key not in constants]
        self._field_names = tuple(self.keys[i] for i in fields)
        self._field_values = itemgetter(*fields)
        """The fields' values (every key's but type's and version's) from all values."""
        self._header = canonical_map_header(len(self.keys))
        self._unsigned_header = canonical_map_header(len(self.keys) - 1)
        # "signature" and the head of a 64-byte string: the signature pair minus its value
        self._signature_head = canonical_items([_SIGNATURE, bytes(SIGNATURE.length)])[
            :-SIGNATURE.length]

    def check(self, data: bytes, body: dict[object, object]
              ) -> tuple[dict[str, object], bytes] | None:
        """The checked field values and the unsigned canonical map, if ``data`` is the
        canonical encoding of ``body`` (its decoding) and every field is valid; else None.

        The values include the signature and exclude ``type`` and ``version``; the
        unsigned map is what the signer signed after the type's domain.
        """
        if tuple(body) != self.keys:
            return None
        try:
            values = [check(where, value, wire=True)
                      for (check, where), value in zip(self._checks, body.values(), strict=True)]
        except MessageError:
            return None
        flat: list[object] = [None] * (2 * len(values))
        flat[0::2] = self.keys
        flat[1::2] = values
        if data != self._header + canonical_items(flat):
            return None
        fields = dict(zip(self._field_names, self._field_values(values), strict=True))
        # the signature pair is in the wire (it equals the encoding): where its key and
        # head occur once, that is the pair; a second occurrence is inside a value
        head = self._signature_head
        at = data.find(head)
        if at < 0 or data.find(head, at + 1) != -1:
            return None
        end = at + len(head) + SIGNATURE.length
        unsigned = self._unsigned_header + data[len(self._header):at] + data[end:]
        return fields, unsigned


def _constant(value: object) -> Callable[..., object]:
    def constant(_where: str, _value: object, *, wire: bool) -> object:
        return value
    return constant

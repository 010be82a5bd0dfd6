"""Verdicts: what the verifier decided about one report, why, and with which figures.

A `Verdict` is plain data with one canonical CBOR encoding, so two validators that
reached the same decisions hold byte-identical verdicts (consensus compares them by
hash) and an operator's `coverage-net poc explain` prints exactly what was decided.
Every figure is an integer in the unit its name says (``*_centi_dbm``: hundredths
of a dBm, ``*_centi_sigma``: hundredths of a standard deviation, ``distance_m``,
``lag_ms``, ``*_hz``); nothing in a verdict is a float.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from coverage_net.messages import MessageError, canonical_dumps, loads_cbor_item

from ._errors import PocError

__all__ = ["REASON_TEXT", "Reason", "Verdict", "VerdictError", "verdicts_bytes"]

_MAX_VERDICT_BYTES = 16_384


class VerdictError(PocError, ValueError):
    """Bytes that are not a verdict's canonical encoding."""


class Reason(StrEnum):
    """Why a report is valid or not: machine-readable, stable (stored and agreed on)."""

    VALID = "valid"
    # the round (shared by its beacon report and its witnesses)
    CHALLENGE_UNKNOWN = "challenge_unknown"
    CHALLENGER_NOT_VALIDATOR = "challenger_not_validator"
    NOT_SELECTED = "not_selected"
    CHALLENGEE_UNKNOWN = "challengee_unknown"
    # the beacon report
    NOT_CHALLENGEE = "not_challengee"
    SECRET_MISMATCH = "secret_mismatch"
    OUTSIDE_WINDOW = "outside_window"
    PAYLOAD_MISMATCH = "payload_mismatch"
    WRONG_CHANNEL = "wrong_channel"
    WRONG_DATA_RATE = "wrong_data_rate"
    EIRP_OVER_LIMIT = "eirp_over_limit"
    DUPLICATE = "duplicate"
    # the witness report
    NO_VALID_BEACON = "no_valid_beacon"
    SELF_WITNESS = "self_witness"
    WITNESS_UNKNOWN = "witness_unknown"
    REGION_MISMATCH = "region_mismatch"
    FREQ_OUT_OF_TOLERANCE = "freq_out_of_tolerance"
    TOO_CLOSE = "too_close"
    TOO_FAR = "too_far"
    LAG_TOO_LARGE = "lag_too_large"
    RSSI_ABOVE_FREE_SPACE = "rssi_above_free_space"
    RSSI_TOO_STRONG = "rssi_too_strong"
    RSSI_TOO_WEAK = "rssi_too_weak"
    SNR_INCONSISTENT = "snr_inconsistent"
    BELOW_SENSITIVITY = "below_sensitivity"
    NEIGHBOUR_INCONSISTENT = "neighbour_inconsistent"
    HOTSPOT_INCONSISTENT = "hotspot_inconsistent"
    RECIPROCITY_INCONSISTENT = "reciprocity_inconsistent"
    MODEL_FIT_TOO_CLOSE = "model_fit_too_close"
    SNR_SPREAD_TOO_SMALL = "snr_spread_too_small"
    CHALLENGES_UNANSWERED = "challenges_unanswered"
    RATE_LIMITED = "rate_limited"
    RADIO_CLOCK_INCONSISTENT = "radio_clock_inconsistent"
    ARRIVAL_LATE = "arrival_late"


REASON_TEXT: Mapping[Reason, str] = {
    Reason.VALID: "every check passed",
    Reason.CHALLENGE_UNKNOWN: "the challenge this report names was never received",
    Reason.CHALLENGER_NOT_VALIDATOR: "the challenge was signed by a key that is not a validator",
    Reason.NOT_SELECTED: "the epoch's entropy did not select this challenger and challengee",
    Reason.CHALLENGEE_UNKNOWN: "the challenged hotspot has no announcement (no asserted location)",
    Reason.NOT_CHALLENGEE: "the beacon report is signed by a hotspot that was not challenged",
    Reason.SECRET_MISMATCH: "the revealed secret does not hash to the challenge's secret hash",
    Reason.OUTSIDE_WINDOW: "the report's time is outside the challenge window",
    Reason.PAYLOAD_MISMATCH: "the payload hash is not that of the beacon derived from the secret",
    Reason.WRONG_CHANNEL: "the frequency is not the region's beacon channel",
    Reason.WRONG_DATA_RATE: "spreading factor or bandwidth is not the region's beacon data rate",
    Reason.EIRP_OVER_LIMIT: "the stated EIRP is above the region's maximum",
    Reason.DUPLICATE: "another report by this hotspot for this round came first",
    Reason.NO_VALID_BEACON: "the round has no valid beacon report to witness",
    Reason.SELF_WITNESS: "the witness is the beaconing hotspot",
    Reason.WITNESS_UNKNOWN: "the witness has no announcement (no asserted location)",
    Reason.REGION_MISMATCH: "witness and beaconer assert different regions",
    Reason.FREQ_OUT_OF_TOLERANCE: "the heard frequency is too far from the beacon channel",
    Reason.TOO_CLOSE: "the witness asserts a location too close to the beaconer",
    Reason.TOO_FAR: "the witness asserts a location too far from the beaconer",
    Reason.LAG_TOO_LARGE: "the witness report's host time is too far from the beacon's",
    Reason.RSSI_ABOVE_FREE_SPACE: "the RSSI is stronger than free space allows over that distance",
    Reason.RSSI_TOO_STRONG: "the RSSI is more than k sigma above the modelled path",
    Reason.RSSI_TOO_WEAK: "the RSSI is more than k sigma below the modelled path",
    Reason.SNR_INCONSISTENT: "the SNR does not fit the RSSI and the noise floor",
    Reason.BELOW_SENSITIVITY: "the RSSI is below what a radio can demodulate at this data rate",
    Reason.NEIGHBOUR_INCONSISTENT:
        "the beacon was heard only where the model finds it unlikely, while likely neighbours "
        "heard nothing",
    Reason.HOTSPOT_INCONSISTENT:
        "this hotspot keeps hearing what its neighbours do not and missing what they hear",
    Reason.RECIPROCITY_INCONSISTENT:
        "the signal strengths this hotspot reports disagree with what its neighbours measure "
        "on the same paths in the other direction (a radio path is the same both ways)",
    Reason.MODEL_FIT_TOO_CLOSE:
        "the signal strengths this hotspot reports sit closer to the propagation model, link "
        "after link, than real paths ever do (numbers made with the model, not heard)",
    Reason.SNR_SPREAD_TOO_SMALL:
        "the SNR this hotspot reports follows its RSSI more exactly, report after report, "
        "than a radio's two separate measurements ever do (the SNR computed from the RSSI, "
        "not measured)",
    Reason.CHALLENGES_UNANSWERED:
        "this hotspot files witness reports but answered none of its recent challenges "
        "with a beacon (is there a radio where it says it is?)",
    Reason.RATE_LIMITED: "the witness filed more reports this epoch than the limit",
    Reason.RADIO_CLOCK_INCONSISTENT:
        "the radio timestamp does not fit the hotspot's other reports this epoch "
        "(another radio's packet?)",
    Reason.ARRIVAL_LATE:
        "the report came later than the two hosts' clocks allow: the beacon was heard "
        "again, rebroadcast, not from the beaconer",
}


@dataclass(frozen=True)
class Verdict:
    """The decision on one report (a `BeaconReport` or a `WitnessReport`).

    `figures` are sorted ``(name, integer)`` pairs; `neighbours_heard` and
    `neighbours_silent` (sorted public keys) are the hotspots the model found likely
    to hear the beacon that did and did not file a witness (empty when not judged).
    `rewarded` says whether a valid witness is among the at most
    ``max_rewarded_witnesses`` chosen in entropy order (a valid beacon is rewarded).
    """

    report_id: bytes
    report_type: str
    challenge_id: bytes
    epoch: int
    hotspot_key: bytes
    valid: bool
    reason: Reason
    rewarded: bool = False
    figures: tuple[tuple[str, int], ...] = ()
    neighbours_heard: tuple[bytes, ...] = ()
    neighbours_silent: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if self.valid != (self.reason is Reason.VALID):
            raise VerdictError(
                f"a verdict with reason {self.reason} cannot have valid={self.valid}")
        if self.rewarded and not self.valid:
            raise VerdictError("an invalid report cannot be rewarded")
        names = [name for name, _ in self.figures]
        if names != sorted(set(names)):
            raise VerdictError(f"figures must be sorted and unique by name, got {names}")
        for name, value in self.figures:
            if type(value) is not int:
                raise VerdictError(f"figure {name!r} must be an int, got {value!r}")

    @classmethod
    def checked_elsewhere(cls, **fields: object) -> Verdict:
        """A verdict from fields the caller already built correctly (the verifier: sorted
        integer figures, reason matching validity), without `__post_init__`'s checks,
        which cost more than the rest of a witness's verification. Decoding never uses it."""
        verdict = object.__new__(cls)
        attributes = verdict.__dict__  # a frozen dataclass's fields live here
        attributes.update(_DEFAULTS)
        attributes.update(fields)
        return verdict

    def figure(self, name: str) -> int | None:
        """The named figure, or None when this verdict does not carry it."""
        return dict(self.figures).get(name)

    def to_dict(self) -> dict[str, object]:
        return {
            "report_id": self.report_id, "report_type": self.report_type,
            "challenge_id": self.challenge_id, "epoch": self.epoch,
            "hotspot_key": self.hotspot_key, "valid": self.valid, "reason": str(self.reason),
            "rewarded": self.rewarded, "figures": dict(self.figures),
            "neighbours_heard": list(self.neighbours_heard),
            "neighbours_silent": list(self.neighbours_silent),
        }

    def to_cbor(self) -> bytes:
        """The canonical CBOR encoding: equal verdicts give equal bytes."""
        return canonical_dumps(self.to_dict())

    @classmethod
    def from_cbor(cls, data: bytes) -> Verdict:
        """Decode `to_cbor` bytes; anything else raises `VerdictError` saying what is wrong."""
        try:
            item = loads_cbor_item(data, max_bytes=_MAX_VERDICT_BYTES)
        except MessageError as exc:
            raise VerdictError(f"not a verdict: {exc}") from exc
        if not isinstance(item, dict) or set(item) != _FIELDS:
            raise VerdictError(f"not a verdict: expected a map with keys {sorted(_FIELDS)}")
        try:
            figures = item["figures"]
            if not isinstance(figures, dict):
                raise VerdictError("not a verdict: figures must be a map")
            verdict = cls(
                report_id=_bytes(item, "report_id"), report_type=_str(item, "report_type"),
                challenge_id=_bytes(item, "challenge_id"), epoch=_int(item, "epoch"),
                hotspot_key=_bytes(item, "hotspot_key"), valid=_bool(item, "valid"),
                reason=Reason(_str(item, "reason")), rewarded=_bool(item, "rewarded"),
                figures=tuple(sorted(figures.items())),
                neighbours_heard=_keys(item, "neighbours_heard"),
                neighbours_silent=_keys(item, "neighbours_silent"))
        except ValueError as exc:  # unknown reason, or __post_init__'s VerdictError
            raise VerdictError(f"not a verdict: {exc}") from exc
        if verdict.to_cbor() != data:
            raise VerdictError("not a verdict: not the canonical encoding")
        return verdict


_FIELDS = frozenset(Verdict.__dataclass_fields__)
_DEFAULTS = {name: f.default for name, f in Verdict.__dataclass_fields__.items()
             if f.default is not dataclasses.MISSING}


def _typed(item: dict, key: str, kind: type) -> object:
    value = item[key]
    if type(value) is not kind:
        raise VerdictError(
            f"not a verdict: {key} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _bytes(item: dict, key: str) -> bytes:
    return _typed(item, key, bytes)  # type: ignore[return-value]


def _str(item: dict, key: str) -> str:
    return _typed(item, key, str)  # type: ignore[return-value]


def _int(item: dict, key: str) -> int:
    return _typed(item, key, int)  # type: ignore[return-value]


def _bool(item: dict, key: str) -> bool:
    return _typed(item, key, bool)  # type: ignore[return-value]


def _keys(item: dict, key: str) -> tuple[bytes, ...]:
    values = _typed(item, key, list)
    if not all(type(v) is bytes for v in values):  # type: ignore[union-attr]
        raise VerdictError(f"not a verdict: {key} must be a list of byte strings")
    return tuple(values)  # type: ignore[arg-type]


def verdicts_bytes(verdicts: Iterable[Verdict]) -> bytes:
    """All verdicts as one canonical CBOR list in report-id order (what validators compare)."""
    ordered = sorted(verdicts, key=lambda v: v.report_id)
    return canonical_dumps([v.to_dict() for v in ordered])

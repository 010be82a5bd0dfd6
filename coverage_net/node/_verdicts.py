"""Verdicts in and out of the store: the glue between `poc.Verdict` and `store.VerdictRow`.

The store stands below ``poc`` and keeps a verdict as its canonical bytes plus plain
columns; this layer, which may import both, converts between the two. The columns
are always derived from the verdict itself, so they cannot disagree with its body.
"""

from __future__ import annotations

from collections.abc import Iterable

from coverage_net.poc import Verdict, VerdictError
from coverage_net.store import MessageStore, VerdictNotFoundError, VerdictRow

__all__ = ["load_verdict", "save_verdicts", "verdict_from_row", "verdict_row"]


def verdict_row(verdict: Verdict) -> VerdictRow:
    """The stored form of `verdict`: its canonical encoding and its lookup columns."""
    return VerdictRow(
        report_id=verdict.report_id, challenge_id=verdict.challenge_id, epoch=verdict.epoch,
        report_type=verdict.report_type, hotspot_key=verdict.hotspot_key, valid=verdict.valid,
        reason=str(verdict.reason), rewarded=verdict.rewarded, body=verdict.to_cbor())


def _columns(v: Verdict | VerdictRow) -> tuple[object, ...]:
    return (v.report_id, v.challenge_id, v.epoch, v.report_type, v.hotspot_key, v.valid,
            str(v.reason), v.rewarded)


def verdict_from_row(row: VerdictRow) -> Verdict:
    """Decode a stored verdict, refusing one whose columns do not match its body.

    `Verdict.from_cbor` already refuses a body that is not canonical, so the body is
    the verdict's own encoding; only the columns are compared (not re-encoded)."""
    verdict = Verdict.from_cbor(row.body)
    if _columns(verdict) != _columns(row):
        raise VerdictError(
            f"the stored verdict of report {row.report_id.hex()} does not match its indexed "
            "columns (the store was written by other code or altered)")
    return verdict


def save_verdicts(store: MessageStore, verdicts: Iterable[Verdict]) -> int:
    """Store verdicts in one transaction, replacing earlier verdicts of the same reports."""
    return store.put_verdicts([verdict_row(v) for v in verdicts])


def load_verdict(store: MessageStore, report_id: bytes | str) -> Verdict:
    """The stored verdict of a report, by content id (bytes) or by hex id or unique prefix.

    Raises `store.VerdictNotFoundError` when there is none, `store.AmbiguousReportIdError`
    when a prefix matches several, `poc.VerdictError` when the stored bytes are damaged.
    """
    if isinstance(report_id, str):
        row = store.verdict_row_by_prefix(report_id)
    else:
        found = store.verdict_row(report_id)
        if found is None:
            raise VerdictNotFoundError(bytes(report_id).hex(), str(store.path))
        row = found
    return verdict_from_row(row)

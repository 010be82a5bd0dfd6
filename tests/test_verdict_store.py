"""Verdicts in the store: round trip, replacement, id-prefix lookup, and the schema upgrade."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.node import load_verdict, save_verdicts, verdict_from_row, verdict_row
from coverage_net.poc import Reason, Verdict, VerdictError
from coverage_net.store import (
    DEFAULT_FILENAME,
    MAX_VERDICT_BODY_BYTES,
    SCHEMA_VERSION,
    AmbiguousReportIdError,
    InvalidInputError,
    MessageStore,
    MessageTooLargeError,
    StoredMessage,
    StoreError,
    VerdictNotFoundError,
    VerdictRow,
    _schema,
    _store,
)

HOTSPOT_A = bytes(range(32))
HOTSPOT_B = bytes(range(1, 33))


def rid(n: int) -> bytes:
    return hashlib.sha256(b"report-%d" % n).digest()


def verdict(report_id: bytes, *, epoch: int = 7, hotspot: bytes = HOTSPOT_A,
            reason: Reason = Reason.VALID, rewarded: bool = False,
            rssi_centi_dbm: int = -9_700) -> Verdict:
    valid = reason is Reason.VALID
    return Verdict(
        report_id=report_id, report_type="witness_report",
        challenge_id=hashlib.sha256(b"challenge-%d" % epoch).digest(), epoch=epoch,
        hotspot_key=hotspot, valid=valid, reason=reason, rewarded=rewarded and valid,
        figures=(("distance_m", 12_345), ("margin_centi_sigma", 345),
                 ("measured_rssi_centi_dbm", rssi_centi_dbm)),
        neighbours_heard=(HOTSPOT_B,), neighbours_silent=(bytes(32),))


def test_verdicts_round_trip_through_a_reopened_store(tmp_path):
    verdicts = [verdict(rid(0), rewarded=True), verdict(rid(1), reason=Reason.RSSI_TOO_STRONG),
                verdict(rid(2), epoch=8), verdict(rid(3), epoch=8, hotspot=HOTSPOT_B)]
    with MessageStore.open(tmp_path) as store:
        assert save_verdicts(store, verdicts) == 4
    with MessageStore.open(tmp_path) as store:
        for v in verdicts:
            assert load_verdict(store, v.report_id) == v
            assert load_verdict(store, v.report_id.hex()) == v
            assert load_verdict(store, v.report_id.hex()[:10].upper()) == v
            row = store.verdict_row(v.report_id)
            assert row == verdict_row(v) and row.body == v.to_cbor()
            assert type(row.valid) is bool and type(row.rewarded) is bool
        by_key = lambda vs: sorted(vs, key=lambda v: (v.epoch, v.report_id))  # noqa: E731
        assert [verdict_from_row(r) for r in store.verdict_rows(epoch=7)] == by_key(verdicts[:2])
        assert [verdict_from_row(r) for r in store.verdict_rows(hotspot_key=HOTSPOT_A)] == \
            by_key(verdicts[:3])
        assert [verdict_from_row(r) for r in store.verdict_rows(epoch=8, hotspot_key=HOTSPOT_B)] \
            == [verdicts[3]]
        assert [verdict_from_row(r) for r in store.verdict_rows()] == by_key(verdicts)
        assert store.verdict_rows(epoch=9) == []
        assert store.count() == 0  # verdicts are not messages


def test_a_recomputed_verdict_replaces_the_stored_one(tmp_path):
    first = verdict(rid(0), reason=Reason.NEIGHBOUR_INCONSISTENT)
    later = verdict(rid(0), rewarded=True, rssi_centi_dbm=-9_650)
    with MessageStore.open(tmp_path) as store:
        save_verdicts(store, [first, verdict(rid(1))])
        assert save_verdicts(store, [later]) == 1
        assert load_verdict(store, rid(0)) == later
        assert len(store.verdict_rows()) == 2
        # within one batch the last verdict of a report wins
        save_verdicts(store, [first, later, first])
        assert load_verdict(store, rid(0)) == first
        assert len(store.verdict_rows(epoch=7)) == 2


def test_put_verdicts_is_all_or_nothing(tmp_path):
    with MessageStore.open(tmp_path) as store:
        good = verdict_row(verdict(rid(0)))
        with pytest.raises(InvalidInputError, match="item 1 is a Verdict, not a VerdictRow"):
            store.put_verdicts([good, verdict(rid(1))])
        big = VerdictRow(rid(2), rid(3), 1, "witness_report", HOTSPOT_A, True, "valid", False,
                         b"x" * (MAX_VERDICT_BODY_BYTES + 1))
        with pytest.raises(MessageTooLargeError, match="verdict body"):
            store.put_verdicts([good, big])
        assert store.verdict_rows() == [] and store.put_verdicts([]) == 0


def test_the_table_checks_what_is_structural(tmp_path):
    with MessageStore.open(tmp_path) as store:
        conn = store._conn  # white-box: the CHECKs stand even if Python checks were bypassed
        insert = ("INSERT INTO verdicts VALUES (?, ?, 1, 'witness_report', ?, ?, 'x', ?, x'01')")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(insert, (rid(0), rid(1), HOTSPOT_A, 0, 1))  # rewarded but invalid
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute(insert, (rid(0)[:31], rid(1), HOTSPOT_A, 1, 0))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"report_id": b"short"}, "report_id must be 32 bytes"),
    ({"challenge_id": "ab" * 32}, "challenge_id must be bytes"),
    ({"epoch": -1}, "epoch must be in"),
    ({"report_type": ""}, "report_type must not be empty"),
    ({"hotspot_key": b""}, "hotspot_key must not be empty"),
    ({"valid": 2}, "valid must be a bool"),
    ({"valid": False}, "rewarded must be False"),
    ({"reason": None}, "reason must be a str"),
    ({"body": b""}, "body must not be empty"),
])
def test_verdict_row_checks_its_fields(kwargs, match):
    fields = dict(report_id=rid(0), challenge_id=rid(1), epoch=1, report_type="witness_report",
                  hotspot_key=HOTSPOT_A, valid=True, reason="valid", rewarded=True, body=b"x")
    with pytest.raises(InvalidInputError, match=match):
        VerdictRow(**{**fields, **kwargs})


def test_ambiguous_absent_and_malformed_prefixes(tmp_path):
    shared = bytes.fromhex("0123456789")
    ids = [shared + bytes([n]) * 27 for n in (1, 2)]
    with MessageStore.open(tmp_path) as store:
        save_verdicts(store, [verdict(i) for i in ids])
        with pytest.raises(AmbiguousReportIdError) as info:
            load_verdict(store, "01234567")
        assert info.value.matches == [i.hex() for i in ids]
        assert "give more hexadecimal characters" in str(info.value)
        assert load_verdict(store, "0123456789020").report_id == ids[1]
        with pytest.raises(VerdictNotFoundError, match=f"no verdict for report 0123456788 in "
                                                       f"message store {store.path}"):
            load_verdict(store, "0123456788")
        with pytest.raises(VerdictNotFoundError, match=rid(9).hex()):
            load_verdict(store, rid(9))
        for bad, match in [("0123456", "must be 8 to 64 hexadecimal characters"),
                           ("0" * 65, "got 65"), ("0123456x", "not hexadecimal"),
                           ("01234567 ", "not hexadecimal")]:
            with pytest.raises(InvalidInputError, match=match):
                store.verdict_row_by_prefix(bad)
        with pytest.raises(InvalidInputError, match="must be a hexadecimal str"):
            store.verdict_row_by_prefix(b"01234567")


def test_prefixes_at_the_top_of_the_id_space(tmp_path):
    top = [b"\xff" * 32, b"\xff" * 5 + b"\x00" * 27]
    with MessageStore.open(tmp_path) as store:
        save_verdicts(store, [verdict(i) for i in top])
        assert load_verdict(store, "ff" * 32).report_id == top[0]
        assert load_verdict(store, "ffffffffff0").report_id == top[1]
        with pytest.raises(AmbiguousReportIdError):
            load_verdict(store, "fffffffff")


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.tuples(st.sampled_from([b"\x00\x00\x00", b"\xab\xcd\xef", b"\xff\xff\xff"]),
                              st.binary(min_size=29, max_size=29)),
                    min_size=1, max_size=8, unique=True),
       pick=st.integers(min_value=0), length=st.integers(min_value=8, max_value=64),
       flip=st.booleans())
def test_prefix_lookup_agrees_with_a_scan(ids, pick, length, flip):
    report_ids = sorted({head + tail for head, tail in ids})
    prefix = report_ids[pick % len(report_ids)].hex()[:length]
    if flip:  # a prefix that may match nothing
        prefix = prefix[:-1] + "0123456789abcdef"[(int(prefix[-1], 16) + 1) % 16]
    matches = [i for i in report_ids if i.hex().startswith(prefix)]
    with tempfile.TemporaryDirectory() as tmp, \
            MessageStore.open(tmp, durability="process_crash") as store:
        save_verdicts(store, [verdict(i) for i in report_ids])
        if len(matches) == 1:
            assert store.verdict_row_by_prefix(prefix).report_id == matches[0]
        elif not matches:
            with pytest.raises(VerdictNotFoundError):
                store.verdict_row_by_prefix(prefix)
        else:
            with pytest.raises(AmbiguousReportIdError) as info:
                store.verdict_row_by_prefix(prefix)
            assert info.value.matches == [m.hex() for m in matches[:3]]


def test_damaged_or_inconsistent_rows_are_refused(tmp_path):
    good = verdict_row(verdict(rid(0)))
    damaged = dataclasses.replace(good, body=b"\xa0")
    # another report's columns over this verdict's body
    mismatched = dataclasses.replace(good, report_id=rid(1))
    with MessageStore.open(tmp_path) as store:
        store.put_verdicts([damaged, mismatched])
        with pytest.raises(VerdictError, match="not a verdict"):
            load_verdict(store, rid(0))
        with pytest.raises(VerdictError, match="does not match its indexed columns"):
            load_verdict(store, rid(1))


def test_reading_tools_do_not_create_a_store(tmp_path):
    with pytest.raises(StoreError, match="there is no message store"):
        MessageStore.open(tmp_path / "nowhere", create=False)
    assert not (tmp_path / "nowhere").exists()


def _version_2_store(path: Path, rows: list[StoredMessage]) -> None:
    """A store file as the version-2 code wrote it (no verdicts table), with ``rows``."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        _schema.migrate(conn, path, _schema.MIGRATIONS[:2])
        conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [_store._row(m) for m in rows])


def test_a_version_2_store_gains_the_verdicts_table_and_keeps_its_messages(tmp_path):
    assert SCHEMA_VERSION == 3
    path = tmp_path / DEFAULT_FILENAME
    rows = [StoredMessage(rid(100 + n), "witness", n % 2, "witness_report", b"m%d" % n, n)
            for n in range(6)]
    _version_2_store(path, rows)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    with MessageStore.open(tmp_path, create=False) as store:
        assert store.schema_version == 3
        assert [store.get(m.content_id) for m in rows] == rows
        save_verdicts(store, [verdict(rid(0)), verdict(rid(1), hotspot=HOTSPOT_B)])
        conn = store._conn  # white-box: the lookups are answered by the new indexes
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(verdicts)")}
        assert {"verdicts_by_epoch", "verdicts_by_hotspot_epoch"} <= indexes
        for where, index in [("epoch = 7", "verdicts_by_epoch"),
                             ("hotspot_key = x'00' AND epoch = 7", "verdicts_by_hotspot_epoch")]:
            plan = " ".join(str(r[-1]) for r in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT * FROM verdicts WHERE {where}"))
            assert index in plan, plan
    with MessageStore.open(tmp_path) as store:  # reopening migrates nothing more
        assert store.schema_version == 3 and store.count() == 6
        assert len(store.verdict_rows(epoch=7)) == 2

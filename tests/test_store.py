"""coverage_net.store: real SQLite files in tmp_path, including a kill -9 during a burst."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from coverage_net.store import (
    DEFAULT_FILENAME,
    MAX_DATA_BYTES,
    MAX_IDS_LIMIT,
    MAX_MSG_TYPE_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TOPIC_CHARS,
    SCHEMA_VERSION,
    InvalidInputError,
    MessageStore,
    MessageTooLargeError,
    MigrationError,
    NotAMessageStoreError,
    SchemaVersionError,
    StoreClosedError,
    StoreCorruptError,
    StoredMessage,
    StoreError,
    _schema,
    _store,
)

ROOT = Path(__file__).resolve().parents[1]


def cid(n: int) -> bytes:
    return hashlib.sha256(b"test-%d" % n).digest()


def message(n: int, *, topic: str = "witness", partition: int = 0, source: str | None = "peer-a",
            data: bytes | None = None) -> StoredMessage:
    return StoredMessage(content_id=cid(n), topic=topic, partition=partition,
                         msg_type="witness_report",
                         data=data if data is not None else b"encoded-%d" % n,
                         received_ms=1_000 + n, source=source)


def put(store: MessageStore, msg: StoredMessage) -> bool:
    return store.put(msg.content_id, msg.topic, msg.partition, msg.msg_type, msg.data,
                     received_ms=msg.received_ms, source=msg.source)


def raw_counts(path: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT content_id) FROM messages").fetchone()


# -- public surface -------------------------------------------------------------------------


def test_errors_share_the_base_and_bad_inputs_are_value_errors():
    for cls in (StoreClosedError, StoreCorruptError, SchemaVersionError, NotAMessageStoreError,
                MigrationError, InvalidInputError, MessageTooLargeError):
        assert issubclass(cls, StoreError)
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(MessageTooLargeError, InvalidInputError)


# -- put / get / duplicates -----------------------------------------------------------------

def test_put_then_get_round_trips(tmp_path):
    with MessageStore.open(tmp_path) as store:
        msg = message(1, partition=7, source=None)
        assert put(store, msg) is True
        assert store.get(msg.content_id) == msg
        assert msg.content_id in store
        assert cid(2) not in store
        assert store.get(cid(2)) is None
        assert store.count() == 1


def test_bytes_like_inputs_are_stored_as_bytes(tmp_path):
    with MessageStore.open(tmp_path) as store:
        store.put(bytearray(cid(1)), "t", 0, "m", memoryview(b"abc"), received_ms=0)
        got = store.get(memoryview(cid(1)))
        assert type(got.content_id) is bytes and type(got.data) is bytes
        assert got.data == b"abc"


def test_duplicate_put_returns_false_and_keeps_one_row_and_the_first_copy(tmp_path):
    with MessageStore.open(tmp_path) as store:
        first = message(1, source="peer-a")
        later = message(1, source="peer-b")
        assert put(store, first) is True
        assert put(store, later) is False
        assert put(store, first) is False
        assert store.count() == 1
        assert store.get(first.content_id).source == "peer-a"
    assert raw_counts(tmp_path / DEFAULT_FILENAME) == (1, 1)


def test_put_many_returns_the_new_ids_in_input_order(tmp_path):
    with MessageStore.open(tmp_path) as store:
        put(store, message(0))
        batch = [message(2), message(0), message(1), message(2), message(3)]
        assert store.put_many(batch) == [cid(2), cid(1), cid(3)]
        assert store.put_many(batch) == []
        assert store.put_many([]) == []
        assert store.put_many(message(n) for n in range(5, 2, -1)) == [cid(5), cid(4)]
        assert store.count() == 6


def test_put_many_is_all_or_nothing(tmp_path):
    with MessageStore.open(tmp_path) as store:
        with pytest.raises(InvalidInputError, match="item 1"):
            store.put_many([message(1), b"not a message", message(2)])
        too_big = message(3, data=b"x" * (MAX_DATA_BYTES + 1))
        with pytest.raises(MessageTooLargeError, match="data"):
            store.put_many([message(1), too_big])
        assert store.count() == 0
        assert not store._conn.in_transaction  # white-box: nothing left open


def test_reopen_persists(tmp_path):
    with MessageStore.open(tmp_path / "node" / "data") as store:
        store.put_many(message(n, partition=n % 3) for n in range(20))
        path = store.path
    assert path == tmp_path / "node" / "data" / DEFAULT_FILENAME
    with MessageStore.open(tmp_path / "node" / "data") as store:
        assert store.count() == 20
        assert store.get(cid(5)) == message(5, partition=2)
        assert store.schema_version == SCHEMA_VERSION
        assert put(store, message(5)) is False


def test_custom_filename_and_bad_filename(tmp_path):
    with MessageStore.open(str(tmp_path), filename="other.db") as store:
        assert store.path == tmp_path / "other.db"
    for bad in ("sub/x.db", "", "..", 3):
        with pytest.raises(InvalidInputError, match="filename"):
            MessageStore.open(tmp_path, filename=bad)


def test_data_dir_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(StoreError, match="data directory"):
        MessageStore.open(blocker)


# -- queries for sync -----------------------------------------------------------------------

@pytest.fixture
def populated(tmp_path):
    """Topics a and b, partitions 0..4, 10 messages each: n = 100 * topic + 10 * partition + i."""
    store = MessageStore.open(tmp_path)
    store.put_many(message(100 * t + 10 * e + i, topic="ab"[t], partition=e)
                   for t in range(2) for e in range(5) for i in range(10))
    yield store
    store.close()


def expected_ids(topic: int, partitions: range) -> list[bytes]:
    return sorted(cid(100 * topic + 10 * e + i) for e in partitions for i in range(10))


@pytest.mark.parametrize(("lo", "hi"), [(0, 0), (1, 3), (0, 4), (4, 9), (6, 9)])
def test_ids_returns_the_sorted_inclusive_range_of_one_topic(populated, lo, hi):
    got = populated.ids(topic="b", partition_from=lo, partition_to=hi)
    assert got == expected_ids(1, range(lo, min(hi, 4) + 1))


@pytest.mark.parametrize("limit", [1, 3, 7, 10, 49, 50, 51])
def test_ids_pages_with_after(populated, limit):
    pages, after = [], None
    while True:
        page = populated.ids(topic="a", partition_from=1, partition_to=5, after=after, limit=limit)
        if not page:
            break
        assert len(page) <= limit
        pages.append(page)
        after = page[-1]
    flat = [i for page in pages for i in page]
    assert flat == expected_ids(0, range(1, 5))
    assert len(pages) == -(-40 // limit)


def test_ids_of_an_unknown_topic_or_after_the_last_id_is_empty(populated):
    assert populated.ids(topic="c", partition_from=0, partition_to=4) == []
    assert populated.ids(topic="a", partition_from=0, partition_to=4, after=b"\xff" * 32) == []


def test_missing_keeps_order_and_drops_repeats(populated):
    asked = [cid(999), cid(0), cid(998), cid(999), cid(149)]
    assert populated.missing(asked) == [cid(999), cid(998)]
    assert populated.missing([]) == []
    assert populated.missing(iter([cid(1)])) == []


def test_missing_handles_more_ids_than_one_query_takes(populated):
    stored = {100 * t + 10 * e + i for t in range(2) for e in range(5) for i in range(10)}
    asked = [cid(n) for n in range(-1_200, 150)]
    assert populated.missing(asked) == [cid(n) for n in range(-1_200, 150) if n not in stored]


def test_count_by_topic_and_partition(populated):
    assert populated.count() == 100
    assert populated.count(topic="a") == 50
    assert populated.count(partition=3) == 20
    assert populated.count(topic="b", partition=3) == 10
    assert populated.count(topic="b", partition=9) == 0


@pytest.mark.parametrize("batch", [1, 3, 256])
def test_range_yields_messages_by_partition_then_id(populated, monkeypatch, batch):
    monkeypatch.setattr(_store, "_RANGE_BATCH", batch)
    expected = [message(10 * e + i, topic="a", partition=e) for e in range(1, 4) for i in range(10)]
    expected.sort(key=lambda m: (m.partition, m.content_id))
    assert list(populated.range(topic="a", partition_from=1, partition_to=3)) == expected


def test_range_allows_writes_while_iterating(populated, monkeypatch):
    monkeypatch.setattr(_store, "_RANGE_BATCH", 4)
    seen = []
    for m in populated.range(topic="a", partition_from=0, partition_to=0):
        seen.append(m.content_id)
        put(populated, message(5_000 + len(seen), topic="a", partition=1))
    assert len(seen) == 10
    assert populated.count(topic="a", partition=1) == 20


# -- durability settings and schema ---------------------------------------------------------

def test_wal_full_sync_and_foreign_keys_are_set(tmp_path):
    with MessageStore.open(tmp_path) as store:
        conn = store._conn  # white-box: synchronous and foreign_keys are per connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        put(store, message(1))
        assert (tmp_path / f"{DEFAULT_FILENAME}-wal").exists()
    with closing(sqlite3.connect(tmp_path / DEFAULT_FILENAME)) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent
        assert other.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert other.execute("PRAGMA application_id").fetchone()[0] == _schema.APPLICATION_ID


def test_sync_index_exists_and_is_used(tmp_path):
    with MessageStore.open(tmp_path) as store:
        conn = store._conn
        cols = [r[2] for r in conn.execute("PRAGMA index_info(messages_by_topic_partition)")]
        assert cols == ["topic", "partition", "content_id"]
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT content_id FROM messages WHERE topic = ? AND partition "
            "BETWEEN ? AND ? AND content_id > ? ORDER BY content_id LIMIT ?",
            ("t", 1, 1, b"", 5)))
        assert "COVERING INDEX messages_by_topic_partition" in plan


def test_newer_schema_is_refused_with_both_versions_and_left_untouched(tmp_path):
    path = tmp_path / DEFAULT_FILENAME
    with MessageStore.open(tmp_path) as store:
        put(store, message(1))
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(SchemaVersionError) as info:
        MessageStore.open(tmp_path)
    err = info.value
    assert (err.found, err.supported, err.path) == (SCHEMA_VERSION + 1, SCHEMA_VERSION, path)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(err)
    assert f"up to {SCHEMA_VERSION}" in str(err)
    assert str(path) in str(err)
    assert path.read_bytes() == before


def _corrupt_all(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(path.stat().st_size))


def _truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _garbage_pages(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(2 * 4096)
        f.write(random.Random(2).randbytes(size - 3 * 4096))


@pytest.mark.parametrize("damage", [_corrupt_all, _truncate_half, _garbage_pages])
def test_corrupt_file_is_refused_and_named(tmp_path, damage):
    path = tmp_path / DEFAULT_FILENAME
    with MessageStore.open(tmp_path) as store:
        store.put_many(message(n, data=bytes(600)) for n in range(300))
    assert path.stat().st_size > 10 * 4096
    damage(path)
    with pytest.raises(StoreCorruptError) as info:
        MessageStore.open(tmp_path)
    assert info.value.path == path
    assert str(path) in str(info.value)


@pytest.mark.parametrize("setup", [
    "CREATE TABLE other (x INTEGER)",
    "PRAGMA application_id = 1234",
    "PRAGMA user_version = 1",
])
def test_a_database_that_is_not_a_store_is_refused(tmp_path, setup):
    path = tmp_path / DEFAULT_FILENAME
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(setup)
    with pytest.raises(NotAMessageStoreError, match="not a coverage-net message store"):
        MessageStore.open(tmp_path)


def test_migration_versions_must_be_consecutive():
    assert _schema.latest_version(_schema.MIGRATIONS) == SCHEMA_VERSION
    with pytest.raises(ValueError, match="1, 2, 3"):
        _schema.latest_version([_schema.Migration(1, ()), _schema.Migration(3, ())])


def _version_1_store(path: Path, rows: list[StoredMessage]) -> None:
    """A store file as the version-1 code wrote it (column ``epoch``), with ``rows``."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        _schema.migrate(conn, path, _schema.MIGRATIONS[:1])
        conn.executemany(
            "INSERT INTO messages (content_id, topic, epoch, msg_type, data, received_ms, "
            "source) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(m.content_id, m.topic, m.partition, m.msg_type, m.data, m.received_ms, m.source)
             for m in rows])


def test_a_version_1_store_upgrades_in_place(tmp_path):
    path = tmp_path / DEFAULT_FILENAME
    rows = [message(n, topic="ab"[n % 2], partition=n % 3) for n in range(12)]
    _version_1_store(path, rows)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    with MessageStore.open(tmp_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.count() == 12
        assert [store.get(m.content_id) for m in rows] == rows
        assert store.partition_digests(topic="a", partition_from=0, partition_to=2) == {
            p: _digest(sorted(m.content_id for m in rows if m.topic == "a" and m.partition == p))
            for p in range(3)}
        assert store.put_many([message(100, topic="a", partition=5)]) == [cid(100)]
        conn = store._conn  # white-box: the renamed column, its CHECK and the new index
        columns = [r[1] for r in conn.execute("PRAGMA table_info(messages)")]
        assert "partition" in columns and "epoch" not in columns
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(messages)")}
        assert "messages_by_topic_partition" in indexes
        assert "messages_by_topic_epoch" not in indexes
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("INSERT INTO messages VALUES (?, 't', -1, 'x', x'01', 0, NULL)",
                         (cid(200),))
    with MessageStore.open(tmp_path) as store:  # reopening migrates nothing more
        assert store.schema_version == SCHEMA_VERSION and store.count() == 13


def test_a_later_migration_is_applied_in_order_on_open(tmp_path, monkeypatch):
    with MessageStore.open(tmp_path) as store:
        put(store, message(1))
    extra = _schema.Migration(SCHEMA_VERSION + 1, (
        "CREATE TABLE peers (peer_id TEXT PRIMARY KEY)",
        "INSERT INTO peers SELECT DISTINCT source FROM messages WHERE source IS NOT NULL",
    ))
    monkeypatch.setattr(_schema, "MIGRATIONS", (*_schema.MIGRATIONS, extra))
    with MessageStore.open(tmp_path) as store:
        assert store.schema_version == SCHEMA_VERSION + 1
        assert store._conn.execute("SELECT peer_id FROM peers").fetchall() == [("peer-a",)]
        assert store.get(cid(1)) == message(1)


def test_a_failed_migration_is_rolled_back(tmp_path, monkeypatch):
    path = tmp_path / DEFAULT_FILENAME
    with MessageStore.open(tmp_path) as store:
        put(store, message(1))
    broken = _schema.Migration(SCHEMA_VERSION + 1, (
        "CREATE TABLE half_done (x INTEGER)",
        "CREATE TABLE messages (x INTEGER)",  # already exists: fails
    ))
    monkeypatch.setattr(_schema, "MIGRATIONS", (*_schema.MIGRATIONS, broken))
    with pytest.raises(MigrationError) as info:
        MessageStore.open(tmp_path)
    assert info.value.version == SCHEMA_VERSION + 1
    assert "already exists" in str(info.value)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "half_done" not in names
    monkeypatch.undo()
    with MessageStore.open(tmp_path) as store:
        assert store.count() == 1


# -- bad inputs and misuse ------------------------------------------------------------------

VALID = dict(content_id=cid(1), topic="witness", partition=3, msg_type="witness_report",
             data=b"x", received_ms=5, source="peer")


@pytest.mark.parametrize(("field", "value", "error"), [
    ("content_id", b"\x00" * 31, InvalidInputError),
    ("content_id", b"\x00" * 33, InvalidInputError),
    ("content_id", "00" * 32, InvalidInputError),
    ("content_id", None, InvalidInputError),
    ("topic", "", InvalidInputError),
    ("topic", b"witness", InvalidInputError),
    ("topic", "wit\x00ness", InvalidInputError),
    ("topic", "\ud800", InvalidInputError),
    ("topic", "t" * (MAX_TOPIC_CHARS + 1), MessageTooLargeError),
    ("partition", -1, InvalidInputError),
    ("partition", 2**63, InvalidInputError),
    ("partition", 1.0, InvalidInputError),
    ("partition", True, InvalidInputError),
    ("msg_type", "", InvalidInputError),
    ("msg_type", "m" * (MAX_MSG_TYPE_CHARS + 1), MessageTooLargeError),
    ("data", b"", InvalidInputError),
    ("data", "text", InvalidInputError),
    ("data", b"x" * (MAX_DATA_BYTES + 1), MessageTooLargeError),
    ("received_ms", -1, InvalidInputError),
    ("received_ms", None, InvalidInputError),
    ("source", "", InvalidInputError),
    ("source", 7, InvalidInputError),
    ("source", "s" * (MAX_SOURCE_CHARS + 1), MessageTooLargeError),
])
def test_bad_inputs_are_refused_and_nothing_is_stored(tmp_path, field, value, error):
    kwargs = {**VALID, field: value}
    with MessageStore.open(tmp_path) as store:
        with pytest.raises(error, match=field):
            store.put(kwargs.pop("content_id"), kwargs.pop("topic"), kwargs.pop("partition"),
                      kwargs.pop("msg_type"), kwargs.pop("data"), **kwargs)
        assert store.count() == 0


def test_limits_are_inclusive(tmp_path):
    with MessageStore.open(tmp_path) as store:
        assert store.put(cid(1), "t" * MAX_TOPIC_CHARS, 2**63 - 1, "m" * MAX_MSG_TYPE_CHARS,
                         b"x" * MAX_DATA_BYTES, received_ms=0, source="s" * MAX_SOURCE_CHARS)
        assert store.get(cid(1)).partition == 2**63 - 1


def test_stored_message_checks_its_fields():
    with pytest.raises(InvalidInputError, match="partition"):
        StoredMessage(cid(1), "t", -1, "m", b"x", 0)
    assert "data" not in repr(message(1))  # encoded payloads can be a MiB


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(partition_from=3, partition_to=2), "partition_from"),
    (dict(partition_from=-1, partition_to=2), "partition_from"),
    (dict(partition_from=0, partition_to=2, limit=0), "limit"),
    (dict(partition_from=0, partition_to=2, limit=MAX_IDS_LIMIT + 1), "limit"),
    (dict(partition_from=0, partition_to=2, after=b"short"), "after"),
    (dict(topic="", partition_from=0, partition_to=2), "topic"),
])
def test_bad_queries_are_refused(tmp_path, kwargs, match):
    with MessageStore.open(tmp_path) as store:
        with pytest.raises(InvalidInputError, match=match):
            store.ids(**{"topic": "t", **kwargs})
        if "limit" not in kwargs and "after" not in kwargs:
            with pytest.raises(InvalidInputError, match=match):
                store.range(**{"topic": "t", **kwargs})
        with pytest.raises(InvalidInputError, match="content_id"):
            store.missing([cid(1), b"short"])
        with pytest.raises(InvalidInputError, match="content_id"):
            b"short" in store  # noqa: B015 - the lookup is what raises
        with pytest.raises(InvalidInputError, match="partition"):
            store.count(partition=-1)


def test_closed_store_raises_and_close_is_idempotent(tmp_path):
    store = MessageStore.open(tmp_path)
    store.close()
    store.close()
    assert "closed" in repr(store)
    for call in (lambda: put(store, message(1)), lambda: store.get(cid(1)),
                 lambda: store.count(), lambda: store.schema_version,
                 lambda: list(store.range(topic="t", partition_from=0, partition_to=0))):
        with pytest.raises(StoreClosedError, match="closed"):
            call()


def test_the_store_refuses_other_threads(tmp_path):
    errors: list[BaseException] = []

    def use(store: MessageStore) -> None:
        try:
            store.count()
        except BaseException as exc:  # handed back to the test thread
            errors.append(exc)

    with MessageStore.open(tmp_path) as store:
        worker = threading.Thread(target=use, args=(store,))
        worker.start()
        worker.join()
        assert len(errors) == 1
        assert isinstance(errors[0], StoreError) and "thread" in str(errors[0])
        assert store.count() == 0


def test_processes_or_threads_may_open_a_new_store_at_once(tmp_path):
    """Each thread opens its own store (its own connection) on the same fresh file."""
    for round_ in range(20):
        data_dir = tmp_path / str(round_)
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def open_and_put(n: int, data_dir: Path = data_dir,
                         start: threading.Barrier = start,
                         errors: list[BaseException] = errors) -> None:
            start.wait()
            try:
                with MessageStore.open(data_dir) as store:
                    put(store, message(n))
            except BaseException as exc:  # handed back to the test thread
                errors.append(exc)

        workers = [threading.Thread(target=open_and_put, args=(n,)) for n in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        with MessageStore.open(data_dir) as store:
            assert store.count() == 6
            assert store.schema_version == SCHEMA_VERSION


# -- properties -----------------------------------------------------------------------------

@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.integers(0, 25), min_size=1, max_size=6), max_size=25))
def test_random_puts_store_each_id_once(tmp_path_factory, batches):
    seen: set[int] = set()
    with MessageStore.open(tmp_path_factory.mktemp("hyp")) as store:
        for batch in batches:
            new = set(batch) - seen
            msgs = [message(n, partition=n % 4) for n in batch]
            if len(batch) == 1:
                assert put(store, msgs[0]) is bool(new)
            else:
                assert store.put_many(msgs) == [cid(n) for n in dict.fromkeys(batch) if n in new]
            seen |= new
        assert store.count() == len(seen)
        assert store._conn.execute(
            "SELECT COUNT(DISTINCT content_id) FROM messages").fetchone()[0] == len(seen)
        assert store.ids(topic="witness", partition_from=0, partition_to=3) == sorted(
            cid(n) for n in seen)
        assert store.missing(cid(n) for n in range(26)) == [
            cid(n) for n in range(26) if n not in seen]


class StoreMachine(RuleBasedStateMachine):
    """The store against a dict, across puts, batches, pagination and reopening."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile
        self.tmp = tempfile.TemporaryDirectory()
        self.store = MessageStore.open(self.tmp.name)
        self.model: dict[bytes, StoredMessage] = {}

    ids = st.integers(0, 40)

    @rule(n=ids, partition=st.integers(0, 3))
    def put_one(self, n, partition):
        msg = message(n, partition=partition)
        assert put(self.store, msg) is (msg.content_id not in self.model)
        self.model.setdefault(msg.content_id, msg)

    @rule(ns=st.lists(ids, max_size=8), partition=st.integers(0, 3))
    def put_batch(self, ns, partition):
        msgs = [message(n, partition=partition) for n in ns]
        new = {m.content_id for m in msgs} - self.model.keys()
        new_ids = self.store.put_many(msgs)
        assert new_ids == [c for c in dict.fromkeys(m.content_id for m in msgs) if c in new]
        for m in msgs:
            self.model.setdefault(m.content_id, m)

    @rule()
    def reopen(self):
        self.store.close()
        self.store = MessageStore.open(self.tmp.name)

    @precondition(lambda self: self.model)
    @rule(limit=st.integers(1, 7), lo=st.integers(0, 3), width=st.integers(0, 3))
    def paginate(self, limit, lo, width):
        pages, after = [], None
        while page := self.store.ids(topic="witness", partition_from=lo, partition_to=lo + width,
                                     after=after, limit=limit):
            pages.extend(page)
            after = page[-1]
        assert pages == sorted(c for c, m in self.model.items() if lo <= m.partition <= lo + width)

    @invariant()
    def same_contents(self):
        assert self.store.count() == len(self.model)
        got = list(self.store.range(topic="witness", partition_from=0, partition_to=3))
        assert got == sorted(self.model.values(), key=lambda m: (m.partition, m.content_id))

    def teardown(self):
        self.store.close()
        self.tmp.cleanup()


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(max_examples=15, stateful_step_count=15, deadline=None)


# -- crash safety ---------------------------------------------------------------------------

# Puts a stream of messages, re-putting older ones as it goes, and prints each content id
# once put() / put_many() has returned: a printed id is an acknowledged, durable message.
CRASH_WRITER = r"""
import hashlib, sys
from coverage_net.store import MessageStore, StoredMessage

data_dir, mode, start = sys.argv[1], sys.argv[2], int(sys.argv[3])

def message(n):
    return StoredMessage(hashlib.sha256(b"crash-%d" % n).digest(), "witness", n // 50,
                         "witness_report", b"%d;" % n * (1 + n % 300), received_ms=n,
                         source="peer-%d" % (n % 7))

def ack(msgs):
    sys.stdout.write("".join(m.content_id.hex() + "\n" for m in msgs))
    sys.stdout.flush()

with MessageStore.open(data_dir) as store:
    n = start
    while True:
        if mode == "put":
            for m in (message(n), message(n // 2)):
                store.put(m.content_id, m.topic, m.partition, m.msg_type, m.data,
                          received_ms=m.received_ms, source=m.source)
            ack([message(n)])
            n += 1
        else:
            batch = [message(k) for k in range(n, n + 8)] + [message(n // 2)]
            store.put_many(batch)
            ack(batch)
            n += 8
"""

_CRASH_IDS = {hashlib.sha256(b"crash-%d" % n).digest(): n for n in range(20_000)}


def _run_writer_and_kill(data_dir: Path, mode: str, start: int, acks: int,
                         stderr_path: Path) -> list[bytes]:
    """Start the writer, SIGKILL it once it has acknowledged `acks` ids; return all acked."""
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", CRASH_WRITER, str(data_dir), mode, str(start)],
            stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT)
    # A watchdog, not an assertion: a hung writer ends the test instead of the run.
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    acked: list[bytes] = []
    try:
        for line in proc.stdout:
            if not line.endswith(b"\n"):
                break
            acked.append(bytes.fromhex(line.decode()))
            if len(acked) >= acks:
                break
        os.kill(proc.pid, signal.SIGKILL)
        # Lines already in the pipe were printed after their put returned: acked too.
        *complete, _partial = proc.stdout.read().split(b"\n")
        acked.extend(bytes.fromhex(line.decode()) for line in complete)
        returncode = proc.wait()
    finally:
        watchdog.cancel()
        proc.stdout.close()
    assert len(acked) >= acks, stderr_path.read_text()
    assert returncode == -signal.SIGKILL, stderr_path.read_text()
    return acked


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("mode", ["put", "put_many"])
def test_kill_9_during_a_burst_loses_nothing_acknowledged(tmp_path, mode):
    data_dir = tmp_path / "data"
    path = data_dir / DEFAULT_FILENAME
    acked: set[bytes] = set()
    for round_ in range(3):
        # Each run starts inside the previous run's ids, so it also re-puts stored ones.
        acked |= set(_run_writer_and_kill(data_dir, mode, 150 * round_, 300,
                                          tmp_path / f"stderr-{round_}.txt"))
        # The file as the crash left it, through a plain connection (WAL recovery only).
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            total, distinct = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT content_id) FROM messages").fetchone()
            assert total == distinct
        with MessageStore.open(data_dir) as store:
            assert store.missing(acked) == []
            assert store.count() == total >= len(acked)
            for msg in store.range(topic="witness", partition_from=0, partition_to=10**6):
                n = _CRASH_IDS[msg.content_id]  # only messages the writer made
                assert (msg.partition, msg.received_ms, msg.data) == (
                    n // 50, n, b"%d;" % n * (1 + n % 300))


# -- partition digests for sync -------------------------------------------------------------

def _digest(ids: list[bytes]) -> tuple[int, bytes]:
    return len(ids), hashlib.sha256(b"".join(sorted(ids))).digest()


def test_partition_digests_of_an_empty_store_or_range_is_empty(tmp_path, populated):
    with MessageStore.open(tmp_path / "empty") as store:
        assert store.partition_digests(topic="a", partition_from=0, partition_to=2**63 - 1) == {}
    assert populated.partition_digests(topic="a", partition_from=5, partition_to=9) == {}
    assert populated.partition_digests(topic="c", partition_from=0, partition_to=4) == {}


@pytest.mark.parametrize(("lo", "hi"), [(0, 0), (1, 3), (0, 4), (4, 9), (3, 3)])
def test_partition_digests_cover_the_inclusive_range_of_one_topic(populated, lo, hi):
    got = populated.partition_digests(topic="b", partition_from=lo, partition_to=hi)
    partitions = range(lo, min(hi, 4) + 1)
    assert got == {e: _digest(expected_ids(1, range(e, e + 1))) for e in partitions}
    # the same digest a peer computes from the ids it was sent
    for e in partitions:
        assert got[e] == _digest(populated.ids(topic="b", partition_from=e, partition_to=e))


def test_partition_digests_ignore_insertion_order_and_other_topics(tmp_path):
    msgs = [message(n, topic="t", partition=n % 3) for n in range(30)]
    shuffled = msgs[:]
    random.Random(7).shuffle(shuffled)
    with MessageStore.open(tmp_path / "one") as one, MessageStore.open(tmp_path / "two") as two:
        one.put_many(msgs)
        for m in shuffled:
            put(two, m)
        put(two, message(999, topic="other", partition=1))  # another topic: not counted
        first = one.partition_digests(topic="t", partition_from=0, partition_to=10)
        assert first == two.partition_digests(topic="t", partition_from=0, partition_to=10)
        assert sorted(first) == [0, 1, 2]
        assert [first[e][0] for e in range(3)] == [10, 10, 10]


def test_one_extra_message_changes_only_its_partitions_entry(tmp_path):
    with MessageStore.open(tmp_path / "one") as one, MessageStore.open(tmp_path / "two") as two:
        for store in (one, two):
            store.put_many(message(n, topic="t", partition=n % 4) for n in range(40))
        put(two, message(1_000, topic="t", partition=2))
        a = one.partition_digests(topic="t", partition_from=0, partition_to=3)
        b = two.partition_digests(topic="t", partition_from=0, partition_to=3)
        assert [e for e in range(4) if a[e] != b[e]] == [2]
        assert (a[2][0], b[2][0]) == (10, 11)
        assert a[2][1] != b[2][1]
        # a swapped id with the same count still shows up
        put(one, message(1_001, topic="t", partition=2))
        a = one.partition_digests(topic="t", partition_from=2, partition_to=2)
        b = two.partition_digests(topic="t", partition_from=2, partition_to=2)
        assert a[2][0] == b[2][0] == 11 and a[2][1] != b[2][1]


def test_partition_digests_read_the_covering_index_without_sorting(populated):
    statements: list[str] = []
    populated._conn.set_trace_callback(statements.append)  # white-box: the query it ran
    try:
        populated.partition_digests(topic="a", partition_from=1, partition_to=3)
    finally:
        populated._conn.set_trace_callback(None)
    (query,) = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    plan = " ".join(r[3] for r in populated._conn.execute(f"EXPLAIN QUERY PLAN {query}"))
    assert "COVERING INDEX messages_by_topic_partition" in plan
    assert "TEMP B-TREE" not in plan


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(partition_from=3, partition_to=2), "partition_from"),
    (dict(partition_from=-1, partition_to=2), "partition_from"),
    (dict(partition_from=0, partition_to=2**63), "partition_to"),
    (dict(partition_from=0, partition_to=True), "partition_to"),
    (dict(partition_from=0.0, partition_to=2), "partition_from"),
    (dict(topic="", partition_from=0, partition_to=2), "topic"),
    (dict(topic=b"t", partition_from=0, partition_to=2), "topic"),
])
def test_partition_digests_refuse_bad_queries_like_ids(tmp_path, kwargs, match):
    with MessageStore.open(tmp_path) as store:
        args = {"topic": "t", **kwargs}
        with pytest.raises(InvalidInputError, match=match):
            store.ids(**args)
        with pytest.raises(InvalidInputError, match=match):
            store.partition_digests(**args)


def test_partitions_lists_the_partitions_of_a_topic_from_a_start(populated):
    assert populated.partitions(topic="a") == [0, 1, 2, 3, 4]
    assert populated.partitions(topic="b", since_partition=3) == [3, 4]
    assert populated.partitions(topic="b", since_partition=5) == []
    assert populated.partitions(topic="c") == []
    put(populated, message(9_999, topic="b", partition=2**63 - 1))
    assert populated.partitions(topic="b", since_partition=4) == [4, 2**63 - 1]
    with pytest.raises(InvalidInputError, match="since_partition"):
        populated.partitions(topic="a", since_partition=-1)
    with pytest.raises(InvalidInputError, match="topic"):
        populated.partitions(topic="")

"""The testnet's progress and results, read from the files the daemons write.

Status JSON in the daemons' format, a real message store with verdicts and a real
reward ledger with a booked manifest: the snapshot counts what a quorum finalized, the
rewards table sums the ledger per hotspot and pool, and the map holds the cells of
hotspots with valid reports only (never the liar's claimed cell).
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from h3.api import basic_int as h3
from rich.console import Console

from coverage_net.node.testnet import (
    MAP_RESOLUTION,
    ProgressDisplay,
    Supervisor,
    Testnet,
    TestnetTimeoutError,
    describe,
    plan_world,
    read_rewards,
    read_snapshot,
    write_coverage_map,
    write_testnet,
)
from coverage_net.rewards import Payout, RewardLedger, RewardManifest
from coverage_net.store import MessageStore, VerdictRow


def _layout(tmp_path):
    return write_testnet(tmp_path / "net", plan_world(6, seed=4), validators=4, epoch_s=20,
                         seed=4, genesis_time_ms=time.time_ns() // 1_000_000,
                         ports=[42_001, 42_002, 42_003, 42_004])


def _decided(layout, name, heights):
    status = {"decided": {str(h): {"round": 0, "block_id": "00" * 32, "latency_ms": 1000 + h}
                          for h in heights}}
    (layout.data_dir(name) / "validator.json").write_text(json.dumps(status))


def _verdict(layout, n, name, report_type, valid):
    return VerdictRow(hashlib.sha256(f"r{n}".encode()).digest(),
                      hashlib.sha256(f"c{n}".encode()).digest(), 0, report_type,
                      layout.keypair(name).public_key, valid, "valid" if valid else "too_far",
                      valid, b"body")


def test_snapshot_counts_heights_a_quorum_decided(tmp_path):
    layout = _layout(tmp_path)
    assert read_snapshot(layout).finalized == 0  # nothing written yet: not an error
    _decided(layout, "v0", [0, 1, 2])
    _decided(layout, "v1", [0, 1])
    _decided(layout, "v2", [0, 1])
    (layout.data_dir("v3") / "validator.json").write_text('{"decided": {')  # half-written
    (layout.data_dir("hs01") / "hotspot.json").write_text(json.dumps(
        {"poc": {"beacons_sent": 2, "witnesses_filed": 5, "refused": {}}}))
    snapshot = read_snapshot(layout)
    assert snapshot.finalized == 2  # height 2: one validator of the three a quorum needs
    assert snapshot.latencies_ms == (1000, 1001)
    assert snapshot.leader == "v0"
    assert (snapshot.hotspots_reporting, snapshot.beacons_sent,
            snapshot.witnesses_filed) == (1, 2, 5)
    assert "finality 1.0 s" in describe(snapshot, 6)


def test_verdicts_rewards_and_map_from_a_validators_files(tmp_path):
    layout = _layout(tmp_path)
    _decided(layout, "v1", [0])
    with MessageStore.open(layout.data_dir("v1")) as store:
        store.put_verdicts([_verdict(layout, 1, "hs01", "beacon_report", True),
                            _verdict(layout, 2, "hs02", "witness_report", True),
                            _verdict(layout, 3, "liar", "witness_report", False)])
    key = {name: layout.keypair(name).public_key.hex() for name in ("hs01", "hs02")}
    payouts = sorted([Payout(key["hs01"], beacon=300, beacons=1),
                      Payout(key["hs02"], witness=500, data=100, witnesses=1),
                      Payout("operations", share=100)], key=lambda p: p.account)
    with RewardLedger.open(layout.data_dir("v1")) as ledger:
        ledger.record(RewardManifest(0, b"\0" * 32, 1000, (), tuple(payouts)), {})
    snapshot = read_snapshot(layout)
    assert (snapshot.valid, snapshot.invalid) == (2, 1)
    rows = {row.name: row for row in read_rewards(layout, "v1")}
    assert (rows["hs01"].beacon, rows["hs01"].total, rows["hs01"].beacons) == (300, 300, 1)
    assert (rows["hs02"].witness, rows["hs02"].data, rows["hs02"].total) == (500, 100, 600)
    assert rows["far"].total == rows["liar"].total == 0 and rows["liar"].role == "liar"
    path = tmp_path / "map.geojson"
    assert write_coverage_map(layout, "v1", path) == 2
    features = json.loads(path.read_text())["features"]
    by_cell = {f["properties"]["cell"]: f["properties"] for f in features}
    for name in ("hs01", "hs02"):
        hotspot = next(h for h in layout.plan.hotspots if h.name == name)
        cell = h3.int_to_str(h3.cell_to_parent(hotspot.asserted_cell, MAP_RESOLUTION))
        assert name in by_cell[cell]["hotspots"]
    assert all("liar" not in p["hotspots"] for p in by_cell.values())
    ring = features[0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7


def test_plain_progress_prints_a_line_when_something_changes(tmp_path):
    layout = _layout(tmp_path)
    console = Console(file=(tmp_path / "out.txt").open("w"), force_terminal=False)
    with ProgressDisplay(console, epochs=3, hotspots=6) as display:
        display.update(read_snapshot(layout))
        display.update(read_snapshot(layout))  # unchanged: no second line
        _decided(layout, "v0", [0])
        _decided(layout, "v1", [0])
        _decided(layout, "v2", [0])
        display.update(read_snapshot(layout))
    console.file.close()
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert [line.split(" |")[0] for line in lines] == ["epochs finalized 0/3",
                                                       "epochs finalized 1/3"]


def test_a_network_that_finalizes_nothing_times_out_naming_what_is_missing(tmp_path):
    layout = _layout(tmp_path)
    with Supervisor() as supervisor:
        testnet = Testnet(layout, supervisor)
        supervisor.start(layout.process_specs()[0])  # the simulator alone: no validator
        supervisor.wait_for("sim", layout.manifest_path, timeout_s=3600)
        with pytest.raises(TestnetTimeoutError) as caught:
            testnet.wait_for_epochs(1, timeout_s=0.1)
        assert supervisor.running("sim")
        stopped = testnet.stop()
    message = str(caught.value)
    assert message.startswith("only 0 of 1 epochs were finalized within 0 s")
    assert "v0 no status yet" in message and "0 of 6 hotspots wrote a status" in message
    assert str(layout.log_dir) in message
    assert [(s.name, s.clean) for s in stopped] == [("sim", True)]
    assert not layout.manifest_path.exists()  # the simulator cleaned up its ports

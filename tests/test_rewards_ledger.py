"""The reward ledger on real SQLite files and the `coverage-net rewards` commands as processes:
booking, showing, the manifest's hash, and `rewards verify` naming a changed verdict, a
changed receipt and an altered payout."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from rewards_helpers import ROUTER, key, receipt, registry, round_verdicts, spread_cells, witness

from coverage_net.node import check_epoch, save_announcements, save_receipts, save_verdicts
from coverage_net.poc import params_from_dict
from coverage_net.rewards import (
    LEDGER_FILENAME,
    LedgerError,
    Payout,
    RewardLedger,
    RewardManifest,
    epoch_rewards,
)
from coverage_net.store import DEFAULT_FILENAME, MessageStore

CLI = Path(sys.executable).with_name("coverage-net")
PARAMS = {"epoch_length_ms": 1_800_000,
          "rewards": {"emission_per_epoch": 10**11, "routers": [ROUTER.public_key.hex()]}}


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True,
                          check=False, timeout=600)


def _epoch_verdicts(epoch: int):
    return (round_verdicts(epoch, 1, 0, [1, 2, 3, 4, 5])
            + round_verdicts(epoch, 2, 1, [0, 2])
            + round_verdicts(epoch, 3, 6, [7]))


@pytest.fixture
def node(tmp_path) -> Path:
    """A data directory: two epochs of verdicts, 8 announcements, receipts, parameters."""
    data = tmp_path / "node"
    reg = registry(spread_cells(8))
    with MessageStore.open(data) as store:
        save_announcements(store, reg.announcements, received_ms=1)
        for epoch in (0, 1):
            save_verdicts(store, _epoch_verdicts(epoch))
        save_receipts(store, [receipt(1, 1, 3), receipt(1, 2, 3), receipt(1, 3, 6)],
                      received_ms=1)
    (data / "network-params.json").write_text(json.dumps(params_from_dict(PARAMS).to_dict()))
    booked = _run("rewards", "compute", "--data", data, "--epochs", "0..1")
    assert booked.returncode == 0, booked.stderr
    assert re.search(r"epoch 1: booked, 1,000\.00000000 COV to \d+ hotspots", booked.stdout)
    return data


def _verify(data: Path, epoch: int = 1) -> subprocess.CompletedProcess:
    return _run("rewards", "verify", "--data", data, "--epoch", epoch)


def test_a_booked_epoch_verifies_and_books_once(node):
    out = _verify(node)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "epoch 1: matches" in out.stdout
    again = _run("rewards", "compute", "--data", node, "--epochs", "1")
    assert "epoch 1: already booked" in again.stdout
    with RewardLedger.open(node, create=False) as ledger:
        assert ledger.epochs() == [0, 1]
        manifests = [ledger.manifest(e) for e in (0, 1)]
        balances = ledger.balances()
    # balances are the sums of the booked payouts, and all the emission is booked
    expected: dict[str, int] = {}
    for m in manifests:
        for p in m.payouts:
            expected[p.account] = expected.get(p.account, 0) + p.total
    assert balances == {a: v for a, v in expected.items() if v}
    assert sum(balances.values()) == 2 * 10**11


def test_the_manifest_command_prints_what_the_ledger_and_a_recomputation_hold(node):
    out = _run("rewards", "manifest", "--data", node, "--epoch", 1)
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert list(printed) == sorted(printed)
    params = params_from_dict(PARAMS)
    with MessageStore.open(node, create=False) as store:
        from coverage_net.node import load_epoch_inputs
        inputs = load_epoch_inputs(store, params, 1)
    recomputed = epoch_rewards(params, 1, inputs.verdicts, inputs.registry, inputs.receipts,
                               inputs.last_witnessed)
    assert printed["sha256"] == recomputed.sha256().hex() \
        == hashlib.sha256(recomputed.to_cbor()).hexdigest()
    assert printed["payouts"] == [p.to_dict() for p in recomputed.payouts]
    hotspot = recomputed.payout(key(3).public_key.hex())
    assert hotspot.data_credits == 4 and hotspot.data > 0  # two 30-byte packets, 2 DC each


def test_verify_names_a_changed_verdict(node):
    changed = witness(1, 1, 2, valid=False)  # a valid witness of epoch 1, now refused
    with MessageStore.open(node) as store:
        save_verdicts(store, [changed])
    out = _verify(node)
    assert out.returncode == 1
    assert f"verdict {changed.report_id.hex()} changed since the epoch was booked" in out.stdout
    assert re.search(r"recomputed from the store: payout to [0-9a-f]{64}: \w+ expected "
                     r"[\d,]+, got [\d,]+", out.stdout), out.stdout
    assert _verify(node, 0).returncode == 0  # the other epoch is untouched


def test_verify_names_a_changed_receipt(node):
    original = receipt(1, 3, 6)
    swapped = receipt(1, 3, 6, payload_bytes=200)  # 9 DC instead of 2, signed by the router
    conn = sqlite3.connect(node / DEFAULT_FILENAME)
    with conn:
        updated = conn.execute("UPDATE messages SET data = ? WHERE content_id = ?",
                               (swapped.to_cbor(), original.content_id)).rowcount
    conn.close()
    assert updated == 1
    out = _verify(node)
    assert out.returncode == 1
    assert f"receipt {original.content_id.hex()} changed since the epoch was booked" in out.stdout
    # 7 more data credits take from the unused data pool: every share moves
    assert re.search(r"recomputed from the store: payout to [0-9a-f]{64}: \w+ expected", out.stdout)


def test_verify_names_an_altered_payout(node):
    account = key(0).public_key.hex()
    conn = sqlite3.connect(node / LEDGER_FILENAME)
    with conn:
        conn.execute("UPDATE payouts SET witness = witness + 1000 WHERE epoch = 1 AND account = ?",
                     (account,))
    conn.close()
    out = _verify(node)
    assert out.returncode == 1
    assert re.search(rf"ledger payout row of epoch 1 to {account}: witness [\d,]+ where the "
                     rf"manifest says [\d,]+", out.stdout), out.stdout


def test_a_tampered_manifest_is_refused(node):
    conn = sqlite3.connect(node / LEDGER_FILENAME)
    with conn:
        data = bytearray(conn.execute("SELECT manifest FROM epochs WHERE epoch = 1").fetchone()[0])
        data[-1] ^= 1
        conn.execute("UPDATE epochs SET manifest = ? WHERE epoch = 1", (bytes(data),))
    conn.close()
    out = _verify(node)
    assert out.returncode == 1 and out.stderr.startswith("error: ")
    assert "does not hash to its stored sha256" in out.stderr


def test_show_prints_the_epoch_and_the_hotspot(node):
    out = _run("rewards", "show", "--data", node, "--epoch", 1, "--json")
    rows = json.loads(out.stdout)
    assert sum(r["beacon"] + r["witness"] + r["data"] + r["share"] for r in rows) == 10**11
    table = _run("rewards", "show", "--data", node, "--epoch", 1)
    assert "1,000.00000000 COV" in table.stdout and "operations" in table.stdout
    prefix = key(0).public_key.hex()[:10]
    mine = _run("rewards", "show", "--data", node, "--hotspot", prefix)
    assert mine.returncode == 0, mine.stderr
    assert f"account {key(0).public_key.hex()}: balance" in mine.stdout
    assert _run("rewards", "show", "--data", node, "--hotspot", "abc").returncode == 1


def test_the_ledger_refuses_to_rewrite_an_epoch(tmp_path):
    reg = registry(spread_cells(8))
    params = params_from_dict(PARAMS)
    m = epoch_rewards(params, 0, _epoch_verdicts(0), reg)
    other = epoch_rewards(params, 0, _epoch_verdicts(0)[:4], reg)
    with RewardLedger.open(tmp_path) as ledger:
        assert ledger.record(m, {"verdict": {}}) is True
        assert ledger.record(m, {"verdict": {}}) is False
        with pytest.raises(LedgerError, match="epoch 0 is already booked"):
            ledger.record(other, {})
        assert ledger.manifest(0) == m
        with pytest.raises(LedgerError, match="epoch 5 is not booked"):
            ledger.manifest(5)


def test_a_file_that_is_not_a_ledger_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / LEDGER_FILENAME)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(LedgerError, match="not a coverage-net reward ledger"):
        RewardLedger.open(tmp_path)
    with pytest.raises(LedgerError, match="there is no reward ledger"):
        RewardLedger.open(tmp_path / "none", create=False)


def test_rewards_from_a_simulated_network(dem_dir, tmp_path):
    """End to end: `poc simulate --data` stores verdicts, announcements and parameters;
    `rewards compute` books every epoch; `rewards verify` recomputes one to the unit."""
    data = tmp_path / "sim"
    sim = _run("poc", "simulate", "--dem", dem_dir, "--hotspots", 40, "--beacons", 40,
               "--data", data, "-q")
    assert sim.returncode == 0, sim.stderr
    epochs = re.search(r"--epochs (0\.\.\d+)", sim.stdout).group(1)
    assert _run("rewards", "compute", "--data", data, "--epochs", epochs).returncode == 0
    last = int(epochs.split("..")[1])
    out = _verify(data, last)
    assert out.returncode == 0 and "matches" in out.stdout, out.stdout + out.stderr
    with RewardLedger.open(data, create=False) as ledger:
        paid = [ledger.manifest(e) for e in ledger.epochs()]
    earned = {p.account for m in paid for p in m.payouts
              if len(p.account) == 64 and p.beacon + p.witness > 0}
    assert len(earned) >= 10
    assert all(isinstance(m, RewardManifest) and m.payout("operations") != Payout("operations")
               for m in paid)


def test_verify_names_a_changed_beacon_history(node):
    """Epoch 0's only witness of hotspot 6's beacon is now refused: in epoch 1, hotspot 6
    no longer has a witnessed beacon before the epoch, which verify names."""
    with MessageStore.open(node) as store:
        save_verdicts(store, [witness(0, 3, 7, valid=False)])
    out = _verify(node)
    assert out.returncode == 1
    assert (f"beacon history of hotspot {key(6).public_key.hex()} was used for the epoch "
            "and is gone") in out.stdout


def test_a_killed_compute_loses_no_booked_epoch(tmp_path):
    """`rewards compute` killed (SIGKILL) while booking: every epoch it reported is booked
    whole and verifies; nothing half-booked; run again, it books the rest."""
    data = tmp_path / "node"
    reg = registry(spread_cells(8))
    epochs = 150  # past the 120-epoch (60 h) history window
    with MessageStore.open(data) as store:
        save_announcements(store, reg.announcements, received_ms=1)
        save_verdicts(store, [v for e in range(epochs) for v in _epoch_verdicts(e)])
    (data / "network-params.json").write_text(json.dumps(params_from_dict(PARAMS).to_dict()))
    proc = subprocess.Popen([str(CLI), "rewards", "compute", "--data", str(data), "--epochs",
                             f"0..{epochs - 1}"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    reported = []
    assert proc.stdout is not None
    for line in proc.stdout:
        reported.append(int(line.split(":")[0].split()[1]))
        if len(reported) == 5:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    params = params_from_dict(PARAMS)
    with RewardLedger.open(data, create=False) as ledger, \
            MessageStore.open(data, create=False) as store:
        booked = ledger.epochs()
        assert booked == list(range(len(booked))) and set(reported) <= set(booked)
        assert len(booked) < epochs  # it was killed before the end
        for epoch in booked:
            assert check_epoch(store, ledger, params, epoch)[1] == []
    again = _run("rewards", "compute", "--data", data, "--epochs", f"0..{epochs - 1}")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already booked") == len(booked)
    with RewardLedger.open(data, create=False) as ledger:
        assert ledger.epochs() == list(range(epochs))
        assert sum(ledger.balances().values()) == epochs * 10**11

"""``coverage-net router run --config router.toml`` as a real process: it buys an uplink a
hotspot (in-process, libp2p on loopback) offers, refuses the same packet again, serves
its metrics (parsed with prometheus_client's parser), stops cleanly on SIGTERM or SIGINT,
and
``coverage-net router status`` shows what it did."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
from metrics_helpers import scrape_url, value

from coverage_net.consensus import Genesis, GenesisValidator, save_genesis
from coverage_net.identity import Keypair, save_keypair
from coverage_net.node import (
    UPLINK_PROTOCOL,
    PeerConfig,
    decode_reply,
    read_router_status,
    run_peer,
    uplink_offer,
    wall_clock_ms,
)
from coverage_net.poc import params_from_dict
from firmware_bridge import RxPacket
from radio_sim import Sensor

WAIT_S = 60.0  # liveness bounds, not performance assertions
CLI = [sys.executable, "-m", "coverage_net.cli"]
ROUTER = Keypair.from_seed(hashlib.sha256(b"router process").digest())
HOTSPOT = Keypair.from_seed(hashlib.sha256(b"router process hotspot").digest())


def _write_network(tmp_path: Path) -> Path:
    params = params_from_dict({"epoch_length_ms": 60_000,
                               "rewards": {"routers": [ROUTER.public_key.hex()]}})
    (tmp_path / "params.json").write_text(json.dumps(params.to_dict()), encoding="utf-8")
    validator = Keypair.from_seed(bytes(32))
    save_genesis(Genesis(chain_id="router-test",
                         validators=(GenesisValidator(validator.public_key,
                                                      "/ip4/127.0.0.1/tcp/1"),),
                         params_digest=params.digest(), first_entropy=bytes(32),
                         genesis_time_ms=wall_clock_ms() - 120_000), tmp_path / "genesis.toml")
    save_keypair(ROUTER, tmp_path / "router.key")
    config = tmp_path / "router.toml"
    config.write_text('[chain]\nparams = "params.json"\ngenesis = "genesis.toml"\n'
                      '[sink]\npath = "out/uplinks.jsonl"\n[data]\ndir = "data"\n'
                      '[metrics]\nlisten = "127.0.0.1:0"\n', encoding="utf-8")
    return config


def _wait(predicate, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"the router exited ({proc.returncode}) before {what}: "
                        f"{proc.stderr.read()}")
        time.sleep(0.1)
    pytest.fail(f"{what} not within {WAIT_S} s")


async def _offer_twice(router_addr: str, data_dir: Path) -> list:
    packet = RxPacket(payload=Sensor("s", every_s=1.0).frame(0), rssi_dbm=-101.5, snr_db=-2.0,
                      freq_hz=903_900_000, spreading_factor=10, bandwidth_hz=125_000,
                      coding_rate=5, radio_timestamp_us=1, host_time_s=1.0, crc_ok=True)
    data = uplink_offer(HOTSPOT, packet, wall_clock_ms()).to_cbor()
    replies = []
    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as nursery:
            peer = await nursery.start(run_peer, PeerConfig(keypair=HOTSPOT, data_dir=data_dir,
                                                            bootstrap=[router_addr]))
            while ROUTER.peer_id not in peer.connected_peers():
                await trio.sleep(0.05)
            for _ in range(2):
                replies.append(decode_reply(await peer.p2p.network.request(
                    ROUTER.peer_id, UPLINK_PROTOCOL, data, timeout_s=10)))
            nursery.cancel_scope.cancel()
    return replies


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_router_process_buys_refuses_serves_metrics_and_stops_on_a_signal(tmp_path, stop):
    config = _write_network(tmp_path)
    env = {**os.environ, "COVERAGE_NET_LOG_LEVEL": "info"}
    proc = subprocess.Popen([*CLI, "router", "run", "--config", str(config)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: read_router_status(tmp_path / "data") is not None, proc, "router.json")
        status = read_router_status(tmp_path / "data")
        assert status["known_router"] is True
        first, second = trio.run(_offer_twice, status["addrs"][0], tmp_path / "hotspot")
        assert first.receipt is not None and first.receipt.epoch == 2
        assert first.receipt.hotspot_key == HOTSPOT.public_key
        assert second.refused == "already_bought"
        peer = json.loads((tmp_path / "data" / "peer.json").read_text("utf-8"))
        families = scrape_url(peer["metrics_addr"])
        assert value(families, "coverage_net_router_bought_total") == 1
        assert value(families, "coverage_net_router_refused_total", reason="already_bought") == 1
        proc.send_signal(stop)
        assert proc.wait(WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = (tmp_path / "out" / "uplinks.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["rssi_dbm"] == -101.5
    shown = subprocess.run([*CLI, "router", "status", "--data", str(tmp_path / "data")],
                           capture_output=True, text=True, check=True).stdout
    assert "bought           1 since start, 1 in all" in shown
    assert "already_bought 1" in shown


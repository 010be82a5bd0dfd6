"""Metrics endpoints of real processes: ``peer run`` and ``chain validator`` with
``--metrics 127.0.0.1:0``, scraped over loopback HTTP and parsed by prometheus_client.

Each process reports the port it bound in its status file (``metrics_addr``), as an
operator would find it. The waits are liveness bounds, not performance assertions.
"""

from __future__ import annotations

import socket
import time

import pytest
from metrics_helpers import scrape_url, value
from test_cli_peer import _invoke, assert_one_error_line

from coverage_net.identity import Keypair
from coverage_net.p2p import REJECT_REASONS
from coverage_net.p2p.testing import PeerProcess

WAIT_S = 60.0
METRICS = ["--metrics", "127.0.0.1:0"]


def _wait(predicate, procs, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        for proc in procs:
            if not proc.running():
                pytest.fail(proc.exit_report())
        time.sleep(0.1)
    pytest.fail(f"{what} not within {WAIT_S} s")


def _bound(addr: str) -> int:
    host, port = addr.rsplit(":", 1)
    assert host == "127.0.0.1" and 0 < int(port) < 65536, addr
    return int(port)


def test_two_peer_processes_serve_metrics_showing_their_connection(tmp_path):
    a = PeerProcess(tmp_path / "a", Keypair.from_seed(bytes([13, 1]) * 16), extra_args=METRICS)
    b = PeerProcess(tmp_path / "b", Keypair.from_seed(bytes([13, 2]) * 16),
                    bootstrap=[a.addr], extra_args=METRICS)
    try:
        for proc in (a, b):
            proc.start()
        for proc in (a, b):
            proc.wait_ready()
        _wait(lambda: all((p.status() or {}).get("connected") for p in (a, b)), [a, b],
              "the two peers connected")
        ports = set()
        for proc in (a, b):
            status = proc.status()
            ports.add(_bound(status["metrics_addr"]))
            families = scrape_url(status["metrics_addr"])
            assert value(families, "coverage_net_peers_connected") >= 1
            assert value(families, "coverage_net_store_messages") == status["stored_total"] == 0
            for reason in REJECT_REASONS:
                assert value(families, "coverage_net_gossip_rejected_total", reason=reason) == 0
            assert value(families, "coverage_net_sync_rounds_total") >= 0
            assert f"metrics on http://{status['metrics_addr']}/metrics" in \
                proc.log_path.read_text(errors="replace")
        assert len(ports) == 2
    finally:
        for proc in (a, b):
            proc.stop()
    for proc in (a, b):
        assert proc.proc.returncode == 0, proc.exit_report()


def test_a_bad_metrics_address_is_one_error_line_naming_the_option(tmp_path):
    result = _invoke("peer", "run", "--data", tmp_path / "data", "--metrics", "9100")
    assert_one_error_line(result, "--metrics", "'9100' is not HOST:PORT")
    result = _invoke("chain", "validator", "--genesis", tmp_path / "g.toml", "--key",
                     tmp_path / "k.json", "--data", tmp_path / "v", "--listen",
                     "/ip4/127.0.0.1/tcp/1", "--metrics", "127.0.0.1:99999")
    assert_one_error_line(result, "--metrics", "from 0 to 65535")


def test_a_metrics_port_in_use_is_one_error_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _invoke("peer", "run", "--data", tmp_path / "data", "--listen",
                         "/ip4/127.0.0.1/tcp/0", "--metrics", f"127.0.0.1:{port}")
        assert_one_error_line(result, f"127.0.0.1:{port}", "cannot listen there")

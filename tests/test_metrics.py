"""coverage_net.metrics: collectors over real objects, the endpoint over real HTTP."""

from __future__ import annotations

import dataclasses
import socket
import urllib.error
import urllib.request
from functools import partial

import pytest
import trio
from consensus_helpers import make_genesis, validator_key
from hypothesis import given
from hypothesis import strategies as st
from metrics_helpers import scrape_collectors, scrape_url, value
from rewards_helpers import key, registry, round_verdicts, spread_cells, witness

import coverage_net.metrics as metrics_pkg
from coverage_net.consensus import ConsensusDriver, VoteSigner
from coverage_net.errors import CoverageNetError
from coverage_net.metrics import (
    FINALITY_BUCKETS_S,
    ConsensusCollector,
    FinalityCollector,
    MetricsAddressError,
    MetricsServerError,
    PeerCollector,
    PocCollector,
    RewardsCollector,
    VerdictCollector,
    format_listen,
    parse_metrics_listen,
    serve_metrics,
)
from coverage_net.node import EpochHashApp, save_verdicts
from coverage_net.p2p import REJECT_REASONS, REQUEST_OUTCOMES, PeerMetrics
from coverage_net.p2p.testing import MemoryNetwork, run_deterministic
from coverage_net.poc import PocMetrics, params_from_dict
from coverage_net.rewards import RewardLedger, epoch_rewards
from coverage_net.store import MessageStore


def test_public_names_are_listed_and_the_errors_derive_from_the_root():
    public = {n for n in dir(metrics_pkg) if not n.startswith("_")
              and not isinstance(getattr(metrics_pkg, n), type(metrics_pkg))}
    assert public == set(metrics_pkg.__all__)
    assert issubclass(metrics_pkg.MetricsError, CoverageNetError)


# --- the listen address -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:0", ("127.0.0.1", 0)), ("0.0.0.0:9100", ("0.0.0.0", 9100)),
    ("localhost:65535", ("localhost", 65535)), ("[::1]:9100", ("::1", 9100)),
])
def test_good_listen_addresses(text, expected):
    assert parse_metrics_listen(text) == expected
    assert format_listen(*expected) == text


@pytest.mark.parametrize(("text", "fragment"), [
    ("127.0.0.1", "is not HOST:PORT"), (":9100", "is not HOST:PORT"),
    ("127.0.0.1:", "the port must be a number"), ("127.0.0.1:65536", "from 0 to 65535"),
    ("127.0.0.1:-1", "the port must be a number"), ("::1:9100", "in brackets"),
    ("[::1:9100", "in brackets"), ("a b:1", "is not a host"), ("127.0.0.1:٣", "a number"),
])
def test_bad_listen_addresses_name_the_setting_and_what_is_wrong(text, fragment):
    with pytest.raises(MetricsAddressError, match=fragment) as info:
        parse_metrics_listen(text, name="--metrics")
    assert str(info.value).startswith("--metrics: ")


@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_cleanly(text):
    try:
        host, port = parse_metrics_listen(text)
    except MetricsAddressError:
        return
    assert host and 0 <= port <= 65535
    assert parse_metrics_listen(format_listen(host, port)) == (host, port)


# --- collectors over real objects ---------------------------------------------------------


async def test_peer_collector_reads_peer_metrics_and_connections_when_scraped():
    net = MemoryNetwork(seed=1)
    a, _b, _c = net.full_mesh(["a", "b", "c"])
    metrics = PeerMetrics()
    stored = [0]
    collector = PeerCollector(metrics, a, stored_total=lambda: stored[0])

    before = scrape_collectors(collector)
    assert value(before, "coverage_net_peers_connected") == 2
    assert value(before, "coverage_net_store_messages") == 0
    for reason in REJECT_REASONS:  # every reason is a series from the start
        assert value(before, "coverage_net_gossip_rejected_total", reason=reason) == 0
    for outcome in REQUEST_OUTCOMES:
        assert value(before, "coverage_net_requests_total", outcome=outcome) == 0
    assert before["coverage_net_messages_dropped"] == []

    metrics.accepted, metrics.published, metrics.synced, metrics.bad_rpcs = 7, 3, 2, 1
    metrics.reject("bad_signature")
    metrics.reject("bad_signature")
    metrics.drop("outbound_queue", 4)
    stored[0] = 9
    after = scrape_collectors(collector)  # the same collector: it reads, it keeps nothing
    assert value(after, "coverage_net_gossip_accepted_total") == 7
    assert value(after, "coverage_net_messages_published_total") == 3
    assert value(after, "coverage_net_messages_synced_total") == 2
    assert value(after, "coverage_net_gossip_bad_rpcs_total") == 1
    assert value(after, "coverage_net_gossip_rejected_total", reason="bad_signature") == 2
    assert value(after, "coverage_net_gossip_rejected_total", reason="oversize") == 0
    assert value(after, "coverage_net_messages_dropped_total", where="outbound_queue") == 4
    assert value(after, "coverage_net_store_messages") == 9


def test_every_peer_and_poc_counter_is_exported():
    peer_fields = {f.name for f in dataclasses.fields(PeerMetrics)}
    network = MemoryNetwork(seed=1).full_mesh(["a"])[0]
    peer = scrape_collectors(PeerCollector(PeerMetrics(), network))
    assert len(peer) == len(peer_fields) + 1  # + peers_connected (no store given)

    poc = PocMetrics()
    for i, f in enumerate(dataclasses.fields(poc)):
        if f.type in ("int", int):
            setattr(poc, f.name, i + 1)
    poc.refused["not_for_me"] = 5
    families = scrape_collectors(PocCollector(poc))
    for i, f in enumerate(dataclasses.fields(poc)):
        if f.name != "refused":
            assert value(families, f"coverage_net_poc_{f.name}_total") == i + 1, f.name
    assert value(families, "coverage_net_poc_challenges_refused_total", reason="not_for_me") == 5


def test_finality_collector_gauges_the_last_height_and_histograms_them_all():
    decided = {}
    collector = FinalityCollector(decided)
    assert scrape_collectors(collector) == {}  # nothing decided yet: no series

    decided.update({"0": {"latency_ms": 400}, "1": {"latency_ms": 2_500},
                    "2": {"latency_ms": 90_000}, "10": {"latency_ms": 1_000}})
    families = scrape_collectors(collector)
    assert value(families, "coverage_net_finalized_height") == 10
    assert value(families, "coverage_net_finality_latency_last_seconds") == 1.0
    hist = "coverage_net_finality_latency_seconds"
    assert value(families, f"{hist}_count") == 4
    assert value(families, f"{hist}_sum") == pytest.approx(93.9)
    expected = {0.25: 0, 0.5: 1, 1.0: 2, 2.0: 2, 3.0: 3, 60.0: 3, 300.0: 4}
    for bound, count in expected.items():
        assert value(families, f"{hist}_bucket", le=str(bound)) == count
    assert value(families, f"{hist}_bucket", le="+Inf") == 4
    assert len(FINALITY_BUCKETS_S) + 1 == len([s for s in families[hist]
                                                if s.name.endswith("_bucket")])


def test_consensus_collector_reads_real_drivers_that_decide_heights(tmp_path):
    genesis = make_genesis(4)
    seen: list[dict] = []

    async def main():
        net = MemoryNetwork(5)
        endpoints = net.full_mesh([validator_key(i).peer_id for i in range(4)])
        async with trio.open_nursery() as nursery:
            await nursery.start(net.run)
            drivers, senders = [], []
            for i in range(4):
                signer = VoteSigner.open(tmp_path / f"v{i}", validator_key(i), genesis)
                driver = ConsensusDriver(endpoints[i], genesis, signer,
                                         EpochHashApp(tmp_path, genesis))
                send, receive = trio.open_memory_channel[int](4)
                await nursery.start(driver.run, receive)
                drivers.append(driver)
                senders.append(send)
            seen.append(scrape_collectors(ConsensusCollector(drivers[0])))
            for height in range(3):
                for send in senders:
                    send.send_nowait(height)
                await trio.sleep(10)
            seen.append(scrape_collectors(ConsensusCollector(drivers[0])))
            nursery.cancel_scope.cancel()

    run_deterministic(main, seed=5)
    before, after = seen
    assert value(before, "coverage_net_consensus_decided_heights_total") == 0
    assert value(before, "coverage_net_consensus_messages_sent_total") == 0
    assert value(after, "coverage_net_consensus_decided_heights_total") == 3
    assert value(after, "coverage_net_consensus_height") == 2
    assert value(after, "coverage_net_consensus_round") == 0
    assert value(after, "coverage_net_consensus_messages_sent_total") >= 3 * 2  # 2 votes a height
    assert value(after, "coverage_net_consensus_messages_received_total") >= 3 * 2 * 3
    assert value(after, "coverage_net_consensus_messages_rejected_total") == 0
    assert value(after, "coverage_net_consensus_evidence_total") == 0
    assert value(after, "coverage_net_consensus_signatures_refused_total") == 0


def test_verdicts_by_reason_and_rewards_booked_from_the_real_store_and_ledger(tmp_path):
    params = params_from_dict({"epoch_length_ms": 1_800_000,
                               "rewards": {"emission_per_epoch": 10**11}})
    verdicts = (round_verdicts(0, 1, 0, [1, 2, 3]) + [witness(0, 1, 4, valid=False),
                                                      witness(0, 1, 5, valid=False)])
    me, nobody = key(0).public_key.hex(), key(7).public_key.hex()
    with MessageStore.open(tmp_path) as store, RewardLedger.open(tmp_path) as ledger:
        verdict_collector = VerdictCollector(store)
        rewards_collector = RewardsCollector(ledger, accounts=[me, nobody])
        empty = scrape_collectors(verdict_collector, rewards_collector)
        assert empty["coverage_net_verdicts"] == []
        assert value(empty, "coverage_net_rewards_booked_epochs") == 0
        assert value(empty, "coverage_net_rewards_booked_units_total") == 0
        assert "coverage_net_rewards_last_booked_epoch" not in empty

        save_verdicts(store, verdicts)
        manifest = epoch_rewards(params, 0, verdicts, registry(spread_cells(8)))
        ledger.record(manifest, {"verdict": {}})
        families = scrape_collectors(verdict_collector, rewards_collector)
        balances = ledger.balances()

    assert value(families, "coverage_net_verdicts", report_type="beacon_report",
                 reason="valid", valid="true") == 1
    assert value(families, "coverage_net_verdicts", report_type="witness_report",
                 reason="valid", valid="true") == 3
    assert value(families, "coverage_net_verdicts", report_type="witness_report",
                 reason="rssi_too_strong", valid="false") == 2
    assert len(families["coverage_net_verdicts"]) == 3
    assert value(families, "coverage_net_rewards_booked_epochs") == 1
    assert value(families, "coverage_net_rewards_last_booked_epoch") == 0
    assert value(families, "coverage_net_rewards_booked_units_total") == sum(balances.values())
    assert value(families, "coverage_net_rewards_balance_units", account=me) == balances[me] > 0
    assert value(families, "coverage_net_rewards_balance_units", account=nobody) == 0


# --- the endpoint over real HTTP on loopback -----------------------------------------------


def _get(url: str, method: str = "GET") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method),
                                    timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class _Broken:
    """A collector whose source fails (a closed store), to see the endpoint survive it."""

    def __init__(self) -> None:
        self.fail = True

    def collect(self):
        if self.fail:
            raise RuntimeError("the store is closed")
        return iter(())


async def test_the_endpoint_serves_a_private_registry_on_loopback():
    metrics = PeerMetrics()
    network = MemoryNetwork(seed=1).full_mesh(["a", "b"])[0]
    broken = _Broken()
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(serve_metrics, "127.0.0.1:0",
                                         [PeerCollector(metrics, network)])
        assert host == "127.0.0.1" and port > 0
        addr = format_listen(host, port)
        metrics.reject("not_cbor")
        families = await trio.to_thread.run_sync(scrape_url, addr)
        assert value(families, "coverage_net_peers_connected") == 1
        assert value(families, "coverage_net_gossip_rejected_total", reason="not_cbor") == 1
        assert not any(name.startswith(("python_", "process_")) for name in families)

        status, body = await trio.to_thread.run_sync(_get, f"http://{addr}/")
        assert status == 200 and "coverage_net_peers_connected" in body
        assert await trio.to_thread.run_sync(_get, f"http://{addr}/metrics", "HEAD") == (200, "")
        status, body = await trio.to_thread.run_sync(_get, f"http://{addr}/other")
        assert (status, body) == (404, "metrics are at /metrics\n")
        status, _ = await trio.to_thread.run_sync(_get, f"http://{addr}/metrics", "POST")
        assert status == 405

        # a client that sends garbage, or nothing, then goes: the server carries on
        for junk in (b"\x00\xff garbage\r\n\r\n", b""):
            with socket.create_connection((host, port)) as raw:
                raw.sendall(junk)
                raw.shutdown(socket.SHUT_WR)
                answer = await trio.to_thread.run_sync(raw.recv, 4096)
            assert answer.startswith(b"HTTP/1.1 400") if junk else answer == b""

        # a second endpoint with a failing collector: 500 naming the error, then it recovers
        host2, port2 = await nursery.start(serve_metrics, "127.0.0.1:0", [broken])
        status, body = await trio.to_thread.run_sync(_get, f"http://{host2}:{port2}/metrics")
        assert status == 500 and "RuntimeError: the store is closed" in body
        broken.fail = False
        assert (await trio.to_thread.run_sync(_get, f"http://{host2}:{port2}/metrics"))[0] == 200

        with pytest.raises(MetricsServerError, match=rf"--metrics 127\.0\.0\.1:{port}: cannot"):
            await nursery.start(partial(serve_metrics, setting="--metrics"), f"127.0.0.1:{port}",
                                [])
        # an address not on this machine (TEST-NET-1; binding sends nothing)
        with pytest.raises(MetricsServerError, match=r"192\.0\.2\.1:0: cannot listen there"):
            await nursery.start(serve_metrics, "192.0.2.1:0", [])
        with pytest.raises(MetricsAddressError, match="is not HOST:PORT"):
            await nursery.start(serve_metrics, "9100", [])
        nursery.cancel_scope.cancel()

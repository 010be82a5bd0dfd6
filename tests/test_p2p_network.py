"""Peer processes on loopback: burst delivery, partition healing, kill -9.

Each peer but the publishers is a real ``coverage-net peer run`` process with its
own SQLite store; the publishers are `Peer`s in the test's own trio loop. Waits
are liveness bounds, except the partition test's 10 s, which is the requirement
under test.
"""

from __future__ import annotations

import signal
import sqlite3
import time

import pytest
import trio

from coverage_net.identity import Keypair
from coverage_net.messages import decode
from coverage_net.node import PeerConfig, run_peer
from coverage_net.p2p.testing import (
    PeerProcess,
    free_tcp_port,
    loopback_addr,
    sparse_topology,
    witness_reports,
)

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # 20 peer processes, deadlines

LIVENESS_S = 420
HEAL_LIMIT_S = 10.0
T0_MS = 1_790_000_000_000


def _keys(count: int, salt: int) -> list[Keypair]:
    return [Keypair.from_seed(bytes([salt, i]) * 16) for i in range(count)]


def _check_alive(procs) -> None:
    """Fail at once, with its exit code and log, if a peer process has exited."""
    for proc in procs:
        if not proc.running():
            pytest.fail(proc.exit_report())


async def _until(predicate, *, timeout_s: float = LIVENESS_S, poll_s: float = 0.25,
                 state=None, alive=()) -> float:
    """Wait for ``predicate``; on timeout fail with ``state()`` (what was there instead).
    Every process in ``alive`` must stay up meanwhile."""
    start = trio.current_time()
    with trio.move_on_after(timeout_s):
        while not predicate():
            _check_alive(alive)
            await trio.sleep(poll_s)
        return trio.current_time() - start
    pytest.fail(f"not reached in {timeout_s} s; state: {state() if state else '-'}")


def _check_store(proc: PeerProcess, expected: set[bytes]) -> None:
    """Exactly ``expected`` stored, once each, every row decodes and verifies."""
    rows = proc.query("SELECT content_id, data FROM messages")
    ids = [cid for cid, _ in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    for cid, data in rows:
        assert decode(data).content_id == cid


@pytest.fixture
def processes():
    started: list[PeerProcess] = []
    yield started
    for proc in started:
        proc.stop()


def _start(processes: list[PeerProcess], procs: list[PeerProcess]) -> None:
    processes.extend(procs)
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.wait_ready(timeout_s=120)


async def test_burst_of_1000_reaches_all_20_peers(tmp_path, processes):
    """20 peers, a sparse random topology; one publishes 1,000 reports at once."""
    count, links = 20, 2
    keys = _keys(count, 1)
    ports = [free_tcp_port() for _ in range(count)]
    topology = sparse_topology(count, links=links, seed=5)
    procs = [PeerProcess(tmp_path / f"p{i}", keys[i], port=ports[i],
                         bootstrap=[loopback_addr(keys[j], ports[j]) for j in topology[i]])
             for i in range(1, count)]
    _start(processes, procs)
    linked_to_publisher = sum(1 for links_i in topology if 0 in links_i)
    config = PeerConfig(keypair=keys[0], data_dir=tmp_path / "p0",
                        listen_addrs=[f"/ip4/127.0.0.1/tcp/{ports[0]}"])
    reports = list(witness_reports(keys[0], 1000, host_time_ms=T0_MS))
    expected = {r.content_id for r in reports}
    async with trio.open_nursery() as nursery:
        publisher = await nursery.start(run_peer, config)
        await _until(lambda: len(publisher.connected_peers()) >= linked_to_publisher,
                     alive=procs)
        for report in reports:
            await publisher.publish(report)
        await _until(lambda: all(len(p.content_ids()) == len(expected) for p in procs),
                     alive=procs)
        nursery.cancel_scope.cancel()
    _check_alive(procs)
    for proc in procs:
        _check_store(proc, expected)
        status = proc.status()
        assert status["metrics"]["rejected"] == {}
        assert status["metrics"]["bad_rpcs"] == 0  # honest peers never tear a frame
    # Gossip carried most of it; sync filled whatever gossip did not deliver.
    by_gossip = sum(p.status()["metrics"]["accepted"] for p in procs)
    assert by_gossip > 0.5 * len(expected) * len(procs)


async def test_partition_heals_within_10_s(tmp_path, processes):
    """Two groups cut apart (every peer drops connections across the cut), both
    keep publishing; after the cut heals every peer holds every message in 10 s."""
    group_size = 5
    keys = _keys(2 * group_size, 2)
    ports = [free_tcp_port() for _ in keys]
    groups = [list(range(group_size)), list(range(group_size, 2 * group_size))]
    side = {i: g for g, members in enumerate(groups) for i in members}

    def bootstrap_of(i: int) -> list[str]:
        members = groups[side[i]]
        ring_prev = members[(members.index(i) - 1) % group_size]
        across = (i + group_size) % (2 * group_size)  # one link across the cut each
        return [loopback_addr(keys[ring_prev], ports[ring_prev]),
                loopback_addr(keys[across], ports[across])]

    blocklists = {i: tmp_path / f"blocklist{i}.txt" for i in range(2 * group_size)}
    for path in blocklists.values():
        path.write_text("")
    publishers_idx = [groups[0][0], groups[1][0]]
    procs = {i: PeerProcess(tmp_path / f"p{i}", keys[i], port=ports[i], bootstrap=bootstrap_of(i),
                            extra_args=["--blocklist", str(blocklists[i])])
             for i in range(2 * group_size) if i not in publishers_idx}
    _start(processes, list(procs.values()))

    def others(i: int) -> list[str]:
        return [keys[j].peer_id for j in groups[1 - side[i]]]

    async with trio.open_nursery() as nursery:
        publishers = {}
        for i in publishers_idx:
            publishers[i] = await nursery.start(run_peer, PeerConfig(
                keypair=keys[i], data_dir=tmp_path / f"p{i}",
                listen_addrs=[f"/ip4/127.0.0.1/tcp/{ports[i]}"], bootstrap=bootstrap_of(i),
                blocklist_file=blocklists[i]))

        def connected(i: int) -> set[str]:
            if i in publishers:
                return set(publishers[i].connected_peers())
            status = procs[i].status()
            return set(status["connected"]) if status else set()

        def holds(i: int) -> set[bytes]:
            if i in publishers:
                store = publishers[i].store
                return {cid for topic in {r_topic} for cid in store.ids(
                    topic=topic, partition_from=0, partition_to=2**63 - 1, limit=10_000)}
            return procs[i].content_ids()

        r_topic = "/coverage-net/1/witness_report"
        everyone = range(2 * group_size)

        def state() -> dict:
            return {i: {"holds": len(holds(i)), "connected": len(connected(i)),
                        "across": len(set(others(i)) & connected(i))} for i in everyone}

        await _until(lambda: all(set(others(i)) & connected(i) for i in everyone),
                     timeout_s=120, state=state, alive=procs.values())

        # Cut: every peer blocks the other group.
        for i in everyone:
            blocklists[i].write_text("\n".join(others(i)) + "\n")
        await _until(lambda: not any(set(others(i)) & connected(i) for i in everyone),
                     timeout_s=120, state=state, alive=procs.values())

        published: list[set[bytes]] = [set(), set()]
        for burst in range(4):  # both sides keep publishing while cut
            for g, i in enumerate(publishers_idx):
                batch = list(witness_reports(keys[i], 25, host_time_ms=T0_MS + burst * 1000,
                                             tag=bytes([g, burst])))
                for report in batch:
                    await publishers[i].publish(report)
                published[g] |= {r.content_id for r in batch}
            await trio.sleep(0.5)
        await _until(lambda: all(holds(i) >= published[side[i]] for i in everyone),
                     timeout_s=120, state=state, alive=procs.values())
        # Still cut: nothing crossed.
        for i in everyone:
            assert not holds(i) & published[1 - side[i]], f"peer {i} got messages across the cut"
        assert not any(set(others(i)) & connected(i) for i in everyone)

        for i in everyone:
            blocklists[i].write_text("# healed\n")
        healed_at = time.monotonic()
        every_message = published[0] | published[1]
        await _until(lambda: all(holds(i) == every_message for i in everyone),
                     timeout_s=60, poll_s=0.1, state=state, alive=procs.values())
        heal_s = time.monotonic() - healed_at
        print(f"partition healed: every peer holds all {len(every_message)} messages "
              f"{heal_s:.2f} s after the cut was lifted")
        assert heal_s <= HEAL_LIMIT_S
        nursery.cancel_scope.cancel()


async def test_kill_9_during_a_burst_loses_nothing_acknowledged(tmp_path, processes):
    """SIGKILL a peer while it ingests a burst; it restarts with everything it had
    committed (and reported), no duplicate rows, and then catches up by sync."""
    keys = _keys(3, 3)
    ports = [free_tcp_port() for _ in keys]
    victim = PeerProcess(tmp_path / "victim", keys[1], port=ports[1],
                         bootstrap=[loopback_addr(keys[0], ports[0])])
    other = PeerProcess(tmp_path / "other", keys[2], port=ports[2],
                        bootstrap=[loopback_addr(keys[0], ports[0]),
                                   loopback_addr(keys[1], ports[1])])
    _start(processes, [victim, other])
    # Long enough that the kill lands mid-burst (it comes once 100 are reported).
    reports = list(witness_reports(keys[0], 2000, host_time_ms=T0_MS))
    expected = {r.content_id for r in reports}
    async with trio.open_nursery() as nursery:
        publisher = await nursery.start(run_peer, PeerConfig(
            keypair=keys[0], data_dir=tmp_path / "publisher",
            listen_addrs=[f"/ip4/127.0.0.1/tcp/{ports[0]}"]))
        await _until(lambda: len(publisher.connected_peers()) >= 2, alive=[victim, other])

        async def publish_all() -> None:
            for report in reports:
                await publisher.publish(report)
        nursery.start_soon(publish_all)

        def acknowledged() -> int:
            status = victim.status()
            return status["stored_total"] if status else 0

        await _until(lambda: acknowledged() >= 100, poll_s=0.02, alive=[victim, other])
        victim.kill(signal.SIGKILL)
        last_acknowledged = acknowledged()
        committed = victim.content_ids()
        assert 100 <= last_acknowledged <= len(committed) < len(expected)

        victim.start()  # same data directory: the store must open
        victim.wait_ready(timeout_s=120)
        conn = sqlite3.connect(victim.data_dir / "messages.sqlite3")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            conn.close()
        assert committed <= victim.content_ids()
        await _until(lambda: victim.content_ids() == expected, alive=[victim, other])
        nursery.cancel_scope.cancel()
    _check_store(victim, expected)

"""Helpers for testing peers: signed report factories and peer processes.

`PeerProcess` runs ``coverage-net peer run`` as a real operating-system process
on loopback and reads its status file (``peer.json``) and its SQLite store, so
tests and benchmarks exercise exactly what an operator runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from coverage_net.identity import Keypair, save_keypair
from coverage_net.messages import WitnessReport
from coverage_net.store import DEFAULT_FILENAME

from .._status import STATUS_FILENAME

__all__ = ["witness_reports", "free_tcp_port", "loopback_addr", "PeerProcess", "KEY_FILENAME",
           "sparse_topology", "wait_for", "RawGossipClient", "raw_gossip_client"]

KEY_FILENAME = "key.json"


def witness_reports(keypair: Keypair, count: int, *, host_time_ms: int, epoch: int = 0,
                    challenge_id: bytes | None = None, tag: bytes = b"") -> Iterator[WitnessReport]:
    """``count`` distinct signed witness reports by ``keypair`` in ``epoch`` (deterministic)."""
    challenge = challenge_id or hashlib.sha256(b"challenge" + tag).digest()
    for i in range(count):
        yield WitnessReport(
            witness_key=keypair.public_key, challenge_id=challenge, epoch=epoch,
            payload_hash=hashlib.sha256(tag + i.to_bytes(8, "big")).digest(),
            rssi_dbm=-100.0 - (i % 20), snr_db=-5.0, freq_hz=868_100_000,
            spreading_factor=9, bandwidth_hz=125_000, radio_timestamp_us=i,
            host_time_ms=host_time_ms + i).sign(keypair)


def loopback_addr(keypair: Keypair, port: int) -> str:
    """The multiaddr of a peer listening on 127.0.0.1:``port`` (what others bootstrap from)."""
    return f"/ip4/127.0.0.1/tcp/{port}/p2p/{keypair.peer_id}"


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_TEST_PORT = 20_000
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    """The first port the kernel may give an outbound connection (Linux default 32768)."""
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1, free now and outside the kernel's ephemeral range.

    A port the kernel handed out for ``bind(0)`` lies in the ephemeral range, and
    between this call and the peer's ``listen`` any outbound connection (the peers
    dial each other all the time) may be given it as its source port: the peer
    then fails with "Address already in use". Ports below the range are never
    given to outbound connections, and each is handed out once per process.
    """
    low = _LOWEST_TEST_PORT
    high = max(low + 1_000, _ephemeral_low())
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(1_000):
        port = rng.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free TCP port on 127.0.0.1 in {low}..{high - 1}")


class PeerProcess:
    """One ``coverage-net peer run`` process with its own key, port and data directory."""

    def __init__(self, data_dir: Path, keypair: Keypair, *, port: int | None = None,
                 bootstrap: Sequence[str] = (), extra_args: Sequence[str] = ()) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.keypair = keypair
        self.peer_id = keypair.peer_id
        self.port = port or free_tcp_port()
        self.bootstrap = list(bootstrap)
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        key_path = self.data_dir / KEY_FILENAME
        if not key_path.exists():
            save_keypair(keypair, key_path)

    @property
    def addr(self) -> str:
        return loopback_addr(self.keypair, self.port)

    def start(self) -> None:
        cmd = [sys.executable, "-m", "coverage_net.cli", "-v", "peer", "run",
               "--listen", f"/ip4/127.0.0.1/tcp/{self.port}", "--data", str(self.data_dir)]
        for addr in self.bootstrap:
            cmd += ["--bootstrap", addr]
        cmd += self.extra_args
        log = open(self.data_dir / "peer.log", "ab")  # noqa: SIM115 - owned by the process
        # A crash in a C extension then leaves a Python stack in the log, not nothing.
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        log.close()

    def status(self) -> dict | None:
        """The last ``peer.json`` this process wrote (None before the first)."""
        try:
            return json.loads((self.data_dir / STATUS_FILENAME).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_report(self, lines: int = 40) -> str:
        """Why it is not running: its exit code and the tail of its log."""
        code = None if self.proc is None else self.proc.poll()
        try:
            tail = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            tail = []
        return (f"peer {self.peer_id} (port {self.port}) exit code {code}; "
                f"last lines of {self.log_path}:\n" + "\n".join(tail[-lines:]))

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until the process has written a status file since it started."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status()
            if status is not None and self.proc is not None and status["pid"] == self.proc.pid:
                return
            if not self.running():
                raise RuntimeError(f"peer {self.peer_id} exited: see {self.log_path}")
            time.sleep(0.05)
        raise TimeoutError(f"peer {self.peer_id} not ready after {timeout_s} s")

    @property
    def log_path(self) -> Path:
        return self.data_dir / "peer.log"

    def content_ids(self, topic: str | None = None) -> set[bytes]:
        """The content ids in its store, read directly from the SQLite file."""
        rows = self.query("SELECT content_id FROM messages" +
                          (" WHERE topic = ?" if topic else ""), (topic,) if topic else ())
        return {r[0] for r in rows}

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        path = self.data_dir / DEFAULT_FILENAME
        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.running():
            assert self.proc is not None
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def sparse_topology(count: int, *, links: int = 2, seed: int = 0) -> list[list[int]]:
    """For each of ``count`` peers, the earlier peers it bootstraps from.

    Peer i links to ``min(i, links)`` distinct random peers among 0..i-1, so the
    graph is connected and sparse (about ``links`` edges per peer). Deterministic.
    """
    import random

    rng = random.Random(seed)
    return [sorted(rng.sample(range(i), min(i, links))) for i in range(count)]


def wait_for(predicate, *, timeout_s: float, poll_s: float = 0.1) -> float:
    """Poll ``predicate`` until true; return the seconds it took (TimeoutError after)."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"condition not met after {timeout_s} s")
        time.sleep(poll_s)


class RawGossipClient:
    """A plain py-libp2p gossipsub node with no coverage-net logic and no validators.

    It stands for a peer built on another libp2p implementation (it can be limited
    to /meshsub/1.0.0 and to mplex) and for an attacker that publishes arbitrary
    bytes. Use `raw_gossip_client` to run one.
    """

    def __init__(self, host, pubsub) -> None:
        self.host = host
        self.pubsub = pubsub
        self.peer_id = host.get_id().to_base58()
        self._requests = None

    async def connect(self, addr: str) -> None:
        from .._discovery import parse_bootstrap

        await self.host.connect(parse_bootstrap(addr))

    async def publish(self, topic: str, data: bytes) -> None:
        await self.pubsub.publish(topic, data)

    async def subscribe(self, topic: str):
        return await self.pubsub.subscribe(topic)

    async def sync_request(self, peer_id: str, request: dict) -> dict:
        """One request of the sync protocol, as any libp2p node could send it.

        A refusal comes back as ``{"error": reason}``.
        """
        from .._errors import RequestError
        from .._metrics import PeerMetrics
        from .._reqresp import Libp2pRequests
        from .._sync import SYNC_LIMITS, SYNC_PROTOCOL, decode_sync, encode_sync

        if self._requests is None:
            self._requests = Libp2pRequests(self.host, PeerMetrics())
        try:
            payload = await self._requests.request(peer_id, SYNC_PROTOCOL, encode_sync(request),
                                             timeout_s=30, limits=SYNC_LIMITS)
        except RequestError as exc:
            if exc.kind != "refused":
                raise
            return {"error": str(exc)}
        return decode_sync(payload, max_bytes=SYNC_LIMITS.max_response_bytes)


def raw_gossip_client(keypair: Keypair, *, protocols: Sequence[str] | None = None,
                      mplex_only: bool = False, stock_defaults: bool = False):
    """An async context manager running a `RawGossipClient` on 127.0.0.1 (any port).

    By default it publishes as an attacker would: without py-libp2p's rate limit, and
    to every peer subscribed to the topic, in its mesh or not (so a PRUNE does not
    silence it); ``stock_defaults=True`` keeps every py-libp2p default (the baseline).
    """
    from contextlib import asynccontextmanager

    import multiaddr
    from libp2p import new_host
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
    from libp2p.custom_types import TProtocol
    from libp2p.pubsub.gossipsub import GossipSub
    from libp2p.pubsub.pubsub import Pubsub
    from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
    from libp2p.security.noise.transport import Transport as NoiseTransport
    from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
    from libp2p.tools.anyio_service import background_trio_service

    from .._gossip import GOSSIP_PROTOCOLS, flood_own_publish

    class _FloodingGossipSub(GossipSub):
        """An attacker's router: its own messages go to every peer subscribed to the
        topic, mesh or not (a peer that pruned it from its mesh still receives them)."""

        def _get_peers_to_send(self, topic_ids, msg_forwarder, origin, msg_id=None):
            peers = set(super()._get_peers_to_send(topic_ids, msg_forwarder, origin, msg_id))
            return flood_own_publish(self, peers, topic_ids, msg_forwarder, origin, msg_id)

    @asynccontextmanager
    async def run():
        key = create_new_key_pair(keypair.seed())
        noise = NoiseTransport(key, noise_privkey=create_x25519_key_pair().private_key)
        listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
        host = new_host(key_pair=key, sec_opt={NOISE_PROTOCOL_ID: noise},
                        muxer_opt={TProtocol(MPLEX_PROTOCOL_ID): Mplex} if mplex_only else None,
                        listen_addrs=listen)
        unlimited = {} if stock_defaults else {"spam_protection_enabled": False,
                                               "eclipse_protection_enabled": False}
        router = (GossipSub if stock_defaults else _FloodingGossipSub)(
            protocols=[TProtocol(p) for p in (protocols or GOSSIP_PROTOCOLS)],
            degree=6, degree_low=4, degree_high=12, heartbeat_interval=1, **unlimited)
        pubsub = Pubsub(host, router)
        async with host.run(listen), background_trio_service(pubsub), \
                background_trio_service(router):
            await pubsub.wait_until_ready()
            yield RawGossipClient(host, pubsub)

    return run()

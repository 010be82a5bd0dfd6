"""Steady load for bench/gossip.py: latency tail and CPU per delivered message.

N peer processes on loopback, in the burst bench's sparse topology. A few of them
(`_steady_peer.py`, the same node root built in-process) publish witness reports at
a fixed total rate, evenly interleaved; the rest are ``coverage-net peer run``.
Measured over the publishing window:

- latency from the scheduled publish time to the commit in every other peer's
  store (``received_ms``, same machine clock), over every (message, receiver)
  pair; a pair not delivered by the end of the drain counts as infinitely late,
  so p99 is only finite when at least 99% arrived;
- CPU time of each peer process (/proc/<pid>/stat utime + stime, read at the start
  and end of the window) divided by the messages committed to its store in that
  window from other peers;
- optionally (``profile_index``), one peer under cProfile with a CPU-time clock,
  summarised by area (py-libp2p, protobuf, signatures, SQLite, ours, ...).
"""

from __future__ import annotations

import json
import logging
import math
import os
import pstats
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from _steady_peer import GO_FILENAME, PUBLISHED_FILENAME

from coverage_net.identity import Keypair
from coverage_net.p2p.testing import PeerProcess, free_tcp_port, loopback_addr, sparse_topology

__all__ = ["SteadyParams", "run_steady", "format_run", "format_detail", "format_profile"]

logger = logging.getLogger(__name__)

_PEER_SCRIPT = Path(__file__).with_name("_steady_peer.py")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_READY_TIMEOUT_S = 300
_SETTLE_S = 3.0  # after every link is up: gossipsub meshes form on a 1 s heartbeat
_GO_LEAD_S = 1.0
_SLICES = 6


@dataclass(frozen=True)
class SteadyParams:
    peers: int = 20
    publishers: int = 4
    rate_per_s: float = 20.0
    seconds: float = 60.0
    drain_s: float = 20.0
    """After the window, how long undelivered pairs may still arrive (then: lost)."""
    seed: int = 5
    profile_index: int | None = None
    """This peer runs under cProfile (and is left out of the CPU means)."""
    sync_interval_s: float = 1.0
    """Every peer's ``--sync-interval`` (the CLI's default is 1 s)."""


class _ScriptPeerProcess(PeerProcess):
    """A `PeerProcess` running ``_steady_peer.py`` (a publisher, or profiled) instead of the CLI."""

    def start(self) -> None:
        cmd = [sys.executable, str(_PEER_SCRIPT), "--listen",
               f"/ip4/127.0.0.1/tcp/{self.port}", "--data", str(self.data_dir)]
        for addr in self.bootstrap:
            cmd += ["--bootstrap", addr]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd + self.extra_args, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc, 1/CLK_TCK resolution)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def runqueue_wait_seconds(pid: int) -> float:
    """Time the process was runnable but waiting for a core (/proc/<pid>/schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def run_steady(root: Path, params: SteadyParams) -> dict:
    """Run one steady window on a fresh network under ``root``; the figures as a dict."""
    n, pubs = params.peers, params.publishers
    if not 1 <= pubs < n:
        raise ValueError(f"need 1 <= publishers < peers; got {pubs} publishers, {n} peers")
    per_publisher = round(params.rate_per_s * params.seconds / pubs)
    procs, degree = _build_network(root, params, per_publisher)
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.wait_ready(timeout_s=_READY_TIMEOUT_S)
        _wait(lambda: all(len((p.status() or {}).get("connected", ())) >= degree[i]
                          for i, p in enumerate(procs)), _READY_TIMEOUT_S, procs)
        pids = [p.proc.pid for p in procs]
        idle0 = [cpu_seconds(pid) for pid in pids]
        time.sleep(_SETTLE_S)
        idle1 = [cpu_seconds(pid) for pid in pids]
        start_s = time.time() + _GO_LEAD_S
        go = json.dumps({"start_epoch_s": start_s, "seconds": params.seconds})
        for proc in procs:
            (proc.data_dir / GO_FILENAME).write_text(go)
        time.sleep(max(0.0, start_s - time.time()))
        cpu0 = [cpu_seconds(pid) for pid in pids]
        wait0 = [runqueue_wait_seconds(pid) for pid in pids]
        time.sleep(max(0.0, start_s + params.seconds - time.time()))
        cpu1 = [cpu_seconds(pid) for pid in pids]
        wait1 = [runqueue_wait_seconds(pid) for pid in pids]
        end_s = time.time()
        published, rows, statuses = _drain_and_collect(procs, params, per_publisher)
    finally:
        for proc in procs:
            proc.stop()
    return _figures(params, published, rows, statuses, per_publisher * pubs * (n - 1), degree,
                    window=(start_s, end_s), cpu=(cpu0, cpu1), idle=(idle0, idle1),
                    runqueue=(wait0, wait1),
                    profile=root / f"p{params.profile_index}" / "profile.pstats"
                    if params.profile_index is not None else None)


def _build_network(root: Path, params: SteadyParams, per_publisher: int
                   ) -> tuple[list[PeerProcess], Counter[int]]:
    """The peer processes (not started) and each one's number of links."""
    n, pubs = params.peers, params.publishers
    keys = [Keypair.from_seed(bytes([91, i]) * 16) for i in range(n)]
    ports = [free_tcp_port() for _ in range(n)]
    topology = sparse_topology(n, links=2, seed=params.seed)
    degree = Counter(i for i, links in enumerate(topology) for _ in links)
    degree.update(j for links in topology for j in links)
    procs: list[PeerProcess] = []
    for i in range(n):
        extra: list[str] = []
        if params.sync_interval_s != 1.0:
            extra += ["--sync-interval", str(params.sync_interval_s)]
        if i < pubs:
            extra += ["--rate", str(params.rate_per_s / pubs), "--count", str(per_publisher),
                      "--phase", str(i / params.rate_per_s), "--tag", f"steady-{i}"]
        if i == params.profile_index:
            extra += ["--profile", str(root / f"p{i}" / "profile.pstats")]
        cls = _ScriptPeerProcess if i < pubs or i == params.profile_index else PeerProcess
        procs.append(cls(root / f"p{i}", keys[i], port=ports[i], extra_args=extra,
                         bootstrap=[loopback_addr(keys[j], ports[j]) for j in topology[i]]))
    return procs, degree


def _drain_and_collect(procs: list[PeerProcess], params: SteadyParams, per_publisher: int
                       ) -> tuple[dict, list[list[tuple]], list[dict]]:
    """Wait (at most ``drain_s``) for late deliveries; what was published, stored, counted."""
    pubs = params.publishers
    _wait(lambda: all((p.data_dir / PUBLISHED_FILENAME).exists() for p in procs[:pubs]),
          params.drain_s + 60, procs)
    drain_until = time.monotonic() + params.drain_s
    stored_when_done = per_publisher * pubs * len(procs)  # every peer stores its own too
    while time.monotonic() < drain_until and _stored_total(procs) < stored_when_done:
        time.sleep(1.0)
    published = {}
    for i, proc in enumerate(procs[:pubs]):
        for cid_hex, scheduled_ms, called_ms in json.loads(
                (proc.data_dir / PUBLISHED_FILENAME).read_text()):
            published[bytes.fromhex(cid_hex)] = (i, scheduled_ms, called_ms)
    rows = [proc.query("SELECT content_id, received_ms, source FROM messages") for proc in procs]
    return published, rows, [proc.status() or {} for proc in procs]


def _mean(values) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 3) if values else None


def _stored_total(procs: list[PeerProcess]) -> int:
    return sum((p.status() or {}).get("stored_total", 0) for p in procs)


def _wait(predicate, timeout_s: float, procs: list[PeerProcess]) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        for proc in procs:
            if not proc.running():
                raise RuntimeError(proc.exit_report())
        if time.monotonic() > deadline:
            raise TimeoutError(f"steady bench: condition not met after {timeout_s} s")
        time.sleep(0.25)


def _figures(params: SteadyParams, published: dict, rows: list[list[tuple]],
             statuses: list[dict], expected: int, degree: Counter[int], *,
             window: tuple[float, float],
             cpu: tuple[list[float], list[float]], idle: tuple[list[float], list[float]],
             runqueue: tuple[list[float], list[float]], profile: Path | None) -> dict:
    start_ms, end_ms = (int(t * 1000) for t in window)
    latencies: list[float] = []
    own_lag: list[float] = []  # scheduled publish -> the publisher's own store commit
    slices: list[list[float]] = [[] for _ in range(_SLICES)]  # by scheduled time
    by_sync = 0
    per_peer = []
    for i, peer_rows in enumerate(rows):
        in_window = 0
        mine = []
        for cid, received_ms, source in peer_rows:
            origin = published.get(cid)
            if origin is None:
                continue
            if origin[0] == i:
                own_lag.append(received_ms - origin[1])
                continue
            mine.append(received_ms - origin[1])
            position = (origin[1] - start_ms) / max(1, end_ms - start_ms)
            slices[min(_SLICES - 1, max(0, int(position * _SLICES)))].append(mine[-1])
            by_sync += (source or "").startswith("sync:")
            in_window += start_ms <= received_ms <= end_ms
        latencies += mine
        cpu_s = cpu[1][i] - cpu[0][i]
        idle_s = (idle[1][i] - idle[0][i]) / _SETTLE_S * (window[1] - window[0])
        per_peer.append({
            "index": i, "publisher": i < params.publishers, "links": degree[i],
            "p50_ms": percentile(mine, 50) if mine else None,
            "p99_ms": percentile(mine, 99) if mine else None,
            "profiled": i == params.profile_index, "delivered_in_window": in_window,
            "cpu_s": round(cpu_s, 3),
            "cpu_ms_per_msg": round(1000 * cpu_s / in_window, 3) if in_window else None,
            "cpu_ms_per_msg_over_idle": round(1000 * (cpu_s - idle_s) / in_window, 3)
            if in_window else None,
            "idle_cpu_ms_per_s": round(1000 * (idle[1][i] - idle[0][i]) / _SETTLE_S, 1),
            "runqueue_wait_ms_per_s": round(1000 * (runqueue[1][i] - runqueue[0][i])
                                            / (window[1] - window[0]), 1),
        })
    delivered = len(latencies)
    tail = sorted(latencies) + [math.inf] * (expected - delivered)
    measured = [p for p in per_peer if not p["profiled"] and p["cpu_ms_per_msg"] is not None]
    lags = [called - scheduled for _, scheduled, called in published.values()]
    dropped: Counter[str] = Counter()
    for status in statuses:
        dropped.update(status.get("metrics", {}).get("dropped", {}))
    seconds = window[1] - window[0]
    return {
        "peers": params.peers, "publishers": params.publishers,
        "rate_per_s": params.rate_per_s, "seconds": params.seconds,
        "published": len(published), "expected_pairs": expected, "delivered_pairs": delivered,
        "delivery_ratio": delivered / expected if expected else 0.0,
        "by_sync": by_sync,
        "latency_p50_ms": percentile(tail, 50) if tail else None,
        "latency_p99_ms": percentile(tail, 99) if tail else None,
        "latency_max_ms": max(latencies, default=None),
        "publish_lag_max_ms": max(lags, default=None),
        "own_store_lag_p50_ms": percentile(own_lag, 50) if own_lag else None,
        "own_store_lag_p99_ms": percentile(own_lag, 99) if own_lag else None,
        "latency_p50_by_slice_ms": [percentile(v, 50) if v else None for v in slices],
        "cpu_ms_per_msg_mean": _mean(p["cpu_ms_per_msg"] for p in measured),
        "cpu_ms_per_msg_over_idle_mean": _mean(p["cpu_ms_per_msg_over_idle"] for p in measured),
        "cpu_ms_per_msg_by_links": {
            links: _mean(p["cpu_ms_per_msg"] for p in measured if p["links"] == links)
            for links in sorted({p["links"] for p in measured})},
        "cpu_cores_busy": round(sum(cpu[1][i] - cpu[0][i] for i in range(len(cpu[0])))
                                / seconds, 2),
        "idle_cpu_ms_per_s_mean": round(sum(p["idle_cpu_ms_per_s"] for p in per_peer)
                                        / len(per_peer), 1),
        "runqueue_wait_ms_per_s_mean": round(sum(p["runqueue_wait_ms_per_s"] for p in per_peer)
                                             / len(per_peer), 1),
        "dropped": dict(dropped), "per_peer": per_peer,
        "profile": summarise_profile(profile, per_peer[params.profile_index]
                                     ["delivered_in_window"]) if profile else None,
    }


# -- profile ---------------------------------------------------------------------------

_AREAS = (  # (area, substrings of a file path or a built-in's name), first match wins
    ("signature", ("ed25519", "nacl", "crypto_sign", "verify_signature", "signing")),
    ("protobuf", ("google/protobuf", "google._upb", "protobuf")),
    ("sqlite", ("sqlite3", "coverage_net/store")),
    ("noise/crypto", ("cryptography", "chacha", "noise")),
    ("py-libp2p", ("libp2p", "multiaddr", "base58", "varint")),
    ("cbor", ("cbor2",)),
    ("trio (event loop)", ("/trio/", "select.epoll", "outcome", "sniffio")),
    ("ours", ("coverage_net",)),
)


_OTHER = "python, stdlib"


def _area(filename: str, funcname: str) -> str:
    text = f"{filename} {funcname}".lower()
    for area, needles in _AREAS:
        if any(needle in text for needle in needles):
            return area
    return _OTHER


def _caller_area(stats: dict, key: tuple, seen: frozenset = frozenset()) -> str:
    """The area of ``key``; for stdlib and builtins, that of its heaviest caller (recursively).

    So a ``len`` or ``deque.append`` that py-libp2p calls counts as py-libp2p.
    """
    area = _area(key[0], key[2])
    callers = stats[key][4]
    if area != _OTHER or not callers or key in seen:
        return area
    heaviest = max(callers, key=lambda c: callers[c][3])
    return _caller_area(stats, heaviest, seen | {key}) if heaviest in stats else area


def summarise_profile(path: Path, delivered: int) -> dict | None:
    """Self CPU time by area and the top functions, from a cProfile dump."""
    if not path.exists():
        return None
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = sum(tt for _cc, _nc, tt, _ct, _callers in stats.values())
    by_area: Counter[str] = Counter()
    rows = []
    for (filename, line, func), (_cc, ncalls, tt, ct, callers) in stats.items():
        area = _area(filename, func)
        if area == _OTHER and callers:  # stdlib/builtin self time goes to who called it
            for caller, (_c, _n, caller_tt, _ct) in callers.items():
                by_area[_caller_area(stats, caller) if caller in stats else _OTHER] += caller_tt
        else:
            by_area[area] += tt
        where = func if filename == "~" else f"{_short(filename)}:{line}({func})"
        rows.append({"where": where, "area": area, "calls": ncalls, "self_s": tt, "cum_s": ct})
    per = max(delivered, 1)
    return {
        "delivered": delivered, "cpu_s": total,
        "areas": [{"area": a, "self_s": round(s, 3), "share": round(s / total, 3) if total else 0,
                   "ms_per_msg": round(1000 * s / per, 3)} for a, s in by_area.most_common()],
        "calls_per_msg": _key_calls(stats, per),
        "top_self": sorted(rows, key=lambda r: -r["self_s"])[:25],
        "top_ours_cum": sorted((r for r in rows if "coverage_net" in r["where"]),
                               key=lambda r: -r["cum_s"])[:15],
    }


_KEY_CALLS = (  # (what it counts, substring of "file:function") -> calls per delivered message
    ("gossip copies received (seen-check)", "pubsub.py:_is_msg_seen"),
    ("RPCs read (senderRecord check)", ":maybe_consume_signed_record"),
    ("ed25519 verify, nacl (libp2p)", ":<built-in method _sodium.crypto_sign_open>"),
    ("ed25519 verify, ours", "_keypair.py:verify_signature"),
    ("message decode, ours", "messages/_base.py:decode"),
    ("protobuf serialisations (RPC writes)", ":<method 'serializetostring'"),
    ("protobuf parses (RPCs, envelopes, records)", ":<method 'parsefromstring'"),
    ("SQLite transactions (put_many)", "_store.py:put_many"),
    ("SQLite statements", ":<method 'execute' of 'sqlite3.connection"),
    ("status file writes", "_status.py:write"),
)


def _key_calls(stats: dict, per: int) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for (filename, _line, func), (cc, _nc, _tt, _ct, _callers) in stats.items():
        where = f"{filename}:{func}".lower()
        for label, needle in _KEY_CALLS:
            if needle.lower() in where:
                counts[label] += cc  # primitive calls: a coroutine's resumptions not counted
    return {label: round(counts[label] / per, 2) for label, _ in _KEY_CALLS}


def _short(filename: str) -> str:
    for marker in ("site-packages/", "coverage_net/", "lib/python3"):
        if marker in filename:
            return filename[filename.index(marker):]
    return filename


# -- printing ----------------------------------------------------------------------------

def _ms(value: float | None) -> str:
    return "n/a" if value is None else ("lost" if math.isinf(value) else f"{value:,.0f} ms")


def format_run(f: dict) -> str:
    return (f"  {f['rate_per_s']:5.0f} msg/s  p50 {_ms(f['latency_p50_ms']):>9}  "
            f"p99 {_ms(f['latency_p99_ms']):>9}  max {_ms(f['latency_max_ms']):>9}  "
            f"delivered {f['delivery_ratio']:.4f} ({f['by_sync']} by sync)  "
            f"CPU {f['cpu_ms_per_msg_mean']} ms/msg/peer  cores busy {f['cpu_cores_busy']}  "
            f"publish lag max {_ms(f['publish_lag_max_ms'])}")


def format_detail(f: dict) -> str:
    """Where the tail is: over time, by receiver, and in the publisher's own loop."""
    slices = "  ".join(_ms(v) for v in f["latency_p50_by_slice_ms"])
    worst = sorted((p for p in f["per_peer"] if p["p99_ms"] is not None),
                   key=lambda p: -p["p99_ms"])[:4]
    return "\n".join([
        f"        p50 by publish time (window in {_SLICES} slices): {slices}",
        f"        publisher's own store commit after the scheduled time: "
        f"p50 {_ms(f['own_store_lag_p50_ms'])}  p99 {_ms(f['own_store_lag_p99_ms'])}",
        "        slowest receivers: " + "  ".join(
            f"#{p['index']} ({p['links']} links{', publishing' if p['publisher'] else ''}) "
            f"p50 {_ms(p['p50_ms'])} p99 {_ms(p['p99_ms'])}" for p in worst),
        f"        CPU per delivered message over the idle rate: "
        f"{f['cpu_ms_per_msg_over_idle_mean']} ms/msg/peer; by links, in all: " + ", ".join(
            f"{links}: {ms}" for links, ms in f["cpu_ms_per_msg_by_links"].items()),
        f"        per peer: idle CPU before the window {f['idle_cpu_ms_per_s_mean']} ms/s; "
        f"in the window, waiting for a core {f['runqueue_wait_ms_per_s_mean']} ms/s"])


def format_profile(p: dict) -> str:
    lines = [f"profile of one peer over the window: {p['cpu_s']:.2f} s CPU (inflated by "
             f"cProfile), {p['delivered']} messages delivered to it",
             "  self CPU by area (stdlib and builtins charged to their caller's area):"]
    lines += [f"    {a['area']:<24} {a['self_s']:8.2f} s  {100 * a['share']:5.1f} %  "
              f"{a['ms_per_msg']:7.3f} ms/msg" for a in p["areas"]]
    lines.append("  calls per delivered message:")
    lines += [f"    {n:7.2f}  {label}" for label, n in p["calls_per_msg"].items()]
    lines.append("  top functions by self CPU (calls per delivered message):")
    per = max(p["delivered"], 1)
    lines += [f"    {r['self_s']:7.2f} s  {r['calls'] / per:8.2f}/msg  [{r['area']}] {r['where']}"
              for r in p["top_self"][:20]]
    lines.append("  ours, by cumulative CPU (includes what they call):")
    lines += [f"    {r['cum_s']:7.2f} s  {r['calls'] / per:8.2f}/msg  {r['where']}"
              for r in p["top_ours_cum"][:12]]
    return "\n".join(lines)

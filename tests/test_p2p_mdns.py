"""mDNS discovery, in a network namespace the test makes itself.

Two peers with mDNS on and no bootstrap address must find each other by
multicast DNS (py-libp2p's zeroconf announcer and listener, real multicast
packets) and connect. They run in one process under ``unshare -rn`` (a new user
and network namespace holding only its own loopback, with multicast switched
on), so no packet reaches a real network. Skips with a reason when unprivileged
namespaces are not available.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import json, logging, subprocess, sys
    from pathlib import Path
    import trio
    from coverage_net.identity import Keypair
    from coverage_net.node import PeerConfig, run_peer

    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "lo", "multicast", "on"],
                ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"]):
        subprocess.run(cmd, check=True)
    root = Path(sys.argv[1])
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("coverage_net.p2p").setLevel(logging.INFO)

    async def main():
        async with trio.open_nursery() as nursery:
            a, b = [await nursery.start(run_peer, PeerConfig(
                        keypair=Keypair.from_seed(bytes([0x70 + i]) * 32),
                        data_dir=root / name, mdns=True))
                    for i, name in enumerate("ab")]
            start = trio.current_time()
            with trio.fail_after(120):
                while not (b.peer_id in a.connected_peers() and a.peer_id in b.connected_peers()):
                    await trio.sleep(0.1)
            print(json.dumps({"connected_after_s": trio.current_time() - start,
                              "a": a.connected_peers(), "b": b.connected_peers(),
                              "ids": [a.peer_id, b.peer_id]}))
            nursery.cancel_scope.cancel()

    trio.run(main)
""")


def _namespaces_available() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip (iproute2) not installed"
    probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"cannot make a network namespace here: {probe.stderr.strip()}"
    return None


def test_two_peers_find_each_other_by_mdns_and_connect(tmp_path):
    reason = _namespaces_available()
    if reason:
        pytest.skip(reason)
    script = tmp_path / "mdns_pair.py"
    script.write_text(SCRIPT, encoding="utf-8")
    proc = subprocess.run(["unshare", "-rn", sys.executable, str(script), str(tmp_path)],
                          capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    a_id, b_id = result["ids"]
    assert result["a"] == [b_id] and result["b"] == [a_id]
    # Nothing but mDNS told them about each other: neither had a bootstrap address.
    assert "mDNS found" in proc.stderr

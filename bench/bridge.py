"""Native driver throughput over a real pty: frames/s of 64-byte payloads, and loss.

The device side is the bridge's `NativeDeviceCore` on a `PtyDevice` (its own
thread, like a USB devboard); the host side is the unmodified `NativeRadio`
opening the pty's path through pyserial. Three figures:

* rx burst: the device emits N RX events back to back; the host must deliver
  every one (loss is counted, and the run fails if any is lost);
* ping: sequential PING/PONG round trips carrying 64 bytes;
* transmit: sequential TRANSMIT/TX_DONE exchanges of 64-byte payloads (airtime
  scaled to zero, so the figure is the protocol's, not the radio's).

    python bench/bridge.py            # 20,000-frame burst
    python bench/bridge.py --quick    # 2,000 frames, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import trio

from firmware_bridge import RadioConfig
from firmware_bridge._native import NativeRadio
from firmware_bridge.testing import NativeDeviceCore, PtyDevice

PAYLOAD = bytes(range(64))
CONFIG = RadioConfig.for_region("US915", data_rate=3)  # SF7/125


async def rx_burst(radio: NativeRadio, core: NativeDeviceCore, n: int) -> dict:
    received = 0
    bad = 0
    async with radio.packets(max_buffer=n + 16) as rx:
        for i in range(n):
            core.push_rx(PAYLOAD[:60] + i.to_bytes(4, "little"), rssi_dbm=-100.0, snr_db=2.5)
        start = trio.current_time()
        first = None
        with trio.move_on_after(max(10.0, n / 500)):
            async for packet in rx:
                if first is None:
                    first = trio.current_time()
                if int.from_bytes(packet.payload[60:], "little") != received:
                    bad += 1
                received += 1
                if received == n:
                    break
        elapsed = trio.current_time() - start
    return {"frames": n, "received": received, "lost": n - received, "out_of_order": bad,
            "seconds": elapsed, "frames_per_s": received / elapsed}


async def sequential(label: str, fn, n: int) -> dict:
    start = trio.current_time()
    for _ in range(n):
        await fn()
    elapsed = trio.current_time() - start
    return {"exchanges": n, "seconds": elapsed, "per_s": n / elapsed, "what": label}


async def run(n_burst: int, n_seq: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        core = NativeDeviceCore(time_scale=0.0)
        with PtyDevice(core, Path(tmp) / "ttyBENCH", poll_interval_s=0.001):
            async with NativeRadio.open_serial(str(Path(tmp) / "ttyBENCH")) as radio:
                await radio.configure(CONFIG)
                burst = await rx_burst(radio, core, n_burst)
                ping = await sequential("ping 64 B", lambda: radio.ping(PAYLOAD), n_seq)
                tx = await sequential("transmit 64 B", lambda: radio.transmit(PAYLOAD), n_seq)
                dropped = dict(radio.frame_stats)
                retries = radio.stats["retries"]
    return {"rx_burst": burst, "ping": ping, "transmit": tx, "dropped_frames": dropped,
            "retries": retries, "transmitted": len(core.transmitted)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    n_burst, n_seq = (2_000, 200) if args.quick else (20_000, 2_000)
    print(f"coverage-net bridge benchmark  python {platform.python_version()}  "
          f"native driver over a pty, 64-byte payloads")
    result = trio.run(run, n_burst, n_seq)
    b, p, t = result["rx_burst"], result["ping"], result["transmit"]
    print(f"rx burst     {b['received']:>6}/{b['frames']} frames in {b['seconds']:.2f} s  "
          f"{b['frames_per_s']:8.0f} frames/s  lost {b['lost']}  out of order "
          f"{b['out_of_order']}")
    print(f"ping         {p['exchanges']:>6} round trips  {p['per_s']:8.0f} /s  "
          f"({1e6 / p['per_s']:.0f} us each)")
    print(f"transmit     {t['exchanges']:>6} exchanges    {t['per_s']:8.0f} /s  "
          f"(device transmitted {result['transmitted']})")
    print(f"frames dropped by the decoder: {result['dropped_frames'] or 0}; "
          f"retries: {result['retries']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    ok = b["lost"] == 0 and b["out_of_order"] == 0 and result["transmitted"] == t["exchanges"]
    if not ok:
        print("FAIL: frames were lost or reordered", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

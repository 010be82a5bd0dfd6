"""`coverage-net bridge probe|listen` as real processes against devices on ptys and UDP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from firmware_bridge import NativeDeviceCore, PtyDevice, read_capture
from firmware_bridge.testing import FakePacketForwarder, FakeRN2483

CLI = Path(sys.executable).with_name("coverage-net")
SAFETY_S = 30


def _run(*args, timeout=SAFETY_S):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_probe_native_devboard(tmp_path):
    with PtyDevice(NativeDeviceCore(firmware_version="coverage-net-fw 9.9.9"),
                   tmp_path / "ttyACM0") as dev:
        proc = _run("bridge", "probe", "--port", dev.path)
    assert proc.returncode == 0, proc.stderr
    assert "firmware          coverage-net-fw 9.9.9" in proc.stdout
    assert "radio chip        SX1262" in proc.stdout
    assert "protocol version  1" in proc.stdout


def test_probe_rn2483(tmp_path):
    with PtyDevice(FakeRN2483(), tmp_path / "ttyUSB0") as dev:
        proc = _run("bridge", "probe", "--port", dev.path, "--driver", "rn2483")
    assert proc.returncode == 0, proc.stderr
    assert "driver            rn2483" in proc.stdout
    assert "RN2483" in proc.stdout


def test_probe_missing_port_is_one_error_line(tmp_path):
    proc = _run("bridge", "probe", "--port", tmp_path / "ttyACM9")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: ")
    assert "does not exist: is the board plugged in" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_listen_prints_packets_and_captures_them(tmp_path):
    core = NativeDeviceCore()
    capture = tmp_path / "heard.pcap"
    with PtyDevice(core, tmp_path / "ttyACM0") as dev:
        proc = subprocess.Popen(
            [str(CLI), "bridge", "listen", "--port", str(dev.path), "--region", "EU868",
             "--dr", "5", "--count", "3", "--capture", str(capture)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + SAFETY_S
        while core.config is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert core.config is not None, "the CLI never configured the radio"
        for i in range(3):
            core.push_rx(b"\xe0" + bytes([i]) * 10, rssi_dbm=-97.0 - i, snr_db=4.25)
        out, err = proc.communicate(timeout=SAFETY_S)
    assert proc.returncode == 0, err
    lines = [line for line in out.splitlines() if "MHz SF7" in line and "rssi" in line]
    assert len(lines) == 3
    assert "868.100 MHz SF7" in lines[0] and "-97.0 dBm" in lines[0] and "beacon" in lines[0]
    assert "3 packets" in out
    records = read_capture(capture)
    assert [r.payload for r in records] == [b"\xe0" + bytes([i]) * 10 for i in range(3)]
    assert records[0].header["frequency"] == 868_100_000


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_listen_semtech_udp_packet_forwarder():
    port = _free_udp_port()
    proc = subprocess.Popen(
        [str(CLI), "bridge", "listen", "--driver", "semtech-udp", "--port", f"127.0.0.1:{port}",
         "--count", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    async def forwarder():
        eui = bytes.fromhex("0102030405060708")
        async with FakePacketForwarder(("127.0.0.1", port), gateway_eui=eui,
                                       keepalive_interval_s=0.1) as fwd:
            with trio.fail_after(SAFETY_S):
                while proc.poll() is None:
                    try:  # the CLI may not be listening yet, or already gone: no ack
                        await fwd.push(FakePacketForwarder.make_rxpk(
                            b"via gwmp", freq_hz=902_300_000, spreading_factor=10,
                            rssi_dbm=-111.0, snr_db=-6.5))
                    except trio.TooSlowError:
                        pass
                    await trio.sleep(0.2)

    try:
        trio.run(forwarder)
        out, err = proc.communicate(timeout=SAFETY_S)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = [line for line in out.splitlines() if "902.300 MHz SF10 rssi" in line]
    assert len(lines) == 2
    assert "-111.0 dBm" in lines[0] and "-6.50 dB" in lines[0]


@pytest.mark.parametrize("args", [["--driver", "semtech-udp", "--port", "notaport"]])
def test_bad_udp_address_is_a_usage_error(args):
    proc = _run("bridge", "probe", *args)
    assert proc.returncode == 2
    assert "HOST:PORT" in proc.stderr

"""`coverage-net bridge send` as a real process, transmitting from one simulated devboard
of a radio_sim world to another on ptys."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from coverage_net.cli._send import interval_s, parse_hex, radio_config
from coverage_net.poc import beacon_matches, beacon_payload, parse_beacon
from coverage_net.radio import FreeSpace, Station
from firmware_bridge import FrameError, NativeDeviceCore, NativeRadio, PtyDevice, RadioConfig
from radio_sim import Channel, RealtimeScheduler, VirtualDevboards, World

CLI = Path(sys.executable).with_name("coverage-net")
SAFETY_S = 30  # a net against hangs, never a performance assertion
SF7 = RadioConfig.for_region("US915", data_rate=3, channel=0)  # what --dr 3 tunes to
SF10 = RadioConfig.for_region("US915", data_rate=0, channel=0)


def _popen(*args) -> subprocess.Popen:
    return subprocess.Popen([str(CLI), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


async def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    """Wait for the process off the trio loop (the air runs on it)."""
    return await trio.to_thread.run_sync(lambda: proc.communicate(timeout=SAFETY_S))


async def _until(predicate) -> None:
    with trio.fail_after(SAFETY_S):
        while not predicate():
            await trio.sleep(0.02)


@asynccontextmanager
async def _world(tmp_path: Path) -> AsyncIterator[VirtualDevboards]:
    """alpha and bravo 1 km apart in US915 on ptys, the air running in real time."""
    km = 1 / 111.195
    world = World([Station("alpha", lat_deg=44.0 + km, lon_deg=-71.0, region="US915"),
                   Station("bravo", lat_deg=44.0, lon_deg=-71.0, region="US915")])
    boards = VirtualDevboards(world, Channel(world, model=FreeSpace()), RealtimeScheduler(),
                              tmp_path / "dev")
    with boards:
        async with trio.open_nursery() as nursery:
            await nursery.start(boards.air.run)
            yield boards
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def _listening(boards: VirtualDevboards, config: RadioConfig):
    """bravo's radio through the Radio API, tuned to `config`, and its packets."""
    async with NativeRadio.open_serial(str(boards.port("bravo")), timeout_s=0.5) as radio:
        await radio.configure(config)
        async with radio.packets() as rx:
            yield rx


async def test_hex_frame_is_heard_by_the_other_devboard(tmp_path):
    async with _world(tmp_path) as boards, _listening(boards, SF7) as rx:
        proc = _popen("bridge", "send", "--port", boards.port("alpha"), "--region", "US915",
                      "--dr", "3", "--hex", "c0 ff ee 00 42")
        out, err = await _finish(proc)
        with trio.fail_after(SAFETY_S):
            packet = await rx.receive()
    assert proc.returncode == 0, err
    assert packet.payload == bytes.fromhex("c0ffee0042")
    assert (packet.freq_hz, packet.spreading_factor) == (902_300_000, 7)
    sent = [line for line in out.splitlines() if " sent 1/1 " in line]
    assert len(sent) == 1 and sent[0].endswith("c0ffee0042")
    assert f"{SF7.airtime_s(5) * 1000:.1f} ms on air" in sent[0]
    assert "1 frame sent" in out and err == ""
    assert boards.core("alpha").transmitted == [bytes.fromhex("c0ffee0042")]


async def test_beacon_with_given_secret_is_the_hotspots_beacon(tmp_path):
    secret, challenge = bytes(range(32)), bytes(range(100, 132))
    expected = beacon_payload(secret, challenge, "US915", spreading_factor=10,
                              bandwidth_hz=125_000)
    async with _world(tmp_path) as boards, _listening(boards, SF10) as rx:
        proc = _popen("bridge", "send", "--port", boards.port("alpha"), "--region", "US915",
                      "--dr", "0", "--beacon", "--secret", secret.hex(),
                      "--challenge", challenge.hex())
        out, err = await _finish(proc)
        with trio.fail_after(SAFETY_S):
            packet = await rx.receive()
    assert proc.returncode == 0, err
    assert packet.payload == expected and len(expected) == 24
    assert parse_beacon(packet.payload) == (challenge[:4], expected[6:])
    assert f"secret {secret.hex()} challenge {challenge.hex()}" in out


async def test_every_and_count_send_exactly_k_random_beacons(tmp_path):
    async with _world(tmp_path) as boards, _listening(boards, SF10) as rx:
        proc = _popen("bridge", "send", "--port", boards.port("alpha"), "--dr", "0",
                      "--beacon", "--every", "0.5", "--count", "3")
        out, err = await _finish(proc)
        heard = []
        with trio.move_on_after(1.0):  # a fourth frame would have arrived by now
            async for packet in rx:
                heard.append(packet.payload)
    assert proc.returncode == 0, err
    assert len(boards.core("alpha").transmitted) == 3
    assert heard == boards.core("alpha").transmitted
    lines = [line for line in out.splitlines() if " sent " in line]
    assert [line.split()[2] for line in lines] == ["1/3", "2/3", "3/3"]
    assert "3 frames sent" in out
    for line, payload in zip(lines, heard, strict=True):
        assert parse_beacon(payload) is not None
        words = line.split()
        secret = bytes.fromhex(words[words.index("secret") + 1])
        challenge = bytes.fromhex(words[words.index("challenge") + 1])
        assert beacon_matches(payload, secret, challenge, "US915", spreading_factor=10,
                              bandwidth_hz=125_000)  # the printed pair reproduces the frame
    assert len(set(heard)) == 3  # a fresh secret and challenge per frame


async def test_closing_the_pty_mid_run_is_one_error_line(tmp_path):
    async with _world(tmp_path) as boards:
        proc = _popen("bridge", "send", "--port", boards.port("alpha"), "--dr", "3",
                      "--hex", "01020304", "--every", "0.2", "--reconnect-timeout", "0.5")
        alpha = boards.core("alpha")
        await _until(lambda: len(alpha.transmitted) >= 2)
        boards.device("alpha").unplug()
        out, err = await _finish(proc)
    assert proc.returncode == 1
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "went away after" in err
    confirmed = len([line for line in out.splitlines() if " sent " in line])
    assert confirmed >= 1
    assert f"went away after {confirmed} frame" in err
    assert f"stopped after {confirmed} frame" in out
    # a frame in flight when the pty closed may have left the antenna unconfirmed
    assert len(alpha.transmitted) in (confirmed, confirmed + 1)


async def test_ctrl_c_ends_quietly_with_status_130(tmp_path):
    async with _world(tmp_path) as boards:
        proc = _popen("bridge", "send", "--port", boards.port("alpha"), "--dr", "3",
                      "--hex", "01", "--every", "0.2")
        await _until(lambda: len(boards.core("alpha").transmitted) >= 1)
        proc.send_signal(signal.SIGINT)
        out, err = await _finish(proc)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert "stopped after" in out and "frame" in out


REFUSALS = [
    (["--hex", "c0ffee", "--beacon"], "--hex and --beacon"),
    ([], "--hex PAYLOAD or --beacon"),
    (["--hex", "c0fg"], "--hex 'c0fg': 'g' is not a hex digit"),
    (["--hex", "c0f"], "odd number"),
    (["--dr", "0", "--hex", "00" * 25], "--hex: 25 bytes take 411.6 ms on air at US915 DR0"),
    (["--region", "EU868", "--dr", "0", "--hex", "00" * 65], "64-byte maximum at EU868 DR0"),
    (["--region", "AS923", "--dr", "0", "--hex", "00"], "--dr 0: "),
    (["--dr", "7", "--hex", "00"], "--dr 7: index=7 is not a LoRa data rate of US915"),
    (["--dr", "4", "--hex", "00"], "--channel 0: US915 channel 0 (902.3 MHz) does not carry DR4"),
    (["--region", "AU915", "--dr", "0", "--beacon"], "--beacon at --dr 0: "),
    (["--region", "EU868", "--dr", "5", "--hex", "00", "--every", "1"], "--every 1: "),
    (["--region", "EU868", "--tx-power", "20", "--hex", "00"], "--tx-power 20"),
    (["--region", "XX", "--hex", "00"], "--region XX: "),
    (["--beacon", "--secret", "00"], "--secret must be 32 bytes"),
    (["--hex", "00", "--challenge", "00" * 32], "only go with --beacon"),
]


@pytest.mark.parametrize(("args", "message"), REFUSALS, ids=[m for _, m in REFUSALS])
def test_refusal_is_one_error_line_and_nothing_is_sent(tmp_path, args, message):
    core = NativeDeviceCore()
    with PtyDevice(core, tmp_path / "ttyACM0") as dev:
        proc = subprocess.run([str(CLI), "bridge", "send", "--port", str(dev.path), *args],
                              capture_output=True, text=True, timeout=SAFETY_S, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert core.config is None and core.transmitted == []  # the radio was never touched


def test_help_shows_an_example():
    proc = subprocess.run([str(CLI), "bridge", "send", "--help"], capture_output=True,
                          text=True, timeout=SAFETY_S, check=False)
    assert proc.returncode == 0
    assert "coverage-net bridge send --port /dev/ttyACM0" in proc.stdout
    assert "--beacon" in proc.stdout and "--every" in proc.stdout


@pytest.mark.parametrize(("region", "duty_cycle"), [("US915", 1.0), ("EU868", 0.01)])
def test_without_every_frames_follow_as_fast_as_the_duty_cycle_allows(region, duty_cycle):
    plan, config = radio_config(region, 0, 0, None)
    assert interval_s(20, plan, config, None) == pytest.approx(config.airtime_s(20) / duty_cycle)
    assert interval_s(20, plan, config, 300.0) == 300.0


async def test_count_without_every_sends_k_back_to_back(tmp_path):
    async with _world(tmp_path) as boards:
        proc = _popen("bridge", "send", "--port", boards.port("alpha"), "--dr", "3",
                      "--hex", "0a0b", "--count", "2")
        out, err = await _finish(proc)
    assert proc.returncode == 0, err
    assert boards.core("alpha").transmitted == [b"\x0a\x0b"] * 2
    assert "2 frames sent" in out


@given(st.text())
def test_parse_hex_gives_bytes_or_a_named_error(text):
    try:
        data = parse_hex("--hex", text)
    except FrameError as exc:
        assert str(exc).startswith("--hex")
    else:
        assert data and data.hex() in "".join(text.lower().replace(":", " ").split())


@given(st.binary(min_size=1))
def test_parse_hex_round_trips(data):
    assert parse_hex("--hex", data.hex()) == data
    assert parse_hex("--hex", " ".join(f"{b:02X}" for b in data)) == data
    assert parse_hex("--hex", ":".join(f"{b:02x}" for b in data)) == data

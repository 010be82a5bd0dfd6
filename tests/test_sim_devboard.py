"""Virtual devboards on ptys, and SimRadio on the same air in virtual time."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import h3
import pytest
import trio

from coverage_net.radio import FreeSpace, Station
from firmware_bridge import (
    DeviceDisconnectedError,
    InvalidParameterError,
    RadioConfig,
    RadioFailureError,
)
from firmware_bridge._native import NativeRadio
from radio_sim._channel import Channel
from radio_sim._devboard import SimBackend, VirtualDevboards, serve
from radio_sim._engine import RealtimeScheduler
from radio_sim._errors import SimError
from radio_sim._simradio import FIRMWARE_VERSION, RADIO_CHIP, SimAir, SimRadio, tuned_to
from radio_sim._world import World

# a safety net against hangs, never a performance assertion
SAFETY_S = 20
SF7 = RadioConfig.for_region("US915", data_rate=3, channel=0)  # 902.3 MHz SF7
OTHER_CHANNEL = RadioConfig.for_region("US915", data_rate=3, channel=1)  # 902.5 MHz


def _world(region: str = "US915") -> World:
    """alpha and charlie 1 km north and south of bravo: equally loud at bravo."""
    km = 1 / 111.195
    return World([Station("alpha", lat_deg=44.0 + km, lon_deg=-71.0, region=region),
                  Station("bravo", lat_deg=44.0, lon_deg=-71.0, region=region),
                  Station("charlie", lat_deg=44.0 - km, lon_deg=-71.0, region=region)])


def _channel(world: World, **kw) -> Channel:
    return Channel(world, model=FreeSpace(), **kw)


def _record(air: SimAir) -> dict:
    """packet payload -> {receiver name: Reception}, filled as packets end."""
    log: dict = {}

    def observe(tx, receptions):
        log[tx.payload] = {air.world.names[r.receiver]: r for r in receptions}

    air.observers.append(observe)
    return log


def _native(port: Path, **kwargs) -> NativeRadio:
    kwargs.setdefault("timeout_s", 0.5)
    return NativeRadio.open_serial(str(port), **kwargs)


# -- virtual devboards over ptys ----------------------------------------------------------


async def test_native_driver_talks_to_virtual_devboards(tmp_path):
    world = _world()
    boards = VirtualDevboards(world, _channel(world), RealtimeScheduler(), tmp_path / "dev")
    heard = _record(boards.air)
    with boards, trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(boards.air.run)
            async with (_native(boards.port("alpha")) as a, _native(boards.port("bravo")) as b,
                        _native(boards.port("charlie")) as c):
                info = await a.info()
                assert (info.driver, info.protocol_version) == ("native", 1)
                assert (info.firmware_version, info.radio_chip) == (FIRMWARE_VERSION, RADIO_CHIP)
                assert info.supported_regions == ("US915",)
                await a.configure(SF7)
                await b.configure(SF7)
                await c.configure(OTHER_CHANNEL)
                assert boards.core("bravo").configs == [SF7]
                async with b.packets() as rx_b, c.packets() as rx_c:
                    result = await a.transmit(b"hello from alpha")
                    packet = await rx_b.receive()
                    assert result.airtime_s == pytest.approx(SF7.airtime_s(16), abs=1e-6)
                    await trio.sleep(0.05)  # give charlie's pty a chance to (wrongly) speak
                    with pytest.raises(trio.WouldBlock):
                        rx_c.receive_nowait()
            nursery.cancel_scope.cancel()
    at = heard[b"hello from alpha"]
    assert at["bravo"].delivered and at["charlie"].delivered  # the channel delivered both...
    assert boards.backends["charlie"].stats["rx"] == 0  # ...charlie was tuned elsewhere
    assert boards.air.stats["rx_not_tuned"] == 1
    assert packet.payload == b"hello from alpha"
    assert packet.rssi_dbm == pytest.approx(at["bravo"].rssi_dbm, abs=0.006)
    assert packet.snr_db == pytest.approx(at["bravo"].snr_db, abs=0.006)
    assert (packet.freq_hz, packet.spreading_factor, packet.bandwidth_hz, packet.crc_ok) == (
        SF7.freq_hz, 7, 125_000, True)
    assert boards.core("alpha").transmitted == [b"hello from alpha"]
    assert not (tmp_path / "dev" / "alpha").exists()  # stop() removed the symlinks


async def test_client_reconnects_to_the_same_port(tmp_path):
    world = _world()
    boards = VirtualDevboards(world, _channel(world), RealtimeScheduler(), tmp_path / "dev")
    with boards, trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(boards.air.run)
            async with _native(boards.port("bravo")) as b:
                await b.configure(SF7)
                async with b.packets() as rx:
                    for n in range(2):
                        async with _native(boards.port("alpha")) as a:  # a new session each time
                            await a.configure(SF7)
                            await a.transmit(b"session %d" % n)
                        assert (await rx.receive()).payload == b"session %d" % n
            nursery.cancel_scope.cancel()
    assert boards.core("alpha").transmitted == [b"session 0", b"session 1"]


async def test_new_session_repeating_the_old_ones_frames_still_transmits(tmp_path):
    world = _world()
    boards = VirtualDevboards(world, _channel(world), RealtimeScheduler(), tmp_path / "dev")
    with boards, trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(boards.air.run)
            for _ in range(2):  # a hotspot restarts and sends the same first beacon
                async with _native(boards.port("alpha")) as a:
                    await a.configure(SF7)
                    await a.transmit(b"same beacon")
            nursery.cancel_scope.cancel()
    assert boards.core("alpha").transmitted == [b"same beacon"] * 2


async def test_duty_cycle_refusal_becomes_a_radio_failure_nack(tmp_path):
    world = _world("EU868")
    boards = VirtualDevboards(world, _channel(world), RealtimeScheduler(), tmp_path / "dev")
    with boards, trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(boards.air.run)
            async with _native(boards.port("alpha")) as a:
                await a.configure(RadioConfig(868_100_000, 7))
                await a.transmit(b"first")
                with pytest.raises(RadioFailureError, match=r"RADIO_FAILURE .*duty cycle"):
                    await a.transmit(b"too soon")
            nursery.cancel_scope.cancel()
    assert boards.core("alpha").transmitted == [b"first"]
    assert boards.air.stats["tx_refused"] == 1


async def test_rx_timestamp_is_the_end_of_the_packet_on_the_device_clock(tmp_path):
    world = _world()
    boards = VirtualDevboards(world, _channel(world), RealtimeScheduler(speed=50.0),
                              tmp_path / "dev")
    ends = {}
    boards.air.observers.append(lambda tx, receptions: ends.setdefault(tx.payload, tx.end_s))
    with boards, trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(boards.air.run)
            async with _native(boards.port("alpha")) as a, _native(boards.port("bravo")) as b:
                slow = RadioConfig(902_300_000, 10)  # 0.29 s of virtual air for 12 bytes
                await a.configure(slow)
                await b.configure(slow)
                async with b.packets() as rx:
                    result = await a.transmit(b"twelve bytes")
                    packet = await rx.receive()
            nursery.cancel_scope.cancel()
    assert result.airtime_s == pytest.approx(slow.airtime_s(12), abs=1e-6)
    assert packet.radio_timestamp_us == boards.core("bravo").radio_time_us(ends[b"twelve bytes"])


async def test_probe_cli_against_serve(tmp_path):
    cli = Path(sys.executable).with_name("coverage-net")
    world = _world()
    manifest_path = tmp_path / "manifest.json"
    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            boards = await nursery.start(lambda task_status: serve(
                world, channel=_channel(world), dir=tmp_path / "dev",
                manifest_path=manifest_path, task_status=task_status))
            manifest = json.loads(manifest_path.read_text())
            port = manifest["hotspots"]["charlie"]["port"]
            done = await trio.run_process([str(cli), "bridge", "probe", "--port", port],
                                          capture_stdout=True, capture_stderr=True)
            nursery.cancel_scope.cancel()
    out = done.stdout.decode()
    assert "coverage-net-sim 0.1" in out and "SX1262 (simulated)" in out
    assert "US915" in out and "protocol version  1" in out
    assert boards.core("charlie").stats["hello"] == 1
    assert not manifest_path.exists() and not Path(port).exists()  # cleaned up on cancel


def test_manifest(tmp_path):
    world = _world()
    boards = VirtualDevboards(world, _channel(world), RealtimeScheduler(), tmp_path / "dev")
    with boards:
        manifest = boards.manifest()
        path = boards.write_manifest(tmp_path / "out" / "manifest.json")
        assert json.loads(path.read_text()) == manifest
        assert sorted(os.listdir(path.parent)) == ["manifest.json"]  # no temporary left over
        assert list(manifest) == ["hotspots"]
        assert list(manifest["hotspots"]) == ["alpha", "bravo", "charlie"]
        for i, (name, entry) in enumerate(manifest["hotspots"].items()):
            hotspot = world.hotspots[i]
            assert entry["port"] == str(tmp_path / "dev" / name)
            assert entry["pty"].startswith("/dev/pts/")
            assert os.path.realpath(entry["port"]) == entry["pty"]
            assert h3.is_valid_cell(entry["cell"])
            assert entry["cell"] == h3.int_to_str(int(hotspot.cell))
            assert (entry["lat"], entry["lon"]) == pytest.approx(
                (hotspot.lat_deg, hotspot.lon_deg))
            assert entry["lat"] == pytest.approx(44.0, abs=0.01)
        ptys = {entry["pty"] for entry in manifest["hotspots"].values()}
        assert len(ptys) == 3


def test_hotspot_names_must_be_usable_as_file_names(tmp_path):
    world = World([Station("a/b", lat_deg=44.0, lon_deg=-71.0)])
    with pytest.raises(ValueError, match="cannot name a port symlink"):
        VirtualDevboards(world, _channel(world), RealtimeScheduler(), tmp_path)


def test_backend_refuses_when_the_air_is_not_running(tmp_path):
    world = _world()
    boards = VirtualDevboards(world, _channel(world), RealtimeScheduler(), tmp_path)
    backend: SimBackend = boards.backends["alpha"]
    backend.begin_timeout_s = 0.05
    with pytest.raises(SimError, match="is SimAir.run"):
        backend.on_transmit(b"x", SF7)


# -- SimRadio in virtual time ---------------------------------------------------------------


async def _air(nursery, world=None, **channel_kw) -> tuple[SimAir, dict]:
    world = world or _world()
    air = SimAir(world, _channel(world, **channel_kw))
    await nursery.start(air.run)
    return air, _record(air)


async def test_simradio_a_transmits_b_receives(autojump_clock):
    async with trio.open_nursery() as nursery:
        air, heard = await _air(nursery)
        async with air.radio("alpha") as a, air.radio("bravo") as b, air.radio("charlie") as c:
            assert isinstance(a, SimRadio) and a.driver == "sim"
            info = await a.info()
            assert (info.firmware_version, info.radio_chip, info.supported_regions) == (
                FIRMWARE_VERSION, RADIO_CHIP, ("US915",))
            await a.configure(SF7)
            await b.configure(SF7)
            await c.configure(replace(SF7, iq_inverted=True))  # same channel, other polarity
            async with b.packets() as rx_b, c.packets() as rx_c:
                start, virtual_start = trio.current_time(), air.now()
                result = await a.transmit(b"ping")
                assert trio.current_time() - start == pytest.approx(SF7.airtime_s(4))
                packet = rx_b.receive_nowait()  # delivered before transmit returned
                with pytest.raises(trio.WouldBlock):
                    rx_c.receive_nowait()
        nursery.cancel_scope.cancel()
    assert result.airtime_s == pytest.approx(SF7.airtime_s(4))
    assert result.tx_power_dbm == SF7.tx_power_dbm
    at = heard[b"ping"]
    assert at["charlie"].delivered  # the channel delivered it; charlie's IQ was inverted
    assert packet.payload == b"ping" and packet.crc_ok
    assert packet.rssi_dbm == pytest.approx(at["bravo"].rssi_dbm, abs=0.006)
    assert packet.snr_db == pytest.approx(at["bravo"].snr_db, abs=0.006)
    assert packet.radio_timestamp_us == pytest.approx(
        b.radio_time_us(virtual_start + result.airtime_s), abs=1)
    assert a.stats["tx_packets"] == 1 and b.stats["rx_packets"] == 1


async def test_simradio_half_duplex(autojump_clock):
    async with trio.open_nursery() as nursery:
        air, heard = await _air(nursery)
        async with air.radio("alpha") as a, air.radio("bravo") as b:
            await a.configure(SF7)
            await b.configure(SF7)
            async with a.packets() as rx_a, b.packets() as rx_b:
                async with trio.open_nursery() as both:
                    both.start_soon(a.transmit, b"from alpha")
                    both.start_soon(b.transmit, b"from bravo")
                for rx in (rx_a, rx_b):
                    with pytest.raises(trio.WouldBlock):
                        rx.receive_nowait()
        nursery.cancel_scope.cancel()
    assert heard[b"from alpha"]["bravo"].reason == "half_duplex"
    assert heard[b"from bravo"]["alpha"].reason == "half_duplex"


@pytest.mark.parametrize("collision", ["simple", "capture"])
async def test_simradio_simultaneous_packets_collide(autojump_clock, collision):
    async with trio.open_nursery() as nursery:
        air, heard = await _air(nursery, collision=collision)
        async with air.radio("alpha") as a, air.radio("bravo") as b, air.radio("charlie") as c:
            for radio in (a, b, c):
                await radio.configure(SF7)
            async with b.packets() as rx_b:
                async with trio.open_nursery() as both:
                    both.start_soon(a.transmit, b"from alpha")
                    both.start_soon(c.transmit, b"from charlie")
                with pytest.raises(trio.WouldBlock):
                    rx_b.receive_nowait()
                await trio.sleep(1.0)
                await a.transmit(b"alone")  # the air is clear again
                assert rx_b.receive_nowait().payload == b"alone"
        nursery.cancel_scope.cancel()
    assert heard[b"from alpha"]["bravo"].reason == "collision"
    assert heard[b"from charlie"]["bravo"].reason == "collision"


async def test_simradio_refusals_are_typed(autojump_clock):
    world = _world("EU868")
    air = SimAir(world, _channel(world))
    async with air.radio("alpha") as a:
        await a.configure(RadioConfig(868_100_000, 7))
        with pytest.raises(DeviceDisconnectedError, match="not running"):
            await a.transmit(b"nobody runs the air")
        with pytest.raises(InvalidParameterError, match="1 to 255"):
            await a.transmit(b"")
        async with trio.open_nursery() as nursery:
            await nursery.start(air.run)
            await a.transmit(b"first")
            with pytest.raises(RadioFailureError, match="duty cycle"):
                await a.transmit(b"too soon")
            await trio.sleep(100 * RadioConfig(868_100_000, 7).airtime_s(5))
            await a.transmit(b"after the off-time")
            nursery.cancel_scope.cancel()


async def test_one_radio_per_hotspot(autojump_clock):
    world = _world()
    air = SimAir(world, _channel(world))
    with pytest.raises(ValueError, match="another world"):
        SimAir(_world(), air.channel)
    async with air.radio("alpha"):
        with pytest.raises(ValueError, match="already has a radio"):
            async with air.radio("alpha"):
                pass
    async with air.radio("alpha"):  # closed radios free their hotspot
        pass
    with pytest.raises(ValueError, match="no hotspot named"):
        air.radio("delta")


def test_tuning_rule():
    assert tuned_to(SF7, replace(SF7, tx_power_dbm=2, coding_rate=8))
    assert not tuned_to(None, SF7)
    for change in ({"freq_hz": 902_500_000}, {"spreading_factor": 8},
                   {"bandwidth_hz": 250_000}, {"iq_inverted": True}):
        assert not tuned_to(replace(SF7, **change), SF7)

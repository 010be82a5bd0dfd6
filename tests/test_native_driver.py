"""The native driver against the device core on real ptys (and once over TCP)."""

from __future__ import annotations

import os
import random
import threading
from functools import partial

import pytest
import serial
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_net.radio import FreeSpace, Station
from firmware_bridge import (
    BlockingRadio,
    DeviceBusyError,
    DeviceDisconnectedError,
    DeviceTimeoutError,
    InvalidParameterError,
    NativeDeviceCore,
    PortError,
    PtyDevice,
    RadioConfig,
    RadioFailureError,
)
from firmware_bridge._framing import wire
from firmware_bridge._native import NativeRadio
from firmware_bridge._protocol import NackCode
from firmware_bridge._serial import open_serial_port
from radio_sim._channel import Channel
from radio_sim._devboard import VirtualDevboards
from radio_sim._engine import RealtimeScheduler
from radio_sim._world import World

US915_DR0 = RadioConfig.for_region("US915", data_rate=0)
# tests must never hang: a generous safety net, not a performance assertion
SAFETY_S = 20


@pytest.fixture(params=["core", "sim-devboard"])
def device(request, tmp_path):
    if request.param == "sim-devboard":  # the simulator's devboard: the driver cannot tell
        world = World([Station("ttyFW", lat_deg=44.27, lon_deg=-71.30, region="US915")])
        boards = VirtualDevboards(world, Channel(world, model=FreeSpace()),
                                  RealtimeScheduler(speed=100.0), tmp_path)
        with boards, boards.air.run_in_thread():
            yield boards.core("ttyFW"), boards.device("ttyFW")
        return
    core = NativeDeviceCore(time_scale=0.01)
    with PtyDevice(core, tmp_path / "ttyFW") as dev:
        yield core, dev


def _radio(dev: PtyDevice, **kwargs) -> NativeRadio:
    kwargs.setdefault("timeout_s", 0.2)
    return NativeRadio.open_serial(str(dev.path), **kwargs)


async def test_hello_info_configure_transmit_receive(device):
    core, dev = device
    with trio.fail_after(SAFETY_S):
        async with _radio(dev) as radio:
            info = await radio.info()
            assert (info.driver, info.protocol_version, info.radio_chip) == ("native", 1,
                                                                            core.radio_chip)
            assert "US915" in info.supported_regions
            await radio.configure(US915_DR0)
            assert core.configs[-1] == US915_DR0
            result = await radio.transmit(b"beacon-1")
            assert result.airtime_s == pytest.approx(US915_DR0.airtime_s(8), abs=1e-6)
            assert result.tx_power_dbm == US915_DR0.tx_power_dbm
            assert core.transmitted == [b"beacon-1"]
            async with radio.packets() as rx:
                core.push_rx(b"\x01\x02\x03", rssi_dbm=-118.25, snr_db=-7.5)
                packet = await rx.receive()
            assert packet.payload == b"\x01\x02\x03"
            assert (packet.rssi_dbm, packet.snr_db, packet.crc_ok) == (-118.25, -7.5, True)
            assert (packet.freq_hz, packet.spreading_factor) == (902_300_000, 10)
            assert radio.stats["tx_packets"] == 1 and radio.stats["rx_packets"] == 1


async def test_lost_response_is_retried_with_the_same_seq_and_sent_once(device):
    core, dev = device
    with trio.fail_after(SAFETY_S):
        async with _radio(dev) as radio:
            await radio.configure(US915_DR0)
            core.drop_next_responses(1)
            await radio.transmit(b"only once")
            assert core.transmitted == [b"only once"]  # the retry was answered from memory
            assert radio.stats["retries"] == 1


async def test_silence_after_all_retries_is_a_timeout(device):
    core, dev = device
    with trio.fail_after(SAFETY_S):
        async with _radio(dev, retries=3) as radio:
            core.drop_next_responses(3)
            with pytest.raises(DeviceTimeoutError, match="no answer to GET_INFO .* 3 tries"):
                await radio.info()
            assert (await radio.info()).driver == "native"  # and the link still works


@pytest.mark.parametrize(("code", "error", "text"), [
    (NackCode.BUSY, DeviceBusyError, "BUSY"),
    (NackCode.INVALID_PARAMETER, InvalidParameterError, "INVALID_PARAMETER"),
    (NackCode.RADIO_FAILURE, RadioFailureError, "RADIO_FAILURE"),
])
async def test_device_refusals_become_typed_errors(device, code, error, text):
    core, dev = device
    with trio.fail_after(SAFETY_S):
        async with _radio(dev) as radio:
            await radio.configure(US915_DR0)
            core.nack_next(code)
            with pytest.raises(error, match=f"refused TRANSMIT: {text}"):
                await radio.transmit(b"x")
            assert core.transmitted == []
            await radio.transmit(b"y")  # the next one goes through
            assert core.transmitted == [b"y"]


async def test_garbage_between_frames_is_counted_and_skipped(device):
    core, dev = device
    with trio.fail_after(SAFETY_S):
        async with _radio(dev) as radio:
            await radio.configure(US915_DR0)
            async with radio.packets() as rx:
                too_short = wire(b"\x01\x02")  # valid COBS, but a 2-byte frame
                dev.inject(b"\x13\x37garbage\x00" + too_short + b"\xff" * 400 + b"\x00")
                core.push_rx(b"after the noise", rssi_dbm=-90.0, snr_db=5.0)
                packet = await rx.receive()
            assert packet.payload == b"after the noise"
            stats = radio.frame_stats
            assert stats["cobs_error"] + stats["truncated"] >= 1
            assert stats["oversize"] == 1


async def test_unplug_mid_frame_then_replug_reconnects_and_reconfigures(tmp_path):
    core = NativeDeviceCore(time_scale=0.01)
    dev = PtyDevice(core, tmp_path / "ttyACM0").start()
    try:
        with trio.fail_after(SAFETY_S):
            async with _radio(dev, backoff_initial_s=0.05) as radio:
                await radio.configure(US915_DR0)
                dev.inject(wire(b"\x01\x90\x05\x00\x1b\x00" + b"\x00" * 10)[:7])  # half a frame
                dev.unplug()
                await trio.sleep(0.3)
                fresh = NativeDeviceCore(time_scale=0.01)  # the board rebooted
                dev.device = fresh
                dev.replug()
                with trio.fail_after(5):
                    while not radio.gaps:
                        await trio.sleep(0.02)
                assert fresh.configs == [US915_DR0]  # HELLO + the last CONFIGURE again
                assert radio.gaps[0].duration_s >= 0.25
                assert radio.stats["reconnects"] == 1
                async with radio.packets() as rx:
                    fresh.push_rx(b"back", rssi_dbm=-100.0, snr_db=0.0)
                    assert (await rx.receive()).payload == b"back"
                assert (await radio.transmit(b"again")).airtime_s > 0
                assert fresh.transmitted == [b"again"]
    finally:
        dev.unplug()


async def test_transmit_in_flight_when_unplugged_raises_not_hangs(tmp_path):
    core = NativeDeviceCore(time_scale=1.0)  # SF12 51 B: 2.5 s on air
    dev = PtyDevice(core, tmp_path / "ttyACM0").start()
    try:
        with trio.fail_after(SAFETY_S):
            async with _radio(dev, backoff_initial_s=0.05, reconnect_timeout_s=1.0) as radio:
                await radio.configure(RadioConfig(868_100_000, 12))

                async def pull_the_plug():
                    await trio.sleep(0.2)
                    dev.unplug()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(pull_the_plug)
                    start = trio.current_time()
                    with pytest.raises(DeviceDisconnectedError):
                        await radio.transmit(b"z" * 51)
                    assert trio.current_time() - start < 2.0  # failed at the unplug
                # it never came back: later requests fail clearly, promptly
                await trio.sleep(1.5)
                with pytest.raises(DeviceDisconnectedError, match="not back after"):
                    await radio.info()
    finally:
        dev.unplug()


def test_port_opens_without_reset_lines_and_exclusively(device):
    _, dev = device
    port = open_serial_port(str(dev.path))
    try:
        assert port.dtr is False and port.rts is False
        assert port.exclusive is True
        with pytest.raises(PortError, match="in use by another program"):
            open_serial_port(str(dev.path))
    finally:
        port.close()


def test_missing_port_is_a_clear_error(tmp_path):
    with pytest.raises(PortError, match="does not exist: is the board plugged in"):
        open_serial_port(str(tmp_path / "ttyNOPE"))


async def test_native_driver_over_tcp_loopback():
    core = NativeDeviceCore(time_scale=0.01)

    async def serve(stream):
        async with stream:
            async for data in stream:
                out = core.receive(data)
                if out:
                    await stream.send_all(out)

    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            async with NativeRadio.open_tcp("127.0.0.1", port) as radio:
                await radio.configure(US915_DR0)
                await radio.transmit(b"over tcp")
            nursery.cancel_scope.cancel()
    assert core.transmitted == [b"over tcp"]


def test_blocking_adapter(device):
    core, dev = device
    with BlockingRadio(lambda: _radio(dev)) as radio:
        assert radio.info().driver == "native"
        radio.configure(US915_DR0)
        assert radio.transmit(b"blocking").airtime_s > 0
        core.push_rx(b"rx", rssi_dbm=-80.0, snr_db=9.0)
        packet = radio.receive(timeout_s=5)
        assert packet is not None and packet.payload == b"rx"
        assert radio.receive(timeout_s=0.05) is None


def test_blocking_adapter_reports_an_open_failure(tmp_path):
    with pytest.raises(PortError, match="does not exist"):
        BlockingRadio(lambda: NativeRadio.open_serial(str(tmp_path / "nope")))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=5))
def test_random_noise_from_the_device_never_breaks_the_driver(tmp_path, noise):
    link = tmp_path / f"ttyFZ{random.randrange(1 << 30)}"
    core = NativeDeviceCore(time_scale=0.01)

    async def run():
        with PtyDevice(core, link) as dev, trio.fail_after(SAFETY_S):
            async with _radio(dev) as radio:
                await radio.configure(US915_DR0)
                for chunk in noise:
                    dev.inject(chunk)
                dev.inject(b"\x00")  # end whatever the noise left open
                async with radio.packets() as rx:
                    core.push_rx(b"still here", rssi_dbm=-99.0, snr_db=1.0)
                    assert (await rx.receive()).payload == b"still here"
                assert (await radio.transmit(b"ok")).airtime_s > 0

    trio.run(run)


def test_second_process_cannot_steal_the_port(device):
    _, dev = device
    held = open_serial_port(str(dev.path))
    errors: list[BaseException] = []

    def other():
        try:
            serial.Serial(str(dev.path), exclusive=True).close()
        except serial.SerialException as exc:
            errors.append(exc)

    try:
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert errors, "a second exclusive open must fail while we hold the port"
    finally:
        held.close()
    assert os.path.islink(dev.path)

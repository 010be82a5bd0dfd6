"""The RN2483 driver against `FakeRN2483` on real ptys, opened through pyserial."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge import (
    DeviceBusyError,
    DeviceDisconnectedError,
    DeviceTimeoutError,
    InvalidParameterError,
    PortError,
    PtyDevice,
    RadioConfig,
    RadioFailureError,
    RN2483Radio,
)
from firmware_bridge.testing import FakeRN2483

CFG = RadioConfig(freq_hz=868_100_000, spreading_factor=7)
STARTUP = ["sys get ver", "mac pause", "radio set wdt 0"]
CONFIGURE = ["radio set mod lora", "radio set freq 868100000", "radio set sf sf7",
             "radio set bw 125", "radio set cr 4/5", "radio set pwr 14", "radio set sync 34",
             "radio set prlen 8", "radio set iqi off", "radio set crc on", "radio rx 0"]


@contextlib.asynccontextmanager
async def rig(directory: Path, *, configure: bool = True, command_timeout_s: float = 1.0,
              **fake_options):
    fake = FakeRN2483(time_scale=0.01, **fake_options)
    with PtyDevice(fake, directory / "ttyRN") as pty:
        radio = RN2483Radio.open_serial(pty.path, command_timeout_s=command_timeout_s)
        async with radio:
            if configure:
                await radio.configure(CFG)
            yield fake, pty, radio


async def until(predicate, timeout_s: float = 3.0) -> None:
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(0.005)


async def test_startup_and_configure_send_exact_lines(tmp_path):
    async with rig(tmp_path, configure=False) as (fake, _, radio):
        assert fake.commands == STARTUP
        await radio.configure(CFG)
        assert fake.commands == STARTUP + CONFIGURE
        assert fake.rx_armed and radio.config == CFG
        info = await radio.info()
        assert (info.driver, info.radio_chip, info.firmware_version) == ("rn2483", "RN2483",
                                                                         "1.0.5")
        assert info.supported_regions == ("EU868", "IN865")


async def test_rn2903_reports_its_regions(tmp_path):
    async with rig(tmp_path, configure=False, chip="RN2903") as (fake, _, radio):
        await radio.configure(RadioConfig(freq_hz=903_900_000, spreading_factor=10,
                                          iq_inverted=True))
        assert "radio set iqi on" in fake.commands
        info = await radio.info()
        assert (info.radio_chip, info.supported_regions) == ("RN2903", ("US915", "AU915"))


def test_fake_refuses_radio_commands_until_mac_pause():
    fake = FakeRN2483()
    assert fake.receive(b"radio set sf sf7\r\n") == b"busy\r\n"
    assert fake.receive(b"mac pause\r\n") == b"4294967245\r\n"
    assert fake.receive(b"radio set sf sf7\r\nradio set sf sf13\r\n") == b"ok\r\ninvalid_param\r\n"
    assert fake.receive(b"\xff\xfe junk\r\n") == b"invalid_param\r\n"
    assert fake.garbage == [b"\xff\xfe junk"]


@pytest.mark.parametrize("double_space", [False, True])
async def test_rx_queries_snr_rssi_and_rearms_after_each_packet(tmp_path, double_space):
    async with rig(tmp_path, double_space=double_space) as (fake, _, radio):
        packets = radio.packets()
        fake.push_rx(b"\x01\x02\x03", snr_db=-5, rssi_dbm=-97)
        fake.push_rx(b"hello", snr_db=9, rssi_dbm=-40)
        with trio.fail_after(3):
            first, second = await packets.receive(), await packets.receive()
        assert (first.payload, first.snr_db, first.rssi_dbm) == (b"\x01\x02\x03", -5.0, -97.0)
        assert (second.payload, second.snr_db, second.rssi_dbm) == (b"hello", 9.0, -40.0)
        assert (first.freq_hz, first.spreading_factor, first.bandwidth_hz, first.coding_rate,
                first.crc_ok) == (868_100_000, 7, 125_000, 5, True)
        assert abs(first.radio_timestamp_us / 1e6 - radio.now()) < 5
        await until(lambda: fake.rx_armed)
        per_packet = ["radio get snr", "radio get rssi", "radio rx 0"]
        assert fake.commands[len(STARTUP + CONFIGURE):] == per_packet * 2
        assert fake.rx_arm_count == 3


async def test_rssi_unsupported_gives_nan_and_is_asked_once(tmp_path):
    async with rig(tmp_path, rssi_supported=False) as (fake, _, radio):
        packets = radio.packets()
        for n in range(2):
            fake.push_rx(bytes([n]), snr_db=3)
            with trio.fail_after(3):
                packet = await packets.receive()
            assert packet.snr_db == 3.0 and math.isnan(packet.rssi_dbm)
        await until(lambda: fake.rx_armed)
        assert fake.commands.count("radio get rssi") == 1
        assert (await radio.info()).extra["rssi_supported"] is False


async def test_transmit_ok_stops_rx_then_rearms(tmp_path):
    async with rig(tmp_path) as (fake, _, radio):
        result = await radio.transmit(b"\xca\xfe\x00\x01")
        assert result.airtime_s == CFG.airtime_s(4)
        assert result.tx_power_dbm == 14.0
        assert abs(result.radio_timestamp_us / 1e6 - radio.now()) < 5
        assert fake.transmitted == [b"\xca\xfe\x00\x01"]
        assert fake.commands[-3:] == ["radio rxstop", "radio tx CAFE0001", "radio rx 0"]
        assert fake.rx_armed and radio.stats["tx_ok"] == 1


@pytest.mark.parametrize("script, error", [
    (lambda f: f.busy_next("radio tx"), DeviceBusyError),
    (lambda f: f.invalid_next("radio tx"), InvalidParameterError),
    (lambda f: f.radio_err_next_tx(), RadioFailureError),
])
async def test_transmit_refusals_raise_their_error_and_rx_resumes(tmp_path, script, error):
    async with rig(tmp_path) as (fake, _, radio):
        script(fake)
        with pytest.raises(error, match="radio tx"):
            await radio.transmit(b"x")
        assert fake.commands[-1] == "radio rx 0" and fake.rx_armed
        assert (await radio.transmit(b"y")).airtime_s > 0


async def test_invalid_setting_names_the_command(tmp_path):
    async with rig(tmp_path, configure=False) as (fake, _, radio):
        with pytest.raises(InvalidParameterError, match="radio set pwr 20"):
            await radio.configure(RadioConfig(freq_hz=868_100_000, spreading_factor=7,
                                              tx_power_dbm=20))  # RN2483 stops at 15 dBm
        assert radio.config is None and not fake.rx_armed
        with pytest.raises(InvalidParameterError, match="62500"):
            await radio.configure(RadioConfig(868_100_000, 7, bandwidth_hz=62_500))
        await radio.configure(CFG)
        assert fake.rx_armed


@pytest.mark.parametrize("prefix, expected", [("radio set sf", "radio set sf sf7"),
                                              ("radio tx", "radio tx <1 bytes>")])
async def test_silence_raises_timeout_naming_the_command(tmp_path, prefix, expected):
    async with rig(tmp_path, configure=prefix == "radio tx", command_timeout_s=1.0) as (
            fake, _, radio):
        fake.silent_next(prefix)
        with pytest.raises(DeviceTimeoutError, match=expected):
            if prefix == "radio tx":
                await radio.transmit(b"z")
            else:
                await radio.configure(CFG)


async def test_rx_line_between_command_and_reply_is_routed_to_reception(tmp_path):
    async with rig(tmp_path) as (fake, _, radio):
        packets = radio.packets()
        fake.emit_before_next("radio rxstop", b"radio_rx  BEEF\r\nradio_err\r\n")
        assert (await radio.transmit(b"tx")).airtime_s > 0
        with trio.fail_after(3):
            assert (await packets.receive()).payload == b"\xbe\xef"
        assert radio.stats["rx_errors"] == 1 and radio.stats["garbage_lines"] == 0
        await until(lambda: fake.rx_armed)


async def test_port_opened_exclusively_without_resetting_the_board(tmp_path):
    async with rig(tmp_path) as (_, pty, radio):
        port = radio.serial
        assert port.is_open and port.baudrate == 57600
        assert (port.dtr, port.rts, port.exclusive) == (False, False, True)
        with pytest.raises(PortError, match="another program"):
            async with RN2483Radio.open_serial(pty.path):
                pass
    with pytest.raises(PortError, match="does not exist"):
        async with RN2483Radio.open_serial(tmp_path / "nothing-here"):
            pass


async def test_unplug_mid_line_then_replug_reconnects_and_reconfigures(tmp_path):
    async with rig(tmp_path) as (fake, pty, radio):
        packets = radio.packets()
        pty.inject(b"radio_rx 0102")  # the line the module was writing when pulled
        await trio.sleep(0.05)
        pty.unplug()
        fake.reset(banner=True)  # unplugging a bus-powered module reboots it
        await trio.sleep(0.3)
        with trio.fail_after(5), pytest.raises(DeviceDisconnectedError, match="reconnect"):
            await radio.transmit(b"during the gap")
        n_before = len(fake.commands)
        pty.replug()
        await until(lambda: radio.stats["reconnects"] == 1, timeout_s=10)
        gap_s = radio.gaps[0].duration_s
        assert 0.25 <= gap_s < 5 and radio.stats["gap_s"] == pytest.approx(gap_s)
        assert radio.stats["reconnect_attempts"] >= 2  # the first, 0.1 s in, found no port
        assert fake.commands[n_before:] == STARTUP + CONFIGURE
        fake.push_rx(b"\x05\x06", snr_db=1, rssi_dbm=-110)
        with trio.fail_after(3):
            packet = await packets.receive()
        assert packet.payload == b"\x05\x06" and packet.rssi_dbm == -110.0
        assert (await radio.transmit(b"after")).airtime_s > 0


async def test_replug_without_reboot_stops_the_old_reception(tmp_path):
    async with rig(tmp_path) as (fake, pty, radio):
        pty.unplug()
        n_before = len(fake.commands)
        pty.replug()  # the module kept power: still receiving, LoRaWAN stack still paused
        await until(lambda: radio.stats["reconnects"] == 1, timeout_s=10)
        assert fake.commands[n_before:] == (STARTUP + ["radio rxstop", "radio set wdt 0"]
                                            + CONFIGURE)


async def test_transmit_in_flight_when_unplugged_fails_promptly(tmp_path):
    async with rig(tmp_path, command_timeout_s=5.0) as (fake, pty, radio):
        fake.silent_next("radio tx")
        outcome = []

        async def send():
            with pytest.raises(DeviceDisconnectedError) as info:
                await radio.transmit(b"lost")
            outcome.append(info.value)

        with trio.fail_after(3):  # a safety net: the command timeout alone is 5 s
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                await until(lambda: fake.commands[-1].startswith("radio tx"))
                pty.unplug()
        assert outcome and "RN2483" in str(outcome[0])
        fake.reset()
        pty.replug()
        await until(lambda: radio.stats["reconnects"] == 1, timeout_s=10)
        assert (await radio.transmit(b"again")).airtime_s > 0


async def test_a_plain_stream_works_and_its_loss_is_final(tmp_path):
    fake = FakeRN2483(time_scale=0.01)
    with PtyDevice(fake, tmp_path / "ttyRN") as pty:
        stream = trio.lowlevel.FdStream(os.open(pty.path, os.O_RDWR | os.O_NOCTTY))
        async with RN2483Radio(stream) as radio:
            await radio.configure(CFG)
            assert (await radio.transmit(b"hi")).tx_power_dbm == 14.0
            packets = radio.packets()
            pty.unplug()
            with trio.fail_after(3):
                async for _ in packets:  # the subscription ends: nothing to wait for
                    pass
            with pytest.raises(DeviceDisconnectedError, match="could not be reopened"):
                await radio.transmit(b"gone")


async def test_gives_up_after_reconnect_timeout(tmp_path):
    fake = FakeRN2483(time_scale=0.01)
    with PtyDevice(fake, tmp_path / "ttyRN") as pty:
        async with RN2483Radio.open_serial(pty.path, reconnect_timeout_s=0.5) as radio:
            await radio.configure(CFG)
            packets = radio.packets()
            pty.unplug()
            with trio.fail_after(5):
                async for _ in packets:  # ends when the driver gives up
                    pass
            with pytest.raises(DeviceDisconnectedError, match="within 0.5 s"):
                await radio.transmit(b"gone")
            assert radio.stats["reconnect_attempts"] >= 2 and radio.stats["reconnects"] == 0


async def test_concurrent_transmits_and_reception_take_turns(tmp_path):
    async with rig(tmp_path) as (fake, _, radio):
        packets = radio.packets()
        results = []

        async def send(payload):
            results.append(await radio.transmit(payload))

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                for n in range(4):
                    nursery.start_soon(send, bytes([n]) * 3)
                fake.push_rx(b"\x99")
            assert (await packets.receive()).payload == b"\x99"
        assert len(results) == 4 and sorted(fake.transmitted) == [bytes([n]) * 3
                                                                 for n in range(4)]
        await until(lambda: fake.rx_armed)


def _is_garbage(line: bytes) -> bool:
    text = line.decode("ascii", "replace").strip()
    return bool(text) and not text.startswith(("radio_", "RN"))


NEAR_MISSES = [b"radio_rx", b"radio_rx 0", b"radio_rx 0G", b"radio_rx " + b"00" * 256,
               b"radio_tx_ok", b"radio_errr", b"RN", b"RN2483"]  # stray radio_tx_ok: no tx
garbage_lines = st.lists(
    st.one_of(st.sampled_from(NEAR_MISSES),
              st.one_of(st.binary(min_size=1, max_size=80), st.binary(min_size=601, max_size=900))
              .map(lambda b: b.replace(b"\n", b"")).filter(_is_garbage)),
    min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=garbage_lines)
async def test_garbage_from_the_device_is_counted_and_harmless(lines):
    with tempfile.TemporaryDirectory() as directory:
        async with rig(Path(directory)) as (fake, pty, radio):
            packets = radio.packets()
            pty.inject(b"".join(line + b"\r\n" for line in lines))
            await until(lambda: radio.stats["garbage_lines"] == len(lines))
            assert (await radio.transmit(b"still fine")).airtime_s > 0
            fake.push_rx(b"\x42")
            with trio.fail_after(3):
                assert (await packets.receive()).payload == b"\x42"
            assert radio.stats["garbage_lines"] == len(lines)

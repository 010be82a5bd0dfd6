"""`coverage-net bridge`: talk to a LoRa radio through one of the bridge's drivers."""

from __future__ import annotations

import math
import time
from pathlib import Path

import click
import trio
from rich.console import Console

from firmware_bridge import (
    NativeRadio,
    PcapCapture,
    Radio,
    RadioConfig,
    RN2483Radio,
    SemtechUdpRadio,
    is_beacon_frame,
)

from ._send import Frame, check_frame, choose_frames, interval_s, radio_config, send_frames

DRIVERS = ("native", "rn2483", "semtech-udp")


def _host_port(text: str, default_host: str) -> tuple[str, int] | None:
    """'host:port' or ':port' or 'port' -> (host, port); None if `text` is not that."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = default_host, text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        return None
    return (host or default_host), int(port)


def make_radio(driver: str, port: str, baudrate: int | None, timeout_s: float, *,
               reconnect_timeout_s: float = 30.0) -> Radio:
    """The radio a CLI user asked for (the only place concrete drivers are picked).

    `reconnect_timeout_s`: how long a native devboard that vanished may take to
    come back before its requests fail.
    """
    if driver == "native":
        native = {"timeout_s": timeout_s, "reconnect_timeout_s": reconnect_timeout_s}
        tcp = _host_port(port, "127.0.0.1") if not Path(port).exists() else None
        if tcp is not None and ":" in port:
            return NativeRadio.open_tcp(*tcp, **native)
        return NativeRadio.open_serial(port, baudrate=baudrate or 115200, **native)
    if driver == "rn2483":
        return RN2483Radio.open_serial(port, baudrate=baudrate or 57600,
                                       command_timeout_s=max(timeout_s, 1.0))
    bind = _host_port(port, "0.0.0.0")
    if bind is None:
        raise click.BadParameter(f"{port!r}: give the UDP address to listen on as "
                                 "HOST:PORT or PORT (e.g. 1700)", param_hint="--port")
    return SemtechUdpRadio(bind=bind)


def _config(region, data_rate, channel, freq_mhz, sf, bw_khz, tx_power) -> RadioConfig:
    if freq_mhz is not None:
        return RadioConfig(freq_hz=int(round(freq_mhz * 1e6)), spreading_factor=sf or 7,
                           bandwidth_hz=int(bw_khz * 1000), tx_power_dbm=tx_power or 14)
    return RadioConfig.for_region(region, data_rate=data_rate, channel=channel,
                                  tx_power_dbm=tx_power)


port_option = click.option(
    "--port", required=True,
    help="Serial port or pty (/dev/ttyACM0); for native also HOST:PORT over TCP; "
         "for semtech-udp the UDP address to listen on (1700, 0.0.0.0:1700).")
driver_option = click.option("--driver", type=click.Choice(DRIVERS), default="native",
                             show_default=True, help="Which kind of radio is on the port.")
baud_option = click.option("--baudrate", type=click.IntRange(min=1),
                           help="Serial speed [default: 115200 native, 57600 rn2483].")
timeout_option = click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.01),
                              default=0.5, show_default=True,
                              help="Seconds to wait for each answer from the device.")

region_option = click.option("--region", default="US915", show_default=True,
                             help="Regional plan the channel and data rate come from.")
dr_option = click.option("--dr", "data_rate", type=click.IntRange(0, 15), default=0,
                         show_default=True, help="Data rate index in the region.")
channel_option = click.option("--channel", type=click.IntRange(min=0), default=0,
                              show_default=True, help="Uplink channel index in the region.")
tx_power_option = click.option("--tx-power", type=click.IntRange(-9, 22),
                               help="Transmit power, dBm [default: the region's, at most 22].")



def device_options(command):
    """The options every bridge command opens its radio with."""
    for option in (timeout_option, baud_option, driver_option, port_option):
        command = option(command)
    return command


def plan_options(command):
    """The region's plan a command tunes to."""
    for option in (channel_option, dr_option, region_option):
        command = option(command)
    return command


@click.group()
def bridge() -> None:
    """Talk to a LoRa radio: our devboard firmware, an RN2483/RN2903 module, or a
    Semtech packet forwarder."""


@bridge.command()
@device_options
def probe(port, driver, baudrate, timeout_s) -> None:
    """Print what the device says about itself (firmware, radio chip, regions)."""
    console = Console(soft_wrap=True)

    async def run() -> None:
        async with make_radio(driver, port, baudrate, timeout_s) as radio:
            info = await radio.info()
        console.print(f"driver            {info.driver}")
        console.print(f"firmware          {info.firmware_version}")
        console.print(f"radio chip        {info.radio_chip}")
        console.print(f"regions           {', '.join(info.supported_regions) or '-'}")
        if info.protocol_version is not None:
            console.print(f"protocol version  {info.protocol_version}")
        for key, value in sorted(info.extra.items()):
            console.print(f"{key:<17} {value}")

    trio.run(run)


@bridge.command()
@device_options
@plan_options
@click.option("--freq-mhz", type=float, help="Explicit frequency (overrides the region's).")
@click.option("--sf", type=click.IntRange(7, 12), help="Spreading factor with --freq-mhz.")
@click.option("--bw-khz", type=click.Choice(["125", "250", "500"]), default="125",
              show_default=True, help="Bandwidth with --freq-mhz.")
@tx_power_option
@click.option("--capture", type=click.Path(dir_okay=False, path_type=Path),
              help="Also save every packet heard to this pcap file (LoRaTap, DLT 270; "
                   "Wireshark and tshark open it).")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many packets.")
@click.option("--duration", "duration_s", type=click.FloatRange(min=0, min_open=True),
              help="Stop after this many seconds.")
def listen(port, driver, baudrate, timeout_s, region, data_rate, channel, freq_mhz, sf,
           bw_khz, tx_power, capture, count, duration_s) -> None:
    """Print received packets live (Ctrl-C to stop)."""
    console = Console(soft_wrap=True, highlight=False)
    config = _config(region, data_rate, channel, freq_mhz, sf, float(bw_khz), tx_power)
    seen = 0

    async def run() -> None:
        nonlocal seen
        writer = PcapCapture(capture) if capture else None
        try:
            async with make_radio(driver, port, baudrate, timeout_s) as radio:
                await radio.configure(config)
                console.print(f"listening on {port} ({driver}) at {config.freq_hz / 1e6:.3f} "
                              f"MHz SF{config.spreading_factor} "
                              f"BW{config.bandwidth_hz // 1000}", style="bold")
                with trio.move_on_after(duration_s if duration_s else math.inf):
                    async with radio.packets() as rx:
                        async for p in rx:
                            seen += 1
                            if writer is not None:
                                writer.write_rx(p)
                            stamp = time.strftime("%H:%M:%S", time.localtime(p.host_time_s))
                            kind = "beacon" if is_beacon_frame(p.payload) else "frame"
                            console.print(
                                f"{stamp} {p.freq_hz / 1e6:9.3f} MHz SF{p.spreading_factor}"
                                f" rssi {p.rssi_dbm:7.1f} dBm snr {p.snr_db:6.2f} dB "
                                f"{len(p.payload):3d} B {'crc-ok ' if p.crc_ok else 'CRC-BAD'}"
                                f" {kind} {p.payload[:24].hex()}")
                            if count is not None and seen >= count:
                                break
                stats = dict(radio.stats)
                frames = dict(getattr(radio, "frame_stats", {}))
        finally:
            if writer is not None:
                writer.close()
        console.print(f"{seen} packets; driver stats {stats or '{}'}"
                      + (f"; dropped frames {frames}" if frames else ""))

    try:
        trio.run(run)
    except KeyboardInterrupt:
        console.print(f"stopped after {seen} packets")


@bridge.command()
@device_options
@plan_options
@tx_power_option
@click.option("--hex", "payload_hex", metavar="PAYLOAD",
              help="The frame to send (the whole LoRa PHY payload), as hex: e0 01 02 or e00102.")
@click.option("--beacon", is_flag=True,
              help="Send a proof-of-coverage beacon, built as a challenged hotspot builds it.")
@click.option("--secret", "secret_hex", metavar="HEX",
              help="The beacon's 32-byte secret [default: a fresh random one per frame].")
@click.option("--challenge", "challenge_hex", metavar="HEX",
              help="The beacon's 32-byte challenge id [default: a fresh random one per frame].")
@click.option("--every", "every_s", type=click.FloatRange(min=0, min_open=True),
              metavar="SECONDS", help="Repeat the frame this often (until Ctrl-C or --count).")
@click.option("--count", type=click.IntRange(min=1),
              help="Send this many frames [default: 1, or until Ctrl-C with --every].")
@click.option("--reconnect-timeout", "reconnect_timeout_s", type=click.FloatRange(min=0),
              default=5.0, show_default=True,
              help="Seconds to wait for an unplugged native board to come back before failing.")
def send(port, driver, baudrate, timeout_s, region, data_rate, channel, tx_power, payload_hex,
         beacon, secret_hex, challenge_hex, every_s, count, reconnect_timeout_s) -> None:
    """Transmit frames from the command line, to test a devboard against another.

    Everything is checked before the radio is touched: the region must have the
    data rate on the channel, the frame must fit the region's maximum payload and
    dwell time at that rate, and --every must keep the sub-band's duty cycle.
    Without --every, repeated frames follow as fast as the duty cycle allows.
    One line per frame says what was sent.

    \b
    Examples:
      coverage-net bridge send --port /dev/ttyACM0 --region EU868 --dr 5 --hex 'c0 ff ee'
      coverage-net bridge send --port /dev/ttyACM0 --region US915 --dr 0 --beacon \\
          --every 10 --count 6
    """
    region_, config = radio_config(region, data_rate, channel, tx_power)
    option, size, frames = choose_frames(payload_hex, beacon, secret_hex, challenge_hex,
                                         region_, data_rate, config)
    check_frame(option, size, region_, data_rate, config)
    spacing_s = interval_s(size, region_, config, every_s)
    total = count if count is not None else (None if every_s is not None else 1)
    console = Console(soft_wrap=True, highlight=False)
    sent = 0

    def report(n: int, frame: Frame, result) -> None:
        nonlocal sent
        sent = n
        line = (f"{time.strftime('%H:%M:%S')} sent {n}{f'/{total}' if total else ''} "
                f"{len(frame.payload):3d} B {result.airtime_s * 1000:7.1f} ms on air "
                f"{result.tx_power_dbm:g} dBm {frame.payload.hex()}")
        if frame.secret is not None:
            line += f" secret {frame.secret.hex()} challenge {frame.challenge_id.hex()}"
        console.print(line)

    async def run() -> None:
        async with make_radio(driver, port, baudrate, timeout_s,
                              reconnect_timeout_s=reconnect_timeout_s) as radio:
            await radio.configure(config)
            console.print(f"sending on {port} ({driver}) at {config.freq_hz / 1e6:.3f} MHz "
                          f"SF{config.spreading_factor} BW{config.bandwidth_hz // 1000} "
                          f"{config.tx_power_dbm} dBm", style="bold")
            await send_frames(radio, frames, count=total, interval_s=spacing_s, on_sent=report)

    finished = False
    try:  # Ctrl-C reaches here inside an exception group: the CLI's group exits 130
        trio.run(run)
        finished = True
    finally:
        console.print(f"{'' if finished else 'stopped after '}{sent} frame"
                      f"{'s' * (sent != 1)} sent")

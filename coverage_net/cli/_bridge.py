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

DRIVERS = ("native", "rn2483", "semtech-udp")


def _host_port(text: str, default_host: str) -> tuple[str, int] | None:
    """'host:port' or ':port' or 'port' -> (host, port); None if `text` is not that."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = default_host, text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        return None
    return (host or default_host), int(port)


def make_radio(driver: str, port: str, baudrate: int | None, timeout_s: float) -> Radio:
    """The radio a CLI user asked for (the only place concrete drivers are picked)."""
    if driver == "native":
        tcp = _host_port(port, "127.0.0.1") if not Path(port).exists() else None
        if tcp is not None and ":" in port:
            return NativeRadio.open_tcp(*tcp, timeout_s=timeout_s)
        return NativeRadio.open_serial(port, baudrate=baudrate or 115200, timeout_s=timeout_s)
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


@click.group()
def bridge() -> None:
    """Talk to a LoRa radio: our devboard firmware, an RN2483/RN2903 module, or a
    Semtech packet forwarder."""


@bridge.command()
@port_option
@driver_option
@baud_option
@timeout_option
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
@port_option
@driver_option
@baud_option
@timeout_option
@click.option("--region", default="US915", show_default=True,
              help="Regional plan the channel and data rate come from.")
@click.option("--dr", "data_rate", type=click.IntRange(0, 15), default=0, show_default=True,
              help="Data rate index in the region.")
@click.option("--channel", type=click.IntRange(min=0), default=0, show_default=True,
              help="Uplink channel index in the region.")
@click.option("--freq-mhz", type=float, help="Explicit frequency (overrides the region's).")
@click.option("--sf", type=click.IntRange(7, 12), help="Spreading factor with --freq-mhz.")
@click.option("--bw-khz", type=click.Choice(["125", "250", "500"]), default="125",
              show_default=True, help="Bandwidth with --freq-mhz.")
@click.option("--tx-power", type=click.IntRange(-9, 22), help="Transmit power, dBm.")
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

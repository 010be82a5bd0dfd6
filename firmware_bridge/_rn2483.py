"""Driver for Microchip RN2483 (868 MHz) / RN2903 (915 MHz) modules: ASCII lines at 57600 baud.

The module's LoRaWAN stack is paused (`mac pause`) and its radio driven directly
with `radio ...` commands. Three habits of the module shape this driver:

* Replies carry no id. One command is in flight at a time (a lock), and a line
  only counts as the reply if it has the form that command's reply takes;
  unsolicited ``radio_rx``/``radio_err`` lines may arrive between a command and
  its reply and are routed to reception. Anything else is counted as garbage.
* Continuous reception (`radio rx 0`) ends after every packet, so the driver
  queries SNR/RSSI and re-arms after each one; a transmission needs `radio
  rxstop` first and a re-arm afterwards.
* A USB replug power-cycles the module, so reconnecting repeats the start-up
  and the last configuration.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from ._errors import (
    BridgeError,
    DeviceBusyError,
    DeviceDisconnectedError,
    DeviceError,
    DeviceTimeoutError,
    InvalidParameterError,
    RadioFailureError,
)
from ._radio import Gap, Radio, RadioConfig, RadioInfo, RxPacket, TxResult
from ._rn2483_link import NUMBER, OK, RX_LINE, TX_DONE, VERSION, VERSION_REPLY, LineLink, Waiter
from ._serial import open_serial_stream

logger = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 255
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
TX_DONE_MARGIN_S = 1.0
REARM_RETRY_S = 0.5

_REGIONS = {"RN2483": ("EU868", "IN865"), "RN2903": ("US915", "AU915")}

ConnectFn = Callable[[], Awaitable[trio.abc.Stream]]


@dataclass
class _RxEvent:
    payload: bytes
    host_time_s: float


class RN2483Radio(Radio):
    """An RN2483 / RN2903 module on a serial port (`open_serial`) or any trio byte stream.

    A stream given directly cannot be reopened, so its loss is final; pass
    `connect` (an async function returning a new stream) to reconnect instead.
    After `reconnect_timeout_s` without the device every call raises
    `DeviceDisconnectedError` and `packets()` subscriptions end. Gaps in
    service are listed in `gaps` (`Gap`, host clock) and summed in ``stats["gap_s"]``.
    """

    driver = "rn2483"

    def __init__(self, stream: trio.abc.Stream | None = None, *, connect: ConnectFn | None = None,
                 clock: Callable[[], float] = time.time, command_timeout_s: float = 1.0,
                 reconnect_timeout_s: float = 30.0, name: str = "stream") -> None:
        if (stream is None) == (connect is None):
            raise TypeError("give either a stream or a connect function")
        super().__init__(clock=clock)
        self._first_stream = stream
        self._connect = connect
        self._name = name
        self.command_timeout_s = command_timeout_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self.serial = None  # the pyserial port, when opened with open_serial
        self.gaps: list[Gap] = []
        self._backoff_s = BACKOFF_FIRST_S
        self._lock = trio.Lock()
        self._link: LineLink | None = None
        self._waiter: Waiter | None = None
        self._tx_waiter: Waiter | None = None
        self._rx_armed = False
        self._rssi_supported = True
        self._version_line = ""
        self._dead: DeviceDisconnectedError | None = None
        self._closing = False
        self._rx_send, self._rx_receive = trio.open_memory_channel(64)

    @classmethod
    def open_serial(cls, port: str | os.PathLike, *, baudrate: int = 57600,
                    clock: Callable[[], float] = time.time, command_timeout_s: float = 1.0,
                    reconnect_timeout_s: float = 30.0) -> RN2483Radio:
        """A radio on `port`; the port is opened (exclusively, DTR/RTS low) on ``async with``."""
        port = os.fspath(port)
        radio: RN2483Radio

        async def connect() -> trio.abc.Stream:
            stream = await open_serial_stream(port, baudrate)
            radio.serial = stream.port
            return stream

        radio = cls(connect=connect, clock=clock, command_timeout_s=command_timeout_s,
                    reconnect_timeout_s=reconnect_timeout_s, name=port)
        return radio

    # -- lifecycle --------------------------------------------------------------------
    async def _start(self, nursery: trio.Nursery) -> None:
        stream = self._first_stream or await self._connect()
        await nursery.start(self._run_link, stream)
        nursery.start_soon(self._rx_worker)

    async def _stop(self) -> None:
        self._closing = True
        if self._link is not None:
            self._lose(self._link, "closed")
            await trio.aclose_forcefully(self._link.stream)

    async def _run_link(self, stream: trio.abc.Stream, *,
                        task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Own the connection: read it, bring it up, and reconnect when it is lost."""
        gap_start: float | None = None
        started = False
        while True:
            link = self._link = LineLink(stream)
            error: BridgeError | None = None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_loop, link)
                try:
                    async with self._lock:
                        await self._bring_up(link, reconfigure=started)
                except BridgeError as exc:
                    error = exc
                else:
                    if not started:
                        started = True
                        task_status.started()
                    self._backoff_s = BACKOFF_FIRST_S
                    if gap_start is not None:
                        self._record_gap(trio.current_time() - gap_start)
                        gap_start = None
                    await link.lost.wait()
                nursery.cancel_scope.cancel()
            self._lose(link, "lost")
            await trio.aclose_forcefully(stream)
            if error is not None:
                if not started:
                    raise error
                logger.warning("rn2483 start-up after reconnect failed",
                               extra={"port": self._name, "error": str(error)})
            if self._closing:
                return
            if gap_start is None:
                gap_start = trio.current_time()
                logger.warning("rn2483 link lost; reconnecting", extra={"port": self._name})
            stream = await self._reconnect(gap_start)
            if stream is None:
                return

    async def _reconnect(self, gap_start: float) -> trio.abc.Stream | None:
        while self._connect is not None:
            remaining = gap_start + self.reconnect_timeout_s - trio.current_time()
            if remaining <= 0:
                break
            await trio.sleep(min(self._backoff_s, remaining))
            self._backoff_s = min(self._backoff_s * 2, BACKOFF_MAX_S)
            self.stats["reconnect_attempts"] += 1
            try:
                return await self._connect()
            except (BridgeError, OSError) as exc:
                logger.debug("rn2483 reconnect attempt failed",
                             extra={"port": self._name, "error": str(exc)})
        self._dead = DeviceDisconnectedError(
            f"RN2483 on {self._name} is gone and could not be reopened"
            + (f" within {self.reconnect_timeout_s:g} s" if self._connect else "")
            + "; open the radio again once the device is back")
        logger.error("rn2483 gave up reconnecting", extra={"port": self._name})
        for s in self._subscribers:
            s.close()
        return None

    def _record_gap(self, gap_s: float) -> None:
        end_s = self.now()
        self.gaps.append(Gap(end_s - gap_s, end_s))
        self.stats["reconnects"] += 1
        self.stats["gap_s"] += gap_s
        logger.warning("rn2483 reconnected", extra={"port": self._name, "gap_s": gap_s})

    def _lose(self, link: LineLink, why: str) -> None:
        link.up = False
        if not link.lost.is_set():
            link.lost.set()
            error = DeviceDisconnectedError(
                f"RN2483 on {self._name} {why} while waiting for a reply; the driver "
                f"reconnects by itself, retry once it is back")
            for waiter in (self._waiter, self._tx_waiter):
                if waiter is not None:
                    waiter.fail(error)

    async def _bring_up(self, link: LineLink, *, reconfigure: bool) -> None:
        version = await self._ask(link, "sys get ver", VERSION_REPLY)
        self._version_line = version
        pause_ms = await self._ask(link, "mac pause", NUMBER)
        if int(pause_ms) == 0:
            raise DeviceBusyError("RN2483 refused 'mac pause' (answered 0): its LoRaWAN stack "
                                  "is busy; retry in a few seconds")
        self._rx_armed = False
        try:
            await self._ask(link, "radio set wdt 0", OK)
        except DeviceBusyError:  # still receiving from before: stop, then retry once
            await self._ask(link, "radio rxstop", OK)
            await self._ask(link, "radio set wdt 0", OK)
        if reconfigure and self.config is not None:
            await self._apply(link, self.config)
        link.up = True

    # -- reading ----------------------------------------------------------------------
    async def _read_loop(self, link: LineLink) -> None:
        try:
            while data := await link.stream.receive_some(4096):
                lines, overlong = link.feed(data)
                self.stats["garbage_lines"] += overlong
                for raw in lines:
                    self._on_line(raw)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            logger.debug("rn2483 read failed", extra={"port": self._name, "error": repr(exc)})
        self._lose(link, "disappeared")

    def _on_line(self, raw: bytes) -> None:
        line = raw.decode("ascii", "replace").strip()
        if not line:
            return
        if m := RX_LINE.fullmatch(line):
            hex_payload = m.group(1)
            if 0 < len(hex_payload) <= 2 * MAX_PAYLOAD_BYTES and len(hex_payload) % 2 == 0:
                self._rx_armed = False
                self._queue(_RxEvent(bytes.fromhex(hex_payload), self.now()))
                return
        elif line in ("radio_tx_ok", "radio_err") and self._tx_waiter is not None:
            self._tx_waiter.offer(line)
            self._tx_waiter = None
            return
        elif line == "radio_err":  # reception failed (CRC, header); the radio left rx
            self.stats["rx_errors"] += 1
            self._rx_armed = False
            self._queue(None)
            return
        elif self._waiter is not None and self._waiter.offer(line):
            return
        elif VERSION.fullmatch(line):
            self.stats["banners"] += 1
            logger.warning("rn2483 printed its banner unasked: did it restart?",
                           extra={"port": self._name, "line": line})
            return
        self.stats["garbage_lines"] += 1
        logger.debug("rn2483 garbage line", extra={"port": self._name, "line": line[:80]})

    def _queue(self, event: _RxEvent | None) -> None:
        try:
            self._rx_send.send_nowait(event)
        except trio.WouldBlock:
            if event is not None:
                self.stats["rx_dropped_backlog"] += 1

    # -- commands ---------------------------------------------------------------------
    async def _ask(self, link: LineLink, command: str, accepts: re.Pattern[str], *,
                   on_reply: Callable[[str], None] | None = None,
                   allow_invalid: bool = False) -> str:
        """Send one command (the caller holds the lock) and return its reply."""
        label = command if not command.startswith("radio tx ") else (
            f"radio tx <{(len(command) - 9) // 2} bytes>")
        if link.lost.is_set():
            raise DeviceDisconnectedError(f"RN2483 on {self._name} is disconnected; "
                                          f"'{label}' not sent")
        waiter = self._waiter = Waiter(accepts, on_reply)
        try:
            with trio.move_on_after(self.command_timeout_s):
                try:
                    await link.stream.send_all(command.encode("ascii") + b"\r\n")
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    self._lose(link, "disappeared")
                await waiter.done.wait()
        finally:
            self._waiter = None
        if waiter.error is not None:
            raise waiter.error
        if waiter.reply is None:
            raise DeviceTimeoutError(f"RN2483 did not answer '{label}' within "
                                     f"{self.command_timeout_s:g} s")
        if waiter.reply == "busy":
            raise DeviceBusyError(f"RN2483 answered busy to '{label}': the radio is "
                                  f"transmitting or receiving, or the LoRaWAN stack is active")
        if waiter.reply == "invalid_param" and not allow_invalid:
            raise InvalidParameterError(f"RN2483 answered invalid_param to '{label}': the "
                                        f"value is outside what this module accepts")
        return waiter.reply

    def _usable_link(self) -> LineLink:
        if self._dead is not None:
            raise self._dead
        link = self._link
        if link is None or not link.up:
            raise DeviceDisconnectedError(f"RN2483 on {self._name} is disconnected; the "
                                          f"driver is reconnecting, retry shortly")
        return link

    async def _arm_rx(self, link: LineLink) -> None:
        def on_reply(line: str) -> None:
            # set in line order: a radio_rx right behind this "ok" must find the radio armed
            self._rx_armed = self._rx_armed or line == "ok"

        await self._ask(link, "radio rx 0", OK, on_reply=on_reply)

    async def _try_rearm(self, link: LineLink) -> None:
        if self.config is None or self._rx_armed or link.lost.is_set():
            return
        try:
            await self._arm_rx(link)
        except DeviceDisconnectedError:
            pass  # the reconnect re-arms
        except BridgeError as exc:
            self.stats["rx_rearm_failures"] += 1
            logger.warning("rn2483 could not re-arm reception; retrying",
                           extra={"port": self._name, "error": str(exc)})
            self._nursery.start_soon(self._rearm_later)

    async def _rearm_later(self) -> None:
        await trio.sleep(REARM_RETRY_S)
        self._queue(None)

    async def _rx_worker(self) -> None:
        """Finish each reception (SNR, RSSI), deliver it, re-arm; also re-arm on request."""
        async for event in self._rx_receive:
            async with self._lock:
                link = self._link if self._link is not None and self._link.up else None
                if event is not None and self.config is None:
                    self.stats["rx_dropped_unconfigured"] += 1  # left over from before start
                elif event is not None:
                    snr_db, rssi_dbm = await self._rx_quality(link)
                    self._deliver(self._packet(event, self.config, snr_db, rssi_dbm))
                if link is not None:
                    await self._try_rearm(link)

    async def _rx_quality(self, link: LineLink | None) -> tuple[float, float]:
        snr_db = rssi_dbm = math.nan
        if link is None:
            return snr_db, rssi_dbm
        try:
            snr_db = float(await self._ask(link, "radio get snr", NUMBER))
            if self._rssi_supported:
                rssi = await self._ask(link, "radio get rssi", NUMBER, allow_invalid=True)
                if rssi == "invalid_param":
                    self._rssi_supported = False
                    logger.info("rn2483 firmware has no 'radio get rssi'; RSSI will be NaN",
                                extra={"port": self._name})
                else:
                    rssi_dbm = float(rssi)
        except BridgeError as exc:
            self.stats["rx_quality_failures"] += 1
            logger.warning("rn2483 SNR/RSSI query failed; packet delivered without them",
                           extra={"port": self._name, "error": str(exc)})
        return snr_db, rssi_dbm

    @staticmethod
    def _packet(event: _RxEvent, c: RadioConfig, snr_db: float, rssi_dbm: float) -> RxPacket:
        # the module reports neither the channel nor a timestamp: both come from the host
        return RxPacket(payload=event.payload, rssi_dbm=rssi_dbm, snr_db=snr_db,
                        freq_hz=c.freq_hz, spreading_factor=c.spreading_factor,
                        bandwidth_hz=c.bandwidth_hz, coding_rate=c.coding_rate,
                        radio_timestamp_us=int(event.host_time_s * 1e6),
                        host_time_s=event.host_time_s, crc_ok=True)

    # -- the Radio interface ----------------------------------------------------------
    async def configure(self, config: RadioConfig) -> None:
        if config.bandwidth_hz not in (125_000, 250_000, 500_000):
            raise InvalidParameterError(f"bandwidth_hz is {config.bandwidth_hz}; the RN2483 "
                                        f"supports 125000, 250000 or 500000")
        async with self._lock:
            link = self._usable_link()
            try:
                await self._apply(link, config)
            except DeviceDisconnectedError:
                raise  # the reconnect restores the previous configuration
            except BaseException:
                self.config = None  # half-applied: not receiving until configure succeeds
                raise

    async def _apply(self, link: LineLink, config: RadioConfig) -> None:
        if self._rx_armed:
            await self._ask(link, "radio rxstop", OK)
            self._rx_armed = False
        for command in (
            "radio set mod lora",
            f"radio set freq {config.freq_hz}",
            f"radio set sf sf{config.spreading_factor}",
            f"radio set bw {config.bandwidth_hz // 1000}",
            f"radio set cr 4/{config.coding_rate}",
            f"radio set pwr {config.tx_power_dbm}",
            f"radio set sync {config.sync_word:02X}",
            f"radio set prlen {config.preamble_symbols}",
            f"radio set iqi {'on' if config.iq_inverted else 'off'}",
            "radio set crc on",
        ):
            await self._ask(link, command, OK)
        self.config = config
        await self._arm_rx(link)

    async def transmit(self, payload: bytes) -> TxResult:
        payload = bytes(payload)
        if not 1 <= len(payload) <= MAX_PAYLOAD_BYTES:
            raise InvalidParameterError(f"payload is {len(payload)} bytes; the RN2483 sends "
                                        f"1..{MAX_PAYLOAD_BYTES}")
        self._require_config()
        async with self._lock:
            link = self._usable_link()
            config = self._require_config()
            try:
                result = await self._send(link, config, payload)
            except (DeviceError, DeviceTimeoutError):
                self.stats["tx_failed"] += 1
                await self._try_rearm(link)
                raise
            except BaseException:
                self.stats["tx_failed"] += 1
                self._queue(None)  # cancelled or disconnected: re-arm later
                raise
            self.stats["tx_ok"] += 1
            await self._try_rearm(link)
            return result

    async def _send(self, link: LineLink, config: RadioConfig, payload: bytes) -> TxResult:
        await self._ask(link, "radio rxstop", OK)
        self._rx_armed = False
        done = Waiter(TX_DONE)

        def on_reply(line: str) -> None:
            if line == "ok":  # from now on radio_tx_ok / radio_err end this transmission
                self._tx_waiter = done

        airtime_s = config.airtime_s(len(payload))
        try:
            await self._ask(link, f"radio tx {payload.hex().upper()}", OK, on_reply=on_reply)
            with trio.move_on_after(airtime_s + TX_DONE_MARGIN_S):
                await done.done.wait()
        finally:
            self._tx_waiter = None
        if done.error is not None:
            raise done.error
        if done.reply is None:
            raise DeviceTimeoutError(f"RN2483 accepted 'radio tx' but sent no radio_tx_ok "
                                     f"within {airtime_s + TX_DONE_MARGIN_S:.2f} s")
        if done.reply == "radio_err":
            raise RadioFailureError("RN2483 answered radio_err to 'radio tx': the transmission "
                                    "failed (radio watchdog); retry")
        return TxResult(airtime_s=airtime_s, radio_timestamp_us=int(self.now() * 1e6),
                        tx_power_dbm=float(config.tx_power_dbm))

    async def info(self) -> RadioInfo:
        if self._dead is not None:
            raise self._dead
        m = VERSION.fullmatch(self._version_line)
        chip, firmware = (m.group(1), m.group(2)) if m else ("unknown", self._version_line)
        return RadioInfo(driver=self.driver, firmware_version=firmware, radio_chip=chip,
                         supported_regions=_REGIONS.get(chip, ()),
                         extra={"version_line": self._version_line,
                                "rssi_supported": self._rssi_supported})

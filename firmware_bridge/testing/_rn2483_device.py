"""A sans-IO Microchip RN2483 / RN2903 module, for the `rn2483` driver's tests.

`FakeRN2483` speaks the module's ASCII command set (lines ending in CR LF) as
far as a radio-only driver uses it: `sys get ver`, `mac pause`, `radio set`,
`radio get`, `radio rx`, `radio rxstop`, `radio tx`. It keeps the way the real
module trips drivers up: radio commands answer ``busy`` until the LoRaWAN stack
is paused with `mac pause`, and while the radio receives or transmits; the
module leaves reception after every packet (``radio_rx`` or ``radio_err``) and
stays deaf until re-armed; firmware 1.0.x writes ``radio_rx`` with two spaces;
older firmware has no ``radio get rssi``. Serve it with `PtyDevice`.

All public methods are thread-safe: `PtyDevice` calls `receive`/`poll` from its
own thread while a test scripts the device from another.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from coverage_net.radio import time_on_air_s

MAX_LINE_BYTES = 1024  # longer input lines are dropped, as the module's buffer overflows
BUILD_DATE = "Oct 31 2018 15:06:52"

# radio parameter ranges (RN2483 / RN2903 LoRa Technology Module Command Reference, DS40001784)
_FREQ_RANGES_HZ = {
    "RN2483": ((433_050_000, 434_790_000), (863_000_000, 870_000_000)),
    "RN2903": ((902_000_000, 928_000_000),),
}
_POWER_RANGES_DBM = {"RN2483": (-3, 15), "RN2903": (2, 20)}


def _int_in(value: str, low: int, high: int) -> bool:
    return re.fullmatch(r"-?\d+", value) is not None and low <= int(value) <= high


@dataclass
class _Scheduled:
    due: float
    data: bytes


class FakeRN2483:
    """A simulated RN2483 (or, with ``chip="RN2903"``, RN2903) module.

    Parameters
    ----------
    chip, firmware : what `sys get ver` reports.
    clock : seconds, monotonic; decides when a transmission ends.
    time_scale : multiplies every airtime, so tests need not wait for SF12.
    double_space : write received packets as ``radio_rx  <hex>`` (firmware 1.0.x).
    rssi_supported : False models firmware without ``radio get rssi``.
    """

    def __init__(self, *, chip: str = "RN2483", firmware: str = "1.0.5",
                 clock: Callable[[], float] = time.monotonic, time_scale: float = 1.0,
                 double_space: bool = False, rssi_supported: bool = True) -> None:
        if chip not in _FREQ_RANGES_HZ:
            raise ValueError(f"chip is {chip!r}; it must be one of {sorted(_FREQ_RANGES_HZ)}")
        self.chip = chip
        self.firmware = firmware
        self.clock = clock
        self.time_scale = time_scale
        self.double_space = double_space
        self.rssi_supported = rssi_supported
        self.commands: list[str] = []  # every line received, decoded
        self.garbage: list[bytes] = []  # lines that were not a known command
        self.transmitted: list[bytes] = []
        self.rx_arm_count = 0
        self._lock = threading.RLock()
        self._hooks: list[tuple[str, str, bytes]] = []  # (kind, command prefix, data)
        self._rx_queue: collections.deque[tuple[bytes, int, int]] = collections.deque()
        self._err_next_tx = False
        self.reset()

    # -- scripting --------------------------------------------------------------------
    def reset(self, *, banner: bool = False) -> None:
        """Power-on state (what unplugging a bus-powered module does): settings lost,
        the LoRaWAN stack active again, the radio idle. ``banner`` prints the version
        line the module writes at boot."""
        with self._lock:
            self.settings = {"mod": "lora", "freq": "868100000", "sf": "sf12", "bw": "125",
                             "cr": "4/5", "pwr": "1", "sync": "34", "prlen": "8",
                             "iqi": "off", "crc": "on", "wdt": "15000"}
            self.mac_paused = False
            self.rx_armed = False
            self.last_snr_db = -128
            self.last_rssi_dbm = -128
            self._tx_done: _Scheduled | None = None
            self._in = bytearray()
            self._skipping = False
            self._out = bytearray(self._version_line() + b"\r\n" if banner else b"")

    def push_rx(self, payload: bytes, *, snr_db: int = 7, rssi_dbm: int = -60) -> None:
        """Queue a packet from the air; it is received the next time the radio listens."""
        with self._lock:
            self._rx_queue.append((bytes(payload), int(snr_db), int(rssi_dbm)))

    def busy_next(self, cmd_prefix: str) -> None:
        """The next command starting with `cmd_prefix` is answered ``busy``."""
        self._hook("busy", cmd_prefix)

    def invalid_next(self, cmd_prefix: str) -> None:
        """The next command starting with `cmd_prefix` is answered ``invalid_param``."""
        self._hook("invalid", cmd_prefix)

    def silent_next(self, cmd_prefix: str) -> None:
        """The next command starting with `cmd_prefix` is swallowed without an answer."""
        self._hook("silent", cmd_prefix)

    def emit_before_next(self, cmd_prefix: str, line: bytes) -> None:
        """Write `line` (unsolicited output) just before answering the next such command."""
        self._hook("emit", cmd_prefix, line)

    def radio_err_next_tx(self) -> None:
        """The next accepted ``radio tx`` ends in ``radio_err`` instead of ``radio_tx_ok``."""
        with self._lock:
            self._err_next_tx = True

    def _hook(self, kind: str, prefix: str, data: bytes = b"") -> None:
        with self._lock:
            self._hooks.append((kind, prefix, data))

    # -- sans-IO ----------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        with self._lock:
            self._in += data
            while (i := self._in.find(b"\n")) >= 0:
                raw = bytes(self._in[:i]).rstrip(b"\r")
                del self._in[:i + 1]
                if self._skipping:
                    self._skipping = False
                    continue
                self._out += self._line(raw)
            if len(self._in) > MAX_LINE_BYTES:
                self.garbage.append(bytes(self._in))
                self._in.clear()
                self._skipping = True
            return self._take_output()

    def poll(self) -> bytes:
        with self._lock:
            now = self.clock()
            if self._tx_done is not None and now >= self._tx_done.due:
                self._out += self._tx_done.data
                self._tx_done = None
            if self.rx_armed and self._tx_done is None and self._rx_queue:
                payload, snr_db, rssi_dbm = self._rx_queue.popleft()
                self.rx_armed = False  # the module leaves reception after each packet
                self.last_snr_db, self.last_rssi_dbm = snr_db, rssi_dbm
                sep = "  " if self.double_space else " "
                self._out += f"radio_rx{sep}{payload.hex().upper()}\r\n".encode()
            return self._take_output()

    def _take_output(self) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    # -- commands ---------------------------------------------------------------------
    def _version_line(self) -> bytes:
        return f"{self.chip} {self.firmware} {BUILD_DATE}".encode()

    def _line(self, raw: bytes) -> bytes:
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            line = None
        self.commands.append(raw.decode("ascii", "backslashreplace"))
        if line is None or not line.isprintable():
            self.garbage.append(raw)
            return b"invalid_param\r\n"
        prefix = b""
        for hook in self._hooks:
            kind, cmd_prefix, data = hook
            if line.startswith(cmd_prefix):
                self._hooks.remove(hook)
                if kind == "emit":
                    prefix = data
                    break
                return {"busy": b"busy\r\n", "invalid": b"invalid_param\r\n",
                        "silent": b""}[kind]
        reply = self._command(line.split(" "))
        if reply is None:
            self.garbage.append(raw)
            reply = "invalid_param"
        return prefix + reply.encode() + b"\r\n"

    def _command(self, words: list[str]) -> str | None:
        match words:
            case ["sys", "get", "ver"]:
                return self._version_line().decode()
            case ["sys", "get", "hweui"]:
                return "0004A30B001A2B3C"
            case ["sys", "reset"]:
                self.reset()
                return self._version_line().decode()
            case ["mac", "pause"]:
                self.mac_paused = True
                return "4294967245"
            case ["mac", "resume"]:
                self.mac_paused = False
                return "ok"
            case ["radio", *rest]:
                if not self.mac_paused:
                    return "busy"  # the LoRaWAN stack owns the radio
                return self._radio(rest)
        return None

    def _radio(self, words: list[str]) -> str | None:
        match words:
            case ["set", param, value]:
                if self.rx_armed or self._tx_done is not None:
                    return "busy"
                if param not in self.settings:
                    return None
                if not self._valid_setting(param, value):
                    return "invalid_param"
                self.settings[param] = value
                return "ok"
            case ["get", "snr"]:
                return str(self.last_snr_db)
            case ["get", "rssi"]:
                return str(self.last_rssi_dbm) if self.rssi_supported else "invalid_param"
            case ["get", param] if param in self.settings:
                return self.settings[param]
            case ["rx", window]:
                if not _int_in(window, 0, 65535):
                    return "invalid_param"
                if self.rx_armed or self._tx_done is not None:
                    return "busy"
                self.rx_armed = True  # any window listens until a packet (wdt is 0 in tests)
                self.rx_arm_count += 1
                return "ok"
            case ["rxstop"]:
                self.rx_armed = False
                return "ok"
            case ["tx", data]:
                return self._tx(data)
        return None

    def _valid_setting(self, param: str, value: str) -> bool:
        if param == "mod":
            return value in ("lora", "fsk")
        if param == "freq":
            return any(_int_in(value, lo, hi) for lo, hi in _FREQ_RANGES_HZ[self.chip])
        if param == "sf":
            return value in {f"sf{n}" for n in range(7, 13)}
        if param == "bw":
            return value in ("125", "250", "500")
        if param == "cr":
            return value in ("4/5", "4/6", "4/7", "4/8")
        if param == "pwr":
            return _int_in(value, *_POWER_RANGES_DBM[self.chip])
        if param == "sync":
            return re.fullmatch(r"[0-9A-Fa-f]{1,2}", value) is not None
        if param == "prlen":
            return _int_in(value, 0, 65535)
        if param in ("iqi", "crc"):
            return value in ("on", "off")
        if param == "wdt":
            return _int_in(value, 0, 4_294_967_295)
        return False

    def _tx(self, data: str) -> str:
        if re.fullmatch(r"(?:[0-9A-Fa-f]{2}){1,255}", data) is None:
            return "invalid_param"
        if self.rx_armed or self._tx_done is not None:
            return "busy"
        payload = bytes.fromhex(data)
        self.transmitted.append(payload)
        s = self.settings
        airtime_s = float(time_on_air_s(len(payload), int(s["sf"][2:]), int(s["bw"]) * 1000,
                                        int(s["cr"][2]), int(s["prlen"])))
        end = b"radio_err\r\n" if self._err_next_tx else b"radio_tx_ok\r\n"
        self._err_next_tx = False
        self._tx_done = _Scheduled(self.clock() + airtime_s * self.time_scale, end)
        return "ok"

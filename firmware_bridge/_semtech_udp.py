"""The `semtech-udp` driver: a GWMP server for SX130x gateways running `lora_pkt_fwd`.

The Semtech UDP packet forwarder protocol (GWMP, version 2; version 1 is
accepted) turns the usual roles round: the gateway is the client. It pushes
received packets (PUSH_DATA, answered with PUSH_ACK) and polls us with
PULL_DATA keepalives (answered with PULL_ACK) so that our downlinks
(PULL_RESP) can reach it through NAT, at the address its PULL_DATA came from.
A v2 forwarder answers each PULL_RESP with a TX_ACK carrying the same token.

The concentrator listens on all the channels of its own `global_conf.json`, so
`configure` only sets the parameters of our transmissions. Datagrams are
untrusted input: anything malformed is dropped, logged and counted in
`stats` under the reason, and the server keeps serving.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import random
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from ._errors import (
    ConfigError,
    DeviceDisconnectedError,
    DeviceTimeoutError,
    FrameError,
    InvalidParameterError,
    RadioFailureError,
)
from ._radio import FREQ_MAX_HZ, FREQ_MIN_HZ, Radio, RadioConfig, RadioInfo, RxPacket, TxResult

logger = logging.getLogger(__name__)

PROTOCOL_VERSIONS = (1, 2)
PUSH_DATA, PUSH_ACK, PULL_DATA, PULL_RESP, PULL_ACK, TX_ACK = range(6)
_HEADER = 4  # version, token (2 bytes), identifier
_EUI_END = _HEADER + 8
MAX_DATAGRAM = 65_536
MAX_PAYLOAD = 255
TX_BANDWIDTHS_HZ = (125_000, 250_000, 500_000)  # what an SX130x can send
SYNC_WORDS = (0x34, 0x12)  # lorawan_public true / false in global_conf.json

# TX_ACK errors that name a parameter of our request; every other error is a radio failure
_PARAMETER_ERRORS = {"TX_FREQ", "TX_POWER"}
_DATR = re.compile(r"SF(\d{1,2})BW(\d{3})")
_CODR = {"4/5": 5, "4/6": 6, "4/7": 7, "4/8": 8}
_CRC_STAT = {1: True, -1: False, 0: True}  # 0: sent without a CRC, so none failed


class _Drop(Exception):
    """Input we cannot use; `reason` becomes the stats key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


@dataclass
class _Gateway:
    eui: bytes
    address: tuple
    protocol_version: int
    last_pull_s: float


@dataclass
class _Pending:
    eui: bytes
    done: trio.Event
    ack: dict | None = None
    error: BaseException | None = None


class SemtechUdpRadio(Radio):
    """A GWMP server: the gateway's `lora_pkt_fwd` sends to `bind` (usually port 1700).

    Downlinks go to the gateway whose PULL_DATA arrived last, as immediate
    transmissions; `transmit` returns once the forwarder has accepted the
    packet (TX_ACK) and its airtime has passed. Packets with a bad CRC are
    counted and dropped unless `deliver_bad_crc`.
    """

    driver = "semtech-udp"

    def __init__(self, bind: tuple[str, int] = ("127.0.0.1", 1700), *,
                 clock: Callable[[], float] = time.time, tx_ack_timeout_s: float = 2.0,
                 deliver_bad_crc: bool = False, rng: random.Random | None = None) -> None:
        super().__init__(clock=clock)
        self._bind = bind
        self.tx_ack_timeout_s = tx_ack_timeout_s
        self.deliver_bad_crc = deliver_bad_crc
        self._rng = rng if rng is not None else random.Random()
        self._sock: trio.socket.SocketType | None = None
        self._gateways: dict[bytes, _Gateway] = {}
        self._downlink_eui: bytes | None = None
        self._pending: dict[int, _Pending] = {}
        self._tx_lock = trio.Lock()
        self.last_status: dict | None = None

    # -- lifecycle ----------------------------------------------------------------------
    async def _start(self, nursery: trio.Nursery) -> None:
        family = socket.AF_INET6 if ":" in self._bind[0] else socket.AF_INET
        sock = trio.socket.socket(family, socket.SOCK_DGRAM)
        try:
            await sock.bind(self._bind)
        except OSError as exc:
            sock.close()
            raise DeviceDisconnectedError(f"cannot listen for packet forwarders on "
                                          f"{self._bind}: {exc}") from exc
        self._sock = sock
        logger.info("GWMP server listening", extra={"address": self.local_address})
        nursery.start_soon(self._serve, sock)

    async def _stop(self) -> None:
        for pending in self._pending.values():
            pending.error = DeviceDisconnectedError("the GWMP server closed while a transmit "
                                                    "waited for its TX_ACK")
            pending.done.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    @property
    def local_address(self) -> tuple:
        """(host, port) the server listens on; forwarders send here."""
        if self._sock is None:
            raise DeviceDisconnectedError("the server is not running; open it with `async with`")
        return self._sock.getsockname()

    @property
    def gateways(self) -> dict[str, tuple]:
        """Downlink address of every gateway that has pulled, by EUI (hex)."""
        return {eui.hex(): gw.address for eui, gw in self._gateways.items()}

    # -- Radio ----------------------------------------------------------------------------
    async def configure(self, config: RadioConfig) -> None:
        if config.bandwidth_hz not in TX_BANDWIDTHS_HZ:
            raise ConfigError(f"bandwidth_hz is {config.bandwidth_hz}; an SX130x gateway "
                              f"transmits with one of {list(TX_BANDWIDTHS_HZ)}")
        if config.sync_word not in SYNC_WORDS:
            raise ConfigError(f"sync_word is {config.sync_word:#04x}; a packet forwarder uses "
                              f"0x34 or 0x12 (lorawan_public in its global_conf.json)")
        self.config = config

    async def info(self) -> RadioInfo:
        gw = self._gateways.get(self._downlink_eui) if self._downlink_eui else None
        version = gw.protocol_version if gw else None
        return RadioInfo(driver=self.driver, firmware_version=f"GWMP v{version or 2}",
                         radio_chip="SX130x", protocol_version=version,
                         extra={"gateway_eui": gw.eui.hex() if gw else None,
                                "gateways": self.gateways, "last_status": self.last_status})

    async def transmit(self, payload: bytes) -> TxResult:
        cfg = self._require_config()
        payload = bytes(payload)
        if len(payload) > MAX_PAYLOAD:
            raise FrameError(f"payload is {len(payload)} bytes; LoRa carries at most "
                             f"{MAX_PAYLOAD}")
        async with self._tx_lock:
            gw = self._downlink_gateway()
            txpk = txpk_for(cfg, payload)
            ack = await self._send_pull_resp(gw, txpk)
            power = cfg.tx_power_dbm
            if ack is not None:
                power = _check_tx_ack(ack, power)
            airtime = cfg.airtime_s(len(payload))
            # the forwarder acks when the packet is queued; it is on air right after
            await trio.sleep(airtime)
        self.stats["tx_packets"] += 1
        return TxResult(airtime_s=airtime, radio_timestamp_us=0, tx_power_dbm=power)

    def _downlink_gateway(self) -> _Gateway:
        if self._sock is None:
            raise DeviceDisconnectedError("the server is not running; open it with `async with`")
        if self._downlink_eui is None:
            raise DeviceDisconnectedError(
                "no packet forwarder has pulled yet, so there is no gateway to send through; "
                f"point lora_pkt_fwd's server_address/serv_port_down at {self.local_address}")
        return self._gateways[self._downlink_eui]

    async def _send_pull_resp(self, gw: _Gateway, txpk: dict) -> dict | None:
        """Send one PULL_RESP; the TX_ACK's JSON ({} if it had none), or None from v1."""
        token = self._new_token()
        body = json.dumps({"txpk": txpk}, separators=(",", ":")).encode()
        datagram = bytes([gw.protocol_version, token >> 8, token & 0xFF, PULL_RESP]) + body
        pending = _Pending(eui=gw.eui, done=trio.Event())
        self._pending[token] = pending
        try:
            try:
                await self._sock.sendto(datagram, gw.address)
            except (OSError, trio.ClosedResourceError) as exc:
                raise DeviceDisconnectedError(f"cannot send to gateway {gw.eui.hex()} at "
                                              f"{gw.address}: {exc}") from exc
            if gw.protocol_version == 1:
                return None  # GWMP v1 has no TX_ACK
            with trio.move_on_after(self.tx_ack_timeout_s):
                await pending.done.wait()
        finally:
            del self._pending[token]
        if pending.error is not None:
            raise pending.error
        if not pending.done.is_set():
            self.stats["tx_ack_timeouts"] += 1
            raise DeviceTimeoutError(f"gateway {gw.eui.hex()} sent no TX_ACK within "
                                     f"{self.tx_ack_timeout_s} s; is lora_pkt_fwd running?")
        return pending.ack

    def _new_token(self) -> int:
        while True:
            token = self._rng.getrandbits(16)
            if token not in self._pending:
                return token

    # -- server ---------------------------------------------------------------------------
    async def _serve(self, sock: trio.socket.SocketType) -> None:
        while True:
            try:
                data, address = await sock.recvfrom(MAX_DATAGRAM)
            except trio.ClosedResourceError:
                return  # _stop closed the socket
            except OSError as exc:  # an ICMP error reported on some platforms
                self.stats["socket_errors"] += 1
                logger.warning("GWMP socket error", extra={"error": str(exc)})
                continue
            self.stats["datagrams"] += 1
            try:
                reply = self._handle(data, address)
            except _Drop as drop:
                self.stats["datagrams_dropped"] += 1
                self._count_drop(drop, address)
                continue
            except Exception:  # a bug; never let one datagram stop the server
                self.stats["handler_errors"] += 1
                logger.exception("GWMP datagram crashed the handler",
                                 extra={"peer": address, "datagram": data[:64].hex()})
                continue
            if reply:
                try:
                    await sock.sendto(reply, address)
                except trio.ClosedResourceError:
                    return
                except OSError as exc:
                    self.stats["socket_errors"] += 1
                    logger.warning("GWMP reply failed", extra={"peer": address,
                                                               "error": str(exc)})

    def _count_drop(self, drop: _Drop, address) -> None:
        self.stats["malformed"] += 1
        self.stats[f"malformed_{drop.reason}"] += 1
        logger.warning("malformed GWMP datagram dropped",
                       extra={"peer": address, "reason": drop.reason, "detail": str(drop)})

    def _handle(self, data: bytes, address) -> bytes | None:
        """Process one datagram; the reply to send back, if any."""
        if len(data) < _HEADER:
            raise _Drop("short", f"{len(data)} bytes, a GWMP header is {_HEADER}")
        version, ident = data[0], data[3]
        if version not in PROTOCOL_VERSIONS:
            raise _Drop("version", f"protocol version {version}")
        token = int.from_bytes(data[1:3], "big")
        if ident == PUSH_DATA:
            eui = _eui(data)
            self.stats["push_data"] += 1
            # ack first: the datagram arrived whatever its JSON turns out to hold
            reply = bytes([version, data[1], data[2], PUSH_ACK])
            try:
                self._handle_push(eui, _json_object(data[_EUI_END:]), address)
            except _Drop as drop:
                self._count_drop(drop, address)
            return reply
        if ident == PULL_DATA:
            eui = _eui(data)
            self.stats["pull_data"] += 1
            if eui not in self._gateways:
                logger.info("packet forwarder pulled", extra={"gateway_eui": eui.hex(),
                                                              "peer": address})
            self._gateways[eui] = _Gateway(eui, address, version, self.now())
            self._downlink_eui = eui
            return bytes([version, data[1], data[2], PULL_ACK])
        if ident == TX_ACK:
            self._handle_tx_ack(data, token, address)
            return None
        if ident in (PUSH_ACK, PULL_RESP, PULL_ACK):
            raise _Drop("direction", f"identifier {ident:#04x} is sent by servers, not to them")
        raise _Drop("identifier", f"identifier {ident:#04x}")

    def _handle_tx_ack(self, data: bytes, token: int, address) -> None:
        if len(data) == _HEADER:  # some forwarders omit the EUI of a clean ack
            eui, ack = None, {}
        else:
            eui = _eui(data)
            ack = _json_object(data[_EUI_END:]) if len(data) > _EUI_END else {}
        self.stats["tx_ack"] += 1
        pending = self._pending.get(token)
        if pending is None or (eui is not None and eui != pending.eui):
            self.stats["tx_ack_unexpected"] += 1
            logger.info("TX_ACK for no waiting transmit (late, or another server's)",
                        extra={"peer": address, "token": token})
            return
        pending.ack = ack
        pending.done.set()

    def _handle_push(self, eui: bytes, obj: dict, address) -> None:
        host_time_s = self.now()
        if isinstance(obj.get("stat"), dict):
            self.last_status = obj["stat"]
            self.stats["status_reports"] += 1
        elif "stat" in obj:  # counted; the packets beside it are still good
            self._count_drop(_Drop("stat_not_object", "\"stat\" is not an object"), address)
        rxpks = obj.get("rxpk", [])
        if not isinstance(rxpks, list):
            raise _Drop("rxpk_not_list", "the \"rxpk\" member is not a list")
        for rxpk in rxpks:
            try:
                packet = rx_packet_from_rxpk(rxpk, host_time_s)
            except _Drop as drop:
                if drop.reason == "not_lora":
                    self.stats["rx_skipped_not_lora"] += 1
                    continue
                self._count_drop(drop, address)
                continue
            if not packet.crc_ok:
                self.stats["rx_bad_crc"] += 1
                if not self.deliver_bad_crc:
                    self.stats["rx_bad_crc_dropped"] += 1
                    continue
            self._deliver(packet)


# -- pure conversions --------------------------------------------------------------------
def _eui(data: bytes) -> bytes:
    if len(data) < _EUI_END:
        raise _Drop("short", f"{len(data)} bytes; this datagram carries an 8-byte gateway EUI")
    return bytes(data[_HEADER:_EUI_END])


def _json_object(raw: bytes) -> dict:
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Drop("json", f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise _Drop("json", f"JSON {type(obj).__name__}, not an object")
    return obj


def _number(obj: dict, key: str, low: float, high: float, reason: str = "") -> float | int:
    value = obj.get(key)
    reason = reason or f"rxpk_{key}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Drop(reason, f"{key} is {value!r}, not a number")
    if not low <= value <= high:  # also refuses NaN
        raise _Drop(reason, f"{key} is {value!r}, outside [{low}, {high}]")
    return value


def rx_packet_from_rxpk(rxpk: object, host_time_s: float) -> RxPacket:
    """An `RxPacket` from one element of a PUSH_DATA "rxpk" list.

    Raises `_Drop` with reason "not_lora" for FSK packets and a field-named
    reason for anything malformed.
    """
    if not isinstance(rxpk, dict):
        raise _Drop("rxpk_not_object", f"rxpk element is {type(rxpk).__name__}, not an object")
    modu = rxpk.get("modu", "LORA")
    if not isinstance(modu, str):
        raise _Drop("rxpk_modu", f"modu is {modu!r}, not a string")
    if modu != "LORA":
        raise _Drop("not_lora", f"modulation {modu!r}")
    datr = rxpk.get("datr")
    m = _DATR.fullmatch(datr) if isinstance(datr, str) else None
    if m is None or not 5 <= int(m[1]) <= 12 or int(m[2]) * 1000 not in TX_BANDWIDTHS_HZ:
        raise _Drop("rxpk_datr", f"datr is {datr!r}, not like \"SF7BW125\"")
    codr = rxpk.get("codr")
    if not isinstance(codr, str) or codr not in _CODR:
        raise _Drop("rxpk_codr", f"codr is {codr!r}, not one of {list(_CODR)}")
    stat = rxpk.get("stat")
    if isinstance(stat, bool) or not isinstance(stat, int) or stat not in _CRC_STAT:
        raise _Drop("rxpk_stat", f"stat is {stat!r}, not 1, -1 or 0")
    freq_mhz = _number(rxpk, "freq", FREQ_MIN_HZ / 1e6, FREQ_MAX_HZ / 1e6)
    tmst = _number(rxpk, "tmst", 0, 0xFFFF_FFFF)
    if not isinstance(tmst, int):
        raise _Drop("rxpk_tmst", f"tmst is {tmst!r}, not a whole number of microseconds")
    signal = rxpk
    if "rssi" not in rxpk and "rssis" not in rxpk and isinstance(rxpk.get("rsig"), list) \
            and rxpk["rsig"] and isinstance(rxpk["rsig"][0], dict):
        signal = rxpk["rsig"][0]  # multi-antenna gateways report per antenna
    rssi_key = "rssi" if "rssi" in signal else "rssis" if "rssis" in signal else "rssic"
    rssi = _number(signal, rssi_key, -250, 50, reason="rxpk_rssi")
    lsnr = _number(signal, "lsnr", -50, 50)
    foff = _number(rxpk, "foff", -1e6, 1e6) if "foff" in rxpk else 0.0
    data, size = rxpk.get("data"), rxpk.get("size")
    if not isinstance(data, str):
        raise _Drop("rxpk_data", f"data is {type(data).__name__}, not a base64 string")
    try:
        payload = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _Drop("rxpk_data", "data is not valid base64") from None
    if isinstance(size, bool) or not isinstance(size, int) or size != len(payload):
        raise _Drop("rxpk_size", f"size is {size!r} but data holds {len(payload)} bytes")
    return RxPacket(payload=payload, rssi_dbm=float(rssi), snr_db=float(lsnr),
                    freq_hz=round(freq_mhz * 1e6), spreading_factor=int(m[1]),
                    bandwidth_hz=int(m[2]) * 1000, coding_rate=_CODR[codr],
                    radio_timestamp_us=tmst, host_time_s=host_time_s,
                    crc_ok=_CRC_STAT[stat], freq_error_hz=float(foff))


def txpk_for(config: RadioConfig, payload: bytes) -> dict:
    """The PULL_RESP "txpk" object sending `payload` now with `config`."""
    return {
        "imme": True,
        "freq": config.freq_hz / 1e6,
        "rfch": 0,
        "powe": config.tx_power_dbm,
        "modu": "LORA",
        "datr": f"SF{config.spreading_factor}BW{config.bandwidth_hz // 1000}",
        "codr": f"4/{config.coding_rate}",
        "ipol": config.iq_inverted,
        "prea": config.preamble_symbols,
        "size": len(payload),
        "data": base64.b64encode(payload).decode("ascii"),
        "ncrc": False,
    }


def _check_tx_ack(ack: dict, power_dbm: int) -> float:
    """Raise for a TX_ACK that reports an error; the power actually used otherwise."""
    body = ack.get("txpk_ack", {})
    if not isinstance(body, dict):
        body = {}
    error = body.get("error", "NONE")
    if error != "NONE":
        kind = InvalidParameterError if error in _PARAMETER_ERRORS else RadioFailureError
        raise kind(f"the gateway refused the downlink: {error}")
    # sx1302 forwarders lower the power to what their table supports and warn
    if body.get("warn") == "TX_POWER" and isinstance(body.get("value"), (int, float)) \
            and not isinstance(body.get("value"), bool):
        return body["value"]
    return power_dbm

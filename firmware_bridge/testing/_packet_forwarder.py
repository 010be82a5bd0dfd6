"""A fake `lora_pkt_fwd`: the Semtech UDP packet forwarder, on loopback.

`FakePacketForwarder` speaks GWMP to a server as an SX130x gateway does: like
the real forwarder it uses two UDP sockets, an upstream one for PUSH_DATA and
a downstream one for PULL_DATA keepalives, so a server that answers downlinks
to the wrong address fails its tests. It is written from the protocol
description, not from the driver, so the two check each other.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import random
import socket
from collections.abc import AsyncIterator

import trio

from .._radio import RxPacket

logger = logging.getLogger(__name__)

PUSH_DATA, PUSH_ACK, PULL_DATA, PULL_RESP, PULL_ACK, TX_ACK = range(6)


class FakePacketForwarder:
    """A gateway's packet forwarder sending to `server_address`; use with ``async with``.

    Parameters
    ----------
    server_address
        Where the GWMP server listens, (host, port).
    gateway_eui
        The 8-byte gateway EUI put in every datagram.
    protocol_version
        2 (TX_ACK after each PULL_RESP) or 1 (no TX_ACK).
    keepalive_interval_s
        Period of PULL_DATA (the real forwarder's default is 10 s).
    tx_ack_error
        The "error" of every TX_ACK; ``None`` sends a bare TX_ACK (no JSON),
        as SX1301 forwarders do after a clean enqueue. Settable at any time.
    send_tx_ack
        False drops PULL_RESP without a TX_ACK (to provoke server timeouts).
    tx_power_max_dbm
        Like an SX1302 forwarder with a power table: a txpk asking for more is
        sent at this power and acked with a TX_POWER warning.
    """

    def __init__(self, server_address: tuple[str, int], *,
                 gateway_eui: bytes = bytes.fromhex("aa555a0000000101"),
                 protocol_version: int = 2, keepalive_interval_s: float = 0.2,
                 tx_ack_error: str | None = "NONE", send_tx_ack: bool = True,
                 tx_power_max_dbm: int | None = None, ack_timeout_s: float = 1.0,
                 rng: random.Random | None = None) -> None:
        if len(gateway_eui) != 8:
            raise ValueError(f"gateway_eui must be 8 bytes, got {len(gateway_eui)}")
        self.server_address = server_address
        self.gateway_eui = bytes(gateway_eui)
        self.protocol_version = protocol_version
        self.keepalive_interval_s = keepalive_interval_s
        self.tx_ack_error = tx_ack_error
        self.send_tx_ack = send_tx_ack
        self.tx_power_max_dbm = tx_power_max_dbm
        self.ack_timeout_s = ack_timeout_s
        self._rng = rng if rng is not None else random.Random(0)
        self._up: trio.socket.SocketType | None = None
        self._down: trio.socket.SocketType | None = None
        self._push_waiters: dict[int, trio.Event] = {}
        self._changed = trio.Event()
        self.pulled = trio.Event()  # set by the first PULL_ACK
        self.pull_acks = 0
        self.push_acks: list[int] = []  # tokens of PUSH_DATA the server acked
        self.txpk: list[dict] = []  # every txpk the server sent, in order
        self.pull_resp_tokens: list[int] = []
        self.tx_acks_sent = 0
        self.unexpected: list[bytes] = []  # datagrams a server should not have sent

    # -- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> FakePacketForwarder:
        self._session = self._run_in_nursery()
        return await self._session.__aenter__()

    async def __aexit__(self, *exc_info) -> bool | None:
        return await self._session.__aexit__(*exc_info)

    @contextlib.asynccontextmanager
    async def _run_in_nursery(self) -> AsyncIterator[FakePacketForwarder]:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.run)
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Forward until cancelled (for ``nursery.start``)."""
        family = socket.AF_INET6 if ":" in self.server_address[0] else socket.AF_INET
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        with trio.socket.socket(family, socket.SOCK_DGRAM) as up, \
                trio.socket.socket(family, socket.SOCK_DGRAM) as down:
            await up.bind((host, 0))
            await down.bind((host, 0))
            self._up, self._down = up, down
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._keepalive)
                nursery.start_soon(self._read_up)
                nursery.start_soon(self._read_down)
                task_status.started()

    @property
    def up_address(self) -> tuple:
        """Source address of PUSH_DATA."""
        return self._up.getsockname()

    @property
    def down_address(self) -> tuple:
        """Source address of PULL_DATA: where the server must send PULL_RESP."""
        return self._down.getsockname()

    # -- upstream -------------------------------------------------------------------------
    def _header(self, ident: int, token: int | None = None) -> tuple[int, bytes]:
        token = self._rng.getrandbits(16) if token is None else token
        return token, bytes([self.protocol_version, token >> 8, token & 0xFF, ident])

    async def push(self, *rxpk: dict | RxPacket, **fields) -> int:
        """Send one PUSH_DATA holding `rxpk` (dicts or `RxPacket`s, or one built from
        `fields` by `make_rxpk`); its token once the server has acked it."""
        packets = [self.make_rxpk(**_rx_fields(p)) if isinstance(p, RxPacket) else p
                   for p in rxpk]
        if fields:
            packets.append(self.make_rxpk(**fields))
        return await self.push_json({"rxpk": packets})

    async def push_stat(self, **fields) -> int:
        """Send a gateway status report; its token once acked."""
        stat = {"time": "2024-01-01 00:00:00 UTC", "lati": 44.2706, "long": -71.3033,
                "alti": 1917, "rxnb": 2, "rxok": 1, "rxfw": 1, "ackr": 100.0, "dwnb": 0,
                "txnb": 0}
        stat.update(fields)
        return await self.push_json({"stat": stat})

    async def push_json(self, obj, *, raw: bytes | None = None) -> int:
        """Send a PUSH_DATA with any JSON body (or `raw` bytes); its token once acked.

        Raises `trio.TooSlowError` when no PUSH_ACK arrives within `ack_timeout_s`.
        """
        body = raw if raw is not None else json.dumps(obj).encode()
        token, header = self._header(PUSH_DATA)
        done = self._push_waiters[token] = trio.Event()
        try:
            await self._up.sendto(header + self.gateway_eui + body, self.server_address)
            with trio.fail_after(self.ack_timeout_s):
                await done.wait()
        finally:
            del self._push_waiters[token]
        return token

    async def send_raw(self, datagram: bytes, *, downstream: bool = False) -> None:
        """Send any bytes to the server, from the upstream or downstream socket."""
        sock = self._down if downstream else self._up
        await sock.sendto(datagram, self.server_address)

    async def _read_up(self) -> None:
        while True:
            data, _ = await self._up.recvfrom(65_536)
            if len(data) == 4 and data[3] == PUSH_ACK:
                token = int.from_bytes(data[1:3], "big")
                self.push_acks.append(token)
                if token in self._push_waiters:
                    self._push_waiters[token].set()
            else:
                self.unexpected.append(data)
            self._notify()

    # -- downstream -----------------------------------------------------------------------
    async def _keepalive(self) -> None:
        while True:
            _, header = self._header(PULL_DATA)
            await self._down.sendto(header + self.gateway_eui, self.server_address)
            await trio.sleep(self.keepalive_interval_s)

    async def _read_down(self) -> None:
        while True:
            data, _ = await self._down.recvfrom(65_536)
            if len(data) == 4 and data[3] == PULL_ACK:
                self.pull_acks += 1
                self.pulled.set()
            elif len(data) > 4 and data[3] == PULL_RESP:
                await self._pull_resp(data)
            else:
                self.unexpected.append(data)
            self._notify()

    async def _pull_resp(self, data: bytes) -> None:
        token = int.from_bytes(data[1:3], "big")
        try:
            txpk = json.loads(data[4:])["txpk"]
        except (ValueError, KeyError, TypeError):
            self.unexpected.append(data)  # the real forwarder logs and ignores it
            return
        self.txpk.append(txpk)
        self.pull_resp_tokens.append(token)
        if self.protocol_version == 1 or not self.send_tx_ack:
            return
        ack: dict = {}
        if self.tx_ack_error is not None:
            ack = {"error": self.tx_ack_error}
        powe = txpk.get("powe") if isinstance(txpk, dict) else None
        if (self.tx_power_max_dbm is not None and isinstance(powe, int)
                and powe > self.tx_power_max_dbm and ack.get("error", "NONE") == "NONE"):
            ack = {"warn": "TX_POWER", "value": self.tx_power_max_dbm}
        body = json.dumps({"txpk_ack": ack}).encode() if ack else b""
        _, header = self._header(TX_ACK, token)
        await self._down.sendto(header + self.gateway_eui + body, self.server_address)
        self.tx_acks_sent += 1

    # -- helpers --------------------------------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, predicate, timeout_s: float = 2.0) -> None:
        """Wait until `predicate()` holds after something arrived (TooSlowError after
        `timeout_s`)."""
        with trio.fail_after(timeout_s):
            while not predicate():
                await self._changed.wait()

    @staticmethod
    def make_rxpk(payload: bytes = b"hello", *, freq_hz: int = 868_100_000,
                  spreading_factor: int = 7, bandwidth_hz: int = 125_000, coding_rate: int = 5,
                  rssi_dbm: float = -80.0, snr_db: float = 7.5,
                  radio_timestamp_us: int = 3_512_348_611, crc_ok: bool | None = True,
                  **extra) -> dict:
        """An rxpk as lora_pkt_fwd writes it; `crc_ok=None` means no CRC (stat 0),
        `extra` adds or overrides raw fields."""
        rxpk = {
            "time": "2024-01-01T00:00:00.000000Z", "tmst": radio_timestamp_us, "chan": 0,
            "rfch": 0, "freq": freq_hz / 1e6, "stat": {True: 1, False: -1, None: 0}[crc_ok],
            "modu": "LORA", "datr": f"SF{spreading_factor}BW{bandwidth_hz // 1000}",
            "codr": f"4/{coding_rate}", "rssi": round(rssi_dbm), "lsnr": snr_db,
            "size": len(payload), "data": base64.b64encode(payload).decode("ascii"),
        }
        rxpk.update(extra)
        return rxpk


def _rx_fields(packet: RxPacket) -> dict:
    return {"payload": packet.payload, "freq_hz": packet.freq_hz,
            "spreading_factor": packet.spreading_factor, "bandwidth_hz": packet.bandwidth_hz,
            "coding_rate": packet.coding_rate, "rssi_dbm": packet.rssi_dbm,
            "snr_db": packet.snr_db, "radio_timestamp_us": packet.radio_timestamp_us,
            "crc_ok": packet.crc_ok}

"""The semtech-udp driver against a fake lora_pkt_fwd, over real loopback UDP sockets."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import (
    BridgeError,
    ConfigError,
    DeviceDisconnectedError,
    DeviceTimeoutError,
    FrameError,
    InvalidParameterError,
    RadioConfig,
    RadioFailureError,
    RxPacket,
    TxResult,
)
from firmware_bridge._semtech_udp import SemtechUdpRadio
from firmware_bridge.testing import FakePacketForwarder

NOW = 1_700_000_000.25
EUI = bytes.fromhex("aa555a0000000101")
CONFIG = RadioConfig(freq_hz=869_525_000, spreading_factor=7, coding_rate=6, tx_power_dbm=14,
                     iq_inverted=True)
FUZZ = settings(max_examples=200, database=None, deadline=None)


def clock() -> float:
    return NOW


@contextlib.asynccontextmanager
async def gwmp(*, radio: dict | None = None, **forwarder):
    """A server on an OS-chosen loopback port and a forwarder that has pulled once."""
    async with SemtechUdpRadio(("127.0.0.1", 0), clock=clock, **(radio or {})) as server:
        async with FakePacketForwarder(server.local_address, gateway_eui=EUI,
                                       **forwarder) as fwd:
            with trio.fail_after(2):
                await fwd.pulled.wait()
            yield server, fwd


async def receive(rx, timeout_s: float = 2.0) -> RxPacket:
    with trio.fail_after(timeout_s):
        return await rx.receive()


async def until(predicate, timeout_s: float = 2.0) -> None:
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(0.002)


def header(ident: int, version: int = 2, token: int = 0x1234) -> bytes:
    return bytes([version, token >> 8, token & 0xFF, ident])


def assert_accounted(stats) -> None:
    """Every datagram was handled as one of the kinds or dropped, and nothing crashed."""
    assert stats["handler_errors"] == 0
    assert stats["datagrams"] == (stats["push_data"] + stats["pull_data"] + stats["tx_ack"]
                                  + stats["datagrams_dropped"])


# --- uplink: PULL_DATA, PUSH_DATA -------------------------------------------------------

async def test_pull_data_is_acked_and_names_the_downlink_address():
    async with gwmp() as (radio, fwd):
        assert fwd.pull_acks >= 1
        # the real forwarder pulls from its downstream socket: downlinks must go there
        assert radio.gateways == {EUI.hex(): fwd.down_address}
        assert fwd.down_address != fwd.up_address
        info = await radio.info()
        assert (info.driver, info.firmware_version, info.radio_chip) == \
            ("semtech-udp", "GWMP v2", "SX130x")
        assert info.extra["gateway_eui"] == EUI.hex()
        assert info.protocol_version == 2
        seen = fwd.pull_acks  # keepalives keep coming and keep being acked
        await fwd.wait_for(lambda: fwd.pull_acks >= seen + 2)
        assert fwd.unexpected == []


async def test_push_data_is_acked_and_its_rxpk_delivered():
    async with gwmp() as (radio, fwd):
        rx = radio.packets()
        token = await fwd.push(payload=b"\x40\x01\x02\x03\x04\x80\x00", freq_hz=867_300_000,
                               spreading_factor=10, bandwidth_hz=125_000, coding_rate=8,
                               rssi_dbm=-113, snr_db=-9.25, radio_timestamp_us=4_294_967_295)
        assert token in fwd.push_acks
        assert await receive(rx) == RxPacket(
            payload=b"\x40\x01\x02\x03\x04\x80\x00", rssi_dbm=-113.0, snr_db=-9.25,
            freq_hz=867_300_000, spreading_factor=10, bandwidth_hz=125_000, coding_rate=8,
            radio_timestamp_us=4_294_967_295, host_time_s=NOW, crc_ok=True)
        assert radio.stats["rx_packets"] == 1
        assert_accounted(radio.stats)


async def test_two_rxpk_in_one_datagram_are_both_delivered_in_order():
    async with gwmp() as (radio, fwd):
        rx = radio.packets()
        first = FakePacketForwarder.make_rxpk(b"one", spreading_factor=12, bandwidth_hz=125_000)
        second = FakePacketForwarder.make_rxpk(b"two", spreading_factor=8, bandwidth_hz=500_000,
                                               freq_hz=904_600_000)
        await fwd.push(first, second)
        a, b = await receive(rx), await receive(rx)
        assert (a.payload, a.spreading_factor, a.bandwidth_hz) == (b"one", 12, 125_000)
        assert (b.payload, b.spreading_factor, b.bandwidth_hz, b.freq_hz) == \
            (b"two", 8, 500_000, 904_600_000)


async def test_rx_packets_can_be_pushed_back_unchanged():
    original = RxPacket(payload=bytes(range(40)), rssi_dbm=-97.0, snr_db=3.5, freq_hz=903_900_000,
                        spreading_factor=9, bandwidth_hz=125_000, coding_rate=5,
                        radio_timestamp_us=12_345, host_time_s=NOW, crc_ok=True)
    async with gwmp() as (radio, fwd):
        rx = radio.packets()
        await fwd.push(original)
        assert await receive(rx) == original


@pytest.mark.parametrize("deliver_bad_crc", [False, True])
async def test_bad_crc_is_counted_and_dropped_unless_asked_for(deliver_bad_crc):
    async with gwmp(radio={"deliver_bad_crc": deliver_bad_crc}) as (radio, fwd):
        rx = radio.packets()
        await fwd.push(payload=b"garbled", crc_ok=False)
        await fwd.push(payload=b"fine", crc_ok=True)
        got = await receive(rx)
        if deliver_bad_crc:
            assert (got.payload, got.crc_ok) == (b"garbled", False)
            got = await receive(rx)
        assert (got.payload, got.crc_ok) == (b"fine", True)
        assert radio.stats["rx_bad_crc"] == 1
        assert radio.stats["rx_bad_crc_dropped"] == (0 if deliver_bad_crc else 1)


async def test_packet_without_crc_is_delivered():
    async with gwmp() as (radio, fwd):
        rx = radio.packets()
        await fwd.push(payload=b"no crc", crc_ok=None)
        got = await receive(rx)
        assert (got.payload, got.crc_ok) == (b"no crc", True)


async def test_fsk_is_skipped_and_counted():
    fsk = {"tmst": 1, "freq": 868.8, "stat": 1, "modu": "FSK", "datr": 50000, "rssi": -70,
           "size": 3, "data": "AQID"}
    async with gwmp() as (radio, fwd):
        rx = radio.packets()
        await fwd.push(fsk, FakePacketForwarder.make_rxpk(b"lora"))
        assert (await receive(rx)).payload == b"lora"
        assert radio.stats["rx_skipped_not_lora"] == 1
        assert radio.stats["rx_packets"] == 1
        assert radio.stats["malformed"] == 0


@pytest.mark.parametrize(("fields", "rssi", "snr"), [
    ({"rssi": -60, "rssis": -65, "lsnr": 9.0}, -60.0, 9.0),  # channel RSSI first
    ({"rssis": -65, "lsnr": 9.0}, -65.0, 9.0),
    ({"rsig": [{"ant": 0, "chan": 0, "rssic": -71, "lsnr": -2.5}]}, -71.0, -2.5),
], ids=["rssi", "rssis", "rsig"])
async def test_signal_fields_of_sx1301_and_sx1302_forwarders(fields, rssi, snr):
    rxpk = FakePacketForwarder.make_rxpk(b"x", foff=-1200)
    del rxpk["rssi"], rxpk["lsnr"]
    rxpk.update(fields)
    async with gwmp() as (radio, fwd):
        rx = radio.packets()
        await fwd.push(rxpk)
        got = await receive(rx)
        assert (got.rssi_dbm, got.snr_db, got.freq_error_hz) == (rssi, snr, -1200.0)


async def test_gateway_status_is_kept():
    async with gwmp() as (radio, fwd):
        assert radio.last_status is None
        await fwd.push_stat(rxnb=7, txnb=2)
        assert radio.last_status["rxnb"] == 7
        assert radio.last_status["txnb"] == 2
        assert (await radio.info()).extra["last_status"] == radio.last_status
        assert radio.stats["status_reports"] == 1


# --- downlink: PULL_RESP, TX_ACK --------------------------------------------------------

async def test_transmit_sends_txpk_and_completes_on_tx_ack():
    payload = b"\x60\x01\x02\x03\x04\x00\x01\x00hello"
    async with gwmp() as (radio, fwd):
        await radio.configure(CONFIG)
        start = trio.current_time()
        result = await radio.transmit(payload)
        assert result == TxResult(airtime_s=CONFIG.airtime_s(len(payload)),
                                  radio_timestamp_us=0, tx_power_dbm=14)
        assert trio.current_time() - start >= result.airtime_s  # returns once sent
        assert fwd.txpk == [{
            "imme": True, "freq": 869.525, "rfch": 0, "powe": 14, "modu": "LORA",
            "datr": "SF7BW125", "codr": "4/6", "ipol": True, "prea": 8, "size": len(payload),
            "data": base64.b64encode(payload).decode(), "ncrc": False,
        }]
        assert base64.b64decode(fwd.txpk[0]["data"]) == payload
        assert fwd.tx_acks_sent == 1
        assert radio.stats["tx_packets"] == 1
        assert radio.stats["tx_ack_unexpected"] == 0
        assert fwd.unexpected == []  # nothing went to the upstream socket


async def test_bare_tx_ack_means_success():
    async with gwmp(tx_ack_error=None) as (radio, fwd):
        await radio.configure(CONFIG)
        assert (await radio.transmit(b"hi")).tx_power_dbm == 14


async def test_tx_power_warning_reports_the_power_used():
    async with gwmp(tx_power_max_dbm=12) as (radio, fwd):
        await radio.configure(CONFIG)
        assert (await radio.transmit(b"hi")).tx_power_dbm == 12


@pytest.mark.parametrize(("error", "exc"), [
    ("TOO_LATE", RadioFailureError),
    ("TOO_EARLY", RadioFailureError),
    ("COLLISION_PACKET", RadioFailureError),
    ("COLLISION_BEACON", RadioFailureError),
    ("GPS_UNLOCKED", RadioFailureError),
    ("SOMETHING_NEW", RadioFailureError),
    ("TX_FREQ", InvalidParameterError),
    ("TX_POWER", InvalidParameterError),
])
async def test_tx_ack_error_raises_the_mapped_exception(error, exc):
    async with gwmp(tx_ack_error=error) as (radio, fwd):
        await radio.configure(CONFIG)
        with pytest.raises(exc, match=error):
            await radio.transmit(b"hi")
        assert radio.stats["tx_packets"] == 0
        fwd.tx_ack_error = "NONE"  # the server is still usable
        await radio.transmit(b"again")


async def test_missing_tx_ack_times_out_and_a_late_one_is_ignored():
    async with gwmp(send_tx_ack=False, radio={"tx_ack_timeout_s": 0.25}) as (radio, fwd):
        await radio.configure(CONFIG)
        start = trio.current_time()
        with pytest.raises(DeviceTimeoutError, match="no TX_ACK"):
            await radio.transmit(b"hi")
        assert trio.current_time() - start >= 0.25
        assert radio.stats["tx_ack_timeouts"] == 1
        late = header(5, token=fwd.pull_resp_tokens[0]) + EUI
        await fwd.send_raw(late, downstream=True)
        await until(lambda: radio.stats["tx_ack_unexpected"] == 1)
        assert_accounted(radio.stats)


async def test_closing_the_server_fails_a_waiting_transmit():
    failed = []

    async def send(radio):
        with pytest.raises(DeviceDisconnectedError, match="closed"):
            await radio.transmit(b"hi")
        failed.append(True)

    async with trio.open_nursery() as nursery:
        async with gwmp(send_tx_ack=False, radio={"tx_ack_timeout_s": 10}) as (radio, fwd):
            await radio.configure(CONFIG)
            nursery.start_soon(send, radio)
            await fwd.wait_for(lambda: len(fwd.txpk) == 1)
    assert failed == [True]  # a transmit completes or raises, it never hangs


async def test_v1_forwarder_completes_without_tx_ack():
    async with gwmp(protocol_version=1, radio={"tx_ack_timeout_s": 5.0}) as (radio, fwd):
        await radio.configure(CONFIG)
        with trio.fail_after(1):
            await radio.transmit(b"v1")
        await fwd.wait_for(lambda: len(fwd.txpk) == 1)
        assert fwd.tx_acks_sent == 0
        info = await radio.info()
        assert (info.firmware_version, info.protocol_version) == ("GWMP v1", 1)


async def test_concurrent_transmits_each_get_their_own_tx_ack():
    async with gwmp() as (radio, fwd):
        await radio.configure(CONFIG)
        results = []

        async def send(payload):
            results.append(await radio.transmit(payload))

        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(send, bytes([i]) * 5)
        assert len(results) == 3
        assert sorted(base64.b64decode(t["data"]) for t in fwd.txpk) == \
            [bytes([i]) * 5 for i in range(3)]
        assert len(set(fwd.pull_resp_tokens)) == 3


async def test_downlink_goes_to_the_gateway_that_pulled_last():
    other = bytes.fromhex("0016c001ff10a235")
    async with gwmp(keepalive_interval_s=10) as (radio, fwd):
        await radio.configure(CONFIG)
        async with FakePacketForwarder(radio.local_address, gateway_eui=other,
                                       keepalive_interval_s=10) as second:
            await second.wait_for(lambda: second.pull_acks == 1)
            assert radio.gateways == {EUI.hex(): fwd.down_address,
                                      other.hex(): second.down_address}
            await radio.transmit(b"to second")
            assert (len(fwd.txpk), len(second.txpk)) == (0, 1)
            assert (await radio.info()).extra["gateway_eui"] == other.hex()
            await fwd.send_raw(header(2) + EUI, downstream=True)  # the first pulls again
            await fwd.wait_for(lambda: fwd.pull_acks == 2)
            await radio.transmit(b"to first")
            assert (len(fwd.txpk), len(second.txpk)) == (1, 1)


async def test_transmit_before_any_pull_data_says_so():
    async with SemtechUdpRadio(("127.0.0.1", 0)) as radio:
        await radio.configure(CONFIG)
        with pytest.raises(DeviceDisconnectedError, match="no packet forwarder has pulled yet"):
            await radio.transmit(b"hi")
        assert (await radio.info()).extra["gateway_eui"] is None


async def test_transmit_checks_configuration_and_length_first():
    async with gwmp() as (radio, fwd):
        with pytest.raises(BridgeError, match="configure"):
            await radio.transmit(b"hi")
        await radio.configure(CONFIG)
        with pytest.raises(FrameError, match="256 bytes"):
            await radio.transmit(bytes(256))
        assert fwd.txpk == []


@pytest.mark.parametrize("changes", [{"bandwidth_hz": 62_500}, {"sync_word": 0x56}])
async def test_configure_refuses_what_a_concentrator_cannot_send(changes):
    fields = {"freq_hz": 868_100_000, "spreading_factor": 7, **changes}
    async with SemtechUdpRadio(("127.0.0.1", 0)) as radio:
        with pytest.raises(ConfigError, match=next(iter(changes))):
            await radio.configure(RadioConfig(**fields))
        assert radio.config is None


async def test_local_address_needs_a_running_server():
    radio = SemtechUdpRadio(("127.0.0.1", 0))
    with pytest.raises(DeviceDisconnectedError):
        radio.local_address  # noqa: B018
    async with radio:
        assert radio.local_address[0] == "127.0.0.1"
    with pytest.raises(DeviceDisconnectedError):
        radio.local_address  # noqa: B018


# --- malformed input ------------------------------------------------------------------

@pytest.mark.parametrize(("datagram", "reason"), [
    (b"", "short"),
    (b"\x02\x12", "short"),
    (header(0)[:3], "short"),
    (header(0) + EUI[:7], "short"),
    (header(2) + EUI[:3], "short"),
    (header(0, version=3) + EUI + b"{}", "version"),
    (header(0, version=0) + EUI + b"{}", "version"),
    (header(9), "identifier"),
    (header(1), "direction"),
    (header(3) + b'{"txpk":{}}', "direction"),
    (header(0) + EUI + b'{"rxpk": [', "json"),
    (header(0) + EUI + b"[1, 2]", "json"),
    (header(0) + EUI + b"\xff\xfe{}", "json"),
    (header(0) + EUI + b"[" * 60_000, "json"),
    (header(5) + EUI + b"{nope", "json"),
    (header(0) + EUI + b'{"rxpk": {}}', "rxpk_not_list"),
    (header(0) + EUI + b'{"stat": 5}', "stat_not_object"),
], ids=lambda v: v if isinstance(v, str) else None)
async def test_malformed_datagram_is_counted_and_the_server_keeps_serving(datagram, reason):
    async with gwmp() as (radio, fwd):
        rx = radio.packets()
        await fwd.send_raw(datagram)
        await until(lambda: radio.stats[f"malformed_{reason}"] == 1)
        await fwd.push(payload=b"still here")
        assert (await receive(rx)).payload == b"still here"
        assert radio.stats["malformed"] == 1
        assert_accounted(radio.stats)


_GONE = object()


@pytest.mark.parametrize(("fields", "reason"), [
    ({"data": "not base64!"}, "rxpk_data"),
    ({"data": 12}, "rxpk_data"),
    ({"size": 6}, "rxpk_size"),
    ({"size": "5"}, "rxpk_size"),
    ({"freq": "868.1"}, "rxpk_freq"),
    ({"freq": float("nan")}, "rxpk_freq"),
    ({"freq": 10**400}, "rxpk_freq"),
    ({"freq": _GONE}, "rxpk_freq"),
    ({"tmst": 1.5}, "rxpk_tmst"),
    ({"tmst": -1}, "rxpk_tmst"),
    ({"tmst": 2**32}, "rxpk_tmst"),
    ({"datr": "SF13BW125"}, "rxpk_datr"),
    ({"datr": 50000}, "rxpk_datr"),
    ({"codr": "4/9"}, "rxpk_codr"),
    ({"stat": True}, "rxpk_stat"),
    ({"stat": [1]}, "rxpk_stat"),
    ({"rssi": _GONE}, "rxpk_rssi"),
    ({"lsnr": "x"}, "rxpk_lsnr"),
    ({"modu": ["LORA"]}, "rxpk_modu"),
], ids=lambda v: v if isinstance(v, str) else None)
async def test_malformed_rxpk_is_counted_and_its_neighbours_delivered(fields, reason):
    bad = FakePacketForwarder.make_rxpk(b"hello")
    for key, value in fields.items():
        if value is _GONE:
            del bad[key]
        else:
            bad[key] = value
    async with gwmp() as (radio, fwd):
        rx = radio.packets()
        await fwd.push(bad, FakePacketForwarder.make_rxpk(b"good"))
        assert (await receive(rx)).payload == b"good"
        assert radio.stats[f"malformed_{reason}"] == 1
        assert radio.stats["malformed"] == 1
        assert radio.stats["rx_packets"] == 1


def _obviously_bad(datagram: bytes) -> bool:
    if len(datagram) < 4 or datagram[0] not in (1, 2) or datagram[3] not in (0, 2, 5):
        return True
    return datagram[3] in (0, 2) and len(datagram) < 12


@FUZZ
@given(st.lists(st.one_of(st.binary(max_size=64),
                          st.binary(min_size=4, max_size=300).map(
                              lambda b: bytes([2]) + b[1:3] + bytes([b[3] % 8]) + b[4:]),
                          st.sampled_from([header(0) + EUI, header(5), header(2)[:3]])),
                max_size=20))
async def test_random_datagrams_never_crash_the_server(datagrams):
    async with gwmp() as (radio, fwd):
        rx = radio.packets()
        for datagram in datagrams:
            await fwd.send_raw(datagram)
        # the server reads one socket in order: once this is acked, all the above were handled
        await fwd.push(payload=b"after the noise")
        while (await receive(rx)).payload != b"after the noise":
            pass  # random bytes may form a valid PUSH_DATA
        assert_accounted(radio.stats)
        assert radio.stats["datagrams_dropped"] >= sum(map(_obviously_bad, datagrams))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=12)
GOOD = FakePacketForwarder.make_rxpk(b"\x01\x02\x03")
RXPK = st.fixed_dictionaries({}, optional={
    key: st.one_of(st.just(value), JSON) for key, value in
    {**GOOD, "rssis": -80, "foff": 100, "modu": "LORA",
     "rsig": [{"rssic": -90, "lsnr": 2.0}]}.items()
})


@FUZZ
@given(JSON, st.lists(RXPK | JSON, max_size=6))
async def test_valid_headers_with_random_json_never_crash_the_server(body, rxpks):
    async with gwmp() as (radio, fwd):
        rx = radio.packets()
        await fwd.push_json(body)
        await fwd.push_json({"rxpk": rxpks})
        await fwd.push(payload=b"after the noise")
        delivered = 0
        while (await receive(rx)).payload != b"after the noise":
            delivered += 1
        assert_accounted(radio.stats)
        # every rxpk element was delivered, skipped or counted as malformed
        s = radio.stats
        rejected = sum(n for k, n in s.items()
                       if k.startswith("malformed_rxpk") and k != "malformed_rxpk_not_list")
        accounted = delivered + s["rx_skipped_not_lora"] + s["rx_bad_crc_dropped"] + rejected
        body_rxpks = body.get("rxpk") if isinstance(body, dict) else None
        if not isinstance(body_rxpks, list):
            assert accounted == len(rxpks)
        else:
            assert accounted == len(rxpks) + len(body_rxpks)


async def test_a_plain_socket_can_speak_gwmp_to_the_server():
    """The wire format by hand, without the fake: PULL_DATA, PULL_RESP, bare TX_ACK."""
    async with SemtechUdpRadio(("127.0.0.1", 0)) as radio:
        with trio.socket.socket(type=trio.socket.SOCK_DGRAM) as gw:
            await gw.bind(("127.0.0.1", 0))
            await gw.sendto(header(2, token=0xBEEF) + EUI, radio.local_address)
            with trio.fail_after(2):
                assert await gw.recv(100) == header(4, token=0xBEEF)
            await radio.configure(CONFIG)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(radio.transmit, b"\x00\xff")
                with trio.fail_after(2):
                    datagram = await gw.recv(2000)
                assert datagram[0] == 2 and datagram[3] == 3
                txpk = json.loads(datagram[4:])["txpk"]
                assert (txpk["size"], base64.b64decode(txpk["data"])) == (2, b"\x00\xff")
                await gw.sendto(datagram[:3] + b"\x05" + EUI, radio.local_address)

"""The router and the data path over real libp2p on loopback, real SQLite and a real sink
file: a simulated sensor's uplinks are heard by two hotspots (SimRadio on one SimAir),
both offer each packet, the first offer wins and the other is refused; the receipts
reach a validator-like peer's store, where the rewards' `load_epoch_inputs` sees them;
a restarted router never pays a packet twice."""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
from contextlib import closing

import trio

from coverage_net.identity import Keypair
from coverage_net.messages import DataTransferReceipt
from coverage_net.node import (
    ROUTER_DB_FILENAME,
    UPLINK_LIMITS,
    UPLINK_PROTOCOL,
    PeerConfig,
    RouterSettings,
    UplinkReply,
    decode_reply,
    encode_reply,
    load_epoch_inputs,
    read_router_status,
    run_peer,
    run_router,
    run_uplink_forwarder,
    sensor_radio_config,
    uplink_offer,
    wall_clock_ms,
)
from coverage_net.p2p import TOPIC_PREFIX, RequestError
from coverage_net.poc import params_from_dict
from coverage_net.radio import FreeSpace, Station
from firmware_bridge import RadioConfig, RxPacket
from radio_sim import Channel, Sensor, SensorFleet, SimAir, World

SAFETY_S = 60  # a safety net against hangs, never a performance assertion
KM_DEG = 1 / 111.195
RECEIPT_TOPIC = TOPIC_PREFIX + DataTransferReceipt.TYPE


def _key(name: str) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(b"router test " + name.encode()).digest())


ROUTER = _key("router")
PARAMS = params_from_dict({"epoch_length_ms": 60_000,
                           "rewards": {"routers": [ROUTER.public_key.hex()]}})


def _router_settings(tmp_path) -> RouterSettings:
    """A router whose epoch 3 runs now: half of it gone, half ahead (set when the test
    runs, not when the suite is collected)."""
    genesis_ms = wall_clock_ms() - 3 * 60_000 - 30_000
    return RouterSettings(keypair=ROUTER, params=PARAMS, genesis_ms=genesis_ms,
                          sink_path=tmp_path / "sink.jsonl",
                          peer=PeerConfig(keypair=ROUTER, data_dir=tmp_path / "router",
                                          sync_interval_s=0.2),
                          status_interval_s=0.1)


def _peer(tmp_path, name: str, bootstrap) -> PeerConfig:
    return PeerConfig(keypair=_key(name), data_dir=tmp_path / name, bootstrap=bootstrap,
                      sync_interval_s=0.2)


def _air(every_s: float, first_s: float) -> tuple[SimAir, RadioConfig, SensorFleet]:
    """A sensor between hotspots a and b (1 km N and S), on the air, not yet started."""
    world = World([Station("sensor", lat_deg=44.0, lon_deg=-71.0, region="US915"),
                   Station("a", lat_deg=44.0 + KM_DEG, lon_deg=-71.0, region="US915"),
                   Station("b", lat_deg=44.0 - KM_DEG, lon_deg=-71.0, region="US915")])
    air = SimAir(world, Channel(world, model=FreeSpace()))
    config = sensor_radio_config(PARAMS, "US915")
    sensor = Sensor("sensor", every_s=every_s, first_s=first_s)
    return air, config, SensorFleet(air, [sensor], config)


async def _until(condition, step_s: float = 0.05) -> None:
    while not condition():
        await trio.sleep(step_s)


def _sink(tmp_path) -> list[dict]:
    path = tmp_path / "sink.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()] \
        if path.exists() else []


async def _offer(peer, payload: bytes, name: str):
    """One offer straight over the protocol (what the forwarder sends), and the reply."""
    packet = RxPacket(payload=payload, rssi_dbm=-90.0, snr_db=5.0, freq_hz=903_900_000,
                      spreading_factor=10, bandwidth_hz=125_000, coding_rate=5,
                      radio_timestamp_us=1, host_time_s=1.0, crc_ok=True)
    data = uplink_offer(_key(name), packet, wall_clock_ms()).to_cbor()
    await _until(lambda: ROUTER.peer_id in peer.connected_peers())  # bootstrapped to it
    raw = await peer.p2p.network.request(ROUTER.peer_id, UPLINK_PROTOCOL, data, timeout_s=10)
    return decode_reply(raw)


async def test_sensor_uplinks_are_bought_once_and_their_receipts_reach_a_validator(tmp_path):
    air, config, fleet = _air(every_s=1.0, first_s=0.5)
    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery, air.radio("a") as radio_a, \
                air.radio("b") as radio_b:
            await nursery.start(air.run)
            router = await nursery.start(run_router, _router_settings(tmp_path))
            seed = router.peer.addrs[:1]
            validator = await nursery.start(run_peer, _peer(tmp_path, "validator", seed))
            forwarders = {}
            for name, radio in (("a", radio_a), ("b", radio_b)):
                await radio.configure(config)
                peer = await nursery.start(run_peer, _peer(tmp_path, name, seed))
                forwarders[name] = await nursery.start(functools.partial(
                    run_uplink_forwarder, _key(name), PARAMS, radio=radio,
                    network=peer.p2p.network, gossip=peer.p2p.gossip, clock_ms=wall_clock_ms))
            fleet.start()
            store = validator.store
            await _until(lambda: store.count(topic=RECEIPT_TOPIC) >= 3
                         and router.counters.refused["already_bought"] >= 3)
            fleet.sensors = ()  # no more uplinks: let what is in flight settle
            await _until(lambda: sum(f.receipts + sum(f.refused.values()) + f.failed
                                     for f in forwarders.values())
                         == sum(f.heard for f in forwarders.values()))
            await _until(lambda: store.count(topic=RECEIPT_TOPIC) == router.counters.bought)
            await trio.sleep(0.3)  # a status interval
            nursery.cancel_scope.cancel()
    heard = {n: f.heard for n, f in forwarders.items()}
    assert heard["a"] >= 3 and heard["b"] >= 3  # both hotspots hear the sensor
    bought = router.counters.bought
    assert bought == sum(f.receipts for f in forwarders.values())
    assert router.counters.refused["already_bought"] == \
        sum(f.refused["already_bought"] for f in forwarders.values())
    assert bought + router.counters.refused["already_bought"] == sum(heard.values())
    lines = _sink(tmp_path)
    assert len(lines) == bought == len({line["packet_hash"] for line in lines})
    assert {line["hotspot_key"] for line in lines} <= {_key(n).public_key.hex() for n in "ab"}
    assert all(line["payload_hex"].startswith("40") for line in lines)  # unconfirmed data up
    status = read_router_status(tmp_path / "router")
    assert status["bought"] == bought and status["sink_lines"] == bought
    assert status["known_router"] is True
    # the validator's store: one receipt per packet, dated in the chain's epoch, counted
    from coverage_net.store import MessageStore
    with MessageStore.open(tmp_path / "validator") as store:
        epochs = {row.partition for row in store.range(topic=RECEIPT_TOPIC, partition_from=0,
                                                        partition_to=2**63 - 1)}
        receipts = [r for e in sorted(epochs)
                    for r in load_epoch_inputs(store, PARAMS, e).receipts]
    assert epochs <= {3, 4}  # (now - genesis) // epoch length
    assert len(receipts) == bought
    assert {r.packet_hash.hex() for r in receipts} == {line["packet_hash"] for line in lines}
    assert all(r.router_key == ROUTER.public_key for r in receipts)


async def test_a_restarted_router_never_pays_a_packet_twice(tmp_path):
    frame = Sensor("s", every_s=1.0).frame(0)
    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            router = await nursery.start(run_router, _router_settings(tmp_path))
            seed = router.peer.addrs[:1]
            a = await nursery.start(run_peer, _peer(tmp_path, "a", seed))
            b = await nursery.start(run_peer, _peer(tmp_path, "b", seed))
            first = await _offer(a, frame, "a")
            second = await _offer(b, frame, "b")
            nursery.cancel_scope.cancel()
    assert first.receipt is not None and first.receipt.hotspot_key == _key("a").public_key
    assert second.refused == "already_bought"
    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            router = await nursery.start(run_router, _router_settings(tmp_path))
            assert router.bought_total == 1
            b = await nursery.start(run_peer, _peer(tmp_path, "b", router.peer.addrs[:1]))
            again = await _offer(b, frame, "b")
            other = await _offer(b, Sensor("s", every_s=1.0).frame(1), "b")
            nursery.cancel_scope.cancel()
    assert again.refused == "already_bought"
    assert other.receipt is not None and other.receipt.epoch == 3
    lines = _sink(tmp_path)
    assert [line["hotspot_key"] for line in lines] == [_key("a").public_key.hex(),
                                                       _key("b").public_key.hex()]


async def test_bad_offers_over_the_wire_are_refused_with_a_reason(tmp_path):
    frame = Sensor("s", every_s=1.0).frame(0)
    packet = RxPacket(payload=frame, rssi_dbm=-90.0, snr_db=5.0, freq_hz=903_900_000,
                      spreading_factor=10, bandwidth_hz=125_000, coding_rate=5,
                      radio_timestamp_us=1, host_time_s=1.0, crc_ok=True)
    someone_elses = uplink_offer(_key("b"), packet, wall_clock_ms()).to_cbor()
    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            router = await nursery.start(run_router, _router_settings(tmp_path))
            a = await nursery.start(run_peer, _peer(tmp_path, "a", router.peer.addrs[:1]))
            await _until(lambda: ROUTER.peer_id in a.connected_peers())
            replies = {}
            for name, data in (("garbage", b"\x00\xff not an offer"),
                               ("someone else's", someone_elses),
                               ("empty", b"")):
                raw = await a.p2p.network.request(ROUTER.peer_id, UPLINK_PROTOCOL, data,
                                                  timeout_s=10)
                replies[name] = decode_reply(raw)
            try:  # over the protocol's cap: the router resets the stream unread
                await a.p2p.network.request(
                    ROUTER.peer_id, UPLINK_PROTOCOL, bytes(4096), timeout_s=10)
            except RequestError as exc:
                oversize = exc.kind
            nursery.cancel_scope.cancel()
    assert replies["garbage"].refused == "malformed" and replies["garbage"].detail
    assert replies["someone else's"].refused == "wrong_sender"
    assert replies["empty"].refused == "malformed"
    assert oversize == "reset"
    assert router.counters.bought == 0 and not _sink(tmp_path)
    assert dict(router.counters.refused) == {"malformed": 2, "wrong_sender": 1}


async def test_offers_no_router_answers_are_retried_then_given_up(tmp_path):
    air, config, fleet = _air(every_s=0.5, first_s=0.1)
    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery, air.radio("a") as radio:
            await nursery.start(air.run)
            await radio.configure(config)
            peer = await nursery.start(run_peer, _peer(tmp_path, "a", ()))  # no router known
            metrics = await nursery.start(functools.partial(
                run_uplink_forwarder, _key("a"), PARAMS, radio=radio, network=peer.p2p.network,
                gossip=peer.p2p.gossip, clock_ms=wall_clock_ms, attempts=3, retry_s=0.05,
                timeout_s=1.0))
            fleet.start()
            await _until(lambda: metrics.failed >= 2)
            nursery.cancel_scope.cancel()
    assert metrics.heard >= metrics.failed >= 2
    assert metrics.receipts == 0 and not metrics.refused


async def test_a_receipt_that_is_not_for_the_offered_packet_is_not_taken(tmp_path):
    """A router that answers with a receipt for another packet: the hotspot counts it as
    bad, stores nothing, and gives the packet up after its attempts."""
    air, config, fleet = _air(every_s=0.5, first_s=0.1)

    async def wrong_receipt(_peer_id: str, _data: bytes) -> bytes:
        receipt = DataTransferReceipt(
            router_key=ROUTER.public_key, hotspot_key=_key("a").public_key,
            packet_hash=bytes(32), epoch=3, payload_bytes=21, data_credits=1,
            timestamp_ms=wall_clock_ms()).sign(ROUTER)
        return encode_reply(UplinkReply(receipt=receipt))

    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery, air.radio("a") as radio:
            await nursery.start(air.run)
            await radio.configure(config)
            liar = await nursery.start(run_peer, PeerConfig(keypair=ROUTER,
                                                            data_dir=tmp_path / "liar"))
            liar.p2p.network.register_protocol(UPLINK_PROTOCOL, wrong_receipt, UPLINK_LIMITS)
            peer = await nursery.start(run_peer, _peer(tmp_path, "a", liar.addrs[:1]))
            await _until(lambda: ROUTER.peer_id in peer.connected_peers())
            metrics = await nursery.start(functools.partial(
                run_uplink_forwarder, _key("a"), PARAMS, radio=radio, network=peer.p2p.network,
                gossip=peer.p2p.gossip, clock_ms=wall_clock_ms, attempts=2, retry_s=0.05))
            fleet.start()
            await _until(lambda: metrics.failed >= 1)
            stored = peer.store.count(topic=RECEIPT_TOPIC)
            nursery.cancel_scope.cancel()
    assert metrics.bad_receipts >= 2 and metrics.receipts == 0
    assert stored == 0


async def test_a_purchase_whose_sink_line_was_lost_is_sunk_again_on_start(tmp_path):
    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            router = await nursery.start(run_router, _router_settings(tmp_path))
            a = await nursery.start(run_peer, _peer(tmp_path, "a", router.peer.addrs[:1]))
            bought = await _offer(a, Sensor("s", every_s=1.0).frame(0), "a")
            nursery.cancel_scope.cancel()
    assert bought.receipt is not None
    # a crash after the purchase was committed and before its line reached the sink
    (tmp_path / "sink.jsonl").write_text("", encoding="utf-8")
    with closing(sqlite3.connect(tmp_path / "router" / ROUTER_DB_FILENAME)) as db, db:
        db.execute("UPDATE bought SET sunk = 0")
    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(run_router, _router_settings(tmp_path))
            nursery.cancel_scope.cancel()
    lines = _sink(tmp_path)
    assert [line["packet_hash"] for line in lines] == [bought.receipt.packet_hash.hex()]

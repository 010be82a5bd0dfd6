"""The hotspot's composition root (`run_hotspot`): real libp2p hosts on loopback, real
SQLite stores, and virtual devboards on real ptys driven by the native bridge driver.
Three hotspots 1 km apart announce themselves, the challenged one beacons and the
others witness; a hotspot restarted with a challenge in its store that it never
answered answers it on start."""

from __future__ import annotations

import functools
import hashlib

import trio

from coverage_net.identity import Keypair
from coverage_net.messages import BeaconReport, Challenge, HotspotAnnouncement, WitnessReport
from coverage_net.node import (
    HotspotSettings,
    PeerConfig,
    pending_challenges,
    read_hotspot_status,
    run_hotspot,
    wall_clock_ms,
)
from coverage_net.p2p import TOPIC_PREFIX
from coverage_net.poc import params_from_dict, seal_secret, secret_hash
from coverage_net.radio import FreeSpace, Station
from coverage_net.store import MessageStore, StoredMessage
from firmware_bridge import NativeRadio
from radio_sim import Channel, RealtimeScheduler, VirtualDevboards, World

SAFETY_S = 60  # a safety net against hangs, never a performance assertion
NAMES = ("alpha", "bravo", "charlie")
KM_DEG = 1 / 111.195
VALIDATOR = Keypair.from_seed(hashlib.sha256(b"hotspot-test validator").digest())
PARAMS = params_from_dict({"epoch_length_ms": 120_000, "challenge_window_ms": 30_000,
                           "validators": [VALIDATOR.public_key.hex()]})


def _key(name: str) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(name.encode()).digest())


LAT_DEG = {n: 44.0 + (1 - i) * KM_DEG for i, n in enumerate(NAMES)}  # 1 km apart, N to S


def _world() -> World:
    return World([Station(n, lat_deg=LAT_DEG[n], lon_deg=-71.0, region="US915") for n in NAMES])


def _settings(tmp_path, boards, name: str, bootstrap=()) -> HotspotSettings:
    return HotspotSettings(
        keypair=_key(name), lat_deg=LAT_DEG[name], lon_deg=-71.0,
        antenna_height_m=10.0, antenna_gain_dbi=3.0, region="US915", params=PARAMS,
        open_radio=functools.partial(NativeRadio.open_serial, str(boards.port(name)),
                                     timeout_s=0.5),
        peer=PeerConfig(keypair=_key(name), data_dir=tmp_path / name, bootstrap=bootstrap,
                        sync_interval_s=0.2),
        status_interval_s=0.2)


def _challenge(name: str, now_ms: int) -> Challenge:
    secret = hashlib.sha256(b"secret " + name.encode()).digest()
    return Challenge(challenger_key=VALIDATOR.public_key, challengee_key=_key(name).public_key,
                     epoch=now_ms // PARAMS.epoch_length_ms, secret_hash=secret_hash(secret),
                     sealed_secret=seal_secret(secret, _key(name).public_key),
                     timestamp_ms=now_ms).sign(VALIDATOR)


def _count(store: MessageStore, message_type) -> int:
    return store.count(topic=TOPIC_PREFIX + message_type.TYPE)


async def _until(condition, step_s: float = 0.1) -> None:
    while not condition():
        await trio.sleep(step_s)


async def test_hotspots_announce_beacon_and_witness_over_loopback_and_ptys(tmp_path):
    world = _world()
    boards = VirtualDevboards(world, Channel(world, model=FreeSpace()), RealtimeScheduler(),
                              tmp_path / "dev")
    with boards, trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(boards.air.run)
            first = await nursery.start(run_hotspot, _settings(tmp_path, boards, "alpha"))
            seed = [f"{first.peer.addrs[0]}"]
            hotspots = [first] + [
                await nursery.start(run_hotspot, _settings(tmp_path, boards, n, seed))
                for n in NAMES[1:]]
            stores = [h.peer.store for h in hotspots]
            await _until(lambda: all(_count(s, HotspotAnnouncement) == 3 for s in stores))
            challenge = _challenge("bravo", wall_clock_ms())
            await hotspots[0].peer.publish(challenge)
            await _until(lambda: all(_count(s, WitnessReport) == 2 and
                                     _count(s, BeaconReport) == 1 for s in stores))
            await trio.sleep(0.5)  # a status interval
            nursery.cancel_scope.cancel()
    status = {n: read_hotspot_status(tmp_path / n) for n in NAMES}
    assert status["bravo"]["poc"]["beacons_sent"] == 1
    assert status["alpha"]["poc"]["witnesses_filed"] == 1
    assert status["charlie"]["poc"]["witnesses_filed"] == 1
    assert status["alpha"]["announcement"]["region"] == "US915"
    assert all(len(status[n]["connected"]) >= 1 for n in NAMES)


async def test_a_restarted_hotspot_answers_the_challenge_it_stored_before_the_crash(tmp_path):
    world = _world()
    boards = VirtualDevboards(world, Channel(world, model=FreeSpace()), RealtimeScheduler(),
                              tmp_path / "dev")
    now_ms = wall_clock_ms()
    owed = _challenge("bravo", now_ms)
    # past its window (and within the last two epochs, so it is handed over and refused)
    stale = _challenge("bravo", now_ms - PARAMS.challenge_window_ms - 30_000)
    settings = _settings(tmp_path, boards, "bravo")
    with MessageStore.open(settings.data_dir) as store:  # stored, then the process died
        for c in (owed, stale):
            store.put_many([StoredMessage(c.content_id, TOPIC_PREFIX + Challenge.TYPE,
                                          c.sync_partition, c.TYPE, c.to_cbor(), now_ms, None)])
        owed_ids = {c.content_id for c in pending_challenges(store, _key("bravo").public_key)}
    assert owed_ids == {owed.content_id, stale.content_id}
    with boards, trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(boards.air.run)
            bravo = await nursery.start(run_hotspot, settings)
            await _until(lambda: bravo.poc.beacons_sent >= 1 and
                         _count(bravo.peer.store, BeaconReport) == 1)
            await _until(lambda: bravo.poc.refused["outside_window"] == 1)
            nursery.cancel_scope.cancel()
    assert bravo.resumed == 2  # the owed challenge and the stale one, both handed over
    assert bravo.poc.beacons_sent == 1  # the owed one; the stale one is refused with its reason
    with MessageStore.open(settings.data_dir) as store:
        left = pending_challenges(store, _key("bravo").public_key)
    assert [c.content_id for c in left] == [stale.content_id]

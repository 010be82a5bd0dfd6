"""The whole data path on real ptys: `radio_sim.serve` with a sensor (a station with no
devboard that sends LoRaWAN uplinks on the beacon channel), two `run_hotspot` processes'
roots on their virtual devboards through the unmodified native driver, and a router,
all over libp2p on loopback. Each sensor uplink is bought once, from one of the two
hotspots that heard it, and the hotspots' status files count what they sold."""

from __future__ import annotations

import functools
import hashlib
import json

import trio
from metrics_helpers import scrape_url, value

from coverage_net.identity import Keypair
from coverage_net.node import (
    HotspotSettings,
    PeerConfig,
    RouterSettings,
    read_hotspot_status,
    run_hotspot,
    run_router,
    sensor_radio_config,
    wall_clock_ms,
)
from coverage_net.poc import params_from_dict
from coverage_net.radio import FreeSpace, Station
from firmware_bridge import NativeRadio, open_data_uplink
from radio_sim import Channel, Sensor, World, read_sensors, serve

SAFETY_S = 90  # a safety net against hangs, never a performance assertion
KM_DEG = 1 / 111.195


def _key(name: str) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(b"router pty test " + name.encode()).digest())


ROUTER = _key("router")
VALIDATOR = _key("validator")
PARAMS = params_from_dict({"epoch_length_ms": 60_000, "challenge_window_ms": 20_000,
                           "validators": [VALIDATOR.public_key.hex()],
                           "rewards": {"routers": [ROUTER.public_key.hex()]}})
LAT_DEG = {"sensor": 44.0, "alpha": 44.0 + KM_DEG, "bravo": 44.0 - KM_DEG}


def _hotspot(tmp_path, boards, name: str, bootstrap) -> HotspotSettings:
    return HotspotSettings(
        keypair=_key(name), lat_deg=LAT_DEG[name], lon_deg=-71.0, antenna_height_m=10.0,
        antenna_gain_dbi=3.0, region="US915", params=PARAMS,
        open_radio=functools.partial(NativeRadio.open_serial, str(boards.port(name)),
                                     timeout_s=0.5),
        peer=PeerConfig(keypair=_key(name), data_dir=tmp_path / name, bootstrap=bootstrap,
                        sync_interval_s=0.2, metrics_listen="127.0.0.1:0"),
        status_interval_s=0.1)


async def _until(condition, step_s: float = 0.05) -> None:
    while not condition():
        await trio.sleep(step_s)


async def test_sensor_uplinks_on_ptys_are_sold_by_hotspots_to_the_router(tmp_path):
    (tmp_path / "sensors.json").write_text(json.dumps([{"name": "sensor", "every_s": 1.5,
                                                        "first_s": 1.0}]), encoding="utf-8")
    sensors = read_sensors(tmp_path / "sensors.json")
    world = World([Station(n, lat_deg=lat, lon_deg=-71.0, region="US915")
                   for n, lat in LAT_DEG.items()])
    router_settings = RouterSettings(
        keypair=ROUTER, params=PARAMS, genesis_ms=wall_clock_ms(), sink_path=tmp_path / "sink",
        peer=PeerConfig(keypair=ROUTER, data_dir=tmp_path / "router"), status_interval_s=0.1)
    with trio.fail_after(SAFETY_S):
        async with trio.open_nursery() as nursery:
            boards = await nursery.start(functools.partial(
                serve, world, channel=Channel(world, model=FreeSpace()), dir=tmp_path / "dev",
                manifest_path=tmp_path / "dev" / "manifest.json", sensors=sensors,
                sensor_config=sensor_radio_config(PARAMS, "US915")))
            manifest = json.loads((tmp_path / "dev" / "manifest.json").read_text("utf-8"))
            assert set(manifest["hotspots"]) == {"alpha", "bravo"}  # a sensor has no pty
            assert manifest["sensors"]["sensor"]["every_s"] == 1.5
            router = await nursery.start(run_router, router_settings)
            seed = router.peer.addrs[:1]
            hotspots = [await nursery.start(run_hotspot, _hotspot(tmp_path, boards, n, seed))
                        for n in ("alpha", "bravo")]
            await _until(lambda: router.counters.bought >= 3)
            await trio.sleep(0.3)  # a status interval
            scraped = [await trio.to_thread.run_sync(scrape_url, h.peer.metrics_addr)
                       for h in hotspots]
            nursery.cancel_scope.cancel()
    sent = boards.sensors.stats["uplinks_sent"]
    assert sent >= 3 and boards.sensors.stats["uplinks_refused"] == 0
    status = {n: read_hotspot_status(tmp_path / n)["uplinks"] for n in ("alpha", "bravo")}
    assert all(s["heard"] >= 3 for s in status.values())
    assert sum(s["receipts"] for s in status.values()) >= 3
    assert all(value(f, "coverage_net_uplinks_heard_total") >= 3 for f in scraped)
    assert sum(value(f, "coverage_net_uplinks_receipts_total") for f in scraped) >= 3
    lines = [json.loads(line) for line in (tmp_path / "sink").read_text("utf-8").splitlines()]
    assert len({line["packet_hash"] for line in lines}) == len(lines) >= 3
    sensor = sensors[0]
    for line in lines:  # the real frames, the sensor's counter and MIC intact
        frame = bytes.fromhex(line["payload_hex"])
        fcnt = int.from_bytes(frame[6:8], "little")
        reading = open_data_uplink(frame, fcnt=fcnt, nwk_skey=sensor.nwk_skey,
                                   app_skey=sensor.app_skey)
        assert reading[:4] == fcnt.to_bytes(4, "big")
        assert line["freq_hz"] == 903_900_000 and line["spreading_factor"] == 10
    assert isinstance(sensor, Sensor)

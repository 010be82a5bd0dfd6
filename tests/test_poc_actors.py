"""The proof-of-coverage actors on the in-memory network and the simulated air (issue #10).

Everything real but the air and the wires: real keys, sealed boxes, SQLite stores,
the gossip and sync actors on `MemoryNetwork`, and a `SimRadio` per hotspot on one
`SimAir` (free-space path loss), all under trio's MockClock with deterministic
scheduling, so a whole epoch runs in a moment and the same seed gives the same run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import random
from pathlib import Path

import pytest
import trio

from coverage_net.identity import Keypair
from coverage_net.messages import (
    BeaconReport,
    Challenge,
    HotspotAnnouncement,
    Message,
    WitnessReport,
    decode,
)
from coverage_net.node import announced_hotspots, start_challenger, start_hotspot_poc
from coverage_net.p2p import TOPIC_PREFIX
from coverage_net.p2p.testing import (
    LinkProfile,
    MemoryNetwork,
    run_deterministic,
    start_memory_node,
)
from coverage_net.poc import (
    SEALED_SECRET_BYTES,
    SECRET_BYTES,
    HotspotIdentity,
    PocError,
    PocMetrics,
    SecretError,
    beacon_payload,
    beacon_radio_config,
    challengees_for_epoch,
    challenger_for,
    epoch_entropy_from_seed,
    open_sealed_secret,
    params_from_dict,
    run_beaconer,
    run_challenger,
    run_witness_listener,
    seal_secret,
    secret_hash,
)
from coverage_net.radio import FreeSpace, Station
from firmware_bridge import RadioConfig
from radio_sim import Channel, SimAir, World

EPOCH_MS = 60_000
WINDOW_MS = 10_000
T0_MS = 1_790_000_040_000  # a whole number of epochs since the Unix epoch
GENESIS_MS = T0_MS + 5_000  # announcements gossiped first (3 s to the late one)
VALIDATOR = Keypair.from_seed(b"validator".ljust(32, b"\0"))
OUTSIDER = Keypair.from_seed(b"outsider".ljust(32, b"\0"))
NAMES = [f"h{i}" for i in range(6)]
KEYS = {name: Keypair.from_seed(name.encode().ljust(32, b"\0")) for name in NAMES}
LATE = "h5"  # reached only over a slow link: hears beacons before their challenges
LATE_LINK_S = 3.0
PARAMS = params_from_dict({
    "epoch_length_ms": EPOCH_MS, "challenges_per_hotspot_per_day": 720,  # 3 of 6 per epoch
    "challenge_window_ms": WINDOW_MS, "validators": [VALIDATOR.public_key.hex()]})
SEED = b"poc-actors-test"
LISTENING_ELSEWHERE = RadioConfig.for_region("US915", data_rate=3, channel=0)


def clock_ms() -> int:
    return T0_MS + round(trio.current_time() * 1000)


def identity(name: str) -> HotspotIdentity:
    return HotspotIdentity(KEYS[name], "US915", antenna_gain_dbi=3.0, radio_max_dbm=22)


def small_world() -> World:
    """Six hotspots within about 3 km of each other: every one hears every other."""
    km = 1 / 111.195
    spots = [(0.0, 0.0), (1.0, 0.3), (-0.8, 1.1), (0.4, -1.5), (2.1, 1.9), (-1.6, -0.7)]
    return World([Station(name, lat_deg=44.0 + dy * km, lon_deg=-71.0 + dx * km / 0.719,
                          region="US915", antenna_gain_dbi=3.0)
                  for name, (dx, dy) in zip(NAMES, spots, strict=True)])


@contextlib.asynccontextmanager
async def on_air(nursery: trio.Nursery, *names: str, seed: int = 0):
    """A running `SimAir` over the small world and open radios for ``names``."""
    world = small_world()
    air = SimAir(world, Channel(world, model=FreeSpace(), seed=seed))
    await nursery.start(air.run)
    async with contextlib.AsyncExitStack() as stack:
        radios = [await stack.enter_async_context(air.radio(name)) for name in names]
        yield air, radios


def stored(node, message_type: type[Message]) -> list[Message]:
    rows = node.store.range(topic=TOPIC_PREFIX + message_type.TYPE, partition_from=0,
                            partition_to=2**63 - 1)
    return [decode(row.data) for row in rows]


# -- a full epoch over the network -----------------------------------------------------------

@dataclasses.dataclass
class EpochRun:
    challenges: list[Challenge]
    beacons: list[BeaconReport]
    witnesses: list[WitnessReport]
    metrics: dict[str, PocMetrics]
    issued_secrets: dict[bytes, bytes]


def run_epoch(root: Path, seed: int) -> EpochRun:
    """Validator + six hotspots for one epoch; what reached the validator's store."""
    result: list[EpochRun] = []

    async def main() -> None:
        hub = MemoryNetwork(seed=seed)
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            validator = await start_memory_node(nursery, hub, VALIDATOR.peer_id, root / "v")
            nodes = {name: await start_memory_node(nursery, hub, KEYS[name].peer_id,
                                                   root / name) for name in NAMES}
            for name in NAMES[:-1]:
                hub.connect(VALIDATOR.peer_id, KEYS[name].peer_id)
            hub.connect(KEYS["h4"].peer_id, KEYS[LATE].peer_id,
                        LinkProfile(latency_s=(LATE_LINK_S, LATE_LINK_S)))
            metrics = {}
            async with on_air(nursery, *NAMES, seed=seed) as (air, radios):
                for name, radio in zip(NAMES, radios, strict=True):
                    gossip = nodes[name].p2p.gossip
                    metrics[name] = await start_hotspot_poc(
                        nursery, gossip, radio, identity(name), PARAMS, clock_ms)
                    await gossip.publish(HotspotAnnouncement(
                        hotspot_key=KEYS[name].public_key, cell=radio.hotspot.cell,
                        antenna_gain_dbi=3.0, antenna_height_m=10.0, region="US915",
                        timestamp_ms=clock_ms()).sign(KEYS[name]))
                challenger = await start_challenger(
                    nursery, validator.p2p.gossip, validator.store, VALIDATOR, PARAMS,
                    clock_ms, entropy_for=lambda epoch: epoch_entropy_from_seed(SEED, epoch),
                    random_bytes=random.Random(seed).randbytes, genesis_ms=GENESIS_MS)
                await trio.sleep((GENESIS_MS + EPOCH_MS - 1_000 - clock_ms()) / 1000)
                metrics["validator"] = challenger.metrics
                result.append(EpochRun(stored(validator, Challenge),
                                       stored(validator, BeaconReport),
                                       stored(validator, WitnessReport), metrics,
                                       dict(challenger.secrets)))
                nursery.cancel_scope.cancel()

    run_deterministic(main, seed=seed)
    return result[0]


@pytest.fixture(scope="module")
def epoch_run(tmp_path_factory) -> EpochRun:
    return run_epoch(tmp_path_factory.mktemp("epoch"), seed=7)


def test_a_full_epoch_challenges_beacons_and_witnesses_reach_the_validator(epoch_run):
    run = epoch_run
    keys = {KEYS[name].public_key: name for name in NAMES}
    # three challenges, gossiped to every hotspot, each beaconed once
    assert len(run.challenges) == 3 == run.metrics["validator"].challenges_issued
    assert {c.epoch for c in run.challenges} == {0}
    assert len({c.challengee_key for c in run.challenges}) == 3
    assert set(run.issued_secrets) == {c.content_id for c in run.challenges}
    assert sum(m.beacons_sent for m in run.metrics.values()) == 3
    by_id = {c.content_id: c for c in run.challenges}
    beacons = {b.challenge_id: b for b in run.beacons}
    assert set(beacons) == set(by_id)
    payload_hash = {}
    for challenge_id, beacon in beacons.items():
        challenge = by_id[challenge_id].verify()
        beacon.verify()
        assert beacon.hotspot_key == challenge.challengee_key
        assert secret_hash(beacon.secret) == challenge.secret_hash
        assert beacon.secret == run.issued_secrets[challenge_id]
        frame = beacon_payload(beacon.secret, challenge_id, "US915", spreading_factor=10,
                               bandwidth_hz=125_000)
        assert beacon.payload_hash == hashlib.sha256(frame).digest()
        assert beacon.eirp_centi_dbm == 2_500  # 22 dBm conducted + 3 dBi
        payload_hash[challenge_id] = beacon.payload_hash
    # every other hotspot heard every beacon and its signed report reached the validator
    assert len(run.witnesses) == 3 * 5
    for report in run.witnesses:
        report.verify()
        challenge = by_id[report.challenge_id]
        assert report.payload_hash == payload_hash[report.challenge_id]
        assert report.witness_key != challenge.challengee_key
        assert (report.freq_hz, report.spreading_factor) == (903_900_000, 10)
        assert -100 < report.rssi_dbm < -50
        assert 0 <= report.host_time_ms - challenge.timestamp_ms <= WINDOW_MS
    heard_by = {cid: {keys[r.witness_key] for r in run.witnesses if r.challenge_id == cid}
                for cid in by_id}
    for cid, witnesses in heard_by.items():
        assert witnesses == set(NAMES) - {keys[by_id[cid].challengee_key]}
    for name in NAMES:
        challenged = any(keys[c.challengee_key] == name for c in run.challenges)
        assert run.metrics[name].refused == {"not_for_me": 3 - challenged}


def test_a_witness_that_heard_the_beacon_first_files_when_the_challenge_arrives(epoch_run):
    late = epoch_run.metrics[LATE]
    others_beacons = sum(1 for c in epoch_run.challenges
                         if c.challengee_key != KEYS[LATE].public_key)
    # its challenges arrive 3 s late, long after the beacon's 0.37 s on the air
    assert late.beacons_held == others_beacons == late.held_resolved
    assert late.held_expired == late.held_dropped == 0
    assert sum(r.witness_key == KEYS[LATE].public_key
               for r in epoch_run.witnesses) == others_beacons
    for name in NAMES[:-1]:
        assert epoch_run.metrics[name].beacons_held == 0  # they knew the challenge first


def test_the_same_seed_gives_the_same_reports(epoch_run, tmp_path):
    again = run_epoch(tmp_path, seed=7)
    for kind in ("challenges", "beacons", "witnesses"):
        assert sorted(m.content_id for m in getattr(again, kind)) == \
            sorted(m.content_id for m in getattr(epoch_run, kind)), kind


def test_the_challenger_picks_eligible_hotspots_from_announcements(tmp_path):
    async def main() -> list[bytes]:
        hub = MemoryNetwork(seed=1)
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            node = await start_memory_node(nursery, hub, VALIDATOR.peer_id, tmp_path)
            for name in ("h2", "h0"):
                await node.p2p.gossip.publish(HotspotAnnouncement(
                    hotspot_key=KEYS[name].public_key, cell=small_world().hotspots[0].cell,
                    antenna_gain_dbi=3.0, antenna_height_m=10.0, region="US915",
                    timestamp_ms=clock_ms()).sign(KEYS[name]))
            await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
            return announced_hotspots(node.store)

    assert run_deterministic(main, seed=1) == sorted([KEYS["h0"].public_key,
                                                      KEYS["h2"].public_key])


def test_a_challenger_must_be_a_listed_validator():
    async def main() -> None:
        send, _ = trio.open_memory_channel[Message](1)
        await run_challenger(OUTSIDER, PARAMS, eligible_hotspots=lambda e: [],
                             entropy_for=lambda e: bytes(32), random_bytes=bytes,
                             clock_ms=clock_ms, publish=send, secrets={}, metrics=PocMetrics())

    with pytest.raises(PocError, match="is not listed, so it cannot challenge"):
        run_deterministic(main, seed=0)


# -- the actors fed by hand ------------------------------------------------------------------

def challenge_for(name: str, *, signer: Keypair = VALIDATOR, sealed_to: str | None = None,
                  hash_of: bytes | None = None, age_ms: int = 0,
                  secret: bytes = bytes(range(SECRET_BYTES))) -> Challenge:
    sealed_key = KEYS[sealed_to or name].public_key
    return Challenge(
        challenger_key=signer.public_key, challengee_key=KEYS[name].public_key, epoch=0,
        secret_hash=secret_hash(hash_of or secret), sealed_secret=seal_secret(secret, sealed_key),
        timestamp_ms=clock_ms() - age_ms).sign(signer)


def beacon_of(challenge: Challenge, secret: bytes = bytes(range(SECRET_BYTES))) -> bytes:
    return beacon_payload(secret, challenge.content_id, "US915", spreading_factor=10,
                          bandwidth_hz=125_000)


@contextlib.asynccontextmanager
async def listener_on(name: str, nursery: trio.Nursery, radio, **kw):
    """`run_witness_listener` for hotspot ``name``: its challenge inbox, outbox, metrics."""
    metrics = PocMetrics()
    send, receive = trio.open_memory_channel[Message](16)
    out_send, out_receive = trio.open_memory_channel[Message](16)
    await nursery.start(functools.partial(
        run_witness_listener, identity(name), PARAMS, radio=radio, challenges=receive,
        publish=out_send, clock_ms=clock_ms, metrics=metrics, **kw))
    yield send, out_receive, metrics


async def transmit(radio, frame: bytes) -> None:
    await radio.configure(beacon_radio_config(PARAMS, identity(radio.name)))
    await radio.transmit(frame)
    await trio.sleep(0.01)


def test_only_a_valid_challenge_for_this_hotspot_is_beaconed():
    async def main() -> tuple:
        async with trio.open_nursery() as nursery, on_air(nursery, "h0", "h1") as (air, radios):
            h0, h1 = radios
            metrics = PocMetrics()
            send, receive = trio.open_memory_channel[Message](16)
            out_send, out_receive = trio.open_memory_channel[Message](16)
            await h0.configure(LISTENING_ELSEWHERE)
            await h1.configure(beacon_radio_config(PARAMS, identity("h1")))
            async with h1.packets() as heard:
                nursery.start_soon(functools.partial(
                    run_beaconer, identity("h0"), PARAMS, radio=h0, challenges=receive,
                    publish=out_send, clock_ms=clock_ms, metrics=metrics))
                for refused in (challenge_for("h1"),  # addressed to another hotspot
                                challenge_for("h0", signer=OUTSIDER),  # not a validator
                                challenge_for("h0", age_ms=WINDOW_MS + 1),  # window closed
                                challenge_for("h0", sealed_to="h1"),  # box does not open
                                challenge_for("h0", hash_of=bytes(SECRET_BYTES))):  # wrong hash
                    await send.send(refused)
                await trio.sleep(1)
                tx_before = air.stats["tx"]
                good = challenge_for("h0")
                await send.send(good)
                report = await out_receive.receive()
                packet = heard.receive_nowait()
            nursery.cancel_scope.cancel()
            return metrics, tx_before, report, good, packet, h0.config

    metrics, tx_before, report, good, packet, config = run_deterministic(main, seed=3)
    assert tx_before == 0  # nothing went on the air for the refused ones
    assert metrics.refused == {"not_for_me": 1, "not_a_validator": 1, "outside_window": 1,
                               "secret_does_not_open": 1, "secret_hash_mismatch": 1}
    assert metrics.beacons_sent == 1
    assert isinstance(report, BeaconReport) and report.verify()
    assert report.challenge_id == good.content_id and report.secret == bytes(range(32))
    assert packet.payload == beacon_of(good)
    assert report.payload_hash == hashlib.sha256(packet.payload).digest()
    assert report.tx_power_dbm == 22 and report.eirp_centi_dbm == 2_500
    assert config == LISTENING_ELSEWHERE  # the radio went back to what it listened on


def test_held_beacons_resolve_expire_and_are_bounded():
    async def main() -> tuple:
        async with trio.open_nursery() as nursery, on_air(nursery, "h0", "h1") as (_, radios):
            h0, h1 = radios
            async with listener_on("h1", nursery, h1, max_held=2) as (inbox, outbox, metrics):
                first, second, third = (challenge_for("h2", secret=bytes([i]) * 32)
                                        for i in (1, 2, 3))
                for challenge, i in ((first, 1), (second, 2), (third, 3)):
                    await transmit(h0, beacon_of(challenge, bytes([i]) * 32))
                assert (metrics.beacons_held, metrics.held_dropped) == (3, 1)  # first dropped
                await inbox.send(first)
                await inbox.send(third)
                await trio.sleep(0.01)
                report = outbox.receive_nowait()
                with pytest.raises(trio.WouldBlock):
                    outbox.receive_nowait()  # nothing for the dropped one
                await trio.sleep(WINDOW_MS / 1000 + 1)  # second is never challenged
                expired = metrics.held_expired
                await inbox.send(second)  # too late now: outside its window and expired
                await trio.sleep(0.01)
                with pytest.raises(trio.WouldBlock):
                    outbox.receive_nowait()
            nursery.cancel_scope.cancel()
            return metrics, report, third, expired

    metrics, report, third, expired = run_deterministic(main, seed=4)
    assert isinstance(report, WitnessReport) and report.verify()
    assert report.challenge_id == third.content_id
    assert report.witness_key == KEYS["h1"].public_key
    assert report.payload_hash == hashlib.sha256(beacon_of(third, bytes([3]) * 32)).digest()
    assert metrics.held_resolved == 1 and expired == 1 and metrics.witnesses_filed == 1


def test_non_beacon_frames_and_its_own_beacon_are_not_witnessed():
    async def main() -> tuple:
        async with trio.open_nursery() as nursery, on_air(nursery, "h0", "h1") as (_, radios):
            h0, h1 = radios
            async with listener_on("h1", nursery, h1) as (inbox, outbox, metrics):
                await transmit(h0, b"not a beacon at all")
                await transmit(h0, bytes([0x40]) + bytes(range(23)))  # a LoRaWAN uplink
                own = challenge_for("h1")
                await inbox.send(own)
                await trio.sleep(0.01)
                await transmit(h0, beacon_of(own))  # someone replays h1's own beacon
                other = challenge_for("h3")
                await inbox.send(other)
                await transmit(h0, beacon_of(other))
                report = await outbox.receive()
                await transmit(h0, beacon_of(other))  # the same beacon again: no second report
                with pytest.raises(trio.WouldBlock):
                    outbox.receive_nowait()
            nursery.cancel_scope.cancel()
            return metrics, report, other

    metrics, report, other = run_deterministic(main, seed=5)
    assert metrics.frames_ignored == 2
    assert metrics.own_beacons_ignored == 1
    assert metrics.repeats_ignored == 1
    assert metrics.witnesses_filed == 1 and report.challenge_id == other.content_id
    assert metrics.beacons_held == 0


def run_challengers(validators: list[Keypair], *, start_into_epoch_ms: int, epochs: int,
                    seed: int) -> tuple[list[Challenge], list[dict], list[PocMetrics]]:
    """Challengers fed by hand, from ``start_into_epoch_ms`` into epoch 0 to the end of
    epoch ``epochs - 1``: what they published, their secrets and counters."""
    params = dataclasses.replace(PARAMS, validators=tuple(sorted(v.public_key
                                                                 for v in validators)))
    genesis_ms = T0_MS - start_into_epoch_ms
    secrets = [{} for _ in validators]
    metrics = [PocMetrics() for _ in validators]
    published: list[Challenge] = []

    async def main() -> None:
        send, receive = trio.open_memory_channel[Message](64)
        async with trio.open_nursery() as nursery:
            for i, validator in enumerate(validators):
                nursery.start_soon(functools.partial(
                    run_challenger, validator, params,
                    eligible_hotspots=lambda e: [k.public_key for k in KEYS.values()],
                    entropy_for=lambda e: epoch_entropy_from_seed(SEED, e),
                    random_bytes=random.Random(seed + i).randbytes, clock_ms=clock_ms,
                    publish=send, secrets=secrets[i], metrics=metrics[i],
                    genesis_ms=genesis_ms))
            await trio.sleep((genesis_ms + epochs * EPOCH_MS - 1 - clock_ms()) / 1000)
            while True:
                try:
                    published.append(receive.receive_nowait())
                except trio.WouldBlock:
                    break
            nursery.cancel_scope.cancel()

    run_deterministic(main, seed=seed)
    for challenge in published:
        challenge.verify()
        assert 0 <= challenge.timestamp_ms - (genesis_ms + challenge.epoch * EPOCH_MS) \
            <= EPOCH_MS - WINDOW_MS  # every window closes within its epoch
    return published, secrets, metrics


def test_validators_split_an_epochs_challenges_in_slots_that_do_not_overlap():
    validators = [VALIDATOR, Keypair.from_seed(b"validator-2".ljust(32, b"\0"))]
    published, secrets, metrics = run_challengers(validators, start_into_epoch_ms=0,
                                                  epochs=3, seed=11)
    hotspots = [k.public_key for k in KEYS.values()]
    keys = tuple(sorted(v.public_key for v in validators))
    for epoch in range(3):
        entropy = epoch_entropy_from_seed(SEED, epoch)
        issued = sorted((c for c in published if c.epoch == epoch), key=lambda c: c.timestamp_ms)
        assert [c.challengee_key for c in issued] == challengees_for_epoch(
            entropy, epoch, hotspots, PARAMS)  # in selection order, one slot each
        for challenge in issued:
            assert challenge.challenger_key == challenger_for(
                entropy, epoch, challenge.challengee_key, keys)
        gaps = [b.timestamp_ms - a.timestamp_ms for a, b in itertools.pairwise(issued)]
        assert min(gaps) >= (EPOCH_MS - WINDOW_MS) // 3 > WINDOW_MS
    assert {c.challenger_key for c in published} == set(keys)  # both took part
    assert sum(m.challenges_issued for m in metrics) == len(published) == 9
    # secrets are kept for the epoch and the one before, for a reveal
    kept = {c.content_id for c in published if c.epoch >= 1}
    assert set(secrets[0]) | set(secrets[1]) == kept
    for challenge in published:
        if challenge.content_id in kept:
            held = secrets[0].get(challenge.content_id) or secrets[1][challenge.content_id]
            assert secret_hash(held) == challenge.secret_hash


def test_a_challenger_started_late_skips_slots_whose_window_would_outlast_the_epoch():
    published, _, metrics = run_challengers([VALIDATOR], start_into_epoch_ms=51_000,
                                            epochs=2, seed=12)
    assert metrics[0].challenges_skipped_late == 3
    assert [c.epoch for c in published] == [1, 1, 1]


def test_a_seeded_challenger_seals_the_same_box_and_the_challengee_opens_it():
    ephemeral = random.Random(9).randbytes(SECRET_BYTES)
    secret = bytes(range(SECRET_BYTES))
    box = seal_secret(secret, KEYS["h0"].public_key, ephemeral_key=ephemeral)
    assert box == seal_secret(secret, KEYS["h0"].public_key, ephemeral_key=ephemeral)
    assert len(box) == SEALED_SECRET_BYTES
    assert open_sealed_secret(box, KEYS["h0"]) == secret
    with pytest.raises(SecretError, match="does not open"):
        open_sealed_secret(box, KEYS["h1"])
    with pytest.raises(SecretError, match="ephemeral_key must be 32 bytes"):
        seal_secret(secret, KEYS["h0"].public_key, ephemeral_key=bytes(31))

"""The proof-of-coverage actors: the challenger, the beaconer and the witness listener.

Each is one long-running trio task fed by channels and injected callables, so the
same code runs in virtual time (the simulator, tests under MockClock) and in real
time (a hotspot beside a devboard). None imports the network or the store: the
composition root (`coverage_net.node.start_hotspot_poc`, `start_challenger`) hands
each the challenges it subscribed to and a channel whose messages it publishes.

- `run_challenger`: each epoch, the challenges this validator must issue
  (`challengees_for_epoch` / `challenger_for`), spread over the epoch so two
  beacons do not collide on the region's one beacon channel; each a fresh secret,
  sealed to the challengee, in a signed `Challenge`.
- `run_beaconer`: a challenge addressed to this hotspot, inside its window, from a
  listed validator, whose box opens to a secret matching its hash, becomes a beacon
  on the air and a signed `BeaconReport` revealing the secret; anything else is
  refused, logged and counted by reason.
- `run_witness_listener`: every frame that parses as a beacon becomes a signed
  `WitnessReport` for the challenge its prefix names; a beacon heard before its
  challenge arrived is held (bounded, expiring with the challenge window) and
  filed when the challenge comes.

Times are milliseconds from an injected ``clock_ms`` (the host clock of the
reports); waiting uses ``trio.sleep``, which MockClock drives in tests.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import trio

from coverage_net.identity import Keypair
from coverage_net.messages import BeaconReport, Challenge, Message, MessageError, WitnessReport
from coverage_net.radio import get_region
from firmware_bridge import BridgeError, Radio, RadioConfig, RxPacket

from ._beacon import (
    BEACON_CODING_RATE,
    BEACON_PREAMBLE_SYMBOLS,
    CHALLENGE_PREFIX_BYTES,
    beacon_eirp_centi_dbm,
    beacon_payload,
    beacon_tx_power_dbm,
    parse_beacon,
)
from ._errors import ParamsError, PocError, SecretError
from ._params import NetworkParams
from ._secret import SECRET_BYTES, open_sealed_secret, seal_secret, secret_hash
from ._select import challengees_for_epoch, challenger_for

__all__ = [
    "DEFAULT_MAX_HELD_BEACONS", "MAX_CLOCK_SKEW_MS", "HotspotIdentity", "PocMetrics",
    "beacon_radio_config", "run_beaconer", "run_challenger", "run_witness_listener",
]

logger = logging.getLogger(__name__)

MAX_CLOCK_SKEW_MS = 5_000
"""How far ahead of ours a challenger's clock may be before its challenge counts as early."""
DEFAULT_MAX_HELD_BEACONS = 64
"""Beacons held for a challenge not yet known; more and the oldest is dropped."""

ClockMs = Callable[[], int]
Publish = trio.MemorySendChannel[Message]


@dataclass
class PocMetrics:
    """Every counter of the proof-of-coverage actors of one node."""

    challenges_issued: int = 0
    challenges_skipped_late: int = 0
    beacons_sent: int = 0
    witnesses_filed: int = 0
    beacons_held: int = 0
    held_resolved: int = 0
    held_expired: int = 0
    held_dropped: int = 0
    frames_ignored: int = 0
    own_beacons_ignored: int = 0
    repeats_ignored: int = 0
    """Beacons heard again for a challenge already witnessed (one report each)."""
    challenges_ignored: int = 0
    """Challenges the witness listener will not witness for (bad signature, window, challenger)."""
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    """Challenges the beaconer refused, by reason (``not_for_me``, ``outside_window``...)."""


@dataclass(frozen=True)
class HotspotIdentity:
    """What a hotspot's actors need of it: its key and what it asserted about its radio.

    Beacon power follows the *asserted* antenna gain (the EIRP the verifier judges
    by); ``radio_max_dbm`` is the most the radio can put out.
    """

    keypair: Keypair
    region: str
    antenna_gain_dbi: float
    radio_max_dbm: int = 22

    def __post_init__(self) -> None:
        object.__setattr__(self, "region", get_region(self.region).name)


def beacon_radio_config(params: NetworkParams, identity: HotspotIdentity) -> RadioConfig:
    """The radio configuration a hotspot beacons and listens with: the region's beacon
    channel and data rate, LoRaWAN framing, at the hotspot's beacon power."""
    beacon = params.beacon(identity.region)
    return RadioConfig(
        freq_hz=beacon.freq_hz, spreading_factor=beacon.spreading_factor,
        bandwidth_hz=beacon.bandwidth_hz, coding_rate=BEACON_CODING_RATE,
        tx_power_dbm=beacon_tx_power_dbm(identity.region, identity.antenna_gain_dbi,
                                         identity.radio_max_dbm),
        preamble_symbols=BEACON_PREAMBLE_SYMBOLS)


async def _sleep_until(clock_ms: ClockMs, when_ms: int) -> None:
    """Sleep until the injected clock reads ``when_ms`` (re-checked: clocks drift)."""
    while (delay_ms := when_ms - clock_ms()) > 0:
        await trio.sleep(delay_ms / 1000)


# -- the challenger -------------------------------------------------------------------------

async def run_challenger(keypair: Keypair, params: NetworkParams, *,
                         eligible_hotspots: Callable[[int], Iterable[bytes]],
                         entropy_for: Callable[[int], bytes],
                         random_bytes: Callable[[int], bytes], clock_ms: ClockMs,
                         publish: Publish, secrets: dict[bytes, bytes], metrics: PocMetrics,
                         genesis_ms: int = 0) -> None:
    """Issue this validator's challenges, epoch after epoch, until cancelled.

    Epoch ``e`` starts at ``genesis_ms + e * epoch_length_ms``. Its challengees are
    spread evenly over the epoch minus one window (challenge ``i`` of ``n`` at
    ``i * (epoch - window) // n``), counting every validator's, so beacons of one
    epoch never overlap. A slot whose window could no longer close within the
    epoch (the node started late) is skipped and counted. The secret of each
    challenge issued stays in ``secrets`` (challenge id -> secret) for a later
    reveal, for the current and the previous epoch. An epoch whose entropy is not known
    when it begins (`entropy_for` raises LookupError: the chain is behind) gets no
    challenges from this validator, logged.
    """
    me = keypair.public_key
    if me not in params.validators:
        raise ParamsError(f"validators: this node's key {me.hex()} is not listed, so it "
                          "cannot challenge; add it to the network parameters or run it "
                          "as a hotspot")
    length_ms, window_ms = params.epoch_length_ms, params.challenge_window_ms
    epoch = max(0, (clock_ms() - genesis_ms) // length_ms)
    issued: dict[int, list[bytes]] = {}
    while True:
        start_ms = genesis_ms + epoch * length_ms
        await _sleep_until(clock_ms, start_ms)  # the hotspots eligible when it begins
        try:
            entropy = entropy_for(epoch)
        except LookupError as exc:  # the chain has not finalized the block it comes from
            logger.warning("no challenges in epoch %d: its entropy is not known yet (%s)",
                           epoch, exc)
            epoch += 1
            continue
        challengees = challengees_for_epoch(entropy, epoch, eligible_hotspots(epoch), params)
        spacing_ms = (length_ms - window_ms) // max(1, len(challengees))
        for i, challengee in enumerate(challengees):
            if challenger_for(entropy, epoch, challengee, params.validators) != me:
                continue
            slot_ms = start_ms + i * spacing_ms
            await _sleep_until(clock_ms, slot_ms)
            if clock_ms() + window_ms > start_ms + length_ms:
                metrics.challenges_skipped_late += 1
                logger.warning("challenge slot passed: skipped",
                               extra={"epoch": epoch, "challengee": challengee.hex()[:16]})
                continue
            secret = random_bytes(SECRET_BYTES)
            challenge = Challenge(
                challenger_key=me, challengee_key=challengee, epoch=epoch,
                secret_hash=secret_hash(secret),
                sealed_secret=seal_secret(secret, challengee,
                                          ephemeral_key=random_bytes(SECRET_BYTES)),
                timestamp_ms=clock_ms()).sign(keypair)
            secrets[challenge.content_id] = secret
            issued.setdefault(epoch, []).append(challenge.content_id)
            metrics.challenges_issued += 1
            logger.info("challenge issued", extra={"epoch": epoch, "challenge": challenge.short_id,
                                                   "challengee": challengee.hex()[:16]})
            await publish.send(challenge)
        for old in [e for e in issued if e < epoch - 1]:
            for challenge_id in issued.pop(old):
                secrets.pop(challenge_id, None)
        epoch += 1


# -- the checks a hotspot makes of a challenge ----------------------------------------------

def _refusal(challenge: Challenge, params: NetworkParams, now_ms: int) -> str | None:
    """Why a hotspot takes no part in this challenge's round, or None if it may."""
    try:
        challenge.verify()
    except MessageError:
        return "bad_signature"
    if challenge.challenger_key not in params.validators:
        return "not_a_validator"
    age_ms = now_ms - challenge.timestamp_ms
    if age_ms > params.challenge_window_ms or age_ms < -MAX_CLOCK_SKEW_MS:
        return "outside_window"
    return None


def _refuse(metrics: PocMetrics, challenge: Challenge, reason: str, level: int) -> None:
    metrics.refused[reason] += 1
    logger.log(level, "challenge refused: %s", reason,
               extra={"challenge": challenge.short_id, "reason": reason})


# -- the beaconer ---------------------------------------------------------------------------

async def run_beaconer(identity: HotspotIdentity, params: NetworkParams, *, radio: Radio,
                       challenges: trio.MemoryReceiveChannel[Message], publish: Publish,
                       clock_ms: ClockMs, metrics: PocMetrics) -> None:
    """Beacon for every valid challenge addressed to this hotspot, until cancelled.

    The radio is configured for the beacon, transmits, and is put back to the
    configuration it had (listening on the beacon channel, where the witness
    listener left it); then the `BeaconReport` is published.
    """
    keypair = identity.keypair
    beacon_config = beacon_radio_config(params, identity)
    eirp_centi_dbm = beacon_eirp_centi_dbm(identity.region, identity.antenna_gain_dbi,
                                           identity.radio_max_dbm)
    async for challenge in challenges:
        if not isinstance(challenge, Challenge):
            continue
        if challenge.challengee_key != keypair.public_key:
            _refuse(metrics, challenge, "not_for_me", logging.DEBUG)
            continue
        reason = _refusal(challenge, params, clock_ms())
        if reason is None:
            try:
                secret = open_sealed_secret(challenge.sealed_secret, keypair)
            except SecretError:
                reason = "secret_does_not_open"
            else:
                if secret_hash(secret) != challenge.secret_hash:
                    reason = "secret_hash_mismatch"
        if reason is not None:
            _refuse(metrics, challenge, reason, logging.WARNING)
            continue
        frame = beacon_payload(secret, challenge.content_id, identity.region,
                               spreading_factor=beacon_config.spreading_factor,
                               bandwidth_hz=beacon_config.bandwidth_hz)
        previous = radio.config
        try:
            await radio.configure(beacon_config)
            result = await radio.transmit(frame)
        except BridgeError as exc:
            _refuse(metrics, challenge, "radio_failure", logging.ERROR)
            logger.error("beacon not transmitted: %s", exc,
                         extra={"challenge": challenge.short_id})
            continue
        finally:
            if previous is not None and previous != beacon_config:
                with trio.CancelScope(shield=True):
                    await radio.configure(previous)
        metrics.beacons_sent += 1
        report = BeaconReport(
            hotspot_key=keypair.public_key, challenge_id=challenge.content_id,
            epoch=challenge.epoch, secret=secret, payload_hash=hashlib.sha256(frame).digest(),
            freq_hz=beacon_config.freq_hz, spreading_factor=beacon_config.spreading_factor,
            bandwidth_hz=beacon_config.bandwidth_hz, tx_power_dbm=result.tx_power_dbm,
            eirp_centi_dbm=eirp_centi_dbm, radio_timestamp_us=result.radio_timestamp_us,
            host_time_ms=clock_ms()).sign(keypair)
        logger.info("beacon sent", extra={"challenge": challenge.short_id,
                                          "report": report.short_id})
        await publish.send(report)


# -- the witness listener -------------------------------------------------------------------

@dataclass(frozen=True)
class _Heard:
    """A beacon frame as the radio heard it, with the host time it was heard."""

    packet: RxPacket
    prefix: bytes
    heard_ms: int


class _Witness:
    """The listener's state: known challenges by prefix, and beacons held for one."""

    def __init__(self, identity: HotspotIdentity, params: NetworkParams, publish: Publish,
                 clock_ms: ClockMs, metrics: PocMetrics, max_held: int) -> None:
        self.keypair = identity.keypair
        self.params = params
        self.publish = publish
        self.clock_ms = clock_ms
        self.metrics = metrics
        self.max_held = max_held
        self.known: dict[bytes, list[Challenge]] = {}
        self.filed: set[tuple[bytes, bytes]] = set()
        """(challenge id, payload hash) of every report filed for a known challenge."""
        self.held: collections.deque[_Heard] = collections.deque()
        self.held_changed = trio.Event()

    def _challenge_expired(self, challenge: Challenge, now_ms: int) -> bool:
        return now_ms > challenge.timestamp_ms + self.params.challenge_window_ms \
            + MAX_CLOCK_SKEW_MS

    def expire(self) -> None:
        """Forget held beacons older than a window, and challenges past theirs."""
        now_ms = self.clock_ms()
        window_ms = self.params.challenge_window_ms
        while self.held and now_ms - self.held[0].heard_ms > window_ms:
            self.held.popleft()
            self.metrics.held_expired += 1
        for prefix in list(self.known):
            alive = [c for c in self.known[prefix] if not self._challenge_expired(c, now_ms)]
            if alive:
                self.known[prefix] = alive
            else:
                del self.known[prefix]
        live_ids = {c.content_id for challenges in self.known.values() for c in challenges}
        self.filed = {key for key in self.filed if key[0] in live_ids}

    async def on_packet(self, packet: RxPacket) -> None:
        parsed = parse_beacon(packet.payload) if packet.crc_ok else None
        if parsed is None:
            self.metrics.frames_ignored += 1
            return
        heard = _Heard(packet, parsed[0], self.clock_ms())
        self.expire()
        matching = self.known.get(heard.prefix)
        if matching:
            for challenge in matching:
                await self._file(challenge, heard)
            return
        if len(self.held) >= self.max_held:
            self.held.popleft()
            self.metrics.held_dropped += 1
        self.held.append(heard)
        self.metrics.beacons_held += 1
        self.held_changed.set()

    async def on_challenge(self, challenge: Challenge) -> None:
        now_ms = self.clock_ms()
        reason = _refusal(challenge, self.params, now_ms)
        if reason is not None:
            self.metrics.challenges_ignored += 1
            logger.info("challenge not witnessed for: %s", reason,
                        extra={"challenge": challenge.short_id, "reason": reason})
            return
        self.expire()
        prefix = challenge.content_id[:CHALLENGE_PREFIX_BYTES]
        self.known.setdefault(prefix, []).append(challenge)
        resolved = [h for h in self.held if h.prefix == prefix]
        for heard in resolved:
            self.held.remove(heard)
            self.metrics.held_resolved += 1
            await self._file(challenge, heard)

    async def _file(self, challenge: Challenge, heard: _Heard) -> None:
        if challenge.challengee_key == self.keypair.public_key:
            self.metrics.own_beacons_ignored += 1
            return
        packet = heard.packet
        payload_hash = hashlib.sha256(packet.payload).digest()
        if (challenge.content_id, payload_hash) in self.filed:
            self.metrics.repeats_ignored += 1  # a replay, or a second copy: one report
            return
        self.filed.add((challenge.content_id, payload_hash))
        report = WitnessReport(
            witness_key=self.keypair.public_key, challenge_id=challenge.content_id,
            epoch=challenge.epoch, payload_hash=payload_hash, rssi_dbm=packet.rssi_dbm,
            snr_db=packet.snr_db, freq_hz=packet.freq_hz,
            spreading_factor=packet.spreading_factor, bandwidth_hz=packet.bandwidth_hz,
            radio_timestamp_us=packet.radio_timestamp_us,
            host_time_ms=heard.heard_ms).sign(self.keypair)
        self.metrics.witnesses_filed += 1
        logger.info("witness filed", extra={"challenge": challenge.short_id,
                                            "report": report.short_id,
                                            "rssi_dbm": packet.rssi_dbm})
        await self.publish.send(report)

    async def expire_held(self) -> None:
        """Expire held beacons on time, not only when the next event comes."""
        while True:
            if not self.held:
                await self.held_changed.wait()
                self.held_changed = trio.Event()
                continue
            await _sleep_until(self.clock_ms,
                               self.held[0].heard_ms + self.params.challenge_window_ms + 1)
            self.expire()


async def run_witness_listener(identity: HotspotIdentity, params: NetworkParams, *,
                               radio: Radio, challenges: trio.MemoryReceiveChannel[Message],
                               publish: Publish, clock_ms: ClockMs, metrics: PocMetrics,
                               max_held: int = DEFAULT_MAX_HELD_BEACONS,
                               task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                               ) -> None:
    """Listen on the beacon channel and witness every beacon heard, until cancelled.

    Started with ``nursery.start``: it returns once the radio listens on the beacon
    channel, so a beaconer started after it puts the radio back there.
    """
    if max_held < 1:
        raise PocError(f"max_held must be at least 1; got {max_held}")
    state = _Witness(identity, params, publish, clock_ms, metrics, max_held)
    async with radio.packets() as packets, trio.open_nursery() as nursery:
        await radio.configure(beacon_radio_config(params, identity))
        nursery.start_soon(state.expire_held)

        async def take_challenges() -> None:
            async for challenge in challenges:
                if isinstance(challenge, Challenge):
                    await state.on_challenge(challenge)

        nursery.start_soon(take_challenges)
        task_status.started()
        async for packet in packets:
            await state.on_packet(packet)

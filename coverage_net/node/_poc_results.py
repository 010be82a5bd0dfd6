"""What a proof-of-coverage scenario is and what it measured: `PocScenario`, `ScenarioResult`.

Plain data, apart from the simulation in `_poc_sim`: the attack names, the knobs
of a run, each epoch's inputs to the verifier, and the figures the issue asks for
(honest acceptance, forged reports caught, attacking hotspots caught within a day).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from coverage_net.messages import BeaconReport, Challenge, WitnessReport
from coverage_net.poc import NetworkParams, Registry, Verdict

__all__ = ["ATTACKS", "EARLY_STAMP_MS", "EpochInput", "PocScenario", "ScenarioResult",
           "TransportFigures"]

ATTACKS = ("spoof_5km", "invent_rssi", "relay_30km", "replay", "self_witness", "ring",
           "rebroadcast", "early_stamp")
"""The attacks a scenario can place (see `PocScenario.attackers` and the README).

``replay`` puts beacons of the previous epoch on the air again (model-aware: and
files its own witness of them back-dated, with a plausible RSSI); ``rebroadcast``
puts each beacon it hears on the air again at once (a wormhole the honest hotspots
around it then witness; same in both forms); ``early_stamp`` colluders, the hotspots
nearest to one honest victim, witness what they hear honestly, except the victim's
beacons, whose reports they stamp `EARLY_STAMP_MS` early, host and radio clock alike
(same in both forms): a victim's clock moved late makes its honest witnesses look
late, and the rewarded places of its beacons go to the colluders."""
EARLY_STAMP_MS = 1_000
"""How early ``early_stamp`` colluders stamp their reports of the victim's beacons."""


def _realistic_impairments() -> dict[str, object]:
    from radio_sim import REALISTIC_IMPAIRMENTS  # layer 5 picks the sim, when it runs one
    return dict(REALISTIC_IMPAIRMENTS)


@dataclass(frozen=True)
class PocScenario:
    """One run: the world, the impairments of the air, the attackers, the length.

    ``attackers`` maps an attack name from `ATTACKS` to how many hotspots mount it;
    ``model_aware`` picks the attack form. ``impairments`` are radio_sim's
    (fading, errors, clock offsets); ``shadowing_sigma_db`` is the persistent
    per-link shadowing of the air; ``clutter_sigma_db`` > 0 adds radio_sim's hidden
    `ClutterField` (extra loss per H3 res-6 area, at both ends of every link), which
    the verifier's model does not know: what model calibration has to find.
    """

    dem_dir: str
    hotspots: int = 200
    beacons: int = 1_000
    seed: int = 1
    attackers: Mapping[str, int] = field(default_factory=dict)
    model_aware: bool = False
    shadowing_sigma_db: float = 4.0  # radio_sim.REALISTIC_SHADOWING_DB (checked by a test)
    clutter_sigma_db: float = 0.0
    impairments: Mapping[str, object] = field(default_factory=lambda: _realistic_impairments())
    verifier: Mapping[str, int] = field(default_factory=dict)
    num_threads: int = 1
    propagation: str = "terrain"
    """The path-loss model of both the air and the verifier (a `MODEL_NAMES` name); the
    air adds shadowing and the impairments on top, so the two still differ."""
    keep_inputs: bool = False


@dataclass(frozen=True)
class TransportFigures:
    """How the scenario's messages travelled to the verifying validator."""

    transport: str
    published: int
    """Challenges, beacon and witness reports put on the network."""
    delivered: int
    """Of those, decoded by the verifying validator before its last verification (a
    late one is judged with the epoch in whose window it arrived)."""
    lost: int
    """Published but never judged (``published - delivered``)."""
    undecodable: int
    """Payloads that reached the verifier and failed `coverage_net.messages.decode`."""
    virtual_s: float
    """Virtual time simulated, from epoch 0's start to the last verification."""
    link_transmissions: int = 0
    """Hop-by-hop gossip transmissions that arrived (the in-memory network's count)."""
    link_losses: int = 0
    """Hop-by-hop transmissions the links lost."""


@dataclass(frozen=True)
class EpochInput:
    """One epoch's reports as the verifier received them."""

    epoch: int
    entropy: bytes
    challenges: tuple[Challenge, ...]
    beacon_reports: tuple[BeaconReport, ...]
    witness_reports: tuple[WitnessReport, ...]


@dataclass
class ScenarioResult:
    """Verdicts of every report, who was who, and the figures the issue asks for."""

    verdicts: list[Verdict]
    role_of: dict[bytes, str]
    """Hotspot key -> "honest" or an attack name."""
    beacons: int
    epochs: int
    flagged_at_epoch: dict[bytes, int]
    in_range_honest: dict[bytes, int]
    """Attacker key -> honest hotspots within the model's range of its assertion."""
    epoch_inputs: list[EpochInput] = field(default_factory=list)
    """What the verifier was given, epoch by epoch (kept when `PocScenario.keep_inputs`)."""
    registry: Registry | None = None
    params: NetworkParams | None = None
    fraud: Mapping[bytes, bytes] = field(default_factory=dict)
    """Content id of every forged report (not the attackers' honest ones, but the honest
    witnesses of a replayed beacon) -> the key of the attacker behind it."""
    epochs_per_day: int = 48
    transport: TransportFigures | None = None
    clock_offset_ms: Mapping[bytes, int] = field(default_factory=dict)
    """Hotspot key -> the simulator's true offset of its host clock (ms): the truth a
    clock solve is measured against (`bench/arrival_solve.py`); no verifier sees it."""

    def _honest_witnesses(self) -> list[Verdict]:
        """Witness reports by honest hotspots of beacons by honest hotspots (not forged).

        Over the reports that reached the verifier: a witness whose beacon report was
        lost on the way has no beaconer here and is not counted."""
        beaconer = {v.challenge_id: v.hotspot_key for v in self.verdicts
                    if v.report_type == BeaconReport.TYPE}
        return [v for v in self.verdicts if v.report_type == WitnessReport.TYPE
                and v.report_id not in self.fraud
                and self.role_of.get(v.hotspot_key) == "honest"
                and self.role_of.get(beaconer.get(v.challenge_id, b"")) == "honest"]

    def honest_witness_acceptance(self) -> float:
        """Share of honest witnesses of honest beacons judged valid."""
        honest = self._honest_witnesses()
        return sum(v.valid for v in honest) / max(len(honest), 1)

    def honest_witness_reasons(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for v in self._honest_witnesses():
            counts[str(v.reason)] += 1
        return dict(counts)

    def attack_reports(self, attack: str) -> list[Verdict]:
        """The forged reports of the hotspots mounting `attack`."""
        return [v for v in self.verdicts if v.report_id in self.fraud
                and self.role_of.get(self.fraud[v.report_id]) == attack]

    def report_catch_rate(self, attack: str) -> float:
        """Share of the attack's forged reports judged invalid."""
        mine = self.attack_reports(attack)
        return sum(not v.valid for v in mine) / max(len(mine), 1)

    def caught_hotspots(self, attack: str) -> dict[bytes, bool]:
        """Per attacking hotspot that forged something: caught within its first day?

        Caught: flagged by the neighbour check within one simulated day of its first
        forged report, or at least 95 % of its forged reports of that day judged invalid.
        """
        first: dict[bytes, int] = {}
        mine = self.attack_reports(attack)
        for v in mine:
            key = self.fraud[v.report_id]
            first[key] = min(first.get(key, v.epoch), v.epoch)
        out = {}
        for key, e0 in first.items():
            day = [v for v in mine
                   if self.fraud[v.report_id] == key and v.epoch < e0 + self.epochs_per_day]
            flagged = self.flagged_at_epoch.get(key)
            out[key] = ((flagged is not None and flagged < e0 + self.epochs_per_day)
                        or sum(not v.valid for v in day) >= 0.95 * len(day))
        return out

    def hotspot_catch_rate(self, attack: str) -> float:
        caught = self.caught_hotspots(attack)
        return sum(caught.values()) / max(len(caught), 1)

    def honest_flagged_rate(self) -> float:
        honest = [k for k, r in self.role_of.items() if r == "honest"]
        return sum(k in self.flagged_at_epoch for k in honest) / max(len(honest), 1)

"""The verifying validator of a scenario, epoch after epoch: `EpochJudge`.

Called once per epoch with what reached it (straight from the simulated hotspots
or out of its gossip inbox), so the direct and the gossiped scenario share every
step after delivery: the link history carried between epochs, the verdicts, and
the epoch at which each hotspot was first flagged.
"""

from __future__ import annotations

from collections.abc import Callable

from coverage_net.poc import (
    LinkHistory,
    NetworkParams,
    PathPredictor,
    Registry,
    Verdict,
    verify_epoch,
)

from ._poc_results import EpochInput

__all__ = ["EpochJudge"]


class EpochJudge:
    """`verify_epoch` over successive epochs, keeping what the scenario reports."""

    def __init__(self, registry: Registry, params: NetworkParams, predictor: PathPredictor, *,
                 keep_inputs: bool = False, after_each: Callable[[], None] | None = None) -> None:
        self.registry = registry
        self.params = params
        self.predictor = predictor
        self.keep_inputs = keep_inputs
        self.after_each = after_each
        self.history = LinkHistory()
        self.verdicts: list[Verdict] = []
        self.flagged: dict[bytes, int] = {}
        """Hotspot key -> the first epoch a hotspot check (neighbours, reciprocity, unanswered
        challenges, model fit) flagged it."""
        self.inputs: list[EpochInput] = []
        self.epochs = 0

    def __call__(self, inp: EpochInput) -> None:
        if self.keep_inputs:
            self.inputs.append(inp)
        result = verify_epoch(inp.epoch, challenges=inp.challenges,
                              beacon_reports=inp.beacon_reports,
                              witness_reports=inp.witness_reports, registry=self.registry,
                              params=self.params, predictor=self.predictor, entropy=inp.entropy,
                              history=self.history)
        self.history = result.history
        self.verdicts.extend(result.verdicts)
        for key in (*result.hotspots, *result.reciprocity, *result.unanswered, *result.model_fit,
                    *result.snr_spread):
            if key not in self.flagged and result.flagged(key):
                self.flagged[key] = inp.epoch
        self.epochs += 1
        if self.after_each:
            self.after_each()

"""``coverage-net poc explain``: why a report was judged valid or not, with its numbers.

The verdict is read from the node's store exactly as the verifier stored it; figures
are integers in the unit their names say, and are turned into readable units here
only, in integer arithmetic (no float rounding on the way to the screen).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from coverage_net.messages import short_id
from coverage_net.poc import REASON_TEXT, Verdict
from coverage_net.store import MessageStore

# name suffix -> (unit shown, scale of the stored integer); checked in this order
_UNITS: tuple[tuple[str, str, int], ...] = (
    ("distance_m", "km", -3),
    ("_centi_dbm", "dBm", -2),
    ("_centi_db", "dB", -2),
    ("_centi_sigma", "sigma", -2),
    ("_centi", "", -2),  # hundredths of a count, e.g. expected anomalies
    ("_ms", "ms", 0),
    ("_hz", "Hz", 0),
    ("_m", "m", 0),
)
_WORDS = {"rssi": "RSSI", "snr": "SNR", "eirp": "EIRP", "freq": "frequency", "sf": "SF"}


@click.group()
def poc() -> None:
    """Proof-of-coverage: look into the verifier's verdicts."""


@poc.command("explain")
@click.argument("report_id")
@click.option("--data", "data_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Data directory of the node whose verdicts to read (as for `peer run`).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the verdict as one JSON object (figures as their raw integers).")
def explain(report_id: str, data_dir: Path, as_json: bool) -> None:
    """Explain the verdict on REPORT_ID (its hex content id, or a unique prefix of it,
    at least 8 hex digits): valid or not, the reason, and the figures behind it.

    \b
      coverage-net poc explain 3f2a9c01 --data node-a
    """
    # Imported here: coverage_net.node brings in py-libp2p, slow to import.
    from coverage_net.node import load_verdict

    with MessageStore.open(data_dir, create=False) as store:
        verdict = load_verdict(store, report_id)
    if as_json:
        click.echo(json.dumps(verdict_json(verdict), indent=1))
    else:
        click.echo("\n".join(explain_lines(verdict)))


def verdict_json(verdict: Verdict) -> dict[str, object]:
    """The verdict as JSON-ready data: ids and keys in full hex, figures raw integers."""
    return {
        "report_id": verdict.report_id.hex(), "report_type": verdict.report_type,
        "challenge_id": verdict.challenge_id.hex(), "epoch": verdict.epoch,
        "hotspot_key": verdict.hotspot_key.hex(), "valid": verdict.valid,
        "reason": str(verdict.reason), "reason_text": REASON_TEXT[verdict.reason],
        "rewarded": verdict.rewarded, "figures": dict(verdict.figures),
        "neighbours_heard": [key.hex() for key in verdict.neighbours_heard],
        "neighbours_silent": [key.hex() for key in verdict.neighbours_silent],
    }


def explain_lines(verdict: Verdict) -> list[str]:
    """What an operator reads: the decision, its reason, the figures, the neighbours."""
    kind = verdict.report_type.replace("_", " ")
    decision = "VALID" if verdict.valid else "INVALID"
    lines = [
        f"{kind} {verdict.report_id.hex()}",
        f"  hotspot     {short_id(verdict.hotspot_key)}",
        f"  challenge   {verdict.challenge_id.hex()}",
        f"  epoch       {verdict.epoch}",
        f"  verdict     {decision}: {verdict.reason} ({REASON_TEXT[verdict.reason]})",
        f"  rewarded    {'yes' if verdict.rewarded else 'no'}",
    ]
    figures = [figure_text(name, value) for name, value in verdict.figures]
    if figures:
        label_width = max(len(label) for label, _, _ in figures)
        value_width = max(len(number) for _, number, _ in figures)
        lines.append("  figures")
        lines.extend(f"    {label:<{label_width}}  {number:>{value_width}} {unit}".rstrip()
                     for label, number, unit in figures)
    lines.append(f"  neighbours that heard it: {_keys(verdict.neighbours_heard)}")
    lines.append(f"  likely neighbours that stayed silent: {_keys(verdict.neighbours_silent)}")
    return lines


def figure_text(name: str, value: int) -> tuple[str, str, str]:
    """(label, number, unit) of a figure: ``measured_rssi_centi_dbm, -9700`` ->
    ``("measured RSSI", "-97.00", "dBm")``; an unknown unit is shown as the raw integer."""
    for suffix, unit, scale in _UNITS:
        if name.endswith(suffix):
            stem = name[:-len(suffix)] if suffix.startswith("_") else name[:-len("_m")]
            return _label(stem), _scaled(value, scale), unit
    return _label(name), str(value), ""


def _scaled(value: int, scale: int) -> str:
    """``value * 10**scale`` with two decimals, rounded half away from zero, in integers
    (exact for any size): -9700, -2 -> "-97.00"; 12345 m, -3 -> "12.35" km."""
    if scale == 0:
        return str(value)
    divisor = 10 ** (-scale - 2)  # stored units per hundredth shown
    hundredths = (2 * abs(value) + divisor) // (2 * divisor)
    whole, fraction = divmod(hundredths, 100)
    sign = "-" if value < 0 and hundredths else ""
    return f"{sign}{whole}.{fraction:02d}"


def _label(stem: str) -> str:
    return " ".join(_WORDS.get(word, word) for word in stem.split("_") if word)


def _keys(keys: tuple[bytes, ...]) -> str:
    return " ".join(short_id(key) for key in keys) if keys else "none"

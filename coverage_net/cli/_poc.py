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
from coverage_net.poc import REASON_TEXT, PocError, Verdict
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


def _attack_option(ctx: click.Context, param: click.Parameter,
                   values: tuple[str, ...]) -> dict[str, int]:
    from coverage_net.node import ATTACKS
    attackers: dict[str, int] = {}
    for value in values:
        name, _, count = value.partition("=")
        if name not in ATTACKS:
            raise PocError(f"--attack {value}: {name!r} is not an attack; choose from "
                           f"{', '.join(ATTACKS)}")
        try:
            attackers[name] = int(count or "3")
        except ValueError:
            raise PocError(f"--attack {value}: the count after '=' must be an integer") \
                from None
        if attackers[name] < 1:
            raise PocError(f"--attack {value}: the count must be at least 1")
    return attackers


def _verifier_option(ctx: click.Context, param: click.Parameter,
                     values: tuple[str, ...]) -> dict[str, int]:
    from coverage_net.poc import ParamsError, params_from_dict
    overrides: dict[str, int] = {}
    for value in values:
        name, _, number = value.partition("=")
        try:
            overrides[name] = int(number)
        except ValueError:  # no "=" too: int("") fails
            raise PocError(f"--verifier {value}: expected NAME=INTEGER, a verifier threshold "
                           f"of the network parameters and its value") from None
    try:
        params_from_dict({"verifier": overrides})
    except ParamsError as exc:
        raise PocError(f"--verifier: {exc}") from None
    return overrides


@poc.command("simulate")
@click.option("--dem", "dem_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory holding the NASADEM tile N44W072.hgt (the White Mountains): "
                   "hotspots are placed on it and the air runs over its terrain.")
@click.option("--hotspots", type=click.IntRange(10, 5_000), default=200, show_default=True,
              help="Hotspots placed on the tile.")
@click.option("--beacons", type=click.IntRange(1, 1_000_000), default=1_000, show_default=True,
              help="Stop after this many beacons (each hotspot beacons about 4 times a day).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=1, show_default=True,
              help="Seeds the world, the air and the attackers: same seed, same verdicts.")
@click.option("--attack", "attackers", multiple=True, callback=_attack_option,
              metavar="NAME[=COUNT]",
              help="Place COUNT (default 3) hotspots mounting attack NAME: spoof_5km, "
                   "invent_rssi, relay_30km, replay, self_witness, ring, rebroadcast, "
                   "early_stamp. Repeat "
                   "for several.")
@click.option("--model-aware", is_flag=True,
              help="Attackers make their numbers plausible with the verifier's own model.")
@click.option("--clutter-sigma-db", type=click.FloatRange(0.0, 20.0), default=0.0,
              show_default=True,
              help="Add a hidden clutter field to the air (extra loss per H3 res-6 area, "
                   "this sigma) that the verifier's model does not know: what "
                   "`map calibrate` finds.")
@click.option("--verifier", "verifier", multiple=True, callback=_verifier_option,
              metavar="NAME=INTEGER",
              help="Override one verifier threshold of the network parameters (the names "
                   "of examples/network_params.toml's [verifier] table), for example "
                   "hotspot_window_epochs=192 to judge hotspots over 4 days. Repeat for "
                   "several.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Store every verdict in this node data directory, for `poc explain`.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def simulate(dem_dir: Path, hotspots: int, beacons: int, seed: int,
             attackers: dict[str, int], model_aware: bool, clutter_sigma_db: float,
             verifier: dict[str, int], data_dir: Path | None, quiet: bool) -> None:
    """Run a proof-of-coverage network in one process and judge every report.

    Hotspots on the real terrain, the simulator's air (shadowing, fading,
    measurement and antenna-gain errors, clock offsets), real signed messages and
    the real verifier; prints how many honest witnesses were accepted and how
    many forged reports and attacking hotspots were caught.

    \b
      coverage-net poc simulate --dem ../shared/data --attack spoof_5km --attack ring \\
          --data out/poc
      coverage-net poc explain <id printed above> --data out/poc
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from coverage_net.node import (
        PocScenario,
        run_poc_scenario,
        save_announcements,
        save_verdicts,
        wall_clock_ms,
    )

    from ._rewards import PARAMS_IN_DATA_DIR

    if not (dem_dir / "N44W072.hgt").exists() and not (dem_dir / "N44W072.hgt.zip").exists():
        raise PocError(f"--dem {dem_dir} has no N44W072.hgt: the scenario runs on that tile "
                       "(44-45 N, 72-71 W)")
    console = Console(stderr=True, quiet=quiet, soft_wrap=True)
    with Progress("beacons", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=quiet or not console.is_terminal) as progress:
        task = progress.add_task("poc", total=beacons)
        result = run_poc_scenario(
            PocScenario(dem_dir=str(dem_dir), hotspots=hotspots, beacons=beacons, seed=seed,
                        attackers=attackers, model_aware=model_aware,
                        clutter_sigma_db=clutter_sigma_db, verifier=verifier),
            progress=lambda done, total: progress.update(task, completed=done))
    honest = result.honest_witness_reasons()
    click.echo(f"{result.beacons} beacons over {result.epochs} epochs, "
               f"{len(result.verdicts)} reports judged")
    click.echo(f"honest witnesses of honest beacons: {sum(honest.values())}, accepted "
               f"{100 * result.honest_witness_acceptance():.2f} %; honest hotspots flagged "
               f"{100 * result.honest_flagged_rate():.2f} %")
    for name, count in sorted(honest.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {name:<24}{count:>8}")
    for attack in attackers:
        forged = result.attack_reports(attack)
        caught = result.caught_hotspots(attack)
        ever = sum(k in result.flagged_at_epoch for k, role in result.role_of.items()
                   if role == attack)
        click.echo(f"{attack} ({'model-aware' if model_aware else 'naive'}): "
                   f"{len(forged)} forged reports, {100 * result.report_catch_rate(attack):.1f} %"
                   f" caught; attacking hotspots caught within a day: "
                   f"{sum(caught.values())}/{len(caught)}; flagged during the run: "
                   f"{ever}/{sum(role == attack for role in result.role_of.values())}")
    if data_dir is not None:
        with MessageStore.open(data_dir) as store:
            saved = save_verdicts(store, result.verdicts)
            save_announcements(store, result.registry.announcements, received_ms=wall_clock_ms())
        (data_dir / PARAMS_IN_DATA_DIR).write_text(json.dumps(result.params.to_dict(), indent=1))
        click.echo(f"stored {saved} verdicts, {len(result.registry)} announcements and the "
                   f"network parameters in {data_dir}; rewards: coverage-net rewards compute "
                   f"--data {data_dir} --epochs 0..{result.epochs - 1}")
        click.echo("to explain a verdict, for example:")
        shown: set[str] = set()
        for v in result.verdicts:
            if v.report_type == "witness_report" and str(v.reason) not in shown:
                shown.add(str(v.reason))
                click.echo(f"  coverage-net poc explain {v.report_id.hex()[:16]} "
                           f"--data {data_dir}    # {v.reason}")

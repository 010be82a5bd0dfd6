"""``coverage-net map calibrate``: fit the propagation model's corrections to the witnesses."""

from __future__ import annotations

from pathlib import Path

import click
import h3
from rich.console import Console
from rich.table import Table

from coverage_net.coverage import (
    CalibrationError,
    CalibrationReport,
    ResidualFigures,
    calibration_report,
    fit_calibration,
    holdout_mask,
    save_calibration,
)
from coverage_net.store import DEFAULT_FILENAME as STORE_FILENAME
from coverage_net.store import MessageStore


def _epochs(ctx: click.Context, param: click.Parameter, value: str | None
            ) -> tuple[int, int] | None:
    from ._map import _epochs as parse  # the map group's A..B parser (_map imports us)
    return parse(ctx, param, value)


def _db(centi: int) -> str:
    return f"{centi / 100:+.2f}"


def _row(name: str, f: ResidualFigures) -> list[str]:
    return [name, str(f.samples),
            f"{_db(f.bias_before_centi_db)} -> {_db(f.bias_after_centi_db)}",
            f"{f.rms_before_centi_db / 100:.2f} -> {f.rms_after_centi_db / 100:.2f}",
            f"{100 * f.rms_reduction:.0f} %" if f.samples else "-"]


def report_tables(report: CalibrationReport) -> tuple[Table, Table]:
    """The overall and per-area before/after tables (measured minus modelled RSSI, dB)."""
    columns = ["bias dB", "RMS dB", "RMS removed"]
    overall = Table("witnesses", "samples", *columns,
                    title="measured - modelled RSSI (dB), before and after calibration")
    overall.add_row(*_row("training", report.training))
    overall.add_row(*_row("held out", report.held_out))
    cal = report.calibration
    title = (f"per area ({report.areas_judged_on} witnesses with an end there); global "
             f"offset {_db(cal.global_offset_centi_db)} dB; sigma "
             f"{cal.sigma_before_centi_db / 100:.2f} -> {cal.sigma_centi_db / 100:.2f} dB")
    areas = Table("res-6 area", "offset dB", "trained on", "judged on", *columns, title=title)
    for a in sorted(report.areas, key=lambda a: (-a.training_samples, a.area)):
        areas.add_row(h3.int_to_str(a.area), _db(a.offset_centi_db), str(a.training_samples),
                      *_row("", a.residuals)[1:])
    return overall, areas


@click.command("calibrate")
@click.option("--data", "data_dir", required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A node's data directory (a validator's: its store holds the verdicts "
                   "and announcements).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The calibration file to write (JSON).")
@click.option("--epochs", callback=_epochs, metavar="A..B",
              help="Only verdicts of epochs A to B (inclusive) [default: all].")
@click.option("--holdout-percent", type=click.IntRange(0, 90), default=20, show_default=True,
              help="Witnesses kept out of the fit to judge it (chosen by a hash of the report "
                   "id: the same split every run).")
@click.option("-q", "--quiet", is_flag=True, help="No tables.")
def calibrate(data_dir: Path, out_path: Path, epochs: tuple[int, int] | None,
              holdout_percent: int, quiet: bool) -> None:
    """Fit corrections of the propagation model to the valid witnesses a node stores.

    Each valid witness states what it measured and what the model predicted; the
    difference is charged to the H3 res-6 areas of both ends (a clutter offset per
    area, shrunk towards 0 where witnesses are few) plus a global offset, and what
    remains is the shadowing sigma. Prints the residual bias and RMS before and after,
    overall and per area; `map export --calibration FILE` predicts with the result.

    \b
      coverage-net map calibrate --data node-a --out calibration.json
      coverage-net map export --data node-a --format html --calibration calibration.json \\
          --dem ../shared/data --out map.html
    """
    from coverage_net.node import load_calibration_samples  # slow to import; only this

    if not (data_dir / STORE_FILENAME).is_file():
        raise CalibrationError(f"{data_dir}: no {STORE_FILENAME}; give a node's data directory")
    with MessageStore.open(data_dir) as store:
        samples = load_calibration_samples(store, epochs)
    held = holdout_mask(samples.report_ids, holdout_percent)
    training, held_out = samples.subset(~held), samples.subset(held)
    calibration = fit_calibration(training)
    report = calibration_report(calibration, training, held_out)
    path = save_calibration(calibration, out_path)
    console = Console(quiet=quiet)
    if not console.is_terminal:
        console.width = max(console.width, 110)  # whole tables in files and pipes
    for table in report_tables(report):
        console.print(table)
    console.print(f"{len(calibration.areas)} areas from {len(training)} training witnesses "
                  f"({len(held_out)} held out); wrote {path}")

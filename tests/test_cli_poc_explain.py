"""`coverage-net poc explain`: the installed command, run in a real process, reads verdicts
from a real store and prints the numbers an operator needs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coverage_net.cli._poc import figure_text
from coverage_net.node import save_verdicts
from coverage_net.poc import REASON_TEXT, Reason, Verdict
from coverage_net.store import MessageStore

CLI = Path(sys.executable).with_name("coverage-net")
SAFETY_S = 60  # liveness bound for one process, not a performance assertion

WITNESS = bytes.fromhex("5eed" * 16)
HEARD = [hashlib.sha256(b"heard-%d" % n).digest() for n in range(2)]
SILENT = [hashlib.sha256(b"silent-%d" % n).digest() for n in range(3)]
CHALLENGE = hashlib.sha256(b"challenge").digest()


def witness(name: str, reason: Reason, *, rewarded: bool = False,
            figures: dict[str, int], silent: tuple[bytes, ...] = ()) -> Verdict:
    return Verdict(
        report_id=hashlib.sha256(name.encode()).digest(), report_type="witness_report",
        challenge_id=CHALLENGE, epoch=412, hotspot_key=WITNESS, valid=reason is Reason.VALID,
        reason=reason, rewarded=rewarded, figures=tuple(sorted(figures.items())),
        neighbours_heard=tuple(sorted(HEARD)), neighbours_silent=silent)


VERDICTS = {
    # the figures poc.verify gives a witness judged by the physics
    "valid": witness("valid", Reason.VALID, rewarded=True, figures={
        "measured_rssi_centi_dbm": -9_700, "modelled_rssi_centi_dbm": -10_045,
        "free_space_rssi_centi_dbm": -7_012, "deviation_centi_sigma": 57,
        "margin_centi_sigma": 345, "distance_m": 12_345, "lag_ms": 180,
        "snr_centi_db": -725, "expected_snr_centi_db": -690, "freq_offset_hz": -1_200,
        "sensitivity_centi_dbm": -13_250, "neighbours_likely": 4, "neighbours_likely_heard": 2,
        "hotspot_expected_anomalies_centi": 125}),
    "too_strong": witness("too_strong", Reason.RSSI_TOO_STRONG, figures={
        "measured_rssi_centi_dbm": -6_210, "modelled_rssi_centi_dbm": -11_830,
        "margin_centi_sigma": 704, "distance_m": 31_004, "lag_ms": 95}),
    "too_weak": witness("too_weak", Reason.RSSI_TOO_WEAK, figures={
        "measured_rssi_centi_dbm": -13_405, "modelled_rssi_centi_dbm": -9_150,
        "margin_centi_sigma": -532, "distance_m": 2_995, "lag_ms": 40}),
    "neighbours": witness("neighbours", Reason.NEIGHBOUR_INCONSISTENT, figures={
        "measured_rssi_centi_dbm": -11_000, "modelled_rssi_centi_dbm": -11_260,
        "margin_centi_sigma": 87, "distance_m": 45_500, "lag_ms": 310},
        silent=tuple(sorted(SILENT))),
    "late": witness("late", Reason.ARRIVAL_LATE, figures={
        "arrival_excess_ms": 331, "lag_ms": 812, "measured_rssi_centi_dbm": -8_900,
        "modelled_rssi_centi_dbm": -14_410, "margin_centi_sigma": -618,
        "distance_m": 38_250}),
}

# the numbers each verdict must show, as an operator reads them
EXPECTED = {
    "valid": ["measured RSSI", "-97.00 dBm", "modelled RSSI", "-100.45 dBm", "3.45 sigma",
              "12.35 km", "180 ms", "-7.25 dB", "frequency offset", "-1200 Hz"],
    "too_strong": ["-62.10 dBm", "-118.30 dBm", "7.04 sigma", "31.00 km", "95 ms"],
    "too_weak": ["-134.05 dBm", "-91.50 dBm", "-5.32 sigma", "3.00 km", "40 ms"],
    "neighbours": ["-110.00 dBm", "-112.60 dBm", "0.87 sigma", "45.50 km", "310 ms"],
    # a rebroadcast: later than the two hosts' clocks allow, too strong for the path
    "late": ["arrival excess", "331 ms", "812 ms", "-89.00 dBm", "-144.10 dBm",
             "-6.18 sigma", "38.25 km"],
}


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("measured_rssi_centi_dbm", -9_700, ("measured RSSI", "-97.00", "dBm")),
    ("snr_centi_db", 5, ("SNR", "0.05", "dB")),
    ("margin_centi_sigma", -345, ("margin", "-3.45", "sigma")),
    ("distance_m", 12_345, ("distance", "12.35", "km")),
    ("distance_m", 12_344, ("distance", "12.34", "km")),
    ("distance_m", 4, ("distance", "0.00", "km")),
    ("beacon_distance_m", 2**64, ("beacon distance", "18446744073709551.62", "km")),
    ("lag_ms", -15, ("lag", "-15", "ms")),
    ("freq_hz", 904_600_000, ("frequency", "904600000", "Hz")),
    ("antenna_height_m", 12, ("antenna height", "12", "m")),
    ("witness_count", 3, ("witness count", "3", "")),
    ("hotspot_expected_anomalies_centi", 125, ("hotspot expected anomalies", "1.25", "")),
])
def test_figures_are_shown_in_readable_units(name, value, shown):
    assert figure_text(name, value) == shown


@given(value=st.integers(min_value=-(2**70), max_value=2**70))
def test_scaled_figures_round_half_away_from_zero_exactly(value):
    for suffix, scale in [("x_centi_dbm", Decimal("0.01")), ("distance_m", Decimal("0.001"))]:
        _, number, _ = figure_text(suffix, value)
        exact = (Decimal(value) * scale).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP,
                                                  context=Context(prec=100))
        assert Decimal(number) == exact


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True,
                          timeout=SAFETY_S, check=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("node")
    with MessageStore.open(path) as store:
        save_verdicts(store, VERDICTS.values())
    return path


def test_a_valid_witness_is_explained_line_by_line(data_dir):
    v = VERDICTS["valid"]
    proc = _run("poc", "explain", v.report_id.hex(), "--data", data_dir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"witness report {v.report_id.hex()}",
        f"  hotspot     {WITNESS.hex()[:12]}",
        f"  challenge   {CHALLENGE.hex()}",
        "  epoch       412",
        "  verdict     VALID: valid (every check passed)",
        "  rewarded    yes",
        "  figures",
        "    deviation                      0.57 sigma",
        "    distance                      12.35 km",
        "    expected SNR                  -6.90 dB",
        "    free space RSSI              -70.12 dBm",
        "    frequency offset              -1200 Hz",
        "    hotspot expected anomalies     1.25",
        "    lag                             180 ms",
        "    margin                         3.45 sigma",
        "    measured RSSI                -97.00 dBm",
        "    modelled RSSI               -100.45 dBm",
        "    neighbours likely                 4",
        "    neighbours likely heard           2",
        "    sensitivity                 -132.50 dBm",
        "    SNR                           -7.25 dB",
        f"  neighbours that heard it: {' '.join(k.hex()[:12] for k in sorted(HEARD))}",
        "  likely neighbours that stayed silent: none",
    ]


@pytest.mark.parametrize("name", ["too_strong", "too_weak", "neighbours", "late"])
def test_invalid_witnesses_show_the_reason_and_the_numbers(data_dir, name):
    v = VERDICTS[name]
    proc = _run("poc", "explain", v.report_id.hex()[:10], "--data", data_dir)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"INVALID: {v.reason} ({REASON_TEXT[v.reason]})" in out
    assert "rewarded    no" in out
    for text in EXPECTED[name]:
        assert text in out, (text, out)
    silent = " ".join(k.hex()[:12] for k in v.neighbours_silent) or "none"
    assert f"likely neighbours that stayed silent: {silent}" in out


def test_json_has_every_field_with_raw_figures(data_dir):
    v = VERDICTS["neighbours"]
    proc = _run("poc", "explain", v.report_id.hex()[:8].upper(), "--data", data_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "report_id": v.report_id.hex(), "report_type": "witness_report",
        "challenge_id": CHALLENGE.hex(), "epoch": 412, "hotspot_key": WITNESS.hex(),
        "valid": False, "reason": "neighbour_inconsistent",
        "reason_text": REASON_TEXT[Reason.NEIGHBOUR_INCONSISTENT], "rewarded": False,
        "figures": dict(v.figures),
        "neighbours_heard": [k.hex() for k in sorted(HEARD)],
        "neighbours_silent": [k.hex() for k in sorted(SILENT)],
    }


def _assert_one_error_line(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def test_an_unknown_report_is_one_error_line(data_dir):
    proc = _run("poc", "explain", "00000000ab", "--data", data_dir)
    _assert_one_error_line(proc, "no verdict for report 00000000ab", str(data_dir))


def test_a_malformed_id_is_one_error_line(data_dir):
    proc = _run("poc", "explain", "xyz", "--data", data_dir)
    _assert_one_error_line(proc, "'xyz'", "8 to 64 hexadecimal characters")


def test_a_directory_without_a_store_is_one_error_line_and_stays_empty(tmp_path):
    proc = _run("poc", "explain", "0123456789", "--data", tmp_path / "elsewhere")
    _assert_one_error_line(proc, "there is no message store", "elsewhere")
    assert not (tmp_path / "elsewhere").exists()

"""`coverage-net config`: samples that load, checks that show origins, and no tracebacks.

The hypothesis test mutates each sample the ways an operator gets a file wrong (a
required key deleted, a value of the wrong type, a key or section that does not
exist, text that is not TOML at all) and runs `config check` through click's
runner: always exit status 1 and exactly one ``error:`` line naming the key or the
TOML line. Two cases run the installed console script in a real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_net.cli._main import main
from coverage_net.config import KINDS, HostPort, resolve_config, sample_config

CLI = Path(sys.executable).with_name("coverage-net")


def _invoke(*args: object, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.mark.parametrize("kind", KINDS)
def test_the_printed_sample_checks_clean(tmp_path, kind):
    printed = _invoke("config", "sample", kind)
    assert printed.exit_code == 0, printed.output
    assert printed.stdout == sample_config(kind)
    path = tmp_path / f"{kind}.toml"
    path.write_text(printed.stdout, encoding="utf-8")
    checked = _invoke("config", "check", path)  # the kind comes from the file's name
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.splitlines()[0] == f"{path}: ok ({kind})"
    assert "# default" in checked.stdout and "# file" in checked.stdout


def test_check_shows_where_each_value_came_from(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(sample_config("hotspot"), encoding="utf-8")
    result = _invoke("config", "check", path, "--kind", "hotspot",
                     env={"COVERAGE_NET_RADIO_PORT": "/dev/pts/3"})
    assert result.exit_code == 0, result.output
    lines = {line.split("=")[0].strip(): line for line in result.stdout.splitlines()[1:]}
    assert lines["radio.port"].endswith('= "/dev/pts/3"  # env COVERAGE_NET_RADIO_PORT')
    assert lines["location.lat"].endswith("= 44.2706  # file")
    assert lines["radio.baudrate"].endswith("= 115200  # default")
    as_json = json.loads(_invoke("config", "check", path, "--kind", "hotspot", "--json",
                                 env={"COVERAGE_NET_METRICS_LISTEN": ""}).stdout)
    assert as_json["settings"]["metrics.listen"] == {"value": None,
                                                     "source": "env COVERAGE_NET_METRICS_LISTEN"}
    assert as_json["settings"]["data.dir"]["value"] == str(tmp_path / "data")


def test_check_needs_a_kind_when_the_name_does_not_say(tmp_path):
    path = tmp_path / "edge.toml"
    path.write_text(sample_config("router"), encoding="utf-8")
    result = _invoke("config", "check", path)
    assert result.exit_code == 1
    assert "give --kind (hotspot, validator, router)" in _one_error_line(result.stderr)


def test_sample_out_writes_a_new_file_and_never_overwrites(tmp_path):
    out = tmp_path / "validator.toml"
    assert _invoke("config", "sample", "validator", "--out", out).exit_code == 0
    assert out.read_text(encoding="utf-8") == sample_config("validator")
    again = _invoke("config", "sample", "validator", "--out", out)
    assert again.exit_code == 1
    assert f"error: {out}: File exists" == _one_error_line(again.stderr)


# --- a bad file, however it is bad: one error line naming the key -------------------------

def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"


def _toml(data: dict) -> str:
    """TOML for what tomllib read (top-level keys, then one table per section)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, table in data.items():
        if isinstance(table, dict):
            lines += [f"[{section}]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def _wrong_values(good: object) -> list[object]:
    """Values of a type a setting holding `good` refuses."""
    table, words = {"x": 1}, ["a", "b"]
    if isinstance(good, float):  # an integer is a fine number
        return ["44.5", True, [1.5], table]
    if isinstance(good, bool):
        return ["yes", 1, words, table]
    if isinstance(good, int):
        return ["fast", 2.5, True, [1], table]
    if isinstance(good, tuple) and not isinstance(good, HostPort):
        return ["/ip4/127.0.0.1/tcp/0", 7, [1, 2], table]
    return [7, 2.5, False, words, table]  # strings, paths, addresses, choices


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, tuple[dict, dict[str, object]]]:
    """Per kind: the sample as tomllib reads it, and every setting's resolved value."""
    folder = tmp_path_factory.mktemp("samples")
    out = {}
    for kind in KINDS:
        path = folder / f"{kind}.toml"
        path.write_text(sample_config(kind), encoding="utf-8")
        values = {s.name: s.value for s in resolve_config(kind, path, env={}).settings}
        out[kind] = (tomllib.loads(path.read_text(encoding="utf-8")), values)
    return out


_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


@st.composite
def _bad_files(draw, samples) -> tuple[str, str, str]:
    """(kind, file text, what the error line must contain)."""
    kind = draw(st.sampled_from(KINDS))
    data, values = samples[kind]
    data = {section: dict(table) for section, table in data.items()}
    how = draw(st.sampled_from(["delete", "retype", "unknown key", "unknown section",
                                "not toml"]))
    if how == "delete":
        name = draw(st.sampled_from([f"{s}.{k}" for s, t in data.items() for k in t]))
        section, key = name.split(".")
        del data[section][key]
        return kind, _toml(data), f"{name} is required"
    if how == "retype":
        name = draw(st.sampled_from(sorted(values)))
        section, key = name.split(".")
        data[section][key] = draw(st.sampled_from(_wrong_values(values[name])))
        return kind, _toml(data), f"{name} "
    if how == "unknown key":
        section = draw(st.sampled_from(sorted(data)))
        key = draw(_NAMES.filter(lambda k: k not in data[section]))
        data[section][key] = draw(st.sampled_from(["x", 1, True, [1]]))
        return kind, _toml(data), f"{section}.{key} is not a {kind} setting"
    if how == "unknown section":
        section = draw(_NAMES.filter(lambda k: k not in data))
        data[section] = {"x": 1}
        return kind, _toml(data), f"[{section}] is not a {kind} section"
    text = draw(st.text(max_size=80).filter(_not_toml))
    return kind, text, "not valid TOML: "


def _not_toml(text: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return True
    return False


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_any_bad_file_is_one_error_line_naming_the_key(samples, tmp_path_factory, data):
    kind, text, expected = data.draw(_bad_files(samples))
    path = tmp_path_factory.getbasetemp() / "mutated.toml"
    path.write_text(text, encoding="utf-8")
    result = _invoke("config", "check", path, "--kind", kind)
    assert result.exit_code == 1, (text, result.output)
    line = _one_error_line(result.stderr)
    assert line.startswith(f"error: {path}: "), line
    assert expected in line, (text, line)
    if expected.startswith("not valid TOML"):
        assert "(at line " in line or "(at end of document)" in line, line


# --- the installed command in a real process ---------------------------------------------

def _run(*args: object, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True,
                          check=False, env={**os.environ, **env})


def test_the_installed_command_samples_checks_and_takes_overrides(tmp_path):
    path = tmp_path / "hotspot.toml"
    wrote = _run("config", "sample", "hotspot", "--out", path)
    assert wrote.returncode == 0, wrote.stderr
    checked = _run("config", "check", path, COVERAGE_NET_RADIO_DRIVER="rn2483")
    assert checked.returncode == 0, checked.stderr
    assert 'radio.driver              = "rn2483"  # env COVERAGE_NET_RADIO_DRIVER' \
        in checked.stdout
    assert "radio.baudrate            = 57600  # default" in checked.stdout


def test_the_installed_command_reports_a_bad_value_in_one_line(tmp_path):
    path = tmp_path / "hotspot.toml"
    path.write_text(sample_config("hotspot").replace("lat = 44.2706", 'lat = "north"'),
                    encoding="utf-8")
    result = _run("config", "check", path)
    assert result.returncode == 1
    assert _one_error_line(result.stderr) == (
        f'error: {path}: location.lat must be a number; got "north"')

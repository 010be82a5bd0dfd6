"""The daemons' configuration: samples load, overrides win, every mistake is one named line.

Real TOML files in a temporary directory, loaded the way a daemon loads them; the
environment is passed explicitly so the test's own environment cannot leak in.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage_net import config as cfg
from coverage_net.config import (
    KINDS,
    ConfigError,
    HostPort,
    HotspotConfig,
    RouterConfig,
    ValidatorConfig,
    env_var,
    load_config,
    resolve_config,
    sample_config,
)
from coverage_net.consensus import CoreConfig
from coverage_net.errors import CoverageNetError
from coverage_net.node import ValidatorPoc

HOTSPOT = """\
[location]
lat = 44.27
lon = -71.30

[radio]
port = "/dev/ttyACM0"

[chain]
params = "network-params.json"
"""


def _write(tmp_path: Path, text: str, name: str = "hotspot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _hotspot(tmp_path: Path, text: str = HOTSPOT, **env: str) -> HotspotConfig:
    loaded = load_config("hotspot", _write(tmp_path, text), env=env)
    assert isinstance(loaded, HotspotConfig)
    return loaded


def test_public_names_are_listed_and_the_error_is_a_coverage_net_error():
    pkg = importlib.import_module("coverage_net.config")
    public = {a for a in dir(pkg) if not a.startswith("_")
              and not isinstance(getattr(pkg, a), types.ModuleType)}
    assert public == set(pkg.__all__)
    assert issubclass(ConfigError, CoverageNetError)


@pytest.mark.parametrize(("kind", "cls"), [("hotspot", HotspotConfig),
                                           ("validator", ValidatorConfig),
                                           ("router", RouterConfig)])
def test_each_sample_loads_as_it_is_and_lists_every_setting(tmp_path, kind, cls):
    text = sample_config(kind)
    loaded = load_config(kind, _write(tmp_path, text, f"{kind}.toml"), env={})
    assert isinstance(loaded, cls)
    assert loaded.identity.key_file == tmp_path / f"{kind}.key"
    assert loaded.data.dir == tmp_path / "data"
    for setting in resolve_config(kind, tmp_path / f"{kind}.toml", env={}).settings:
        key = setting.name.rpartition(".")[2]
        assert env_var(*setting.name.split(".")) in text
        assert f"\n{key} = " in text or f"\n#{key} = " in text, setting.name


def test_defaults_are_the_documented_ones(tmp_path):
    loaded = _hotspot(tmp_path)
    assert loaded.network.listen == ("/ip4/127.0.0.1/tcp/0",)
    assert loaded.network.bootstrap == ()
    assert loaded.metrics.listen == HostPort("127.0.0.1", 0)
    assert loaded.location.antenna_height_m == 5.0
    assert loaded.radio.driver == "native" and loaded.radio.baudrate == 115200
    assert loaded.radio.region == "US915" and loaded.log.level == "info"
    validator = load_config("validator", _write(tmp_path, sample_config("validator"),
                                                "validator.toml"), env={})
    core = CoreConfig(n=1, me=0)
    assert validator.consensus.timeout_propose_ms == core.timeout_propose_ms
    assert validator.consensus.timeout_prevote_ms == core.timeout_prevote_ms
    assert validator.consensus.timeout_precommit_ms == core.timeout_precommit_ms
    assert validator.consensus.timeout_delta_ms == core.timeout_delta_ms
    assert validator.chain.grace_ms == ValidatorPoc.__dataclass_fields__["grace_ms"].default


def test_the_drivers_are_those_of_coverage_net_bridge():
    from coverage_net.cli._bridge import DRIVERS
    assert cfg.RADIO_DRIVERS == DRIVERS


def test_configurations_are_frozen(tmp_path):
    loaded = _hotspot(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.radio.port = "/dev/null"  # type: ignore[misc]


def test_environment_overrides_win_and_are_typed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = _hotspot(
        tmp_path, HOTSPOT + "[metrics]\nlisten = \"127.0.0.1:9100\"\n",
        COVERAGE_NET_RADIO_PORT="/dev/pts/3", COVERAGE_NET_RADIO_BAUDRATE="9600",
        COVERAGE_NET_LOCATION_LAT=" 45.5", COVERAGE_NET_NETWORK_BOOTSTRAP=(
            "/ip4/127.0.0.1/tcp/4001/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN ,"),
        COVERAGE_NET_NETWORK_LISTEN="/ip4/127.0.0.1/tcp/1,/ip6/::1/tcp/2",
        COVERAGE_NET_METRICS_LISTEN="", COVERAGE_NET_DATA_DIR="here",
        COVERAGE_NET_RADIO_REGION="eu868", COVERAGE_NET_LOG_LEVEL="debug")
    assert loaded.radio.port == "/dev/pts/3"
    assert loaded.radio.baudrate == 9600
    assert loaded.location.lat == 45.5
    assert loaded.network.bootstrap == (
        "/ip4/127.0.0.1/tcp/4001/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",)
    assert loaded.network.listen == ("/ip4/127.0.0.1/tcp/1", "/ip6/::1/tcp/2")
    assert loaded.metrics.listen is None  # "" turns metrics off
    assert loaded.data.dir == tmp_path / "here"  # the environment's paths: from the cwd
    assert loaded.radio.region == "EU868"
    assert loaded.log.level == "debug"


def test_sources_say_file_env_or_default(tmp_path):
    resolved = resolve_config("hotspot", _write(tmp_path, HOTSPOT),
                              env={"COVERAGE_NET_RADIO_PORT": "/dev/pts/9"})
    sources = {s.name: s.source for s in resolved.settings}
    assert sources["location.lat"] == "file"
    assert sources["radio.port"] == "env COVERAGE_NET_RADIO_PORT"
    assert sources["radio.baudrate"] == "default"


def test_environment_variables_of_other_processes_or_tools_are_ignored(tmp_path):
    path = _write(tmp_path, sample_config("validator"), "validator.toml")
    loaded = load_config("validator", path, env={"COVERAGE_NET_RADIO_PORT": "x",
                                                 "COVERAGE_NET_DEM_DIR": "/nowhere",
                                                 "COVERAGE_NET_SINK_PATH": "y"})
    assert loaded == load_config("validator", path, env={})


def test_relative_paths_are_relative_to_the_file(tmp_path):
    conf = tmp_path / "etc" / "coverage"
    conf.mkdir(parents=True)
    text = HOTSPOT + '[identity]\nkey_file = "keys/hs.key"\n[data]\ndir = "~/cn-data"\n'
    loaded = load_config("hotspot", _write(conf, text.replace(
        '"network-params.json"', '"/srv/params.toml"')), env={})
    assert loaded.identity.key_file == conf / "keys" / "hs.key"
    assert loaded.chain.params == Path("/srv/params.toml")
    assert loaded.data.dir == Path("~/cn-data").expanduser()
    router = load_config("router", _write(conf, sample_config("router"), "router.toml"),
                         env={})
    assert router.sink.path == conf / "uplinks.jsonl"


def test_the_serial_speed_follows_the_driver_and_semtech_needs_no_port(tmp_path):
    rn = _hotspot(tmp_path, HOTSPOT.replace("[radio]", '[radio]\ndriver = "rn2483"'))
    assert rn.radio.baudrate == 57600
    text = HOTSPOT.replace('port = "/dev/ttyACM0"',
                           'driver = "semtech-udp"\nudp_listen = "0.0.0.0:1700"')
    udp = _hotspot(tmp_path, text)
    assert udp.radio.port is None and udp.radio.baudrate is None
    assert udp.radio.udp_listen == HostPort("0.0.0.0", 1700)


LAT_REQUIRED = "hotspot.toml: location.lat is required (the hotspot's asserted latitude, degrees)"

ERRORS = [  # (file text, environment, the whole message or a fragment of it)
    (HOTSPOT.replace("lat = 44.27\n", ""), {}, LAT_REQUIRED),
    (HOTSPOT.replace("[radio]", '[radio]\nbaudrate = "fast"'), {},
     'hotspot.toml: radio.baudrate must be an integer; got "fast"'),
    (HOTSPOT.replace("[radio]", "[radio]\nbaudrate = true"), {},
     "radio.baudrate must be an integer; got true"),
    (HOTSPOT.replace("[radio]", "[radio]\nbaudrate = 0"), {},
     "radio.baudrate must be greater than 0; got 0"),
    (HOTSPOT.replace("lat = 44.27", "lat = 91"), {},
     "location.lat must be between -90 and 90; got 91"),
    (HOTSPOT.replace("lat = 44.27", 'lat = "44.27"'), {},
     'location.lat must be a number; got "44.27"'),
    (HOTSPOT.replace("lon = -71.30", "lon = -71.30\nantenna_height_m = 0"), {},
     "location.antenna_height_m must be greater than 0 and at most 1000; got 0"),
    (HOTSPOT.replace("port =", "prot ="), {},
     "hotspot.toml: radio.prot is not a hotspot setting (did you mean radio.port?)"),
    (HOTSPOT.replace("[location]\nlat", "[location]\nlatitude"), {},
     "location.latitude is not a hotspot setting (did you mean location.lat?)"),
    (HOTSPOT.replace("[radio]\nport", "[radio]\nregion = \"US915\"\nlat"), {},
     "radio.lat is not a hotspot setting (did you mean location.lat?)"),
    (HOTSPOT + "[radios]\nx = 1\n", {},
     'hotspot.toml: [radios] is not a hotspot section (did you mean "radio"?)'),
    ("lat = 44.0\n" + HOTSPOT, {}, "lat is not a hotspot setting"),
    ("metrics = 5\n" + HOTSPOT, {}, "metrics must be a section ([metrics]); got 5"),
    (HOTSPOT + "metrics = 5\n", {},
     "chain.metrics is not a hotspot setting (did you mean the section [metrics]?)"),
    (HOTSPOT.replace("lon = -71.30", "lon = = -71.30"), {},
     "hotspot.toml: not valid TOML: Invalid value (at line 3, column 7)"),
    (HOTSPOT, {"COVERAGE_NET_RADIO_BAUDRATE": "fast"},
     'hotspot.toml: radio.baudrate (from COVERAGE_NET_RADIO_BAUDRATE) must be an integer; '
     'got "fast"'),
    (HOTSPOT, {"COVERAGE_NET_LOCATION_LON": "west"},
     "location.lon (from COVERAGE_NET_LOCATION_LON) must be a number"),
    (HOTSPOT.replace('port = "/dev/ttyACM0"', 'driver = "rn2483"'), {},
     'hotspot.toml: radio.port is required when radio.driver is "rn2483" (the serial port'),
    (HOTSPOT.replace("[radio]", '[radio]\ndriver = "nativ"'), {},
     'radio.driver must be one of "native", "rn2483", "semtech-udp"; got "nativ" '
     '(did you mean "native"?)'),
    (HOTSPOT.replace("[radio]", '[radio]\nregion = "XX915"'), {},
     'radio.region must be a region name (US915, EU868,'),
    (HOTSPOT + '[network]\nlisten = ["/ip4/127.0.0.1/udp/1"]\n', {},
     "network.listen has a bad entry: bad listen address '/ip4/127.0.0.1/udp/1'"),
    (HOTSPOT + '[network]\nlisten = []\n', {}, "network.listen must list at least one"),
    (HOTSPOT + '[network]\nbootstrap = "/ip4/1.2.3.4/tcp/1"\n', {},
     'network.bootstrap must be a list of strings; got "/ip4/1.2.3.4/tcp/1"'),
    (HOTSPOT + '[network]\nbootstrap = ["/ip4/1.2.3.4/tcp/1"]\n', {},
     "network.bootstrap has a bad entry: bad bootstrap address"),
    (HOTSPOT + '[metrics]\nlisten = "localhost"\n', {},
     'metrics.listen must be "HOST:PORT" (e.g. "127.0.0.1:9100"), or "" for off; '
     'got "localhost"'),
    (HOTSPOT + '[data]\ndir = ""\n', {}, 'data.dir must be a file or directory path; got ""'),
    (HOTSPOT + '[log]\nlevel = "verbose"\n', {}, "log.level must be one of"),
]


@pytest.mark.parametrize(("text", "env", "expected"), ERRORS)
def test_each_mistake_is_one_line_naming_the_file_and_the_key(tmp_path, text, env, expected):
    with pytest.raises(ConfigError) as caught:
        _hotspot(tmp_path, text, **env)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "hotspot.toml") + ": ")
    assert expected.removeprefix("hotspot.toml: ") in message, message


def test_a_section_of_another_process_says_whose_it_is(tmp_path):
    text = sample_config("validator") + "[location]\nlat = 1.0\n"
    with pytest.raises(ConfigError, match=r"\[location\] is not a validator section "
                                          r"\(it is a hotspot section\)"):
        load_config("validator", _write(tmp_path, text, "validator.toml"), env={})


def test_unreadable_files_and_unknown_kinds(tmp_path):
    with pytest.raises(ConfigError, match="missing.toml: cannot read the configuration file"):
        load_config("hotspot", tmp_path / "missing.toml", env={})
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[radio]\nport = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"latin1.toml: not UTF-8 text \(byte 19\)"):
        load_config("hotspot", bad, env={})
    with pytest.raises(ConfigError, match="unknown process kind 'gateway'"):
        load_config("gateway", tmp_path / "x.toml", env={})


# every setting's environment parser, fuzzed: a value, or one ConfigError naming the variable

@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, tuple[Path, list[str]]]:
    folder = tmp_path_factory.mktemp("samples")
    out = {}
    for kind in KINDS:
        path = _write(folder, sample_config(kind), f"{kind}.toml")
        out[kind] = (path, [s.name for s in resolve_config(kind, path, env={}).settings])
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), text=st.text(st.characters(exclude_categories=("Cs",),
                                                  exclude_characters="\0")))
def test_any_environment_value_loads_or_names_its_variable(samples, data, text):
    kind = data.draw(st.sampled_from(KINDS))
    path, names = samples[kind]
    name = data.draw(st.sampled_from(names))
    var = env_var(*name.split("."))
    try:
        load_config(kind, path, env={var: text})
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: {name} (from {var}) "), message
        assert "\n" not in message and "\r" not in message


_HOTSPOT_SECTIONS = {"identity", "location", "radio", "network", "chain", "data", "metrics",
                     "log"}


@settings(max_examples=200, deadline=None)
@given(key=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)
       .filter(lambda k: k != "level" and k not in _HOTSPOT_SECTIONS))
def test_any_unknown_key_is_named_on_one_line(samples, key):
    path = samples["hotspot"][0].with_name("unknown-key.toml")
    quoted = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or c in '"\\\x7f' else c
                     for c in key)
    path.write_text(f'[log]\n"{quoted}" = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config("hotspot", path, env={})
    message = str(caught.value)
    assert message.startswith(f"{path}: log.") and " is not a hotspot setting" in message
    assert key in message or json.dumps(key) in message
    assert message.isprintable(), message

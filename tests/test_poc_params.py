"""Network parameters: defaults, the shipped sample, the digest, and errors naming the key."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.identity import Keypair
from coverage_net.messages import canonical_dumps
from coverage_net.poc import (
    DAY_MS,
    VERIFIER_RULES,
    BeaconParams,
    NetworkParams,
    ParamsError,
    PocError,
    VerifierParams,
    load_params,
    params_from_dict,
)
from coverage_net.radio import MODEL_NAMES, REGIONS, TerrainModel, get_region

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "network_params.toml"
VALIDATOR = Keypair.from_seed(b"\x07" * 32).public_key.hex()

# The default network's digest: changing a default changes every genesis block.
DEFAULT_DIGEST = "a022762834ba29c9a42b2c400d16cc592a6e8497b8592dd16f0dc0361d03835e"


def _set(data: dict, path: str, value: object) -> dict:
    """A deep copy of ``data`` with the dotted key ``path`` set to ``value``."""
    changed = copy.deepcopy(data)
    *parents, last = path.split(".")
    table = changed
    for key in parents:
        table = table.setdefault(key, {})
    table[last] = value
    return changed


def _leaf_paths(value: object, path: str = "") -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_leaf_paths(v, f"{path}.{k}" if path else k)
                             for k, v in value.items()))
    return {path}


def test_defaults_load_and_every_default_beacon_is_a_real_channel():
    params = params_from_dict({})
    assert params == NetworkParams()
    assert params.epoch_length_ms == 1_800_000
    assert params.challenges_per_hotspot_per_day == 4
    assert params.challenge_window_ms == 300_000
    assert params.validators == ()
    assert set(params.regions) == set(REGIONS)
    assert params.verifier == VerifierParams()
    assert params.verifier.min_distance_res11_cells == 8
    assert params.verifier.max_distance_m == 100_000
    assert params.verifier.max_rewarded_witnesses == 14
    for name, beacon in params.regions.items():
        region = get_region(name)
        rate = region.data_rate_for(beacon.spreading_factor, beacon.bandwidth_hz)
        assert any(c.freq_hz == beacon.freq_hz and rate.index in c.data_rates
                   for c in region.uplink_channels)
    assert isinstance(params.propagation.build_model(), TerrainModel)
    assert params.digest().hex() == DEFAULT_DIGEST


def test_every_field_is_an_integer_where_the_verifier_compares():
    params = NetworkParams()
    for value in params.to_dict()["verifier"].values():
        assert type(value) is int
    for beacon in params.regions.values():
        assert all(type(v) is int for v in (beacon.freq_hz, beacon.spreading_factor,
                                             beacon.bandwidth_hz))


def test_the_sample_file_loads():
    params = load_params(SAMPLE)
    assert params.epoch_length_ms == 600_000
    assert params.challenge_window_ms == 120_000
    assert len(params.validators) == 3 and list(params.validators) == sorted(params.validators)
    assert params.beacon("us915") == BeaconParams(903_900_000, 10, 125_000)
    assert params.beacon("EU863-870").freq_hz == 868_100_000
    assert params.propagation.model == "terrain"
    assert params.dem_tiles == {"N44W072.hgt": NetworkParams().dem_tiles["N44W072.hgt"]}
    assert params_from_dict(params.to_dict()) == params
    assert hash(params_from_dict(params.to_dict())) == hash(params)


def test_a_region_without_a_beacon_is_reported():
    with pytest.raises(ParamsError, match="KR920 has no beacon channel"):
        load_params(SAMPLE).beacon("KR920")


def test_digest_is_sha256_of_canonical_cbor_of_the_normalized_dict():
    params = load_params(SAMPLE)
    assert params.digest() == hashlib.sha256(canonical_dumps(params.to_dict())).digest()
    assert len(params.digest()) == 32


REORDERED = """
[verifier]
max_witnesses_per_hotspot_per_epoch=16
max_rewarded_witnesses=14
max_arrival_lag_ms=10000
freq_tolerance_hz=2000
max_distance_m=100000
min_distance_res11_cells=8
max_k_sigma_centi=300
rssi_sigma_centi_db=600
[dem_tiles]
'N44W072.hgt'='03548A0306D409A90D2D6FBF94EC1CA8D67D1E2E918D21637BBE40F60F9A30F2'
[propagation]
params = { k_factor = 1.3333333333333333, method = "deygout" }
model = "TERRAIN"
[regions]
eu868 = { beacon = { bandwidth_hz = 125000, spreading_factor = 10, freq_hz = 868100000 } }
US902-928.beacon = { spreading_factor = 10, freq_hz = 903900000, bandwidth_hz = 125000 }
"""

SAMPLE_TOP = """challenge_window_ms   =   120_000
validators = ['{2}', '{1}',
  '{0}']
challenges_per_hotspot_per_day = 4
epoch_length_ms = 0x927C0
"""


def test_digest_is_the_same_whatever_the_key_order_spelling_and_formatting(tmp_path):
    sample = load_params(SAMPLE)
    keys = [key.hex() for key in sample.validators]
    path = tmp_path / "reordered.toml"
    path.write_text(SAMPLE_TOP.format(*keys) + REORDERED)
    reordered = load_params(path)
    assert reordered == sample
    assert reordered.digest() == sample.digest()


@pytest.mark.parametrize("path", sorted(
    path for path in _leaf_paths(NetworkParams().to_dict())
    if path not in ("validators", "verifier.rules") and not path.endswith(".bandwidth_hz")))
def test_digest_changes_when_any_value_changes(path):
    base = NetworkParams().to_dict()
    changes = {
        "epoch_length_ms": 900_000,
        "challenges_per_hotspot_per_day": 3,
        "challenge_window_ms": 200_000,
        "propagation.model": "free-space",
        "propagation.params.method": "single",
        "propagation.params.deygout_depth": 3,
        "propagation.params.k_factor": 1.0,
        "propagation.params.max_samples": 4096,
        "propagation.params.sample_spacing_m": 30.0,
        "dem_tiles.N44W072.hgt": "00" * 32,
    }
    if path.startswith("rewards."):
        changed = _changed_reward(base, path)
        assert params_from_dict(changed).digest() != NetworkParams().digest()
        return
    if path.startswith("verifier."):
        value = base["verifier"][path.split(".")[1]] + 1
    elif path.endswith(".freq_hz"):
        value = {"US915": 904_100_000, "EU868": 868_300_000, "AU915": 917_000_000,
                 "AS923-1": 923_400_000, "KR920": 922_300_000,
                 "IN865": 865_402_500}[path.split(".")[1]]
    elif path.endswith(".spreading_factor"):
        value = 9
    else:
        value = changes[path]
    if path.startswith("dem_tiles."):
        changed = copy.deepcopy(base)
        changed["dem_tiles"]["N44W072.hgt"] = value
    elif path == "propagation.model":
        changed = _set(base, "propagation", {"model": value})
    else:
        changed = _set(base, path, value)
    assert params_from_dict(changed).digest() != NetworkParams().digest()


_SHARES = ("rewards.beacon_bps", "rewards.witness_bps", "rewards.data_transfer_bps")


def _changed_reward(base: dict, path: str) -> dict:
    """`base` with the reward value at `path` changed and the parameters still valid (the
    shares still add up to the whole, a density row's maximum still >= its target)."""
    *_, name = path.split(".")
    value = _get(base, path)
    if path == "rewards.routers":
        return _set(base, path, [VALIDATOR])
    if path in _SHARES or path.startswith("rewards.accounts."):
        other = "rewards.data_transfer_bps" if path != "rewards.data_transfer_bps" \
            else "rewards.beacon_bps"
        return _set(_set(base, path, value + 1), other, _get(base, other) - 1)
    if path.startswith("rewards.hex_density.") and name == "target":
        row = path.rsplit(".", 1)[0]
        return _set(_set(base, path, value + 1), f"{row}.maximum",
                    max(_get(base, f"{row}.maximum"), value + 1))
    return _set(base, path, value + 1)


def _get(data: dict, path: str) -> object:
    for part in path.split("."):
        data = data[part]
    return data


def test_the_verifier_rules_are_in_the_digest_and_a_build_runs_only_its_own():
    """Parameters name the verifier rules their network runs; nodes on other rules must
    part at genesis (another digest) or refuse to start, never disagree on verdicts."""
    params = NetworkParams()
    assert params.verifier.rules == VERIFIER_RULES
    assert params.to_dict()["verifier"]["rules"] == VERIFIER_RULES
    older = dataclasses.replace(params, verifier=dataclasses.replace(params.verifier, rules=1))
    assert older.digest() != params.digest()
    for other in (VERIFIER_RULES - 1, VERIFIER_RULES + 1):
        with pytest.raises(ParamsError, match=(
                rf"verifier.rules: these parameters name verifier rules {other}, and this "
                rf"build of coverage-net implements rules {VERIFIER_RULES} only")):
            params_from_dict({"verifier": {"rules": other}})
    assert load_params(SAMPLE).verifier.rules == VERIFIER_RULES  # the sample says so
    assert f"rules = {VERIFIER_RULES}" in SAMPLE.read_text()


def test_digest_changes_with_validators_and_regions():
    base = NetworkParams()
    with_validator = params_from_dict({"validators": [VALIDATOR]})
    assert with_validator.digest() != base.digest()
    wide = _set(base.to_dict(), "regions.US915.beacon", {
        "freq_hz": 903_000_000, "spreading_factor": 8, "bandwidth_hz": 500_000})
    assert params_from_dict(wide).digest() != base.digest()
    fewer = params_from_dict({"regions": {"US915": {"beacon": {
        "freq_hz": 903_900_000, "spreading_factor": 10, "bandwidth_hz": 125_000}}}})
    assert fewer.digest() != base.digest()


def test_an_integral_float_model_parameter_hashes_like_the_float():
    as_int = params_from_dict({"propagation": {"model": "log-distance",
                                               "params": {"gamma": 2}}})
    as_float = params_from_dict({"propagation": {"model": "log_distance",
                                                 "params": {"gamma": 2.0}}})
    assert as_int == as_float and as_int.digest() == as_float.digest()
    assert as_int.propagation.build_model().gamma == 2.0


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_every_named_model_builds_from_its_defaults(model):
    params = params_from_dict({"propagation": {"model": model}})
    assert params.propagation.build_model() is not None


BEACON = "regions.US915.beacon"
BAD = [
    ("epoch_length_ms", 0, "epoch_length_ms: must be at least 1"),
    ("epoch_length_ms", 1.5, "epoch_length_ms: must be an integer"),
    ("epoch_length_ms", True, "epoch_length_ms: must be an integer"),
    ("challenges_per_hotspot_per_day", 0, "challenges_per_hotspot_per_day: must be at least"),
    ("challenges_per_hotspot_per_day", 49, "challenges_per_hotspot_per_day: 49 a day"),
    ("challenge_window_ms", 1_800_001, "challenge_window_ms: 1800001 is longer than the epoch"),
    ("challenge_window_ms", "5m", "challenge_window_ms: must be an integer"),
    ("validators", "abc", "validators: must be a list"),
    ("validators", ["zz" * 32], r"validators\[0\]: 'zz"),
    ("validators", [VALIDATOR[:-2]], r"validators\[0\]: an ed25519 public key is 32 bytes"),
    ("validators", [VALIDATOR, VALIDATOR], r"validators\[1\]: validator .* is listed twice"),
    ("validators", [7], r"validators\[0\]: must be an ed25519 public key"),
    ("regions", {}, "regions: at least one region"),
    ("regions", [], "regions: must be a table"),
    ("regions.MARS433.beacon.freq_hz", 1, "regions.MARS433: name='MARS433' is not a known"),
    ("regions.US915.antenna", 1, "regions.US915.antenna: unknown key"),
    ("regions.US915", {}, "regions.US915.beacon: missing"),
    (f"{BEACON}.freq_hz", 868_100_000, f"{BEACON}.freq_hz: 868100000 .* not a channel of US915"),
    (f"{BEACON}.freq_hz", 903_950_000, f"{BEACON}.freq_hz: .* not a channel of US915"),
    (f"{BEACON}.freq_hz", 903.9e6, f"{BEACON}.freq_hz: must be an integer"),
    (f"{BEACON}.spreading_factor", 12, f"{BEACON}.spreading_factor: .*not a data rate of US915"),
    (f"{BEACON}.spreading_factor", "SF10", f"{BEACON}.spreading_factor: must be an integer"),
    (f"{BEACON}.bandwidth_hz", 250_000, f"{BEACON}.spreading_factor: .*not a data rate"),
    (f"{BEACON}.bandwidth_hz", 0, f"{BEACON}.bandwidth_hz: must be at least 1"),
    (f"{BEACON}.power_dbm", 20, f"{BEACON}.power_dbm: unknown key"),
    (BEACON, {"freq_hz": 903_900_000, "spreading_factor": 8, "bandwidth_hz": 500_000},
     f"{BEACON}: SF8/500 kHz is not carried on 903.9 MHz"),
    ("propagation.model", "magic", "propagation.model: unknown path-loss model 'magic'"),
    ("propagation.model", 3, "propagation.model: must be a model name"),
    ("propagation.params.k_factor", -1.0, "propagation.params: k_factor must be"),
    ("propagation.params.k_factor", "4/3", "propagation.params.k_factor: must be a number"),
    ("propagation.params.k_factor", float("inf"), "propagation.params.k_factor: must be finite"),
    ("propagation.params.method", "triple", "propagation.params: terrain method must be"),
    ("propagation.params.method", 1, "propagation.params.method: must be a str"),
    ("propagation.params.max_samples", 2.5, "propagation.params.max_samples: must be an int"),
    ("propagation.params.gamma", 2.0, "propagation.params.gamma: unknown key"),
    ("propagation.shadowing", 1, "propagation.shadowing: unknown key"),
    ("dem_tiles.N44W072.hgt", "abc", "dem_tiles.N44W072.hgt: 'abc' is not hex"),
    ("dem_tiles.N44W072.hgt", "ab" * 31, "dem_tiles.N44W072.hgt: a sha256 is 32 bytes"),
    ("dem_tiles", {" ": "00" * 32}, "dem_tiles. : a tile needs a file name"),
    ("dem_tiles", {3: "00" * 32}, "dem_tiles.3: a tile needs a file name"),
    ("verifier.max_rewarded_witnesses", 0, "verifier.max_rewarded_witnesses: must be at least 1"),
    ("verifier.rssi_sigma_centi_db", 6.0, "verifier.rssi_sigma_centi_db: must be an integer"),
    ("verifier.freq_tolerance_hz", -1, "verifier.freq_tolerance_hz: must be at least 0"),
    ("verifier.max_k_sigma", 3, "verifier.max_k_sigma: unknown key"),
    ("verifier", 3, "verifier: must be a table"),
    ("epochs", 3, "epochs: unknown key"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_each_bad_value_is_refused_naming_the_key(path, value, message):
    data = NetworkParams().to_dict()
    if path.startswith("dem_tiles."):
        data["dem_tiles"][path.removeprefix("dem_tiles.")] = value
    else:
        data = _set(data, path, value)
    with pytest.raises(ParamsError, match=message) as caught:
        params_from_dict(data)
    assert isinstance(caught.value, PocError)


def test_a_bad_file_value_is_reported_with_the_file_and_key(tmp_path):
    path = tmp_path / "params.toml"
    path.write_text(SAMPLE.read_text().replace("freq_hz = 903_900_000", "freq_hz = 903_000"))
    with pytest.raises(ParamsError, match=r"params.toml: regions\.US915\.beacon\.freq_hz: "):
        load_params(path)


def test_bad_toml_is_reported_with_its_line(tmp_path):
    path = tmp_path / "params.toml"
    path.write_text("epoch_length_ms = 600_000\n\nchallenge_window_ms = = 3\n")
    with pytest.raises(ParamsError, match=r"params.toml: not valid TOML: .*line 3"):
        load_params(path)


def test_unreadable_files_are_reported(tmp_path):
    with pytest.raises(ParamsError, match="cannot read network parameters"):
        load_params(tmp_path / "absent.toml")
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ParamsError, match="not UTF-8"):
        load_params(path)


def test_a_testnet_may_shorten_times_but_not_beyond_the_rate():
    fast = params_from_dict({"epoch_length_ms": 60_000, "challenge_window_ms": 10_000,
                             "challenges_per_hotspot_per_day": 1440})
    assert fast.challenges_per_hotspot_per_day * fast.epoch_length_ms == DAY_MS
    # the default window is clipped to a shorter epoch rather than refused
    assert params_from_dict({"epoch_length_ms": 60_000}).challenge_window_ms == 60_000


_toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12)
_known_keys = st.sampled_from(sorted(NetworkParams().to_dict()) + ["regions.US915"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_known_keys, _toml_values, max_size=4))
def test_any_parsed_data_gives_params_or_a_params_error(data):
    try:
        params = params_from_dict(data)
    except ParamsError:
        return
    assert params_from_dict(params.to_dict()) == params

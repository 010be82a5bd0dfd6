"""Genesis: checked construction, TOML round trip, errors naming the key, a stable hash."""

from __future__ import annotations

import hashlib

import pytest
from consensus_helpers import make_genesis, validator_key
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.consensus import (
    Genesis,
    GenesisError,
    GenesisValidator,
    load_genesis,
    save_genesis,
)
from coverage_net.messages import canonical_dumps


def test_quorum_arithmetic_and_indices():
    genesis = make_genesis(4)
    assert (genesis.n, genesis.f, genesis.quorum) == (4, 1, 3)
    assert make_genesis(7).quorum == 5
    for i in range(4):
        assert genesis.index_of(validator_key(i).public_key) == i
        assert genesis.key_of(i) == validator_key(i).public_key
    with pytest.raises(GenesisError, match="is not a validator"):
        genesis.index_of(validator_key(9).public_key)
    with pytest.raises(GenesisError, match="out of range"):
        genesis.key_of(4)


def test_hash_is_sha256_of_canonical_cbor_and_changes_with_any_field():
    genesis = make_genesis(4)
    assert genesis.hash() == hashlib.sha256(canonical_dumps(genesis.to_dict())).digest()
    assert make_genesis(4, chain_id="other").hash() != genesis.hash()
    assert make_genesis(5).hash() != genesis.hash()


def test_file_round_trip(tmp_path):
    genesis = make_genesis(4)
    path = tmp_path / "genesis.toml"
    save_genesis(genesis, path)
    assert load_genesis(path) == genesis
    assert load_genesis(path).hash() == genesis.hash()
    assert "[[validators]]" in path.read_text()


_chain_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
_ports = st.integers(1, 65535)


@settings(max_examples=60, deadline=None)
@given(chain_id=_chain_ids, seeds=st.lists(st.binary(min_size=32, max_size=32), min_size=1,
                                           max_size=6, unique=True),
       port=_ports, digest=st.binary(min_size=32, max_size=32),
       entropy=st.binary(min_size=32, max_size=32), t_ms=st.integers(0, 2**63 - 1))
def test_toml_round_trip_property(chain_id, seeds, port, digest, entropy, t_ms):
    validators = tuple(GenesisValidator(hashlib.sha256(s).digest(),
                                        f"/dns4/v{i}.example/tcp/{port}")
                       for i, s in enumerate(seeds))
    genesis = Genesis(chain_id=chain_id, validators=validators, params_digest=digest,
                      first_entropy=entropy, genesis_time_ms=t_ms)
    again = Genesis.from_toml(genesis.to_toml())
    assert again == genesis and again.hash() == genesis.hash()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_parses_or_raises_genesis_error(text):
    try:
        parsed = Genesis.from_toml(text)
    except GenesisError as exc:
        assert str(exc)  # an error that says what was wrong, and no other kind
    else:
        assert parsed.hash() == Genesis.from_toml(parsed.to_toml()).hash()


def _text_with(replace: str, by: str) -> str:
    text = make_genesis(4).to_toml()
    assert replace in text
    return text.replace(replace, by, 1)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('chain_id = "coverage-net-test"', 'chain_id = "bad id!"', "chain_id"),
    ("genesis_time_ms = 1764806400000", "genesis_time_ms = -1", "genesis_time_ms"),
    ("genesis_time_ms = 1764806400000", "genesis_time_ms = 1.5", "genesis_time_ms"),
    ('params_digest = "', 'params_digest = "00', "params_digest"),
    ('first_entropy = "', 'first_entropy = "zz', "first_entropy"),
    ("/ip4/127.0.0.1/tcp/4001", "/ip4/999.0.0.1/tcp/4001", r"validators\[0\]\.multiaddr"),
    ("/ip4/127.0.0.1/tcp/4002", "not-a-multiaddr", r"validators\[1\]\.multiaddr"),
    ('public_key = "', 'public_key = "ab', r"validators\[0\]\.public_key"),
    ('chain_id = "coverage-net-test"', 'chain_id = "x"\nextra = 1', "unknown key.*extra"),
    ('chain_id = "coverage-net-test"\n', "", "missing key.*chain_id"),
    ('multiaddr = "/ip4/127.0.0.1/tcp/4001"', 'multiaddr = "/ip4/127.0.0.1/tcp/4001"\nport = 1',
     r"validators\[0\]: unknown key.*port"),
    ("chain_id", "chain_id = = ", "not valid TOML"),
])
def test_bad_files_name_the_key(old, new, message):
    with pytest.raises(GenesisError, match=message):
        Genesis.from_toml(_text_with(old, new))


def test_duplicate_validator_and_empty_set_refused():
    genesis = make_genesis(2)
    twice = (genesis.validators[0], genesis.validators[0])
    with pytest.raises(GenesisError, match=r"validators\[1\].*already validators\[0\]"):
        Genesis(chain_id="c", validators=twice, params_digest=bytes(32),
                first_entropy=bytes(32), genesis_time_ms=0)
    with pytest.raises(GenesisError, match="1 to 1024 validators"):
        Genesis(chain_id="c", validators=(), params_digest=bytes(32),
                first_entropy=bytes(32), genesis_time_ms=0)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(GenesisError, match="cannot read genesis"):
        load_genesis(tmp_path / "absent.toml")
    path = tmp_path / "g.toml"
    path.write_text(_text_with('first_entropy = "', 'first_entropy = "00'))
    with pytest.raises(GenesisError, match=r"g\.toml: first_entropy"):
        load_genesis(path)

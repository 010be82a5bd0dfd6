"""coverage_net.identity: keys, peer ids against published vectors, the key file."""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coverage_net.identity as identity
from coverage_net.identity import (
    CorruptKeyFileError,
    IdentityError,
    InsecureKeyFileError,
    InvalidKeyError,
    KeyFileError,
    Keypair,
    load_keypair,
    peer_id_from_public_key,
    public_key_from_peer_id,
    save_keypair,
    verify_signature,
)
from coverage_net.identity._base58 import b58decode, b58encode

PROPS = settings(max_examples=100, deadline=None, database=None)

# libp2p specs, peer-ids/peer-ids.md "Test vectors": the protobuf-encoded ed25519 keys.
SPEC_PRIVATE_PB = bytes.fromhex(
    "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"
    "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")
SPEC_PUBLIC_PB = bytes.fromhex(
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")
# base58btc of 00 24 + SPEC_PUBLIC_PB (identity multihash); rust-libp2p derives the same id
SPEC_PEER_ID = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"

# RFC 8032 section 7.1, TEST 1 (empty message)
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")


# --- base58 -------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "text"), [
    # draft-msporny-base58-03, section 5
    (b"Hello World!", "2NEpo7TZRRrLZSi2U"),
    (b"The quick brown fox jumps over the lazy dog.",
     "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"),
    (bytes.fromhex("0000287fb4cd"), "11233QC4"),
    (b"", ""),
    (b"\x00", "1"),
])
def test_base58_vectors(raw, text):
    assert b58encode(raw) == text
    assert b58decode(text) == raw


@PROPS
@given(st.binary(max_size=80))
def test_base58_round_trip(raw):
    assert b58decode(b58encode(raw)) == raw


@pytest.mark.parametrize("bad", ["0", "O", "I", "l", "abc+", "12D3 KooW"])
def test_base58_rejects_characters_outside_the_alphabet(bad):
    with pytest.raises(ValueError, match="not a base58btc character"):
        b58decode(bad)


# --- keys and peer ids --------------------------------------------------------------------


def test_libp2p_spec_vector():
    seed = SPEC_PRIVATE_PB[4:36]
    keypair = Keypair.from_seed(seed)
    assert SPEC_PRIVATE_PB[:4] == bytes.fromhex("08011240")  # protobuf Type=Ed25519, 64 bytes
    assert SPEC_PRIVATE_PB[36:] == keypair.public_key  # go/js keep seed || public key
    assert bytes.fromhex("08011220") + keypair.public_key == SPEC_PUBLIC_PB
    assert b58encode(b"\x00\x24" + SPEC_PUBLIC_PB) == SPEC_PEER_ID
    assert keypair.peer_id == SPEC_PEER_ID
    assert peer_id_from_public_key(keypair.public_key) == SPEC_PEER_ID
    assert public_key_from_peer_id(SPEC_PEER_ID) == keypair.public_key


def test_rfc8032_vector():
    keypair = Keypair.from_seed(RFC8032_SEED)
    assert keypair.public_key == RFC8032_PUBLIC
    assert keypair.sign(b"") == RFC8032_SIGNATURE
    assert verify_signature(RFC8032_PUBLIC, RFC8032_SIGNATURE, b"")
    assert keypair.seed() == RFC8032_SEED


@PROPS
@given(st.binary(min_size=32, max_size=32))
def test_peer_id_format_and_round_trip(seed):
    keypair = Keypair.from_seed(seed)
    peer_id = keypair.peer_id
    assert peer_id.startswith(identity.PEER_ID_PREFIX)
    assert len(peer_id) == 52
    assert public_key_from_peer_id(peer_id) == keypair.public_key


@pytest.mark.parametrize("bad", [
    "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",  # sha256 multihash (RSA key) peer id
    "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p",  # one character short
    "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pqq",
    "12D3KooW0tg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq",  # '0' is not base58
    "",
])
def test_public_key_from_peer_id_rejects_non_ed25519_ids(bad):
    with pytest.raises(InvalidKeyError, match="peer id"):
        public_key_from_peer_id(bad)


def test_bad_key_material_is_rejected():
    for seed in (b"", bytes(31), bytes(33)):
        with pytest.raises(InvalidKeyError, match="seed must be 32 bytes"):
            Keypair.from_seed(seed)
    with pytest.raises(InvalidKeyError, match="got str"):
        Keypair.from_seed("00" * 32)
    with pytest.raises(InvalidKeyError, match="public_key must be 32 bytes"):
        peer_id_from_public_key(bytes(33))
    with pytest.raises(InvalidKeyError, match="Keypair.generate"):
        Keypair(bytes(32))
    assert isinstance(InvalidKeyError("x"), ValueError)


def test_generate_is_random_and_from_seed_is_deterministic():
    assert Keypair.generate().public_key != Keypair.generate().public_key
    assert Keypair.from_seed(bytes(32)) == Keypair.from_seed(bytes(32))
    assert hash(Keypair.from_seed(bytes(32))) == hash(Keypair.from_seed(bytes(32)))
    assert Keypair.from_seed(bytes(32)) != Keypair.from_seed(b"\x01" * 32)


def test_repr_shows_the_peer_id_never_the_secret():
    keypair = Keypair.from_seed(RFC8032_SEED)
    text = repr(keypair)
    assert keypair.peer_id in text
    assert RFC8032_SEED.hex() not in text and "9d61" not in text


def test_verify_signature():
    keypair, other = Keypair.from_seed(bytes(32)), Keypair.from_seed(b"\x01" * 32)
    signature = keypair.sign(b"data")
    assert verify_signature(keypair.public_key, signature, b"data")
    assert not verify_signature(keypair.public_key, signature, b"Data")
    assert not verify_signature(other.public_key, signature, b"data")
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify_signature(keypair.public_key, flipped, b"data")
    assert not verify_signature(keypair.public_key, signature[:63], b"data")
    assert not verify_signature(keypair.public_key[:31], signature, b"data")
    assert not verify_signature(b"\xff" * 32, signature, b"data")  # not a curve point


P = 2**255 - 19
Y_ORDER_8 = int.from_bytes(bytes.fromhex(
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"), "little")


def test_order_8_point_constant():
    # an order-8 point doubles to an order-4 point (y = 0), i.e. d y^4 + 2 y^2 - 1 = 0
    d = -121665 * pow(121666, -1, P) % P
    for y in (Y_ORDER_8, P - Y_ORDER_8):
        assert (d * y**4 + 2 * y * y - 1) % P == 0


@pytest.mark.parametrize("y", [0, 1, P - 1, Y_ORDER_8, P - Y_ORDER_8, P, P + 1])
@pytest.mark.parametrize("sign", [0, 1])
def test_small_order_keys_never_verify(y, sign):
    """Weak keys accept forged signatures in OpenSSL (R = identity or y=0, S = 0)."""
    key = bytearray(y.to_bytes(32, "little"))
    key[31] |= sign << 7
    identity_point = (1).to_bytes(32, "little")
    for r in (identity_point, bytes(32)):
        assert not verify_signature(bytes(key), r + bytes(32), b"any message")


# --- key file -----------------------------------------------------------------------------


@pytest.fixture
def keypair() -> Keypair:
    return Keypair.from_seed(RFC8032_SEED)


def test_key_file_round_trip_with_mode_0600(tmp_path, keypair):
    old_umask = os.umask(0)  # even a permissive umask must not widen the file
    try:
        path = save_keypair(keypair, tmp_path / "node.key")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keypair(path) == keypair
    assert load_keypair(str(path)).seed() == RFC8032_SEED
    document = json.loads(path.read_text())
    assert document["peer_id"] == keypair.peer_id
    assert document["format"] == identity.KEY_FILE_FORMAT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.key"]  # no temp file left


def test_save_refuses_to_replace_an_identity(tmp_path, keypair):
    path = save_keypair(keypair, tmp_path / "node.key")
    other = Keypair.from_seed(bytes(32))
    with pytest.raises(KeyFileError, match=r"node\.key already exists"):
        save_keypair(other, path)
    assert load_keypair(path) == keypair
    save_keypair(other, path, overwrite=True)
    assert load_keypair(path) == other
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.key"]


def test_save_into_a_missing_directory_or_over_a_directory(tmp_path, keypair):
    with pytest.raises(KeyFileError, match="does not exist"):
        save_keypair(keypair, tmp_path / "missing" / "node.key")
    (tmp_path / "node.key").mkdir()
    with pytest.raises(KeyFileError, match="cannot write"):
        save_keypair(keypair, tmp_path / "node.key", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.key"]  # temp file removed


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o610, 0o601])
def test_load_refuses_group_or_world_access(tmp_path, keypair, mode):
    path = save_keypair(keypair, tmp_path / "node.key")
    path.chmod(mode)
    with pytest.raises(InsecureKeyFileError) as info:
        load_keypair(path)
    message = str(info.value)
    assert str(path) in message and f"chmod 600 {path}" in message and f"{mode:04o}" in message
    path.chmod(0o600)
    assert load_keypair(path) == keypair
    path.chmod(0o400)  # read-only for the owner is fine
    assert load_keypair(path) == keypair


def test_load_missing_file_directory_and_symlink(tmp_path, keypair):
    with pytest.raises(KeyFileError, match="no identity key file at"):
        load_keypair(tmp_path / "nope.key")
    with pytest.raises(KeyFileError, match="not a regular file"):
        (tmp_path / "dir").mkdir(mode=0o700)
        load_keypair(tmp_path / "dir")
    real = save_keypair(keypair, tmp_path / "real.key")
    (tmp_path / "link.key").symlink_to(real)
    with pytest.raises(KeyFileError, match="symlink"):
        load_keypair(tmp_path / "link.key")


def _write_0600(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _good_document(keypair: Keypair) -> dict:
    return {"format": "coverage-net-identity", "version": 1, "key_type": "ed25519",
            "seed_hex": keypair.seed().hex(), "public_key_hex": keypair.public_key.hex(),
            "peer_id": keypair.peer_id}


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d.update(seed_hex="ff" + d["seed_hex"][2:]), "public_key_hex does not match"),
    (lambda d: d.update(peer_id=SPEC_PEER_ID), "peer_id does not match"),
    (lambda d: d.update(seed_hex=d["seed_hex"][:-2]), "seed_hex must be 64 hexadecimal"),
    (lambda d: d.update(seed_hex="zz" + d["seed_hex"][2:]), "seed_hex is not hexadecimal"),
    (lambda d: d.update(seed_hex=None), "seed_hex must be 64 hexadecimal"),
    (lambda d: d.pop("public_key_hex"), "missing public_key_hex"),
    (lambda d: d.update(comment="hi"), "unknown comment"),
    (lambda d: d.update(format="pem"), "format is 'pem'"),
    (lambda d: d.update(key_type="secp256k1"), "only 'ed25519'"),
    (lambda d: d.update(version=2), "version 2"),
    (lambda d: d.update(version=True), "version True"),
])
def test_load_refuses_inconsistent_documents(tmp_path, keypair, change, expected):
    document = _good_document(keypair)
    change(document)
    path = _write_0600(tmp_path / "node.key", json.dumps(document).encode())
    with pytest.raises(CorruptKeyFileError, match=expected) as info:
        load_keypair(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("data", [
    b"", b"   \n", b"\xff\xfe garbage", b"[1, 2, 3]", b'"a string"', b"[" * 10000,
    b"-----BEGIN PRIVATE KEY-----\n"  # a PKCS#8 key is not this format
    b"MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n",
])
def test_load_refuses_garbage(tmp_path, data):
    path = _write_0600(tmp_path / "node.key", data)
    with pytest.raises(CorruptKeyFileError, match="corrupt") as info:
        load_keypair(path)
    assert str(path) in str(info.value)


def test_load_refuses_every_truncation(tmp_path, keypair):
    full = save_keypair(keypair, tmp_path / "full.key").read_bytes()
    for cut in range(len(full.rstrip())):
        path = _write_0600(tmp_path / "cut.key", full[:cut])
        with pytest.raises(CorruptKeyFileError):
            load_keypair(path)


def test_load_refuses_huge_files(tmp_path):
    path = _write_0600(tmp_path / "node.key", b" " * (1 << 17))
    with pytest.raises(CorruptKeyFileError, match="larger than"):
        load_keypair(path)


def test_key_file_errors_are_identity_errors():
    for cls in (KeyFileError, InsecureKeyFileError, CorruptKeyFileError, InvalidKeyError):
        assert issubclass(cls, IdentityError)
    assert issubclass(InsecureKeyFileError, KeyFileError)
    assert issubclass(CorruptKeyFileError, KeyFileError)


# --- package surface ----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_imports_nothing_from_higher_layers():
    for path in (ROOT / "coverage_net" / "identity").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("coverage_net.cli", "coverage_net.node",
                                                   "coverage_net.messages", "radio_sim",
                                                   "firmware_bridge")), path


def test_peer_id_matches_py_libp2p():
    # computed with py-libp2p 0.8.1: ID.from_pubkey(create_new_key_pair(b"\x01" * 32).public_key)
    kp = Keypair.from_seed(b"\x01" * 32)
    assert kp.public_key.hex() == (
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")
    assert str(kp.peer_id) == "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"

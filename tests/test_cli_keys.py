"""`coverage-net keys generate|show`, in-process through click's CliRunner, under the
top-level group (which turns every project error into the one `error:` line).

Errors must reach the user as one line starting with "error:" and exit 1; click usage
errors (a malformed --seed-hex) exit 2. The key files are the identity package's, so
every file the CLI writes must load with `load_keypair`.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from coverage_net.cli._main import main
from coverage_net.identity import KEY_FILE_MODE, Keypair, load_keypair

SEED_01 = "01" * 32
PEER_ID_01 = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5"


def _invoke(*args) -> Result:
    return CliRunner().invoke(main, ["keys", *map(str, args)])


def assert_one_error_line(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line
    return line


def _fields(stdout: str) -> dict[str, str]:
    """The "name: value" lines of the text report."""
    return {name.strip(): value.strip()
            for name, _, value in (line.partition(":") for line in stdout.splitlines())}


# --- generate and show ---------------------------------------------------------------------


def test_generate_then_show_round_trips(tmp_path):
    path = tmp_path / "node" / "key.json"
    path.parent.mkdir()
    made = _invoke("generate", "--out", path)
    assert made.exit_code == 0, made.stderr
    assert made.stderr == ""
    keypair = load_keypair(path)
    generated = _fields(made.stdout)
    assert generated == {"peer id": keypair.peer_id, "public key": keypair.public_key.hex(),
                         "key file": str(path)}
    shown = _invoke("show", path)
    assert shown.exit_code == 0, shown.stderr
    assert _fields(shown.stdout) == generated
    assert keypair.seed().hex() not in made.stdout + shown.stdout  # the secret stays put


def test_generated_file_is_mode_0600(tmp_path):
    path = tmp_path / "key.json"
    assert _invoke("generate", "--out", path).exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == KEY_FILE_MODE == 0o600


def test_default_path_is_key_json_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = _invoke("generate")
    assert made.exit_code == 0, made.stderr
    assert (tmp_path / "key.json").is_file()
    shown = _invoke("show", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        "peer_id": load_keypair(tmp_path / "key.json").peer_id,
        "public_key": load_keypair(tmp_path / "key.json").public_key.hex(),
        "path": "key.json"}


def test_each_generate_is_a_new_identity(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert _invoke("generate", "--out", a).exit_code == 0
    assert _invoke("generate", "--out", b).exit_code == 0
    assert load_keypair(a) != load_keypair(b)


def test_show_json_parses(tmp_path):
    path = tmp_path / "key.json"
    assert _invoke("generate", "--out", path, "--seed-hex", SEED_01).exit_code == 0
    result = _invoke("show", "--json", path)
    assert result.exit_code == 0, result.stderr
    keypair = Keypair.from_seed(bytes.fromhex(SEED_01))
    assert json.loads(result.stdout) == {"peer_id": PEER_ID_01,
                                         "public_key": keypair.public_key.hex(),
                                         "path": str(path)}


def test_generate_json_matches_show_json(tmp_path):
    path = tmp_path / "key.json"
    made = _invoke("generate", "--out", path, "--json")
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout) == json.loads(_invoke("show", path, "--json").stdout)


# --- overwriting -----------------------------------------------------------------------------


def test_generate_refuses_to_replace_a_key_without_force(tmp_path):
    path = tmp_path / "key.json"
    assert _invoke("generate", "--out", path).exit_code == 0
    before = path.read_bytes()
    result = _invoke("generate", "--out", path)
    assert_one_error_line(result, str(path), "already exists", "--force")
    assert result.stdout == ""
    assert path.read_bytes() == before


def test_generate_refuses_to_replace_any_existing_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("keep me")
    assert_one_error_line(_invoke("generate", "--out", path), str(path), "already exists")
    assert path.read_text() == "keep me"


def test_force_replaces_the_key(tmp_path):
    path = tmp_path / "key.json"
    assert _invoke("generate", "--out", path).exit_code == 0
    old = load_keypair(path)
    result = _invoke("generate", "--out", path, "--force")
    assert result.exit_code == 0, result.stderr
    new = load_keypair(path)
    assert new != old
    assert _fields(result.stdout)["peer id"] == new.peer_id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.json"]  # no temporary left


def test_generate_into_a_missing_directory_is_one_error_line(tmp_path):
    path = tmp_path / "nowhere" / "key.json"
    assert_one_error_line(_invoke("generate", "--out", path), str(path), "does not exist")


# --- --seed-hex --------------------------------------------------------------------------------


def test_seed_hex_gives_the_known_peer_id(tmp_path):
    for name in ("a.json", "b.json"):
        result = _invoke("generate", "--out", tmp_path / name, "--seed-hex", SEED_01)
        assert result.exit_code == 0, result.stderr
        assert _fields(result.stdout)["peer id"] == PEER_ID_01
        assert load_keypair(tmp_path / name).peer_id == PEER_ID_01
        assert "test networks" in result.stderr  # a warning, not silence
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_seed_hex_accepts_upper_case(tmp_path):
    seed = "AB" * 32
    result = _invoke("generate", "--out", tmp_path / "k.json", "--seed-hex", seed)
    assert result.exit_code == 0, result.stderr
    assert load_keypair(tmp_path / "k.json") == Keypair.from_seed(bytes.fromhex(seed))


@pytest.mark.parametrize(("seed", "fragment"), [
    ("01" * 31, "64 hexadecimal characters"),
    ("01" * 33, "64 hexadecimal characters"),
    ("", "64 hexadecimal characters"),
    ("zz" * 32, "not hexadecimal"),
    ("01 " * 21 + "0", "not hexadecimal"),  # 64 characters, but bytes.fromhex skips spaces
], ids=["short", "long", "empty", "not-hex", "spaces"])
def test_bad_seed_hex_is_a_usage_error_naming_the_problem(tmp_path, seed, fragment):
    path = tmp_path / "key.json"
    result = _invoke("generate", "--out", path, "--seed-hex", seed)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    assert "--seed-hex" in result.stderr and fragment in result.stderr
    if len(seed) == 64:
        assert seed not in result.stderr  # a near-miss of a real seed is not echoed
    assert not path.exists()


def test_help_texts_explain_the_commands():
    assert "generate" in _invoke("--help").stdout and "show" in _invoke("--help").stdout
    generate_help = " ".join(_invoke("generate", "--help").stdout.split())
    for fragment in ("--out", "--force", "--seed-hex", "reproducible test networks",
                     "Not for production keys", "key.json"):
        assert fragment in generate_help
    show_help = " ".join(_invoke("show", "--help").stdout.split())
    assert "--json" in show_help and "key.json" in show_help


# --- show on a bad file ------------------------------------------------------------------------


def _key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key.json"
    assert _invoke("generate", "--out", path).exit_code == 0
    return path


def test_show_a_missing_file_is_one_error_line(tmp_path):
    path = tmp_path / "absent.json"
    result = _invoke("show", path)
    assert_one_error_line(result, str(path))
    assert result.stdout == ""


@pytest.mark.parametrize("text", ["", "{not json", '{"format": "something-else"}'],
                         ids=["empty", "truncated", "other-format"])
def test_show_a_corrupt_file_is_one_error_line(tmp_path, text):
    path = _key_file(tmp_path)
    path.write_text(text)
    result = _invoke("show", path)
    assert_one_error_line(result, str(path), "corrupt")
    assert result.stdout == ""


def test_show_an_edited_peer_id_is_refused(tmp_path):
    path = _key_file(tmp_path)
    document = json.loads(path.read_text())
    document["peer_id"] = PEER_ID_01
    path.write_text(json.dumps(document))
    assert_one_error_line(_invoke("show", path), str(path), "peer_id")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_show_a_file_others_can_read_is_one_error_line(tmp_path, mode):
    path = _key_file(tmp_path)
    path.chmod(mode)
    result = _invoke("show", path)
    assert_one_error_line(result, str(path), f"{mode:04o}", "chmod 600")
    assert result.stdout == ""


def test_show_a_directory_is_one_error_line(tmp_path):
    assert_one_error_line(_invoke("show", tmp_path), str(tmp_path), "not a regular file")

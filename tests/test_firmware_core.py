"""The firmware's C protocol core, built with the system C compiler and run on the host.

`firmware_bridge/firmware/core/test_vectors_main.c` wraps the core in a line
protocol (one command per line in, one line out; its header lists the
commands). The core is compiled with the flags a careful firmware build uses
(warnings are errors) and once more under AddressSanitizer and UBSan, and every
test runs against both builds: byte for byte against the shared vectors
(`tests/vectors/native_frames.json`, written from the Python implementation),
and against the framing rules of PROTOCOL.md written out plainly below.
"""

from __future__ import annotations

import binascii
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "firmware_bridge" / "firmware" / "core"
SOURCES = [CORE / "cn_protocol.c", CORE / "test_vectors_main.c"]
VECTORS = ROOT / "tests" / "vectors" / "native_frames.json"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer", "-g"]
SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
                 "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}

DEVICE_TO_HOST = {0x80, 0x81, 0x84, 0x85, 0x90, 0xFF}
HOST_TO_DEVICE = {0x01, 0x02, 0x03, 0x04, 0x05}

# ---- PROTOCOL.md, written out plainly (hand-derived reference) -------------------------

MAX_RAW, MAX_ENCODED = 328, 330


def crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def cobs(data: bytes) -> bytes:
    """The reference encoder: FF after 254 data bytes, every block its own code byte."""
    out = bytearray()
    for block in data.split(b"\x00"):
        while len(block) >= 254:
            out += b"\xff" + block[:254]
            block = block[254:]
        out += bytes([len(block) + 1]) + block
    return bytes(out)


def uncobs(enc: bytes) -> bytes | None:
    out, i = bytearray(), 0
    while i < len(enc):
        code = enc[i]
        if code == 0 or i + code > len(enc):
            return None
        out += enc[i + 1:i + code]
        i += code
        if code != 0xFF and i < len(enc):
            out.append(0)
    return bytes(out) if enc else None


def raw_frame(msg_type: int, seq: int, body: bytes = b"", *, version: int = 1,
              length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    head = bytes([version, msg_type]) + seq.to_bytes(2, "little") + n.to_bytes(2, "little")
    return head + body + crc16(head + body).to_bytes(2, "little")


def wire(raw: bytes) -> bytes:
    return cobs(raw) + b"\x00"


def frame_event(raw: bytes) -> str:
    return f"{raw[1]} {int.from_bytes(raw[2:4], 'little')} {raw[6:-2].hex() or '-'}"


def expected_events(stream: bytes) -> list[str]:
    """What a decoder must report for `stream`, by the rules of PROTOCOL.md "Framing"."""
    events, part, discarding = [], bytearray(), False
    for b in stream:
        if b:
            if not discarding and len(part) == MAX_ENCODED:
                events.append("DROP oversize")
                part.clear()
                discarding = True
            elif not discarding:
                part.append(b)
            continue
        if not discarding and part:
            events.append(_judge(bytes(part)))
        part.clear()
        discarding = False
    return events


def _judge(enc: bytes) -> str:
    raw = uncobs(enc)
    if raw is None:
        return "DROP cobs_error"
    if len(raw) < 8:
        return "DROP truncated"
    if len(raw) > MAX_RAW:
        return "DROP oversize"
    if raw[0] != 1:
        return "DROP bad_version"
    if int.from_bytes(raw[4:6], "little") != len(raw) - 8:
        return "DROP bad_length"
    if crc16(raw[:-2]) != int.from_bytes(raw[-2:], "little"):
        return "DROP bad_crc"
    return frame_event(raw)


def h(data: bytes) -> str:
    return data.hex() or "-"


def events(line: str) -> list[str]:
    return [] if line == "NONE" else line.split(" ; ")


# ---- building and running the core -----------------------------------------------------


class Core:
    """The compiled test driver: `run(commands)` returns one output line per command."""

    def __init__(self, exe: Path, env: dict[str, str]) -> None:
        self.exe = exe
        self.env = env

    def run(self, commands: list[str]) -> list[str]:
        proc = subprocess.run([str(self.exe)], input="".join(c + "\n" for c in commands),
                              capture_output=True, text=True, env=self.env, check=False)
        assert proc.returncode == 0, f"{self.exe.name} failed:\n{proc.stderr}"
        assert proc.stderr == "", proc.stderr
        lines = proc.stdout.splitlines()
        assert len(lines) == len(commands), proc.stdout
        return lines

    def one(self, command: str) -> str:
        return self.run([command])[0]


def _compile(cc: str, flags: list[str], out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([cc, *flags, *map(str, SOURCES), "-o", str(out)],
                          capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def cc() -> str:
    path = shutil.which("cc")
    if path is None:
        pytest.skip("no C compiler: `cc` is not on PATH, so the firmware core cannot be built")
    return path


@pytest.fixture(scope="session", params=["strict", "sanitized"])
def core(request, cc, tmp_path_factory) -> Core:
    out_dir = tmp_path_factory.mktemp("firmware_core")
    env = dict(os.environ)
    flags = list(CFLAGS)
    if request.param == "sanitized":
        flags += SANITIZE
        env.update(SANITIZER_ENV)
    exe = out_dir / f"test_vectors_{request.param}"
    proc = _compile(cc, flags, exe)
    if request.param == "sanitized" and proc.returncode != 0:
        probe = _compile(cc, list(CFLAGS), out_dir / "probe")
        if probe.returncode == 0:  # the plain build works: the sanitizers are missing
            pytest.skip(f"{cc} cannot build with {' '.join(SANITIZE[:1])}: "
                        f"{proc.stderr.strip().splitlines()[-1:]}")
    assert proc.returncode == 0, f"compiling the core failed:\n{proc.stderr}"
    core = Core(exe, env)
    if request.param == "sanitized":
        probe = subprocess.run([str(exe)], input="crc 00\n", capture_output=True, text=True,
                               env=env, check=False)
        if probe.returncode != 0 and "Sanitizer" in probe.stderr:
            pytest.skip(f"sanitized binaries cannot run here: {probe.stderr.strip()[:200]}")
    return core


@pytest.fixture(scope="session")
def vectors() -> dict:
    if not VECTORS.is_file():
        pytest.skip(f"{VECTORS.relative_to(ROOT)} not found: the shared vectors are written by "
                    "tests/vectors/make_native_vectors.py")
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert data["protocol_version"] == 1
    return data


def by_direction(vectors: dict, types: set[int]) -> list[dict]:
    frames = [f for f in vectors["frames"] if f["type"] in types]
    assert frames
    return frames


# ---- hand-derived values ---------------------------------------------------------------


def test_crc_check_value_and_a_frame_worked_by_hand(core):
    ping = raw_frame(0x05, 7, b"hi")
    assert ping.hex() == "010507000200" + "6869" + "6f55"
    assert core.run(["crc 313233343536373839", "frame 5 7 6869", "cobs_enc 11220033"]) == [
        str(0x29B1), "0401050702020568696f5500", "0311220233"]


# ---- the shared vectors ------------------------------------------------------------------


def test_cobs_matches_shared_vectors_both_ways(core, vectors):
    cases = vectors["cobs"]
    out = core.run([f"cobs_enc {h(bytes.fromhex(c['raw']))}" for c in cases]
                   + [f"cobs_dec {h(bytes.fromhex(c['encoded']))}" for c in cases])
    assert out == [h(bytes.fromhex(c["encoded"])) for c in cases] + [
        h(bytes.fromhex(c["raw"])) for c in cases]


def test_cobs_decoder_accepts_the_short_form_of_a_final_254_run(core):
    data = bytes(range(1, 255))
    assert core.run([f"cobs_dec ff{data.hex()}", f"cobs_dec ff{data.hex()}01"]) == [
        data.hex(), data.hex()]


@pytest.mark.parametrize("enc", ["-", "00", "0511", "021100", "03110000"])
def test_cobs_decoder_refuses_what_no_encoder_produces(core, enc):
    assert core.one(f"cobs_dec {enc}") == "ERR cobs_error"


def test_crc16_matches_shared_vectors(core, vectors):
    cases = vectors["crc16"]
    assert core.run([f"crc {h(bytes.fromhex(c['data']))}" for c in cases]) == [
        str(c["crc"]) for c in cases]


def test_frame_encoder_matches_every_shared_wire_frame(core, vectors):
    frames = vectors["frames"]
    out = core.run([f"frame {f['type']} {f['seq']} {h(bytes.fromhex(f['body']))}"
                    for f in frames])
    assert out == [f["wire"] for f in frames]
    for f in frames:  # the file agrees with itself: wire = COBS(raw) 00, raw = header body crc
        assert bytes.fromhex(f["wire"]) == wire(bytes.fromhex(f["raw"]))
        assert bytes.fromhex(f["raw"])[6:-2] == bytes.fromhex(f["body"])


def test_decoder_and_parser_read_every_shared_frame(core, vectors):
    frames = vectors["frames"]
    out = core.run([f"decode {f['wire']}" for f in frames]
                   + [f"parse {f['raw']}" for f in frames])
    want = [f"{f['type']} {f['seq']} {h(bytes.fromhex(f['body']))}" for f in frames]
    assert out == want + want


def _device_command(f: dict) -> str:
    v, seq = f["fields"], f["seq"]
    text = lambda s: h(s.encode("utf-8"))  # noqa: E731
    if f["type"] == 0x80:
        return f"enc_ack {seq}"
    if f["type"] == 0x81:
        assert v["fw_len"] == len(v["firmware_version"].encode())
        assert v["chip_len"] == len(v["radio_chip"].encode())
        return (f"enc_info {seq} {v['protocol_version']} {text(v['firmware_version'])} "
                f"{text(v['radio_chip'])} {v['regions']} {v['max_payload']}")
    if f["type"] == 0x84:
        return (f"enc_tx_done {seq} {v['airtime_us']} {v['radio_timestamp_us']} "
                f"{v['tx_power_dbm']}")
    if f["type"] == 0x85:
        return f"enc_pong {seq} {h(bytes.fromhex(v['data']))}"
    if f["type"] == 0x90:
        return (f"enc_rx {seq} {v['radio_timestamp_us']} {v['freq_hz']} {v['rssi_cdbm']} "
                f"{v['snr_cdb']} {v['freq_error_hz']} {v['spreading_factor']} "
                f"{v['bandwidth_hz']} {v['coding_rate']} {v['flags']} "
                f"{h(bytes.fromhex(v['payload']))}")
    assert f["type"] == 0xFF
    return f"enc_nack {seq} {v['code']} {text(v['detail'])}"


def test_device_message_encoders_match_shared_vectors(core, vectors):
    frames = by_direction(vectors, DEVICE_TO_HOST)
    assert {f["type"] for f in frames} == DEVICE_TO_HOST
    out = core.run([_device_command(f) for f in frames])
    assert out == [f"{h(bytes.fromhex(f['body']))} {f['wire']}" for f in frames]


def test_request_decoders_match_shared_vectors(core, vectors):
    frames = by_direction(vectors, HOST_TO_DEVICE)
    assert {f["type"] for f in frames} == HOST_TO_DEVICE
    out = core.run([f"dec {f['type']} {h(bytes.fromhex(f['body']))}" for f in frames])
    for f, line in zip(frames, out, strict=True):
        if f["type"] == 0x02:
            assert line == "-"
            continue
        got = dict(kv.split("=", 1) for kv in line.split())
        want = {k: (h(bytes.fromhex(x)) if k in ("payload", "data") else str(x))
                for k, x in f["fields"].items()}
        assert got == want, f["name"]


def test_configure_vectors_pass_the_range_check(core, vectors):
    frames = [f for f in vectors["frames"] if f["type"] == 0x03]
    assert core.run([f"check_configure {f['body']}" for f in frames]) == ["OK"] * len(frames)


# ---- the streaming decoder ---------------------------------------------------------------

GOOD = raw_frame(0x05, 0x1234, b"\x00ping\x00\x00!")
BAD_FRAMES = {  # each with the one reason PROTOCOL.md gives for dropping it
    "cobs_error": b"\x05\x11\x22\x00",
    "truncated": wire(raw_frame(0x02, 1)[:7]),
    "bad_version": wire(raw_frame(0x02, 1, version=2)),
    "bad_length": wire(raw_frame(0x05, 1, b"abc", length=2)),
    "bad_crc": wire(GOOD[:-1] + bytes([GOOD[-1] ^ 0x01])),
    "oversize": b"\x01" * (MAX_ENCODED + 70) + b"\x00",
}


@pytest.mark.parametrize("reason", sorted(BAD_FRAMES))
def test_each_bad_frame_is_dropped_for_its_reason_and_the_next_frame_decodes(core, reason):
    counters = "cobs_error truncated bad_version bad_length bad_crc oversize".split()
    out = core.run(["init", f"feed {BAD_FRAMES[reason].hex()}", f"feed {wire(GOOD).hex()}",
                    "stats"])
    assert out[1:3] == [f"DROP {reason}", frame_event(GOOD)]
    stats = dict(kv.split("=") for kv in out[3].split())
    assert stats == {"frames": "1", **{c: str(int(c == reason)) for c in counters}}


def test_329_raw_bytes_in_330_encoded_are_oversize(core):
    enc = b"\x01" * MAX_ENCODED  # 329 zero bytes: short enough to arrive, too long to be a frame
    assert core.one(f"decode {enc.hex()}00") == "DROP oversize"


def test_garbage_between_frames_is_counted_and_skipped(core):
    garbage = bytes((i * 37 + 11) % 256 for i in range(2000))
    stream = wire(GOOD) + garbage + b"\x00" + wire(GOOD) + b"\x00\x00\x00" + GOOD[3:] + b"\x00"
    stream += wire(GOOD)
    want = expected_events(stream)
    assert want.count(frame_event(GOOD)) == 3 and len(want) > 4
    assert events(core.one(f"decode {stream.hex()}")) == want


def test_empty_frames_are_the_resync_idiom_not_errors(core):
    out = core.run(["init", "feed 00000000", f"feed 00{wire(GOOD).hex()}", "stats"])
    assert out[1:3] == ["NONE", frame_event(GOOD)]
    assert out[3].startswith("frames=1 cobs_error=0 truncated=0")


def test_every_single_bit_flip_is_dropped_for_the_expected_reason(core):
    good = wire(GOOD)
    streams = []
    for i in range(len(good) - 1):  # flips of the delimiter just merge two frames
        for bit in range(8):
            bad = bytearray(good)
            bad[i] ^= 1 << bit
            streams.append(bytes(bad) + good)
    out = core.run([f"decode {s.hex()}" for s in streams])
    reasons = set()
    for stream, line in zip(streams, out, strict=True):
        got = events(line)
        assert got == expected_events(stream)
        assert got[-1] == frame_event(GOOD)
        assert frame_event(GOOD) not in got[:-1] and all(e.startswith("DROP ") for e in got[:-1])
        reasons.update(got[:-1])
    assert {"DROP bad_crc", "DROP bad_version", "DROP bad_length", "DROP cobs_error"} <= reasons


def test_a_frame_split_at_every_byte_boundary_decodes(core, vectors):
    longest = max(vectors["frames"], key=lambda f: len(f["wire"]))
    for raw in (GOOD, bytes.fromhex(longest["raw"])):
        w = wire(raw)
        commands = []
        for k in range(len(w) + 1):
            commands += ["reset", f"feed {h(w[:k])}", f"feed {h(w[k:])}"]
        out = core.run(commands)
        for k in range(len(w) + 1):
            first, second = out[3 * k + 1], out[3 * k + 2]
            assert events(first) + events(second) == [frame_event(raw)], k
        byte_by_byte = core.run([f"feed {bytes([b]).hex()}" for b in w])
        assert byte_by_byte == ["NONE"] * (len(w) - 1) + [frame_event(raw)]


def test_all_shared_frames_back_to_back_in_one_stream(core, vectors):
    stream = b"".join(bytes.fromhex(f["wire"]) for f in vectors["frames"])
    want = [f"{f['type']} {f['seq']} {h(bytes.fromhex(f['body']))}" for f in vectors["frames"]]
    assert events(core.one(f"decode {stream.hex()}")) == want


# ---- the device: requests, refusals, the response cache ----------------------------------


def _req(msg_type: int, seq: int, body: bytes = b"") -> str:
    return f"dev_feed {wire(raw_frame(msg_type, seq, body)).hex()}"


def _configure(sf: int = 10, flags: int = 0, power: int = 20) -> bytes:
    return (903_900_000).to_bytes(4, "little") + bytes([sf]) + (125_000).to_bytes(4, "little") \
        + bytes([5, power & 0xFF, 0x34]) + (8).to_bytes(2, "little") + bytes([flags])


def _sent(line: str) -> bytes:
    assert line.startswith("SEND "), line
    return bytes.fromhex(line.split()[1])


def _reply(line: str) -> bytes:
    """The raw frame of a SEND line (checked by the reference decoder)."""
    w = _sent(line)
    assert w.endswith(b"\x00") and b"\x00" not in w[:-1]
    raw = uncobs(w[:-1])
    assert raw is not None and _judge(w[:-1]) == frame_event(raw)
    return raw


def test_hello_get_info_and_ping_are_answered_by_the_core(core):
    out = core.run(["dev_init", _req(0x01, 1, b"\x01"), _req(0x02, 2), _req(0x05, 3, b"\x00x"),
                    _req(0x02, 4, b"\x00"), _req(0x01, 5)])
    info = _reply(out[1])
    body = info[6:-2]
    assert info[1:4] == b"\x81\x01\x00"
    assert body == bytes([1, 11]) + b"cn-test 1.0" + bytes([6]) + b"SX1276" + b"\x3f\x00\xff"
    assert _reply(out[2])[6:-2] == body and _reply(out[2])[2] == 2
    assert _reply(out[3]) == raw_frame(0x85, 3, b"\x00x")
    assert _reply(out[4])[1] == 0xFF and _reply(out[4])[6] == 5  # BAD_FRAME
    assert _reply(out[5])[6] == 5


def test_configure_is_carried_out_once_and_a_repeat_answered_from_memory(core):
    body = _configure()
    out = core.run(["dev_init", _req(0x03, 9, body), "dev_ack 9", _req(0x03, 9, body),
                    "dev_stats"])
    assert out[1] == ("ACT CONFIGURE 9 freq_hz=903900000 spreading_factor=10 "
                      "bandwidth_hz=125000 coding_rate=5 tx_power_dbm=20 sync_word=52 "
                      "preamble_symbols=8 flags=0")
    assert bytes.fromhex(out[2]) == wire(raw_frame(0x80, 9))
    assert _sent(out[3]) == wire(raw_frame(0x80, 9))
    assert "repeats=1" in out[4]


def test_a_retried_transmit_never_goes_on_the_air_twice(core):
    payload = bytes(range(40))
    out = core.run([
        "dev_init",
        _req(0x04, 20, payload),            # 1 carried out
        _req(0x04, 20, payload),            # 2 a repeat while on the air: no second transmit
        _req(0x04, 21, b"other"),           # 3 BUSY
        _req(0x03, 22, _configure()),       # 4 BUSY
        _req(0x05, 23, b"p"),               # 5 PING still answered
        "dev_tx_done 20 370688 1700000123456 20",  # 6
        _req(0x04, 20, payload),            # 7 a late repeat: the same TX_DONE from memory
        _req(0x04, 21, b"other"),           # 8 the BUSY retry is carried out
        "dev_stats",
    ])
    assert out[1] == f"ACT TRANSMIT 20 {payload.hex()}"
    assert out[2] == "IGNORE pending"
    for line, seq in ((out[3], 21), (out[4], 22)):
        assert _reply(line) == raw_frame(0xFF, seq, b"\x01transmitting")
    assert _reply(out[5]) == raw_frame(0x85, 23, b"p")
    tx_done = bytes.fromhex(out[6])
    assert tx_done == wire(raw_frame(0x84, 20, (370688).to_bytes(4, "little")
                                     + (1700000123456).to_bytes(8, "little") + bytes([20])))
    assert _sent(out[7]) == tx_done
    assert out[8] == f"ACT TRANSMIT 21 {b'other'.hex()}"
    assert "transmitting=1 tx_seq=21" in out[9] and "busy=2 repeats=2" in out[9]


def test_the_cache_remembers_the_last_eight_seqs_only(core):
    body = _configure()
    commands = ["dev_init", _req(0x04, 100, b"tx"), "dev_tx_done 100 1 2 3"]
    for seq in range(101, 108):  # 7 more: seq 100 is still among the last 8
        commands += [_req(0x03, seq, body), f"dev_ack {seq}"]
    commands += [_req(0x04, 100, b"tx"), _req(0x03, 108, body), "dev_ack 108",
                 _req(0x04, 100, b"tx")]
    out = core.run(commands)
    assert out[-4].startswith("SEND ")  # answered from memory
    assert out[-1] == "ACT TRANSMIT 100 7478"  # evicted by the ninth: carried out again


def test_a_new_request_reusing_a_seq_is_carried_out(core):
    out = core.run(["dev_init", _req(0x04, 5, b"a"), "dev_tx_done 5 1 2 3", _req(0x04, 5, b"b")])
    assert out[3] == "ACT TRANSMIT 5 62"


def test_hello_starts_a_session_with_an_empty_cache(core):
    out = core.run(["dev_init", _req(0x04, 1, b"a"), "dev_tx_done 1 1 2 3",
                    _req(0x01, 1, b"\x01"), _req(0x04, 1, b"a")])
    assert _reply(out[3])[1] == 0x81
    assert out[4] == "ACT TRANSMIT 1 61"


def test_radio_failure_ends_the_transmission_and_is_remembered(core):
    out = core.run(["dev_init", _req(0x04, 7, b"a"), "dev_nack 7 4 " + h(b"SPI timeout"),
                    _req(0x04, 7, b"a"), "dev_stats"])
    nack = wire(raw_frame(0xFF, 7, b"\x04SPI timeout"))
    assert bytes.fromhex(out[2]) == nack and _sent(out[3]) == nack
    assert "transmitting=0" in out[4]


@pytest.mark.parametrize(("msg_type", "body", "code", "detail"), [
    (0x03, _configure()[:14], 5, b"CONFIGURE body is 15 bytes"),
    (0x03, _configure(sf=13), 2, b"spreading_factor"),
    (0x03, _configure(power=23), 2, b"tx_power_dbm"),
    (0x03, _configure(flags=0x02), 3, b"flags"),
    (0x04, b"", 2, b"payload is 1..255 bytes"),
    (0x04, bytes(256), 2, b"payload is 1..255 bytes"),
    (0x06, b"", 6, b"unknown type"),
    (0x7F, b"\x01", 6, b"unknown type"),
])
def test_requests_the_device_refuses(core, msg_type, body, code, detail):
    out = core.run(["dev_init", _req(msg_type, 42, body), "dev_stats"])
    assert _reply(out[1]) == raw_frame(0xFF, 42, bytes([code]) + detail)
    assert "transmitting=0" in out[2]


def test_device_to_host_types_are_dropped_without_an_answer(core):
    out = core.run(["dev_init", _req(0x80, 1), _req(0xFF, 2, b"\x01"), _req(0x90, 3),
                    "dev_stats"])
    assert out[1:4] == ["IGNORE unknown_type"] * 3
    assert "unknown_type=3" in out[4]


def test_device_framing_drops_are_counted_and_not_answered(core):
    stream = BAD_FRAMES["bad_crc"] + BAD_FRAMES["truncated"]
    assert core.run(["dev_init", f"dev_feed {stream.hex()}"])[1] == (
        "DROP bad_crc ; DROP truncated")


def test_nack_detail_is_cut_to_fit_the_cache_at_a_character_boundary(core):
    detail = "é" * 30  # 60 bytes of two-byte characters
    out = core.run(["dev_init", _req(0x04, 3, b"x"), f"dev_nack 3 4 {h(detail.encode())}"])
    body = bytes.fromhex(out[2])
    raw = uncobs(body[:-1])
    text = raw[7:-2]
    assert len(text) == 22 and text.decode("utf-8") == "é" * 11


def test_rx_events_carry_the_devices_own_counter_wrapping_past_zero(core, vectors):
    rx = next(f for f in vectors["frames"] if f["name"] == "rx_crc_error_positive_snr")
    v = rx["fields"]
    args = (f"{v['radio_timestamp_us']} {v['freq_hz']} {v['rssi_cdbm']} {v['snr_cdb']} "
            f"{v['freq_error_hz']} {v['spreading_factor']} {v['bandwidth_hz']} "
            f"{v['coding_rate']} {v['flags']} {v['payload']}")
    out = core.run(["dev_init"] + [f"dev_rx {args}"] * 65537)
    seqs = [int.from_bytes(uncobs(bytes.fromhex(x)[:-1])[2:4], "little") for x in out[1:]]
    assert seqs[:3] == [1, 2, 3] and seqs[65534:] == [65535, 1, 2]
    body = bytes.fromhex(rx["body"])
    assert bytes.fromhex(out[1]) == wire(raw_frame(0x90, 1, body))


# ---- the clock ---------------------------------------------------------------------------


def test_clock_extends_micros_across_wraps_and_dates_interrupt_stamps(core):
    out = core.run(["clock_init 4294967000", "clock_update 4294967200", "clock_update 100",
                    "clock_extend 4294967290", "clock_extend 50", "clock_update 150",
                    "clock_update 5"])
    assert out[1:] == ["4294967200", str(2**32 + 100), "4294967290", str(2**32 + 50),
                       str(2**32 + 150), str(2**33 + 5)]


# ---- what the firmware build relies on ---------------------------------------------------


def test_core_object_uses_no_mutable_globals_and_no_library_beyond_memset(cc, tmp_path):
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("`nm` is not on PATH: cannot list the object's symbols")
    obj = tmp_path / "cn_protocol.o"
    subprocess.run([cc, *CFLAGS, "-c", str(CORE / "cn_protocol.c"), "-o", str(obj)], check=True)
    symbols = subprocess.run([nm, str(obj)], capture_output=True, text=True,
                             check=True).stdout.split("\n")
    kinds = {line.split()[-2]: line for line in symbols if len(line.split()) >= 2}
    assert not {k for k in kinds if k in "BbDdCcGgSs"}, "the core has mutable globals"
    undefined = {line.split()[-1] for line in symbols if line.split()[-2:-1] == ["U"]}
    assert undefined <= {"memset", "memcpy"}, undefined


def test_header_compiles_as_cpp_for_the_sketch(tmp_path):
    cxx = shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler: `c++` is not on PATH")
    src = tmp_path / "sketch.cpp"
    src.write_text('#include "cn_protocol.h"\nint main() { cn_device d; cn_info i = {};\n'
                   '  return cn_device_init(&d, &i) == CN_OK ? 0 : 1; }\n', encoding="utf-8")
    proc = subprocess.run([cxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", f"-I{CORE}",
                           "-c", str(src), "-o", str(tmp_path / "sketch.o")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sketch.o").stat().st_size > 0

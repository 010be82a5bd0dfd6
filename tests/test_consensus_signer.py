"""Crash-safe signing: never two different signatures for one (height, round, step), even
across a process killed with SIGKILL between recording a vote and returning it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from consensus_helpers import block_id, make_genesis, validator_key

from coverage_net.consensus import (
    SIGNER_FILE_NAME,
    DoubleSignError,
    InvalidVoteError,
    Proposal,
    SignedVote,
    SignerStateError,
    Step,
    Vote,
    VoteKind,
    VoteSigner,
)

GENESIS = make_genesis(4)
TESTS = Path(__file__).resolve().parent


def _open(path: Path, index: int = 0, genesis=GENESIS) -> VoteSigner:
    return VoteSigner.open(path, validator_key(index), genesis)


def test_same_vote_twice_gives_the_same_signature(tmp_path):
    vote = Vote(VoteKind.PREVOTE, 3, 0, block_id("a"), 0)
    with _open(tmp_path) as signer:
        first = signer.sign_vote(vote)
        assert signer.sign_vote(vote) == first
        assert first.to_core(GENESIS) == vote
    with _open(tmp_path) as signer:
        assert signer.sign_vote(vote).signature == first.signature


def test_different_value_refused_across_reopen(tmp_path):
    with _open(tmp_path) as signer:
        signer.sign_vote(Vote(VoteKind.PREVOTE, 3, 0, block_id("a"), 0))
        signer.sign_vote(Vote(VoteKind.PRECOMMIT, 3, 0, None, 0))
    with _open(tmp_path) as signer:
        with pytest.raises(DoubleSignError, match="already signed prevote at height 3 round 0"):
            signer.sign_vote(Vote(VoteKind.PREVOTE, 3, 0, block_id("b"), 0))
        with pytest.raises(DoubleSignError, match="for nil"):
            signer.sign_vote(Vote(VoteKind.PRECOMMIT, 3, 0, block_id("a"), 0))
        with pytest.raises(DoubleSignError):
            signer.sign_vote(Vote(VoteKind.PREVOTE, 3, 0, None, 0))
        # another round, another step, another height: free
        signer.sign_vote(Vote(VoteKind.PREVOTE, 3, 1, block_id("b"), 0))
        signer.sign_vote(Vote(VoteKind.PREVOTE, 4, 0, block_id("b"), 0))
        assert [(r.height, r.round, r.step) for r in signer.records()] == [
            (3, 0, Step.PREVOTE), (3, 0, Step.PRECOMMIT), (3, 1, Step.PREVOTE),
            (4, 0, Step.PREVOTE)]


def test_proposals_checked_by_block_and_valid_round(tmp_path):
    proposal = Proposal(5, 2, block_id("a"), 1, 0)
    with _open(tmp_path) as signer:
        signed = signer.sign_proposal(proposal)
        assert signer.sign_proposal(proposal) == signed
        with pytest.raises(DoubleSignError, match="valid round 1"):
            signer.sign_proposal(Proposal(5, 2, block_id("a"), -1, 0))
        with pytest.raises(DoubleSignError):
            signer.sign_proposal(Proposal(5, 2, block_id("b"), 1, 0))
        signer.sign_vote(Vote(VoteKind.PREVOTE, 5, 2, block_id("b"), 0))  # a vote is another step


def test_wrong_sender_key_or_chain_refused(tmp_path):
    with _open(tmp_path) as signer:
        with pytest.raises(InvalidVoteError, match="this signer is validator 0"):
            signer.sign_vote(Vote(VoteKind.PREVOTE, 1, 0, None, 1))
    with pytest.raises(SignerStateError, match="validator_key"):
        _open(tmp_path, index=1)
    with pytest.raises(SignerStateError, match="chain_hash"):
        _open(tmp_path, genesis=make_genesis(4, chain_id="other"))
    with pytest.raises(SignerStateError, match="is not a validator"):
        VoteSigner.open(tmp_path / "x", validator_key(9), GENESIS)


def test_corrupt_file_refused(tmp_path):
    (tmp_path / SIGNER_FILE_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(SignerStateError, match="unreadable"):
        _open(tmp_path)


def test_two_signers_on_one_file_cannot_both_sign(tmp_path):
    with _open(tmp_path) as a, _open(tmp_path) as b:
        a.sign_vote(Vote(VoteKind.PREVOTE, 8, 0, block_id("a"), 0))
        with pytest.raises(DoubleSignError):
            b.sign_vote(Vote(VoteKind.PREVOTE, 8, 0, block_id("b"), 0))


# --- a real process, killed ----------------------------------------------------------

_CHILD = r'''
import hashlib, sys
from consensus_helpers import block_id, make_genesis, validator_key
from coverage_net.consensus import Vote, VoteKind, VoteSigner
from coverage_net.identity import Keypair

data_dir, mode, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
genesis = make_genesis(4)


class StallingKeypair(Keypair):
    """Validator 0's real key, which reports and then waits (for SIGKILL) before it signs:
    the signer calls it only after the vote is recorded."""

    def sign(self, data):
        print("recorded", flush=True)
        sys.stdin.readline()
        raise SystemExit("not killed")


if mode == "stall":
    keypair = StallingKeypair.from_seed(hashlib.sha256(b"validator 0").digest())
    VoteSigner.open(data_dir, keypair, genesis).sign_vote(
        Vote(VoteKind.PREVOTE, start, 0, block_id("a"), 0))
else:
    signer = VoteSigner.open(data_dir, validator_key(0), genesis)
    height = start
    while True:
        for kind in (VoteKind.PREVOTE, VoteKind.PRECOMMIT):
            signed = signer.sign_vote(Vote(kind, height, 0, block_id(f"{height}"), 0))
            print(height, kind.value, signed.signature.hex(), flush=True)
        height += 1
'''


def _child(data_dir: Path, mode: str, start: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(data_dir), mode, str(start)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def _kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    child.stdout.close()
    child.stdin.close()


def test_killed_after_recording_before_signing(tmp_path):
    child = _child(tmp_path, "stall", 11)
    assert child.stdout.readline() == "recorded\n"  # the record is committed; no signature yet
    _kill(child)
    with _open(tmp_path) as signer:
        with pytest.raises(DoubleSignError, match="height 11 round 0"):
            signer.sign_vote(Vote(VoteKind.PREVOTE, 11, 0, block_id("b"), 0))
        again = signer.sign_vote(Vote(VoteKind.PREVOTE, 11, 0, block_id("a"), 0))
        assert again.to_core(GENESIS).value_id == block_id("a")


def test_killed_while_signing_in_a_loop_never_double_signs(tmp_path):
    reported: dict[tuple[int, str], str] = {}
    for start in (0, 1_000, 2_000):
        child = _child(tmp_path, "loop", start)
        for _ in range(40 + start // 100):  # kill at a different point of the loop each time
            height, kind, signature = child.stdout.readline().split()
            reported[int(height), kind] = signature
        _kill(child)
    with _open(tmp_path) as signer:
        records = {(r.height, r.step): r.value_id for r in signer.records()}
        for (height, kind), signature in reported.items():
            vote = Vote(VoteKind(kind), height, 0, block_id(f"{height}"), 0)
            assert signer.sign_vote(vote).signature.hex() == signature
            with pytest.raises(DoubleSignError):
                signer.sign_vote(Vote(VoteKind(kind), height, 0, block_id("other"), 0))
        # recorded but maybe never returned (killed in between): still bound to its value
        for (height, step), value_id in records.items():
            kind = VoteKind.PREVOTE if step is Step.PREVOTE else VoteKind.PRECOMMIT
            assert value_id == block_id(f"{height}")
            with pytest.raises(DoubleSignError):
                signer.sign_vote(Vote(kind, height, 0, block_id("other"), 0))
        assert len(records) >= len(reported)
    db = sqlite3.connect(tmp_path / SIGNER_FILE_NAME)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


def test_signed_vote_from_the_signer_verifies(tmp_path):
    with _open(tmp_path, index=2) as signer:
        signed = signer.sign_vote(Vote(VoteKind.PRECOMMIT, 1, 0, block_id("z"), 2))
    assert SignedVote.from_cbor(signed.to_cbor()).to_core(GENESIS).sender == 2

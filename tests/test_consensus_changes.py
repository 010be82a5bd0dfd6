"""Changes of the validator set and the parameters (`ChainChange`): approvals by a quorum
in office, the files operators write and sign, the chain replaying the set of every
height, and certificates checked with the set in office at their height. (Validators
finalizing a change on the in-memory network: tests/test_consensus_chain.py.)"""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner, Result
from consensus_helpers import make_genesis, validator_key
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.cli import main
from coverage_net.consensus import (
    EMPTY_ROOT,
    ApprovedChange,
    Block,
    BlockBody,
    BlockError,
    ChainChange,
    ChainError,
    ChainStore,
    GenesisError,
    GenesisValidator,
    QuorumCertificate,
    SignedVote,
    Vote,
    VoteKind,
    changes_root,
    effective_config,
    load_change,
    save_change,
    save_genesis,
    state_root,
    verify_chain,
)
from coverage_net.identity import save_keypair
from coverage_net.poc import NetworkParams, params_from_dict


def _member(i: int) -> GenesisValidator:
    return GenesisValidator(validator_key(i).public_key, f"/ip4/127.0.0.1/tcp/{4001 + i}")


def _approved(genesis, change: ChainChange, approvers=(0, 1, 2)) -> ApprovedChange:
    approved = ApprovedChange(change, ())
    for i in approvers:
        approved = approved.approve(validator_key(i), genesis)
    return approved


SWAP = ChainChange(3, tuple(_member(i) for i in (1, 2, 3, 4)))
"""Validator 0 replaced by validator 4 from height 3."""


def test_a_change_needs_a_quorum_of_the_validators_in_office():
    genesis = make_genesis()
    assert _approved(genesis, SWAP).check(genesis, genesis, 1) is not None
    with pytest.raises(BlockError, match="approved by 2 of the 4 validators in office; it "
                                         "needs 3"):
        _approved(genesis, SWAP, (0, 1)).check(genesis, genesis, 1)
    # the newcomer's own approval does not count: it is not in office yet
    with pytest.raises(BlockError, match="approved by 2 of the 4"):
        _approved(genesis, SWAP, (0, 1, 4)).check(genesis, genesis, 1)
    with pytest.raises(BlockError, match="takes effect at height 3; a change goes into a "
                                         "block at least 2 heights before"):
        _approved(genesis, SWAP).check(genesis, genesis, 2)
    # a signature of another change (or another chain) is not an approval of this one
    other = _approved(make_genesis(chain_id="another"), SWAP)
    with pytest.raises(BlockError, match="is not its signature of this change on this chain"):
        other.check(genesis, genesis, 1)


def test_a_change_must_change_something_and_name_a_valid_set():
    with pytest.raises(GenesisError, match="changes nothing"):
        ChainChange(5)
    with pytest.raises(GenesisError, match="effective_height"):
        ChainChange(1, params_digest=bytes(32))
    with pytest.raises(GenesisError, match="already validators"):
        ChainChange(5, (_member(1), _member(1)))


def test_change_and_approval_files_round_trip(tmp_path):
    genesis = make_genesis()
    change = ChainChange(7, (_member(0), _member(5)), NetworkParams().digest())
    path = tmp_path / "change.toml"
    save_change(change, path)
    assert load_change(path) == change
    approved = _approved(genesis, change)
    approved.save_approvals(path)
    assert ApprovedChange.load(path) == approved
    (tmp_path / "change.toml.approvals").write_text("not hex\n")
    with pytest.raises(GenesisError, match=r"change.toml.approvals:1: expected"):
        ApprovedChange.load(path)
    path.write_text("effective_height = 7\nvalidatorz = 1\n")
    with pytest.raises(GenesisError, match="unknown key.*validatorz"):
        load_change(path)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_decoding_random_bytes_is_a_clear_error_or_a_change(data):
    try:
        decoded = ApprovedChange.from_cbor(data)
    except GenesisError as exc:
        assert str(exc).startswith(("approved change", "chain change", "change", "approval"))
    else:
        assert decoded.to_cbor() == data  # only the one canonical encoding decodes


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parsing_random_text_is_a_clear_error_or_a_change(text):
    try:
        parsed = ChainChange.from_toml(text)
    except GenesisError as exc:
        assert str(exc)  # a message naming what is wrong
    else:
        assert ChainChange.from_toml(parsed.to_toml()) == parsed


def test_effective_config_applies_changes_in_height_order():
    genesis = make_genesis()
    later = ChainChange(9, (_member(2), _member(3), _member(4)))
    params = ChainChange(5, params_digest=bytes(range(32)))
    assert effective_config(genesis, [later, SWAP, params], 2) == genesis
    at5 = effective_config(genesis, [later, SWAP, params], 5)
    assert at5.n == 4 and at5.key_of(3) == validator_key(4).public_key
    assert at5.params_digest == bytes(range(32)) and at5.hash() != genesis.hash()
    assert effective_config(genesis, [later, SWAP, params], 9).n == 3


def _qc(config, block: Block, signers) -> QuorumCertificate:
    votes = [SignedVote.create(Vote(VoteKind.PRECOMMIT, block.height, 0, block.block_id(),
                                    config.index_of(validator_key(k).public_key)),
                               config, validator_key(k)) for k in signers]
    return QuorumCertificate.from_votes(votes, config)


def _block(height: int, prev: bytes, changes=()) -> Block:
    return Block(height=height, prev_block_id=prev, next_entropy=bytes(32),
                 verdicts_root=bytes(32), verdict_count=0, registry_changes_root=bytes(32),
                 rewards_manifest_sha256=bytes(32), state_root=state_root({}),
                 evidence_root=EMPTY_ROOT, proposer=0, time_ms=height,
                 changes_root=changes_root(changes))


def test_the_chain_replays_the_set_and_checks_each_certificate_with_its_own(tmp_path):
    genesis = make_genesis()
    approved = _approved(genesis, SWAP)
    with ChainStore.open(tmp_path, genesis) as chain:
        b0 = _block(0, genesis.hash(), (approved,))
        with pytest.raises(ChainError, match="changes given are not what its changes_root"):
            chain.append(b0, _qc(genesis, b0, (0, 1, 2)), {})
        chain.append(b0, _qc(genesis, b0, (0, 1, 2)), {}, changes=(approved,))
        prev = b0.block_id()
        for height in (1, 2):
            block = _block(height, prev)
            chain.append(block, _qc(genesis, block, (0, 1, 2)), {})
            prev = block.block_id()
        new_set = chain.genesis_at(3)
        assert chain.genesis_at(2) == genesis and new_set.n == 4
        b3 = _block(3, prev)
        # the old set's quorum does not certify a block of the new set's heights
        with pytest.raises(ChainError, match="block 3"):
            chain.append(b3, _qc(genesis, b3, (0, 1, 2)), {})
        chain.append(b3, _qc(new_set, b3, (2, 3, 4)), {})
        assert verify_chain(chain) == []
        assert chain.get(0).changes == (approved,)
    # a chain file whose change lost its approvals is caught by verify
    db = sqlite3.connect(tmp_path / "chain.sqlite")
    with db:
        db.execute("UPDATE changes SET body = ?", (_approved(genesis, SWAP, (0,)).to_cbor(),))
    db.close()
    with ChainStore.open(tmp_path, genesis) as chain:
        problems = verify_chain(chain)
    assert any("approved by 1 of the 4 validators in office" in p for p in problems), problems


def test_a_body_carries_its_changes_and_they_must_hash_to_the_header():
    genesis = make_genesis()
    approved = _approved(genesis, SWAP)
    block = _block(1, bytes(32), (approved,))
    body = BlockBody.from_cbor(BlockBody(block, (), None, (approved,)).to_cbor())
    assert body.changes == (approved,)
    assert body.check(genesis) is body
    with pytest.raises(BlockError, match="do not hash to the header's changes_root"):
        BlockBody(_block(1, bytes(32)), (), None, (approved,)).check(genesis)
    with pytest.raises(BlockError, match="is in an earlier block"):
        body.check(genesis, changes_included={approved.hash()})


def _cli(*args) -> Result:
    """The real command line, in process (click's runner): five commands in a second."""
    return CliRunner().invoke(main, [str(a) for a in args])


def test_operators_write_a_change_and_approve_it_with_the_cli(tmp_path):
    genesis = make_genesis()
    save_genesis(genesis, tmp_path / "genesis.toml")
    params = params_from_dict({"epoch_length_ms": 10_000, "challenge_window_ms": 5_000})
    (tmp_path / "params.json").write_text(json.dumps(params.to_dict()))
    out = tmp_path / "change.toml"
    made = _cli("chain", "change", "new", "--genesis", tmp_path / "genesis.toml",
                "--effective-height", 12, "--remove", validator_key(0).public_key.hex(),
                "--add", f"{validator_key(4).public_key.hex()}=/ip4/127.0.0.1/tcp/4005",
                "--params", tmp_path / "params.json", "--out", out)
    assert made.exit_code == 0, made.output
    assert "it needs the approvals of 3 of the 4 validators in office" in made.output
    change = load_change(out)
    assert [v.public_key for v in change.validators] == \
        [validator_key(i).public_key for i in (1, 2, 3, 4)]
    assert change.params_digest == params.digest() and change.effective_height == 12
    for i in range(3):
        save_keypair(validator_key(i), tmp_path / f"key{i}.json")
        signed = _cli("chain", "change", "approve", out, "--genesis", tmp_path / "genesis.toml",
                      "--key", tmp_path / f"key{i}.json")
        assert signed.exit_code == 0, signed.output
        assert f"{i + 1} approvals" in signed.output
    ApprovedChange.load(out).check(genesis, genesis, 10)
    bad = _cli("chain", "change", "new", "--genesis", tmp_path / "genesis.toml",
               "--effective-height", 12, "--remove", "00" * 32, "--out", tmp_path / "x.toml")
    assert bad.exit_code != 0 and "--remove 0000" in bad.output \
        and "not a validator in office" in bad.output

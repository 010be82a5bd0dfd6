"""The chain on real SQLite files, and validators whose blocks come from their own verdicts
and rewards (`coverage_net.node.ChainApp`) finalizing on the in-memory network: the same
blocks everywhere, state roots that replay, and a validator whose verdicts differ refusing
the others' blocks while they go on without it."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from consensus_helpers import make_genesis, validator_key
from rewards_helpers import ROUTER, registry, round_verdicts, spread_cells, witness

from coverage_net.consensus import (
    CHAIN_FILE_NAME,
    CONSENSUS_TOPIC,
    EMPTY_ROOT,
    ApprovedChange,
    Block,
    ChainChange,
    ChainError,
    ChainStore,
    ConsensusDriver,
    EvidenceLog,
    GenesisValidator,
    QuorumCertificate,
    SignedVote,
    Vote,
    VoteKind,
    VoteSigner,
    assemble_parts,
    save_change,
    save_genesis,
    state_root,
    verify_chain,
)
from coverage_net.node import (
    CHANGES_DIR,
    ChainApp,
    check_epoch,
    load_pending_changes,
    save_announcements,
    save_verdicts,
    start_block_sync,
)
from coverage_net.p2p.testing import MemoryNetwork, run_deterministic
from coverage_net.poc import params_from_dict
from coverage_net.rewards import RewardLedger
from coverage_net.store import MessageStore

PARAMS = params_from_dict({"epoch_length_ms": 30_000, "challenges_per_hotspot_per_day": 4,
                           "challenge_window_ms": 10_000,
                           "rewards": {"routers": [ROUTER.public_key.hex()]}})
EPOCHS = 3


def _qc(genesis, block: Block, signers=(0, 1, 2), round_: int = 0) -> QuorumCertificate:
    votes = [SignedVote.create(Vote(VoteKind.PRECOMMIT, block.height, round_, block.block_id(),
                                    i), genesis, validator_key(i)) for i in signers]
    return QuorumCertificate.from_votes(votes, genesis)


def _block(genesis, height: int, prev: bytes, balances: dict[str, int]) -> Block:
    return Block(height=height, prev_block_id=prev, next_entropy=bytes(32),
                 verdicts_root=bytes(32), verdict_count=0, registry_changes_root=bytes(32),
                 rewards_manifest_sha256=bytes(32), state_root=state_root(balances),
                 evidence_root=EMPTY_ROOT, proposer=height % 4, time_ms=height)


def test_the_chain_appends_in_order_and_verifies_from_genesis(tmp_path):
    genesis = make_genesis()
    with ChainStore.open(tmp_path, genesis) as chain:
        b0 = _block(genesis, 0, genesis.hash(), {"a": 5})
        chain.append(b0, _qc(genesis, b0), {"a": 5})
        b1 = _block(genesis, 1, b0.block_id(), {"a": 5, "b": 7})
        with pytest.raises(ChainError, match="does not follow"):
            chain.append(_block(genesis, 2, b0.block_id(), {}), _qc(genesis, b1), {})
        with pytest.raises(ChainError, match="names block"):
            chain.append(_block(genesis, 1, bytes(32), {}), _qc(genesis, b1), {})
        full = _qc(genesis, b1)
        short = QuorumCertificate(full.height, full.round, full.block_id, full.signatures[:2])
        with pytest.raises(ChainError, match="2 of 4 validators"):
            chain.append(b1, short, {"b": 7})
        chain.append(b1, _qc(genesis, b1), {"b": 7})
        assert chain.height() == 1 and chain.balances() == {"a": 5, "b": 7}
        assert verify_chain(chain) == []
    with pytest.raises(ChainError, match="is the chain of genesis"):
        ChainStore.open(tmp_path, make_genesis(chain_id="another-chain"))
    conn = sqlite3.connect(tmp_path / CHAIN_FILE_NAME)
    with conn:
        conn.execute("UPDATE payouts SET amount = amount + 1 WHERE height = 1")
    conn.close()
    with ChainStore.open(tmp_path, genesis) as chain:
        assert verify_chain(chain) == ["block 1: the state root is not that of the balances "
                                       "replayed from genesis"]


def _data_dir(root):
    """A node's data directory: 3 epochs of verdicts, the announcements, the parameters."""
    reg = registry(spread_cells(8))
    with MessageStore.open(root) as store:
        save_announcements(store, reg.announcements, received_ms=1)
        for epoch in range(EPOCHS):
            save_verdicts(store, round_verdicts(epoch, 1, 0, [1, 2, 3, 4, 5])
                          + round_verdicts(epoch, 2, 6, [7, 1]))
    (root / "network-params.json").write_text(json.dumps(PARAMS.to_dict()))
    return root


def _run_validators(tmp_path, seed: int, tamper: int | None = None, epochs: int = EPOCHS,
                    cut_until_epoch: int | None = None, equivocate: bool = False,
                    source: Path | None = None, joining: int = 0,
                    change: ApprovedChange | None = None):
    """4 genesis validators and `joining` more (keys 4, 5, ...: not in the genesis; they
    follow and vote once a change makes them validators); `change` is handed to
    validator 0 (in its changes directory) for its proposals."""
    genesis = make_genesis(params=PARAMS)
    source = source or _data_dir(tmp_path / "source")
    count = 4 + joining
    dirs = []
    for i in range(count):
        shutil.copytree(source, tmp_path / f"v{i}")
        dirs.append(tmp_path / f"v{i}")
    if tamper is not None:  # this validator judged one witness differently
        with MessageStore.open(dirs[tamper]) as store:
            save_verdicts(store, [witness(1, 1, 3, valid=False)])
    if change is not None:
        inbox = dirs[0] / CHANGES_DIR
        inbox.mkdir()
        save_change(change.change, inbox / "change.toml")
        change.save_approvals(inbox / "change.toml")
    apps = []

    async def main():
        net = MemoryNetwork(seed)
        ids = [validator_key(i).peer_id for i in range(count)]
        endpoints = net.full_mesh(ids)
        async with trio.open_nursery() as nursery:
            await nursery.start(net.run)
            senders = []
            for i in range(count):
                store = MessageStore.open(dirs[i])
                app = ChainApp(dirs[i], PARAMS, genesis, store=store,
                               chain=ChainStore.open(dirs[i], genesis),
                               ledger=RewardLedger.open(dirs[i]),
                               evidence_log=EvidenceLog.open(dirs[i]),
                               pending_changes=lambda d=dirs[i]: load_pending_changes(
                                   d / CHANGES_DIR))
                apps.append(app)
                await start_block_sync(nursery, endpoints[i], genesis, app)
                signer = VoteSigner.open(dirs[i], validator_key(i), genesis, joining=i >= 4)
                send, receive = trio.open_memory_channel[int](16)
                senders.append(send)
                await nursery.start(ConsensusDriver(endpoints[i], genesis, signer, app,
                                                    evidence_log=app.evidence_log,
                                                    genesis_at=app.genesis_at).run,
                                    receive)
            if cut_until_epoch is not None:  # validator 3 is cut off from the others
                net.partition(ids[:3], ids[3:4])
            for height in range(epochs):
                await trio.sleep_until((height + 1) * 30.0)
                if height == cut_until_epoch:
                    net.heal()
                for send in senders:
                    send.send_nowait(height)
                if equivocate and height == 0:  # validator 3 signs a second prevote
                    other = SignedVote.create(Vote(VoteKind.PREVOTE, 0, 0, bytes(range(32)), 3),
                                              genesis, validator_key(3))
                    await endpoints[3].publish(CONSENSUS_TOPIC, other.to_cbor())
            await trio.sleep(60.0)
            nursery.cancel_scope.cancel()

    run_deterministic(main, seed=seed)
    return genesis, dirs, apps


def test_validators_finalize_blocks_of_their_own_verdicts_and_rewards(tmp_path):
    genesis, _, apps = _run_validators(tmp_path, seed=5)
    chains = [[b.block.block_id() for b in app.chain.blocks()] for app in apps]
    assert all(len(c) == EPOCHS for c in chains) and len({tuple(c) for c in chains}) == 1
    for app in apps:
        assert verify_chain(app.chain) == []
        last = app.chain.get(EPOCHS - 1).block
        assert last.state_root == state_root(app.ledger.balances())  # the ledger is the state
        for epoch in range(EPOCHS):
            block = app.chain.get(epoch).block
            assert block.rewards_manifest_sha256 == app.ledger.manifest(epoch).sha256()
            assert block.verdict_count == 9  # 2 beacons, 7 witnesses
            assert check_epoch(app.store, app.ledger, PARAMS, epoch)[1] == []
        assert app.refused == []
    entropies = {app.chain.get(0).block.next_entropy for app in apps}
    assert len(entropies) == 1 and genesis.first_entropy not in entropies


def test_a_validator_whose_verdicts_differ_refuses_then_adopts_the_certified_block(tmp_path):
    """Validator 3 judged a witness of epoch 1 otherwise: it prevotes nil on block 1, the
    others finalize it, and 3 takes the certificate by sync, fetches the block from them
    (it cannot rebuild it) and appends it; it builds block 2 itself from there."""
    _, _, apps = _run_validators(tmp_path, seed=6, tamper=3)
    assert apps[3].refused and {h for h, _ in apps[3].refused} == {1}
    chains = [[b.block.block_id() for b in app.chain.blocks()] for app in apps]
    assert all(len(c) == EPOCHS for c in chains) and len({tuple(c) for c in chains}) == 1
    assert apps[3].adopted == [1]  # as fetched; blocks 0 and 2 as rebuilt
    assert verify_chain(apps[3].chain) == []
    assert apps[3].ledger.balances() == apps[0].ledger.balances()
    assert apps[3].ledger.manifest(1) == apps[0].ledger.manifest(1)
    served = apps[0].served_block(1, chains[0][1])  # rebuilt from 0's store
    assert apps[3].chain.leaves(1) == assemble_parts(served.parts, served.block)
    assert apps[3].served_block(1, chains[0][1]) == served  # kept: 3 serves it in turn
    assert apps[0].chain.leaves(1) is None
    conn = sqlite3.connect(apps[3].chain.path)
    with conn:
        kept = apps[3].chain.leaves(1)
        conn.execute("UPDATE block_leaves SET leaves = ?", (b"".join(kept[::-1]),))
    conn.close()
    assert verify_chain(apps[3].chain) == ["block 1: the verdict leaves kept with it do not "
                                           "hash to its verdicts_root"]


def test_chain_show_and_verify_read_a_validators_chain(tmp_path):
    genesis, dirs, apps = _run_validators(tmp_path, seed=8)
    block1 = apps[0].chain.get(1).block.block_id().hex()
    for app in apps:
        app.chain.close()
        app.ledger.close()
        app.store.close()
    save_genesis(genesis, tmp_path / "genesis.toml")
    args = ("--data", dirs[0], "--genesis", tmp_path / "genesis.toml")
    shown = _cli("chain", "show", *args, "--height", 1, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["block_id"] == block1
    assert len(json.loads(shown.stdout)["certificate"]["signers"]) >= 3
    verified = _cli("chain", "verify", *args)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{EPOCHS} blocks from genesis hold" in verified.stdout
    conn = sqlite3.connect(dirs[0] / CHAIN_FILE_NAME)
    with conn:
        conn.execute("UPDATE payouts SET amount = amount + 1 WHERE height = 2 AND rowid = "
                     "(SELECT min(rowid) FROM payouts WHERE height = 2)")
    conn.close()
    broken = _cli("chain", "verify", *args)
    assert broken.returncode == 1
    assert "block 2: the state root is not that of the balances replayed" in broken.stdout


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("coverage-net")),
                           *map(str, args)], capture_output=True, text=True, timeout=300,
                          check=False)


def test_a_validator_cut_off_for_twelve_epochs_catches_up_from_the_others_chains(tmp_path):
    """Longer than the driver keeps certificates in memory (8 heights): the others serve
    them from their chains, and the laggard rebuilds and appends every block."""
    _, _, apps = _run_validators(tmp_path, seed=9, epochs=14, cut_until_epoch=12)
    chains = [[b.block.block_id() for b in app.chain.blocks()] for app in apps]
    assert all(len(c) == 14 for c in chains) and len({tuple(c) for c in chains}) == 1
    assert verify_chain(apps[3].chain) == []


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_an_equivocation_is_included_as_evidence_in_one_later_block_on_every_chain(tmp_path, seed):
    """Validator 3 signs two prevotes at height 0: the others record the pair, a later
    proposer includes it in its block (the body travels with the proposal), every
    validator checks it and appends the same block, and no block includes it twice."""
    genesis, dirs, apps = _run_validators(tmp_path, seed=seed, equivocate=True)
    chains = [[b.block.block_id() for b in app.chain.blocks()] for app in apps]
    assert all(len(c) == EPOCHS for c in chains) and len({tuple(c) for c in chains}) == 1
    carried = [(b.block.height, e) for b in apps[0].chain.blocks() for e in b.evidence]
    assert len(carried) == 1, carried
    height, evidence = carried[0]
    assert height >= 1 and (evidence.kind, evidence.height, evidence.round) == ("vote", 0, 0)
    assert evidence.check(genesis).validator_key == validator_key(3).public_key
    for app in apps:
        assert verify_chain(app.chain) == []
        assert app.chain.get(height).evidence == (evidence,)
        assert app.chain.get(height).block.evidence_root != EMPTY_ROOT
        assert app.evidence_log.pending() == []  # known everywhere, and marked included
        assert evidence.hash() in app.evidence_log
        assert app.refused == []
        for closing in (app.chain, app.ledger, app.store, app.evidence_log):
            closing.close()
    save_genesis(genesis, tmp_path / "genesis.toml")
    shown = _cli("chain", "show", "--data", dirs[1], "--genesis", tmp_path / "genesis.toml",
                 "--height", height, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["evidence"] == [
        {"hash": evidence.hash().hex(), "kind": "vote", "height": 0, "round": 0, "validator": 3}]



def _approved(genesis, change: ChainChange, approvers=(0, 1, 2)) -> ApprovedChange:
    approved = ApprovedChange(change, ())
    for i in approvers:
        approved = approved.approve(validator_key(i), genesis)
    return approved


def _member(i: int) -> GenesisValidator:
    return GenesisValidator(validator_key(i).public_key, f"/ip4/127.0.0.1/tcp/{4001 + i}")


@pytest.mark.parametrize("seed", [21, 22])
def test_a_validator_set_change_goes_through_a_block_and_the_new_set_certifies(tmp_path, seed):
    """Validators 0-2 approve replacing validator 0 by a new validator 4 from height 3;
    validator 0 includes the change in its block 0. From height 3 the blocks are
    certified by 1-4: the newcomer, which followed heights 0-2 without voting, votes;
    validator 0 follows without voting. Every chain is the same and verifies from the
    genesis alone."""
    genesis = make_genesis(params=PARAMS)
    change = _approved(genesis, ChainChange(3, tuple(_member(i) for i in (1, 2, 3, 4))))
    _, dirs, apps = _run_validators(tmp_path, seed=seed, epochs=6, joining=1, change=change)
    chains = [[b.block.block_id() for b in app.chain.blocks()] for app in apps]
    assert all(len(c) == 6 for c in chains), [len(c) for c in chains]
    assert len({tuple(c) for c in chains}) == 1
    chain = apps[4].chain
    assert chain.get(0).changes == (change,) and chain.get(0).block.changes_root != EMPTY_ROOT
    assert [len(b.changes) for b in chain.blocks()] == [1, 0, 0, 0, 0, 0]
    new_set = chain.genesis_at(3)
    assert [v.public_key for v in new_set.validators] == \
        [validator_key(i).public_key for i in (1, 2, 3, 4)]
    assert chain.genesis_at(2) == genesis and new_set.hash() != genesis.hash()
    for height in range(6):
        signers = {(new_set if height >= 3 else genesis).key_of(i)
                   for i, _ in chain.get(height).certificate.signatures}
        allowed = {validator_key(i).public_key for i in ((1, 2, 3, 4) if height >= 3
                                                          else (0, 1, 2, 3))}
        assert signers <= allowed and len(signers) >= 3
    for app in apps:
        assert verify_chain(app.chain) == []
        assert app.refused == []
    # the newcomer signed only from height 3; the one replaced only before it
    with VoteSigner.open(dirs[4], validator_key(4), genesis, joining=True) as signer:
        heights = {r.height for r in signer.records()}
        assert heights and min(heights) == 3
    with VoteSigner.open(dirs[0], validator_key(0), genesis) as signer:
        assert max(r.height for r in signer.records()) <= 2
    if seed != 21:
        return
    for app in apps:
        for closing in (app.chain, app.ledger, app.store, app.evidence_log):
            closing.close()
    save_genesis(genesis, tmp_path / "genesis.toml")
    args = ("--data", dirs[4], "--genesis", tmp_path / "genesis.toml")
    shown = _cli("chain", "show", *args, "--height", 0, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["changes"] == [
        {"hash": change.hash().hex(), "effective_height": 3, "params_digest": None,
         "approvals": 3,
         "validators": [validator_key(i).public_key.hex() for i in (1, 2, 3, 4)]}]
    verified = _cli("chain", "verify", *args)
    assert verified.returncode == 0 and "6 blocks from genesis hold" in verified.stdout


def test_a_change_without_a_quorum_of_approvals_is_never_included(tmp_path):
    """Approved by 2 of 4: the proposer leaves it out (logged), the set stays."""
    genesis = make_genesis(params=PARAMS)
    change = _approved(genesis, ChainChange(3, tuple(_member(i) for i in (1, 2, 3))),
                       approvers=(0, 1))
    _, _, apps = _run_validators(tmp_path, seed=23, epochs=4, change=change)
    for app in apps:
        assert [len(b.changes) for b in app.chain.blocks()] == [0, 0, 0, 0]
        assert app.chain.genesis_at(10) == genesis
        assert verify_chain(app.chain) == []


def test_a_proposal_too_large_for_its_body_has_its_leaves_fetched_in_parts(tmp_path):
    """3,100 verdicts: the body carries no leaves. Validator B judged one report fewer
    than proposer A: it fetches A's leaves in parts from A and asks to judge the epoch
    again over them, as it would with leaves that came in the body."""
    genesis = make_genesis(params=PARAMS)
    verdicts = [v for c in range(620)
                for v in round_verdicts(0, c, c % 8, [(c + k) % 8 for k in (1, 2, 3, 4)])]
    apps = []
    for name, kept in (("a", verdicts), ("b", verdicts[:-1])):
        root = tmp_path / name
        store = MessageStore.open(root)
        save_announcements(store, registry(spread_cells(8)).announcements, received_ms=1)
        save_verdicts(store, kept)
        apps.append(ChainApp(root, PARAMS, genesis, store=store,
                             chain=ChainStore.open(root, genesis),
                             ledger=RewardLedger.open(root)))
    a, b = apps
    asked, rechecked = [], []
    b.reconcile = lambda h, block_id, leaves: asked.append((h, block_id, leaves))
    block_a = a.propose(0, 0)
    assert b.offer_body(a.block_body(0, block_a)) == (0, block_a)

    async def main() -> None:
        net = MemoryNetwork(4)
        ends = net.full_mesh([validator_key(0).peer_id, validator_key(1).peer_id])
        async with trio.open_nursery() as nursery:
            await nursery.start(net.run)
            await start_block_sync(nursery, ends[0], genesis, a)
            await start_block_sync(nursery, ends[1], genesis, b, recheck=rechecked.append)
            assert b.validate(0, block_a) is None  # its leaves are fetched first
            while not rechecked:
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()

    run_deterministic(main, seed=4)
    assert rechecked == [block_a] and asked == []
    assert b.validate(0, block_a) is None  # now it asks to judge the epoch again
    [(height, block_id, leaves)] = asked
    assert (height, block_id) == (0, block_a) and len(leaves) == len(verdicts) > 3072
    served = a.served_block(0, block_a)  # A serves its proposal, not certified yet
    assert served.certificate is None and leaves == assemble_parts(served.parts, served.block)

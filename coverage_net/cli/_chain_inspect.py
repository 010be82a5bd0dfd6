"""`coverage-net chain show` and `chain verify`: read a node's finalized chain.

Both read the data directory's `chain.sqlite` (and the reward ledger beside it) with
the genesis file: `show` prints one block, its certificate and what it paid; `verify`
checks the whole chain from genesis (every link, header hash, quorum certificate and
state root) and that every block commits to the reward manifest the ledger booked.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from coverage_net.consensus import ChainStore, load_genesis, verify_chain
from coverage_net.rewards import LEDGER_FILENAME, LedgerError, RewardLedger

from ._rewards import cov

_data_option = click.option(
    "--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Data directory of the node (its chain.sqlite and reward ledger).")
_genesis_option = click.option(
    "--genesis", "genesis_path", required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The chain's genesis file (TOML): every certificate is checked against it.")


@click.command("show")
@_data_option
@_genesis_option
@click.option("--height", type=click.IntRange(0), help="The block (default: the last).")
@click.option("--json", "as_json", is_flag=True, help="Print the block as one JSON object.")
def show(data_dir: Path, genesis_path: Path, height: int | None, as_json: bool) -> None:
    """Show a finalized block: header, block id, certificate signers, payouts, the
    evidence of equivocation and the validator-set or parameter changes it includes.

    \b
      coverage-net chain show --data node-a --genesis genesis.toml --height 12
    """
    with ChainStore.open(data_dir, load_genesis(genesis_path), create=False) as chain:
        stored = chain.get(chain.height() if height is None else height)
        block, qc = stored.block, stored.certificate
        in_office = chain.genesis_at(block.height)  # the set that certified it
        evidence = [{"hash": e.hash().hex(), "kind": e.kind, "height": e.height,
                     "round": e.round,
                     "validator": chain.genesis_at(e.height).index_of(e.validator_key)}
                    for e in stored.evidence]
    header = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in block.to_dict().items()}
    changes = [{"hash": c.hash().hex(), "effective_height": c.change.effective_height,
                "validators": None if c.change.validators is None
                else [v.public_key.hex() for v in c.change.validators],
                "params_digest": None if c.change.params_digest is None
                else c.change.params_digest.hex(), "approvals": len(c.approvals)}
               for c in stored.changes]
    if as_json:
        click.echo(json.dumps({"block_id": block.block_id().hex(), "header": header,
                               "certificate": {"round": qc.round,
                                               "signers": [i for i, _ in qc.signatures]},
                               "payouts": stored.payouts, "evidence": evidence,
                               "changes": changes},
                              indent=1, sort_keys=True))
        return
    click.echo(f"block {block.height}  id {block.block_id().hex()}")
    for name, value in header.items():
        click.echo(f"  {name:<24}{value}")
    click.echo(f"  certificate: round {qc.round}, precommits of validators "
               f"{', '.join(str(i) for i, _ in qc.signatures)} of {in_office.n} "
               f"(a quorum is {in_office.quorum})")
    click.echo(f"  paid {cov(sum(stored.payouts.values()))} COV to {len(stored.payouts)} "
               "accounts")
    for e in evidence:
        click.echo(f"  evidence: validator {e['validator']} signed two {e['kind']}s at height "
                   f"{e['height']} round {e['round']} ({e['hash'][:16]})")
    for c in changes:
        what = [f"{len(c['validators'])} validators"] if c["validators"] else []
        what += [f"parameters {c['params_digest'][:16]}"] if c["params_digest"] else []
        click.echo(f"  change {c['hash'][:16]}: from height {c['effective_height']}, "
                   f"{' and '.join(what)} ({c['approvals']} approvals)")


@click.command("verify")
@_data_option
@_genesis_option
def verify(data_dir: Path, genesis_path: Path) -> None:
    """Check the whole chain from genesis: links, header hashes, every quorum certificate,
    every state root (balances replayed), and each block's reward manifest against the
    ledger. Exit status 1 when anything does not hold.

    \b
      coverage-net chain verify --data node-a --genesis genesis.toml
    """
    genesis = load_genesis(genesis_path)
    with ChainStore.open(data_dir, genesis, create=False) as chain:
        problems = verify_chain(chain)
        manifests = {b.block.height: b.block.rewards_manifest_sha256 for b in chain.blocks()}
        height = chain.height()
    if (data_dir / LEDGER_FILENAME).is_file():
        with RewardLedger.open(data_dir, create=False) as ledger:
            for h, digest in sorted(manifests.items()):
                try:
                    booked = ledger.manifest(h).sha256()
                except LedgerError as exc:
                    problems.append(f"block {h}: {exc}")
                    continue
                if booked != digest:
                    problems.append(f"block {h}: commits to reward manifest {digest.hex()[:16]}, "
                                    f"the ledger booked {booked.hex()[:16]}")
    if not problems:
        click.echo(f"chain {genesis.chain_id!r}: {height + 1} blocks from genesis hold "
                   "(links, certificates, state roots, reward manifests)")
        return
    click.echo(f"chain {genesis.chain_id!r}: {len(problems)} problem(s)")
    for problem in problems:
        click.echo(f"  {problem}")
    raise SystemExit(1)

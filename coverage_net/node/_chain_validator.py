"""The chain validator's composition root: network, signer, consensus driver, epoch clock.

`run_chain_validator` is what ``coverage-net chain validator`` runs. It opens the
py-libp2p network on the validator's address, dialing every other validator named in
the genesis, the crash-safe `VoteSigner` in the data directory and the
`ConsensusDriver` with the node's `ConsensusApp`, and two small actors: the epoch
clock, which starts height h when epoch h closes (epoch 0 closes at
``genesis_time_ms + epoch_ms``), and the status writer (``validator.json``: each
decided height, its round, its block id and its finality latency, the decision time
minus the close of its epoch, which is the figure the operators and the tests read),
and, when asked, the Prometheus metrics endpoint (network, consensus, finality latency,
and with the real chain, verdicts by reason and rewards booked).

With `ChainValidatorConfig.poc` set, it is a whole validator (``coverage-net validator
run``): the peer's services run on the same network (gossip of reports into the store
the chain app reads, and sync), the challenger issues this validator's challenges,
and the epoch clock becomes the `EpochCloser`: at each epoch's close plus a grace
period it fetches the epoch's reports from the other validators, judges them and
saves the verdicts, and only then starts the epoch's height, so the block is built
from verdicts every honest validator computes alike. Epoch e's entropy (challenge
selection) is the ``next_entropy`` of block e - 2 (the genesis's first entropy for
epochs 0 and 1): final a whole epoch before e begins, so the challenger never waits
for consensus (`chain_entropy`).

The app is opened by an `AppFactory` (a context manager: the app holds files; see
`coverage_net.node._validator_apps`): the chain's real `ChainApp` by default, or
`EpochHashApp`, blocks that are only a hash of the epoch, for runs that need no chain.

A restarted validator resumes at the height after the last block in its chain (for
`EpochHashApp`, the last height its status file says it decided): the driver's sync
then fetches the certificates of the heights it missed from its peers (they keep the
last few), so it catches up. A `ChainApp` validator also serves its blocks in parts and
fetches a certified block it cannot rebuild (`start_block_sync`), so its chain never
stops on one.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio

from coverage_net.consensus import (
    ChainStore,
    ConsensusApp,
    ConsensusDriver,
    ConsensusError,
    CoreConfig,
    Genesis,
    QuorumCertificate,
    VoteSigner,
)
from coverage_net.identity import Keypair, peer_id_from_public_key
from coverage_net.metrics import (
    ConsensusCollector,
    FinalityCollector,
    PeerCollector,
    RewardsCollector,
    VerdictCollector,
    format_listen,
    parse_metrics_listen,
    serve_metrics,
)
from coverage_net.p2p import (
    Network,
    PeerMetrics,
    open_libp2p_network,
    parse_listen_addr,
    start_services,
    watch_blocklist,
)
from coverage_net.poc import NetworkParams, PathPredictor
from coverage_net.radio import Terrain

from ._block_adopt import start_block_sync
from ._chain_app import ChainApp
from ._epoch_reconcile import EpochReconciler
from ._epoch_verifier import EpochCloser
from ._hotspot_query import serve_hotspot_queries
from ._peer import wall_clock_ms
from ._poc import start_challenger
from ._validator_apps import AppFactory, epoch_hash_app_factory

__all__ = ["VALIDATOR_STATUS_FILENAME", "ChainValidatorConfig", "ValidatorPoc", "chain_entropy",
           "epoch_close_ms", "read_validator_status", "run_chain_validator",
           "validator_bootstrap", "validator_peer_ids"]

logger = logging.getLogger(__name__)

VALIDATOR_STATUS_FILENAME = "validator.json"
_SYNCABLE_HEIGHTS = 7
"""How far back a restarted validator without a chain (a test app) starts: peers keep the
last 8 heights in memory (a `ChainApp` validator serves and resumes from its chain)."""

@dataclass(frozen=True)
class ValidatorPoc:
    """What a validator runs proof-of-coverage with."""

    params: NetworkParams
    terrain: Terrain | None = None
    """The DEM the parameters' terrain model needs (None for a closed-form model)."""
    grace_ms: int = 2_000
    """How long after an epoch closes its reports are fetched and judged (late gossip)."""
    fetch_timeout_s: float = 5.0
    sync_interval_s: float = 1.0
    full_sync_interval_s: float = 60.0


def chain_entropy(chain: ChainStore, genesis: Genesis) -> Callable[[int], bytes]:
    """Epoch e's entropy: block e - 2's ``next_entropy`` (the genesis's for e < 2);
    LookupError while the chain lacks that block."""

    def entropy_for(epoch: int) -> bytes:
        if epoch < 2:
            return genesis.first_entropy
        if chain.height() < epoch - 2:
            raise LookupError(f"block {epoch - 2} is not final here yet (the chain is at "
                              f"{chain.height()})")
        return chain.get(epoch - 2).block.next_entropy

    return entropy_for


@dataclass(frozen=True)
class ChainValidatorConfig:
    """Everything a validator process needs; checked before anything is opened."""

    genesis: Genesis
    keypair: Keypair
    data_dir: Path
    listen_addr: str
    epoch_ms: int = 10_000
    app_factory: AppFactory = epoch_hash_app_factory
    core: CoreConfig | None = None
    """Timeouts; None: the core's defaults (propose 3 s, prevote and precommit 1 s)."""
    block_file: Path | None = None
    """Peer ids never to stay connected to, re-read when the file changes (partitions)."""
    sync_every_s: float = 1.0
    status_interval_s: float = 0.25
    clock_ms: Callable[[], int] = field(default=wall_clock_ms)
    metrics_listen: str | None = None
    """``HOST:PORT`` to serve Prometheus metrics on (port 0: a free one, written into
    validator.json as ``metrics_addr``); None: no metrics endpoint."""
    poc: ValidatorPoc | None = None
    """Proof-of-coverage (challenges, report gossip, verification); None: consensus only."""
    joining: bool = False
    """The key is not a validator of the genesis: follow the chain (block sync) and vote
    from the height a change the chain includes makes it one."""

    def __post_init__(self) -> None:
        if self.poc is not None and self.poc.params.epoch_length_ms != self.epoch_ms:
            raise ConsensusError(f"epoch_ms is {self.epoch_ms}; the network parameters say "
                                 f"{self.poc.params.epoch_length_ms}")
        parse_listen_addr(self.listen_addr)
        if self.metrics_listen is not None:
            parse_metrics_listen(self.metrics_listen, name="metrics_listen")
        if not self.joining:
            self.genesis.index_of(self.keypair.public_key)  # GenesisError: not a validator
        if type(self.epoch_ms) is not int or self.epoch_ms <= 0:
            raise ConsensusError(f"epoch_ms must be a positive integer; got {self.epoch_ms!r}")
        if self.sync_every_s <= 0 or self.status_interval_s <= 0:
            raise ConsensusError("sync_every_s and status_interval_s must be positive")

    @property
    def index(self) -> int | None:
        """This validator's index in the genesis (None for one that is joining)."""
        if self.keypair.public_key not in {v.public_key for v in self.genesis.validators}:
            return None
        return self.genesis.index_of(self.keypair.public_key)


def _check_params_in_office(app: ChainApp, height: int) -> None:
    """ConsensusError if the chain says `height` runs other network parameters than the
    ones this validator was started with (a change the chain includes took effect)."""
    in_office = app.genesis_at(height).params_digest
    if in_office != app.params.digest():
        raise ConsensusError(f"from height {height} the chain runs network parameters "
                             f"{in_office.hex()}; this validator's file has digest "
                             f"{app.params.digest().hex()}: start it with those parameters")


def epoch_close_ms(genesis: Genesis, epoch_ms: int, height: int) -> int:
    """When epoch `height` closes, the moment its height may start (ms since the Unix epoch)."""
    return genesis.genesis_time_ms + (height + 1) * epoch_ms


def validator_peer_ids(genesis: Genesis) -> list[str]:
    """The libp2p peer id of every validator, in genesis order."""
    return [peer_id_from_public_key(v.public_key) for v in genesis.validators]


def validator_bootstrap(genesis: Genesis, me: int | None) -> list[str]:
    """The dialable addresses (``.../p2p/PEER_ID``) of every validator but `me`."""
    return [f"{v.multiaddr}/p2p/{peer_id_from_public_key(v.public_key)}"
            for i, v in enumerate(genesis.validators) if i != me]


def read_validator_status(data_dir: Path) -> dict | None:
    """The last ``validator.json`` written in `data_dir` (None before the first)."""
    try:
        return json.loads((Path(data_dir) / VALIDATOR_STATUS_FILENAME).read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class _Finality:
    """The decided heights with their latency; wraps the app so a commit is timed when it
    happens, not when the status is next written."""

    def __init__(self, app: ConsensusApp, config: ChainValidatorConfig,
                 earlier: dict[str, dict]) -> None:
        self._app, self._config = app, config
        self.decided: dict[str, dict] = dict(earlier)
        self.changed = trio.Event()

    def propose(self, height: int, round_: int) -> bytes:
        return self._app.propose(height, round_)

    def validate(self, height: int, block_id: bytes) -> bool | None:
        return self._app.validate(height, block_id)

    def block_body(self, height: int, block_id: bytes) -> bytes | None:
        return self._app.block_body(height, block_id)

    def offer_body(self, data: bytes) -> tuple[int, bytes] | None:
        return self._app.offer_body(data)

    def certificate(self, height: int) -> QuorumCertificate | None:
        return self._app.certificate(height)

    def commit(self, height: int, block_id: bytes, certificate: QuorumCertificate) -> None:
        self._app.commit(height, block_id, certificate)
        now_ms = self._config.clock_ms()
        close_ms = epoch_close_ms(self._config.genesis, self._config.epoch_ms, height)
        self.decided[str(height)] = {"round": certificate.round, "block_id": block_id.hex(),
                                     "decided_ms": now_ms, "close_ms": close_ms,
                                     "latency_ms": now_ms - close_ms}
        logger.info("height %d final in round %d, %d ms after its epoch closed", height,
                    certificate.round, now_ms - close_ms)
        self.changed.set()


class _StatusFile:
    """``validator.json``, written atomically now, on every decision and every interval."""

    def __init__(self, config: ChainValidatorConfig, network: Network,
                 driver: ConsensusDriver, finality: _Finality,
                 metrics_addr: str | None = None) -> None:
        self._path = Path(config.data_dir) / VALIDATOR_STATUS_FILENAME
        self._config, self._network, self._driver, self._finality = (config, network, driver,
                                                                      finality)
        self._extra = {"metrics_addr": metrics_addr} if metrics_addr else {}

    def write(self) -> None:
        m = self._driver.metrics
        state = self._driver.state
        status = {"pid": os.getpid(), "peer_id": self._network.local_id,
                  "validator": self._config.index, "addrs": self._network.listen_addrs(),
                  "connected": self._network.connected_peers(),
                  "height": state.height, "round": state.round,
                  "epoch_ms": self._config.epoch_ms, "decided": self._finality.decided,
                  "metrics": {"sent": m.sent, "received": m.received, "rejected": m.rejected,
                              "synced": m.synced, "evidence": m.evidence,
                              "refused": m.refused},
                  **self._extra, "updated_ms": self._config.clock_ms()}
        tmp = self._path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(status), encoding="utf-8")
        os.replace(tmp, self._path)

    async def run(self) -> None:
        while True:
            self.write()
            with trio.move_on_after(self._config.status_interval_s):
                await self._finality.changed.wait()
            self._finality.changed = trio.Event()


def _decided_on_chain(chain: ChainStore) -> dict[str, dict]:
    """Every height of the chain as a status entry (its latency unknown: a block appended
    just before a crash, whose status line was never written)."""
    return {str(h): {"round": b.certificate.round, "block_id": b.block.block_id().hex(),
                     "decided_ms": None, "close_ms": None, "latency_ms": None}
            for h, b in enumerate(chain.blocks())}


def _resume_height(config: ChainValidatorConfig, app: ConsensusApp,
                   decided: dict[str, dict]) -> int:
    """Where to start: after the last block of the chain; without one (a test app), after
    the last height decided before a restart, but no further back than peers still hold
    certificates for in memory."""
    now_ms = config.clock_ms()
    closed = (now_ms - config.genesis.genesis_time_ms) // config.epoch_ms - 1
    if isinstance(app, ChainApp):
        # blocks are appended in order, none skipped; peers serve every certificate of
        # their chains, so however far behind, it catches up height by height
        return app.chain.height() + 1
    after_last = max((int(h) + 1 for h in decided), default=0)
    return max(after_last, closed - _SYNCABLE_HEIGHTS, 0)


async def _epoch_clock(config: ChainValidatorConfig, first_height: int,
                       heights: trio.MemorySendChannel[int]) -> None:
    """Start each height when its epoch closes (at once for epochs already closed)."""
    height = first_height
    async with heights:
        while True:
            wait_ms = epoch_close_ms(config.genesis, config.epoch_ms, height) - config.clock_ms()
            if wait_ms > 0:
                await trio.sleep(wait_ms / 1000)
            logger.debug("epoch %d closed: starting its height", height)
            await heights.send(height)
            height += 1


def _collectors(app: ConsensusApp, network: Network, peer_metrics: PeerMetrics,
                driver: ConsensusDriver, finality: _Finality) -> list[object]:
    """What a validator's metrics show; verdicts and rewards when it runs the real chain."""
    collectors: list[object] = [PeerCollector(peer_metrics, network), ConsensusCollector(driver),
                                FinalityCollector(finality.decided)]
    if isinstance(app, ChainApp):
        collectors += [VerdictCollector(app.store), RewardsCollector(app.ledger)]
    return collectors


def _chain_reaches(chain: ChainStore) -> Callable[[int], Awaitable[None]]:
    """Wait until block e - 1 is final here before epoch e is judged: at once normally (it
    was final seconds after its epoch closed). A validator catching up waits while the
    block syncs in, so the epoch a certified block is for is still the last it judged,
    the one it can judge again over the block's reports (`EpochReconciler`); block e - 2,
    whose entropy epoch e needs, is final by then too."""

    async def ready(epoch: int) -> None:
        while chain.height() < epoch - 1:
            await trio.sleep(0.1)

    return ready


async def _reconcile_epochs(requests: trio.MemoryReceiveChannel[tuple[int, bytes, tuple]],
                           reconciler: EpochReconciler, app: ChainApp,
                           driver: ConsensusDriver) -> None:
    """Judge an epoch again when a proposed block's leaves differ, then recheck the block."""
    async for height, block_id, leaves in requests:
        if await reconciler.reconcile(height, leaves):
            app.forget_epoch(height)
        driver.recheck(block_id)


async def _start_poc(nursery: trio.Nursery, config: ChainValidatorConfig, app: ConsensusApp,
                     network: Network, peer_metrics: PeerMetrics, driver: ConsensusDriver,
                     heights: trio.MemorySendChannel[int], first_height: int
                     ) -> EpochReconciler:
    """The validator's proof-of-coverage: report gossip and sync into the chain app's store,
    the challenger, the epoch closer that starts each height, and the reconciler that
    judges an epoch again over a proposed block's reports (`EpochReconciler`)."""
    poc = config.poc
    assert poc is not None
    if not isinstance(app, ChainApp):
        raise ConsensusError("proof-of-coverage needs the chain app (chain_app_factory)")
    p2p = await start_services(nursery, network, app.store, clock_ms=config.clock_ms,
                               metrics=peer_metrics, sync_interval_s=poc.sync_interval_s,
                               full_sync_interval_s=poc.full_sync_interval_s)
    entropy_for = chain_entropy(app.chain, config.genesis)
    genesis_ms = config.genesis.genesis_time_ms
    await start_challenger(nursery, p2p.gossip, app.store, config.keypair, poc.params,
                           config.clock_ms, entropy_for=entropy_for, genesis_ms=genesis_ms)
    serve_hotspot_queries(network, app.store, app.chain)
    validators = set(validator_peer_ids(config.genesis))

    def peers() -> list[str]:
        return [p for p in network.connected_peers() if p in validators]

    predictor = PathPredictor(poc.params, poc.terrain)
    closer = EpochCloser(
        app.store, poc.params, predictor, sync=p2p.sync, peers=peers,
        entropy_for=entropy_for, clock_ms=config.clock_ms, genesis_ms=genesis_ms,
        grace_ms=poc.grace_ms, first_epoch=first_height, fetch_timeout_s=poc.fetch_timeout_s,
        # what the app built for the epoch before its verdicts were saved (a peer fetched
        # a block of it early) is stale: built again from the store at its next use
        on_closed=lambda closed: app.forget_epoch(closed.epoch))
    reconciler = EpochReconciler(app.store, poc.params, predictor, closer, sync=p2p.sync,
                                 peers=peers, entropy_for=entropy_for, genesis_ms=genesis_ms,
                                 fetch_timeout_s=poc.fetch_timeout_s)
    send, receive = trio.open_memory_channel[tuple[int, bytes, tuple]](math.inf)
    app.reconcile = lambda height, block_id, leaves: send.send_nowait(
        (height, block_id, leaves))
    nursery.start_soon(_reconcile_epochs, receive, reconciler, app, driver)
    nursery.start_soon(functools.partial(closer.run, heights, ready=_chain_reaches(app.chain)))
    return reconciler


async def run_chain_validator(config: ChainValidatorConfig, *,
                              task_status: trio.TaskStatus[ConsensusDriver]
                              = trio.TASK_STATUS_IGNORED) -> None:
    """Run one validator until cancelled (``nursery.start(run_chain_validator, config)``)."""
    earlier = (read_validator_status(config.data_dir) or {}).get("decided", {})
    with VoteSigner.open(config.data_dir, config.keypair, config.genesis,
                         joining=config.joining) as signer, \
            config.app_factory(config.data_dir, config.genesis) as app:
        if isinstance(app, ChainApp):  # the chain is the truth; the status file may lag it
            earlier = {**_decided_on_chain(app.chain), **earlier}
        finality = _Finality(app, config, earlier)
        first_height = _resume_height(config, app, earlier)
        if isinstance(app, ChainApp):
            _check_params_in_office(app, first_height)
        bootstrap = validator_bootstrap(config.genesis, config.index)
        peer_metrics = PeerMetrics()
        async with open_libp2p_network(config.keypair, peer_metrics,
                                       listen_addrs=[config.listen_addr],
                                       bootstrap=bootstrap) as network, \
                trio.open_nursery() as nursery:
            driver = ConsensusDriver(network, config.genesis, signer, finality,
                                     config=config.core, sync_every_s=config.sync_every_s,
                                     first_height=first_height,
                                     evidence_log=getattr(app, "evidence_log", None),
                                     genesis_at=getattr(app, "genesis_at", None))
            heights_send, heights_receive = trio.open_memory_channel[int](0)
            await nursery.start(driver.run, heights_receive)
            if config.block_file is not None:
                nursery.start_soon(watch_blocklist, config.block_file, network)
            metrics_addr = None
            if config.metrics_listen is not None:
                metrics_addr = format_listen(*await nursery.start(
                    serve_metrics, config.metrics_listen,
                    _collectors(app, network, peer_metrics, driver, finality)))
            nursery.start_soon(_StatusFile(config, network, driver, finality, metrics_addr).run)
            reconciler = None
            if config.poc is not None:
                reconciler = await _start_poc(nursery, config, app, network, peer_metrics,
                                              driver, heights_send, first_height)
            else:
                nursery.start_soon(_epoch_clock, config, first_height, heights_send)
            if isinstance(app, ChainApp):  # certified blocks it cannot rebuild: fetched
                await start_block_sync(nursery, network, config.genesis, app,
                                       reconcile=reconciler and reconciler.reconcile,
                                       recheck=driver.recheck)
            logger.info("validator %s (%s) listening on %s from height %d", config.index,
                        network.local_id, " ".join(network.listen_addrs()), first_height)
            task_status.started(driver)

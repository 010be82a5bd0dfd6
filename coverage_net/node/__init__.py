"""Composition roots (layer 5): one short function per process.

Each root opens the store, the identity and the network, starts the small actors
of its process in one nursery and hands each only what it needs. Today: the bare
peer (`run_peer`), the hotspot (`run_hotspot`: peer, radio, announcement, and the
proof-of-coverage actors `start_hotspot_poc`), and the challenger a validator adds
(`start_challenger`); the validator and router roots follow. And a whole
proof-of-coverage network in one process on simulated air (`run_poc_scenario`), its
reports handed to the verifier directly (tests carry them over the in-memory network
instead, with `coverage_net.node.testing`). Beside them, the glue that stores `poc`
verdicts in the store (`save_verdicts`, `load_verdict`), the chain validator
(`run_chain_validator`: consensus over libp2p, one height per epoch) with a loopback
chain for demos and tests (`write_loopback_chain`), and the rewards of an epoch booked
from the store into the ledger (`book_epoch`, `check_epoch`). The validator's epoch
pipeline (`EpochCloser`): fetch an epoch's reports from peers, judge what the store
holds (`verify_stored_epoch`, the link history rebuilt by `history_for_epoch` after a
restart), hand the height to consensus. The data path: the hotspot's forwarder offers
the device uplinks its radio hears to routers (`run_uplink_forwarder`), and the router
(`run_router`) buys each packet once, signs a `DataTransferReceipt` and gossips it.
"""

from ._block_adopt import BlockAdopter, start_block_sync
from ._calibration_inputs import load_calibration_samples
from ._chain_app import ENTROPY_DOMAIN, ChainApp
from ._chain_changes import CHANGES_DIR, load_pending_changes
from ._chain_genesis import (
    GENESIS_FILENAME,
    PARAMS_FILENAME,
    LoopbackChain,
    write_loopback_chain,
)
from ._chain_validator import (
    VALIDATOR_STATUS_FILENAME,
    ChainValidatorConfig,
    ValidatorPoc,
    chain_entropy,
    epoch_close_ms,
    read_validator_status,
    run_chain_validator,
    validator_bootstrap,
    validator_peer_ids,
)
from ._epoch_reconcile import EpochReconciler
from ._epoch_verifier import (
    ClosedEpoch,
    EpochCloser,
    StoredEpoch,
    epoch_start_ms,
    fetch_epoch_reports,
    history_for_epoch,
    load_stored_epoch,
    replay_epochs,
    verify_stored_epoch,
)
from ._hotspot import (
    HOTSPOT_STATUS_FILENAME,
    HotspotSettings,
    RunningHotspot,
    hotspot_announcement,
    pending_challenges,
    read_hotspot_status,
    run_hotspot,
)
from ._map_inputs import MapInputs, load_map_inputs
from ._peer import PeerConfig, RunningPeer, run_peer, wall_clock_ms
from ._poc import RunningChallenger, announced_hotspots, start_challenger, start_hotspot_poc
from ._poc_results import (
    ATTACKS,
    EARLY_STAMP_MS,
    EpochInput,
    PocScenario,
    ScenarioResult,
    TransportFigures,
)
from ._poc_sim import Carrier, CarryContext, carry_direct, run_poc_scenario
from ._rewards import (
    EpochRewardInputs,
    book_epoch,
    check_epoch,
    load_epoch_inputs,
    save_announcements,
    save_receipts,
)
from ._router import (
    ROUTER_DB_FILENAME,
    ROUTER_STATUS_FILENAME,
    RouterCollector,
    RouterCounters,
    RouterError,
    RouterSettings,
    RunningRouter,
    read_router_status,
    run_router,
)
from ._uplinks import (
    REFUSALS,
    UPLINK_LIMITS,
    UPLINK_PROTOCOL,
    UplinkCollector,
    UplinkError,
    UplinkMetrics,
    UplinkOffer,
    UplinkRefused,
    UplinkReply,
    decode_offer,
    decode_reply,
    encode_reply,
    is_sellable_uplink,
    run_uplink_forwarder,
    sensor_radio_config,
    uplink_offer,
)
from ._validator_apps import AppFactory, EpochHashApp, chain_app_factory, epoch_hash_app_factory
from ._verdicts import load_verdict, save_verdicts, verdict_from_row, verdict_row

__all__ = [
    "PeerConfig", "RunningPeer", "run_peer", "wall_clock_ms",
    "HotspotSettings", "RunningHotspot", "run_hotspot", "hotspot_announcement",
    "pending_challenges", "read_hotspot_status", "HOTSPOT_STATUS_FILENAME",
    "RunningChallenger", "announced_hotspots", "start_challenger", "start_hotspot_poc",
    "ATTACKS", "EARLY_STAMP_MS", "EpochInput", "PocScenario", "ScenarioResult", "TransportFigures",
    "run_poc_scenario", "Carrier", "CarryContext", "carry_direct",
    "save_verdicts", "load_verdict", "verdict_row", "verdict_from_row",
    "EpochRewardInputs", "book_epoch", "check_epoch", "load_epoch_inputs", "save_receipts",
    "save_announcements", "ChainApp", "ENTROPY_DOMAIN", "BlockAdopter", "start_block_sync",
    "ChainValidatorConfig", "run_chain_validator", "AppFactory", "EpochHashApp",
    "epoch_close_ms", "validator_bootstrap", "read_validator_status",
    "VALIDATOR_STATUS_FILENAME", "GENESIS_FILENAME", "LoopbackChain", "write_loopback_chain",
    "CHANGES_DIR", "load_pending_changes", "MapInputs", "load_map_inputs",
    "load_calibration_samples", "PARAMS_FILENAME",
    "chain_app_factory",
    "epoch_hash_app_factory", "ValidatorPoc",
    "chain_entropy", "validator_peer_ids",
    "EpochReconciler", "ClosedEpoch", "EpochCloser", "StoredEpoch", "epoch_start_ms",
    "fetch_epoch_reports",
    "history_for_epoch", "load_stored_epoch", "replay_epochs", "verify_stored_epoch",
    "RouterSettings", "RunningRouter", "RouterCounters", "RouterCollector", "RouterError",
    "run_router",
    "read_router_status", "ROUTER_STATUS_FILENAME", "ROUTER_DB_FILENAME",
    "UPLINK_PROTOCOL", "UPLINK_LIMITS", "REFUSALS", "UplinkCollector", "UplinkError",
    "UplinkRefused",
    "UplinkOffer", "UplinkReply", "UplinkMetrics", "uplink_offer", "decode_offer",
    "decode_reply", "encode_reply", "is_sellable_uplink", "run_uplink_forwarder",
    "sensor_radio_config",
]

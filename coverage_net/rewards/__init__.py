"""Rewards (layer 4, core): an epoch's verdicts and data-transfer receipts into payouts.

Pure and exact: `epoch_rewards` is a function of the network parameters, the
epoch's verdicts, the hotspot registry, the receipts and the beacon history before
the epoch, with every amount an integer in the token's smallest unit; its
`RewardManifest` is canonical and hashable, so validators can agree on it and
anyone can recompute it. HIP-15 units (`_units`), HIP-17 transmit scales
(`_density`), emission and pools (`_compute`), the receipt message (`_receipt`),
and the SQLite ledger that books manifests into balances (`_ledger`). Imports
`coverage_net.poc` (verdicts, registry, parameters) and below, nothing above.
"""

from coverage_net.poc import (
    BPS,
    RESERVED_ACCOUNTS,
    UNITS_PER_COV,
    HexDensityParams,
    RewardParams,
)

from ._compute import (
    SCALE_ONE,
    emission_for_epoch,
    epoch_rewards,
    interactive_hotspots,
    valid_receipts,
    witnessed_beacon_epochs,
)
from ._density import HexLevel, hex_levels, transmit_scales
from ._errors import LedgerError, ManifestError, RewardsError
from ._ledger import LEDGER_FILENAME, RewardLedger
from ._manifest import (
    REMAINDER_ACCOUNT,
    Payout,
    RewardManifest,
    differences,
    first_difference,
)
from ._receipt import DATA_CREDIT_BYTES, DataTransferReceipt, data_credits_for
from ._units import UnitTable, beaconer_units, witness_units

__all__ = [
    # errors
    "RewardsError", "ManifestError", "LedgerError",
    # parameters
    "RewardParams", "HexDensityParams", "BPS", "UNITS_PER_COV", "RESERVED_ACCOUNTS",
    # rules
    "epoch_rewards", "emission_for_epoch", "interactive_hotspots", "witnessed_beacon_epochs",
    "valid_receipts", "SCALE_ONE", "beaconer_units", "witness_units", "UnitTable",
    "transmit_scales", "hex_levels", "HexLevel",
    # data transfer
    "DataTransferReceipt", "data_credits_for", "DATA_CREDIT_BYTES",
    # the ledger
    "RewardLedger", "LEDGER_FILENAME",
    # the manifest
    "RewardManifest", "Payout", "REMAINDER_ACCOUNT", "first_difference", "differences",
]

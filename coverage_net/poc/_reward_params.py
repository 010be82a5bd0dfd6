"""The `[rewards]` section of the network parameters: emission, pools, HIP-15/17 constants.

It lives beside the rest of the parameter file (`_params`) because the file is one
hashed whole that the genesis block commits to; the rules that read it are in
`coverage_net.rewards`. Every value is an integer: amounts in the smallest unit of
the token (`UNITS_PER_COV` of them make one COV), shares in basis points (1/10,000),
the HIP-15 decay in ppm, times in ms, so a payout never depends on float rounding.

Defaults follow Helium's last proof-of-coverage economics where the issue names them
(beacons 6 %, witnesses 24 %, data transfer up to 50 %, its unused part to beacons and
witnesses 20/80; HIP-15 N = 4, r = 0.8; HIP-17 densities as re-tuned by HIP-104); the
remaining 20 % goes to the named accounts (operations and validators, 10 % each).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from coverage_net.identity import PUBLIC_KEY_BYTES

from ._errors import ParamsError
from ._param_checks import _hex, _int_at, _refuse_unknown, _table

__all__ = ["BPS", "UNITS_PER_COV", "HexDensityParams", "RewardParams", "reward_params"]

BPS = 10_000
"""Basis points in a whole: pool shares are integers out of this."""
UNITS_PER_COV = 100_000_000
"""Smallest units in one COV (like satoshis in a bitcoin)."""
_PPM = 1_000_000
_MIN_RES, _MAX_RES = 0, 15
_ACCOUNT_NAME_CHARS = 32
RESERVED_ACCOUNTS = frozenset({"remainder"})
"""Account names the rules book to themselves (the rounding remainder)."""


@dataclass(frozen=True)
class HexDensityParams:
    """HIP-17 density limits at one H3 resolution: a hex holds up to `target` hotspots,
    raised by `target` for each occupied neighbour beyond `neighbours`, up to `maximum`."""

    resolution: int
    neighbours: int
    target: int
    maximum: int


_DEFAULT_DENSITY = (  # HIP-104's re-tuned HIP-17 values: res, N, target, max
    HexDensityParams(4, 2, 500, 1000),
    HexDensityParams(5, 4, 100, 200),
    HexDensityParams(6, 4, 25, 50),
    HexDensityParams(7, 4, 5, 10),
    HexDensityParams(8, 2, 1, 1),
    HexDensityParams(9, 2, 1, 1),
    HexDensityParams(10, 2, 1, 1),
)


@dataclass(frozen=True)
class RewardParams:
    """How an epoch's emission is split and earned (see the module docstring for units)."""

    emission_per_epoch: int = 1_000 * UNITS_PER_COV
    """Units minted in each epoch before the first halving."""
    halving_interval_epochs: int = 35_040
    """Emission halves after this many epochs (35,040 x 30 min = 2 years); 0: never."""
    beacon_bps: int = 600
    witness_bps: int = 2_400
    data_transfer_bps: int = 5_000
    """The most data transfer can take; what it does not use goes to beacons and witnesses."""
    unused_data_to_beacons_bps: int = 2_000
    """Share of the unused data-transfer pool that goes to beacons (the rest to witnesses)."""
    accounts: tuple[tuple[str, int], ...] = (("operations", 1_000), ("validators", 1_000))
    """Named accounts and their shares of emission, sorted by name."""
    witness_target: int = 4
    """HIP-15 N: witnesses per beacon at which the beaconer earns one unit."""
    witness_decay_ppm: int = 800_000
    """HIP-15 r, in ppm: how fast units per witness fall beyond N."""
    interactive_window_ms: int = 60 * 3_600_000
    """A hotspot counts for hex density (HIP-17's "interactive") when one of its valid
    beacons was witnessed within this long before the epoch's end."""
    hex_density: tuple[HexDensityParams, ...] = _DEFAULT_DENSITY
    """Per resolution, finest last; a hotspot's transmit scale multiplies over all of them."""
    routers: tuple[bytes, ...] = ()
    """Ed25519 keys of the routers whose data-transfer receipts count, sorted."""
    data_credit_value: int = 1_000
    """Units paid per data credit carried, before the data-transfer pool's cap."""

    def to_dict(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out["accounts"] = dict(self.accounts)
        out["hex_density"] = {str(d.resolution): {"neighbours": d.neighbours, "target": d.target,
                                                  "maximum": d.maximum}
                              for d in self.hex_density}
        out["routers"] = [key.hex() for key in self.routers]
        return out


_INT_FIELDS = {  # name -> minimum
    "emission_per_epoch": 0, "halving_interval_epochs": 0, "beacon_bps": 0, "witness_bps": 0,
    "data_transfer_bps": 0, "unused_data_to_beacons_bps": 0, "witness_target": 1,
    "witness_decay_ppm": 0, "interactive_window_ms": 1, "data_credit_value": 0,
}


def reward_params(value: object, path: str = "rewards") -> RewardParams:
    """Check and normalize a parsed `[rewards]` table; `ParamsError` names the key."""
    table = _table(value, path)
    _refuse_unknown(table, {f.name for f in dataclasses.fields(RewardParams)}, path)
    defaults = RewardParams()
    ints = {name: _int_at(path, table, name, getattr(defaults, name), minimum=minimum)
            for name, minimum in _INT_FIELDS.items()}
    if ints["witness_decay_ppm"] >= _PPM:
        raise ParamsError(f"{path}.witness_decay_ppm: must be below {_PPM} (r < 1), "
                          f"got {ints['witness_decay_ppm']}")
    if ints["unused_data_to_beacons_bps"] > BPS:
        raise ParamsError(f"{path}.unused_data_to_beacons_bps: must be at most {BPS}, "
                          f"got {ints['unused_data_to_beacons_bps']}")
    accounts = (_accounts(table["accounts"], f"{path}.accounts") if "accounts" in table
                else defaults.accounts)
    shares = ints["beacon_bps"] + ints["witness_bps"] + ints["data_transfer_bps"] \
        + sum(bps for _, bps in accounts)
    if shares != BPS:
        raise ParamsError(
            f"{path}: beacon_bps + witness_bps + data_transfer_bps + the accounts' shares must "
            f"be {BPS} (all of the emission), got {shares}")
    density = (_density(table["hex_density"], f"{path}.hex_density")
               if "hex_density" in table else defaults.hex_density)
    routers = _routers(table.get("routers", []), f"{path}.routers")
    return RewardParams(**ints, accounts=accounts, hex_density=density, routers=routers)


def _accounts(value: object, path: str) -> tuple[tuple[str, int], ...]:
    table = _table(value, path)
    out = []
    for name in table:
        if (not isinstance(name, str) or not name or len(name) > _ACCOUNT_NAME_CHARS
                or not name.replace("_", "").replace("-", "").isalnum() or not name.isascii()):
            raise ParamsError(f"{path}.{name}: an account name is 1-{_ACCOUNT_NAME_CHARS} "
                              "ASCII letters, digits, '-' or '_'")
        if name in RESERVED_ACCOUNTS:
            raise ParamsError(f"{path}.{name}: reserved for the rounding remainder")
        if len(name) == 2 * PUBLIC_KEY_BYTES:
            raise ParamsError(f"{path}.{name}: 64 characters would read as a hotspot's key")
        out.append((name, _int_at(path, table, name, 0, minimum=0)))
    return tuple(sorted(out))


def _density(value: object, path: str) -> tuple[HexDensityParams, ...]:
    table = _table(value, path)
    if not table:
        raise ParamsError(f"{path}: list at least one resolution")
    out = []
    for res, row in table.items():
        where = f"{path}.{res}"
        if not str(res).isdigit() or not _MIN_RES <= int(res) <= _MAX_RES:
            raise ParamsError(f"{where}: a resolution is an integer {_MIN_RES}-{_MAX_RES}")
        row = _table(row, where)
        if set(row) != {"neighbours", "target", "maximum"}:
            raise ParamsError(f"{where}: must hold exactly neighbours, target and maximum")
        target = _int_at(where, row, "target", 0, minimum=1)
        out.append(HexDensityParams(int(res), _int_at(where, row, "neighbours", 0, minimum=0),
                                    target, _int_at(where, row, "maximum", 0, minimum=target)))
    return tuple(sorted(out, key=lambda d: d.resolution))


def _routers(value: object, path: str) -> tuple[bytes, ...]:
    if not isinstance(value, list | tuple):
        raise ParamsError(f"{path}: must be a list of hex ed25519 public keys")
    keys: list[bytes] = []
    for i, item in enumerate(value):
        key = _hex(item, f"{path}[{i}]", PUBLIC_KEY_BYTES, "an ed25519 public key")
        if key in keys:
            raise ParamsError(f"{path}[{i}]: router {key.hex()} is listed twice")
        keys.append(key)
    return tuple(sorted(keys))

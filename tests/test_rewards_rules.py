"""The reward rules by hand: HIP-15 units, HIP-17 scales, pools, receipts, one small epoch."""

from __future__ import annotations

from fractions import Fraction

import pytest
from h3.api import basic_int as h3
from rewards_helpers import (
    ROUTER,
    beacon,
    key,
    receipt,
    registry,
    round_verdicts,
    spread_cells,
    witness,
)

from coverage_net.identity import Keypair
from coverage_net.poc import ParamsError, params_from_dict
from coverage_net.rewards import (
    SCALE_ONE,
    RewardsError,
    UnitTable,
    beaconer_units,
    emission_for_epoch,
    epoch_rewards,
    transmit_scales,
    witness_units,
)

DENSITY = params_from_dict({}).rewards.hex_density
HALF_HOUR_MS = 1_800_000


def _params(**rewards: object):
    return params_from_dict({"rewards": {"emission_per_epoch": 1_000_000,
                                         "routers": [ROUTER.public_key.hex()], **rewards}})


# --- HIP-15 units ------------------------------------------------------------------------


@pytest.mark.parametrize(("w", "beaconer", "each"), [
    (0, Fraction(0), None),
    (1, Fraction(1, 4), Fraction(1)),
    (4, Fraction(1), Fraction(1)),
    (5, Fraction(6, 5), Fraction(19, 25)),                   # 1.2 and 0.76
    (14, 2 - Fraction(4, 5) ** 10, (3 + Fraction(4, 5) ** 10) / 14),  # 1.89 and 0.22
    (20, 2 - Fraction(4, 5) ** 16, (3 + Fraction(4, 5) ** 16) / 20),
])
def test_hip15_units_by_hand(w, beaconer, each):
    assert beaconer_units(w, 4, 800_000) == beaconer
    if each is not None:
        assert witness_units(w, 4, 800_000) == each


def test_hip15_units_to_two_decimals_as_the_issue_states():
    assert round(float(beaconer_units(5, 4, 800_000)), 2) == 1.2
    assert round(float(witness_units(5, 4, 800_000)), 2) == 0.76
    assert round(float(beaconer_units(14, 4, 800_000)), 2) == 1.89
    assert round(float(witness_units(14, 4, 800_000)), 2) == 0.22


def test_unit_table_is_exact_over_one_denominator():
    table = UnitTable.build(14, 4, 800_000)
    for w in range(15):
        assert Fraction(table.beaconer[w], table.denominator) == beaconer_units(w, 4, 800_000)
        if w:
            assert Fraction(table.witness[w], table.denominator) == witness_units(w, 4, 800_000)
    assert table.witness[0] == 0


def test_units_refuse_nonsense():
    with pytest.raises(ValueError, match="witnesses must be >= 0"):
        beaconer_units(-1, 4, 800_000)
    with pytest.raises(ValueError, match="witnesses >= 1"):
        witness_units(0, 4, 800_000)


# --- HIP-17 transmit scale ---------------------------------------------------------------


def _scales(cells: dict[bytes, int], interactive=None) -> dict[bytes, Fraction]:
    return transmit_scales(cells, set(cells) if interactive is None else interactive, DENSITY)


def _in(hex_id: int, res: int = 12) -> int:
    return h3.cell_to_center_child(hex_id, res)


def test_a_lone_hotspot_is_not_scaled():
    assert _scales({b"a": spread_cells(1)[0]}) == {b"a": 1}


def test_a_dense_res8_hex_shares_one_hotspot_worth():
    """Five hotspots in five res-9 children of one res-8 hex: every level below holds one
    each (scale 1), the res-8 hex holds 5 against a limit of 1 (max 1): 1/5 each."""
    res8 = h3.latlng_to_cell(44.3, -71.6, 8)
    children = sorted(h3.cell_to_children(res8, 9))[:5]
    scales = _scales({bytes([i]): _in(c) for i, c in enumerate(children)})
    assert scales == {bytes([i]): Fraction(1, 5) for i in range(5)}


def _fill_res7(res7: int) -> list[int]:
    """One hotspot in each of the seven res-8 children of a res-7 hex."""
    return [_in(c) for c in sorted(h3.cell_to_children(res7, 8))]


def test_a_crowded_res7_hex_alone_is_clipped_to_its_target():
    """Seven occupied res-8 hexes (one hotspot each, so clipped 1 each) give the res-7 hex
    an unclipped density of 7; no neighbour reaches the target of 5, so its limit is the
    target: 5/7. Its res-6 parent then holds 5 of a target of 25: 1."""
    res7 = h3.cell_to_center_child(h3.latlng_to_cell(44.3, -71.6, 6), 7)
    scales = _scales({bytes([i]): c for i, c in enumerate(_fill_res7(res7))})
    assert set(scales.values()) == {Fraction(5, 7)}


def test_a_dense_res7_neighbourhood_raises_the_limit_and_its_parent_clips():
    """All seven res-7 children of one res-6 hex filled (49 hotspots). The centre child
    has 7 occupied hexes in its ring (n = 7 > N = 4): limit min(10, 5 * 4) = 10, so 7/7.
    Each outer child sees itself, the centre and its two ring neighbours (n = 4 = N):
    limit 5, so 5/7. The res-6 hex then holds 7 + 6 * 5 = 37 against a limit of 25 (no
    neighbour reaches 25): 25/37. Res 5 holds 25 of a target of 100: 1."""
    res6 = h3.latlng_to_cell(44.3, -71.6, 6)
    centre = h3.cell_to_center_child(res6, 7)
    assert set(h3.grid_disk(centre, 1)) == set(h3.cell_to_children(res6, 7))  # the geometry
    cells, where = {}, {}
    for res7 in sorted(h3.cell_to_children(res6, 7)):
        for cell in _fill_res7(res7):
            k = len(cells).to_bytes(2, "big")
            cells[k], where[k] = cell, res7
    scales = _scales(cells)
    for k, scale in scales.items():
        expected = Fraction(25, 37) if where[k] == centre else Fraction(5, 7) * Fraction(25, 37)
        assert scale == expected


def test_a_hotspot_whose_last_witnessed_beacon_is_61_h_old_neither_earns_nor_crowds():
    """Two hotspots in one res-10 hex: both interactive, each is scaled 1/2. The second's
    last witnessed beacon 61 h before the epoch (122 half-hour epochs): it is not
    interactive, scales 0, and the first is alone again (1). At exactly 60 h it counts."""
    res10 = h3.latlng_to_cell(44.3, -71.6, 10)
    cells = {key(0).public_key: _in(res10), key(1).public_key: h3.cell_to_children(res10, 12)[3]}
    reg = registry(list(cells.values()))
    params = _params()
    assert params.epoch_length_ms == HALF_HOUR_MS
    epoch = 500
    verdicts = round_verdicts(epoch, 1, 0, [1])  # the first beacons, the second hears it
    for age_epochs, first, second in ((120, SCALE_ONE // 2, SCALE_ONE // 2),
                                      (122, SCALE_ONE, 0)):
        history = {key(0).public_key: epoch - 1, key(1).public_key: epoch - age_epochs}
        manifest = epoch_rewards(params, epoch, verdicts, reg, (), history)
        assert manifest.payout(key(0).public_key.hex()).scale_pico == first
        assert manifest.payout(key(1).public_key.hex()).scale_pico == second


# --- one small epoch by hand -------------------------------------------------------------


def test_one_epoch_by_hand():
    """E = 1,000,000; no receipts, so the whole data pool (500,000) is unused: beacons get
    60,000 + 100,000, witnesses 240,000 + 400,000; operations and validators 100,000 each.
    Beacon 1: A (0) heard by B-F (1-5): A 6/5 units, each witness 19/25. Beacon 2: B heard
    by A: B 1/4, A 1. Beacon shares 160,000 * (6/5) / (29/20) = 132,413.79 -> 132,413 and
    160,000 * 5/29 -> 27,586; witness shares 640,000 * 0.76 / 4.8 -> 101,333 each for B-F,
    640,000 / 4.8 -> 133,333 for A. 1 + 2 units left over go to the remainder."""
    reg = registry(spread_cells(6))
    verdicts = round_verdicts(7, 1, 0, [1, 2, 3, 4, 5]) + round_verdicts(7, 2, 1, [0])
    m = epoch_rewards(_params(), 7, verdicts, reg, (), {})
    a, b = m.payout(key(0).public_key.hex()), m.payout(key(1).public_key.hex())
    assert (a.beacon, a.witness, a.beacons, a.witnesses) == (132_413, 133_333, 1, 1)
    assert (b.beacon, b.witness, b.beacons, b.witnesses) == (27_586, 101_333, 1, 1)
    for i in (2, 3, 4, 5):
        assert m.payout(key(i).public_key.hex()).witness == 101_333
    assert m.payout("operations").share == m.payout("validators").share == 100_000
    assert m.remainder == 3
    assert dict(m.pools) == {"beacon": 160_000, "witness": 640_000, "data_transfer": 0,
                             "account:operations": 100_000, "account:validators": 100_000}
    assert sum(p.total for p in m.payouts) == m.emission == 1_000_000


def test_twenty_valid_witnesses_earn_as_fourteen_rewarded():
    """The verifier rewards at most 14 witnesses of a beacon (entropy order); the other six
    are valid but unrewarded and earn nothing, and the units are those of w = 14."""
    reg = registry(spread_cells(21))
    verdicts = [beacon(3, 1, 0)] + [witness(3, 1, h, rewarded=h <= 14) for h in range(1, 21)]
    m = epoch_rewards(_params(), 3, verdicts, reg)
    paid = [m.payout(key(h).public_key.hex()).witness for h in range(1, 21)]
    assert len(set(paid[:14])) == 1 and paid[0] > 0 and paid[14:] == [0] * 6
    # one beacon only: the beaconer takes the whole beacon pool, whatever its units
    assert m.payout(key(0).public_key.hex()).beacon == dict(m.pools)["beacon"]


def test_invalid_and_unrewarded_reports_earn_nothing():
    reg = registry(spread_cells(4))
    verdicts = [beacon(2, 1, 0, valid=False), witness(2, 1, 1, valid=False),
                *round_verdicts(2, 2, 2, [3])]
    m = epoch_rewards(_params(), 2, verdicts, reg)
    assert m.payout(key(0).public_key.hex()).total == 0
    assert m.payout(key(1).public_key.hex()).total == 0
    assert m.payout(key(2).public_key.hex()).beacon > 0


def test_emission_halves_on_schedule():
    rp = _params(halving_interval_epochs=10).rewards
    assert [emission_for_epoch(rp, e) for e in (0, 9, 10, 19, 20, 35)] == [
        1_000_000, 1_000_000, 500_000, 500_000, 250_000, 125_000]
    assert emission_for_epoch(_params(halving_interval_epochs=0).rewards, 10**6) == 1_000_000


# --- data transfer -----------------------------------------------------------------------


def test_data_transfer_pays_per_credit_and_hands_the_rest_to_beacons_and_witnesses():
    """Pool 500,000; 30 bytes cost 2 DC at 1,000 units: hotspot 0 carries 3 packets
    (6 DC), hotspot 1 one (2 DC): 6,000 and 2,000 units. Unused 492,000: 98,400 more to
    beacons and 393,600 more to witnesses."""
    reg = registry(spread_cells(3))
    receipts = [receipt(4, p, 0) for p in range(3)] + [receipt(4, 9, 1)]
    m = epoch_rewards(_params(), 4, round_verdicts(4, 1, 2, [0]), reg, receipts)
    assert m.payout(key(0).public_key.hex()).data == 6_000
    assert m.payout(key(0).public_key.hex()).data_credits == 6
    assert m.payout(key(1).public_key.hex()).data == 2_000
    assert dict(m.pools)["beacon"] == 60_000 + 98_400
    assert dict(m.pools)["witness"] == 240_000 + 393_600


def test_data_transfer_is_capped_at_its_pool_in_proportion():
    reg = registry(spread_cells(2))
    receipts = [receipt(4, 1, 0, payload_bytes=240), receipt(4, 2, 1, payload_bytes=24)]
    m = epoch_rewards(_params(data_credit_value=100_000), 4, [], reg, receipts)
    # 10 DC and 1 DC at 100,000 = 1,100,000 > 500,000: paid 500,000 * 10/11 and * 1/11
    assert m.payout(key(0).public_key.hex()).data == 454_545
    assert m.payout(key(1).public_key.hex()).data == 45_454
    assert dict(m.pools)["data_transfer"] == 500_000


def test_receipts_that_earn_nothing():
    reg = registry(spread_cells(2))
    stranger = Keypair.from_seed(b"s" * 32)
    first = receipt(4, 1, 0, timestamp_ms=5)
    forged = receipt(4, 3, 0)
    forged = type(forged)(**{**forged.__dict__, "signature": bytes(64)})
    receipts = [
        receipt(4, 1, 1, timestamp_ms=9),          # same packet, later: the first wins
        first,
        receipt(4, 2, 0, router=stranger),         # router not listed
        receipt(5, 4, 0),                          # another epoch
        receipt(4, 5, 0, data_credits=9),          # overpriced
        forged,                                    # signature does not verify
    ]
    m = epoch_rewards(_params(), 4, [], reg, receipts)
    assert m.payout(key(0).public_key.hex()).data_credits == 2
    assert m.payout(key(1).public_key.hex()).data_credits == 0


# --- refusals ----------------------------------------------------------------------------


def test_inconsistent_verdicts_are_refused_with_the_report_named():
    reg = registry(spread_cells(3))
    wrong_epoch = beacon(8, 1, 0)
    with pytest.raises(RewardsError, match=f"{wrong_epoch.report_id.hex()} is for epoch 8"):
        epoch_rewards(_params(), 7, [wrong_epoch], reg)
    with pytest.raises(RewardsError, match="no valid beacon"):
        epoch_rewards(_params(), 7, [witness(7, 1, 1)], reg)
    with pytest.raises(RewardsError, match="more than the parameters' max_rewarded"):
        epoch_rewards(params_from_dict({"verifier": {"max_rewarded_witnesses": 1}}), 7,
                      round_verdicts(7, 1, 0, [1, 2]), reg)


@pytest.mark.parametrize(("rewards", "message"), [
    ({"beacon_bps": 700}, "must be 10000"),
    ({"witness_decay_ppm": 1_000_000}, "witness_decay_ppm: must be below"),
    ({"routers": ["zz"]}, r"rewards.routers\[0\]: 'zz' is not hex"),
    ({"accounts": {"remainder": 2_000}}, "rewards.accounts.remainder: reserved"),
    ({"hex_density": {"8": {"neighbours": 2, "target": 3, "maximum": 1}}},
     "rewards.hex_density.8.maximum: must be at least 3"),
    ({"emision_per_epoch": 5}, "rewards.emision_per_epoch: unknown key"),
    ({"witness_target": 0}, "rewards.witness_target: must be at least 1"),
])
def test_bad_reward_params_name_the_key(rewards, message):
    with pytest.raises(ParamsError, match=message):
        params_from_dict({"rewards": rewards})

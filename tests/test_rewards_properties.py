"""Rewards over random epochs: conservation to the unit, order independence, canonical bytes."""

from __future__ import annotations

import random

import pytest
from h3.api import basic_int as h3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rewards_helpers import ROUTER, key, receipt, registry, round_verdicts, witness

from coverage_net.poc import params_from_dict
from coverage_net.rewards import ManifestError, RewardManifest, epoch_rewards

N_HOTSPOTS = 24
EPOCH = 9


def _cells(seed: int) -> list[int]:
    """Hotspots in a few clusters, so that some hexes are crowded and scales vary."""
    rng = random.Random(seed)
    centres = [(44.0 + rng.random(), -72.0 + rng.random()) for _ in range(4)]
    cells = []
    for i in range(N_HOTSPOTS):
        lat, lon = centres[i % len(centres)]
        cells.append(h3.latlng_to_cell(lat + rng.uniform(-0.01, 0.01),
                                       lon + rng.uniform(-0.01, 0.01), 12))
    return cells


@st.composite
def epochs(draw):
    """Random parameters, registry, verdicts (valid or not, rewarded or not), receipts
    and beacon history."""
    shares = draw(st.lists(st.integers(0, 4_000), min_size=4, max_size=4))
    rest = 10_000 - sum(shares)
    if rest < 0:
        shares = [s * 10_000 // sum(shares) for s in shares]
        rest = 10_000 - sum(shares)
    rewards = {"emission_per_epoch": draw(st.integers(0, 10**15)),
               "beacon_bps": shares[0], "witness_bps": shares[1],
               "data_transfer_bps": shares[2],
               "accounts": {"operations": shares[3], "validators": rest},
               "unused_data_to_beacons_bps": draw(st.integers(0, 10_000)),
               "data_credit_value": draw(st.integers(0, 10**9)),
               "witness_target": draw(st.integers(1, 6)),
               "witness_decay_ppm": draw(st.integers(0, 999_999)),
               "routers": [ROUTER.public_key.hex()]}
    params = params_from_dict({"rewards": rewards,
                               "verifier": {"max_rewarded_witnesses": 14}})
    seed = draw(st.integers(0, 3))
    verdicts = []
    for challenge in range(draw(st.integers(0, 12))):
        beaconer = draw(st.integers(0, N_HOTSPOTS - 1))
        others = [h for h in range(N_HOTSPOTS) if h != beaconer]
        hearers = draw(st.lists(st.sampled_from(others), unique=True, max_size=14))
        if draw(st.booleans()):
            verdicts += round_verdicts(EPOCH, challenge, beaconer, hearers)
        else:  # a round whose beacon was refused: its witnesses are too
            verdicts += [witness(EPOCH, challenge, h, valid=False) for h in hearers]
    receipts = [receipt(EPOCH, p, draw(st.integers(0, N_HOTSPOTS - 1)),
                        payload_bytes=draw(st.integers(1, 255)),
                        timestamp_ms=draw(st.integers(0, 10)))
                for p in draw(st.lists(st.integers(0, 30), max_size=10))]
    history = {key(h).public_key: draw(st.integers(0, EPOCH))
               for h in draw(st.lists(st.integers(0, N_HOTSPOTS - 1), unique=True))}
    return params, seed, verdicts, receipts, history


_REGISTRIES = {seed: registry(_cells(seed)) for seed in range(4)}
_SETTINGS = settings(max_examples=120, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(epochs())
def test_payouts_add_up_to_the_emission_exactly_and_none_is_negative(epoch):
    params, seed, verdicts, receipts, history = epoch
    m = epoch_rewards(params, EPOCH, verdicts, _REGISTRIES[seed], receipts, history)
    assert sum(p.total for p in m.payouts) == m.emission == params.rewards.emission_per_epoch
    for p in m.payouts:
        assert min(p.beacon, p.witness, p.data, p.share) >= 0
    assert m.remainder >= 0
    assert RewardManifest.from_cbor(m.to_cbor()) == m


@_SETTINGS
@given(epochs(), st.randoms(use_true_random=False))
def test_the_same_inputs_in_any_order_give_the_same_manifest_bytes(epoch, rng):
    params, seed, verdicts, receipts, history = epoch
    reg = _REGISTRIES[seed]
    m = epoch_rewards(params, EPOCH, verdicts, reg, receipts, history)
    shuffled_v, shuffled_r = list(verdicts), list(receipts)
    rng.shuffle(shuffled_v)
    rng.shuffle(shuffled_r)
    again = epoch_rewards(params, EPOCH, shuffled_v + shuffled_v[:3], reg, shuffled_r,
                          dict(reversed(list(history.items()))))
    assert again.to_cbor() == m.to_cbor() and again.sha256() == m.sha256()


def test_a_manifest_that_does_not_add_up_is_refused():
    m = epoch_rewards(params_from_dict({}), 0, [], registry(_cells(0)))
    data = bytearray(m.to_cbor())
    with pytest.raises(ManifestError, match="add up to"):
        RewardManifest(m.epoch, m.params_digest, m.emission + 1, m.pools, m.payouts)
    with pytest.raises(ManifestError, match="not a reward manifest"):
        RewardManifest.from_cbor(bytes(data[:-1]))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_manifest_decoding_refuses_garbage_with_a_manifest_error(data):
    try:
        RewardManifest.from_cbor(data)
    except ManifestError as exc:
        assert "reward manifest" in str(exc) or "add up" in str(exc) or "payout" in str(exc)

"""Challenge selection: fixed vectors, order invariance, the long-run rate, load spread."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.poc import (
    DAY_MS,
    NetworkParams,
    PocError,
    SelectionError,
    challengees_for_epoch,
    challenger_for,
    challenges_in_epoch,
    epoch_entropy_from_seed,
    params_from_dict,
)

PARAMS = NetworkParams()  # 30 min epochs, 4 challenges per hotspot per day
KEYS = [hashlib.sha256(b"hotspot %d" % i).digest() for i in range(40)]
VALIDATORS = [hashlib.sha256(b"validator %d" % i).digest() for i in range(3)]
SEED = b"coverage-net test vectors"


def test_seeded_entropy_vectors():
    assert epoch_entropy_from_seed(b"", 0).hex() == (
        "d2ce653fc56bb422f191f60d1c1d17e55c965505630134f614bf5f7b50ae0d88")
    assert epoch_entropy_from_seed(SEED, 7).hex() == (
        "98b78eac1d7d3a18dad67ddbaad0a4285c40cec4e3420cf37ef1f737bd51216e")
    entropies = {epoch_entropy_from_seed(seed, epoch) for seed in (b"", b"a", b"b")
                 for epoch in range(50)}
    assert len(entropies) == 150 and all(len(e) == 32 for e in entropies)


# (epoch, first 8 bytes of its entropy, challengees as KEYS indices, challengers as
# VALIDATORS indices): computed once, committed, so any change to the derivation shows.
VECTORS = [
    (0, "6f1daf9b69284cc5", [2, 38, 14], [0, 2, 1]),
    (1, "556025613b6a4428", [3, 8, 17], [1, 2, 0]),
    (2, "1bf13915fb31dd7c", [24, 7, 13, 19], [2, 1, 0, 1]),
    (3, "5fb1dcddec620e69", [8, 5, 18], [0, 1, 0]),
]


@pytest.mark.parametrize(("epoch", "entropy_head", "challengees", "challengers"), VECTORS)
def test_selection_vectors(epoch, entropy_head, challengees, challengers):
    entropy = epoch_entropy_from_seed(SEED, epoch)
    assert entropy.hex()[:16] == entropy_head
    selected = challengees_for_epoch(entropy, epoch, KEYS, PARAMS)
    assert [KEYS.index(key) for key in selected] == challengees
    assert [VALIDATORS.index(challenger_for(entropy, epoch, key, VALIDATORS))
            for key in selected] == challengers


def test_expected_count_carries_fractions_from_epoch_to_epoch():
    # 40 hotspots * 4 a day * 30 min / 1 day = 3.333... per epoch
    counts = [challenges_in_epoch(40, epoch, PARAMS) for epoch in range(48)]
    assert counts[:6] == [3, 3, 4, 3, 3, 4]
    assert sum(counts) == 40 * 4  # one day of epochs: exactly the rate
    # under one challenge per epoch, most epochs have none, and a day still has the rate
    sparse = [challenges_in_epoch(3, epoch, PARAMS) for epoch in range(48)]
    assert set(sparse) == {0, 1} and sum(sparse) == 12
    assert challenges_in_epoch(0, 5, PARAMS) == 0


def test_nothing_is_selected_from_nothing_and_duplicates_count_once():
    entropy = epoch_entropy_from_seed(SEED, 0)
    assert challengees_for_epoch(entropy, 0, [], PARAMS) == []
    assert (challengees_for_epoch(entropy, 2, KEYS + KEYS[:10], PARAMS)
            == challengees_for_epoch(entropy, 2, KEYS, PARAMS))


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.binary(min_size=32, max_size=32), min_size=0, max_size=60),
       validators=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=6),
       entropy=st.binary(min_size=32, max_size=32),
       epoch=st.integers(0, 2**64 - 1),
       data=st.data())
def test_the_order_of_the_inputs_does_not_matter(keys, validators, entropy, epoch, data):
    params = params_from_dict({"epoch_length_ms": 6 * 3_600_000,
                               "challenge_window_ms": 60_000})  # a quarter of each day
    selected = challengees_for_epoch(entropy, epoch, keys, params)
    shuffled = data.draw(st.permutations(keys))
    assert challengees_for_epoch(entropy, epoch, shuffled, params) == selected
    assert len(set(selected)) == len(selected) and set(selected) <= set(keys)
    for key in selected:
        chosen = challenger_for(entropy, epoch, key, validators)
        assert chosen in validators
        assert challenger_for(entropy, epoch, key,
                              data.draw(st.permutations(validators))) == chosen


@settings(max_examples=25, deadline=None)
@given(n_hotspots=st.integers(1, 120),
       epoch_length_ms=st.sampled_from([300_000, 600_000, 1_800_000, 3_600_000]),
       rate=st.integers(1, 8),
       first_epoch=st.integers(0, 10**9),
       seed=st.binary(max_size=8))
def test_hotspots_are_challenged_at_the_rate_on_average(n_hotspots, epoch_length_ms, rate,
                                                        first_epoch, seed):
    params = params_from_dict({"epoch_length_ms": epoch_length_ms,
                               "challenge_window_ms": 60_000,
                               "challenges_per_hotspot_per_day": rate})
    keys = [hashlib.sha256(seed + b"%d" % i).digest() for i in range(n_hotspots)]
    days = 10
    epochs = range(first_epoch, first_epoch + days * DAY_MS // epoch_length_ms)
    per_hotspot = Counter()
    for epoch in epochs:
        entropy = epoch_entropy_from_seed(seed, epoch)
        per_hotspot.update(challengees_for_epoch(entropy, epoch, keys, params))
    mean_per_day = sum(per_hotspot.values()) / n_hotspots / days
    assert abs(mean_per_day - rate) <= 0.03 * rate
    assert set(per_hotspot) <= set(keys)


def test_selection_is_spread_over_hotspots_and_validators():
    keys = [hashlib.sha256(b"spread %d" % i).digest() for i in range(200)]
    per_hotspot = Counter()
    per_validator = Counter()
    for epoch in range(48 * 30):  # 30 days
        entropy = epoch_entropy_from_seed(SEED, epoch)
        for key in challengees_for_epoch(entropy, epoch, keys, PARAMS):
            per_hotspot[key] += 1
            per_validator[challenger_for(entropy, epoch, key, VALIDATORS)] += 1
    # 120 challenges per hotspot expected; none starved, none hammered
    assert len(per_hotspot) == 200
    assert 80 <= min(per_hotspot.values()) and max(per_hotspot.values()) <= 160
    total = sum(per_validator.values())
    assert total == 200 * 4 * 30
    assert all(abs(count - total / 3) < 0.05 * total / 3 for count in per_validator.values())


BAD_CALLS = [
    (lambda: epoch_entropy_from_seed("seed", 0), "seed must be bytes"),
    (lambda: epoch_entropy_from_seed(b"", -1), "epoch must be 0 to 2\\*\\*64 - 1"),
    (lambda: epoch_entropy_from_seed(b"", 2**64), "epoch must be 0 to"),
    (lambda: epoch_entropy_from_seed(b"", 1.0), "epoch must be an integer"),
    (lambda: challengees_for_epoch(b"x" * 31, 0, KEYS, PARAMS), "entropy must be 32 bytes"),
    (lambda: challengees_for_epoch(b"x" * 32, 0, [b"k" * 33], PARAMS),
     "eligible_hotspot_keys must be 32-byte"),
    (lambda: challengees_for_epoch(b"x" * 32, True, KEYS, PARAMS), "epoch must be an integer"),
    (lambda: challenger_for(b"x" * 32, 0, KEYS[0], []), "no validators"),
    (lambda: challenger_for(b"x" * 32, 0, "key", VALIDATORS), "challengee_key must be"),
    (lambda: challenger_for(b"x" * 32, 0, KEYS[0], [b"v"]), "validators must be 32-byte"),
    (lambda: challenges_in_epoch(-1, 0, PARAMS), "n_eligible must be a non-negative"),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_bad_input_is_a_selection_error(call, message):
    with pytest.raises(SelectionError, match=message) as caught:
        call()
    assert isinstance(caught.value, PocError)

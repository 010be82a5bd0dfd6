"""Challenges left unanswered by a hotspot that keeps witnessing (coverage_net.poc._unanswered)."""

from __future__ import annotations

from coverage_net.poc import NetworkParams
from coverage_net.poc._unanswered import ChallengeLedger, assess_unanswered

PARAMS = NetworkParams()  # min_unanswered_challenges 2, window 48 epochs
SYBIL, OFFLINE, HONEST = b"s" * 32, b"o" * 32, b"h" * 32
VALIDATORS = [bytes([v]) * 32 for v in range(4)]


def _run(events: list[tuple[int, dict[bytes, bool], list[bytes]]]) -> ChallengeLedger:
    """Each epoch's challenges come from validator ``epoch % 4``."""
    ledger = ChallengeLedger()
    for epoch, answered, witnesses in events:
        by = VALIDATORS[epoch % 4]
        ledger = ledger.advance(epoch, {k: (ok, by) for k, ok in answered.items()},
                                witnesses, 48)
    return ledger


def test_a_witness_that_never_beacons_is_flagged_an_offline_one_is_not():
    ledger = _run([
        (0, {SYBIL: False, OFFLINE: False, HONEST: True}, [SYBIL, HONEST]),
        (5, {}, [SYBIL, HONEST]),
        (9, {SYBIL: False, OFFLINE: False, HONEST: True}, [HONEST]),
    ])
    out = assess_unanswered(ledger, PARAMS)
    assert out[SYBIL].flagged and (out[SYBIL].unanswered, out[SYBIL].answered) == (2, 0)
    assert out[SYBIL].challengers == 2
    assert out[SYBIL].witness_epochs == 2
    assert not out[OFFLINE].flagged  # missed both, but witnessed nothing: offline
    assert not out[HONEST].flagged
    assert dict(out[SYBIL].figures) == {"hotspot_challenges_answered": 0,
                                        "hotspot_challenges_unanswered": 2}


def test_one_answer_clears_it_and_one_miss_is_not_enough():
    ledger = _run([(0, {SYBIL: False}, [SYBIL]), (3, {SYBIL: False}, []),
                   (7, {SYBIL: True}, [SYBIL])])
    assert not assess_unanswered(ledger, PARAMS)[SYBIL].flagged
    once = _run([(0, {SYBIL: False}, [SYBIL])])
    assert not assess_unanswered(once, PARAMS)[SYBIL].flagged


def test_old_challenges_leave_the_window():
    ledger = _run([(0, {SYBIL: False}, [SYBIL]), (1, {SYBIL: False}, [SYBIL])])
    assert assess_unanswered(ledger, PARAMS)[SYBIL].flagged
    later = ledger.advance(48, {}, [SYBIL], 48)  # epoch 0 is out of the 48-epoch window
    assert later.challenges[SYBIL] == ((1, False, VALIDATORS[1]),)
    assert not assess_unanswered(later, PARAMS)[SYBIL].flagged
    gone = later.advance(200, {}, [], 48)
    assert gone.challenges == {} and gone.witnessed == {}
    assert assess_unanswered(gone, PARAMS) == {}


def test_one_validator_alone_cannot_silence_a_hotspot():
    """A lying challenger can seal a secret nobody opens; its challenges alone, however
    many, never flag the hotspot: it takes f + 1 = 2 different challengers."""
    ledger = _run([(0, {HONEST: False}, [HONEST]), (4, {HONEST: False}, [HONEST]),
                   (8, {HONEST: False}, [HONEST])])  # all from VALIDATORS[0]
    out = assess_unanswered(ledger, PARAMS)[HONEST]
    assert (out.unanswered, out.challengers, out.flagged) == (3, 1, False)
    assert assess_unanswered(ledger.advance(9, {HONEST: (False, VALIDATORS[1])}, [], 48),
                             PARAMS)[HONEST].flagged

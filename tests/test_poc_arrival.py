"""The arrival-time check's clock ledger (`coverage_net.poc._arrival`) on synthetic hosts:
it recovers every host's clock offset from the lags alone, a late report does not drag
it, it is the same for any order of the rounds, a report is timed only between two
hosts whose offsets are known (one rule, for the verdicts and for the waiting hits), and
a hit judged before that waits: it joins the statistics once timed on time, is dropped
if late or no longer announced, and counts untimed once it has waited its time;
colluders stamping one hotspot's beacons early do not move its clock. A strict xfail
keeps what it does not withstand: colluders stamping no more than about 80 ms early."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage_net.poc._arrival import ClockLedger, arrival_excess_ms, timed_reports

KEYS = [bytes([i]) * 32 for i in range(60)]
DELAY_MS = 50
WINDOW = 48
MIN_REPORTS = 5
MAX_EXCESS_MS = 150
WAIT_EPOCHS = 6


def _advance(ledger: ClockLedger, epoch: int, rows, pending=(), keys=KEYS):
    """The ledger after `epoch` (the verifier's thresholds), and the links it timed."""
    return ledger.advance(epoch, keys, rows, pending, WINDOW, MIN_REPORTS, MAX_EXCESS_MS,
                          WAIT_EPOCHS)


def _epoch(rng: np.random.Generator, true_ms: np.ndarray, beacons: int = 40,
           late: dict[int, int] | None = None,
           early: tuple[int, tuple[int, ...], int] | None = None):
    """One epoch's rounds: each beacon heard by 6-14 random hosts; stamps jitter 15 ms;
    `late` adds ms to some witnesses' reports (host -> ms, on a third of its reports);
    `early` = (victim, colluders, ms): the colluders witness every beacon of the victim
    and stamp those reports that much early (their other reports honestly)."""
    victim, colluders, early_ms = early or (-1, (), 0)
    rows = []
    for _ in range(beacons):
        b = int(rng.integers(len(KEYS)))
        others = np.array([i for i in range(len(KEYS)) if i != b])
        w = np.sort(rng.choice(others, size=int(rng.integers(6, 15)), replace=False))
        if b == victim:
            w = np.union1d(w, colluders)
        beacon_stamp = true_ms[b] + round(rng.normal(0, 15))
        lag = true_ms[w] + DELAY_MS + np.rint(rng.normal(0, 15, w.size)).astype(np.int64) \
            - beacon_stamp
        for host, ms in (late or {}).items():
            lag[(w == host) & (rng.random(w.size) < 1 / 3)] += ms
        if b == victim:
            lag[np.isin(w, colluders)] -= early_ms
        rows.append((w.astype(np.int64), b, lag.astype(np.int64)))
    return rows


def _solved(ledger: ClockLedger, true_ms: np.ndarray) -> np.ndarray:
    """Solved minus true offsets, less their median (the solve fixes offsets up to one
    constant, the shared delay takes the rest)."""
    offset, _ = ledger.arrays(KEYS, min_reports=1)
    error = offset - true_ms
    return error - int(np.median(error))


def test_the_solve_recovers_every_hosts_clock_offset():
    rng = np.random.default_rng(5)
    true_ms = rng.integers(-1_500, 1_500, len(KEYS))
    ledger, equations = ClockLedger(), 0
    for epoch in range(5):  # solved after epochs 0 and 4 (`SOLVE_EVERY_EPOCHS`)
        rows = _epoch(rng, true_ms)
        equations += sum(w.size for w, _, _ in rows)
        ledger = _advance(ledger, epoch, rows)[0]
    error = _solved(ledger, true_ms)
    assert np.abs(error).max() <= 25, error  # from clocks 3 s apart, 2-stamp jitter 21 ms
    assert sum(n for _, n in ledger.offsets.values()) == 2 * equations  # both its hosts
    assert ledger.arrays(KEYS, min_reports=1)[1].all()  # every host is known


def test_late_reports_do_not_drag_an_offset():
    rng = np.random.default_rng(6)
    true_ms = rng.integers(-1_500, 1_500, len(KEYS))
    clean = ClockLedger()
    for epoch in range(4):
        clean = _advance(clean, epoch, _epoch(rng, true_ms))[0]
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    plain = _advance(clean, 4, _epoch(rng_a, true_ms))[0]
    dragged = _advance(clean, 4, _epoch(rng_b, true_ms, late={3: 320, 4: 380}))[0]
    for host in (3, 4):
        moved = abs(int(dragged.arrays(KEYS, 1)[0][host]) - int(plain.arrays(KEYS, 1)[0][host]))
        assert moved <= 15, (host, moved)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), order_seed=st.integers(0, 2**32 - 1))
def test_the_solve_is_the_same_for_any_order_of_the_rounds(seed, order_seed):
    rng = np.random.default_rng(seed)
    true_ms = rng.integers(-1_500, 1_500, len(KEYS))
    rows = _epoch(rng, true_ms, beacons=20)
    shuffled = [rows[i] for i in np.random.default_rng(order_seed).permutation(len(rows))]
    one = _advance(ClockLedger(), 0, rows)[0]
    two = _advance(ClockLedger(), 0, shuffled)[0]
    assert one == two
    assert all(type(o) is int and type(n) is int for o, n in one.offsets.values())


def test_a_report_is_timed_only_between_two_known_clocks():
    offset = np.array([0, 400, -250, 10], dtype=np.int64)
    known = np.array([True, True, False, True])
    lag = np.array([400 + 50 + 330, -250 + 50 + 330, 10 + 50 + 3], dtype=np.int64)
    witness = np.array([1, 2, 3])
    timed = timed_reports(witness, 0, known)
    assert timed.tolist() == [True, False, True]  # host 2's clock is not known yet
    assert arrival_excess_ms(lag, witness, 0, offset, timed, 50).tolist() == [330, 0, 3]
    assert not timed_reports(witness, 2, known).any()  # nor is the beaconer's
    assert arrival_excess_ms(lag, witness, 2, offset, timed_reports(witness, 2, known),
                             50).tolist() == [0, 0, 0]


def _victims_clock_error_ms(colluders: tuple[int, ...], early_ms: int, seed: int,
                            victim: int = 3) -> int:
    """How far the victim's solved clock is off after 12 epochs in which `colluders`
    witness every beacon of it and stamp those reports `early_ms` early."""
    rng = np.random.default_rng(seed)
    true_ms = rng.integers(-1_500, 1_500, len(KEYS))
    ledger = ClockLedger()
    for epoch in range(12):
        ledger, _ = _advance(ledger, epoch, _epoch(rng, true_ms,
                                                   early=(victim, colluders, early_ms)))
    return abs(int(_solved(ledger, true_ms)[victim]))


@pytest.mark.parametrize(("colluders", "early_ms"), [
    (4, 1_000), (8, 1_000), (12, 1_000), (12, 200), (12, 150), (4, 150), (12, 110)])
def test_colluders_stamping_early_do_not_drag_an_honest_beaconers_clock(colluders, early_ms):
    """Colluders witness every beacon of one honest host and stamp those reports early,
    their other reports honestly; twelve outnumber its 6-14 honest witnesses a beacon.
    Were the victim's solved clock moved by more than the 150 ms the check allows, its
    honest witnesses' reports would be refused as late and the rewarded places of its
    beacons would go to the colluders. Before the solve left out the pairs of hosts that
    report early (rules 5), four 1 s early moved it 191-375 ms (seeds 0-3), eight
    238-517 ms, twelve 481-669 ms; twelve 200 ms early 78-120 ms. Under rules 5 (a pair
    "early" from 150 ms on), twelve 150 ms early moved it 53-77 ms, four 17-34 ms."""
    worst = max(_victims_clock_error_ms(tuple(range(10, 10 + colluders)), early_ms, seed)
                for seed in range(4))
    assert worst <= 25, worst


@pytest.mark.xfail(strict=True, reason=(
    "not met: colluders stamping no more than the last trim (80 ms) early are not told "
    "from honest jitter and clock error, and still move a clock (less than the 150 ms "
    "that gets its honest witnesses refused); README: wormhole"))
def test_colluders_stamping_just_a_little_early():
    """Twelve colluders stamp the victim's beacons 80 ms early. Measured (seeds 0-3):
    its clock 22-34 ms off (seeds 0-7: 18-37 ms; under rules 5, twelve 150 ms early moved
    it 53-77 ms)."""
    worst = max(_victims_clock_error_ms(tuple(range(10, 22)), 80, seed) for seed in range(4))
    assert worst <= 25, worst


def _link(epoch: int, beaconer: int, witness: int) -> tuple:
    """A heard link observation, as the verifier builds it (`LinkObservation`'s fields)."""
    return (epoch, KEYS[beaconer], KEYS[witness], 10_000, True, True, -300, -200)


def _known_clocks(true_ms: np.ndarray) -> ClockLedger:
    rng = np.random.default_rng(11)
    ledger = ClockLedger()
    for epoch in range(3):
        ledger, _ = _advance(ledger, epoch, _epoch(rng, true_ms))
    return ledger


def test_the_verdicts_and_the_waiting_hits_know_a_clock_by_one_rule():
    """A clock is known from `arrival_min_reports` equations on: one short of that, the
    verifier's arrays do not time its reports and a hit on it keeps waiting."""
    ledger = ClockLedger(offsets={KEYS[0]: (120, MIN_REPORTS), KEYS[1]: (-40, MIN_REPORTS - 1),
                                  KEYS[2]: (-40, MIN_REPORTS)})
    offset, known = ledger.arrays(KEYS[:4], MIN_REPORTS)
    assert offset.tolist() == [120, 0, -40, 0]
    assert known.tolist() == [True, False, True, False]
    on_time = -40 - 120 + 60  # 60 ms after the clocks allow (no shared delay solved yet)
    short = (_link(5, 0, 1), KEYS[1], KEYS[0], on_time)
    enough = (_link(5, 0, 2), KEYS[2], KEYS[0], on_time)
    after, timed = ledger.advance(5, KEYS, [], [short, enough], WINDOW, MIN_REPORTS,
                                  MAX_EXCESS_MS, WAIT_EPOCHS)
    assert timed == [enough[0]]
    assert after.pending == (short,)


def test_an_untimed_hit_waits_and_joins_the_statistics_once_timed_on_time():
    true_ms = np.random.default_rng(12).integers(-1_500, 1_500, len(KEYS))
    on_time = int(true_ms[7] - true_ms[3]) + DELAY_MS + 20
    late = int(true_ms[8] - true_ms[3]) + DELAY_MS + 330  # a repeat: one airtime late
    pending = [(_link(0, 3, 7), KEYS[7], KEYS[3], on_time),
               (_link(0, 3, 8), KEYS[8], KEYS[3], late)]
    # epoch 0, no clock known yet: both wait
    ledger, timed = _advance(ClockLedger(), 0, [], pending)
    assert timed == [] and len(ledger.pending) == 2
    # later, the clocks solved from the reports: the on-time hit joins in its own
    # epoch (0); the repeat is dropped; nothing waits any more
    rng = np.random.default_rng(13)
    for epoch in range(1, 4):
        ledger, timed = _advance(ledger, epoch, _epoch(rng, true_ms))
        if timed or not ledger.pending:
            break
    assert timed == [_link(0, 3, 7)]
    assert ledger.pending == ()


def test_a_hit_between_a_known_clock_and_an_unknown_one_keeps_waiting():
    true_ms = np.random.default_rng(14).integers(-1_500, 1_500, len(KEYS))
    ledger = _known_clocks(true_ms)
    newcomer = bytes([200]) * 32  # announced, but in no equation yet
    keys = [*KEYS, newcomer]
    item = (_link(3, 3, 7)[:2] + (newcomer,) + _link(3, 3, 7)[3:], newcomer, KEYS[3], 400)
    ledger, timed = _advance(ledger, 3, [], [item], keys=keys)
    assert timed == [] and ledger.pending == (item,)
    # no longer announced: dropped
    ledger, timed = _advance(ledger, 4, [], [], keys=KEYS)
    assert timed == [] and ledger.pending == ()


def test_an_untimed_hit_counts_untimed_once_it_has_waited_its_time():
    """A liar whose reports are mostly refused gives its clock few equations: its hits
    may wait for it only so long."""
    item = (_link(0, 3, 7), KEYS[7], KEYS[3], 100)
    ledger, _ = _advance(ClockLedger(), 0, [], [item])
    ledger, timed = _advance(ledger, WAIT_EPOCHS - 1, [], [])
    assert timed == [] and ledger.pending == (item,)
    ledger, timed = _advance(ledger, WAIT_EPOCHS, [], [])
    assert timed == [_link(0, 3, 7)] and ledger.pending == ()


@settings(max_examples=20, deadline=None)
@given(order_seed=st.integers(0, 2**32 - 1))
def test_the_pending_hits_are_timed_alike_in_any_order(order_seed):
    true_ms = np.random.default_rng(15).integers(-1_500, 1_500, len(KEYS))
    ledger = _known_clocks(true_ms)
    rng = np.random.default_rng(16)
    items = [(_link(2, b, w), KEYS[w], KEYS[b],
              int(true_ms[w] - true_ms[b]) + DELAY_MS + int(rng.choice([0, 40, 320])))
             for b, w in rng.integers(0, len(KEYS), (30, 2)).tolist() if b != w]
    shuffled = [items[i] for i in np.random.default_rng(order_seed).permutation(len(items))]
    one, timed_one = _advance(ledger, 3, [], items)
    two, timed_two = _advance(ledger, 3, [], shuffled)
    assert one == two and timed_one == timed_two
    assert 0 < len(timed_one) < len(items)  # the 320 ms late ones are dropped



def test_the_clocks_are_solved_every_few_epochs_and_whenever_hits_wait():
    true_ms = np.random.default_rng(18).integers(-1_500, 1_500, len(KEYS))
    rng = np.random.default_rng(19)
    ledger, _ = _advance(ClockLedger(), 0, _epoch(rng, true_ms))
    assert ledger.solved_at == 0
    for epoch in range(1, 4):  # nothing waits: the last solve stands
        ledger, _ = _advance(ledger, epoch, _epoch(rng, true_ms))
        assert ledger.solved_at == 0
    ledger, _ = _advance(ledger, 4, _epoch(rng, true_ms))
    assert ledger.solved_at == 4
    newcomer = bytes([201]) * 32  # in no equation yet: its hit waits, so the next epoch solves
    item = (_link(5, 3, 7)[:2] + (newcomer,) + _link(5, 3, 7)[3:], newcomer, KEYS[3], 400)
    ledger, _ = _advance(ledger, 5, _epoch(rng, true_ms), [item], keys=[*KEYS, newcomer])
    assert ledger.solved_at == 5 and ledger.pending == (item,)

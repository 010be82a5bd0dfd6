# cython: language_level=3
"""The link history's per-epoch update, compiled (wrapped by coverage_net.poc._link_history).

Every epoch the verifier folds a few thousand judged links into the history: per
link a handful of integer sums, its anomaly under the probability cuts, both
ends' totals (counted per pair: a link and its reverse are one radio path), and
the reciprocity term of its pair. In Python that loop was a
fifth of a verification; here the loop and the counts are C. Everything a verdict
depends on keeps Python's integer semantics: counts of observations and
probabilities in ppm (checked to lie in 0..10^6, else the Python fallback judges
the link) are C integers, while residual sums, margins and epochs stay Python
ints, whatever their size. Layouts of a link's state and records: see
`coverage_net.poc._link_history`.
"""

from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject

cdef Py_ssize_t HEAD = 9
cdef Py_ssize_t REC = 8
cdef long long PPM = 1000000
cdef dict NONE = {}


cdef inline long long power_ppm(long long q_ppm, long long n):
    """q ** n in ppm, floored at each step (both factors in 0..10^6: no overflow, and C
    division is Python's floor division on non-negative numbers)."""
    cdef long long result = PPM
    cdef long long i
    for i in range(n):
        result = result * q_ppm // PPM
    return result


cdef tuple anomaly(long long n, long long beacons, long long hits, object p, object cuts,
                   object fallback):
    """(anomalous 0/1, expectation in ppm) of a link (see `_link_history._anomaly`)."""
    cdef long long p_ppm, p_low, p_high
    if not (0 <= p <= PPM):
        return fallback(n, beacons, hits, p, cuts)
    p_ppm, p_low, p_high = p, cuts[0], cuts[1]
    if p_ppm < p_low:
        return (1 if hits else 0), PPM - power_ppm(PPM - p_ppm, n)
    if p_ppm < p_high:
        return 0, 0
    if beacons:
        return (0 if hits else 1), power_ppm(PPM - p_ppm, beacons)
    return 0, 0


cdef tuple state_of(tuple records, tuple state, object cuts, object fallback):
    """`state` (None: a new link) with `records` added after its own records."""
    cdef long long n = 0, b = 0, h = 0, m = 0
    cdef Py_ssize_t i, size = len(records)
    cdef object r = 0
    cdef tuple kept = ()
    if state is not None:
        n, b, h, r, m = state[0], state[1], state[2], state[3], state[4]
        kept = state[HEAD:]
    for i in range(0, size, REC):
        n += <long long>records[i + 1]
        b += <long long>records[i + 2]
        h += <long long>records[i + 3]
        r = r + records[i + 4]
        m += <long long>records[i + 5]
    p = records[size - 1]
    judged = anomaly(n, b, h, p, cuts, fallback)
    return (n, b, h, r, m, records[size - 2], p, judged[0], judged[1]) + kept + records


cdef tuple unexpired(tuple state, object low):
    """The records of `state` from epoch `low` on."""
    cdef Py_ssize_t i, size = len(state)
    cdef list kept = []
    for i in range(HEAD, size, REC):
        if state[i] >= low:
            kept.extend(state[i:i + REC])
    return tuple(kept)


def records_of(new):
    """`new` (observations) as records per beaconer and receiver, and the links seen in
    each epoch (beaconer -> receivers); see `_link_history._records`."""
    cdef dict firsts = {}, more = {}, mine, records = {}, added_in = {}, seen
    cdef list recs, several
    cdef Py_ssize_t i
    for o in new:
        b, r = o[1], o[2]
        mine = <dict>firsts.get(b)
        if mine is None:
            firsts[b] = {r: o}
        elif r in mine:
            more.setdefault((b, r), [mine[r]]).append(o)
        else:
            mine[r] = o
    for b, observed in firsts.items():
        mine = {}
        records[b] = mine
        for r, o in (<dict>observed).items():
            several = <list>more.get((b, r)) if more else None
            if several is None:  # one observation (one beacon of its beaconer): the usual case
                e, _, _, p, heard, beacon_heard, residual, margin = o
                mine[r] = (e, 1, 1 if beacon_heard else 0, 1 if heard else 0,
                           residual if heard else 0, 1 if beacon_heard and not heard else 0,
                           margin, p)
                seen = <dict>added_in.get(e)
                if seen is None:
                    added_in[e] = {b: [r]}
                elif b in seen:
                    seen[b].append(r)
                else:
                    seen[b] = [r]
                continue
            several.sort()
            recs = []
            for e, _, _, p, heard, beacon_heard, residual, margin in several:
                if not recs or recs[len(recs) - REC] != e:
                    recs += (e, 0, 0, 0, 0, 0, 0, 0)
                    added_in.setdefault(e, {}).setdefault(b, []).append(r)
                i = len(recs) - REC
                recs[i + 1] += 1
                if beacon_heard:
                    recs[i + 2] += 1
                if heard:
                    recs[i + 3] += 1
                    recs[i + 4] += residual
                elif beacon_heard:
                    recs[i + 5] += 1
                recs[i + 6], recs[i + 7] = margin, p
            mine[r] = tuple(recs)
    return records, added_in


cdef inline void move_pair(dict totals, object b, object r, tuple before, tuple after,
                           tuple reverse):
    """Move both ends' totals as the pair {b, r} goes from (`before`, `reverse`) to
    (`after`, `reverse`): a pair counts once, anomalous when either direction is, with the
    larger of the two expectations (its two directions are one radio path; see
    `_link_history._pair_anomaly`). The reverse direction is read as it stands now, so
    when both directions change in one fold the two moves add up to the whole change."""
    cdef list t
    a0 = x0 = a1 = x1 = 0
    n0 = n1 = 0
    if before is not None or reverse is not None:
        a0, x0 = pair_anomaly(before, reverse)
        n0 = 1
    if after is not None or reverse is not None:
        a1, x1 = pair_anomaly(after, reverse)
        n1 = 1
    if a0 == a1 and x0 == x1 and n0 == n1:
        return
    for end in (b, r):
        t = <list>totals.get(end)
        if t is None:
            totals[end] = [a1 - a0, x1 - x0, n1 - n0]
        else:
            t[0] = t[0] + a1 - a0
            t[1] = t[1] + x1 - x0
            t[2] = t[2] + n1 - n0


cdef inline tuple pair_anomaly(tuple one, tuple other):
    """(anomalous 0/1, expectation in ppm) of a pair from its directions' states (either
    may be None)."""
    if one is None:
        return other[7], other[8]
    if other is None:
        return one[7], one[8]
    return max(one[7], other[7]), max(one[8], other[8])


def update_links(dict links, dict totals, dict changed, dict added, dict expired, object low,
                 object cuts, object fallback, dict fit_totals):
    """Fold the `changed` links (beaconer -> receivers: `added` records, `expired` epochs
    before `low`) into `links` (a copy: the receiver maps touched are copied too), both
    ends' per-pair `totals` and the receivers' `fit_totals` (lists), in place."""
    cdef dict inner, added_b
    cdef tuple state, after, more, kept
    for b, receivers in changed.items():
        old_inner = links.get(b)
        inner = {} if old_inner is None else dict(old_inner)
        added_b = <dict>added.get(b, NONE)
        expired_b = expired.get(b, ())
        for r in receivers:
            state = <tuple>inner.get(r)
            more = <tuple>added_b.get(r)
            if state is None:
                after = state_of(more, None, cuts, fallback) if more else None
            elif r in expired_b:
                kept = unexpired(state, low)
                if more:
                    kept += more
                after = state_of(kept, None, cuts, fallback) if kept else None
            else:  # only new observations: add them to the sums
                after = state_of(more, state, cuts, fallback)
            if after is None:
                inner.pop(r, None)
            else:
                inner[r] = after
            fit(fit_totals, r, state, after)
            # move both ends' (anomalous pairs, expectation, pairs) unless the anomaly stayed
            if (state is not None and after is not None and state[7] == after[7]
                    and state[8] == after[8]):
                continue
            move_pair(totals, b, r, state, after, <tuple>(<dict>links.get(r, NONE)).get(b))
        if inner:
            links[b] = inner
        else:
            links.pop(b, None)


cdef inline void fit(dict fit_totals, object receiver, tuple before, tuple after):
    """Move the receiver's model-fit sums (`coverage_net.poc._model_fit`): a link with
    hits counts its squared mean residual, rs^2 // hits^2 (centi-dB^2), and one link."""
    cdef list t
    d_sum = 0
    d_links = 0
    if before is not None and before[2]:
        d_sum -= before[3] * before[3] // (before[2] * before[2])
        d_links -= 1
    if after is not None and after[2]:
        d_sum += after[3] * after[3] // (after[2] * after[2])
        d_links += 1
    if d_sum == 0 and d_links == 0:
        return
    t = <list>fit_totals.get(receiver)
    if t is None:
        fit_totals[receiver] = [d_sum, d_links]
    else:
        t[0] += d_sum
        t[1] += d_links


def judge_pairs(dict links, changed, object cut, dict pair_terms, dict pair_totals,
                object pair_term, object cap_milli):
    """Update the term of every pair with a `changed` link (beaconer -> receivers) and
    both ends' sums of them. A pair is keyed ``(a, b)``, ``a < b``, and judged once;
    `pair_term` (`_reciprocity.pair_term_of`) computes a term, but the common one, a
    pair heard both ways, is computed here by its formula (capped at `cap_milli`)."""
    cdef dict mine
    cdef tuple ab, ba, pair
    sigma, floor = cut
    sigma_sq = sigma * sigma
    for b, receivers in changed.items():
        mine = <dict>links.get(b, NONE)
        for r in receivers:
            if b < r:
                ab, ba = <tuple>mine.get(r), <tuple>(<dict>links.get(r, NONE)).get(b)
                pair = (b, r)
            elif b in changed.get(r, ()):
                continue  # judged from the other direction
            else:
                ab, ba = <tuple>(<dict>links.get(r, NONE)).get(b), <tuple>mine.get(r)
                pair = (r, b)
            if ab is None or ba is None:
                term = None
            elif ab[2] and ba[2]:  # heard both ways: the two mean residuals, standardised
                num = ab[3] * ba[2] - ba[3] * ab[2]
                term = min(1000 * num * num // (sigma_sq * ab[2] * ba[2] * (ab[2] + ba[2])),
                           cap_milli)
            else:
                term = pair_term(ab[2], ab[3], ab[4], ab[5], ba[2], ba[3], ba[4], ba[5], sigma,
                                 floor)
            old = pair_terms.get(pair)
            if term == old:
                continue
            if old is not None:
                del pair_terms[pair]
                count_pair(pair_totals, pair[0], old, -1)
                count_pair(pair_totals, pair[1], old, -1)
            if term is not None:
                pair_terms[pair] = term
                count_pair(pair_totals, pair[0], term, 1)
                count_pair(pair_totals, pair[1], term, 1)


cdef inline void count_pair(dict totals, object end, object term, long long sign):
    cdef list t = <list>totals.get(end)
    if t is None:
        totals[end] = [sign * term, sign]
    else:
        t[0] = t[0] + sign * term
        t[1] = t[1] + sign

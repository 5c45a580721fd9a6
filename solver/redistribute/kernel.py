"""The local search's compiled kernels (numba): a group's least cost, and the whole search, on arrays in int64
(improve.py, whose Python code is the reference the tests compare them with).

A module of its own, imported by the first search that can use it, so that the default mode never loads
numba."""

import numpy as np
from numba import njit

INFEASIBLE = np.int64(1) << np.int64(62)  # a group's cost when its smallest amounts overflow the room: the search
# runs compiled only when every real cost stays far below it (improve.Search._search_arrays)
UNPLACED = -1


@njit(cache=True)
def group_cost(r, members, low, fixed, count, unit, length, room, ends, units, runs, target, offset,
               unmet, unequal, population, scale_p):  # pragma: no cover - compiled
    """improve.Search.group_cost_python on arrays: (cost, True), or (0, False) when the smallest amounts
    overflow the room."""
    size = 0
    for g in members:
        size += count[g, r]
    scratch = np.empty((3, size), np.int64)
    return _priced(r, members, scratch, (low, fixed, count, unit, length, room, ends, units, runs, target, offset,
                                         unmet, unequal, population, scale_p))


@njit(cache=True)
def _priced(r, members, scratch, data):  # pragma: no cover - compiled
    """`group_cost` with room for the group's steps in `scratch` (3 rows, at least as long as the steps).
    Givers are indices in code order, so sorting steps by (cost, giver, length) is the Python's order."""
    (low, fixed, count, unit, length, room, ends, units, runs, target, offset,
     unmet, unequal, population, scale_p) = data
    total = 0
    cost = 0
    for g in members:
        total += low[g, r]
        cost += fixed[g, r]
    if total > room[r]:
        return 0, False
    step_unit, step_giver, step_length = scratch[0], scratch[1], scratch[2]
    size = 0
    for g in members:
        for k in range(count[g, r]):
            u, run = unit[g, r, k], length[g, r, k]
            i = size  # insertion sort: a group has a few dozen steps at most
            while i > 0 and (step_unit[i - 1] > u or (step_unit[i - 1] == u and (
                    step_giver[i - 1] > g or (step_giver[i - 1] == g and step_length[i - 1] > run)))):
                step_unit[i], step_giver[i], step_length[i] = step_unit[i - 1], step_giver[i - 1], step_length[i - 1]
                i -= 1
            step_unit[i], step_giver[i], step_length[i] = u, g, run
            size += 1
    cost += -unmet * total + unequal * abs(total - target[r]) + population * abs(offset[r] + scale_p * total)
    last = runs[r]
    i = 0
    while i < last and ends[r, i] <= total:
        i += 1
    for j in range(size):
        left = step_length[j]
        while left > 0 and i < last:
            step = step_unit[j] + units[r, i]
            if step >= 0:
                break
            take = min(left, ends[r, i] - total)
            cost += take * step
            total += take
            left -= take
            if total == ends[r, i]:
                i += 1
        if left > 0 or i == last:
            break
    return cost, True


@njit(cache=True)
def _cost(r, mask, cache, evaluations, scratch, data):  # pragma: no cover - compiled
    """A group's cost from the cache, else computed and counted as one evaluation (improve.Search.run_python's
    cost_of). The cache is an open-addressing table: rows of (receiver + 1, mask, cost), receiver 0 for empty."""
    slots = cache.shape[0]
    h = np.uint64(mask) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(r) * np.uint64(0xC2B2AE3D27D4EB4F)
    i = np.int64((h >> np.uint64(32)) & np.uint64(slots - 1))
    while cache[i, 0] != 0:
        if cache[i, 0] == r + 1 and cache[i, 1] == mask:
            return cache[i, 2]
        i = (i + 1) & (slots - 1)
    evaluations[0] += 1
    if 4 * evaluations[1] >= 3 * slots:
        raise ValueError("the local search's cache is full")  # its size bounds the evaluations (improve.py)
    members = scratch[3]
    size = 0
    rest = mask
    while rest:
        lowest = rest & -rest
        members[size] = np.int64(np.log2(np.float64(lowest)) + 0.5)
        size += 1
        rest ^= lowest
    value, fits = _priced(r, members[:size], scratch, data)
    value = value if fits else INFEASIBLE
    cache[i, 0], cache[i, 1], cache[i, 2] = r + 1, mask, value
    evaluations[1] += 1
    return value


@njit(cache=True)
def _exchange(r, out, into, groups, bit, unplaced, known, count, scratch, data):  # pragma: no cover - compiled
    """The change of the objective at receiver r (or among the unplaced) when giver `out` leaves it and giver
    `into` takes its place, and whether the new group fits."""
    if r == UNPLACED:
        return unplaced[into] - unplaced[out], True
    before = _cost(r, groups[r], known, count, scratch, data)
    after = _cost(r, (groups[r] & ~bit[out]) | bit[into], known, count, scratch, data)
    return after - before, after != INFEASIBLE


@njit(cache=True)
def _leave(g, s, groups, bit, unplaced, known, count, scratch, data):  # pragma: no cover - compiled
    """The change of the objective when giver g leaves receiver s (or the unplaced)."""
    if s == UNPLACED:
        return -unplaced[g]
    return (_cost(s, groups[s] & ~bit[g], known, count, scratch, data)
            - _cost(s, groups[s], known, count, scratch, data))


@njit(cache=True)
def _join(g, r, groups, bit, unplaced, known, count, scratch, data):  # pragma: no cover - compiled
    """The change of the objective when giver g joins receiver r (or the unplaced), and whether the group fits."""
    if r == UNPLACED:
        return unplaced[g], True
    before = _cost(r, groups[r], known, count, scratch, data)
    after = _cost(r, groups[r] | bit[g], known, count, scratch, data)
    return after - before, after != INFEASIBLE


@njit(cache=True)
def _move(g, r, sigma, groups, bit):  # pragma: no cover - compiled
    """Giver g goes to receiver r (or the unplaced)."""
    if sigma[g] != UNPLACED:
        groups[sigma[g]] &= ~bit[g]
    if r != UNPLACED:
        groups[r] |= bit[g]
    sigma[g] = r


@njit(cache=True)
def search(sigma, options, option_count, window, bound, unplaced, max_passes, limit, evaluations, slots, data):
    # pragma: no cover - compiled
    """improve.Search.run_python on arrays: moves, swaps, then ejections, in code order, until nothing improves
    or more than `limit` groups have been evaluated. Receivers are indices (UNPLACED for none); `sigma` is
    changed in place, and the evaluations counted so far are returned. The current groups always fit (the
    caller starts from groups that fit, and a change is made only when it lowers a finite cost), so an
    INFEASIBLE cost appears only after a change and rules that change out, as the Python's 10³⁰ does."""
    n = sigma.shape[0]
    m = window.shape[1]
    groups = np.zeros(m, np.int64)
    bit = np.empty(n, np.int64)
    for i in range(n):
        bit[i] = np.int64(1) << np.int64(i)
        if sigma[i] != UNPLACED:
            groups[sigma[i]] |= bit[i]
    known = np.zeros((slots, 3), np.int64)  # `slots`, a power of two, holds every group the search can evaluate
    count = np.array([evaluations, 0], np.int64)  # evaluations counted, entries in the cache
    widest = 64
    for r in range(m):
        steps = 0
        for g in range(n):
            steps += data[2][g, r]
        widest = max(widest, steps)
    scratch = np.empty((4, widest), np.int64)  # a group's steps, and its members
    joined = np.zeros((n, m), np.bool_)
    join_value = np.zeros((n, m), np.int64)
    join_finite_at = np.zeros((n, m), np.bool_)

    for _ in range(max_passes):
        improved = False
        for g in range(n):  # moves
            best, best_delta = UNPLACED - 1, 0
            for k in range(option_count[g]):
                r = options[g, k]
                if r == sigma[g] or count[0] > limit:
                    continue
                leave = _leave(g, sigma[g], groups, bit, unplaced, known, count, scratch, data)
                join, finite = _join(g, r, groups, bit, unplaced, known, count, scratch, data)
                if finite and leave + join < best_delta:
                    best, best_delta = r, leave + join
            if best != UNPLACED - 1:
                _move(g, best, sigma, groups, bit)
                improved = True
        for g1 in range(n):  # swaps
            for g2 in range(g1 + 1, n):
                r1, r2 = sigma[g1], sigma[g2]
                if r1 == r2 or count[0] > limit:
                    continue
                if (r2 != UNPLACED and not window[g1, r2]) or (r1 != UNPLACED and not window[g2, r1]):
                    continue
                if (r1 == UNPLACED or r2 == UNPLACED) and (bound[g1] or bound[g2]):
                    continue
                d1, finite1 = _exchange(r1, g1, g2, groups, bit, unplaced, known, count, scratch, data)
                d2, finite2 = _exchange(r2, g2, g1, groups, bit, unplaced, known, count, scratch, data)
                if finite1 and finite2 and d1 + d2 < 0:
                    if r1 != UNPLACED:
                        groups[r1] = (groups[r1] & ~bit[g1]) | bit[g2]
                    if r2 != UNPLACED:
                        groups[r2] = (groups[r2] & ~bit[g2]) | bit[g1]
                    sigma[g1], sigma[g2] = r2, r1
                    improved = True
        if not improved:  # ejections: g joins r2, and a giver h of r2 leaves it for r3 (another receiver, or none)
            joined[:] = False  # the change if h joins r3, remembered until a change is made
            for g in range(n):
                source = sigma[g]
                leave = _leave(g, source, groups, bit, unplaced, known, count, scratch, data)
                found = False
                found_r2, found_h, found_r3 = 0, 0, 0
                for k in range(option_count[g]):
                    r2 = options[g, k]
                    if found or r2 == source or r2 == UNPLACED:
                        continue
                    members = groups[r2]
                    for h in range(n):
                        if not members & bit[h]:
                            continue
                        if found or count[0] > limit:
                            break
                        r3, join, join_finite, any_target = UNPLACED - 1, 0, False, False
                        for q in range(option_count[h]):  # the first least join, finite ones first
                            target = options[h, q]
                            if target == r2 or target == source:
                                continue
                            if target != UNPLACED and joined[h, target]:
                                value, value_finite = join_value[h, target], join_finite_at[h, target]
                            else:
                                value, value_finite = _join(h, target, groups, bit, unplaced, known, count, scratch,
                                                            data)
                                if target != UNPLACED:
                                    joined[h, target] = True
                                    join_value[h, target], join_finite_at[h, target] = value, value_finite
                            if not any_target or (value_finite and (not join_finite or value < join)):
                                r3, join, join_finite, any_target = target, value, value_finite, True
                        if not any_target:
                            continue
                        change, change_finite = _exchange(r2, h, g, groups, bit, unplaced, known, count, scratch, data)
                        if change_finite and join_finite and leave + change + join < 0:
                            found, found_r2, found_h, found_r3 = True, r2, h, r3
                if found:
                    _move(g, found_r2, sigma, groups, bit)
                    _move(found_h, found_r3, sigma, groups, bit)
                    joined[:] = False
                    improved = True
        if not improved or count[0] > limit:
            break
    return count[0]

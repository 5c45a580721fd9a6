"""The local search's compiled kernels (numba): a group's least cost, and the whole search, on arrays in int64
(improve.py, whose Python code is the reference the tests compare them with).

A module of its own, imported by the first search that can use it, so that the default mode never loads
numba."""

import numpy as np
from numba import njit, types
from numba.typed import Dict

INFEASIBLE = np.int64(1) << np.int64(62)  # a group's cost when its smallest amounts overflow the room: the search
# runs compiled only when every real cost stays far below it (improve.Search._search_arrays)
UNPLACED = -1
_KEY = types.UniTuple(types.int64, 2)  # (receiver, group mask): the search's cache of group costs


@njit(cache=True)
def group_cost(r, members, low, fixed, count, unit, length, room, ends, units, runs, target, offset,
               unmet, unequal, population, scale_p):  # pragma: no cover - compiled
    """improve.Search.group_cost_python on arrays: (cost, True), or (0, False) when the smallest amounts
    overflow the room. Givers are indices in code order, so sorting steps by (cost, giver, length) is the same order."""
    total = 0
    cost = 0
    size = 0
    for g in members:
        total += low[g, r]
        cost += fixed[g, r]
        size += count[g, r]
    if total > room[r]:
        return 0, False
    step_unit = np.empty(size, np.int64)
    step_giver = np.empty(size, np.int64)
    step_length = np.empty(size, np.int64)
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
def _cost(r, mask, known, evaluations, data):  # pragma: no cover - compiled
    """A group's cost from the cache, else computed and counted as one evaluation (improve.Search.run's cost_of)."""
    key = (r, mask)
    if key in known:
        return known[key]
    evaluations[0] += 1
    members = np.empty(64, np.int64)
    size = 0
    rest = mask
    while rest:
        lowest = rest & -rest
        members[size] = np.int64(np.log2(np.float64(lowest)) + 0.5)
        size += 1
        rest ^= lowest
    (low, fixed, count, unit, length, room, ends, units, runs, target, offset,
     unmet, unequal, population, scale_p) = data
    value, fits = group_cost(r, members[:size], low, fixed, count, unit, length, room, ends, units, runs, target,
                             offset, unmet, unequal, population, scale_p)
    value = value if fits else INFEASIBLE
    known[key] = value
    return value


@njit(cache=True)
def search(sigma, options, option_count, window, bound, unplaced, max_passes, limit, evaluations, data):
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
    known = Dict.empty(key_type=_KEY, value_type=types.int64)
    count = np.array([evaluations], np.int64)

    for _ in range(max_passes):
        improved = False
        for g in range(n):  # moves
            best, best_delta = UNPLACED - 1, 0
            for k in range(option_count[g]):
                r = options[g, k]
                if r == sigma[g] or count[0] > limit:
                    continue
                s = sigma[g]
                d, finite = 0, True
                if s != UNPLACED:
                    d += _cost(s, groups[s] & ~bit[g], known, count, data) - _cost(s, groups[s], known, count, data)
                else:
                    d -= unplaced[g]
                if r != UNPLACED:
                    before = _cost(r, groups[r], known, count, data)
                    after = _cost(r, groups[r] | bit[g], known, count, data)
                    finite = after != INFEASIBLE
                    d += after - before
                else:
                    d += unplaced[g]
                if finite and d < best_delta:
                    best, best_delta = r, d
            if best != UNPLACED - 1:
                s = sigma[g]
                if s != UNPLACED:
                    groups[s] &= ~bit[g]
                if best != UNPLACED:
                    groups[best] |= bit[g]
                sigma[g] = best
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
                d, finite = 0, True
                if r1 != UNPLACED:
                    before = _cost(r1, groups[r1], known, count, data)
                    after = _cost(r1, (groups[r1] & ~bit[g1]) | bit[g2], known, count, data)
                    finite = finite and after != INFEASIBLE
                    d += after - before
                else:
                    d += unplaced[g2] - unplaced[g1]
                if r2 != UNPLACED:
                    before = _cost(r2, groups[r2], known, count, data)
                    after = _cost(r2, (groups[r2] & ~bit[g2]) | bit[g1], known, count, data)
                    finite = finite and after != INFEASIBLE
                    d += after - before
                else:
                    d += unplaced[g1] - unplaced[g2]
                if finite and d < 0:
                    if r1 != UNPLACED:
                        groups[r1] = (groups[r1] & ~bit[g1]) | bit[g2]
                    if r2 != UNPLACED:
                        groups[r2] = (groups[r2] & ~bit[g2]) | bit[g1]
                    sigma[g1], sigma[g2] = r2, r1
                    improved = True
        if not improved:  # ejections: g joins r2, and a giver h of r2 leaves it for r3 (another receiver, or none)
            for g in range(n):
                source = sigma[g]
                if source == UNPLACED:
                    leave = -unplaced[g]
                else:
                    leave = (_cost(source, groups[source] & ~bit[g], known, count, data)
                             - _cost(source, groups[source], known, count, data))
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
                            if target == UNPLACED:
                                value, value_finite = unplaced[h], True
                            else:
                                after = _cost(target, groups[target] | bit[h], known, count, data)
                                value_finite = after != INFEASIBLE
                                value = after - _cost(target, groups[target], known, count, data)
                            if not any_target or (value_finite and (not join_finite or value < join)):
                                r3, join, join_finite, any_target = target, value, value_finite, True
                        if not any_target:
                            continue
                        after = _cost(r2, (members & ~bit[h]) | bit[g], known, count, data)
                        change = after - _cost(r2, members, known, count, data)
                        if after != INFEASIBLE and join_finite and leave + change + join < 0:
                            found, found_r2, found_h, found_r3 = True, r2, h, r3
                if found:
                    for who, to in ((g, found_r2), (found_h, found_r3)):
                        if sigma[who] != UNPLACED:
                            groups[sigma[who]] &= ~bit[who]
                        if to != UNPLACED:
                            groups[to] |= bit[who]
                        sigma[who] = to
                    improved = True
        if not improved or count[0] > limit:
            break
    return count[0]

"""The local search's compiled kernel (numba): a group's least cost on arrays in int64 (improve.py).

A module of its own, imported by the first search that can use it, so that the default mode never loads
numba."""

import numpy as np
from numba import njit


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

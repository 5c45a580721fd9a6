"""A deterministic table close to the proportional targets: the solver's first hint and its fallback.

Under the one-receiver rule a giver's whole amount goes to one receiver, so the targets must be packed
into the rooms. Givers (largest target first, then code) start with the receiver that misses most, then
single moves and pairwise swaps, tried in code order, lower the largest deviation any participant must
accept; within each receiver's group the amounts are evened out so that no one deviates more than needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from solver.domain import Policy
from solver.redistribute.targets import Market, Participant

MAX_PASSES = 50
MAX_EVALUATIONS = 20_000  # group evaluations the local search may spend (a count, so the result is reproducible)
INFEASIBLE = 10**12


@dataclass(frozen=True)
class Member:
    """A giver in a receiver's group: its target and the least and most it can give that receiver."""

    code: str
    target: int
    low: int
    high: int

    def window(self, d: int) -> tuple[int, int]:
        """What it may give while staying within d of its target (empty when low > high)."""
        return max(self.low, self.target - d), min(self.high, self.target + d)


def member(code: str, target: int, offer: int, room: int, policy: Policy, bound: bool = False) -> Member:
    """`bound`: a binding agreement with this receiver, which takes the whole offer or nothing fits."""
    high = min(offer, room)
    return Member(code, target, offer if bound else min(policy.min_transfer, high), high)


def bound(giver: Participant, policy: Policy) -> bool:
    """Whether a binding agreement fixes the giver's whole offer to its partner (then it must be placed)."""
    return policy.binding_agreements and giver.partner is not None and giver.effective > 0


def _bounds(giver: Participant, receiver: Participant, policy: Policy) -> Member:
    return member(giver.code, giver.target, giver.effective, receiver.effective, policy, bound(giver, policy))


def group_deviation(members: list[Member], target: int, room: int) -> int:
    """The least D such that every giver stays within D of its target and the receiver within D of its own."""
    if not members:
        return target

    def fits(d: int) -> bool:
        windows = [m.window(d) for m in members]
        if any(m.target - d > m.high for m in members):
            return False  # a giver whose target exceeds what this room can take by more than d
        return (sum(lo for lo, _ in windows) <= min(room, target + d)
                and sum(hi for _, hi in windows) >= target - d)

    if sum(m.low for m in members) > room:
        return INFEASIBLE  # the smallest transfers alone overflow the room
    top = max(target, room, max(m.target for m in members)) + 1  # every bound is slack at this d
    lo, hi = -1, top
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def group_amounts(members: list[Member], target: int, room: int, d: int) -> list[int]:
    """Amounts within d of each target whose sum is as close to the receiver's target as d allows."""
    lows, highs = (list(side) for side in zip(*(m.window(d) for m in members))) if members else ([], [])
    total = min(max(target, sum(lows)), sum(highs), room)
    amounts = [min(max(m.target, lo), hi) for m, lo, hi in zip(members, lows, highs)]
    gap = total - sum(amounts)
    step = 1 if gap > 0 else -1
    while gap:
        moved = False
        for i in range(len(members)):  # round robin in code order spreads the change evenly
            if gap and lows[i] <= amounts[i] + step <= highs[i]:
                amounts[i] += step
                gap -= step
                moved = True
        if not moved:  # pragma: no cover - `total` lies between the bounds' sums
            break
    return amounts


def assign(market: Market, policy: Policy) -> dict[str, str]:
    """Each giver's receiver under the one-receiver rule."""
    receivers = {r.code: r for r in market.receivers}
    givers = {g.code: g for g in market.givers}
    allowed = market.receivers_of()
    pair_member = {(g, r): _bounds(givers[g], receivers[r], policy) for g, r in market.pairs}
    sigma: dict[str, str] = {}
    need = {r: receivers[r].target for r in receivers}
    for g in sorted(allowed, key=lambda c: (-givers[c].target, c)):
        if givers[g].target <= 0:
            continue
        r = min(allowed[g], key=lambda c: (-need[c], c))
        sigma[g] = r
        need[r] -= pair_member[g, r].target

    evaluations = [0]

    def deviation(r: str, group: list[str]) -> tuple[int, int]:
        """(least largest deviation, what the receiver then misses of its target) for a group."""
        evaluations[0] += 1
        members = [pair_member[g, r] for g in sorted(group)]
        target, room = receivers[r].target, receivers[r].effective
        d = group_deviation(members, target, room)
        high = sum(m.window(d)[1] for m in members)
        return d, max(0, min(target, room) - high)

    groups: dict[str, list[str]] = {r: sorted(g for g, rr in sigma.items() if rr == r) for r in receivers}
    dev = {r: deviation(r, groups[r]) for r in receivers}

    def score(d: dict[str, tuple[int, int]]) -> tuple[int, int, int]:
        largest = max((v[0] for v in d.values()), default=0)
        return (largest, sum(v[1] for v in d.values()), sum(v[0] for v in d.values()))

    for _ in range(MAX_PASSES):
        improved = False
        current = score(dev)
        for g in sorted(sigma):
            if evaluations[0] > MAX_EVALUATIONS:
                break
            source = sigma[g]
            for target in allowed[g]:
                if target == source:
                    continue
                trial = dict(dev)
                trial[source] = deviation(source, [x for x in groups[source] if x != g])
                trial[target] = deviation(target, groups[target] + [g])
                if score(trial) < current:
                    groups[source].remove(g)
                    groups[target] = sorted(groups[target] + [g])
                    sigma[g], dev, current, improved = target, trial, score(trial), True
                    break
        for g1 in sorted(sigma):
            if evaluations[0] > MAX_EVALUATIONS:
                break
            for g2 in sorted(sigma):
                r1, r2 = sigma[g1], sigma[g2]
                if g2 <= g1 or r1 == r2 or r2 not in allowed[g1] or r1 not in allowed[g2]:
                    continue
                trial = dict(dev)
                trial[r1] = deviation(r1, [x for x in groups[r1] if x != g1] + [g2])
                trial[r2] = deviation(r2, [x for x in groups[r2] if x != g2] + [g1])
                if score(trial) < current:
                    groups[r1] = sorted([x for x in groups[r1] if x != g1] + [g2])
                    groups[r2] = sorted([x for x in groups[r2] if x != g2] + [g1])
                    sigma[g1], sigma[g2] = r2, r1
                    dev, current, improved = trial, score(trial), True
        if not improved:
            break
    return sigma


def construct_flows(market: Market, policy: Policy) -> dict[tuple[str, str], int]:
    """Amounts per (giver, receiver) pair of the deterministic construction (its table is remembered per
    process by the solver: solve._construction)."""
    receivers = {r.code: r for r in market.receivers}
    givers = {g.code: g for g in market.givers}
    flows: dict[tuple[str, str], int] = {}
    if policy.one_receiver:
        sigma = assign(market, policy)
        for r in sorted(receivers):
            group = sorted(g for g, rr in sigma.items() if rr == r)
            if not group:
                continue
            members = [_bounds(givers[g], receivers[r], policy) for g in group]
            d = group_deviation(members, receivers[r].target, receivers[r].effective)
            for g, amount in zip(group, group_amounts(members, receivers[r].target, receivers[r].effective, d)):
                flows[g, r] = amount
        return flows
    # without the rule: fill receivers in code order from givers in code order (north-west corner)
    allowed = set(market.pairs)
    left = {g: givers[g].target for g in sorted(givers)}
    for r in sorted(receivers):
        need = receivers[r].target - sum(a for (g, rr), a in flows.items() if rr == r)
        for g in sorted(givers):
            if need <= 0:
                break
            take = min(left[g], need)
            if (g, r) in allowed and take >= policy.min_transfer:
                flows[g, r] = take
                left[g] -= take
                need -= take
    return flows


def giver_types(market: Market, policy: Policy, county: bool = False) -> dict[tuple, list[str]]:
    """Givers that are interchangeable for the largest deviation and the volume: the same target, offer,
    allowed receivers and binding agreement (or none); with `county`, also for the transfer counts: the same
    allowed receivers in their own county (the key's fifth part)."""
    allowed = market.receivers_of()
    county_of = {r.code: r.county for r in market.receivers}
    types: dict[tuple, list[str]] = {}
    for g in market.givers:
        if g.code in allowed:
            key: tuple = (g.target, g.effective, tuple(allowed[g.code]), bound(g, policy))
            if county:
                key += (tuple(r for r in allowed[g.code] if county_of[r] == g.county),)
            types.setdefault(key, []).append(g.code)
    return types


def flows_from_counts(market: Market, policy: Policy, types: dict[tuple, list[str]],
                      counts: dict[tuple[int, str], int], limit: int) -> dict[tuple[str, str], int]:
    """A table from how many givers of each type go to each receiver: givers of a type in code order
    fill receivers in code order, and each group's amounts stay within `limit` of their targets."""
    receivers = {r.code: r for r in market.receivers}
    givers = {g.code: g for g in market.givers}
    groups: dict[str, list[str]] = {r: [] for r in receivers}
    for index, members in enumerate(types.values()):
        queue = list(members)
        for r in sorted(receivers):
            for _ in range(counts.get((index, r), 0)):
                groups[r].append(queue.pop(0))
    flows: dict[tuple[str, str], int] = {}
    for r, group in groups.items():
        group.sort()
        bounds = [_bounds(givers[g], receivers[r], policy) for g in group]
        amounts = group_amounts(bounds, receivers[r].target, receivers[r].effective, limit)
        flows.update({(g, r): a for g, a in zip(group, amounts)})
    return flows

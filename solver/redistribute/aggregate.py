"""The aggregate model: every stage after the first, on counts of interchangeable givers per receiver.

Under the one-receiver rule, once the largest deviation D is known, a giver matters to the later stages
only through its target, offer, allowed receivers, which of those are in its own county, and the slope of
its population term over the amounts it may give. Givers alike in all of these form a type; the model
decides how many givers of each type go to each receiver (n) and how much they give there together (A).
It is exact:
- n givers each within [lo, hi] can give any total in [n·lo, n·hi], so the windows of a group are a range;
- a giver's population term |P·(base − a) − K·population| is linear over its range unless its kink lies
  inside (then the giver is a type of its own and its term is modelled on its own amount), so a type's
  term is a constant plus its slope times the type's total;
- volume, cross-county and transfer counts are sums over counts.
It has none of the symmetry of interchangeable givers that makes the full model slow to search.

Ties left after population fairness are broken on the aggregate, in code order: of all tables with the
optimal stage values, the one whose counts n, read type by type (types in the order of their first code)
and receiver by receiver (in code order), are lexicographically greatest, and then likewise the totals A.
So the first giver takes the first receiver it can, as much as it can, and so on. Inside a group, givers
in code order take receivers in code order and the larger amounts (an even split, the remainder to the
lower codes). CP-SAT finds that table by a complete depth-first search fixing the variables in this order,
largest value first: its first solution is the answer, whatever backend solved the stages.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from solver.redistribute.construct import bound, member
from solver.redistribute.memo import Models, remembered
from solver.redistribute.problem import (
    Expr,
    MarketProblem,
    Stage,
    add_expr,
    volume_simplicity,
    weighted_coefficients,
)
from solver.redistribute.targets import Market, Setup

SLOPE_OWN = 0  # the population kink lies inside the giver's range: a type of its own


@dataclass(frozen=True)
class GiverType:
    members: tuple[str, ...]  # codes, in code order
    target: int
    effective: int
    allowed: tuple[str, ...]
    own: tuple[str, ...]  # allowed receivers in the givers' own county
    slope: int  # −1 or +1: the population term falls or grows with the amount; SLOPE_OWN: neither
    bound: bool = False  # a binding agreement: the whole offer goes to the one allowed receiver


@dataclass
class Aggregate:
    problem: MarketProblem
    types: list[GiverType]
    n: dict[tuple[int, str], int] = field(default_factory=dict)  # (type, receiver) -> count variable
    amount: dict[tuple[int, str], int] = field(default_factory=dict)  # (type, receiver) -> total variable
    order: list[int] = field(default_factory=list)  # the variables the tie-break maximises, in order
    constants: dict[str, int] = field(default_factory=dict)  # stage -> what to add for the full model's value
    terms: dict[str, Expr] = field(default_factory=dict)  # the objective's parts, which the stages weigh


def giver_types(setup: Setup, market: Market, limit: int) -> list[GiverType]:
    policy = setup.policy
    scale_p = setup.pop_scale[0]
    allowed = market.receivers_of()
    rooms = {r.code: r for r in market.receivers}
    keyed: dict[tuple, list[str]] = {}
    for g in sorted(market.givers, key=lambda p: p.code):
        if g.code not in allowed:
            continue
        fixed = bound(g, policy)
        windows = [member(g.code, g.target, g.effective, rooms[r].effective, policy, fixed).window(limit)
                   for r in allowed[g.code]]
        windows = [w for w in windows if w[0] <= w[1]] or [(0, 0)]
        must = g.target > limit or fixed
        lo = min(w[0] for w in windows) if must else 0  # a small giver may stay unplaced
        hi = max(w[1] for w in windows)
        offset = setup.population_offset(g.code)  # the term is |offset − P·a|
        slope = -1 if scale_p * hi <= offset else 1 if scale_p * lo >= offset else SLOPE_OWN
        own = tuple(r for r in allowed[g.code] if rooms[r].county == g.county)
        key = (g.target, g.effective, tuple(allowed[g.code]), own, slope, fixed, g.code if slope == SLOPE_OWN else "")
        keyed.setdefault(key, []).append(g.code)
    out = [GiverType(tuple(codes), *k[:6]) for k, codes in keyed.items()]
    return sorted(out, key=lambda t: t.members[0])


def build(setup: Setup, market: Market, limit: int, weighted: bool = False, models: Models | None = None) -> Aggregate:
    """The aggregate problem for a market whose largest deviation is at most `limit`: the lexicographic
    stages after the first, or (`weighted`) the weighted mode's one objective.

    Its variables and constraints do not depend on the weights, so they are remembered in the caller's `models`
    under the setup's inputs (as the full model's are: problem.build_problem); the stages are made for each call."""
    key = None if setup.inputs is None else (setup.inputs, market.key, limit, weighted)
    known = remembered(models, "aggregates", key, lambda: _structure(setup, market, limit, weighted))
    agg = copy.copy(known)
    agg.problem = copy.copy(known.problem)
    agg.problem.market = market
    agg.constants = dict(known.constants)
    terms = known.terms
    if weighted:
        c = weighted_coefficients(setup.policy, setup.pop_scale[0])
        agg.problem.stages = [Stage("weighted", add_expr(
            (-c["unmet"], terms["moved"]), (c["unequal"], terms["unequal"]), (c["population"], terms["population"]),
            (c["cross_county"], terms["cross"]), (c["transfers"], terms["placed"])), "min")]
        agg.constants["weighted"] = (c["unequal"] * agg.constants["unequal"]
                                     + c["population"] * agg.constants["population"])
    else:
        agg.problem.stages = [
            volume_simplicity(market, terms["received"], terms["cross"], terms["placed"]),
            Stage("population", terms["population"], "min"),
        ]
    return agg


def _structure(setup: Setup, market: Market, limit: int, weighted: bool) -> Aggregate:
    policy = setup.policy
    scale_p = setup.pop_scale[0]
    types = giver_types(setup, market, limit)
    prob = MarketProblem(market)
    agg = Aggregate(prob, types)
    allowed = market.receivers_of()
    # a giver no receiver may take keeps its share: its population term is a constant
    population_constant = sum(abs(setup.population_offset(g.code)) for g in market.givers if g.code not in allowed)
    rooms = {r.code: r for r in market.receivers}
    into: dict[str, Expr] = {r: {} for r in rooms}
    cross: Expr = {}
    placed: Expr = {}
    population: Expr = {}
    unequal: Expr = {}  # Σ |moved − target| over participants, as far as it is not constant
    unequal_constant = sum(g.target for g in market.givers if g.code not in allowed)
    for t, kind in enumerate(types):
        size = len(kind.members)
        total: Expr = {}
        given: Expr = {}
        for r in kind.allowed:
            lo, hi = member(kind.members[0], kind.target, kind.effective, rooms[r].effective, policy,
                            kind.bound).window(limit)
            n = prob.var(f"n[{t},{r}]", 0, size if lo <= hi else 0)
            a = prob.var(f"A[{t},{r}]", 0, size * max(hi, 0))
            prob.add("window", f"type {t} at {r} within {limit}", {a: 1, n: -max(lo, 0)}, lo=0)
            prob.add("window", f"type {t} at {r} within {limit}", {a: 1, n: -max(hi, 0)}, hi=0)
            agg.n[t, r], agg.amount[t, r] = n, a
            total[n] = 1
            given[a] = 1
            placed[n] = 1
            if r not in kind.own:
                cross[n] = 1
            into[r][a] = 1
            if weighted:  # the group's givers split evenly, so their deviations add up to |A − n·target|
                u = prob.var(f"unequal[{t},{r}]", 0, size * max(kind.target, hi, 0), False)
                prob.add("deviation", f"type {t} at {r} from target", {u: 1, a: -1, n: kind.target}, lo=0)
                prob.add("deviation", f"type {t} at {r} from target", {u: 1, a: 1, n: -kind.target}, lo=0)
                unequal[u] = 1
                unequal[n] = unequal.get(n, 0) - kind.target  # a placed giver no longer misses its whole target
        unequal_constant += size * kind.target
        everyone = size if kind.target > limit or kind.bound else 0
        prob.add("types", f"givers of type {t} placed", total, lo=everyone, hi=size)
        if kind.slope == SLOPE_OWN:
            offset = setup.population_offset(kind.members[0])
            e = prob.var(f"pop[{kind.members[0]}]", 0, abs(offset) + scale_p * kind.effective, False)
            prob.add("population", f"population share {kind.members[0]}", add_expr((1, {e: 1}), (scale_p, given)),
                     lo=offset)
            prob.add("population", f"population share {kind.members[0]}", add_expr((1, {e: 1}), (-scale_p, given)),
                     lo=-offset)
            population[e] = 1
        else:
            population_constant += sum(-kind.slope * setup.population_offset(c) for c in kind.members)
            for var in given:
                population[var] = kind.slope * scale_p
    received: Expr = {}
    for r in sorted(rooms):
        room = rooms[r]
        v = prob.var(f"v[{r}]", max(0, room.target - limit), min(room.effective, room.target + limit))
        prob.add("room", f"room of {r} within {limit}", add_expr((1, into[r]), (-1, {v: 1})), lo=0, hi=0)
        prob.moved[r] = {v: 1}
        received[v] = 1
        offset = setup.population_offset(r)  # the term is |offset + P·v|
        e = prob.var(f"pop[{r}]", 0, abs(offset) + scale_p * room.effective, False)
        prob.add("population", f"population share {r}", {e: 1, v: -scale_p}, lo=offset)
        prob.add("population", f"population share {r}", {e: 1, v: scale_p}, lo=-offset)
        population[e] = 1
        if weighted:
            u = prob.var(f"unequal[{r}]", 0, max(room.target, room.effective), False)
            prob.add("deviation", f"{r} from target", {u: 1, v: -1}, lo=-room.target)
            prob.add("deviation", f"{r} from target", {u: 1, v: 1}, lo=room.target)
            unequal[u] = 1
    # no table moves more than the proportional cut's volume (targets.py: it bounds every receiver by its
    # reachable supply and all by the supply); CP-SAT does not derive this bound, and with it a table that
    # moves that much proves the volume at once
    prob.add("volume", "at most the proportional cut's volume", received, hi=market.volume)
    agg.constants["population"] = population_constant
    agg.constants["unequal"] = unequal_constant
    # unmet wishes as the full model counts them: −(what moved); the effective wishes are left out there too
    moved = add_expr((1, received), *[(1, {a: 1}) for a in agg.amount.values()])
    agg.terms = {"received": received, "moved": moved, "unequal": unequal, "population": population,
                 "cross": cross, "placed": placed}
    keys = sorted(agg.n)  # (type, receiver): types in code order, receivers in code order
    agg.order = [agg.n[key] for key in keys] + [agg.amount[key] for key in keys]
    return agg


def hint(agg: Aggregate, flows: dict[tuple[str, str], int]) -> list[int | None]:
    """Counts and totals of a table, as a (partial) starting point for the aggregate's first stage."""
    out: list[int | None] = [None] * len(agg.problem.variables)
    type_of = {code: t for t, kind in enumerate(agg.types) for code in kind.members}
    for key, var in agg.n.items():
        out[var] = out[agg.amount[key]] = 0
    for (g, r), amount in flows.items():
        key = (type_of[g], r)
        if amount > 0 and key in agg.n:
            out[agg.n[key]] += 1  # type: ignore[operator]
            out[agg.amount[key]] += amount  # type: ignore[operator]
    return out


def flows(agg: Aggregate, values: list[int]) -> dict[tuple[str, str], int]:
    """The table: in each type, givers in code order take receivers in code order; a group's total is
    split evenly, the remainder going to the lower codes."""
    out: dict[tuple[str, str], int] = {}
    for t, kind in enumerate(agg.types):
        queue = list(kind.members)
        for r in sorted(kind.allowed):
            n = values[agg.n[t, r]]
            if n == 0:
                continue
            group, queue = queue[:n], queue[n:]
            share, extra = divmod(values[agg.amount[t, r]], n)
            for i, g in enumerate(group):
                out[g, r] = share + (1 if i < extra else 0)
    return out

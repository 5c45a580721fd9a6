"""The solver-neutral redistribution problem: integer variables, named constraint groups, objective stages.

One `MarketProblem` is built per market (the nation, or one county under county scope). Backends only
translate it; the lexicographic driver in `solve.py` runs its stages and fixes each optimum before the
next, so every backend optimises the same sequence of integer objectives.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from solver.domain import ObjectiveMode, Policy
from solver.redistribute import packing
from solver.redistribute.memo import Models, remembered
from solver.redistribute.targets import Market, Setup

Expr = dict[int, int]  # variable index -> integer coefficient

#: human names of the constraint groups, cited by explanations and diagnoses
GROUPS = {
    "offer": "a giver gives at most its effective offer",
    "room": "a receiver takes at most its effective room",
    "link": "a transfer exists only between a chosen pair, and is at least the smallest transfer",
    "one_receiver": "a giver gives to at most one receiver",
    "county_floor": "a county keeps at least its readiness floor",
    "agreement": "a binding agreement moves the giver's whole offer to its partner",
    "deviation": "distance from the proportional target",
    "stage": "an earlier objective stage keeps its optimum",
    "population": "distance from the population-proportional share",
}


@dataclass
class Variable:
    name: str
    lb: int
    ub: int
    decision: bool = True  # False: a bound on an absolute value, fixed by the decisions (never hinted)


@dataclass
class Constraint:
    group: str
    label: str
    expr: Expr
    lo: int | None
    hi: int | None


@dataclass
class Stage:
    name: str
    expr: Expr
    sense: str  # "min" or "max"

    def at_least(self, value: int) -> Constraint:
        """The stage's expression at least as good as `value` (≥ for max, ≤ for min): how a stage's optimum, or a
        bound that a table is asked to reach, is fixed for the stages after it."""
        lo, hi = (value, None) if self.sense == "max" else (None, value)
        return Constraint("stage", self.name, self.expr, lo, hi)


@dataclass
class MarketProblem:
    market: Market
    variables: list[Variable] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    x: dict[tuple[str, str], Expr] = field(default_factory=dict)
    y: dict[tuple, int] = field(default_factory=dict)  # (giver, receiver), or (type index, receiver) on counts
    e: dict[tuple[str, str], int] = field(default_factory=dict)  # the correction x − target·y of each pair
    moved: dict[str, Expr] = field(default_factory=dict)
    terms: dict[str, Expr] = field(default_factory=dict)
    pop_scale: tuple[int, int] = (1, 1)  # (P, K): the population term is |P·share − K·population|
    largest: int = -1  # the variable bounding every participant's deviation from its target
    aux: dict[str, tuple[int, int]] = field(default_factory=dict)  # code -> (deviation var, population var)
    tie: tuple[Expr, Expr] = ({}, {})  # the tie-break terms: pairs, then flows (a Monge cost)
    # values derived from the finished variables and constraints (by name), made once and shared by the copies
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def var(self, name: str, lb: int, ub: int, decision: bool = True) -> int:
        self.variables.append(Variable(name, lb, ub, decision))
        return len(self.variables) - 1

    def add(self, group: str, label: str, expr: Expr, lo: int | None = None, hi: int | None = None) -> None:
        self.constraints.append(Constraint(group, label, {k: v for k, v in expr.items() if v}, lo, hi))


def add_expr(*parts: tuple[int, Expr]) -> Expr:
    out: Expr = {}
    for coeff, expr in parts:
        for k, v in expr.items():
            out[k] = out.get(k, 0) + coeff * v
    return {k: v for k, v in out.items() if v}


def evaluate(expr: Expr, values: list[int]) -> int:
    return sum(c * values[i] for i, c in expr.items())


def amounts(prob: MarketProblem, values: list[int]) -> dict[tuple[str, str], int]:
    """The amount of every chosen pair of a table, in pair order. A pair that is not chosen moves nothing in a
    table that keeps the link rules (as every table the driver keeps does), so only chosen pairs are evaluated
    (of the national sample's 390 pairs, about 40)."""
    return {pair: evaluate(x, values) for pair, x in prob.x.items() if values[prob.y[pair]]}


def build_problem(setup: Setup, market: Market, models: Models | None = None) -> MarketProblem:
    """The market's full model: its variables and constraints, and the stages of the policy's objective.

    Variables and constraints depend on the setup's inputs but not on the weights, the objective mode or the
    solve limits, so they are remembered in the caller's `models` under `setup.inputs` (what-ifs that vary only
    the weights build them once); the stages are made for each call. Nothing changes a problem once built, so
    its copies share its lists and what is derived from them (`derived`)."""
    key = None if setup.inputs is None else (setup.inputs, market.key)
    prob = copy.copy(remembered(models, "problems", key, lambda: _structure(setup, market)))
    prob.market = market
    prob.stages = _stages(setup, market, prob)
    return prob


def _structure(setup: Setup, market: Market) -> MarketProblem:
    policy: Policy = setup.policy
    prob = MarketProblem(market)
    by_code = {p.code: p for p in market.givers + market.receivers}
    for gc, rc in market.pairs:
        # x[g,r] = target_g·y[g,r] + e[g,r]: the amount as the giver's proportional target plus a
        # correction, which lets the solver reason about the packing of targets directly
        bound = min(by_code[gc].effective, by_code[rc].effective)
        target = min(by_code[gc].target, bound)
        yi = prob.var(f"y[{gc},{rc}]", 0, 1)
        ei = prob.var(f"e[{gc},{rc}]", -target, bound - target)
        prob.y[gc, rc] = yi
        prob.e[gc, rc] = ei
        prob.x[gc, rc] = {yi: target, ei: 1} if target else {ei: 1}
        reach = max(target, bound - target)
        prob.add("link", f"{gc}→{rc} only when chosen", {ei: 1, yi: -reach}, hi=0)
        prob.add("link", f"{gc}→{rc} only when chosen", {ei: 1, yi: reach}, lo=0)
        prob.add("link", f"{gc}→{rc} within the pair's bound", add_expr((1, prob.x[gc, rc]), (-bound, {yi: 1})), hi=0)
        prob.add("link", f"{gc}→{rc} at least the smallest transfer",
                 add_expr((1, prob.x[gc, rc]), (-policy.min_transfer, {yi: 1})), lo=0)
    pairs_of: dict[str, list[tuple[str, str]]] = {code: [] for code in by_code}
    for pair in market.pairs:
        pairs_of[pair[0]].append(pair)
        pairs_of[pair[1]].append(pair)
    for p in by_code.values():
        prob.moved[p.code] = add_expr(*[(1, prob.x[pair]) for pair in pairs_of[p.code]])
    for g in market.givers:
        prob.add("offer", f"offer of {g.code}", prob.moved[g.code], hi=g.effective)
        chosen = {prob.y[pair]: 1 for pair in pairs_of[g.code]}
        if policy.one_receiver and chosen:
            prob.add("one_receiver", f"one receiver for {g.code}", chosen, hi=1)
        if policy.binding_agreements and g.partner is not None:
            pair = (g.code, g.partner)
            expr = prob.x.get(pair, {})
            prob.add("agreement", f"agreement {g.code}→{g.partner}", expr, lo=g.effective, hi=g.effective)
    for r in market.receivers:
        prob.add("room", f"room of {r.code}", prob.moved[r.code], hi=r.effective)
    _county_floors(setup, market, prob)
    _objective_terms(setup, market, prob)
    return prob


def _county_floors(setup: Setup, market: Market, prob: MarketProblem) -> None:
    if not setup.county_floor:
        return
    base_total: dict[str, int] = {}
    for code, m in setup.municipalities.items():
        base_total[m.county_code] = base_total.get(m.county_code, 0) + setup.base[code]
    for county in sorted({p.county for p in market.givers + market.receivers}):
        net = add_expr(*[(1 if not p.gives else -1, prob.moved[p.code])
                         for p in market.givers + market.receivers if p.county == county])
        # never below the floor, nor further below it when the base table already is
        need = min(setup.county_floor[county], base_total[county]) - base_total[county]
        if any(p.gives and p.county == county for p in market.givers):
            prob.add("county_floor", f"readiness floor of county {county}", net, lo=need)


def _objective_terms(setup: Setup, market: Market, prob: MarketProblem) -> None:
    members = market.participants
    prob.pop_scale = setup.pop_scale
    scale_p = setup.pop_scale[0]
    unequal: Expr = {}
    population: Expr = {}
    largest = prob.var("max_deviation", 0, max((max(p.target, p.effective) for p in members), default=0), False)
    for p in members:
        moved = prob.moved[p.code]
        sign = -1 if p.gives else 1
        d = prob.var(f"dev[{p.code}]", 0, max(p.target, p.effective), False)
        prob.add("deviation", f"largest deviation bounds {p.code}", {largest: 1, d: -1}, lo=0)
        prob.add("deviation", f"above target {p.code}", add_expr((1, {d: 1}), (-1, moved)), lo=-p.target)
        prob.add("deviation", f"below target {p.code}", add_expr((1, {d: 1}), (1, moved)), lo=p.target)
        unequal[d] = 1
        population_now = setup.population_offset(p.code)
        span = abs(population_now) + scale_p * p.effective
        e = prob.var(f"pop[{p.code}]", 0, span, False)
        # e ≥ ±(P·(base ± moved) − K·population)
        prob.add("population", f"population share {p.code} (over)", add_expr((1, {e: 1}), (-sign * scale_p, moved)),
                 lo=population_now)
        prob.add("population", f"population share {p.code} (under)", add_expr((1, {e: 1}), (sign * scale_p, moved)),
                 lo=-population_now)
        population[e] = 1
        prob.aux[p.code] = (d, e)
    volume: Expr = {}
    for g in market.givers:
        for k, v in prob.moved[g.code].items():
            volume[k] = volume.get(k, 0) + v
    cross = {prob.y[pair]: 1 for pair in market.pairs
             if setup.municipalities[pair[0]].county_code != setup.municipalities[pair[1]].county_code}
    count = {prob.y[pair]: 1 for pair in market.pairs}
    unmet: Expr = {}
    for p in members:
        for k, v in prob.moved[p.code].items():
            unmet[k] = unmet.get(k, 0) - v
    volume = {k: v for k, v in volume.items() if v}
    unmet = {k: v for k, v in unmet.items() if v}
    prob.largest = largest
    prob.terms = {"unmet": unmet, "unequal": unequal, "population": population, "cross_county": cross,
                  "transfers": count, "volume": volume}
    prob.tie = _tie_terms(market, prob)


def _tie_terms(market: Market, prob: MarketProblem) -> tuple[Expr, Expr]:
    giver_rank = {g.code: i for i, g in enumerate(market.givers)}
    receiver_rank = {r.code: j for j, r in enumerate(market.receivers)}
    # Ties: a strictly Monge cost (j+1)(G−i) for giver i and receiver j, growing with the receiver's
    # rank, makes givers in code order take receivers in code order (the north-west corner rule) and
    # leaves no two tables with the same cost along any exchange of two pairs.
    monge = {(g, r): (receiver_rank[r] + 1) * (len(giver_rank) - giver_rank[g]) for g, r in market.pairs}
    tie_pairs = {prob.y[pair]: cost for pair, cost in monge.items()}
    tie_flows = add_expr(*[(cost, prob.x[pair]) for pair, cost in monge.items()])
    return tie_pairs, tie_flows


def _stages(setup: Setup, market: Market, prob: MarketProblem) -> list[Stage]:
    """The policy's objective as stages: the weighted sum, or the default order; then the ties."""
    terms = prob.terms
    if setup.policy.objective is ObjectiveMode.WEIGHTED:
        stages = [Stage("weighted", weighted_objective(setup.policy, prob), "min")]
    else:
        stages = [
            Stage("max_deviation", {prob.largest: 1}, "min"),
            volume_simplicity(market, terms["volume"], terms["cross_county"], terms["transfers"]),
            Stage("population", terms["population"], "min"),
        ]
    tie_pairs, tie_flows = prob.tie
    return [*stages, Stage("tie_pairs", tie_pairs, "min"), Stage("tie_flows", tie_flows, "min")]


def simplicity_scale(market: Market) -> int:
    """k = pairs + 1: no count of transfers reaches it, so k·cross-county + transfers orders as the pair does."""
    return len(market.pairs) + 1


def volume_simplicity(market: Market, volume: Expr, cross: Expr, transfers: Expr) -> Stage:
    """Move the most, then the fewest cross-county transfers, then the fewest transfers, as one objective:
    k²·volume − k·cross-county − transfers (simplicity_scale), each count below a unit of the term before it."""
    k = simplicity_scale(market)
    return Stage("volume_simplicity", add_expr((k * k, volume), (-k, cross), (-1, transfers)), "max")


WEIGHT_RESOLUTION = 1000


def weighted_coefficients(policy: Policy, scale_p: int) -> dict[str, int]:
    """The integer coefficient of each term of the weighted objective (weights to 1/WEIGHT_RESOLUTION); unit
    terms are scaled by P to match the population term. Every model of the weighted mode uses these."""
    w = policy.weights

    def coeff(weight: float) -> int:
        return round(weight * WEIGHT_RESOLUTION)

    return {"unmet": coeff(w.unmet) * scale_p, "unequal": coeff(w.unequal) * scale_p,
            "population": coeff(w.population), "cross_county": coeff(w.cross_county) * scale_p,
            "transfers": coeff(w.transfers) * scale_p}


def weighted_objective(policy: Policy, prob: MarketProblem) -> Expr:
    """Σ weight × term with integer coefficients."""
    c = weighted_coefficients(policy, prob.pop_scale[0])
    return add_expr(*[(c[name], prob.terms[name])
                      for name in ("unmet", "unequal", "population", "cross_county", "transfers")])


def deviation_cuts(setup: Setup, prob: MarketProblem, limit: int) -> list[Constraint]:
    """Constraints that hold when no participant deviates from its target by more than `limit` units.

    They are implied by the model, but stated on the assignment variables alone they let a solver prove
    quickly that no packing of the targets fits within a smaller deviation.
    """
    market = prob.market
    by_code = {p.code: p for p in market.givers + market.receivers}
    out = [Constraint("deviation", f"every deviation at most {limit}", {prob.largest: 1}, None, limit)]
    if not setup.policy.one_receiver:
        return out
    for (gc, rc), yi in prob.y.items():
        ei = prob.e[gc, rc]
        out.append(Constraint("deviation", f"{gc}→{rc} within {limit} of target", {ei: 1, yi: -limit}, None, 0))
        out.append(Constraint("deviation", f"{gc}→{rc} within {limit} of target", {ei: 1, yi: limit}, 0, None))
    ups_of: dict[str, Expr] = {r.code: {} for r in market.receivers}
    downs_of: dict[str, Expr] = {r.code: {} for r in market.receivers}
    for (g, rr), yi in prob.y.items():
        giver, r = by_code[g], by_code[rr]
        bound = min(giver.effective, r.effective)
        target = min(giver.target, bound)
        ups_of[rr][yi] = target + min(limit, bound - target)
        downs_of[rr][yi] = target - min(limit, max(0, target - setup.policy.min_transfer))
    for r in market.receivers:
        ups, downs = ups_of[r.code], downs_of[r.code]
        if ups:
            out.append(Constraint("deviation", f"room of {r.code} filled within {limit}", ups, r.target - limit, None))
            out.append(Constraint("deviation", f"room of {r.code} filled within {limit}", downs, None,
                                  r.target + min(limit, r.effective - r.target)))
    return out


def settle(setup: Setup, prob: MarketProblem, values: list[int]) -> list[int]:
    """Recompute the auxiliary variables exactly from the decisions (pairs chosen, amounts).

    A floating-point backend may leave an auxiliary variable a tolerance away from its defining
    expression; stage values are always computed from settled values.
    """
    out = list(values)
    scale_p, scale_k = prob.pop_scale
    largest = 0
    for p in prob.market.participants:
        d, e = prob.aux[p.code]
        moved = evaluate(prob.moved[p.code], out)
        out[d] = abs(moved - p.target)
        share = p.base + (-moved if p.gives else moved)
        out[e] = abs(scale_p * share - scale_k * setup.municipalities[p.code].population)
        largest = max(largest, out[d])
    if prob.largest >= 0:
        out[prob.largest] = largest
    return out


def values_for(setup: Setup, prob: MarketProblem, flows: dict[tuple[str, str], int]) -> list[int]:
    """The variable values of a table given as amounts per pair (zero elsewhere), auxiliaries settled. Where
    nothing moves, each variable is at the value in its domain nearest 0: made once per model, as the driver asks
    for it several times."""
    zeros = prob.derived.get("zeros")
    if zeros is None:
        zeros = prob.derived["zeros"] = [max(v.lb, min(v.ub, 0)) for v in prob.variables]
    values = list(zeros)
    for pair, amount in flows.items():
        values[prob.y[pair]] = 1
        values[prob.e[pair]] = amount - prob.x[pair].get(prob.y[pair], 0)
    return settle(setup, prob, values)


def type_count_problem(setup: Setup, market: Market, types: dict[tuple, list[str]], limit: int,
                       terms: bool = False) -> MarketProblem:
    """Can every participant stay within `limit` units of its target? Asked of counts of interchangeable
    givers per receiver, which removes the symmetry that makes the full model slow to refute.

    With `terms`, each receiver's amount is a variable too, and the problem has the terms of the volume and
    simplicity stage: "received", "placed" and, where the types name their own county's receivers
    (giver_types(county=True)), "cross". Every table within `limit` has counts with the same terms, so
    their optimum on counts bounds the stage's."""
    prob = MarketProblem(market)
    asked = packing.windows(setup, market, types, limit)  # the packing search asks the same (packing.py)
    column = {code: i for i, code in enumerate(asked.receivers)}
    counts: dict[tuple[int, str], int] = {}
    lows: dict[str, Expr] = {r.code: {} for r in market.receivers}
    highs: dict[str, Expr] = {r.code: {} for r in market.receivers}
    cross: Expr = {}
    for index, (key, members) in enumerate(types.items()):
        total: Expr = {}
        for r in key[2]:
            low, high = asked.windows[index][column[r]]  # type: ignore[misc]
            # a giver that cannot come within `limit` of its target at this room may not go there
            var = prob.var(f"n[{index},{r}]", 0, len(members) if low <= high else 0)
            counts[index, r] = var
            total[var] = 1
            lows[r][var], highs[r][var] = low, high
            if len(key) > 4 and r not in key[4]:
                cross[var] = 1
        prob.add("types", f"givers of type {index} placed", total, lo=asked.must[index], hi=len(members))
    received: Expr = {}
    for r in market.receivers:
        top = asked.rooms[column[r.code]][1]
        if terms:
            v = prob.var(f"v[{r.code}]", max(0, r.target - limit), top)
            prob.add("room", f"room of {r.code} within {limit}", add_expr((1, lows[r.code]), (-1, {v: 1})), hi=0)
            prob.add("room", f"room of {r.code} within {limit}", add_expr((1, highs[r.code]), (-1, {v: 1})), lo=0)
            received[v] = 1
            continue
        prob.add("room", f"room of {r.code} within {limit}", lows[r.code], hi=top)
        prob.add("room", f"room of {r.code} within {limit}", highs[r.code], lo=asked.rooms[column[r.code]][0])
    prob.y = {key: var for key, var in counts.items()}  # (type index, receiver) -> count variable
    if terms:
        prob.add("volume", "at most the proportional cut's volume", received, hi=market.volume)
        prob.terms = {"received": received, "cross": cross, "placed": {var: 1 for var in counts.values()}}
    return prob

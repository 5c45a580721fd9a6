"""Levels 2 to 5 of the default order (FAIRNESS.md v2) on the exact core's model, once level 1 is fixed: volume,
simplicity (cross-county transfers, then transfers), the population term and the matrix tie-break, each optimised
with every earlier level kept at its optimum."""

from __future__ import annotations

from typing import TYPE_CHECKING

from solver.redistribute.coremodel import Model, sorted_vector
from solver.redistribute.cpproto import INF, NINF, Expr

if TYPE_CHECKING:
    from solver.redistribute.leximin import Outcome


def decide(core: Model, out: Outcome) -> None:
    """Every level after the first, in order; each optimum kept as a constraint for the next."""
    market, policy = core.market, core.setup.policy
    vector = sorted_vector(core.levels, len(core.members))
    # a table keeps level 1 exactly when its sorted ratios are the optimal vector, so each member's ratio is one
    # of that vector's values: implied by the counts, but it leaves each amount few values to take
    kept = set(vector)
    givers = {g.code for g in market.givers}
    for p in core.members:
        amounts = sorted({int(v * p.wish) + p.outside for v in kept if (v * p.wish).denominator == 1})
        core.m.among(p.moved, amounts)
        if p.code in givers and policy.one_receiver:  # its one pair carries all of it
            for xi in p.moved:
                core.m.among({xi: 1}, sorted({0, *amounts}))
    county = {c: m.county_code for c, m in core.setup.municipalities.items()}
    volume = {x: 1 for x in core.x.values()}
    cross = {y: 1 for (g, r), y in core.y.items() if county[g] != county[r]}
    transfers = {y: 1 for y in core.y.values()}
    # bounds that a table meeting them proves without a solve: no more moves than either side wishes; no cross-county
    # transfer; no fewer transfers than givers that move (every member giver but as many as level 1 leaves at 0, and
    # every giver a binding agreement holds)
    most = min(sum(g.effective for g in market.givers), sum(r.effective for r in market.receivers))
    value = _optimum(core, "volume", volume, "max", out, most)
    core.m.linear(volume, value, INF)
    value = _optimum(core, "cross_county", cross, "min", out, 0)
    core.m.linear(cross, NINF, value)
    zeros = sum(1 for v in vector if v == 0)
    held = sum(1 for g in market.givers if policy.binding_agreements and g.partner is not None and g.effective > 0)
    moving = sum(1 for p in core.members if p.code in givers) - zeros + held
    value = _optimum(core, "transfers", transfers, "min", out, moving)
    core.m.linear(transfers, NINF, value)
    population = _population(core)
    value = _optimum(core, "population", population, "min", out)
    core.m.linear(population, NINF, value)
    order = [core.x[pair] for pair in sorted(core.x)]
    values = core.solve(core.m, None, order)
    assert values is not None, "the earlier levels have a table"
    core.keep(values)
    out.stage_status["tie_break"] = "optimal"


def _optimum(core: Model, name: str, expr: Expr, sense: str, out: Outcome, bound: int | None = None) -> int:
    """Optimise `expr` with every earlier level kept; where the last table already meets `bound` (a bound on the
    optimum), that table is the answer without a solve."""
    sign = -1 if sense == "max" else 1
    values = core.table
    if values is None or bound is None or sum(c * values[k] for k, c in expr.items()) != bound:
        values = core.solve(core.m, {k: sign * v for k, v in expr.items()}, hint=core.hint(core.m))
        assert values is not None, "the earlier levels have a table"
        core.keep(values)
    value = sum(c * values[k] for k, c in expr.items())
    out.stage_values[name] = str(value)
    out.stage_status[name] = "optimal"
    return value


def _population(core: Model) -> Expr:
    """Σ |P·share − K·population| over the market's participants, as a sum of new variables bounding each term
    from above (exact at the minimum)."""
    scale_p, _ = core.setup.pop_scale
    expr: Expr = {}
    for p in core.market.givers + core.market.receivers:
        offset = core.setup.population_offset(p.code)
        sign = -1 if p.gives else 1
        reach = abs(offset) + scale_p * p.effective
        a = core.m.var(0, reach)
        inner = {k: sign * scale_p * c for k, c in core.moved[p.code].items()}
        core.m.linear({**inner, a: 1}, -offset, INF)  # a ≥ offset + sign·P·moved
        core.m.linear({**{k: -v for k, v in inner.items()}, a: 1}, offset, INF)  # a ≥ −(offset + sign·P·moved)
        expr[a] = 1
    return expr

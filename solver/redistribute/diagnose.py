"""Why a request is infeasible, in words: the constraint groups that cannot hold together.

Every hard constraint of the market is guarded by its own literal and the literals are passed to CP-SAT
as assumptions; CP-SAT returns a sufficient set of them for the infeasibility, which names the
municipalities, agreements, rooms and floors that conflict. This runs for every backend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ortools.sat.python import cp_model

from solver.domain import Municipality, format_permille
from solver.redistribute.explain import kommun, market_sv, sv_permille
from solver.redistribute.problem import GROUPS, MarketProblem

_CODE = re.compile(r"\b\d{4}\b")
_HARD = ("offer", "room", "link", "one_receiver", "county_floor", "agreement")


def conflicting_constraints(problem: MarketProblem, time_limit_s: float = 5.0) -> list[tuple[str, str]] | None:
    """(group, label) of a set of hard constraints that cannot all hold, or None if they can."""
    model = cp_model.CpModel()
    xs = [model.new_int_var(v.lb, v.ub, v.name) for v in problem.variables]
    guards = []
    for index, c in enumerate(problem.constraints):
        if c.group not in _HARD:
            continue
        keys = list(c.expr)
        expr = cp_model.LinearExpr.weighted_sum([xs[k] for k in keys], [c.expr[k] for k in keys]) if keys else 0
        lit = model.new_bool_var(f"guard{index}")
        lo = c.lo if c.lo is not None else cp_model.INT_MIN
        hi = c.hi if c.hi is not None else cp_model.INT_MAX
        if not keys:
            # an empty left side: 0 must lie in [lo, hi]
            if not lo <= 0 <= hi:
                model.add_bool_or([lit.Not()])
        else:
            model.add_linear_constraint(expr, lo, hi).only_enforce_if(lit)
        guards.append((lit, c))
    model.add_assumptions([lit for lit, _ in guards])
    solver = cp_model.CpSolver()
    solver.parameters.max_deterministic_time = time_limit_s  # work, not the wall clock: the same diagnosis anywhere
    solver.parameters.num_workers = 1
    status = solver.solve(model)
    if status != cp_model.INFEASIBLE:
        return None
    core = set(solver.sufficient_assumptions_for_infeasibility())
    return [(c.group, c.label) for lit, c in guards if lit.index in core]


def _name_codes(text: str, municipalities: Mapping[str, Municipality]) -> str:
    return _CODE.sub(lambda m: f"{municipalities[m.group()].name} ({m.group()})"
                     if m.group() in municipalities else m.group(), text)


_LOWERED_SV = {"giver_floor": "kommunens lägsta andel för beredskap", "county_floor": "länets lägsta andel för beredskap",
               "receiver_cap": "taket i förhållande till folkmängden", "largest_room": "den största mottagande kommunens utrymme",
               "min_transfer": "den minsta tillåtna överföringen", "no_counterpart": "att ingen motsvarande kommun deltog"}


def _swedish(group: str, label: str, municipalities: Mapping[str, Municipality], by_code: Mapping[str, Any]) -> str:
    """A conflicting rule in the report's words (the labels are the model's, in English)."""
    codes = [c for c in _CODE.findall(label) if c in municipalities]
    names = [kommun(municipalities[c].name) for c in codes]

    def amount(code: str) -> str:
        p = by_code.get(code)
        return "" if p is None else " " + sv_permille(p.effective)

    if group == "offer" and codes:
        return f"{names[0]} omfördelar högst{amount(codes[0])}"
    if group == "room" and codes:
        return f"{names[0]} tar emot högst{amount(codes[0])}"
    if group == "one_receiver" and codes:
        return f"{names[0]} omfördelar till en (1) mottagande kommun"
    if group == "agreement" and len(codes) == 2:
        return f"överenskommelsen att {names[0]} omfördelar hela sitt belopp till {names[1]}"
    if group == "link" and len(codes) == 2:
        return f"en överföring från {names[0]} till {names[1]} är minst den minsta tillåtna överföringen"
    if group == "county_floor":
        county = label.rsplit(" ", 1)[-1]
        name = next((m.county_name for m in municipalities.values() if m.county_code == county), f"län {county}")
        return f"{name} behåller minst sin lägsta andel för beredskap"
    return _name_codes(label, municipalities)


def diagnose_infeasible(problem: MarketProblem, municipalities: Mapping[str, Municipality]) -> list[dict[str, Any]]:
    """Diagnosis entries for an infeasible market: what conflicts, in words, with the facts behind it."""
    market = problem.market
    by_code = {p.code: p for p in market.givers + market.receivers}
    items: list[dict[str, Any]] = []
    core = conflicting_constraints(problem)
    if not core:
        return [{"kind": "infeasible", "market": market.key, "constraints": [],
                 "text_en": f"No table satisfies every rule in market {market.key}; no smaller conflict was found.",
                 "text_sv": f"Ingen tabell uppfyller alla regler i {market_sv(market.key, municipalities)}, och ingen mindre "
                            "motsättning hittades."}]
    facts_en, facts_sv = [], []
    for _group, label in core:
        codes = _CODE.findall(label)
        for code in codes:
            p = by_code.get(code)
            if p is None:
                continue
            what = "offer" if p.gives else "room"
            fact = f"{municipalities[code].name} ({code}) has an effective {what} of {format_permille(p.effective)}‰"
            if p.lowered_by:
                fact += " after " + ", ".join(rule.replace("_", " ") for rule, _ in p.lowered_by)
            if fact not in facts_en:
                facts_en.append(fact)
                fact_sv = (f"{kommun(municipalities[code].name)} kan omfördela {sv_permille(p.effective)}" if p.gives
                           else f"{kommun(municipalities[code].name)} kan ta emot {sv_permille(p.effective)}")
                floors = [rule for rule, _ in p.lowered_by if rule in ("giver_floor", "county_floor", "receiver_cap")]
                if floors:  # what the effective amount is after; the limits of reach come later
                    fact_sv += " efter " + " och ".join(_LOWERED_SV[rule] for rule in floors)
                facts_sv.append(fact_sv)
    named = [f"{GROUPS[g]}: {_name_codes(label, municipalities)}" for g, label in core]
    items.append({
        "kind": "infeasible",
        "market": market.key,
        "constraints": [{"group": g, "label": label} for g, label in core],
        "text_en": "These rules cannot all hold: " + "; ".join(named) + ". " + ("; ".join(facts_en) + "." if facts_en else ""),
        "text_sv": ("Regeln kan inte uppfyllas: " if len(core) == 1 else "Dessa regler kan inte gälla samtidigt: ")
                   + "; ".join(_swedish(g, label, municipalities, by_code)
                                                                      for g, label in core)
                   + ". " + ("; ".join(facts_sv) + "." if facts_sv else ""),
    })
    return items

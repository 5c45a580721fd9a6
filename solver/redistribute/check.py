"""An independent checker: recomputes every hard rule and objective term in integer arithmetic.

It reads only the setup (effective wishes, targets) and the finished table, never the solver's model,
so a wrong translation in a backend or in the model itself shows up as a violation here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from fractions import Fraction

from solver.domain import TOTAL_UNITS, Scope
from solver.redistribute.targets import Market, Setup


class CheckFailed(AssertionError):
    """The solver returned a table that breaks a rule: a bug, never the user's fault."""


def _moved(flows: list[tuple[str, str, int]]) -> dict[str, int]:
    moved: dict[str, int] = defaultdict(int)
    for g, r, amount in flows:
        moved[g] += amount
        moved[r] += amount
    return moved


def _population(setup: Setup, members, moved: Mapping[str, int]) -> int:
    """Σ |P·share − K·population| over the members: the population term in integers."""
    scale_p, scale_k = setup.pop_scale
    return sum(abs(scale_p * (p.base + (-1 if p.gives else 1) * moved[p.code])
                   - scale_k * setup.municipalities[p.code].population) for p in members)


def _cross(setup: Setup, flows: list[tuple[str, str, int]]) -> int:
    county = {c: setup.municipalities[c].county_code for g, r, _ in flows for c in (g, r)}
    return sum(1 for g, r, _ in flows if county[g] != county[r])


def objective_terms(setup: Setup, shares: Mapping[str, int], flows: list[tuple[str, str, int]]) -> dict[str, str]:
    """Every objective term, recomputed from the table (counts, units, or an exact ratio)."""
    moved = _moved(flows)
    members = setup.participants.values()
    ratios = [Fraction(moved[p.code], p.effective) for p in members if p.capacity > 0]
    return {
        "unmet": str(sum(p.effective - moved[p.code] for p in members)),
        "unequal": str(sum(abs(moved[p.code] - p.target) for p in members)),
        "population": str(_population(setup, members, moved)),
        "cross_county": str(_cross(setup, flows)),
        "transfers": str(len(flows)),
        "volume": str(sum(moved[p.code] for p in members if p.gives)),
        "min_ratio": str(min(ratios, default=Fraction(1))),
    }


def check(setup: Setup, shares: Mapping[str, int], flows: list[tuple[str, str, int]],
          spill: Mapping[str, int]) -> list[str]:
    """All violations of the hard rules (an empty list when the table is sound)."""
    policy = setup.policy
    out: list[str] = []
    if set(shares) != set(setup.municipalities):
        out.append("the table does not have exactly one share per municipality")
        return out
    if sum(shares.values()) != TOTAL_UNITS:
        out.append(f"shares sum to {sum(shares.values())} units, not {TOTAL_UNITS}")
    given: dict[str, int] = defaultdict(int)
    received: dict[str, int] = defaultdict(int)
    receivers_of: dict[str, set[str]] = defaultdict(set)
    parts = setup.participants
    county = {c: m.county_code for c, m in setup.municipalities.items()}
    for g, r, amount in flows:
        if amount <= 0:
            out.append(f"transfer {g}→{r} is not positive")
        if amount < policy.min_transfer:
            out.append(f"transfer {g}→{r} of {amount} is below the smallest transfer {policy.min_transfer}")
        if g not in parts or not parts[g].gives:
            out.append(f"{g} gives without a wish to give")
        if r not in parts or parts[r].gives:
            out.append(f"{r} receives without a wish to receive")
        if policy.scope is Scope.COUNTY and county[g] != county[r]:
            out.append(f"transfer {g}→{r} crosses a county line under county scope")
        if g in parts and parts[g].partner is not None and parts[g].partner != r:
            out.append(f"{g} gives to {r}, not to its fixed partner {parts[g].partner}")
        given[g] += amount
        received[r] += amount
        receivers_of[g].add(r)
    for code in set(given) & set(received):
        out.append(f"{code} both gives and receives")
    for code, base in setup.base.units.items():
        expected = base - given[code] + received[code] + spill.get(code, 0)
        if shares[code] != expected:
            out.append(f"{code}: share {shares[code]} ≠ base {base} − given + received + spill = {expected}")
        if shares[code] < 0:
            out.append(f"{code}: negative share")
    if spill and not policy.spill:
        out.append("spill without spill mode")
    if sum(spill.values()) != 0:
        out.append("the spill does not balance: what givers put in is not what others take")
    for code, amount in spill.items():
        if amount > 0 and code in parts:
            out.append(f"{code} has a wish but received spill")
        if amount < 0 and (code not in parts or not parts[code].gives):
            out.append(f"{code} put share into the spill without a wish to give")
        if amount < 0 and code in parts and given[code] - amount > parts[code].effective:
            out.append(f"{code} gives and spills more than its effective offer")
    for p in parts.values():
        if p.gives:
            if given[p.code] > p.effective:
                out.append(f"{p.code} gives {given[p.code]}, more than its effective offer {p.effective}")
            if policy.one_receiver and len(receivers_of[p.code]) > 1:
                out.append(f"{p.code} gives to {len(receivers_of[p.code])} receivers")
            if shares[p.code] < min(p.base, policy.giver_floor):
                out.append(f"{p.code} falls below the giver floor")
            if policy.binding_agreements and p.partner is not None and given[p.code] != p.effective:
                out.append(f"{p.code} does not give its whole offer to its partner {p.partner}")
        else:
            if received[p.code] > p.effective:
                out.append(f"{p.code} receives {received[p.code]}, more than its effective room {p.effective}")
            cap = setup.receiver_cap.get(p.code)
            if cap is not None and received[p.code] > 0 and shares[p.code] > max(p.base, cap):
                out.append(f"{p.code} ends above its cap {cap}")
    if setup.county_floor:
        totals: dict[str, int] = defaultdict(int)
        base_totals: dict[str, int] = defaultdict(int)
        for code, units in shares.items():
            totals[county[code]] += units
            base_totals[county[code]] += setup.base[code]
        for c, floor in setup.county_floor.items():
            if totals[c] < floor and totals[c] < base_totals[c]:
                out.append(f"county {c} ends at {totals[c]}, below its floor {floor}")
            if totals[c] < floor and any(p.county == c and given[p.code] for p in parts.values()):
                out.append(f"county {c} is below its floor {floor} but its municipalities gave share away")
    return out


def check_stages(setup: Setup, market: Market, reported: Mapping[str, str],
                 flows: list[tuple[str, str, int]]) -> list[str]:
    """Each lexicographic stage value the solver reported, recomputed from the market's transfers alone."""
    moved = _moved(flows)
    members = market.participants
    k = len(market.pairs) + 1
    volume = sum(moved[p.code] for p in members if p.gives)
    recomputed: dict[str, int | str] = {
        "max_deviation": max((abs(moved[p.code] - p.target) for p in members), default=0),
        "volume_simplicity": volume * k * k - _cross(setup, flows) * k - len(flows),
        "population": _population(setup, members, moved),
        "leximin": _sorted_ratios(setup, market, moved),
        "volume": volume,
        "cross_county": _cross(setup, flows),
        "transfers": len(flows),
    }
    # a stage the checker does not know is a violation: skipping it would let a renamed stage go unchecked. The
    # weighted sum and the staged driver's tie-break terms are known but not recomputed here
    known = set(recomputed) | {"weighted", "tie_pairs", "tie_flows", "tie_order"}
    return [f"market {market.key}: stage {stage} is not one the checker knows" if stage not in known else
            f"market {market.key}: stage {stage} reported {value}, the table gives {recomputed[stage]}"
            for stage, value in reported.items()
            if stage not in known or stage in recomputed and value != str(recomputed[stage])]


def _sorted_ratios(setup: Setup, market: Market, moved: Mapping[str, int]) -> str:
    """The fulfilment ratios of the leximin level, ascending, as `value×count`: a binding agreement's amount is
    outside the order (its giver takes no part; its partner's wish and amount are counted without it)."""
    binding = setup.policy.binding_agreements
    bound = {g.code for g in market.givers if binding and g.partner is not None and g.effective > 0}
    outside: dict[str, int] = defaultdict(int)
    for g in market.givers:
        if g.code in bound:
            outside[g.partner or ""] += g.effective
    counts: dict[Fraction, int] = defaultdict(int)
    for p in market.participants:
        wish = p.effective - outside[p.code]
        if p.code not in bound and wish > 0:
            counts[Fraction(moved[p.code] - outside[p.code], wish)] += 1
    return " ".join(f"{v}×{c}" for v, c in sorted(counts.items()))

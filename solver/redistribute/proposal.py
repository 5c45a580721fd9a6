"""Propose a redistribution: validate inputs, cut proportionally, solve each market, check, explain."""

from __future__ import annotations

import json
import platform
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from solver.apportion import Method, apportion
from solver.compensation import expected_children, variable_compensation
from solver.data import load_municipalities
from solver.domain import InputError, InputProblem, Municipality, Policy, Transfer, Wish, permille
from solver.policy import parse_policy, read_policy
from solver.redistribute.backend import SolutionStatus, SolveOptions, Termination
from solver.redistribute.check import CheckFailed, check, check_stages, objective_terms
from solver.redistribute.diagnose import diagnose_infeasible
from solver.redistribute.explain import Context, explain, market_sv
from solver.redistribute.memo import Models
from solver.redistribute.solve import MarketResult, solve_market, worst_solution, worst_termination
from solver.redistribute.targets import Setup, build_setup
from solver.redistribute.tuning import Tuning
from solver.shares import ShareTable, compute_base_shares, read_share_table, validate_share_rows
from solver.wishes import read_wishes

BACKEND_ALIASES = {"cpsat": "cpsat", "pulp": "pulp", "highs": "highs", "pulp-highs": "highs", "cbc": "cbc",
                   "pulp-cbc": "cbc"}


@dataclass
class Proposal:
    """A proposed share table with its transfers, explanations, objective and solve report."""

    municipalities: tuple[Municipality, ...]
    base: ShareTable
    policy: Policy
    wishes: list[Wish]
    setup: Setup
    shares: dict[str, int]
    transfers: list[Transfer]
    spill: dict[str, int]
    termination: Termination
    solution: SolutionStatus
    objective: dict[str, Any]
    solver: dict[str, Any]
    diagnosis: list[dict[str, Any]]
    explainer: Callable[[], dict[str, dict[str, Any]]] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def explanations(self) -> dict[str, dict[str, Any]]:
        """Every municipality's explanation by code, made at the first use (a sweep point never uses them)."""
        return self.explainer() if self.explainer is not None else {}

    @property
    def feasible(self) -> bool:
        return self.solution is not SolutionStatus.NONE

    def rows(self) -> list[dict[str, Any]]:
        out = []
        forecast = self.policy.forecast
        for m in self.municipalities:
            units = self.shares[m.code]
            base = self.base[m.code]
            p = self.setup.participants.get(m.code)
            out.append({
                "code": m.code,
                "name": m.name,
                "county_code": m.county_code,
                "wish": p.kind if p else None,
                "base_permille": permille(base),
                "proposed_permille": permille(units),
                "delta_permille": permille(units - base),
                "expected_children": expected_children(units, forecast),
                "variable_compensation_sek": variable_compensation(units, forecast),
                "explanation": self.explanations.get(m.code, {}),
            })
        return out

    def to_dict(self, *, timing: bool = True) -> dict[str, Any]:
        solver = dict(self.solver)
        if not timing:
            solver["wall_time_s"] = None
            solver["markets"] = [{k: v for k, v in mk.items() if k != "wall_time_s"} for mk in solver["markets"]]
        return {
            "status": {"termination": self.termination.value, "solution": self.solution.value},
            "shares": self.rows(),
            "transfers": [t.to_dict() for t in self.transfers],
            "spill": [{"code": c, "permille": permille(u)} for c, u in sorted(self.spill.items())],
            "objective": self.objective,
            "solver": solver,
            "diagnosis": self.diagnosis,
            "policy": self.policy.to_dict(),
            "base": {"source": self.base.source, "illustrative": self.base.illustrative, "note": self.base.note},
            "wishes": [w.to_dict() for w in self.wishes],
        }

    def to_json(self, *, timing: bool = True) -> str:
        return json.dumps(self.to_dict(timing=timing), ensure_ascii=False, indent=1) + "\n"


def _resolve_shares(shares: ShareTable | str | Path | Mapping[str, Any] | None,
                    municipalities: Sequence[Municipality]) -> ShareTable:
    if shares is None:
        return compute_base_shares(municipalities)
    if isinstance(shares, ShareTable):
        if set(shares.units) != {m.code for m in municipalities} or sum(shares.units.values()) != 100_000:
            raise InputError([InputProblem(shares.source, "shares", "must hold every municipality once and sum to "
                                           "exactly 1000.00")], what="share table")
        return shares
    if isinstance(shares, str | Path):
        return read_share_table(shares, municipalities)
    rows = [{"code": c, "share_permille": v, "_row": i} for i, (c, v) in enumerate(shares.items(), start=1)]
    return validate_share_rows(rows, municipalities, "shares")


def _resolve_policy(policy: Policy | Mapping[str, Any] | str | Path | None, overrides: Mapping[str, Any]) -> Policy:
    if isinstance(policy, Policy):
        if overrides:
            merged = {k: v for k, v in policy.to_dict().items()}
            return parse_policy(merged, **overrides)
        return policy
    if policy is None or isinstance(policy, Mapping):
        return parse_policy(dict(policy or {}), **overrides)
    return read_policy(policy, **overrides)


def propose(
    wishes: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any] | Sequence[Wish],
    *,
    shares: ShareTable | str | Path | Mapping[str, Any] | None = None,
    policy: Policy | Mapping[str, Any] | str | Path | None = None,
    backend: str = "cpsat",
    municipalities: Sequence[Municipality] | None = None,
    cancel: threading.Event | None = None,
    tuning: Tuning | None = None,
    models: Models | None = None,
    **policy_overrides: Any,
) -> Proposal:
    """The national (or county) redistribution proposal for a wish set.

    Raises InputError (every problem at once) for bad input; an infeasible request returns a proposal
    whose status says infeasible and whose diagnosis says why. Setting `cancel` from another thread stops
    the proposal before its next solve (it raises `Cancelled`). `tuning` replaces the solvers' tuning (tuning.py),
    for benchmarks and for tests that compare two of their paths. `models` is the caller's memory of built models
    (memo.Models: the service keeps one), so that what-ifs on the same wishes reuse them.
    """
    started = time.perf_counter()
    if backend not in BACKEND_ALIASES:
        raise InputError([InputProblem("request", "backend", f"unknown backend {backend!r}; choose cpsat, pulp, "
                                       "highs or cbc")], what="request")
    backend = BACKEND_ALIASES[backend]
    munis = tuple(municipalities) if municipalities is not None else load_municipalities()
    base = _resolve_shares(shares, munis)
    pol = _resolve_policy(policy, policy_overrides)
    if isinstance(wishes, Sequence) and not isinstance(wishes, str) and wishes and isinstance(wishes[0], Wish):
        wishes = [w.to_dict() for w in wishes]  # type: ignore[union-attr]
    wish_list = read_wishes(wishes, munis, base, pol)  # type: ignore[arg-type]
    setup = build_setup(munis, base, wish_list, pol)
    options = SolveOptions(time_limit_s=pol.time_limit_s, seed=pol.seed, num_workers=pol.num_workers, cancel=cancel,
                           tuning=tuning or Tuning(), models=models)
    results = [solve_market(setup, market, backend, options) for market in setup.markets]
    return assemble(setup, wish_list, results, backend, time.perf_counter() - started)


def _spill(setup: Setup, results: list[MarketResult]) -> dict[str, int]:
    """What volunteers could not take, spread over the municipalities without a wish by population.

    Signed: a giver's entry is negative (what it put into the pool), a recipient's positive.
    """
    spill: dict[str, int] = {}
    for res in results:
        market = res.market
        unplaced = {g.code: g.effective - res.moved(g.code) for g in market.givers}
        unplaced = {code: units for code, units in unplaced.items() if units > 0}
        pool = [m for m in setup.municipalities.values() if m.code not in setup.participants
                and (market.key == "national" or m.county_code == market.key)]
        if not unplaced or not pool:
            continue
        seats = apportion([m.population for m in pool], sum(unplaced.values()), Method.HAMILTON).seats
        spill.update({m.code: s for m, s in zip(pool, seats, strict=True) if s})
        spill.update({code: -units for code, units in unplaced.items()})  # what each giver put in
    return spill


def assemble(setup: Setup, wishes: list[Wish], results: list[MarketResult], backend: str,
             wall_time_s: float) -> Proposal:
    munis = tuple(sorted(setup.municipalities.values(), key=lambda m: m.code))
    termination = worst_termination([r.termination for r in results])
    solution = worst_solution([r.solution for r in results])
    diagnosis: list[dict[str, Any]] = []
    flows: list[tuple[str, str, int]] = []
    own: dict[str, list[tuple[str, str, int]]] = {}  # each market's flows (read off its values once)
    for res in results:
        if res.values is None:
            if res.termination is Termination.INFEASIBLE:
                diagnosis += diagnose_infeasible(res.problem, setup.municipalities)
            else:
                diagnosis.append({"kind": res.termination.value, "market": res.market.key, "constraints": [],
                                  "text_en": f"No table was found for market {res.market.key}: {res.message}",
                                  "text_sv": f"Ingen tabell hittades för {market_sv(res.market.key, setup.municipalities)}."})
            continue
        own[res.market.key] = res.flows()
        flows += own[res.market.key]
        if res.termination is Termination.TIME_LIMIT:
            proven = ", ".join(k for k, v in res.stage_status.items() if v == "optimal") or "none"
            proven_sv = ", ".join(STAGES_SV.get(k, k) for k, v in res.stage_status.items() if v == "optimal") or "inga"
            diagnosis.append({
                "kind": "time_limit", "market": res.market.key, "constraints": [],
                "text_en": f"Market {res.market.key}: the table keeps every rule, but the solver's work limit was "
                           f"reached ({res.message}); stages proven optimal: {proven}.",
                "text_sv": f"{market_sv(res.market.key, setup.municipalities).capitalize()}: tabellen följer alla regler, "
                           "men beräkningen nådde sin "
                           "arbetsgräns innan den var bevisat bäst. Nivåer som är bevisat bäst: "
                           f"{proven_sv}.",
            })
    shares = dict(setup.base.units)
    spill: dict[str, int] = {}
    if solution is SolutionStatus.NONE:
        flows = []
    else:
        if setup.policy.spill:
            spill = _spill(setup, results)
        for g, r, amount in flows:
            shares[g] -= amount
            shares[r] += amount
        for code, amount in spill.items():
            shares[code] += amount
        violations = check(setup, shares, flows, spill)
        for res in results:
            if res.values is not None:
                violations += check_stages(setup, res.market, res.stage_values, own[res.market.key])
        if violations:
            raise CheckFailed("the solver's table breaks the rules: " + "; ".join(violations))
    flows.sort()
    county = {c: m.county_code for c, m in setup.municipalities.items()}
    transfers = [Transfer(g, r, a, county[g] != county[r]) for g, r, a in flows]
    terms = objective_terms(setup, shares, flows)
    w = setup.policy.weights
    weighted = (w.unmet * int(terms["unmet"]) + w.unequal * int(terms["unequal"])
                + w.population * int(terms["population"]) / setup.pop_scale[0]
                + w.cross_county * int(terms["cross_county"]) + w.transfers * int(terms["transfers"]))
    objective = {
        "mode": setup.policy.objective.value,
        "value": round(weighted, 6),
        "terms": {
            "unmet_permille": permille(int(terms["unmet"])),
            "unequal_permille": permille(int(terms["unequal"])),
            "population_deviation_permille": round(int(terms["population"]) / setup.pop_scale[0] / 100, 6),
            "cross_county_transfers": int(terms["cross_county"]),
            "transfers": int(terms["transfers"]),
            "volume_permille": permille(int(terms["volume"])),
            "min_ratio": round(_fraction(terms["min_ratio"]), 6),
        },
        "exact": terms,
        "stages": {r.market.key: r.stage_values for r in results},
        "stage_status": {r.market.key: r.stage_status for r in results},
    }
    solver_info = {
        "backend": backend,
        "version": _backend_version(backend),
        "wall_time_s": round(wall_time_s, 4),
        "gap": max((r.gap for r in results), default=0.0),
        "bound": next((r.bound for r in results if r.bound is not None), None),
        "seed": setup.policy.seed,
        "time_limit_s": setup.policy.time_limit_s,
        "num_workers": setup.policy.num_workers,
        "python": platform.python_version(),
        "markets": [{"market": r.market.key, "termination": r.termination.value, "solution": r.solution.value,
                     "solves": r.solves, "gap": r.gap, "bound": r.bound, "stopped": r.message or None,
                     "wall_time_s": round(r.wall_time_s, 4),
                     "givers": len(r.market.givers), "receivers": len(r.market.receivers),
                     "pairs": len(r.market.pairs)} for r in results],
    }
    def explanations() -> dict[str, dict[str, Any]]:
        market_of = {p.code: m for m in setup.markets for p in m.givers + m.receivers}
        flows_of: dict[str, list[tuple[str, str, int]]] = {}
        for flow in flows:
            flows_of.setdefault(flow[0], []).append(flow)
            flows_of.setdefault(flow[1], []).append(flow)
        context = Context(setup.municipalities, setup.policy.one_receiver, setup.policy.forecast,
                          setup.base.illustrative, feasible=solution is not SolutionStatus.NONE)
        return {m.code: explain(m.code, context, setup.base[m.code], shares[m.code], setup.participants.get(m.code),
                                market_of.get(m.code), flows_of.get(m.code, []), spill.get(m.code, 0)) for m in munis}

    return Proposal(munis, setup.base, setup.policy, wishes, setup, shares, transfers, spill, termination,
                    solution, objective, solver_info, diagnosis, explanations)


# the levels' names in the report's words, for the Swedish diagnosis (both the exact order and the staged driver)
STAGES_SV = {"leximin": "måluppfyllelse", "volume": "volym", "cross_county": "överföringar mellan län",
             "transfers": "antal överföringar", "population": "fördelning efter folkmängd", "tie_break": "fast ordning",
             "max_deviation": "största avvikelse", "volume_simplicity": "volym och enkelhet", "tie_order": "fast ordning"}


def _fraction(text: str) -> float:
    num, _, den = text.partition("/")
    return int(num) / int(den or 1)


def _backend_version(backend: str) -> str:
    if backend == "cpsat":
        import ortools

        return f"ortools {ortools.__version__}"  # type: ignore[attr-defined]
    import pulp

    return f"pulp {pulp.__version__} ({backend})"

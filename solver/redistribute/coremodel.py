"""The exact core's model of one market: its CP-SAT model (a pair's amount and whether it is chosen, the hard
rules), its members (the participants of the leximin), its solves within the market's work limit, and the levels
decided on it so far. leximin.py decides level 1 on it, later.py the levels after.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from ortools.sat.python import cp_model

from solver.redistribute.backend import SolveOptions, watching
from solver.redistribute.cpproto import INF, NINF, Expr, Proto, depth_first
from solver.redistribute.targets import Market, Setup


@dataclass(frozen=True)
class Member:
    """A participant of the leximin: its wish in units and what it has moved (an expression plus a constant:
    what a binding agreement moves is outside the order)."""

    code: str
    wish: int
    moved: Expr
    outside: int = 0


@dataclass(frozen=True)
class Level:
    """At least `count` participants reach the fulfilment ratio `value`."""

    value: Fraction
    count: int


class Stopped(Exception):
    """A solve ended without proof (work limit or cancel): the levels so far are what is proven."""


def sorted_vector(levels: list[Level], n: int) -> list[Fraction]:
    """The optimal sorted ratio vector that a list of levels describes (n participants in all)."""
    out: list[Fraction] = []
    for i, level in enumerate(levels):
        above = levels[i + 1].count if i + 1 < len(levels) else 0
        out += [level.value] * (level.count - above)
    assert len(out) == n
    return out


def describe(vector: list[Fraction]) -> str:
    """A sorted ratio vector as text: each distinct value with how many hold it, e.g. `1/2×1 2/3×1 1×2`."""
    counts: dict[Fraction, int] = defaultdict(int)
    for v in vector:
        counts[v] += 1
    return " ".join(f"{v}×{c}" for v, c in sorted(counts.items()))


class Model:
    """One market's CP-SAT model, its solves within the work limit, and the levels decided on it so far."""

    def __init__(self, setup: Setup, market: Market, options: SolveOptions):
        self.setup, self.market, self.options = setup, market, options
        self.left = options.time_limit_s
        self.spent = 0.0
        self.solves = 0
        policy = setup.policy
        m = self.m = Proto()
        by = {p.code: p for p in market.givers + market.receivers}
        self.x: dict[tuple[str, str], int] = {}
        self.y: dict[tuple[str, str], int] = {}
        for gc, rc in market.pairs:
            ub = min(by[gc].effective, by[rc].effective)
            yi, xi = m.var(0, 1), m.var(0, ub)
            self.x[gc, rc], self.y[gc, rc] = xi, yi
            m.linear({xi: 1, yi: -ub}, NINF, 0)  # nothing moves on a pair not chosen
            m.linear({xi: 1, yi: -policy.min_transfer}, 0, INF)  # a chosen pair moves at least the smallest transfer
        moved: dict[str, Expr] = {p.code: {} for p in by.values()}
        for (gc, rc), xi in self.x.items():
            moved[gc][xi] = 1
            moved[rc][xi] = 1
        self.moved = moved
        self.feasible = True
        outside: dict[str, int] = defaultdict(int)
        bound: set[str] = set()
        for g in market.givers:
            m.linear(moved[g.code], 0, g.effective)
            chosen = {yi: 1 for (gg, _), yi in self.y.items() if gg == g.code}
            if policy.one_receiver and chosen:
                m.linear(chosen, 0, 1)
            if policy.binding_agreements and g.partner is not None and g.effective > 0:
                pair = (g.code, g.partner)
                if pair not in self.x:
                    self.feasible = False  # the partner is outside the market or cannot take a transfer
                    continue
                m.linear({self.x[pair]: 1}, g.effective, g.effective)
                outside[g.partner] += g.effective
                bound.add(g.code)
        for r in market.receivers:
            m.linear(moved[r.code], 0, r.effective)
        members = [Member(g.code, g.effective, moved[g.code]) for g in market.givers
                   if g.effective > 0 and g.code not in bound]
        members += [Member(r.code, r.effective - outside[r.code], moved[r.code], outside[r.code])
                    for r in market.receivers if r.effective - outside[r.code] > 0]
        self.members = sorted(members, key=lambda p: p.code)
        self.levels: list[Level] = []
        self.table: list[int] | None = None  # the last solution that keeps every level fixed so far
        # the best table at level 1 seen so far: where level 1 is left unproven this is the answer, since the last
        # table (a solve's, made to show a count) may be worse in its larger ratios than the start was
        self.best: list[int] | None = None
        self._best_vector: list[Fraction] = []  # its sorted ratios

    # --- solving ---------------------------------------------------------------------------------------

    def solve(self, model: Proto, objective: Expr | None = None, order: list[int] | None = None,
               hint: list[int] | None = None) -> list[int] | None:
        """Minimise `objective` (or find the first solution of a depth-first search over `order`, largest values
        first): the solution, None where there is none (proven). Raises Stopped where the work ran out."""
        if self.options.cancel is not None and self.options.cancel.is_set():
            raise Stopped("cancelled")  # seen here, not only by the watcher's poll: no solve starts after a cancel
        if self.left <= 0:
            raise Stopped("the work limit was reached")
        proto = model.proto
        proto.clear_objective()
        proto.search_strategy.clear()
        proto.clear_solution_hint()
        if objective:
            items = [(k, v) for k, v in objective.items() if v]
            proto.objective.vars.extend(k for k, _ in items)
            proto.objective.coeffs.extend(v for _, v in items)
        if hint is not None:
            proto.solution_hint.vars.extend(range(len(hint)))
            proto.solution_hint.values.extend(hint)
        solver = cp_model.CpSolver()
        params = solver.parameters
        params.max_deterministic_time = self.left
        params.num_workers = 1
        # the full linear relaxation: with it CP-SAT bounds the counts at once where the default leaves them to clause
        # learning (13 givers cannot serve 27 rooms: proven in 0.01 of work, not left open after 27)
        params.linearization_level = 2 if self.options.linearization_level is None else self.options.linearization_level
        params.random_seed = self.options.seed
        if order is not None:
            depth_first(proto, order)
            params.search_branching = cp_model.FIXED_SEARCH
            params.cp_model_presolve = False  # presolve may change which solution a depth-first search meets first
            params.stop_after_first_solution = True
        with watching(self.options.cancel, solver.stop_search):
            status = solver.solve(model.model)
        self.solves += 1
        self.spent += solver.deterministic_time
        self.left -= solver.deterministic_time
        if status == cp_model.INFEASIBLE:
            return None
        if status == cp_model.OPTIMAL or (order is not None and status == cp_model.FEASIBLE):
            return list(solver.response_proto.solution)
        if status == cp_model.FEASIBLE:
            self.keep(list(solver.response_proto.solution))
        if status == cp_model.MODEL_INVALID:
            raise RuntimeError(f"CP-SAT refused the model: {model.model.validate()}")
        raise Stopped("the work limit was reached" if self.left <= 0 or self.options.cancel is None
                       or not self.options.cancel.is_set() else "cancelled")

    def hint(self, model: Proto) -> list[int] | None:
        """The last table (which keeps every level so far) as a value for each of `model`'s variables, from a solve
        with its amounts fixed: a whole hint, so that an optimisation starts from a solution."""
        if self.table is None or not self.options.tuning.hint:
            return None
        table = self.table
        return self._with(model, {pair: table[xi] for pair, xi in self.x.items()})

    def _with(self, model: Proto, amounts: dict[tuple[str, str], int]) -> list[int] | None:
        """`model`'s values with every pair's amount fixed (0 where `amounts` has none), where the model accepts them:
        a solve that only completes the other variables."""
        fixed = model.copy()
        for pair, xi in self.x.items():
            amount = amounts.get(pair, 0)
            fixed.linear({xi: 1}, amount, amount)
            fixed.linear({self.y[pair]: 1}, int(amount > 0), int(amount > 0))
        return self.solve(fixed, {})

    def _reach(self, model: Proto, member: Member, lo: int) -> int | bool:
        """A literal that, when true, makes `member` move at least `lo` units (True/False where it is decided)."""
        if lo <= 0:
            return True
        if lo > member.wish or not member.moved:
            return False
        lit = model.var(0, 1)
        model.linear(member.moved, lo + member.outside, INF, (lit,))
        return lit

    def _at_least(self, model: Proto, count: int, lows: list[int]) -> None:
        """At least `count` members move at least their `lows` (member by member)."""
        lits = [self._reach(model, p, lo) for p, lo in zip(self.members, lows, strict=True)]
        sure = sum(1 for lit in lits if lit is True)
        free = {lit: 1 for lit in lits if lit is not True and lit is not False}
        model.linear(free, count - sure, INF)

    def keep(self, values: list[int]) -> list[int]:
        self.table = values
        vector = self._vector(values)
        if self.best is None or vector > self._best_vector:
            self.best, self._best_vector = values, vector
        return values

    def _vector(self, values: list[int]) -> list[Fraction]:
        return sorted(self._ratio(values, p) for p in self.members)

    def _moved(self, values: list[int], p: Member) -> int:
        return sum(c * values[k] for k, c in p.moved.items()) - p.outside

    def _spend(self, work: float) -> None:
        self.spent += work
        self.left -= work

    def _ratio(self, values: list[int], p: Member) -> Fraction:
        return Fraction(sum(c * values[k] for k, c in p.moved.items()) - p.outside, p.wish)

    def flows(self, values: list[int]) -> dict[tuple[str, str], int]:
        return {pair: values[xi] for pair, xi in self.x.items() if values[xi] > 0}

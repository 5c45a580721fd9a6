"""The default order of FAIRNESS.md (version 2) for one market, decided exactly with CP-SAT.

Level 1 is the leximin of fulfilment ratios over the packed table itself, found level by level in the
manner of Bouveret & Lemaître's "atleast" method: the k-th smallest ratio is raised while the smaller
ones are kept as counts ("at least c participants reach v"), so the sorted vector is fixed and never who
holds which value. Ratios stay integral: a participant reaches v = p/q when moved·q ≥ p·wish, that is
moved ≥ ⌈v·wish⌉. Then volume, simplicity (cross-county transfers, then transfers), the population term
and the matrix tie-break, each optimised with every earlier level kept at its optimum (later.py).

Under the one-receiver rule the search starts from start.py's table (a local search over assignments), takes
the relaxation's vector as a bound that a table meeting it proves at once, and asks "can every member reach
v?" of the packing search (packing.py) before CP-SAT, since that check is a packing of givers into rooms. So is
the next question while only the first level is fixed: with every member at it, can at least c members exceed it,
or reach a higher value (the packing with a count: each group's best is known in closed form)?

Every solve has a deterministic work limit taken from the market's budget, never the wall clock: a
level that is not proven within the budget is reported as such, with the best table found so far.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property, partial

from ortools.sat.python import cp_model

from solver.redistribute import later, start
from solver.redistribute.backend import SolutionStatus, SolveOptions, Termination, watching
from solver.redistribute.cpproto import INF, NINF, Expr, Proto
from solver.redistribute.packing import Exhausted, search
from solver.redistribute.targets import Market, Setup

LEVELS = ("leximin", "volume", "cross_county", "transfers", "population", "tie_break")


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


@dataclass
class Outcome:
    """A market's table (amount per pair) and what was proven about it."""

    flows: dict[tuple[str, str], int] | None
    levels: list[Level]
    stage_values: dict[str, str] = field(default_factory=dict)
    stage_status: dict[str, str] = field(default_factory=dict)
    termination: Termination = Termination.OPTIMAL
    solution: SolutionStatus = SolutionStatus.OPTIMAL
    solves: int = 0
    spent: float = 0.0
    message: str = ""


class _Stopped(Exception):
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


class Core:
    """One market's model and the levels decided on it so far."""

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

    # --- solving ---------------------------------------------------------------------------------------

    def solve(self, model: Proto, objective: Expr | None = None, order: list[int] | None = None,
               hint: list[int] | None = None) -> list[int] | None:
        """Minimise `objective` (or find the first solution of a depth-first search over `order`, largest values
        first): the solution, None where there is none (proven). Raises _Stopped where the work ran out."""
        if self.options.cancel is not None and self.options.cancel.is_set():
            raise _Stopped("cancelled")  # seen here, not only by the watcher's poll: no solve starts after a cancel
        if self.left <= 0:
            raise _Stopped("the work limit was reached")
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
            strategy = proto.search_strategy.add()
            for var in order:
                e = strategy.exprs.add()
                e.vars.append(var)
                e.coeffs.append(1)
            strategy.variable_selection_strategy = cp_model.CHOOSE_FIRST
            strategy.domain_reduction_strategy = cp_model.SELECT_MAX_VALUE
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
        raise _Stopped("the work limit was reached" if self.left <= 0 or self.options.cancel is None
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
        if self.best is None or self._vector(values) > self._vector(self.best):
            self.best = values
        return values

    def _vector(self, values: list[int]) -> list[Fraction]:
        return sorted(self._ratio(values, p) for p in self.members)

    # --- level 1: leximin of fulfilment ratios ----------------------------------------------------------

    def leximin(self) -> None:
        table = self._start()
        if table is None:
            table = self.solve(self.m, {})
        if table is None:
            raise _Infeasible
        self.keep(table)
        # while the levels found agree with the relaxation's vector, its next value bounds the next level, and its
        # count above a value bounds how many can exceed it (start.py): a table that meets a bound proves a level
        offers, rooms, _ = self._wishes
        relaxed = start.relaxed(list(offers.values()), list(rooms.values()))
        agree = True
        n = len(self.members)
        need, floor = n, Fraction(0)
        while need > 0:
            cap = relaxed[n - need] if agree else Fraction(1)
            value, table = self._highest(need, floor, table, cap)
            self._at_least(self.m, need, [math.ceil(value * p.wish) for p in self.members])
            self.levels.append(Level(value, need))
            self.keep(table)
            if value == 1:
                break
            agree = agree and value == cap
            most = sum(1 for v in relaxed if v > value) if agree else None
            need, table = self._above(value, table, most)
            agree = agree and need == most
            floor = value


    def _packs(self) -> bool:
        """Whether a table is an assignment of givers with amounts of at least one unit (start.py's view)."""
        return self.setup.policy.one_receiver and self.setup.policy.min_transfer <= 1

    @cached_property
    def _wishes(self) -> tuple[dict[str, int], dict[str, int], dict[str, list[str]]]:
        """The member givers' offers, the member receivers' rooms and each giver's allowed receivers."""
        givers = {g.code for g in self.market.givers}
        offers = {p.code: p.wish for p in self.members if p.code in givers}
        rooms = {p.code: p.wish for p in self.members if p.code not in givers}
        allowed: dict[str, list[str]] = defaultdict(list)
        for g, r in sorted(self.x):
            if g in offers and r in rooms:
                allowed[g].append(r)
        return offers, rooms, allowed

    def _start(self) -> list[int] | None:
        """The local search's table (start.assign) as the model's values; None where the rules it does not know of
        (the rule off, a smallest transfer above one unit) leave it out."""
        return self._fixed(start.assign(*self._wishes)) if self._packs() else None

    def _fixed(self, table: dict[tuple[str, str], int]) -> list[int] | None:
        """A table of the members' pairs as the model's values (binding agreements added), where the model
        accepts it."""
        policy = self.setup.policy
        table = dict(table)
        for g in self.market.givers:
            if policy.binding_agreements and g.partner is not None and g.effective > 0:
                table[g.code, g.partner] = g.effective
        return self._with(self.m, table)

    def _pack(self, value: Fraction, reach: tuple[Callable[[int], int], int] | None = None
              ) -> list[int] | None | _Undecided:
        """"Can every member reach `value`?" by the packing search, and with `reach` = (amount, need), "… while at
        least `need` members move at least `amount(wish)`?": a table, None where none can, or _Undecided where the
        search stopped at its limit of nodes."""
        offers, rooms, allowed = self._wishes
        packing, kinds = start.threshold(value, offers, rooms, allowed)
        second = None if reach is None else start.counted(value, offers, rooms, packing, kinds, *reach)
        per_node = self.options.tuning.packing_node_work  # the search's nodes are work too, counted, never timed
        try:
            counts, used = search(packing, min(self.options.tuning.packing_nodes, int(self.left / per_node)), second)
        except Exhausted as stopped:
            self._spend(stopped.nodes * per_node)
            return _Undecided()
        self._spend(used * per_node)
        if counts is None:
            return None
        table = self._fixed(start.assign(offers, rooms, allowed, start.placed(counts, kinds)))
        # the packing holds every rule of the model at this level; a table the model refused would mean a rule the
        # packing does not know, and must not be read as "no table reaches v". The local search from the packing's
        # placing only improves on the packing's own amounts, so its table answers the question too (looked at,
        # not assumed)
        if table is None or (reach is not None and sum(
                1 for p in self.members if self._moved(table, p) >= reach[0](p.wish)) < reach[1]):
            return _Undecided()
        return table

    def _moved(self, values: list[int], p: Member) -> int:
        return sum(c * values[k] for k, c in p.moved.items()) - p.outside

    def _spend(self, work: float) -> None:
        self.spent += work
        self.left -= work

    def _highest(self, need: int, floor: Fraction, table: list[int], cap: Fraction) -> tuple[Fraction, list[int]]:
        """The highest ratio that `need` members reach together, at most `cap`, with a table that shows it. A binary
        search over the exact candidates k/wish, from what `table` (which keeps every level so far) already reaches;
        the candidate just above it is tried first, since the table of the step before is often the answer."""
        candidates = sorted({Fraction(a, p.wish) for p in self.members for a in range(p.wish + 1)
                             if floor <= Fraction(a, p.wish) <= cap} | {cap})
        reached = self._reached(table, need)
        assert reached <= cap, f"a table reaches {reached} where the relaxation's bound is {cap}"
        lo = candidates.index(reached)
        hi = len(candidates) - 1
        probe = lo + 1
        while lo < hi:
            # every member at once is a packing (start.threshold), and so is a count of them above the first level
            # while every member keeps it: the search decides most such checks at once
            found: list[int] | None | _Undecided = _Undecided()
            if self._packs() and need == len(self.members):
                found = self._pack(candidates[probe])
            elif self._packs() and len(self.levels) == 1:
                found = self._pack(self.levels[0].value, (partial(_units, candidates[probe]), need))
            if isinstance(found, _Undecided):
                check = self.m.copy()
                self._at_least(check, need, [math.ceil(candidates[probe] * p.wish) for p in self.members])
                found = self.solve(check, {})
            if found is None:
                hi = probe - 1
            else:
                table = self.keep(found)
                lo = candidates.index(self._reached(table, need))
            probe = (lo + hi + 1) // 2
        return candidates[lo], table

    def _reached(self, values: list[int], need: int) -> Fraction:
        """The ratio that the `need` best-served members of a table reach together."""
        ratios = sorted(self._ratio(values, p) for p in self.members)
        return ratios[len(ratios) - need]

    def _above(self, value: Fraction, table: list[int], most: int | None) -> tuple[int, list[int]]:
        """The most members that can exceed `value` with every level so far kept, and a table that shows it
        (`most`, where known, bounds it: a table that reaches it needs no solve)."""
        count = sum(1 for p in self.members if self._ratio(table, p) > value)
        if most is not None and count == most:
            return most, table
        if self._packs() and len(self.levels) == 1:
            # above the first level with every member at it: a packing with a count (_pack), asked for one more
            # than the best table so far reaches until none can
            while count < (most if most is not None else len(self.members)):
                found = self._pack(value, (lambda wish: math.floor(value * wish) + 1, count + 1))
                if isinstance(found, _Undecided):
                    break
                if found is None:
                    return count, table
                table = self.keep(found)
                count = sum(1 for p in self.members if self._ratio(table, p) > value)
            else:
                return count, table
        trial = self.m.copy()
        lits = [self._reach(trial, p, math.floor(value * p.wish) + 1) for p in self.members]
        free = {lit: 1 for lit in lits if lit is not True and lit is not False}
        if not free:
            return 0, table
        values = self.solve(trial, {lit: -1 for lit in free}, hint=self.hint(trial))
        assert values is not None, "the levels so far have a table"
        return sum(values[lit] for lit in free), self.keep(values)

    def _ratio(self, values: list[int], p: Member) -> Fraction:
        return Fraction(sum(c * values[k] for k, c in p.moved.items()) - p.outside, p.wish)

    def flows(self, values: list[int]) -> dict[tuple[str, str], int]:
        return {pair: values[xi] for pair, xi in self.x.items() if values[xi] > 0}


def _units(value: Fraction, wish: int) -> int:
    """The least units that reach the ratio `value` of a wish."""
    return math.ceil(value * wish)


class _Undecided:
    """A check the packing search left open."""


class _Infeasible(Exception):
    """No table keeps the hard rules."""


def solve(setup: Setup, market: Market, options: SolveOptions) -> Outcome:
    """The market's table under the default order, with the levels proven."""
    core = Core(setup, market, options)
    out = Outcome(None, core.levels)
    if not core.feasible:
        out.termination, out.solution = Termination.INFEASIBLE, SolutionStatus.NONE
        out.message = "a binding agreement names a partner that cannot take the transfer"
        return out
    try:
        core.leximin()
        out.stage_values["leximin"] = describe(sorted_vector(core.levels, len(core.members)))
        out.stage_status["leximin"] = "optimal"
        later.decide(core, out)
    except _Infeasible:
        out.termination, out.solution = Termination.INFEASIBLE, SolutionStatus.NONE
        out.message = "no table keeps the hard rules"
    except _Stopped as stop:
        out.termination = Termination.TIME_LIMIT
        out.solution = SolutionStatus.FEASIBLE if core.table is not None else SolutionStatus.NONE
        out.message = f"{stop}; levels proven: {', '.join(k for k in LEVELS if k in out.stage_status) or 'none'}"
    table = core.table if "leximin" in out.stage_status else core.best
    if table is not None and out.solution is not SolutionStatus.NONE:
        out.flows = core.flows(table)
    out.solves, out.spent = core.solves, core.spent
    return out

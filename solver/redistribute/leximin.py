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

from solver.redistribute import later, start
from solver.redistribute.backend import SolutionStatus, SolveOptions, Termination
from solver.redistribute.coremodel import Level, Model, Stopped, describe, sorted_vector
from solver.redistribute.packing import Exhausted, search
from solver.redistribute.targets import Market, Setup

LEVELS = ("leximin", "volume", "cross_county", "transfers", "population", "tie_break")


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


class Core(Model):
    """One market's model (coremodel.py) and level 1 decided on it: the leximin of fulfilment ratios."""

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
    except Stopped as stop:
        out.termination = Termination.TIME_LIMIT
        out.solution = SolutionStatus.FEASIBLE if core.table is not None else SolutionStatus.NONE
        out.message = f"{stop}; levels proven: {', '.join(k for k in LEVELS if k in out.stage_status) or 'none'}"
    table = core.table if "leximin" in out.stage_status else core.best
    if table is not None and out.solution is not SolutionStatus.NONE:
        out.flows = core.flows(table)
    out.solves, out.spent = core.solves, core.spent
    return out

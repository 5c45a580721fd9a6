"""OR-Tools CP-SAT backend: translates a MarketProblem, optimises one stage at a time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial

import ortools
from ortools.sat.python import cp_model

from solver.redistribute.backend import Signal, SolutionStatus, SolveOptions, StageResult, Termination, watching
from solver.redistribute.cpproto import depth_first
from solver.redistribute.memo import remembered
from solver.redistribute.problem import Constraint, Expr, MarketProblem


class _Model(cp_model.CpModel):
    """A CpModel without the deprecated camelCase aliases CpModel sets up on every instance (0.2 ms per model:
    a second of the 29,000-unit benchmark, whose 1,638 markets build thousands of models and clones)."""

    def _add_pre_pep8_methods(self) -> None:
        pass

    def clone(self) -> _Model:
        clone = _Model()
        clone.proto.copy_from(self.proto)
        clone.rebuild_constant_map()
        return clone


def _add(model: cp_model.CpModel, constraint: Constraint) -> None:
    """The constraint written on the proto as CpModel.add_linear_constraint writes it, without the Python objects
    of its variables and expression (0.3 ms for a stage's bound on the national aggregate model)."""
    linear = model.proto.constraints.add().linear
    keys = sorted(constraint.expr)  # in index order, as the expression's canonical form has them
    linear.vars.extend(keys)
    linear.coeffs.extend([constraint.expr[k] for k in keys])
    linear.domain.extend([cp_model.INT_MIN if constraint.lo is None else constraint.lo,
                          cp_model.INT_MAX if constraint.hi is None else constraint.hi])


def _translate(problem: MarketProblem) -> _Model:
    """The problem's variables (in order, so proto index = variable index) and constraints as a CP-SAT model,
    written on its proto (as CpModel.new_int_var writes a variable: an empty domain where lb > ub)."""
    model = _Model()
    for v in problem.variables:
        var = model.proto.variables.add()
        var.name = v.name
        var.domain.extend([v.lb, v.ub] if v.lb <= v.ub else [])
    for c in problem.constraints:
        _add(model, c)
    return model


def _objective(model: _Model, expr: Expr, sense: str) -> None:
    """Minimise or maximise `expr` (variable index -> coefficient), written on the proto as CpModel.minimize and
    maximize write an integer objective, without building the expression's Python objects."""
    model.clear_objective()
    objective = model.proto.objective
    keys = list(expr)
    objective.vars.extend(keys)
    if sense == "max":
        objective.coeffs.extend([-expr[k] for k in keys])
        objective.scaling_factor = -1.0
    else:
        objective.coeffs.extend([expr[k] for k in keys])
        objective.scaling_factor = 1.0


def _content_key(problem: MarketProblem) -> tuple:
    """The problem's variables and constraints as a key, made once per model (its copies share it): CP-SAT models
    are remembered by content (objectives and hints are set per solve), so what-ifs that vary only the weights
    pay for the translation once."""
    key = problem.derived.get("content")
    if key is None:
        key = problem.derived["content"] = (tuple((v.name, v.lb, v.ub) for v in problem.variables),
                                            tuple((tuple(c.expr.items()), c.lo, c.hi) for c in problem.constraints))
    return key


def _in_order(order: list[int]) -> _Model:
    """A model that holds only the decision strategy that fixes the variables in `order`, each at its largest
    value first (what CpModel.add_decision_strategy writes, variable by variable). The model is kept, not the
    strategy: a part of a proto lives only as long as its model."""
    holder = _Model()
    depth_first(holder.proto, order)
    return holder


def _guide(model: _Model, bound: Constraint) -> None:
    """`bound`'s expression as the model's objective, toward its bound, and the bound as the objective's domain.

    Where every solution has to reach the bound, this loses none, and the depth-first search's first solution
    is the same: it stops there (`stop_after_first_solution`). But its LP now optimises the expression, and
    with the domain CP-SAT fixes at each node whatever its reduced costs show cannot reach the bound (without
    the domain, it does not take the bound from the constraint). On the national sample the tie-break's two
    searches took 0.0129 and 0.0070 deterministic seconds against 0.0408 and 0.0101 (0.028 s against 0.034 s
    for the quicker one), over the 27 searches of 25 proven national wish sets 0.98 and 1.02 against 1.42 and 1.05
    (each searched alone)."""
    if bound.hi is not None:
        _objective(model, bound.expr, "min")
        model.proto.objective.domain.extend([cp_model.INT_MIN, bound.hi])
    else:
        assert bound.lo is not None, "a guide is a bound"
        _objective(model, bound.expr, "max")  # minimises the negated expression
        model.proto.objective.domain.extend([cp_model.INT_MIN, -bound.lo])


# the tie-break's strategies are remembered by their order: a strategy is written a variable at a time (1.2 to
# 1.7 ms for the national sample's 382), and a proposal's order is the same as the last one's wherever its types are


@dataclass
class _Run:
    """One depth-first search of the tie-break: its status, its first solution, its work and wall time, and
    whether the other search stopped it."""

    status: int
    values: list[int] | None
    spent: float
    wall: float
    stopped: bool

    @property
    def decided(self) -> bool:
        return self.values is not None or (self.status == cp_model.INFEASIBLE and not self.stopped)


def _first_open(model: _Model, order: list[int]) -> tuple[int, int] | None:
    """The first variable in `order` whose domain in the model has more than one value, and its largest."""
    for var in order:
        domain = list(model.proto.variables[var].domain)
        if domain[0] < domain[-1]:
            return var, domain[-1]
    return None


class Session:
    name = "cpsat"
    version = ortools.__version__  # type: ignore[attr-defined]

    def __init__(self, problem: MarketProblem, options: SolveOptions):
        self.options = options
        if len(problem.variables) < options.tuning.remembered_from:
            self.model = _translate(problem)
        else:
            model: _Model = remembered(options.models, "translated", _content_key(problem), lambda: _translate(problem))
            self.model = model.clone()
        self.size = len(problem.variables)
        # hints name decisions only: hinting the bounds of absolute values (domains of 10⁸ and more) can send
        # CP-SAT's hint search through such a domain value by value, seconds on a model of a few variables
        self.hinted = [i for i, v in enumerate(problem.variables) if v.decision]
        self.last: list[int | None] | None = None

    def add(self, constraint: Constraint, model: cp_model.CpModel | None = None) -> None:
        _add(model or self.model, constraint)

    def optimize(self, expr: Expr, sense: str, time_limit_s: float,
                 extra: list[Constraint] | None = None, from_bound: bool = False,
                 presolve: bool | None = None, probing: bool = True) -> StageResult:
        """Optimise `expr` within the work limit. `from_bound` searches from the objective's bound outwards
        (CP-SAT's objective lower-bound search): quick where the relaxation's bound is the optimum, and
        slow where it is weak. `presolve` overrides the session's setting for this solve; without `probing`,
        CP-SAT does not probe its variables before the search."""
        model = self.model
        if extra:
            # temporary constraints go on a copy; variables keep their indices in a clone
            model = self.model.clone()
            for c in extra:
                self.add(c, model)
        _objective(model, expr, sense)
        model.clear_hints()
        if self.last is not None:
            last = self.last
            hinted = [i for i in self.hinted if last[i] is not None]  # a hint may name only some variables
            model.proto.solution_hint.vars.extend(hinted)
            model.proto.solution_hint.values.extend([last[i] for i in hinted])
        solver = self._solver(time_limit_s)
        solver.parameters.num_workers = self.options.num_workers
        solver.parameters.random_seed = self.options.seed
        solver.parameters.cp_model_presolve = self.options.presolve if presolve is None else presolve
        solver.parameters.use_objective_lb_search = from_bound
        if not probing:
            solver.parameters.cp_model_probing_level = 0
        if self.options.linearization_level is not None:
            solver.parameters.linearization_level = self.options.linearization_level
        started = time.perf_counter()
        with watching(self.options.cancel, solver.stop_search):
            status = solver.solve(model)
        elapsed = time.perf_counter() - started
        result = self._result(solver, status, elapsed, model)
        result.spent = solver.deterministic_time
        return result

    def _solver(self, time_limit_s: float) -> cp_model.CpSolver:
        """A solver with this session's limit: deterministic work only, so a time-limited answer is the same on any
        machine and under any load (no wall clock decides a table; a caller that must stop sooner cancels)."""
        solver = cp_model.CpSolver()
        solver.parameters.max_deterministic_time = max(0.001, time_limit_s)
        return solver

    def first_in_order(self, order: list[int], time_limit_s: float,
                       extra: list[Constraint] | None = None, guide: Constraint | None = None) -> StageResult:
        """The lexicographically greatest solution over the variables in `order` (each as large as the
        earlier ones allow): the first solution of a depth-first search that fixes them in this order,
        largest value first. The search is complete, so the answer is exact when one is found.

        `guide`, one of the `extra` bounds (a stage's bound that every solution reaches: _by_bounds), is also
        stated as the search's objective, its bound as the objective's domain (_guide): no solution is lost,
        so the first is the same, but the LP then prunes by reduced costs what cannot reach the bound.

        On a model of `tie_split_from` variables or more, two such searches run side by side, each within the
        work limit (`tie_split`): this one, and the same
        split on the first undecided variable, first at its largest value and then, where that has no
        solution, below it with the work left. Both are exact, so they find the same answer: the first to find
        it gives it, and the other stops. Which one that is depends on the clock, so what the driver's Budget
        is charged must not: a table found counts for the whole limit (nothing else of the market runs after
        it, and the Budget's slack then holds whichever search found it); that there is none is this search's
        own proof, with its own work (the split one's proof only where this one stops at the limit).

        Halving each domain instead (upper half first) is exact too and twice as quick on the national sample
        (0.07 against 0.15 deterministic seconds), but it took twice the work over 16 variants of it (7.3
        against 3.8, one of them 4.2 against 1.5), so the largest value first stays."""
        model = self.model.clone()
        for c in extra or ():
            self.add(c, model)
        model.clear_objective()
        if guide is not None:
            _guide(model, guide)
        model.clear_hints()
        holder: _Model = remembered(self.options.models, "strategies", tuple(order), partial(_in_order, order))
        model.proto.search_strategy.add().copy_from(holder.proto.search_strategy[0])
        tuning = self.options.tuning
        opened = _first_open(model, order) if tuning.tie_split and self.size >= tuning.tie_split_from else None
        if opened is None:
            return self._first(self._depth_first(model, time_limit_s, None), model)
        split, top = opened
        stop = Signal()
        runs: list[_Run | BaseException] = []

        def beside() -> None:
            try:
                runs.append(self._split(model, split, top, time_limit_s, stop))
            except BaseException as failed:  # the search on the caller's thread stops, and raises it
                runs.append(failed)
                stop.set()
                return
            if runs[0].values is not None:  # type: ignore[union-attr]
                stop.set()

        split_side = threading.Thread(target=beside, name="cpsat-split", daemon=True)
        split_side.start()
        try:
            plain = self._depth_first(model, time_limit_s, stop)
        except BaseException:
            stop.set()  # the search beside it ends too before this one's error goes on
            split_side.join()
            raise
        if plain.decided:
            stop.set()
        split_side.join()
        other = runs[0]
        if isinstance(other, BaseException):
            raise other
        found = plain if plain.values is not None else other if other.values is not None else None
        if found is not None:
            found.spent = time_limit_s
            return self._first(found, model)
        if plain.decided:  # no table: this search's own proof (the split one, if it ran, was stopped)
            return self._first(plain, model)
        # this search ran to its limit; the split one proved that there is no table, or ran to its limit too
        last = other if other.decided else plain
        last.spent, last.wall = max(plain.spent, other.spent), max(plain.wall, other.wall)
        return self._first(last, model)

    def _split(self, model: _Model, var: int, top: int, time_limit_s: float, stop: threading.Event) -> _Run:
        """The search with `var` at `top`, then, where that has no solution, below it with the work left."""
        at_top = model.clone()
        self.add(Constraint("tie", "the first undecided variable at its largest", {var: 1}, top, top), at_top)
        run = self._depth_first(at_top, time_limit_s, stop)
        if run.status != cp_model.INFEASIBLE or run.stopped:
            return run
        below = model.clone()
        self.add(Constraint("tie", "the first undecided variable below its largest", {var: 1}, None, top - 1), below)
        rest = self._depth_first(below, time_limit_s - run.spent, stop)
        rest.spent += run.spent
        rest.wall += run.wall
        return rest

    def _depth_first(self, model: _Model, time_limit_s: float, stop: threading.Event | None) -> _Run:
        solver = self._solver(time_limit_s)
        solver.parameters.search_branching = cp_model.FIXED_SEARCH
        solver.parameters.num_workers = 1
        # no presolve: with it (even keeping every feasible solution, without substitutions) the first solution
        # was not always the greatest in order (tests/test_propose.py::test_ties_go_to_the_table_first_in_code_order)
        solver.parameters.cp_model_presolve = False
        solver.parameters.linearization_level = 2  # a stronger relaxation prunes the search: 0.4 s, not 0.75 s
        # no probing: over the national sample and 16 variants of it the search took 2.1 deterministic seconds
        # with it off against 3.8 (the slowest 0.7 against 1.5); over 12 other variants 13.4 against 14.2
        solver.parameters.cp_model_probing_level = 0
        solver.parameters.add_mir_cuts = self.options.tuning.tie_mir_cuts
        solver.parameters.max_consecutive_inactive_count = self.options.tuning.tie_inactive
        solver.parameters.stop_after_first_solution = True  # the first is the answer (with a guide, not the end)
        started = time.perf_counter()
        if stop is not None and stop.is_set():
            return _Run(int(cp_model.UNKNOWN), None, 0.0, 0.0, True)
        with watching(self.options.cancel, solver.stop_search), watching(stop, solver.stop_search):
            status = solver.solve(model)
        finished = time.perf_counter()
        values = list(solver.response_proto.solution)[:self.size] if status in (cp_model.OPTIMAL,
                                                                                cp_model.FEASIBLE) else None
        stopped = stop is not None and stop.is_set() and status == cp_model.UNKNOWN
        return _Run(int(status), values, solver.deterministic_time, finished - started, stopped)

    def _first(self, run: _Run, model: _Model) -> StageResult:
        if run.values is not None:  # the first solution is the answer: proven by the rule, not by a bound
            self.last = list(run.values)
            result = StageResult(Termination.OPTIMAL, SolutionStatus.OPTIMAL, run.values, 0, None, run.wall)
        elif run.status == cp_model.INFEASIBLE:
            result = StageResult(Termination.INFEASIBLE, SolutionStatus.NONE, None, None, None, run.wall)
        elif run.status == cp_model.UNKNOWN:
            result = StageResult(Termination.TIME_LIMIT, SolutionStatus.NONE, None, None, None, run.wall,
                                 "no solution found within the time limit")
        else:
            result = StageResult(Termination.ERROR, SolutionStatus.NONE, None, None, None, run.wall,
                                 f"CP-SAT status {run.status}: {model.validate()}")
        result.spent = run.spent
        return result

    def _result(self, solver: cp_model.CpSolver, status, elapsed: float, model: cp_model.CpModel) -> StageResult:
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            values = list(solver.response_proto.solution)[:self.size]
            self.last = values
            optimal = status == cp_model.OPTIMAL
            return StageResult(
                Termination.OPTIMAL if optimal else Termination.TIME_LIMIT,
                SolutionStatus.OPTIMAL if optimal else SolutionStatus.FEASIBLE,
                values, round(solver.objective_value), solver.best_objective_bound, elapsed,
            )
        if status == cp_model.INFEASIBLE:
            return StageResult(Termination.INFEASIBLE, SolutionStatus.NONE, None, None, None, elapsed)
        if status == cp_model.UNKNOWN:
            # stopped before it found a table, a search still reports the bound it proved; but where it stopped
            # before it set up the objective (in presolve), its response holds 0, so 0 counts as no bound (where
            # it set it up but proved nothing, the bound is ±2⁶² scaled, which no caller takes for one). This
            # reads what the bound callback reported without one: a Python callback waits for the GIL each time
            # the bound moves, up to 5 ms where another thread runs Python (the first look of _by_bounds, beside
            # the deviation checks: 0.017 s with it, 0.011 s without)
            bound = solver.best_objective_bound or None
            return StageResult(Termination.TIME_LIMIT, SolutionStatus.NONE, None, None, bound, elapsed,
                               "no solution found within the time limit")
        return StageResult(Termination.ERROR, SolutionStatus.NONE, None, None, None, elapsed,
                           f"CP-SAT status {solver.status_name(status)}: {model.validate()}")

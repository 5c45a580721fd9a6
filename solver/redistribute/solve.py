"""The lexicographic driver: runs a market's objective stages on any backend, fixing each optimum.

Stage values are recomputed exactly from the integer solution before they are fixed, so a backend that
works in floating point cannot carry a rounding error into the next stage.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from solver.domain import ObjectiveMode
from solver.redistribute import aggregate, improve, leximin, packing
from solver.redistribute.backend import (
    Cancelled,
    Signal,
    SolutionStatus,
    SolveOptions,
    StageResult,
    Termination,
    open_session,
)
from solver.redistribute.construct import bound, construct_flows, flows_from_counts, giver_types
from solver.redistribute.memo import Models, remembered
from solver.redistribute.problem import (
    Constraint,
    MarketProblem,
    Stage,
    add_expr,
    amounts,
    build_problem,
    deviation_cuts,
    evaluate,
    settle,
    simplicity_scale,
    type_count_problem,
    values_for,
    volume_simplicity,
)
from solver.redistribute.targets import Market, Setup
from solver.redistribute.tuning import Tuning

log = logging.getLogger(__name__)
TIE_ORDER = "tie_order"  # the aggregate model's tie-break: the table first in code order (aggregate.py)
_WORST = [Termination.OPTIMAL, Termination.TIME_LIMIT, Termination.INFEASIBLE, Termination.ERROR]
_SOLUTION_WORST = [SolutionStatus.OPTIMAL, SolutionStatus.FEASIBLE, SolutionStatus.NONE]


class Budget:
    """The work a market may still spend (CP-SAT counts deterministic seconds, so limits reproduce): solves take
    their limits from it (`limit`) and are charged to it (`charge`, or `spend` for work without a limit of its
    own).

    Work that runs ahead of a check starts with what was left before the check, and `settle` takes what the
    check spent once it is known: from then on every limit is the one the work would take after the check.
    For the limits taken before, it notes `slack`: had it started with s ≤ slack less, each would have been
    the same (left − cap·part ≥ s: the cap), or its solve ended on its own before the lower limit (left −
    part·work > s). A limit taken for more than one solve (`shared`) must be the same. Where the slack is
    below what the check spent, the next limit or charge raises Dropped."""

    def __init__(self, left: float):
        self.left = left
        self.spent = 0.0
        self.slack = math.inf
        self._taken: tuple[float, float, float] | None = None  # (left, part, same) of a limit not charged yet
        self._settled: float | None = None
        self._lock = threading.Lock()  # `settle` comes from another thread

    def limit(self, cap: float = math.inf, part: float = 1, shared: bool = False) -> float:
        """A limit: a `part` of what is left, at most `cap`."""
        self._keep()
        with self._lock:
            if self._settled is None:
                same = self.left - cap * part  # the most less work that gives the same limit (−∞ without a cap)
                if shared:
                    self.slack = min(self.slack, same)
                else:
                    self._taken = (self.left, part, same)
            return max(0.001, min(cap, self.left / part))

    def charge(self, res: StageResult) -> None:
        """Charge the solve that took the last limit."""
        with self._lock:
            if self._taken is not None:
                left, part, same = self._taken
                ended = res.termination in (Termination.OPTIMAL, Termination.INFEASIBLE)
                self.slack = min(self.slack, max(same, left - part * res.spent - 1e-9) if ended else same)
                self._taken = None
            self.left -= res.spent
            self.spent += res.spent
        self._keep()

    def spend(self, work: float) -> None:
        with self._lock:
            self.left -= work
            self.spent += work

    def settle(self, checked: float) -> bool:
        """Take what the check spent. False where the work cannot be taken, or may long not be: a limit it took
        was not the same, or it is in a solve whose limit had no cap."""
        with self._lock:
            self._settled = checked
            self.left -= checked
            return not self._hopeless() and not (self._taken is not None and self._taken[2] == -math.inf)

    def _hopeless(self) -> bool:
        return self._settled is not None and self.slack < self._settled

    def _keep(self) -> None:
        if self._hopeless():
            raise Dropped("the work that ran ahead took a limit that depends on the work the check spent")


@dataclass
class MarketResult:
    market: Market
    problem: MarketProblem
    termination: Termination
    solution: SolutionStatus
    values: list[int] | None
    stage_values: dict[str, str] = field(default_factory=dict)
    stage_status: dict[str, str] = field(default_factory=dict)  # stage -> "optimal" (proven) or "feasible"
    gap: float = 0.0
    bound: float | None = None
    solves: int = 0
    wall_time_s: float = 0.0
    message: str = ""

    def moved(self, code: str) -> int:
        assert self.values is not None
        return evaluate(self.problem.moved[code], self.values)

    def flows(self) -> list[tuple[str, str, int]]:
        assert self.values is not None
        return sorted((g, r, amount) for (g, r), amount in amounts(self.problem, self.values).items() if amount > 0)


def worst_termination(items: list[Termination]) -> Termination:
    return max(items, key=_WORST.index, default=Termination.OPTIMAL)


def worst_solution(items: list[SolutionStatus]) -> SolutionStatus:
    return max(items, key=_SOLUTION_WORST.index, default=SolutionStatus.OPTIMAL)


def solve_market(setup: Setup, market: Market, backend: str, options: SolveOptions) -> MarketResult:
    if setup.policy.objective is ObjectiveMode.LEXIMIN:
        return _exact(setup, market, options)
    started = time.perf_counter()
    prob = build_problem(setup, market, options.models)
    session = _LazySession(backend, prob, options)
    result = MarketResult(market, prob, Termination.OPTIMAL, SolutionStatus.OPTIMAL, None)
    budget = Budget(options.time_limit_s)
    terminations: list[Termination] = []
    solutions: list[SolutionStatus] = []

    def run(stage: Stage, extra: list[Constraint] | None = None) -> StageResult:
        _stop_if_cancelled(options, f"stage {stage.name} of market {market.key}")
        res = session.optimize(stage.expr, stage.sense, budget.limit(), extra)
        budget.charge(res)
        result.solves += 1
        if res.values is not None:
            res.values = settle(setup, prob, res.values)
        log.debug("market %s stage %s: %s, objective %s, bound %s, %.3f s", market.key, stage.name,
                  res.termination.value, res.objective, res.bound, res.wall_time_s)
        if res.solution is not SolutionStatus.NONE and extra is None:
            terminations.append(res.termination)
            solutions.append(res.solution)
            if res.termination is not Termination.OPTIMAL and res.bound is not None and res.objective:
                result.gap = max(result.gap, abs(res.bound - res.objective) / max(1.0, abs(res.objective)))
                result.bound = res.bound
        return res

    def fix(stage: Stage, values: list[int], proven: bool) -> None:
        value = evaluate(stage.expr, values)
        result.stage_values[stage.name] = str(value)
        result.stage_status[stage.name] = "optimal" if proven else "feasible"
        session.add(stage.at_least(value))

    def stop(message: str) -> None:
        """Out of time with a sound table: keep it, and say what was not optimised."""
        terminations.append(Termination.TIME_LIMIT)
        solutions.append(SolutionStatus.FEASIBLE)
        result.message = message

    values: list[int] | None = None
    check = _type_check(setup, market, backend, options, budget)
    if check is None or prob.stages[0].name != "max_deviation":
        # the full model decides the first stage: start it from the construction, which is also the table
        # to keep if the weighted stage finds nothing better in time
        start = _construction(setup, prob, options.models)
        _hint(session, start)
        if prob.stages[0].name != "max_deviation" and _sound(setup, prob, start):
            values = start
    def aggregate_at(limit: int, start: list[int], work: Budget, cancel: _Either | None = None,
                     table: Callable[[], list[int]] | None = None) -> _Later:
        """The later stages on the aggregate model with `work`, recorded apart from the result (`cancel` stops
        them too). With `table`, they first try to decide from their bounds alone, from `start`; where the
        bounds do not decide, they run from `table()`, the table of the check that found `limit` to fit."""
        scratch = MarketResult(market, prob, Termination.OPTIMAL, SolutionStatus.OPTIMAL, None)
        run_options = options if cancel is None else replace(options, cancel=cancel)
        missed: list[tuple] = []  # bounds that the tie-break's search did not reach
        if table is not None:
            try:
                decided = _aggregate_stages(setup, prob, backend, run_options, work, limit, scratch, start,
                                            bounds_only=True, missed=missed)
                return _Later(decided, scratch, work.spent, work.slack)
            except Undecided:
                log.debug("the later stages at the largest deviation %s are not decided from their bounds alone, "
                          "from where nothing moves; they run from the check's table", limit)
                start = table()
        decided = _aggregate_stages(setup, prob, backend, run_options, work, limit, scratch, start, missed=missed)
        return _Later(decided, scratch, work.spent, work.slack)

    def on_aggregate(limit: int, start: list[int], later: _Later | None = None) -> list[int] | None:
        """The later stages on the aggregate model (or what they gave where they ran ahead); None when the full
        model must decide them."""
        later = later or aggregate_at(limit, start, Budget(budget.left))
        budget.spend(later.spent)
        result.solves += later.record.solves
        if later.decided is None:
            return None
        result.stage_values.update(later.record.stage_values)
        result.stage_status.update(later.record.stage_status)
        table, message = later.decided
        if message:
            stop(message)
        else:
            terminations.append(Termination.OPTIMAL)
            solutions.append(SolutionStatus.OPTIMAL)
        return table

    stages = prob.stages
    if prob.stages[0].name == "weighted" and _aggregate_applies(setup, market, options.tuning):
        # the weighted mode has no largest-deviation stage: the aggregate decides it with any deviation,
        # starting from the local search's table, which is kept if the solver finds nothing better in time
        values = _searched(setup, prob, values if values is not None else values_for(setup, prob, {}))
        _hint(session, values)
        unbounded = max((max(p.target, p.effective) for p in market.participants), default=0) + 1
        table = on_aggregate(unbounded, values)
        if table is not None:
            weighted = prob.stages[0].expr
            # the search's table where the solver stopped short of it; never a start that breaks a rule (where
            # nothing moves, a binding agreement is broken, and such a table may still weigh less)
            if _sound(setup, prob, values) and evaluate(weighted, values) < evaluate(weighted, table):
                result.stage_values["weighted"] = str(evaluate(weighted, values))
            else:
                values = table
            stages = []
    for stage in stages:
        if stage.name == "max_deviation":
            ahead = None
            applies = check is not None and _aggregate_applies(setup, market, options.tuning)
            if options.tuning.ahead and applies:
                ahead = _Ahead(aggregate_at, budget, options.cancel)
            nothing = values_for(setup, prob, {})  # where nothing moves: the start of what speculates
            speculate = options.tuning.speculate
            speculated = speculate if applies and 0 < speculate < nothing[prob.largest] else 0
            try:
                found = _smallest_deviation(setup, prob, run, nothing, check, ahead, speculated)
            except BaseException:
                if ahead is not None:
                    ahead.stop()
                raise
            if isinstance(found, StageResult):
                if ahead is not None:
                    ahead.stop()
                _stop_if_cancelled(options, f"the fallback of market {market.key}")  # a stopped check is no time limit
                fallback = _construction(setup, prob, options.models)
                if found.termination is Termination.TIME_LIMIT and _sound(setup, prob, fallback):
                    values = fallback
                    stop("time limit reached; the table is the deterministic construction")
                    break
                return _failed(result, found, started)
            limit, values = found
            _hint(session, values)  # the next stage starts from this table
            result.stage_values[stage.name] = str(limit)
            result.stage_status[stage.name] = "optimal"
            if ahead is not None:
                table = on_aggregate(limit, values, ahead.outcome(limit, values))
            elif limit == speculated:  # as what speculates runs: from the bounds alone first
                table = on_aggregate(limit, values, aggregate_at(limit, nothing, Budget(budget.left), None,
                                                                 partial(list, values)))
            else:
                table = on_aggregate(limit, values) if _aggregate_applies(setup, market, options.tuning) else None
            if table is not None:
                values = table
                break
            for c in deviation_cuts(setup, prob, limit):
                session.add(c)
            continue
        if values is not None and budget.left <= 0:
            stop(f"time limit reached before stage {stage.name}")
            break
        res = run(stage)
        if res.values is None:
            if values is not None and res.termination is Termination.TIME_LIMIT:
                stop(f"time limit reached in stage {stage.name}")
                break
            return _failed(result, res, started)
        values = res.values
        fix(stage, values, res.termination is Termination.OPTIMAL)
    result.values = values
    result.termination = worst_termination(terminations)
    result.solution = worst_solution(solutions)
    result.wall_time_s = time.perf_counter() - started
    return result


def _exact(setup: Setup, market: Market, options: SolveOptions) -> MarketResult:
    """The market decided by the exact core (leximin.py), as a result of the full model's variables."""
    started = time.perf_counter()
    prob = build_problem(setup, market, options.models)
    out = leximin.solve(setup, market, options)
    values = None if out.flows is None else values_for(setup, prob, out.flows)
    return MarketResult(market, prob, out.termination, out.solution, values, out.stage_values, out.stage_status,
                        solves=out.solves, wall_time_s=time.perf_counter() - started, message=out.message)


def _searched(setup: Setup, prob: MarketProblem, start: list[int]) -> list[int]:
    """The weighted mode's local search from `start` (improve.py), confirmed by the full model: its rules
    hold and its value is the model's; else `start`."""
    found = improve.improve(setup, prob.market, {pair: evaluate(x, start) for pair, x in prob.x.items()})
    if found is None:
        return start
    value, flows = found
    table = values_for(setup, prob, flows)
    weighted = prob.stages[0].expr
    if not _sound(setup, prob, table) or evaluate(weighted, table) != value:
        log.warning("market %s: the local search's table is not confirmed by the full model", prob.market.key)
        return start
    return table if value <= evaluate(weighted, start) or not _sound(setup, prob, start) else start


def _construction(setup: Setup, prob: MarketProblem, models: Models | None) -> list[int]:
    """The deterministic construction's table (nothing moves if it breaks a rule the construction ignores).

    It depends on the setup's inputs only, so it is remembered under them as the models are (problem.py);
    each call gets its own copy."""
    key = None if setup.inputs is None else (setup.inputs, prob.market.key)
    return list(remembered(models, "constructions", key, lambda: _constructed(setup, prob)))


def _constructed(setup: Setup, prob: MarketProblem) -> list[int]:
    values = values_for(setup, prob, construct_flows(prob.market, setup.policy))
    return values if _sound(setup, prob, values) else values_for(setup, prob, {})


class _LazySession:
    """The full model's solver session, opened at its first solve: where the aggregate model decides the
    later stages, a large market never pays for translating the full model."""

    def __init__(self, backend: str, prob: MarketProblem, options: SolveOptions):
        self._open_args = (backend, prob, options)
        self._session = None
        self._constraints: list[Constraint] = []
        self._start: list[int] | None = None

    def add(self, constraint: Constraint) -> None:
        if self._session is None:
            self._constraints.append(constraint)
        else:
            self._session.add(constraint)

    @property
    def last(self) -> list[int] | None:
        return self._start

    @last.setter
    def last(self, values: list[int]) -> None:
        self._start = values
        if self._session is not None:
            _hint(self._session, values)

    def optimize(self, *args, **kwargs) -> StageResult:
        if self._session is None:
            self._session = open_session(*self._open_args)
            for c in self._constraints:
                self._session.add(c)
            if self._start is not None:
                _hint(self._session, self._start)
        return self._session.optimize(*args, **kwargs)


def _smallest_deviation(setup: Setup, prob: MarketProblem, run, known: list[int], check=None,
                        ahead: _Ahead | None = None, speculated: int = 0) -> tuple[int, list[int]] | StageResult:
    """The least D such that every participant ends within D units of its proportional target.

    Checks of D = 0, 2, 6, 14, … until one fits, then bisection, each check a feasibility problem (on counts
    of interchangeable givers when `check` is given, else the full model with cuts that let the solver
    prove quickly that a packing cannot fit). The table where nothing moves (`known`) bounds D from above
    where it keeps every rule (a binding agreement it does not keep; then no D may fit at all).

    `ahead` runs the later stages beside the checks: from the first check on at `speculated` (when not 0),
    from their bounds alone (at 2: where D = 0 does not fit, 2 is checked next, and where 2 fits, 1 is checked
    last), and before the last check (one value left) at the least D known to fit. A check that fits hands
    them its table.
    """
    feasible = Stage("max_deviation-check", {}, "min")
    low, high, best = -1, known[prob.largest], known
    if not _sound(setup, prob, known):  # where nothing moves breaks a rule (a binding agreement): it bounds no D
        high, best = prob.variables[prob.largest].ub + 1, None
    step, galloping = 1, True
    while high - low > 1:
        mid = min(low + step, high - 1) if galloping else (low + high) // 2
        if ahead is not None and high - low == 2 and best is not None:
            ahead.start(high, best)
        elif ahead is not None and low < 0 and speculated:
            ahead.speculate(speculated, known)
        res = check(mid) if check is not None else None
        if res is not None and res.values is not None:
            res.values = values_for(setup, prob, res.values)  # type: ignore[arg-type]
            if not _sound(setup, prob, res.values):
                res = None  # the counts' table breaks a rule they do not model: ask the full model
        if res is None:
            res = run(feasible, deviation_cuts(setup, prob, mid))
        if res.values is not None:  # the table found may keep closer than asked: that is known feasible too
            high, best, galloping = min(mid, res.values[prob.largest]), res.values, False
            if ahead is not None:
                ahead.fits(high, best)
        elif res.termination is Termination.INFEASIBLE:
            low, step = mid, step * 2
            if ahead is not None:
                ahead.refuted(low)
        else:
            return res
    if best is None:
        return StageResult(Termination.INFEASIBLE, SolutionStatus.NONE, None, None, None, 0.0,
                           "no table keeps every rule, whatever its largest deviation")
    return high, best


@dataclass
class _Later:
    """What the later stages gave: their table and message (None: the full model must decide them), their own
    record of stage values and solves, and the work they spent."""

    decided: tuple[list[int], str] | None
    record: MarketResult
    spent: float
    slack: float  # Budget.slack: how much less work they could have started with and taken the same limits


class Dropped(Exception):
    """Work that ran ahead is not needed."""


class Undecided(Exception):
    """The later stages are not all decided from their bounds."""


class _Ahead:
    """The later stages, started at the least largest deviation D known to fit while the last check (of D − 1)
    runs. Where D − 1 does not fit, their answer is ready when that check ends, found beside it on the second
    core rather than after it (CP-SAT releases the GIL while it searches).

    Run after the check, they would start with what the check left; ahead, they start with what was left
    before it. When the check ends, their Budget settles what it spent, so every limit they take from then on
    is the one they would take after the check, and their answer is taken only where the limits they took
    before would have been the same too (the Budget's slack covers what the check spent): the same limits give
    the same solves, so the answer is the one they give after the check. Otherwise (a limit that depends on all
    the work left, or too little left), and where D − 1 fits, they run again after the check.

    They may also start earlier, before the first check, at a value not yet known to fit (`speculate`): then
    they start from the table where nothing moves and first try to decide every stage from the bounds alone.
    Where the bounds do not decide, they wait for the table of the check that finds that value to fit (`fits`)
    and run from it, as they run ahead of the last check. Run after the checks, they do the same, so the
    answer depends on the input only: on the work left, and where the bounds do not decide, on that table."""

    def __init__(self, run: Callable[..., _Later], budget: Budget, cancel: threading.Event | None):
        self._run = run
        self._budget = budget
        self._cancel = cancel
        self._limit: int | None = None
        self._start: list[int] = []  # the table they started from
        self._table: Future[list[int] | None] | None = None  # where they speculate: the table of the check
        self._left = 0.0  # the work left before the checks they run beside
        self._work = Budget(0.0)
        self._future: Future[_Later] | None = None
        self._stop = Signal()

    def start(self, limit: int, start: list[int]) -> None:
        """Run them at `limit`, known to fit, from the check's table `start` (unless they already run there)."""
        if self._future is None or self._limit != limit:
            self._begin(limit, start, speculating=False)

    def speculate(self, limit: int, start: list[int]) -> None:
        """Run them at `limit`, not yet checked, from `start`: from their bounds alone until a check fits."""
        self._begin(limit, start, speculating=True)

    def _begin(self, limit: int, start: list[int], speculating: bool) -> None:
        self.stop()
        self._limit, self._start = limit, start
        self._table = Future() if speculating else None
        self._left = self._budget.left
        self._work = Budget(self._left)
        self._stop = Signal()
        either = _Either(self._stop, self._cancel)
        table = None if self._table is None else partial(_awaited, self._table, either)
        self._future = _beside(partial(self._run, limit, start, self._work, either, table))

    def fits(self, limit: int, table: list[int]) -> None:
        """A check found `limit` to fit, with `table`: what speculates at that limit may run from it."""
        if self._table is not None and self._limit == limit and not self._table.done():
            self._table.set_result(table)

    def refuted(self, low: int) -> None:
        """A check found that D = `low` does not fit: what runs at it or below is not needed. It is told to
        stop and left to end on its own, so the next check does not wait for it."""
        if self._future is not None and self._limit is not None and self._limit <= low:
            self._halt()
            self._future = None

    def outcome(self, limit: int, start: list[int]) -> _Later:
        """The later stages at the settled `limit`: what ran ahead at that limit where it holds, or run now.

        Either gives the answer they give after the check, so what ran ahead is stopped as soon as it is clear
        that it cannot be taken (it has taken, or is taking, a limit that may not be the same): a hard input
        then waits for one run of the later stages after the check, not for two."""
        table = None
        if self._future is not None and self._limit == limit:
            future, self._future = self._future, None
            checked = self._left - self._budget.left
            if not self._work.settle(checked):
                self._halt()
            try:
                later = future.result()
            except (Dropped, Cancelled):
                if self._cancel is not None and self._cancel.is_set():
                    raise
                later = None
            if later is not None and later.slack >= checked:
                log.debug("the later stages ran ahead at the largest deviation %s", limit)
                return later
            log.debug("the later stages ran ahead at the largest deviation %s, but took a limit from the work "
                      "the last check spent", limit)
            if self._table is not None:  # run again as they ran ahead, `start` being the table handed to them
                start, table = self._start, partial(list, start)
        elif self._future is not None:
            log.debug("the later stages ran ahead at the largest deviation %s, which is %s", self._limit, limit)
        self.stop()
        return self._run(limit, start, Budget(self._budget.left), None, table)

    def stop(self) -> None:
        """Stop what runs ahead and wait until it has (it ends at its next solve's start, or CP-SAT stops the
        search it is in within 50 ms)."""
        if self._future is not None:
            self._halt()
            self._future.exception()
            self._future = None

    def _halt(self) -> None:
        self._stop.set()
        if self._table is not None and not self._table.done():
            self._table.set_result(None)


def _awaited(table: Future[list[int] | None], stop: _Either) -> list[int]:
    """The table a check hands to what speculates, once it does."""
    while True:
        try:
            found = table.result(timeout=0.05)
        except FutureTimeout:
            if stop.is_set():
                raise Dropped("stopped while it waited for the check's table") from None
            continue
        if found is None:
            raise Dropped("no check found the value it speculated on to fit")
        return found


class _Either:
    """Set when either event is: what runs ahead stops when it is not needed or when the caller cancels. It
    offers what the driver and the backends ask of a cancel event (`is_set`); a search watched on it stops at
    once when `own` (a Signal) is set."""

    def __init__(self, own: Signal, caller: threading.Event | None):
        self.own, self.caller = own, caller

    def is_set(self) -> bool:
        return self.own.is_set() or (self.caller is not None and self.caller.is_set())


def _beside(work: Callable[[], _Later]) -> Future[_Later]:
    """`work` on a thread of its own."""
    future: Future[_Later] = Future()

    def target() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # handed to whoever waits for it
            future.set_exception(exc)

    threading.Thread(target=target, name="andelstal-ahead", daemon=True).start()
    return future


def _stop_if_cancelled(options: SolveOptions, what: str) -> None:
    if options.cancel is not None and options.cancel.is_set():
        raise Cancelled(f"cancelled before {what}")


def _counts_apply(setup: Setup, market: Market, tuning: Tuning) -> bool:
    """Counts of interchangeable givers stand for the givers only under the one-receiver rule; below
    `tuning.counts_from_givers` givers the full model is as quick."""
    return (setup.policy.one_receiver and _agreements_fit(setup, market)
            and len(market.givers) >= tuning.counts_from_givers)


def _agreements_fit(setup: Setup, market: Market) -> bool:
    """Whether every binding agreement names a pair of the market. One that does not makes the request
    infeasible, and the full model says why (diagnose.py)."""
    allowed = market.receivers_of()
    return all(g.code in allowed for g in market.givers if bound(g, setup.policy))


def _hint(session, values: list[int]) -> None:
    """Start the session's next solve from `values` (CP-SAT takes hints; the PuLP backends do not)."""
    if hasattr(session, "last"):
        session.last = values


def _type_check(setup: Setup, market: Market, backend: str, options: SolveOptions, budget: Budget):
    """Under the one-receiver rule, a deviation check on counts of interchangeable givers (exact, and much
    faster to refute than the full model); it returns the table it found as flows. The packing search
    decides it (packing.py), and CP-SAT where that stops at its limit of nodes."""
    policy = setup.policy
    if not _counts_apply(setup, market, options.tuning):
        return None
    types = giver_types(market, policy)
    # the strongest relaxation: over the national sample, its county floors and eight generated wish sets, the
    # checks took 9.5 deterministic seconds in all against 13.4 (heavy-tailed: it lost on three of the
    # generated sets and won on five, one of which the default did not settle in 5 s)
    check_options = replace(options, linearization_level=2)

    def check(limit: int) -> StageResult:
        _stop_if_cancelled(options, f"the deviation check of market {market.key}")
        started = time.perf_counter()
        per_node = options.tuning.packing_node_work
        nodes = min(options.tuning.deviation_packing_nodes, int(budget.left / per_node))
        try:
            chosen, used = packing.search(packing.windows(setup, market, types, limit), nodes)
            budget.spend(used * per_node)
            res = StageResult(Termination.INFEASIBLE, SolutionStatus.NONE, None, None, None, 0.0)
            if chosen is not None:
                res = StageResult(Termination.OPTIMAL, SolutionStatus.OPTIMAL, chosen, 0, 0, 0.0)  # type: ignore[arg-type]
        except packing.Exhausted as stopped:
            budget.spend(stopped.nodes * per_node)
            log.debug("market %s: the packing search did not decide D = %s; CP-SAT does", market.key, limit)
            counts = type_count_problem(setup, market, types, limit)
            res = open_session(backend, counts, check_options).optimize({}, "min", budget.limit())
            budget.charge(res)
            if res.values is not None:
                res.values = {key: res.values[var] for key, var in counts.y.items()}  # type: ignore[assignment]
        if res.values is not None:
            res.values = flows_from_counts(market, policy, types, res.values, limit)  # type: ignore[arg-type]
        res.wall_time_s = time.perf_counter() - started
        return res

    return check


def _aggregate_applies(setup: Setup, market: Market, tuning: Tuning) -> bool:
    """The aggregate model decides every later stage under the one-receiver rule. A binding agreement is a
    bound giver's window of exactly its whole offer, at its partner.

    County floors need nothing of it: the floors have already lowered the offers of each county's givers to
    what the county may lose (targets.py), so no table within the offers can break a floor. The full model
    keeps the floor as a constraint all the same, and every table is checked against it (`_sound`)."""
    policy = setup.policy
    return tuning.aggregate_stages and policy.one_receiver and _agreements_fit(setup, market)


def _aggregate_stages(setup: Setup, prob: MarketProblem, backend: str, options: SolveOptions, budget: Budget,
                      limit: int, result: MarketResult, start: list[int],
                      bounds_only: bool = False, missed: list[tuple] | None = None) -> tuple[list[int], str] | None:
    """Every stage after the first on the aggregate model (see aggregate.py).

    `bounds_only`: raise Undecided where the stages are not all decided from their bounds (_by_bounds, which
    notes in `missed` the bounds its search did not reach, and does not search for them again).

    `start` is the full model's table of the first stage; its counts are where the search begins. Returns
    the full model's values and an empty message when every stage is proven, a message when the work limit
    stopped a stage (the table so far is kept), or None when the full model must decide (no table, or a
    table that the full model's rules or stage values do not confirm).
    """
    weighted = setup.policy.objective is ObjectiveMode.WEIGHTED
    if bounds_only and (weighted or backend != "cpsat"):
        raise Undecided("only CP-SAT's lexicographic stages are decided from their bounds")
    agg = aggregate.build(setup, prob.market, limit, weighted=weighted, models=options.models)
    # the weighted solve starts from the local search's table and runs without presolve: on the national
    # sample presolve took 0.08 s of a 0.12 s solve at a work limit of 0.02, and at limits of 0.2 and 2 the
    # tables were as good or better without it (benchmarks/README.md)
    session = open_session(backend, agg.problem, replace(options, presolve=not weighted))
    _hint(session, aggregate.hint(agg, amounts(prob, start)))
    ties = session if backend == "cpsat" else open_session("cpsat", agg.problem, options)
    full = {stage.name: stage for stage in prob.stages}
    values: list[int] | None = None
    stages = [*agg.problem.stages, Stage(TIE_ORDER, {}, "min")]
    tied: StageResult | None = None  # the tie-break's answer, when the last stage's search found it
    known: dict[str, StageResult] = {}  # every stage's answer, where the bounds decided them at once
    checked: tuple = (None, None, False)  # the last aggregate values, their table, and whether the full model holds it
    for stage in stages:
        _stop_if_cancelled(options, f"stage {stage.name} of market {prob.market.key}")
        if stage.name in known:
            res = known[stage.name]
        elif stage.name == TIE_ORDER:
            res = tied or ties.first_in_order(agg.order, budget.limit())
        elif backend == "cpsat" and not weighted:
            tighten = None
            tuning = options.tuning
            if stage.name == "volume_simplicity" and tuning.simplicity_on_counts != "never":
                tighten = partial(_simplicity_on_counts, setup, prob.market, options, budget, limit, stage, agg,
                                  session)
                if tuning.simplicity_on_counts == "always":
                    tighten()
                    tighten = None
            if stage is stages[0] and tuning.bounds_slice > 0 and budget.left >= 4 * tuning.bounds_order:
                # (with less work left, what the bounds may spend would be a large part of it)
                known = _by_bounds(session, ties, agg.order, stages[:-1], budget, missed)
            if bounds_only and not known:
                raise Undecided("the stages are not decided from their bounds")
            if stage.name in known:
                res = known[stage.name]
            else:
                res, tied = _bound_first(session, ties, agg.order, stage, budget, last=stage is stages[-2],
                                         tighten=tighten)
        else:
            res = session.optimize(stage.expr, stage.sense, budget.limit())
        budget.charge(res)
        result.solves += 1
        log.debug("market %s aggregate stage %s: %s, objective %s, %.3f s", prob.market.key, stage.name,
                  res.termination.value, res.objective, res.wall_time_s)
        if res.values is None:
            if values is not None and res.termination is Termination.TIME_LIMIT:
                return values, f"time limit reached in stage {stage.name}"
            return None
        value = evaluate(stage.expr, res.values)
        proven = res.termination is Termination.OPTIMAL
        if res.values is not checked[0]:  # the stages decided from their bounds share one table: check it once
            table = values_for(setup, prob, aggregate.flows(agg, res.values))
            checked = (res.values, table, _sound(setup, prob, table) and table[prob.largest] <= limit)
        table, confirmed = checked[1], checked[2]
        if stage.name in full:  # a fairness stage: the full model's value of the table, exact
            reported = evaluate(full[stage.name].expr, table)
            # at an optimum the aggregate's population terms are tight, so both must agree
            aggregate_value = value + agg.constants.get(stage.name, 0)
            confirmed = confirmed and (reported == aggregate_value or not proven)
        if not confirmed:
            log.warning("market %s: the aggregate table is not confirmed by the full model at stage %s",
                        prob.market.key, stage.name)
            return None
        values = table
        result.stage_values[stage.name] = "first in code order" if stage.name == TIE_ORDER else str(reported)
        result.stage_status[stage.name] = "optimal" if proven else "feasible"
        if not proven:
            return values, f"time limit reached in stage {stage.name}"
        for s in (session,) if ties is session else (session, ties):
            s.add(stage.at_least(value))
    assert values is not None
    return values, ""


def _by_bounds(session, ties, order: list[int], lexicographic: list[Stage], budget: Budget,
               missed: list[tuple] | None = None) -> dict[str, StageResult]:
    """Every lexicographic stage and the tie-break decided by one search, from the stages' bounds.

    Each stage in turn only looks for its bound (`bounds_slice` of work), given that the stages before it reach
    theirs (a stage decided within the slice gives its optimum); then the tie-break's search looks for the
    first table in order that reaches every bound. Such a table is optimal in every stage: the first stage's
    bound is at least its optimum, and a table reaches it, so it is the optimum; then the next stage's bound
    holds over the tables that are optimal in the first, and so on. The tables that reach every bound are
    then exactly the tables the stages leave, so the first of them in order is the tie-break's answer.

    On the national sample each bound is the optimum and takes 0.02 to 0.05 s, where finding a table of the
    first stage took 0.12 s. Returns each stage's result and the tie-break's by stage name; nothing (and the
    session's start as it was) where a bound is not found in the slice or not reached (then a later stage
    finds no table), or the search stops at its limit (`bounds_order`): the stages then run one by one. Bounds
    in `missed` are not searched for again: the search is the same (it starts from no hint) and its limit no
    larger, so it would end as it did; bounds it does not reach are added there."""
    start = session.last
    tuning = session.options.tuning
    reaches: list[tuple[Stage, int]] = []

    def from_bound(stage: Stage, work: float, what: str, probing: bool = True) -> StageResult:
        """The stage searched from its bound with `work`, given that the stages before it reach theirs."""
        _stop_if_cancelled(session.options, what)
        res = session.optimize(stage.expr, stage.sense, budget.limit(work, 4), [s.at_least(r) for s, r in reaches],
                               from_bound=True, presolve=tuning.bounds_presolve, probing=probing)
        budget.charge(res)
        return res

    def look(stage: Stage) -> StageResult:
        """The stage's bound (`bounds_slice` of work)."""
        return from_bound(stage, tuning.bounds_slice, f"the bound of stage {stage.name}", tuning.bounds_probing)

    for stage in lexicographic:
        peek = look(stage)
        if peek.termination is Termination.INFEASIBLE and reaches and tuning.bounds_settle > 0:
            # no table reaches the bound before it: search that stage from its bound for its optimum, and look
            # again (the national sample with a county floor of 0.8, its bounds looked for with probing: a bound
            # 392 above the optimum, whose search from the bound takes 0.02 deterministic seconds, where the
            # stages one by one took 1 s)
            before, _ = reaches.pop()
            settled = from_bound(before, tuning.bounds_settle, f"the search of stage {before.name} from its bound")
            if settled.termination is not Termination.OPTIMAL:
                log.debug("stage %s is not settled from its bound (%s)", before.name, settled.termination.value)
                session.last = start
                return {}
            log.debug("stage %s: its bound is not reached, its optimum is %s", before.name, settled.objective)
            reaches.append((before, settled.objective))
            peek = look(stage)
        reach = None  # decided within the slice, its optimum is a bound that a table reaches
        if peek.termination is Termination.OPTIMAL:
            reach = peek.objective
        elif peek.termination is Termination.TIME_LIMIT:
            reach = _reach(stage, peek.bound)
        if reach is None:  # no table reaches the bounds before it (or no bound within the slice)
            log.debug("the bound of stage %s: %s, %s", stage.name, peek.termination.value, peek.bound)
            session.last = start
            return {}
        reaches.append((stage, reach))
    tried = tuple((s.name, r) for s, r in reaches)
    if missed is not None and tried in missed:  # the same search, with no more work than before: the same end
        log.debug("the tie-break did not reach these bounds before")
    else:
        _stop_if_cancelled(session.options, "the tie-break's search")
        bounds = [s.at_least(r) for s, r in reaches]
        tie = ties.first_in_order(order, budget.limit(tuning.bounds_order, 4), bounds,
                                  bounds[-1] if tuning.tie_guided else None)
        budget.charge(tie)
        if tie.values is not None and all(evaluate(s.expr, tie.values) == r for s, r in reaches):
            log.debug("the tie-break reached every stage's bound")
            known = {s.name: replace(tie, objective=r, bound=r, spent=0.0) for s, r in reaches}
            known[TIE_ORDER] = replace(tie, bound=tie.objective, spent=0.0)
            return known
        log.debug("the tie-break did not reach every stage's bound (%s)", tie.termination.value)
        if missed is not None:
            missed.append(tried)
    session.last = start
    return {}


def _reach(stage: Stage, bound: float | None) -> int | None:
    """The best whole value a stage's bound allows; None without a bound that a double holds exactly."""
    if bound is None or abs(bound) >= 2 ** 52:
        return None
    return math.ceil(bound - 1e-6) if stage.sense == "min" else math.floor(bound + 1e-6)


def _bound_first(session, ties, order: list[int], stage: Stage, budget: Budget, last: bool,
                 tighten=None) -> tuple[StageResult, StageResult | None]:
    """A lexicographic stage on the aggregate model, searched first from its bound: the aggregate's relaxation
    usually has the optimum as its bound, and then this finds the table in a fraction of the default search's
    time (national sample: 0.08 and 0.14 s against 0.33 and 0.34 s); where it does not finish in its slice,
    the default search goes on from what it found.

    The last stage first only looks for its bound (`peek_slice` of work), then asks the tie-break's search for the
    first table in order that reaches it. Such a table is optimal (nothing is better than a bound) and, of the
    optimal tables, the first in order: the stage and the tie-break are decided by one search, and the
    stage's own search for a table is never made. Where the bound is not reached (or not within `peek_order`),
    the stage goes on as the others do. Returns the stage's result and, when it was found, the tie-break's.

    `tighten()`, when given, is called before the default search (where the bound-first slice did not
    finish): it may add valid bounds and a hint to the session.

    `budget` is charged for every solve but the returned one, which the caller charges."""
    tuning = session.options.tuning
    first = budget.limit(tuning.bound_first_slice, 4, shared=True)
    if last and tuning.peek_slice > 0:
        peek = session.optimize(stage.expr, stage.sense, max(0.001, min(tuning.peek_slice, first)), from_bound=True)
        if peek.termination is not Termination.TIME_LIMIT:
            return peek, None  # decided within the peek
        budget.spend(peek.spent)
        first -= peek.spent
        reach = _reach(stage, peek.bound)
        if reach is not None:
            reached = stage.at_least(reach)
            tie = ties.first_in_order(order, budget.limit(tuning.peek_order, 4), [reached],
                                      reached if tuning.tie_guided else None)
            budget.charge(tie)
            if tie.values is not None and evaluate(stage.expr, tie.values) == reach:
                log.debug("stage %s: the tie-break reached the bound %s", stage.name, reach)
                return replace(tie, objective=reach, bound=reach, spent=0.0), replace(tie, spent=0.0)
            log.debug("stage %s: the tie-break did not reach the bound %s (%s)", stage.name, reach, tie.termination.value)
    res = session.optimize(stage.expr, stage.sense, max(0.001, first), from_bound=True)
    if res.termination is Termination.TIME_LIMIT:
        budget.spend(res.spent)
        if tighten is not None:
            tighten()  # it checks for a cancel before each of its solves
        _stop_if_cancelled(session.options, f"the search of stage {stage.name}")
        res = session.optimize(stage.expr, stage.sense, budget.limit())
    return res, None


def _simplicity_on_counts(setup: Setup, market: Market, options: SolveOptions, budget: Budget, limit: int,
                          stage: Stage, agg: aggregate.Aggregate, session) -> None:
    """Bounds for the volume-and-simplicity stage from counts of interchangeable givers, where the aggregate
    model's search does not settle it: there every giver of its own population slope is a type of its own,
    and proving that no table moves more (or crosses county lines less) is a packing that its relaxation
    does not see.

    First the most volume on the types of the largest-deviation checks (a few types: the proof is quick),
    then the fewest cross-county transfers and transfers at that volume on types split by their own
    county's receivers. Each is a relaxation of the aggregate (the same windows, without the population
    terms), so its optimum bounds the stage's; the session gets both bounds, and each one's table as the
    search's start where it is better than the start it has. Work: at most a quarter of the budget left for
    each. On 13 national what-ifs that the aggregate did not settle in 5 deterministic seconds, 3 are now
    proven and 6 better (benchmarks/README.md)."""
    _stop_if_cancelled(options, f"the bounds on counts of market {market.key}")
    policy = setup.policy
    coarse_types = giver_types(market, policy)
    coarse = type_count_problem(setup, market, coarse_types, limit, terms=True)
    res = open_session("cpsat", coarse, options).optimize(coarse.terms["received"], "max",
                                                         budget.limit(part=4), from_bound=True)
    budget.charge(res)
    if res.termination is not Termination.OPTIMAL or res.objective is None:
        return
    volume = res.objective
    session.add(Constraint("stage", "the most volume on counts", agg.terms["received"], None, volume))
    if res.values is not None:  # a table that moves that much, for the search to start from if it is better
        chosen = {key: res.values[var] for key, var in coarse.y.items()}
        _start_if_better(session, agg, flows_from_counts(market, policy, coarse_types, chosen, limit))
    types = giver_types(market, policy, county=True)
    fine = type_count_problem(setup, market, types, limit, terms=True)
    fine.add("stage", "the most volume on counts", fine.terms["received"], lo=volume)
    k = simplicity_scale(market)
    fewest = add_expr((k, fine.terms["cross"]), (1, fine.terms["placed"]))
    counting = open_session("cpsat", fine, options)
    if session.last is not None:  # start from the aggregate's best table so far, in counts
        type_of = {code: t for t, members in enumerate(types.values()) for code in members}
        start: list[int | None] = [None] * len(fine.variables)
        for var in fine.y.values():
            start[var] = 0
        for (g, r), amount in aggregate.flows(agg, session.last).items():
            if amount > 0 and (type_of.get(g), r) in fine.y:
                start[fine.y[type_of[g], r]] += 1  # type: ignore[operator]
        counting.last = start
    _stop_if_cancelled(options, f"the bounds on counts of market {market.key}")
    res = counting.optimize(fewest, "min", budget.limit(part=4))
    budget.charge(res)
    log.debug("market %s: on counts the most volume is %s, and at it the fewest transfers %s (%s)", market.key,
              volume, res.objective, res.termination.value)
    if res.termination is not Termination.OPTIMAL or res.values is None:
        return
    best = k * k * volume - res.objective  # the stage's value: k²·volume − k·cross-county − transfers
    session.add(Constraint("stage", "volume and simplicity on counts", stage.expr, None, best))
    chosen = {key: res.values[var] for key, var in fine.y.items()}
    _start_if_better(session, agg, flows_from_counts(market, policy, types, chosen, limit))


def _start_if_better(session, agg: aggregate.Aggregate, flows: dict[tuple[str, str], int]) -> None:
    """Start the session's next search from `flows` if they are better in volume and simplicity than where it
    would start: each solve begins afresh from its hint, so a worse hint would lose the best table so far.

    Both are compared by the stage's own expression on the counts and totals, which every hint names (the
    receivers' amounts, which a hint leaves out, are the sums of the totals)."""
    stage = volume_simplicity(agg.problem.market, {a: 1 for a in agg.amount.values()}, agg.terms["cross"],
                              agg.terms["placed"])
    hint = aggregate.hint(agg, flows)
    if session.last is None or evaluate(stage.expr, hint) > evaluate(stage.expr, session.last):
        session.last = hint


_SOFT = ("deviation", "population")  # constraint groups that define the measures, not rules a table must keep
SOUND_ARRAYS_FROM = 256  # constraints: a larger model's rules are checked as arrays (made once per model)


def _sound(setup: Setup, prob: MarketProblem, values: list[int], arrays_from: int = SOUND_ARRAYS_FROM) -> bool:
    """Whether a table keeps every hard constraint of the model. A model of `arrays_from` constraints or more has
    its rules checked as arrays: the national model's 1,654 took 1 ms one by one and 0.04 ms so, and the driver
    checks three tables or more per proposal, two of them while the next solve waits."""
    if len(prob.constraints) < arrays_from:
        for c in prob.constraints:
            if c.group in _SOFT:
                continue
            v = evaluate(c.expr, values)
            if (c.lo is not None and v < c.lo) or (c.hi is not None and v > c.hi):
                return False
        return True
    constraints = prob.constraints
    rules = prob.derived.get("rules")
    if rules is None:
        rules = prob.derived["rules"] = _as_arrays(constraints)
    variables, coefficients, starts, lo, hi = rules
    if not len(starts):
        return True
    sums = np.add.reduceat(coefficients * np.array(values, dtype=np.int64)[variables], starts)
    return bool(((sums >= lo) & (sums <= hi)).all())


def _as_arrays(constraints: list[Constraint]) -> tuple:
    """The hard constraints as arrays: every term's variable and coefficient, where each constraint's terms
    start, and its bounds (a missing bound as the extreme of int64). A constraint without terms holds or not
    whatever the table: it is kept as a term of coefficient 0."""
    rules = [c for c in constraints if c.group not in _SOFT]
    terms = [list(c.expr.items()) or [(0, 0)] for c in rules]
    extreme = np.iinfo(np.int64)
    return (np.array([var for t in terms for var, _ in t], dtype=np.int64),
            np.array([coeff for t in terms for _, coeff in t], dtype=np.int64),
            np.cumsum([0] + [len(t) for t in terms[:-1]], dtype=np.int64)[:len(terms)],
            np.array([extreme.min if c.lo is None else c.lo for c in rules], dtype=np.int64),
            np.array([extreme.max if c.hi is None else c.hi for c in rules], dtype=np.int64))


def _failed(result: MarketResult, res: StageResult, started: float) -> MarketResult:
    result.termination = res.termination
    result.solution = SolutionStatus.NONE
    result.message = res.message
    result.wall_time_s = time.perf_counter() - started
    return result

"""PuLP backend (HiGHS by default, or CBC): translates a MarketProblem, optimises one stage at a time.

The solvers work in floating point; values are rounded to the integers the model declares, and the
lexicographic driver recomputes every stage value exactly from them.
"""

from __future__ import annotations

import time

import pulp

from solver.redistribute.backend import SolutionStatus, SolveOptions, StageResult, Termination
from solver.redistribute.problem import Constraint, Expr, MarketProblem


class Session:
    name = "pulp"
    version = pulp.__version__

    def __init__(self, problem: MarketProblem, options: SolveOptions):
        self.options = options
        self.name = f"pulp-{options.pulp_solver}"
        self.prob = pulp.LpProblem("redistribution", pulp.LpMinimize)
        # a fixed variable is a constant: CBC rejects MPS bounds on columns it does not otherwise see
        self.fixed = {i: v.lb for i, v in enumerate(problem.variables) if v.lb == v.ub}
        self.vars = [None if i in self.fixed else pulp.LpVariable(f"v{i}", lowBound=v.lb, upBound=v.ub, cat=pulp.LpInteger)
                     for i, v in enumerate(problem.variables)]
        self.count = 0
        for c in problem.constraints:
            self.add(c)
        # CBC rejects an MPS file whose bounds name a column that no row uses
        used = {k for c in problem.constraints for k in c.expr}
        for i, v in enumerate(problem.variables):
            variable = self.vars[i]
            if i not in used and variable is not None:  # a fixed variable has none
                self.prob.addConstraint(variable >= v.lb, name=f"u{i}")

    def _affine(self, expr: Expr) -> pulp.LpAffineExpression:
        constant = sum(v * self.fixed[k] for k, v in expr.items() if k in self.fixed)
        return pulp.LpAffineExpression([(self.vars[k], v) for k, v in expr.items() if k not in self.fixed and v],
                                       constant=constant)

    def _constraints(self, c: Constraint) -> list[tuple[str, pulp.LpConstraint]]:
        out = []
        affine = self._affine(c.expr)
        if not any(k not in self.fixed and v for k, v in c.expr.items()):
            # constant: either always true, or a contradiction PuLP cannot write to a file
            value = affine.constant
            if (c.lo is not None and value < c.lo) or (c.hi is not None and value > c.hi):
                self.count += 1
                guard = pulp.LpVariable(f"contradiction{self.count}", 0, 0)
                return [(f"c{self.count}", guard >= 1)]
            return []
        if c.lo is not None and c.lo == c.hi:
            out.append(affine == c.lo)
        else:
            if c.lo is not None:
                out.append(affine >= c.lo)
            if c.hi is not None:
                out.append(affine <= c.hi)
        named = []
        for con in out:
            self.count += 1
            named.append((f"c{self.count}", con))
        return named

    def add(self, constraint: Constraint) -> None:
        for name, con in self._constraints(constraint):
            self.prob.addConstraint(con, name=name)

    def _solver(self, time_limit_s: float):
        limit = max(1, int(time_limit_s + 0.999))
        if self.options.pulp_solver == "cbc":
            return pulp.PULP_CBC_CMD(msg=False, timeLimit=limit, threads=self.options.num_workers, gapRel=0,
                                     gapAbs=0, options=[f"randomSeed {self.options.seed + 1}"])
        return pulp.HiGHS(msg=False, log_to_console=False, output_flag=False, timeLimit=limit,
                          threads=self.options.num_workers, gapRel=0, gapAbs=0,
                          random_seed=self.options.seed)

    def optimize(self, expr: Expr, sense: str, time_limit_s: float,
                 extra: list[Constraint] | None = None) -> StageResult:
        result = self._optimize(expr, sense, time_limit_s, extra)
        result.spent = result.wall_time_s
        return result

    def _optimize(self, expr: Expr, sense: str, time_limit_s: float, extra: list[Constraint] | None) -> StageResult:
        temporary = []
        for c in extra or []:
            for name, con in self._constraints(c):
                self.prob.addConstraint(con, name=name)
                temporary.append(name)
        self.prob.sense = pulp.LpMaximize if sense == "max" else pulp.LpMinimize
        if not any(k not in self.fixed and v for k, v in expr.items()):
            # PuLP adds a `__dummy` column for an empty objective and CBC then rejects the next model
            first = next((v for v in self.vars if v is not None), None)
            expr_pulp = pulp.LpAffineExpression([(first, 1)]) if first is not None else pulp.LpAffineExpression()
            self.prob.sense = pulp.LpMinimize
        else:
            expr_pulp = self._affine(expr)
        self.prob.setObjective(expr_pulp)
        started = time.perf_counter()
        try:
            self.prob.solve(self._solver(time_limit_s))
        except pulp.PulpSolverError as exc:
            return StageResult(Termination.ERROR, SolutionStatus.NONE, None, None, None,
                               time.perf_counter() - started, str(exc))
        finally:
            for name in temporary:
                del self.prob.constraints[name]
        elapsed = time.perf_counter() - started
        status, sol = self.prob.status, self.prob.sol_status
        if sol in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible) and status != pulp.LpStatusInfeasible:
            values = [self.fixed[i] if v is None else int(round(v.varValue or 0)) for i, v in enumerate(self.vars)]
            optimal = sol == pulp.LpSolutionOptimal and status == pulp.LpStatusOptimal
            objective = sum(c * values[k] for k, c in expr.items())
            return StageResult(
                Termination.OPTIMAL if optimal else Termination.TIME_LIMIT,
                SolutionStatus.OPTIMAL if optimal else SolutionStatus.FEASIBLE,
                values, objective, None if not optimal else float(objective), elapsed,
            )
        if status == pulp.LpStatusInfeasible or sol == pulp.LpSolutionInfeasible:
            return StageResult(Termination.INFEASIBLE, SolutionStatus.NONE, None, None, None, elapsed)
        if status == pulp.LpStatusNotSolved:
            return StageResult(Termination.TIME_LIMIT, SolutionStatus.NONE, None, None, None, elapsed,
                               "no solution found within the time limit")
        return StageResult(Termination.ERROR, SolutionStatus.NONE, None, None, None, elapsed,
                           f"PuLP status {pulp.LpStatus.get(status)}, solution {sol}")

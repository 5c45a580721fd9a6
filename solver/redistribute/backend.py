"""What every backend returns, and how a backend is found by name (imported lazily)."""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol

from solver.redistribute.problem import Constraint, Expr, MarketProblem


class Termination(str, Enum):
    """Why the solver stopped."""

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    ERROR = "error"


class SolutionStatus(str, Enum):
    """What solution exists."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    NONE = "none"


@dataclass
class StageResult:
    termination: Termination
    solution: SolutionStatus
    values: list[int] | None
    objective: int | None
    bound: float | None
    wall_time_s: float
    message: str = ""
    spent: float = 0.0  # budget used: deterministic time for CP-SAT (reproducible), wall time otherwise


@dataclass(frozen=True)
class SolveOptions:
    time_limit_s: float = 10.0
    seed: int = 0
    num_workers: int = 1
    pulp_solver: str = "highs"
    wall_deadline: float | None = None  # time.perf_counter() value after which no solve may run on
    cancel: threading.Event | None = None  # set by another thread: no further solve starts
    presolve: bool = True  # CP-SAT's presolve (the PuLP backends ignore it)
    linearization_level: int | None = None  # CP-SAT's relaxation strength, None for its default (PuLP ignores it)


class Cancelled(RuntimeError):
    """The caller cancelled the proposal; raised before the next solve would start."""


class Session(Protocol):
    name: str
    version: str

    def add(self, constraint: Constraint) -> None: ...

    def optimize(self, expr: Expr, sense: str, time_limit_s: float,
                 extra: list[Constraint] | None = None) -> StageResult: ...


class BackendMissing(RuntimeError):
    pass


BACKENDS = {"cpsat": "solver.redistribute.cpsat", "pulp": "solver.redistribute.pulp",
            "highs": "solver.redistribute.pulp", "cbc": "solver.redistribute.pulp"}
EXTRAS = {"cpsat": "ortools", "pulp": "pulp highspy", "highs": "pulp highspy", "cbc": "pulp"}


def open_session(backend: str, problem: MarketProblem, options: SolveOptions) -> Session:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(sorted(BACKENDS))}")
    try:
        module = importlib.import_module(BACKENDS[backend])
    except ImportError as exc:
        raise BackendMissing(f"backend {backend!r} needs the package(s) {EXTRAS[backend]}: "
                             f"pip install {EXTRAS[backend]} ({exc})") from exc
    if backend in ("highs", "cbc"):
        options = replace(options, pulp_solver=backend)
    return module.Session(problem, options)

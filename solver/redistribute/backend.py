"""What every backend returns, and how a backend is found by name (imported lazily)."""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol

from solver.redistribute.memo import Models
from solver.redistribute.problem import Constraint, Expr, MarketProblem
from solver.redistribute.tuning import Tuning


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
    cancel: Cancel | None = None  # set by another thread: no further solve starts, and a running one stops
    presolve: bool = True  # CP-SAT's presolve (the PuLP backends ignore it)
    linearization_level: int | None = None  # CP-SAT's relaxation strength, None for its default (PuLP ignores it)
    tuning: Tuning = Tuning()  # every tuning choice of the solvers (tuning.py)
    models: Models | None = None  # the caller's remembered models (memo.py); None: every model is built afresh


class Cancelled(RuntimeError):
    """The caller cancelled the proposal; raised before the next solve would start."""


class Cancel(Protocol):
    def is_set(self) -> bool: ...


WATCH_EVERY = 0.05  # seconds between two looks of the watcher at the cancel events of the searches it watches


class _Watcher:
    """One thread, started when first needed, that stops a running search when its cancel event is set. It
    looks at every event it watches each WATCH_EVERY seconds, so it also stops a search whose stop came before
    the search started (a solver keeps no stop made before its search), and at once when a Signal is set.

    A thread of its own for each search, started and ended with it, cost that thread's start: up to 5 ms
    (Python's switch interval) where another thread was running Python, as the driver's deviation checks do
    while the later stages run ahead (national sample: the first bound's look took 0.022 s, its solve 0.017)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._awake = threading.Condition()
        self._watched: dict[object, tuple[Cancel, Callable[[], None]]] = {}
        self._thread: threading.Thread | None = None

    @contextmanager
    def watching(self, cancel: Cancel | None, stop: Callable[[], None]) -> Iterator[None]:
        """Within the block, `stop()` is called when `cancel` is set (and again every WATCH_EVERY seconds
        while it runs on: a late call on a search that has ended must do nothing)."""
        if cancel is None:
            yield
            return
        token = object()
        with self._awake:
            self._watched[token] = (cancel, stop)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="andelstal-watch", daemon=True)
                self._thread.start()
            elif len(self._watched) == 1:
                self._awake.notify()  # it waits without a timeout while it watches nothing
        try:
            yield
        finally:
            with self._awake:
                del self._watched[token]

    def look(self) -> None:
        """Look now (a Signal was set)."""
        with self._awake:
            self._awake.notify()

    def _run(self) -> None:
        with self._awake:
            while True:
                for cancel, stop in list(self._watched.values()):
                    if cancel.is_set():
                        stop()
                self._awake.wait(WATCH_EVERY if self._watched else None)


_watcher = _Watcher()
os.register_at_fork(after_in_child=_watcher._reset)  # a child has no watcher thread, and its lock may be held
watching = _watcher.watching


class Signal(threading.Event):
    """An event whose setting stops the searches watched on it at once (a plain Event's within WATCH_EVERY)."""

    def set(self) -> None:
        super().set()
        _watcher.look()


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

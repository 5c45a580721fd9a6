"""What a running service holds: settings, database, the solve pool, the answer cache, metrics, and jobs.

Solves are CPU-bound, so they run on a bounded thread pool (CP-SAT and HiGHS release the interpreter
while they search) and never on the event loop. Long ones run as jobs whose state lives in the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.db import JobRow, make_engine, migrate, now, session_factory
from service.settings import Settings
from solver import propose
from solver.data import load_municipalities
from solver.domain import InputError, Municipality
from solver.redistribute.backend import Cancelled
from solver.shares import ShareTable, compute_base_shares

log = logging.getLogger(__name__)
DEFAULT_TIME_LIMIT_S = 5.0


class Metrics:
    """Prometheus metrics on a registry of this app's own (several apps can live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram("andelstal_http_request_seconds", "HTTP request latency",
                                  ["method", "route", "status"], registry=self.registry,
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.solve_seconds = Histogram("andelstal_solve_seconds", "Wall time of one proposal solve",
                                       ["kind", "backend"], registry=self.registry,
                                       buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
        self.solves = Counter("andelstal_solves_total", "Solves by why the solver stopped",
                              ["kind", "termination"], registry=self.registry)
        self.cache_hits = Counter("andelstal_whatif_cache_hits_total", "What-if answers served from the cache",
                                  registry=self.registry)


def json_bytes(data: dict[str, Any]) -> bytes:
    """`data` as FastAPI's JSONResponse encodes it."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Answer:
    """A what-if answer, encoded once in the solving thread: as the request it was solved for gets it
    (`own`), and as every other equal request gets it (`shared`: marked cached). A hit is then sent as it is,
    without encoding 290 rows again on the event loop. Only `shared` is kept in the cache."""

    own: bytes
    shared: bytes

    @classmethod
    def of(cls, data: dict[str, Any]) -> Answer:
        return cls(json_bytes(data), json_bytes(dict(data, solver=dict(data["solver"], cached=True))))


class AnswerCache:
    """Least-recently-used what-if answers (their shared encoding). Sound because a proposal is a pure function
    of its inputs.

    Equal requests that arrive while the first is being solved wait for that solve instead of repeating it.
    """

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._pending: dict[str, Future[Answer]] = {}
        self._lock = threading.Lock()

    def get_or_compute(self, key: str, compute: Callable[[], Answer]) -> tuple[bytes, bool]:
        """The encoded answer for `key` (`own` to the request that solved it, `shared` to any other) and whether
        it was already known (cached, or solved by another request)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key], True
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = Future()
        assert pending is not None
        if not owner:
            return pending.result().shared, True
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            pending.set_exception(exc)
            raise
        self.put(key, value.shared)
        with self._lock:
            del self._pending[key]
        pending.set_result(value)
        return value.own, False

    def pending(self, key: str) -> Future[Answer] | None:
        """The answer being computed for `key` by another request, if one is."""
        with self._lock:
            return self._pending.get(key)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass
class SolveRequest:
    """Everything a proposal depends on, in plain data (it is also the stored snapshot)."""

    wishes: list[dict[str, Any]]
    policy: dict[str, Any]
    shares: dict[str, int] | None  # units of 0.01 per mille; None: the illustrative key
    backend: str = "cpsat"

    def key(self) -> str:
        text = json.dumps([self.wishes, self.policy, self.shares, self.backend], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def snapshot(self) -> dict[str, Any]:
        return {"wishes": self.wishes, "policy": self.policy, "backend": self.backend,
                "shares": self.shares if self.shares is not None else "illustrative"}


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    metrics: Metrics = field(default_factory=Metrics)
    cancels: dict[str, threading.Event] = field(default_factory=dict)

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        migrate(engine)
        runtime = cls(settings, engine, session_factory(engine))
        with runtime.sessions.begin() as session:  # jobs that were running when the last process stopped
            session.execute(update(JobRow).where(JobRow.state.in_(("queued", "running")))
                            .values(state="failed", finished_at=now(),
                                    error={"detail": "the service stopped before the job finished"}))
        return runtime

    def sweep_folder(self, sweep_id: int) -> Path:
        """Where a sweep keeps its files: under the data folder, keyed by the database too, so that two databases
        served from one data folder (a test database and the real one, say) never share a sweep's folder."""
        url = self.engine.url.render_as_string(hide_password=True)
        return Path(self.settings.data_dir) / "sweeps" / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{sweep_id}"

    @cached_property
    def pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.settings.solve_workers, thread_name_prefix="solve")

    @cached_property
    def cache(self) -> AnswerCache:
        return AnswerCache(self.settings.cache_entries)

    @cached_property
    def municipalities(self) -> tuple[Municipality, ...]:
        return load_municipalities()

    @cached_property
    def illustrative(self) -> ShareTable:
        return compute_base_shares(self.municipalities)

    def base_table(self, units: dict[str, int] | None, source: str) -> ShareTable:
        if units is None:
            return self.illustrative
        return ShareTable(dict(units), source=source, illustrative=False, note=f"the base table of {source}")

    def clamp(self, policy: dict[str, Any]) -> dict[str, Any]:
        """The policy as the server will run it: the solver's work limit within the server's bound."""
        policy = dict(policy)
        asked = float(policy.get("time_limit_s", DEFAULT_TIME_LIMIT_S))
        policy["time_limit_s"] = min(asked, self.settings.max_time_limit_s)
        policy["num_workers"] = 1
        return policy

    def solve(self, kind: str, request: SolveRequest, cancel: threading.Event | None = None) -> dict[str, Any]:
        """The proposal JSON for a request; raises InputError for bad input and Cancelled when cancelled."""
        started = time.perf_counter()
        proposal = propose(request.wishes, shares=self.base_table(request.shares, "the request"),
                           policy=request.policy, backend=request.backend, municipalities=self.municipalities,
                           cancel=cancel)
        data = proposal.to_dict()
        self.metrics.solve_seconds.labels(kind, request.backend).observe(time.perf_counter() - started)
        self.metrics.solves.labels(kind, data["status"]["termination"]).inc()
        return data

    def cached(self, request: SolveRequest) -> bytes | None:
        """A known answer, encoded, without solving (cheap enough for the event loop)."""
        return self.shared(self.cache.get(request.key()))

    def pending(self, request: SolveRequest) -> Future[Answer] | None:
        """The answer an equal request is being solved for (cheap enough for the event loop)."""
        return self.cache.pending(request.key())

    def what_if(self, request: SolveRequest) -> bytes:
        """The proposal JSON for a what-if request, encoded: solved, or known from an equal request."""
        encoded, known = self.cache.get_or_compute(request.key(), lambda: Answer.of(self.solve("what-if", request)))
        return self.shared(encoded) if known else encoded

    def shared(self, encoded: bytes | None) -> bytes | None:
        """An answer given to a request other than the one it was solved for (marked cached): counted as a hit."""
        if encoded is not None:
            self.metrics.cache_hits.inc()
        return encoded

    def submit(self, session: Session, *, kind: str, token_id: int, actor: str, year: int | None,
               work: Callable[[threading.Event], dict[str, Any]],
               store: Callable[[Session, dict[str, Any]], dict[str, int]] | None = None, **links: int) -> JobRow:
        """Queue `work` as a job; `store` (in one transaction with the job's end) keeps its result and names
        the row it made ({"proposal_id": 7} or {"simulation_id": 3})."""
        job = JobRow(id=uuid.uuid4().hex, kind=kind, state="queued", created_by=actor, token_id=token_id, year=year,
                     **links)
        session.add(job)
        session.commit()
        cancel = threading.Event()
        self.cancels[job.id] = cancel
        self.pool.submit(self._run_job, job.id, work, store, cancel)
        return job

    def _run_job(self, job_id: str, work: Callable[[threading.Event], dict[str, Any]],
                 store: Callable[[Session, dict[str, Any]], dict[str, int]] | None, cancel: threading.Event) -> None:
        try:
            with self.sessions.begin() as session:
                if cancel.is_set():
                    self._end(session, job_id, "cancelled", error={"detail": "cancelled before it started"})
                    return
                session.execute(update(JobRow).where(JobRow.id == job_id).values(state="running"))
            try:
                data = work(cancel)
                if cancel.is_set():  # stopped inside the last solve: the table is not what was asked for
                    raise Cancelled("cancelled while the last stage was solved")
            except InputError as exc:
                with self.sessions.begin() as session:
                    self._end(session, job_id, "failed", error=exc.to_dict())
                return
            except Cancelled as exc:
                with self.sessions.begin() as session:
                    self._end(session, job_id, "cancelled", error={"detail": str(exc)})
                return
            except Exception as exc:  # a bug, not bad input: keep the service up and say so in the job
                log.exception("job %s failed", job_id)
                with self.sessions.begin() as session:
                    self._end(session, job_id, "failed", error={"detail": f"internal error: {type(exc).__name__}"})
                return
            with self.sessions.begin() as session:
                try:
                    made = store(session, data) if store is not None else {}
                except JobConflict as exc:
                    self._end(session, job_id, "failed", error={"detail": str(exc)})
                    return
                self._end(session, job_id, "done", result=None if store is not None else data, **made)
        finally:
            self.cancels.pop(job_id, None)

    @staticmethod
    def _end(session: Session, job_id: str, state: str, **values: Any) -> None:
        session.execute(update(JobRow).where(JobRow.id == job_id).values(state=state, finished_at=now(), **values))

    def warm_up(self) -> None:
        """Load the solver and its data before the first request needs them (imports, the base table)."""
        propose([{"code": "2262", "wish": "give", "amount_permille": "all"},
                  {"code": "2260", "wish": "receive", "amount_permille": 1}],
                shares=self.illustrative, municipalities=self.municipalities, time_limit_s=0.1)

    def close(self) -> None:
        for event in list(self.cancels.values()):
            event.set()
        if "pool" in self.__dict__:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()


class JobConflict(RuntimeError):
    """The world changed while the job ran (for example, its round was finalised)."""

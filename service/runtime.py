"""What a running service holds: settings, database, the solve pool, the answer cache, metrics, and jobs.

Solves are CPU-bound, so they run on a bounded thread pool (CP-SAT and HiGHS release the interpreter
while they search) and never on the event loop. Long ones run as jobs whose state lives in the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.db import JobRow, Token, make_engine, migrate, now, session_factory
from service.settings import Settings
from solver import propose
from solver.data import load_municipalities
from solver.domain import InputError, Municipality
from solver.redistribute.backend import Cancelled
from solver.redistribute.memo import Models
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
        self.cancelled = Counter("andelstal_solves_cancelled_total", "Solves stopped because nobody waited any more",
                                 ["kind"], registry=self.registry)
        self.running = Gauge("andelstal_solves_running", "Solves running now", ["kind"], registry=self.registry)
        self.waiting = Gauge("andelstal_whatif_waiting", "What-if requests waiting for a solve",
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
    of its inputs."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

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
class Flight:
    """One what-if solve, shared by the equal requests that wait for it (single flight); it is cancelled when the
    last of them has gone. Touched on the event loop only."""

    future: Future[Answer]
    cancel: threading.Event
    waiters: int = 0


class ClientGone(Exception):
    """The client closed its connection before its answer was ready."""


class TooBusy(Exception):
    """A token has as much batch work queued or running as it may; `retry_after` seconds is a fair wait."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


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
    flights: dict[str, Flight] = field(default_factory=dict)  # what-ifs being solved, by request key

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
        """Interactive work: what-ifs, answered or as jobs. Never shared with batch work, so a what-if does not
        wait behind a sweep, a simulation or a proposal."""
        return ThreadPoolExecutor(max_workers=self.settings.solve_workers, thread_name_prefix="solve")

    @cached_property
    def batch(self) -> ThreadPoolExecutor:
        """Batch work: proposal, simulation and sweep jobs, and simulations answered directly."""
        return ThreadPoolExecutor(max_workers=self.settings.batch_workers, thread_name_prefix="batch")

    @cached_property
    def cache(self) -> AnswerCache:
        return AnswerCache(self.settings.cache_entries)

    @cached_property
    def models(self) -> Models:
        """The models built for earlier requests (the solver's memo.Models): a what-if on the same wishes with
        other weights or rules reuses them. Shared by every request of this runtime, and only by them."""
        return Models()

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
        running = self.metrics.running.labels(kind)
        running.inc()
        try:
            proposal = propose(request.wishes, shares=self.base_table(request.shares, "the request"),
                               policy=request.policy, backend=request.backend, municipalities=self.municipalities,
                               cancel=cancel, models=self.models)
            data = proposal.to_dict()
        except Cancelled:
            self.metrics.cancelled.labels(kind).inc()
            raise
        finally:
            running.dec()
        self.metrics.solve_seconds.labels(kind, request.backend).observe(time.perf_counter() - started)
        self.metrics.solves.labels(kind, data["status"]["termination"]).inc()
        return data

    def validate(self, request: SolveRequest) -> SolveRequest:
        """Raise InputError for bad input before anything is solved or queued (a 422 now, not a failed job later)."""
        from solver.policy import parse_policy
        from solver.wishes import parse_wishes

        policy = parse_policy(request.policy)
        rows = [dict(w, _row=i) for i, w in enumerate(request.wishes, start=1)]
        parse_wishes(rows, self.municipalities, self.base_table(request.shares, "the request"), policy)
        return request

    async def answer(self, request: SolveRequest, who: Any, *, as_job: bool,
                     gone: Callable[[], Awaitable[None]]) -> bytes | JobRow:
        """A what-if's answer, encoded: known (the cache), shared with an equal request being solved (single flight),
        or solved now; or, `as_job`, the job that will solve it. Raises InputError for bad input, and ClientGone when
        `gone()` returns first: the solve is then cancelled, unless another request still waits for it."""
        key = request.key()
        if as_job:
            self.validate(request)
            return await run_in_threadpool(self._submit_alone, "what-if", who,
                                           lambda cancel: self.solve("what-if", request, cancel))
        known = self.cache.get(key)
        if known is not None:
            self.metrics.cache_hits.inc()
            return known
        flight = self.flights.get(key)
        owner = flight is None or flight.cancel.is_set()
        if owner:
            self.validate(request)  # an equal request in flight was validated already
            flight = self._fly(key, request)
        assert flight is not None
        flight.waiters += 1
        self.metrics.waiting.inc()
        waiting = asyncio.ensure_future(asyncio.wrap_future(flight.future))
        leaving = asyncio.ensure_future(gone())
        try:
            await asyncio.wait([waiting, leaving], return_when=asyncio.FIRST_COMPLETED)
        finally:
            flight.waiters -= 1
            self.metrics.waiting.dec()
            leaving.cancel()
        if not waiting.done():
            waiting.cancel()
            if flight.waiters == 0:
                flight.cancel.set()
            raise ClientGone
        answer = waiting.result()
        if owner:
            return answer.own
        self.metrics.cache_hits.inc()
        return answer.shared

    def _fly(self, key: str, request: SolveRequest) -> Flight:
        loop = asyncio.get_running_loop()
        cancel = threading.Event()

        def solve() -> Answer:
            answer = Answer.of(self.solve("what-if", request, cancel))
            self.cache.put(key, answer.shared)
            return answer

        flight = Flight(self.pool.submit(solve), cancel)
        self.flights[key] = flight

        def landed(_: Future[Answer]) -> None:
            if self.flights.get(key) is flight:
                del self.flights[key]

        flight.future.add_done_callback(lambda f: loop.call_soon_threadsafe(landed, f))
        return flight

    def _submit_alone(self, kind: str, who: Any, work: Callable[[threading.Event], dict[str, Any]]) -> JobRow:
        with self.sessions() as session:
            return self.submit(session, kind=kind, token_id=who.token_id, actor=who.actor, year=None, work=work)

    def submit(self, session: Session, *, kind: str, token_id: int, actor: str, year: int | None,
               work: Callable[[threading.Event], dict[str, Any]],
               store: Callable[[Session, dict[str, Any]], dict[str, int]] | None = None, **links: int) -> JobRow:
        """Queue `work` as a job; `store` (in one transaction with the job's end) keeps its result and names
        the row it made ({"proposal_id": 7} or {"simulation_id": 3})."""
        if kind != "what-if":
            self._within_limit(session, token_id)
        job = JobRow(id=uuid.uuid4().hex, kind=kind, state="queued", created_by=actor, token_id=token_id, year=year,
                     **links)
        session.add(job)
        session.commit()
        cancel = threading.Event()
        self.cancels[job.id] = cancel
        (self.pool if kind == "what-if" else self.batch).submit(self._run_job, job.id, work, store, cancel)
        return job

    def _within_limit(self, session: Session, token_id: int) -> None:
        """Raise TooBusy where the token has `batch_per_token` batch jobs queued or running. The token's row is
        locked (on SQLite the write transaction is), so two requests cannot both take the last place."""
        session.scalar(select(Token.id).where(Token.id == token_id).with_for_update())
        active = session.scalar(select(func.count()).select_from(JobRow).where(
            JobRow.token_id == token_id, JobRow.kind != "what-if", JobRow.state.in_(("queued", "running"))))
        limit = self.settings.batch_per_token
        if active is not None and active >= limit:
            raise TooBusy(f"this token has {active} batch jobs (proposals, simulations, sweeps) queued or running, "
                          f"the most it may have; try again when one has finished", retry_after=30)

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
        for flight in list(self.flights.values()):
            flight.cancel.set()
        for name in ("pool", "batch"):
            if name in self.__dict__:
                self.__dict__[name].shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()


class JobConflict(RuntimeError):
    """The world changed while the job ran (for example, its round was finalised)."""

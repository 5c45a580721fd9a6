"""The database: tables (SQLAlchemy 2 declarative), the engine, and migrations run at start (Alembic).

The schema is defined here once; `migrations/versions` holds the Alembic revisions that create it, and a
test checks that the migrated database matches these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, ForeignKey, Integer, String, create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored as naive UTC on every database


class Base(DeclarativeBase):
    pass


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(10))
    county_code: Mapped[str | None] = mapped_column(String(2))
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC-SHA256 of the token, never the token
    created_at: Mapped[datetime] = mapped_column(default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)  # None: it does not expire
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)  # kept to the minute (auth.touch)


class PageSession(Base):
    """A login on the web pages; the cookie carries its id, signed, and never the token."""

    __tablename__ = "page_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(default=None)  # logout


class Round(Base):
    __tablename__ = "rounds"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(10), default="open")  # open -> proposed -> finalised
    base_shares: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)  # None: the illustrative key
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(120))
    finalised_proposal_id: Mapped[int | None] = mapped_column(Integer, default=None)
    finalised_at: Mapped[datetime | None] = mapped_column(default=None)


class WishRow(Base):
    __tablename__ = "wishes"
    year: Mapped[int] = mapped_column(ForeignKey("rounds.year"), primary_key=True)
    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    wish: Mapped[str] = mapped_column(String(7))
    amount: Mapped[str] = mapped_column(String(12))  # "all" or a per-mille number with at most two decimals
    partner: Mapped[str | None] = mapped_column(String(4), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=now)
    updated_by: Mapped[str] = mapped_column(String(120))

    def to_input(self) -> dict[str, Any]:
        return {"code": self.code, "wish": self.wish, "amount_permille": self.amount, "partner": self.partner}


class ProposalRow(Base):
    """A computed proposal with a snapshot of every input; never changed once written."""

    __tablename__ = "proposals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("rounds.year"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(120))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)  # wishes, policy and base table as used
    result: Mapped[dict[str, Any]] = mapped_column(JSON)  # the proposal JSON of the command line
    termination: Mapped[str] = mapped_column(String(12))
    solution: Mapped[str] = mapped_column(String(10))


class JobRow(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # what-if | proposal | simulation | sweep
    state: Mapped[str] = mapped_column(String(10))  # queued | running | done | failed | cancelled
    created_at: Mapped[datetime] = mapped_column(default=now)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(120))
    token_id: Mapped[int] = mapped_column(Integer)
    year: Mapped[int | None] = mapped_column(Integer, default=None)
    proposal_id: Mapped[int | None] = mapped_column(Integer, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    simulation_id: Mapped[int | None] = mapped_column(Integer, default=None)
    sweep_id: Mapped[int | None] = mapped_column(Integer, default=None)


class SimulationRow(Base):
    """A simulation's request and result, kept for every role to read."""

    __tablename__ = "simulations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(120))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class SweepRow(Base):
    """A sweep run by the service: its grid, progress, and (when done) its results rows; its state is its job's."""

    __tablename__ = "sweeps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    created_by: Mapped[str] = mapped_column(String(120))
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    digest: Mapped[str] = mapped_column(String(64))
    grid: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditRow(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=now, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(40))
    year: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    target: Mapped[str | None] = mapped_column(String(40), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@event.listens_for(ProposalRow, "before_update")
def _proposals_are_immutable(mapper: Any, connection: Any, target: ProposalRow) -> None:
    raise RuntimeError(f"proposal {target.id} is stored for good and cannot be changed")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun by _sqlite_begin, not by the driver
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # SQLite has no row locks: a transaction that may write takes the database's write lock when it begins
            # (BEGIN IMMEDIATE), so writers to a round run one after the other and each reads what the last wrote.
            # Only a session marked by `reading` begins deferred, and never waits for a writer (WAL).
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READING) else "BEGIN IMMEDIATE")
    return engine


READING = "andelstal_reading"


def reading(session: Session) -> Session:
    """Mark a new session as one that only reads: on SQLite it begins without the write lock."""
    session.connection(execution_options={READING: True})
    return session


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic `upgrade head`) on the engine's own connection."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)

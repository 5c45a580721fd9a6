"""Shared fixtures: the shipped municipalities and the illustrative base table (computed once)."""

import pytest

from solver.data import load_municipalities
from solver.shares import compute_base_shares


@pytest.fixture(scope="session")
def municipalities():
    return load_municipalities()


@pytest.fixture(scope="session")
def base(municipalities):
    return compute_base_shares(municipalities)


# --- the HTTP service: the real app on a real database file, through TestClient -----------------------

import os  # noqa: E402
import uuid  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402

POSTGRES_URL = os.environ.get("ANDELSTAL_TEST_POSTGRES_URL")
DATABASES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@dataclass
class Service:
    client: object
    runtime: object
    tokens: dict[str, str]

    def as_(self, who: str) -> dict[str, str]:
        """Headers for a caller: agency, county22, county01, viewer, nobody or forged."""
        if who == "nobody":
            return {}
        if who == "forged":
            return {"Authorization": "Bearer andel_" + "x" * 43}
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _postgres_database():
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}", name


def _drop_postgres(name):
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_service(tmp_path, database="sqlite", **settings_overrides):
    """A service on a fresh database with a token per role; the caller closes `runtime` when done."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.auth import Role, create_token
    from service.runtime import Runtime
    from service.settings import Settings

    if database == "sqlite":
        url, dropped = f"sqlite:///{tmp_path}/andelstal.db", None
    else:
        url, dropped = _postgres_database()
    settings = Settings.from_env({"ANDELSTAL_SECRET": "test-" + uuid.uuid4().hex * 2}, environment="test",
                                 database_url=url, solve_workers=2, data_dir=str(tmp_path / "data"),
                                 **settings_overrides)
    runtime = Runtime.start(settings)
    tokens = {}
    with runtime.sessions.begin() as session:
        for who, role, county in [("agency", Role.AGENCY, None), ("county22", Role.COUNTY, "22"),
                                  ("county01", Role.COUNTY, "01"), ("viewer", Role.VIEWER, None)]:
            tokens[who] = create_token(session, settings.secret, name=who, role=role, county_code=county)[1]
    client = TestClient(create_app(settings, runtime))
    return Service(client, runtime, tokens), dropped


@contextmanager
def serving(tmp_path, **settings_overrides):
    svc, _ = make_service(tmp_path, **settings_overrides)
    try:
        with svc.client:
            yield svc
    finally:
        svc.runtime.close()


@pytest.fixture(params=DATABASES)
def service(request, tmp_path):
    svc, dropped = make_service(tmp_path, request.param)
    with svc.client:
        yield svc
    svc.runtime.close()
    if dropped:
        _drop_postgres(dropped)


@pytest.fixture(params=DATABASES)
def server(request, tmp_path):
    """The real `andelstal serve` as a subprocess on a fresh database (tests/server.py), stopped afterwards."""
    from tests.server import Server

    if request.param == "sqlite":
        url, dropped = f"sqlite:///{tmp_path}/andelstal.db", None
    else:
        url, dropped = _postgres_database()
    srv = Server(url, tmp_path, workers=2)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        if dropped:
            _drop_postgres(dropped)

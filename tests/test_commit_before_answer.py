"""A 2xx means committed: against the real server process, a write is visible to the very next request, and it
survives a kill -9 sent the moment its answer arrives. On SQLite and (under `make test`) PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import DATABASES, _drop_postgres, _postgres_database
from tests.server import Server

ROUNDS = 12


@pytest.fixture(params=DATABASES)
def server(request, tmp_path):
    if request.param == "sqlite":
        url, dropped = f"sqlite:///{tmp_path}/andelstal.db", None
    else:
        url, dropped = _postgres_database()
    srv = Server(url, tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        if dropped:
            _drop_postgres(dropped)


def test_a_write_is_visible_to_the_next_request(server):
    headers = {"Authorization": f"Bearer {server.token()}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
        for year in range(2030, 2030 + ROUNDS):
            assert http.post("/v1/rounds", json={"year": year}).status_code == 201
            assert http.get(f"/v1/rounds/{year}").status_code == 200, f"the round {year} was answered before stored"
            for amount in ("0.50", "0.75"):
                put = http.put(f"/v1/rounds/{year}/wishes/2260", json={"wish": "receive", "amount_permille": amount})
                assert put.status_code in (200, 201)
                got = http.get(f"/v1/rounds/{year}/wishes").json()
                assert [(w["code"], w["amount_permille"]) for w in got] == [("2260", float(amount))]


def test_an_acknowledged_write_survives_a_kill_right_after_its_answer(server):
    token = server.token()
    headers = {"Authorization": f"Bearer {token}"}
    acknowledged = []
    for cycle in range(4):
        year = 2040 + cycle
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            assert http.post("/v1/rounds", json={"year": year}).status_code == 201
            put = http.put(f"/v1/rounds/{year}/wishes/2262", json={"wish": "give", "amount_permille": "all"})
            assert put.status_code == 201
        server.kill()  # the instant the answer is read, before any later work of the server
        acknowledged.append(year)
        server.start()
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            for y in acknowledged:
                wishes = http.get(f"/v1/rounds/{y}/wishes")
                assert wishes.status_code == 200, f"the round {y}, acknowledged with 201, is gone after kill -9"
                assert [w["code"] for w in wishes.json()] == ["2262"], f"the wish of {y} is gone after kill -9"
            trail = http.get("/v1/audit", params={"year": year}).json()
            assert {"round.created", "wish.put"} <= {e["action"] for e in trail}

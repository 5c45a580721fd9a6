"""Interactive work is kept apart from batch work: a what-if never waits behind proposals, simulations or sweeps;
a token's batch jobs are bounded (429 with Retry-After); a client that leaves cancels its solve, unless an equal
request still waits for it."""

from __future__ import annotations

import json
import re
import socket
import threading

import httpx

from solver.sweep import generated_wishes
from tests.server import Server
from tests.test_service import SMALL

ROUND = {"year": 2040}


def test_a_what_if_is_answered_while_every_batch_thread_is_busy(service):
    release = threading.Event()
    busy = [service.runtime.batch.submit(release.wait) for _ in range(service.runtime.settings.batch_workers)]
    answer = {}
    try:
        thread = threading.Thread(target=lambda: answer.update(
            res=service.client.post("/v1/what-if", json=SMALL, headers=service.as_("county22"))))
        thread.start()
        thread.join(timeout=120)  # a hang here is the failure: on a shared pool it waits for the release below
        assert not thread.is_alive(), "the what-if waited for the batch work"
        assert answer["res"].status_code == 200
    finally:
        release.set()
        for f in busy:
            f.result()


def test_a_token_has_a_bounded_number_of_batch_jobs(service):
    c, agency = service.client, service.as_("agency")
    assert c.post("/v1/rounds", json=ROUND, headers=agency).status_code == 201
    for code, body in [("2262", {"wish": "give", "amount_permille": "all"}),
                       ("2260", {"wish": "receive", "amount_permille": 3})]:
        assert c.put(f"/v1/rounds/2040/wishes/{code}", json=body, headers=agency).status_code == 201
    release = threading.Event()
    busy = [service.runtime.batch.submit(release.wait) for _ in range(service.runtime.settings.batch_workers)]
    try:  # the jobs stay queued while the batch threads are held
        limit = service.runtime.settings.batch_per_token
        for _ in range(limit):
            assert c.post("/v1/rounds/2040/proposals", json={}, headers=agency).status_code == 202
        refused = c.post("/v1/rounds/2040/proposals", json={}, headers=agency)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "batch jobs" in refused.json()["detail"]
        # a what-if job is interactive work, not counted
        res = c.post("/v1/what-if", json=SMALL, headers={**agency, "Prefer": "respond-async"})
        assert res.status_code == 202
    finally:
        release.set()
        for f in busy:
            f.result()


def _metric(server: Server, headers: dict[str, str], name: str) -> float:
    text = httpx.get(f"{server.url}/metrics", headers=headers, timeout=60).text
    found = re.search(rf'^{re.escape(name)} (\S+)$', text, flags=re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _send(server: Server, token: str, body: dict) -> socket.socket:
    """A what-if sent on a raw connection, so that the test can close it before the answer."""
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"POST /v1/what-if HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 + f"Authorization: Bearer {token}\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    return sock


def _until(condition, polls: int = 20_000) -> None:
    """Polls `condition` (each poll is a request to the server) until it holds; bounded in count, not in time."""
    for _ in range(polls):
        if condition():
            return
    raise AssertionError("the server did not reach the state waited for")


def test_a_client_that_leaves_cancels_its_solve_unless_another_waits(server):
    token = server.token()
    headers = {"Authorization": f"Bearer {token}"}
    running = 'andelstal_solves_running{kind="what-if"}'
    cancelled = 'andelstal_solves_cancelled_total{kind="what-if"}'
    hard = {"wishes": generated_wishes(3, 80, 25), "policy": {"time_limit_s": 5}}
    sock = _send(server, token, hard)
    _until(lambda: _metric(server, headers, running) == 1)
    sock.close()
    _until(lambda: _metric(server, headers, cancelled) == 1 and _metric(server, headers, running) == 0)

    # two equal requests: the first leaves, the second still gets the answer, and nothing is cancelled
    shared = {"wishes": generated_wishes(4, 80, 25), "policy": {"time_limit_s": 1}}
    first = _send(server, token, shared)
    _until(lambda: _metric(server, headers, running) == 1)
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(
        res=httpx.post(f"{server.url}/v1/what-if", json=shared, headers=headers, timeout=300)))
    thread.start()
    _until(lambda: _metric(server, headers, "andelstal_whatif_waiting") == 2)
    first.close()
    thread.join()
    assert answer["res"].status_code == 200
    assert _metric(server, headers, cancelled) == 1

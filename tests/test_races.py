"""Races against the real server process: one winner, everyone else a clear 409 (never a 500), and an audit
trail whose entries chain. On SQLite (which has no row locks) and, under `make test`, PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import httpx


def at_once(count: int, call) -> list[httpx.Response]:
    """`count` calls started together (a barrier), each on its own connection; their answers in order."""
    barrier = threading.Barrier(count)
    answers: list[httpx.Response | None] = [None] * count

    def one(i: int) -> None:
        with httpx.Client(timeout=120) as http:
            barrier.wait()
            answers[i] = call(http, i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [a for a in answers if a is not None]


def test_simultaneous_creations_of_a_round_have_one_winner(server):
    headers = {"Authorization": f"Bearer {server.token()}"}
    answers = at_once(8, lambda http, i: http.post(f"{server.url}/v1/rounds", json={"year": 2031}, headers=headers))
    assert Counter(a.status_code for a in answers) == {201: 1, 409: 7}, [a.text for a in answers]


def test_simultaneous_wishes_to_one_municipality_chain_in_the_audit(server):
    headers = {"Authorization": f"Bearer {server.token()}"}
    assert httpx.post(f"{server.url}/v1/rounds", json={"year": 2032}, headers=headers).status_code == 201
    answers = at_once(12, lambda http, i: http.put(f"{server.url}/v1/rounds/2032/wishes/2260", headers=headers,
                                                   json={"wish": "receive", "amount_permille": f"{i + 1}.00"}))
    assert Counter(a.status_code for a in answers) == {201: 1, 200: 11}, [a.text for a in answers]
    trail = httpx.get(f"{server.url}/v1/audit", params={"year": 2032, "limit": 100}, headers=headers).json()
    puts = sorted((e for e in trail if e["action"] == "wish.put"), key=lambda e: e["id"])
    assert len(puts) == 12
    assert puts[0]["detail"]["before"] is None
    for earlier, later in zip(puts, puts[1:]):
        assert later["detail"]["before"] == earlier["detail"]["after"], "an update was written over one it did not read"
    stored = httpx.get(f"{server.url}/v1/rounds/2032/wishes", headers=headers).json()
    assert float(stored[0]["amount_permille"]) == float(puts[-1]["detail"]["after"]["amount_permille"])


def test_simultaneous_finalisations_have_one_winner_and_later_wishes_are_refused(server):
    headers = {"Authorization": f"Bearer {server.token()}"}
    base = server.url
    assert httpx.post(f"{base}/v1/rounds", json={"year": 2033}, headers=headers).status_code == 201
    for code, body in [("2262", {"wish": "give", "amount_permille": "1.05"}),
                       ("2260", {"wish": "receive", "amount_permille": "5.00"})]:
        assert httpx.put(f"{base}/v1/rounds/2033/wishes/{code}", json=body, headers=headers).status_code == 201
    proposals = []
    for _ in range(2):
        job = httpx.post(f"{base}/v1/rounds/2033/proposals", json={}, headers=headers).json()
        while job["state"] in ("queued", "running"):  # polled until the job says it is done, no clock involved
            job = httpx.get(f"{base}/v1/jobs/{job['id']}", headers=headers, timeout=60).json()
        assert job["state"] == "done", job
        proposals.append(job["proposal_id"])

    def race(http: httpx.Client, i: int) -> httpx.Response:
        if i < 4:
            return http.post(f"{base}/v1/rounds/2033/finalise", json={"proposal_id": proposals[i % 2]},
                             headers=headers)
        return http.put(f"{base}/v1/rounds/2033/wishes/0180", json={"wish": "receive", "amount_permille": "1.00"},
                        headers=headers)

    answers = at_once(8, race)
    finals = [a for a in answers[:4]]
    assert Counter(a.status_code for a in finals) == {200: 1, 409: 3}, [a.text for a in finals]
    winner = next(a.json() for a in finals if a.status_code == 200)
    assert {a.status_code for a in answers[4:]} <= {200, 201, 409}
    found = httpx.get(f"{base}/v1/rounds/2033", headers=headers).json()
    assert found["finalised_proposal_id"] == winner["finalised_proposal_id"]
    for wish in httpx.get(f"{base}/v1/rounds/2033/wishes", headers=headers).json():
        assert wish["updated_at"] <= found["finalised_at"], "a wish was stored after the round was finalised"
    trail = httpx.get(f"{base}/v1/audit", params={"year": 2033, "limit": 100}, headers=headers).json()
    assert [e["action"] for e in trail].count("round.finalised") == 1

"""A 2xx means committed: against the real server process, a write is visible to the very next request, and it
survives a kill -9 sent the moment its answer arrives. On SQLite and (under `make test`) PostgreSQL."""

from __future__ import annotations

import threading

import httpx

from solver.sweep import generated_wishes

ROUNDS = 12


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


def test_writes_from_many_threads_survive_a_kill_and_nothing_is_half_applied(server):
    """Four writers PUT wishes as fast as the server answers; the server is killed while they write. Every wish
    acknowledged with 2xx is there after the restart with its audit entry, and every stored wish has one."""
    headers = {"Authorization": f"Bearer {server.token()}"}
    httpx.post(f"{server.url}/v1/rounds", json={"year": 2050}, headers=headers, timeout=60).raise_for_status()
    codes = ["0114", "0115", "0117", "0120", "0123", "0125", "0126", "0127"]
    acknowledged: dict[str, str] = {}
    sent: dict[str, str] = {}  # the last amount sent per municipality (each is written by one thread, in turn)
    lock = threading.Lock()
    enough = threading.Event()

    def writer(mine: list[str]) -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            for step in range(1, 10_000):  # bounded; ends at the kill
                code = mine[step % len(mine)]
                amount = f"{step % 90 + 1}.00"
                sent[code] = amount
                try:
                    res = http.put(f"/v1/rounds/2050/wishes/{code}", json={"wish": "receive", "amount_permille": amount})
                except httpx.TransportError:
                    return
                if res.status_code in (200, 201):
                    with lock:
                        acknowledged[code] = amount
                        if len(acknowledged) == len(codes):
                            enough.set()

    threads = [threading.Thread(target=writer, args=(codes[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    enough.wait(timeout=120)
    server.kill()
    for t in threads:
        t.join()
    server.start()
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
        stored = {w["code"]: w["amount_permille"] for w in http.get("/v1/rounds/2050/wishes").json()}
        trail = http.get("/v1/audit", params={"year": 2050, "limit": 1000}).json()
    assert set(acknowledged) <= set(stored)
    last_after = {}
    for entry in sorted((e for e in trail if e["action"] == "wish.put"), key=lambda e: e["id"]):
        last_after[entry["detail"]["after"]["code"]] = entry["detail"]["after"]["amount_permille"]
    # each stored wish is the last one its audit trail records (no change without its entry, none half-applied)
    assert {c: float(a) for c, a in last_after.items()} == {c: float(a) for c, a in stored.items()}
    for code, amount in acknowledged.items():
        # the acknowledged write, or the one sent after it whose answer the kill cut off
        assert stored[code] in (float(amount), float(sent[code])), (code, amount, sent[code], stored[code])


def test_a_job_running_at_a_crash_is_marked_failed_at_the_next_start(server):
    headers = {"Authorization": f"Bearer {server.token()}"}
    hard = generated_wishes(3, 80, 25)  # a round that takes its whole work limit
    body = {"wishes": hard, "policy": {"time_limit_s": 5}}
    job = httpx.post(f"{server.url}/v1/what-if", json=body, headers={**headers, "Prefer": "respond-async"},
                     timeout=60).json()
    while job["state"] == "queued":  # polled until the worker has taken it
        job = httpx.get(f"{server.url}/v1/jobs/{job['id']}", headers=headers, timeout=60).json()
    assert job["state"] == "running"
    server.kill()
    server.start()
    after = httpx.get(f"{server.url}/v1/jobs/{job['id']}", headers=headers, timeout=60).json()
    assert after["state"] == "failed" and "stopped" in after["error"]["detail"]

"""The HTTP service through the real ASGI app, on a real SQLite file (and PostgreSQL when given)."""

from __future__ import annotations

import io
import json
import re
import secrets
import threading
import time
from datetime import timedelta
from itertools import count

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from service.db import AuditRow, ProposalRow, WishRow
from solver.data import sample_wishes_path
from tests.conftest import serving

ROLES = ["agency", "county22", "county01", "viewer"]
SMALL = {"wishes": [{"code": "2262", "wish": "give", "amount_permille": "all"},
                    {"code": "2260", "wish": "receive", "amount_permille": 3}], "policy": {"time_limit_s": 1}}


def wait_job(svc, job_id, who="agency", timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = svc.client.get(f"/v1/jobs/{job_id}", headers=svc.as_(who)).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def open_round(svc, year=2027):
    c, agency = svc.client, svc.as_("agency")
    assert c.post("/v1/rounds", json={"year": year}, headers=agency).status_code == 201
    for body in SMALL["wishes"]:
        code = body["code"]
        assert c.put(f"/v1/rounds/{year}/wishes/{code}", json={k: v for k, v in body.items() if k != "code"},
                     headers=agency).status_code == 201


def propose(svc, year=2027, policy=None):
    res = svc.client.post(f"/v1/rounds/{year}/proposals", json={"policy": policy or {"time_limit_s": 1}},
                          headers=svc.as_("agency"))
    assert res.status_code == 202, res.text
    job = wait_job(svc, res.json()["id"])
    assert job["state"] == "done", job
    return job["proposal_id"]


# --- every route × every role -----------------------------------------------------------------------------

SIMULATION = {"parameters": {"replicates": 5, "years": 1}}


def _routes(svc, proposal_id, job_id, simulation_id=1, sweep_id=1):
    years = count(2040)
    c, agency = svc.client, svc.as_("agency")

    def restore_wish():
        c.put("/v1/rounds/2027/wishes/2281", json={"wish": "give", "amount_permille": 0.5}, headers=agency)

    everyone = set(ROLES)
    officers = {"agency", "county22", "county01"}
    return [
        # method, path, body (or a callable giving it), allowed roles, success statuses, preparation
        ("GET", "/v1/municipalities?county=22", None, everyone, {200}, None),
        ("GET", "/v1/counties", None, everyone, {200}, None),
        ("GET", "/v1/shares", None, everyone, {200}, None),
        ("GET", "/v1/rounds", None, everyone, {200}, None),
        ("GET", "/v1/rounds/2027", None, everyone, {200}, None),
        ("GET", "/v1/rounds/2027/shares", None, everyone, {200}, None),
        ("GET", "/v1/rounds/2027/wishes?county=22", None, everyone, {200}, None),
        ("POST", "/v1/rounds", lambda: {"year": next(years)}, {"agency"}, {201}, None),
        ("PUT", "/v1/rounds/2027/wishes/2281", {"wish": "give", "amount_permille": 0.5}, {"agency", "county22"},
         {200, 201}, None),
        ("DELETE", "/v1/rounds/2027/wishes/2281", None, {"agency", "county22"}, {204}, restore_wish),
        ("POST", "/v1/what-if", SMALL, officers, {200}, None),
        ("POST", "/v1/rounds/2027/proposals", {"policy": {"time_limit_s": 0.5}}, {"agency"}, {202}, None),
        ("GET", "/v1/rounds/2027/proposals", None, everyone, {200}, None),
        ("GET", f"/v1/proposals/{proposal_id}", None, everyone, {200}, None),
        ("GET", f"/v1/proposals/{proposal_id}/export?format=csv", None, everyone, {200}, None),
        ("GET", f"/v1/proposals/{proposal_id}/export?format=xlsx", None, everyone, {200}, None),
        ("GET", f"/v1/proposals/{proposal_id}/report.pdf", None, everyone, {200}, None),
        ("GET", f"/v1/jobs/{job_id}", None, {"agency"}, {200}, None),
        ("DELETE", f"/v1/jobs/{job_id}", None, {"agency"}, {200}, None),
        ("POST", "/v1/rounds/2099/finalise", {"proposal_id": proposal_id}, {"agency"}, {404}, None),
        ("GET", "/v1/audit", None, {"agency"}, {200}, None),
        ("POST", "/v1/simulations", SIMULATION, {"agency"}, {201}, None),
        ("GET", f"/v1/simulations/{simulation_id}", None, everyone, {200}, None),
        ("POST", "/v1/sweeps", SWEEP, {"agency", "viewer"}, {202}, None),
        ("GET", f"/v1/sweeps/{sweep_id}", None, {"agency", "viewer"}, {200}, None),
        ("GET", f"/v1/sweeps/{sweep_id}/results?format=csv", None, {"agency", "viewer"}, {200}, None),
    ]


def test_every_route_for_every_role(service):
    open_round(service)
    proposal_id = propose(service)
    job_id = service.client.post("/v1/what-if", json=SMALL, headers={**service.as_("agency"),
                                                                      "Prefer": "respond-async"}).json()["id"]
    wait_job(service, job_id)
    assert service.client.post("/v1/simulations", json=SIMULATION, headers=service.as_("agency")).status_code == 201
    sweep = service.client.post("/v1/sweeps", json=SWEEP, headers=service.as_("agency"))
    assert sweep.status_code == 202
    wait_job(service, sweep.json()["job_id"])
    seen = []
    for method, path, body, allowed, ok, prepare in _routes(service, proposal_id, job_id):
        for who in ["nobody", "forged", *ROLES]:
            if prepare is not None and who in allowed:
                prepare()
            payload = body() if callable(body) else body
            res = service.client.request(method, path, json=payload, headers=service.as_(who))
            if who in ("nobody", "forged"):
                expected = {401}
            elif who not in allowed:
                # a county officer outside its county is refused (403); another token's job is not revealed (404)
                expected = {404} if path.startswith("/v1/jobs/") else {403}
            else:
                expected = ok
            seen.append((method, path, who, res.status_code))
            assert res.status_code in expected, (method, path, who, res.status_code, res.text)
            if res.status_code == 401:
                assert res.headers["WWW-Authenticate"] == "Bearer"
    # the matrix leaves no operation of the API out
    import re

    tried = {(method, path.split("?")[0]) for method, path, *_ in seen}
    for template, operations in service.client.app.openapi()["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        for method in operations:
            if template.startswith("/v1/"):
                assert any(m == method.upper() and pattern.match(p) for m, p in tried), (method, template)


def test_the_routes_prepared_at_start_leave_no_request_behind(service):
    """At start the app routes one request through every router so that the first real request does not wait
    for FastAPI to prepare them; it passes no middleware, so the metrics count no request."""
    counted = [line for line in service.client.get("/metrics").text.splitlines()
               if line.startswith("andelstal_http_request_seconds_count")]
    assert not [line for line in counted if 'code="404"' in line or 'route="unmatched"' in line]


def test_health_and_metrics_need_no_token(service):
    assert service.client.get("/healthz").json()["status"] == "ok"
    service.client.post("/v1/what-if", json=SMALL, headers=service.as_("county22"))
    text = service.client.get("/metrics").text
    assert 'andelstal_solves_total{kind="what-if",termination="optimal"} 1.0' in text
    assert 'route="/v1/what-if"' in text


# --- a whole round, as the agency and the county boards play it --------------------------------------------

def test_full_round_end_to_end(service):
    c = service.client
    agency = service.as_("agency")
    assert c.post("/v1/rounds", json={"year": 2027}, headers=agency).status_code == 201
    sample = json.loads(sample_wishes_path().read_text(encoding="utf-8"))["wishes"]
    county_of = {m["code"]: m["county_code"] for m in c.get("/v1/municipalities", headers=agency).json()}
    officers = {}
    for wish in sample:
        county = county_of[wish["code"]]
        if county not in officers:  # each county board gets its own token, as in production
            from service.auth import Role, create_token

            with service.runtime.sessions.begin() as session:
                officers[county] = create_token(session, service.runtime.settings.secret, name=f"county {county}",
                                                role=Role.COUNTY, county_code=county)[1]
        body = {k: v for k, v in wish.items() if k != "code"}
        res = c.put(f"/v1/rounds/2027/wishes/{wish['code']}", json=body,
                    headers={"Authorization": f"Bearer {officers[county]}"})
        assert res.status_code == 201, res.text
    listed = c.get("/v1/rounds/2027/wishes", headers=agency).json()
    assert sorted(w["code"] for w in listed) == sorted(w["code"] for w in sample)
    assert {w["code"] for w in c.get("/v1/rounds/2027/wishes?county=22", headers=agency).json()} == {
        w["code"] for w in sample if county_of[w["code"]] == "22"}

    proposal_id = propose(service, policy={"time_limit_s": 1})
    stored = c.get(f"/v1/proposals/{proposal_id}", headers=service.as_("viewer")).json()
    data = stored["proposal"]
    assert data["status"]["solution"] in ("optimal", "feasible")
    assert sum(round(r["proposed_permille"] * 100) for r in data["shares"]) == 100_000
    assert stored["inputs"]["policy"]["time_limit_s"] == 1
    assert len(stored["inputs"]["wishes"]) == len(sample)
    assert c.get("/v1/rounds/2027", headers=agency).json()["state"] == "proposed"

    res = c.post("/v1/rounds/2027/finalise", json={"proposal_id": proposal_id}, headers=agency)
    assert res.status_code == 200 and res.json()["state"] == "finalised"
    assert res.json()["finalised_proposal_id"] == proposal_id

    xlsx = c.get(f"/v1/proposals/{proposal_id}/export?format=xlsx", headers=service.as_("county22"))
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert ["Andelstal", "Överföringar", "Önskemål", "Inställningar", "Status"] == book.sheetnames
    rows = list(book["Andelstal"].iter_rows(values_only=True))
    assert rows[0][:3] == ("Kod", "Kommun", "Län") and len(rows) == 291
    assert sum(round(r[5] * 100) for r in rows[1:]) == 100_000
    english = c.get(f"/v1/proposals/{proposal_id}/export?format=xlsx&language=en", headers=agency)
    assert load_workbook(io.BytesIO(english.content), read_only=True).sheetnames[0] == "Shares"
    swedish = c.get(f"/v1/proposals/{proposal_id}/export?format=csv&language=sv&convention=sv", headers=agency)
    assert swedish.content.startswith(b"\xef\xbb\xbfKod;Kommun;L")
    transfers = list(book["Överföringar"].iter_rows(values_only=True))[1:]
    assert [(t[0], t[3], t[6]) for t in transfers] == [(t["giver"], t["receiver"], t["permille"])
                                                       for t in data["transfers"]]
    csv_text = c.get(f"/v1/proposals/{proposal_id}/export?format=csv", headers=agency).text
    assert csv_text.splitlines()[0].startswith("code,name,county_code")

    # the round is closed: no wish changes, no new proposals, no second finalisation
    closed = [c.put("/v1/rounds/2027/wishes/0114", json={"wish": "give", "amount_permille": 1}, headers=agency),
              c.delete("/v1/rounds/2027/wishes/2262", headers=agency),
              c.post("/v1/rounds/2027/proposals", json={}, headers=agency),
              c.post("/v1/rounds/2027/finalise", json={"proposal_id": proposal_id}, headers=agency)]
    assert [r.status_code for r in closed] == [409, 409, 409, 409]

    actions = [a["action"] for a in c.get("/v1/audit?year=2027&limit=1000", headers=agency).json()]
    assert actions.count("wish.put") == len(sample)
    assert actions[0] == "round.finalised" and actions[-1] == "round.created"
    assert {"proposal.requested", "proposal.created"} <= set(actions)


# --- bad input, conflicts, limits ----------------------------------------------------------------------------

def _state(svc):
    with svc.runtime.sessions() as session:
        wishes = [(w.code, w.wish, w.amount, w.partner) for w in session.scalars(select(WishRow))]
        audit = len(session.scalars(select(AuditRow.id)).all())
    return wishes, audit


@pytest.mark.parametrize("body, where, words", [
    ({"wish": "give", "amount_permille": 0.123}, ["body", "amount_permille"], "more than two decimals"),
    ({"wish": "give", "amount_permille": 99}, ["body", "amount_permille"], "more than its share"),
    ({"wish": "give", "amount_permille": 0.5, "partner": "0114"}, ["body", "partner"], "has no wish to receive"),
    ({"wish": "lend", "amount_permille": 1}, ["body", "wish"], None),
    ({"wish": "give", "amount_permille": -1}, ["body", "amount_permille"], None),
    ({"wish": "give", "amount_permille": 1, "colour": "red"}, ["body", "colour"], None),
])
def test_bad_wish_is_refused_with_its_field_and_changes_nothing(service, body, where, words):
    open_round(service)
    before = _state(service)
    res = service.client.put("/v1/rounds/2027/wishes/2262", json=body, headers=service.as_("agency"))
    assert res.status_code == 422, res.text
    problems = res.json()["detail"]
    assert any(p["loc"][:len(where)] == where or p["loc"][-1] == where[-1] for p in problems), problems
    if words:
        assert any(words in p["msg"] and "2262" in p["msg"] for p in problems), problems
    assert _state(service) == before


def test_what_if_reports_every_problem_of_the_wish_set(service):
    body = {"wishes": [{"code": "9999", "wish": "give", "amount_permille": 1},
                       {"code": "0114", "wish": "give", "amount_permille": 1},
                       {"code": "0114", "wish": "receive", "amount_permille": 1},
                       {"code": "2262", "wish": "give", "amount_permille": 80}]}
    res = service.client.post("/v1/what-if", json=body, headers=service.as_("county22"))
    assert res.status_code == 422
    text = json.dumps(res.json())
    assert "9999" in text and "gives and receives" in text and "more than its share" in text


def test_infeasible_request_is_a_normal_answer_with_a_diagnosis(service):
    body = {"wishes": [{"code": "2262", "wish": "give", "amount_permille": "all", "partner": "2260"},
                       {"code": "2260", "wish": "receive", "amount_permille": 0.5}],
            "policy": {"binding_agreements": True, "time_limit_s": 1}}
    res = service.client.post("/v1/what-if", json=body, headers=service.as_("agency"))
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["status"] == {"termination": "infeasible", "solution": "none"}
    assert data["diagnosis"] and "2262" in data["diagnosis"][0]["text_en"]


def test_unknown_things_are_404(service):
    c, agency = service.client, service.as_("agency")
    open_round(service)
    assert c.get("/v1/rounds/2031", headers=agency).status_code == 404
    assert c.get("/v1/proposals/77", headers=agency).status_code == 404
    assert c.get("/v1/jobs/" + "0" * 32, headers=agency).status_code == 404
    assert c.put("/v1/rounds/2027/wishes/9999", json={"wish": "give", "amount_permille": 1},
                 headers=agency).status_code == 404
    assert c.delete("/v1/rounds/2027/wishes/0114", headers=agency).status_code == 404
    assert c.get("/v1/municipalities?county=99", headers=agency).status_code == 404


def test_conflicts_are_409(service):
    c, agency = service.client, service.as_("agency")
    open_round(service, 2027)
    open_round(service, 2028)
    assert c.post("/v1/rounds", json={"year": 2027}, headers=agency).status_code == 409
    other = propose(service, 2028)
    res = c.post("/v1/rounds/2027/finalise", json={"proposal_id": other}, headers=agency)
    assert res.status_code == 409 and "2028" in res.json()["detail"]


def test_oversized_bodies_are_413_declared_or_streamed(tmp_path):
    with serving(tmp_path, max_body_bytes=2000) as svc:
        big = {"wishes": [{"code": "0114", "wish": "give", "amount_permille": 1}] * 100}
        res = svc.client.post("/v1/what-if", json=big, headers=svc.as_("agency"))
        assert res.status_code == 413
        chunks = (b'{"wishes": [' + b" " * 1000 for _ in range(5))  # no Content-Length: counted as it arrives
        res = svc.client.post("/v1/what-if", content=chunks, headers={**svc.as_("agency"),
                                                                     "Content-Type": "application/json"})
        assert res.status_code == 413
        assert svc.client.post("/v1/what-if", json=SMALL, headers=svc.as_("agency")).status_code == 200


def test_time_limits_are_clamped_by_the_server(tmp_path):
    with serving(tmp_path, max_time_limit_s=0.5, sync_time_limit_s=0.5) as svc:
        data = svc.client.post("/v1/what-if", json={**SMALL, "policy": {"time_limit_s": 3000}},
                               headers=svc.as_("agency")).json()
        assert data["policy"]["time_limit_s"] == 0.5


def _slow_national(time_limit_s: float) -> dict:
    """A what-if of the national sample without the one-receiver rule: the full model searches its whole work
    limit (16 s on the benchmark machine at 5)."""
    sample = json.loads(sample_wishes_path().read_text(encoding="utf-8"))
    return {"wishes": sample["wishes"], "policy": {"time_limit_s": time_limit_s, "one_receiver": False}}


def test_long_what_if_is_a_job_that_can_be_polled_and_cancelled(service):
    c = service.client
    officer = service.as_("county22")
    res = c.post("/v1/what-if", json=SMALL, headers={**officer, "Prefer": "respond-async"})
    assert res.status_code == 202 and res.headers["Location"] == f"/v1/jobs/{res.json()['id']}"
    job = wait_job(service, res.json()["id"], "county22")
    assert job["state"] == "done" and job["result"]["transfers"][0]["giver"] == "2262"
    assert c.get(f"/v1/jobs/{job['id']}", headers=service.as_("county01")).status_code == 404

    slow = _slow_national(5)
    job_id = c.post("/v1/what-if", json=slow, headers={**officer, "Prefer": "respond-async"}).json()["id"]
    time.sleep(0.3)
    started = time.monotonic()
    assert c.delete(f"/v1/jobs/{job_id}", headers=officer).status_code == 200
    job = wait_job(service, job_id, "county22")
    assert job["state"] == "cancelled" and job["result"] is None
    assert time.monotonic() - started < 5  # it stopped inside the search, not after it


def test_a_what_if_holds_no_database_connection_while_it_is_solved(service):
    # the token is looked up in a session of its own: a request that waits for its solve would otherwise keep a
    # pooled connection, and with more waiting requests than the pool holds, the next one waits for a connection
    slow = _slow_national(1)
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(
        res=service.client.post("/v1/what-if", json=slow, headers=service.as_("county22"))))
    thread.start()
    deadline = time.monotonic() + 30
    while not service.runtime.flights and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        assert service.runtime.flights, "the what-if was not being solved"
        assert service.runtime.engine.pool.checkedout() == 0
    finally:
        thread.join()
    assert answer["res"].status_code == 200


def test_a_simulation_holds_no_database_connection_while_it_waits_for_a_solve_thread(service):
    # a small simulation of a stored proposal is answered directly: it reads the proposal, waits for a solve thread
    # (here every one is busy) and runs there, and only then stores its result, each in a session of its own
    open_round(service)
    proposal_id = propose(service)
    runtime = service.runtime
    release = threading.Event()
    busy = [runtime.batch.submit(release.wait) for _ in range(runtime.settings.batch_workers)]
    answer = {}
    body = {"proposal_id": proposal_id, "parameters": {"replicates": 2, "years": 1, "arrivals": [100]}}
    thread = threading.Thread(target=lambda: answer.update(
        res=service.client.post("/v1/simulations", json=body, headers=service.as_("agency"))))
    thread.start()
    deadline = time.monotonic() + 30
    while runtime.batch._work_queue.empty() and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        assert not runtime.batch._work_queue.empty(), "the simulation did not wait for a batch thread"
        assert runtime.engine.pool.checkedout() == 0
    finally:
        release.set()
        thread.join()
    assert all(f.result() for f in busy)
    assert answer["res"].status_code == 201, answer["res"].text
    assert answer["res"].json()["result"]["scenario"] == f"proposal {proposal_id}"


def test_stored_proposals_cannot_be_changed(service):
    open_round(service)
    proposal_id = propose(service)
    with service.runtime.sessions() as session:
        row = session.get(ProposalRow, proposal_id)
        row.result = {"tampered": True}
        with pytest.raises(RuntimeError, match="cannot be changed"):
            session.commit()


def test_migrations_build_exactly_the_declared_tables(service):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from service.db import Base

    with service.runtime.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_production_refuses_the_development_secret_and_hides_docs(tmp_path):
    from service.app import create_app
    from service.settings import Settings, SettingsError

    for environment in ("production", "test"):
        with pytest.raises(SettingsError, match="ANDELSTAL_SECRET"):
            Settings.from_env({"ANDELSTAL_ENV": environment})
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env({"ANDELSTAL_ENV": "production", "ANDELSTAL_SECRET": "short"})
    for weak in (" " * 32, "s" * 40, "abcdefgh" * 5, secrets.token_hex(32) + " "):
        with pytest.raises(SettingsError, match="fewer than 10 different characters"):
            Settings.from_env({"ANDELSTAL_ENV": "production", "ANDELSTAL_SECRET": weak})
    assert Settings.from_env({}).environment == "development"  # the default may run on the development secret
    settings = Settings.from_env({"ANDELSTAL_ENV": "production", "ANDELSTAL_SECRET": secrets.token_hex(32),
                                  "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})
    from fastapi.testclient import TestClient

    from service.auth import Role, create_token

    with TestClient(create_app(settings)) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/healthz").status_code == 200
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/metrics").status_code == 401
        with client.app.state.runtime.sessions.begin() as session:
            token = create_token(session, settings.secret, name="viewer", role=Role.VIEWER, county_code=None)[1]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/openapi.json", headers=headers).json()["info"]["title"] == "andelstal"
        assert "andelstal_http_request_seconds" in client.get("/metrics", headers=headers).text


def test_expired_tokens_are_refused_and_use_is_recorded(service):
    from service.auth import Role, create_token
    from service.db import Token, now

    with service.runtime.sessions.begin() as session:
        _, gone = create_token(session, service.runtime.settings.secret, name="old", role=Role.VIEWER,
                               county_code=None, expires_at=now() - timedelta(seconds=1))
        row, fresh = create_token(session, service.runtime.settings.secret, name="new", role=Role.VIEWER,
                                  county_code=None, expires_at=now() + timedelta(days=1))
        fresh_id = row.id
    answer = service.client.get("/v1/counties", headers={"Authorization": f"Bearer {gone}"})
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    assert service.client.get("/v1/counties", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    with service.runtime.sessions() as session:
        assert session.get(Token, fresh_id).last_used_at is not None


def test_tokens_are_stored_only_as_hashes(service):
    from service.db import Token

    with service.runtime.sessions() as session:
        digests = [t.digest for t in session.scalars(select(Token))]
    assert len(digests) == 4
    for plain in service.tokens.values():
        assert all(plain not in d for d in digests) and len(plain) > 40


def test_concurrent_equal_what_if_requests_share_one_solve(service):
    """Equal requests that arrive while the first is being solved wait for its answer: one solve, the same
    answer for all, the others counted as cache hits."""
    from concurrent.futures import ThreadPoolExecutor

    c, officer = service.client, service.as_("county22")
    body = {**SMALL, "policy": {"time_limit_s": 1, "forecast": 777}}
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: c.post("/v1/what-if", json=body, headers=officer), range(6)))
    assert [a.status_code for a in answers] == [200] * 6
    bodies = [a.json() for a in answers]
    assert sum("cached" not in b["solver"] for b in bodies) == 1
    for b in bodies:
        b["solver"].pop("cached", None)
    assert all(b == bodies[0] for b in bodies)
    text = c.get("/metrics").text
    assert 'andelstal_solves_total{kind="what-if",termination="optimal"} 1.0' in text
    assert "andelstal_whatif_cache_hits_total 5.0" in text


def test_equal_what_if_requests_are_solved_once(service):
    c, officer = service.client, service.as_("county22")
    first = c.post("/v1/what-if", json=SMALL, headers=officer).json()
    second = c.post("/v1/what-if", json=SMALL, headers=service.as_("agency")).json()
    assert "cached" not in first["solver"] and second["solver"].pop("cached") is True
    assert second == first
    other = c.post("/v1/what-if", json={**SMALL, "policy": {"time_limit_s": 1, "forecast": 900}}, headers=officer).json()
    assert "cached" not in other["solver"]
    text = c.get("/metrics").text
    assert 'andelstal_solves_total{kind="what-if",termination="optimal"} 2.0' in text
    assert "andelstal_whatif_cache_hits_total 1.0" in text


def test_simulations_small_answered_large_as_jobs(tmp_path):
    with serving(tmp_path, sync_simulation_children=50_000) as svc:
        c, agency = svc.client, svc.as_("agency")
        open_round(svc)
        proposal_id = propose(svc)
        res = c.post("/v1/simulations", json={"proposal_id": proposal_id, "against": "base",
                                              "parameters": {"replicates": 20, "years": 1, "arrivals": [400]}},
                     headers=agency)
        assert res.status_code == 201, res.text
        result = res.json()["result"]
        assert result["scenario"] == f"proposal {proposal_id}" and "comparison" in result
        assert len(result["municipalities"]) == 290
        big = c.post("/v1/simulations", json={"parameters": {"replicates": 200}, "stress": [2]}, headers=agency)
        assert big.status_code == 202
        job = wait_job(svc, big.json()["id"], "agency")
        assert job["state"] == "done" and job["links"]["simulation"] == f"/v1/simulations/{job['simulation_id']}"
        stored = c.get(job["links"]["simulation"], headers=svc.as_("viewer")).json()
        assert stored["result"]["stress"][0]["factor"] == 2
        bad = c.post("/v1/simulations", json={"parameters": {"tie_share": 2}}, headers=agency)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "tie_share"
        missing = c.post("/v1/simulations", json={"proposal_id": 999}, headers=agency)
        assert missing.status_code == 404


SWEEP = {"grid": {"policy": {"objective": "weighted", "weights.population": [0.0, 1.0], "scope": "county"},
                  "wishes": {"sets": {"small": SMALL["wishes"]}},
                  "scenarios": {"forecast": [500], "stress": [1]},
                  "simulate": {"replicates": 10, "years": 1}}}


def test_a_sweep_runs_as_a_job_with_progress_and_results(service):
    c = service.client
    res = c.post("/v1/sweeps", json=SWEEP, headers=service.as_("viewer"))
    assert res.status_code == 202, res.text
    sweep = res.json()
    assert sweep["total"] == 2 and res.headers["Location"] == f"/v1/sweeps/{sweep['id']}"
    job = wait_job(service, sweep["job_id"], "viewer")
    assert job["state"] == "done" and job["links"]["sweep"] == f"/v1/sweeps/{sweep['id']}"
    done = c.get(f"/v1/sweeps/{sweep['id']}", headers=service.as_("agency")).json()
    assert done["done"] == 2 and done["state"] == "done" and done["pareto"]
    rows = c.get(f"/v1/sweeps/{sweep['id']}/results", headers=service.as_("viewer")).json()["rows"]
    assert len(rows) == 2 and {r["solution"] for r in rows} == {"optimal"}
    parquet = c.get(f"/v1/sweeps/{sweep['id']}/results?format=parquet", headers=service.as_("viewer"))
    import io

    import pyarrow.parquet as pq

    assert pq.read_table(io.BytesIO(parquet.content)).num_rows == 2
    assert c.get(f"/v1/sweeps/{sweep['id']}/results?format=csv", headers=service.as_("viewer")).text.startswith("point,")
    assert c.post("/v1/sweeps", json=SWEEP, headers=service.as_("county22")).status_code == 403
    files = {"grid": {**SWEEP["grid"], "wishes": {"files": ["/etc/passwd"]}}}
    assert c.post("/v1/sweeps", json=files, headers=service.as_("agency")).status_code == 422


def test_amounts_are_strict_and_whole_numbers_stay_whole(service):
    c, agency = service.client, service.as_("agency")
    assert c.post("/v1/rounds", json={"year": 2036}, headers=agency).status_code == 201
    for bad in (True, " 1.5 ", "1e3", "1,5", -1):
        res = c.put("/v1/rounds/2036/wishes/2260", json={"wish": "receive", "amount_permille": bad}, headers=agency)
        assert res.status_code == 422, (bad, res.text)
    assert c.get("/v1/rounds/2036/wishes", headers=agency).json() == []  # nothing was stored
    for good, stored in (("1.50", 1.5), (2, 2.0), (0.25, 0.25)):
        res = c.put("/v1/rounds/2036/wishes/2260", json={"wish": "receive", "amount_permille": good}, headers=agency)
        assert res.status_code in (200, 201) and res.json()["amount_permille"] == stored
    grid = {"grid": {**SWEEP["grid"], "policy": {**SWEEP["grid"].get("policy", {}), "seed": 1}}}
    res = c.post("/v1/sweeps", json=grid, headers=agency)
    assert res.status_code == 202, res.text
    wait_job(service, res.json()["job_id"], "agency")


def test_sweep_folders_of_two_databases_do_not_collide(tmp_path):
    from tests.conftest import make_service

    names = []
    for name in ("a", "b"):  # two databases: the same sweep id names two folders, whatever the data folder
        (tmp_path / name).mkdir()
        svc, _ = make_service(tmp_path / name)
        names.append(svc.runtime.sweep_folder(1).name)
        svc.runtime.close()
    assert names[0] != names[1] and all(n.endswith("-1") for n in names)


def test_the_docs_page_loads_its_assets_from_the_service_itself(service):
    page = service.client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets  # nothing from another host
    for asset in assets:
        answer = service.client.get(asset)
        assert answer.status_code == 200 and answer.content


def test_a_422_lists_every_problem_of_the_body_in_the_command_lines_form(service):
    """A negative amount (the schema's finding) no longer hides the solver's findings in the other rows."""
    body = {"wishes": [{"code": "0114", "wish": "give", "amount_permille": -1},
                       {"code": "9999", "wish": "give", "amount_permille": 1},
                       {"code": "0115", "wish": "give", "amount_permille": 1},
                       {"code": "0115", "wish": "receive", "amount_permille": 1},
                       {"code": "2262", "wish": "give", "amount_permille": 80, "colour": "red"}],
            "policy": {"seed": False}}
    res = service.client.post("/v1/what-if", json=body, headers=service.as_("county22"))
    assert res.status_code == 422
    problems = res.json()["detail"]
    assert all({"where", "field", "code", "reason", "loc", "msg"} <= set(p) for p in problems), problems
    found = {(p["where"], p["field"], p["code"]) for p in problems}
    assert ("row 1", "amount_permille", "0114") in found  # the schema's
    assert ("row 5", "colour", "2262") in found  # the schema's
    assert ("body", "policy.seed", None) in found  # the schema's, outside the list
    assert any(p["where"] == "row 2" and "9999" in p["msg"] for p in problems)  # the solver's
    assert any("0115" in p["msg"] and "gives and receives" in p["msg"] for p in problems)  # the solver's
    # the message reads as the command line's (InputProblem.message)
    one = next(p for p in problems if p["where"] == "row 1")
    assert one["msg"] == f"row 1 (municipality 0114), field 'amount_permille': {one['reason']}"


def test_a_422_is_in_swedish_when_the_client_asks(service):
    body = {"wishes": [{"code": "0114", "wish": "give", "amount_permille": -1},
                       {"code": "0115", "wish": "give", "amount_permille": 1},
                       {"code": "0115", "wish": "receive", "amount_permille": 1},
                       {"code": "2262", "wish": "give", "amount_permille": 80}]}
    headers = {**service.as_("county22"), "Accept-Language": "sv-SE,sv;q=0.9,en;q=0.5"}
    problems = service.client.post("/v1/what-if", json=body, headers=headers).json()["detail"]
    assert {p["language"] for p in problems} == {"sv"}, problems
    text = " ".join(p["msg"] for p in problems)
    assert "rad 1 (kommun 0114), fält 'amount_permille': ska vara minst 0" in text
    assert "både omfördelar och tar emot samma år" in text
    assert "mer än sin andel" in text and "‰" in text
    # a wish PUT in a round, refused by the solver's check: Swedish too; English without the header
    agency = service.as_("agency")
    assert service.client.post("/v1/rounds", json={"year": 2037}, headers=agency).status_code == 201
    put = service.client.put("/v1/rounds/2037/wishes/2262", json={"wish": "give", "amount_permille": 80},
                             headers={**agency, "Accept-Language": "sv"})
    assert put.status_code == 422 and put.json()["detail"][0]["reason"].startswith("vill omfördela 80,00 ‰")
    english = service.client.put("/v1/rounds/2037/wishes/2262", json={"wish": "give", "amount_permille": 80},
                                 headers=agency).json()["detail"][0]
    assert english["language"] == "en" and english["reason"].startswith("offers 80.00‰")


def test_the_checks_of_simulations_and_sweeps_answer_in_swedish_too(service):
    headers = {**service.as_("agency"), "Accept-Language": "sv"}
    res = service.client.post("/v1/simulations", json={"parameters": {"tie_boost": {"9999": 2}}}, headers=headers)
    assert res.status_code == 422
    assert [(p["field"], p["reason"], p["language"]) for p in res.json()["detail"]] == [
        ("tie_boost.9999", "är ingen kommunkod", "sv")]
    grid = {"grid": {"policy": {"weights.population": []}, "wishes": {"sets": {"small": SMALL["wishes"]}}}}
    res = service.client.post("/v1/sweeps", json=grid, headers=headers)
    assert res.status_code == 422 and res.json()["detail"][0]["reason"] == "är en tom lista", res.text


def test_a_405_names_every_method_of_the_path(service):
    res = service.client.request("OPTIONS", "/v1/jobs/0123456789abcdef0123456789abcdef", headers=service.as_("agency"))
    assert res.status_code == 405 and res.headers["Allow"] == "DELETE, GET"
    res = service.client.request("PATCH", "/v1/rounds/2027/wishes/2262", headers=service.as_("agency"))
    assert res.status_code == 405 and res.headers["Allow"] == "DELETE, PUT"


def test_a_created_wish_is_a_documented_201(service):
    put = service.client.app.openapi()["paths"]["/v1/rounds/{year}/wishes/{code}"]["put"]["responses"]
    assert {"200", "201"} <= set(put)


def test_the_schema_states_what_only_a_giver_may_say_and_one_table_per_simulation(service):
    c, agency = service.client, service.as_("agency")
    document = c.get("/openapi.json").json()
    wish_body = document["paths"]["/v1/rounds/{year}/wishes/{code}"]["put"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert wish_body["discriminator"]["propertyName"] == "wish" and len(wish_body["oneOf"]) == 2
    # both given, and neither null: refused by the document as by the model
    assert document["components"]["schemas"]["SimulationIn"]["not"] == {
        "required": ["proposal_id", "shares"],
        "properties": {"proposal_id": {"not": {"type": "null"}}, "shares": {"not": {"type": "null"}}}}
    assert c.post("/v1/rounds", json={"year": 2039}, headers=agency).status_code == 201
    for body in ({"wish": "receive", "amount_permille": "all"}, {"wish": "receive", "amount_permille": 1,
                                                                   "partner": "2262"}):
        res = c.put("/v1/rounds/2039/wishes/2260", json=body, headers=agency)
        assert res.status_code == 422, res.text
    both = c.post("/v1/simulations", json={"proposal_id": 1, "shares": {"0114": 1.0}}, headers=agency)
    assert both.status_code == 422 and "not both" in both.text


def test_a_simulation_over_http_takes_a_history_and_the_volunteers_capacity(service, municipalities, base):
    """The command line's --history and --capacity as fields of the request, read by the same code: the target,
    not the count, decides where Ånge starts; a stated capacity is what the priority rule gives first; and bad
    rows are refused by municipality and field, in Swedish too."""
    c, agency = service.client, service.as_("agency")

    def history(ange_target: float) -> list[dict]:
        rows = []
        for m in municipalities:
            target = base.units[m.code] * 4390 / 100_000
            rows.append({"code": m.code, "allocations": 4 if m.code == "2260" else round(target), "equalising": 0,
                         "target": ange_target if m.code == "2260" else round(target, 3)})
        return rows

    parameters = {"years": 1, "arrivals": [50], "tie_share": 0, "replicates": 1}
    got = {}
    for ange in (40.0, 0.4):
        res = c.post("/v1/simulations", json={"history": history(ange), "parameters": parameters}, headers=agency)
        assert res.status_code == 201, res.text
        result = res.json()["result"]
        got[ange] = next(r["allocations_mean"] for r in result["municipalities"] if r["code"] == "2260")
        assert result["start"]["source"] == "history" and result["start"]["municipalities"] == 290
        assert result["start"]["equalising"] == 0 and result["start"]["targets"] is True
    assert got[40.0] >= 2 and got[0.4] == 0
    plain = c.post("/v1/simulations", json={"parameters": parameters}, headers=agency).json()["result"]
    assert plain["start"]["source"] == "assumed" and plain["start"]["history_children"] == 4390
    burnt = c.post("/v1/simulations", json={"parameters": {**parameters, "burn_in": [439, 439]}}, headers=agency)
    assert burnt.status_code == 201 and burnt.json()["result"]["start"]["source"] == "burn-in", burnt.text
    both = c.post("/v1/simulations", json={"history": history(40.0), "parameters": {**parameters, "burn_in": [439]}},
                  headers=agency)
    assert both.status_code == 422 and both.json()["detail"][0]["field"] == "burn_in", both.text

    priority = {**parameters, "rule": "priority"}
    room = {"volunteers": {"2260": 2.0}, "parameters": priority}  # 2‰ of 50 rounds to 0 children
    stated = c.post("/v1/simulations", json={**room, "capacity": {"2260": 7}}, headers=agency).json()["result"]
    derived = c.post("/v1/simulations", json=room, headers=agency).json()["result"]
    ange = {name: next(r["allocations_mean"] for r in res["municipalities"] if r["code"] == "2260")
            for name, res in (("stated", stated), ("derived", derived))}
    assert ange["stated"] >= 7 > ange["derived"]

    sv = {**agency, "Accept-Language": "sv"}
    rows = history(40.0)
    rows[0] = {**rows[0], "allocations": 2, "equalising": 3}
    bad = c.post("/v1/simulations", json={"history": rows, "parameters": parameters}, headers=sv)
    assert bad.status_code == 422, bad.text
    assert [(p["code"], p["field"], p["where"]) for p in bad.json()["detail"]] == [
        (rows[0]["code"], "equalising", "history row 1")]
    assert bad.json()["detail"][0]["reason"].startswith("ska vara ett helt tal från 0 till antalet anvisningar (2)")
    half = [{**r, "target": None} if i else r for i, r in enumerate(history(40.0))]
    bad = c.post("/v1/simulations", json={"history": half, "parameters": parameters}, headers=agency)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "target", bad.text
    empty = c.post("/v1/simulations", json={"history": [], "parameters": parameters}, headers=agency)
    assert empty.status_code == 422 and empty.json()["detail"][0]["field"] == "code", empty.text  # not a zero start
    bad = c.post("/v1/simulations", json={**room, "capacity": {"0180": 3}}, headers=agency)
    assert bad.status_code == 422
    assert [(p["code"], p["field"]) for p in bad.json()["detail"]] == [("0180", "capacity")]

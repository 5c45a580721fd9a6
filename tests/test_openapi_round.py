"""A whole round played against the real app, every request and every answer validated against the live
OpenAPI document by a third-party validator (openapi-core): what a generated client would meet must be in the
document. On SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict


class _Request:
    """An httpx request as openapi-core reads one."""

    def __init__(self, request: httpx.Request):
        self.host_url = f"{request.url.scheme}://{request.url.netloc.decode()}"
        self.path = request.url.path
        self.method = request.method.lower()
        self.parameters = RequestParameters(query=ImmutableMultiDict(parse_qsl(request.url.query.decode())),
                                            header=Headers(dict(request.headers)), cookie=ImmutableMultiDict({}))
        self.content_type = request.headers.get("content-type", "")
        self.body = request.content or None


class _Response:
    def __init__(self, response: httpx.Response):
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "").split(";")[0]
        self.headers = Headers(dict(response.headers))
        self.data = response.content


def test_a_whole_round_keeps_to_the_openapi_document(service):
    c = service.client
    spec = OpenAPI.from_dict(c.get("/openapi.json").json())
    seen: list[tuple[str, str, int]] = []
    problems: list[str] = []

    def validate(response: httpx.Response) -> None:
        response.read()
        request = _Request(response.request)
        seen.append((response.request.method, response.request.url.path, response.status_code))
        checks = [("response", lambda: spec.validate_response(request, _Response(response)))]
        if response.status_code not in (401, 422):  # the requests made wrong on purpose are refused by both
            checks.insert(0, ("request", lambda: spec.validate_request(request)))
        for what, check in checks:
            try:
                check()
            except Exception as exc:  # noqa: BLE001 - every kind of finding is reported, with its call
                problems.append(f"{response.request.method} {response.request.url.path} → {response.status_code}: "
                                f"{what}: {type(exc).__name__}: {exc} {getattr(exc, '__cause__', '')}")

    c.event_hooks["response"] = [validate]
    agency, county, viewer = service.as_("agency"), service.as_("county22"), service.as_("viewer")
    small = {"wishes": [{"code": "2262", "wish": "give", "amount_permille": "all"},
                        {"code": "2260", "wish": "receive", "amount_permille": 3}], "policy": {"time_limit_s": 1}}
    assert c.post("/v1/what-if", json=small, headers=county).status_code == 200
    assert c.post("/v1/rounds", json={"year": 2038}, headers=agency).status_code == 201
    assert c.post("/v1/rounds", json={"year": 2038}, headers=agency).status_code == 409
    assert c.put("/v1/rounds/2038/wishes/2262", json={"wish": "give", "amount_permille": "all"},
                 headers=county).status_code == 201
    assert c.put("/v1/rounds/2038/wishes/2260", json={"wish": "receive", "amount_permille": 2},
                 headers=county).status_code == 201
    assert c.put("/v1/rounds/2038/wishes/2260", json={"wish": "receive", "amount_permille": 3},
                 headers=county).status_code == 200
    assert c.put("/v1/rounds/2038/wishes/0180", json={"wish": "receive", "amount_permille": 3},
                 headers=county).status_code == 403
    assert c.put("/v1/rounds/2038/wishes/2260", json={"wish": "receive", "amount_permille": -3},
                 headers=county).status_code == 422
    assert c.get("/v1/rounds/2038/wishes", headers=viewer).status_code == 200
    job = c.post("/v1/rounds/2038/proposals", json={}, headers=agency)
    assert job.status_code == 202
    state = job.json()
    while state["state"] in ("queued", "running"):  # polled until done; no clock decides
        state = c.get(f"/v1/jobs/{state['id']}", headers=agency).json()
    proposal = state["proposal_id"]
    assert c.get(f"/v1/proposals/{proposal}", headers=viewer).status_code == 200
    assert c.get("/v1/rounds/2038/proposals", headers=viewer).status_code == 200
    assert c.get(f"/v1/proposals/{proposal}/export", params={"format": "csv"}, headers=viewer).status_code == 200
    misspelt = c.get(f"/v1/proposals/{proposal}/export", params={"fromat": "xlsx"}, headers=viewer)
    assert misspelt.status_code == 422 and misspelt.json()["detail"][0] | {"msg": "", "loc": []} == {
        "loc": [], "msg": "", "type": "value_error", "where": "query", "field": "fromat", "code": None,
        "reason": "is not a parameter of this operation (it has: convention, format, language)", "language": "en",
        "kind": "schema"}
    assert c.post("/v1/rounds/2038/finalise", json={"proposal_id": proposal}, headers=viewer).status_code == 403
    assert c.post("/v1/rounds/2038/finalise", json={"proposal_id": proposal}, headers=agency).status_code == 200
    assert c.put("/v1/rounds/2038/wishes/2283", json={"wish": "give", "amount_permille": 0.5},
                 headers=county).status_code == 409
    assert c.get("/v1/audit", params={"year": 2038}, headers=agency).status_code == 200
    assert c.get("/v1/audit", headers=county).status_code == 403
    assert c.get("/v1/rounds/2038", headers={}).status_code == 401
    assert c.get("/v1/rounds/2099", headers=viewer).status_code == 404
    c.event_hooks["response"] = []
    assert len(seen) >= 21  # and as many polls of the job as it took
    assert problems == [], "\n".join(problems)

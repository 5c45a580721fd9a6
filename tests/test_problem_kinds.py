"""What a 422 says of itself: `kind: schema` where the request does not match the OpenAPI document, `kind: rule`
where it does but breaks a rule of the data; and what is refused before that (no token: 401, whatever the
query). On SQLite and PostgreSQL."""

from __future__ import annotations


def _kinds(answer) -> list[tuple[str, str, str]]:
    assert answer.status_code == 422, answer.text
    return [(p["kind"], p["where"], p["field"]) for p in answer.json()["detail"]]


def test_a_share_table_missing_municipalities_is_a_rule(service):
    answer = service.client.post("/v1/what-if", json={"shares": {"0180": 1000}}, headers=service.as_("agency"))
    assert _kinds(answer) == [("rule", "body.shares", "code")]
    assert answer.json()["detail"][0]["reason"].startswith("289 municipalities are missing: 0114, 0115")


def test_a_code_of_other_digits_is_the_schemas(service):
    agency = service.as_("agency")
    answer = service.client.post("/v1/what-if", json={"shares": {"٠١٨٠": 1000}}, headers=agency)
    assert [k for k, _, _ in _kinds(answer)] == ["schema"]
    answer = service.client.post("/v1/what-if", json={"wishes": [{"code": "0180", "wish": "give",
                                                                  "amount_permille": "١"}]}, headers=agency)
    assert ("schema", "row 1", "amount_permille") in _kinds(answer)


def test_the_servers_limits_are_rules_in_both_languages(service):
    agency = {**service.as_("agency"), "Accept-Language": "sv"}
    answer = service.client.post("/v1/simulations", json={"parameters": {"replicates": 1000}, "stress": [100, 99, 98]},
                                 headers=agency)
    assert _kinds(answer) == [("rule", "parameters", "replicates")]
    problem = answer.json()["detail"][0]
    assert problem["language"] == "sv" and "barn (replikat × ankomster, med jämförelse" in problem["reason"]
    assert problem["reason"].endswith(f"servern tillåter {service.runtime.settings.max_simulation_children:,}"
                                      .replace(",", "\u00a0"))


def test_a_whole_number_may_be_written_with_a_zero_fraction_but_not_as_true(service):
    agency = service.as_("agency")
    assert service.client.post("/v1/rounds", json={"year": 2031.0}, headers=agency).status_code == 201
    assert _kinds(service.client.post("/v1/rounds", json={"year": True}, headers=agency)) == [
        ("schema", "body", "year")]


def test_no_token_is_401_before_any_parameter_is_named(service):
    answer = service.client.get("/v1/audit", params={"x": "1"})
    assert answer.status_code == 401 and "limit" not in answer.text
    answer = service.client.get("/v1/audit", params={"x": "1"}, headers=service.as_("agency"))
    assert _kinds(answer) == [("schema", "query", "x")]
    assert _kinds(service.client.get("/healthz", params={"x": "1"})) == [("schema", "query", "x")]


def test_a_simulation_may_name_neither_table_as_null(service):
    answer = service.client.post("/v1/simulations", json={"proposal_id": None, "shares": None,
                                                          "parameters": {"replicates": 1, "years": 1}},
                                 headers=service.as_("agency"))
    assert answer.status_code in (201, 202), answer.text

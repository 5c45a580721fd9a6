"""Schemathesis fuzzes every operation of the OpenAPI schema, in process, as the agency and as a county
officer: no response may be a server error, and every response must match the schema it is declared with."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import make_service

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# built at import, as schemathesis collects one test per operation from the schema; solves are clamped
# hard so that generated what-if requests stay quick
_workdir = tempfile.TemporaryDirectory(prefix="andelstal-fuzz-")
fuzzed, _ = make_service(Path(_workdir.name), max_time_limit_s=0.05, sync_time_limit_s=0.05,
                         sync_simulation_children=20_000, max_simulation_children=200_000, max_sweep_points=4,
                         batch_per_token=10_000)  # 429 is documented; here every generated job is let through
schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.client.app)


@pytest.fixture(scope="module", autouse=True)
def _service():
    agency = fuzzed.as_("agency")
    fuzzed.client.post("/v1/rounds", json={"year": 2027}, headers=agency)
    fuzzed.client.put("/v1/rounds/2027/wishes/2260", json={"wish": "receive", "amount_permille": 2}, headers=agency)
    yield
    fuzzed.runtime.close()
    _workdir.cleanup()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_and_answers_match_the_schema(case):
    for who in ("agency", "county22"):
        # no read timeout: a slow answer under load is not a failure, and none may decide the test
        case.call_and_validate(headers=fuzzed.as_(who), checks=CHECKS, timeout=None)

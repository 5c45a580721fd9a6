"""Schemathesis fuzzes every operation of the OpenAPI schema, in process, as the agency and as a county
officer, with every check it has: no server error; status codes, content types, headers and bodies as the
document declares them; schema-violating requests refused and schema-valid ones accepted; a token required
where the document asks for one; `Allow` right on 405. One check is made exact for this service: a request
that matches the document may still be refused with 422, but only for a rule the document cannot state (the
answer says so per problem, `kind: rule`), never for its shape. The stateful run follows the links
schemathesis infers from the answers (a round created, then its wishes read and written, and so on)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.failures import Failure
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import DATABASES, _drop_postgres, make_service

# built at import, as schemathesis collects one test per operation from the schema, one service per database;
# solves are clamped hard so that generated what-if requests stay quick
_workdir = tempfile.TemporaryDirectory(prefix="andelstal-fuzz-")
LIMITS = dict(max_time_limit_s=0.05, sync_time_limit_s=0.05, sync_simulation_children=20_000,
              max_simulation_children=200_000, max_sweep_points=4,
              batch_per_token=10_000)  # 429 is documented; here every generated job is let through
FUZZED = {db: make_service(Path(_workdir.name) / db, db, **LIMITS) for db in DATABASES}
ACCEPTED = {401, 403, 404, 409, 429}  # what schemathesis's own positive check lets a valid request meet


@schemathesis.check
def valid_requests_meet_only_rules(ctx, response, case) -> None:
    """positive_data_acceptance, except that a 422 whose every problem is `kind: rule` is an answer the
    document allows (the share table misses a municipality, the request is over this server's limit)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    status = response.status_code
    if status < 400 or status >= 500 or status in ACCEPTED:
        return
    if status == 422:
        kinds = {item.get("kind") for item in response.json()["detail"]}
        if kinds == {"rule"}:
            return
    raise Failure(operation=case.operation.label, title="Schema-valid request rejected",
                  message=f"{status}: {response.text[:400]}")


def _headers(service, case, who: str) -> dict[str, str] | None:
    # a case made invalid in its headers (a token left out on purpose) is sent as generated
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return None
    return service.as_(who)


@pytest.fixture(scope="module", autouse=True)
def _services():
    for service, _ in FUZZED.values():
        agency = service.as_("agency")
        service.client.post("/v1/rounds", json={"year": 2027}, headers=agency)
        service.client.put("/v1/rounds/2027/wishes/2260", json={"wish": "receive", "amount_permille": 2},
                           headers=agency)
    yield
    for service, dropped in FUZZED.values():
        service.runtime.close()
        if dropped:
            _drop_postgres(dropped)
    _workdir.cleanup()


def _every_operation(database: str):
    service = FUZZED[database][0]
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.client.app)

    @schema.parametrize()
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def test(case):
        for who in ("agency", "county22"):
            # no read timeout: a slow answer under load is not a failure, and none may decide the test
            case.call_and_validate(headers=_headers(service, case, who), timeout=None,
                                   excluded_checks=[positive_data_acceptance],
                                   additional_checks=[valid_requests_meet_only_rules])

    return test


def _sequences(database: str):
    service = FUZZED[database][0]
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.client.app)

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        """Sequences of calls along the links schemathesis infers from the document (a round created, its wishes
        written and read, a proposal job polled, ...), every answer checked as above, as the agency. Each
        sequence starts on a fresh service: the same calls then meet the same answers, as Hypothesis needs."""

        def setup(self):
            folder = Path(tempfile.mkdtemp(dir=_workdir.name))
            self.service, self.dropped = make_service(folder, database, **LIMITS)

        def teardown(self):
            self.service.runtime.close()
            if self.dropped:
                _drop_postgres(self.dropped)

        def get_call_kwargs(self, case):
            return {"headers": _headers(self.service, case, "agency"), "timeout": None, "app": self.service.client.app}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, excluded_checks=[positive_data_acceptance],
                                   additional_checks=[valid_requests_meet_only_rules], transport_kwargs=kwargs or None)

    def test():
        assert Workflow.bundles, "schemathesis found no links between the operations"
        Workflow.run(settings=settings(max_examples=30, stateful_step_count=6, deadline=None, derandomize=True,
                                       suppress_health_check=list(HealthCheck)))

    return test


test_every_check_on_every_operation_sqlite = _every_operation("sqlite")
test_stateful_sequences_keep_every_check_sqlite = _sequences("sqlite")
if "postgresql" in DATABASES:
    test_every_check_on_every_operation_postgresql = _every_operation("postgresql")
    test_stateful_sequences_keep_every_check_postgresql = _sequences("postgresql")

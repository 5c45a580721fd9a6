"""A client generated from the live OpenAPI document by a third party (openapi-python-client) drives a whole
round against the real server (a subprocess), on SQLite and PostgreSQL: every answer it meets is one the
document declared, parsed into the generated models (`raise_on_unexpected_status` turns any other into an
error). What an integrator generating a client would get, tried as they would."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _generate(server, folder: Path):
    """Generate the client package from the server's document and import it (a fresh import per test)."""
    (folder / "openapi.json").write_bytes(httpx.get(f"{server.url}/openapi.json", timeout=60).content)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff pass
    # the generator knows no PDF; a client author tells it a PDF is bytes (its documented override)
    (folder / "config.json").write_text('{"content_type_overrides": {"application/pdf": "application/octet-stream"}}')
    done = subprocess.run([str(bin_dir / "openapi-python-client"), "generate", "--path", "openapi.json", "--meta",
                           "none", "--output-path", "andelstal_client", "--config", "config.json"], cwd=folder,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr  # nothing of the document skipped
    for name in [m for m in sys.modules if m == "andelstal_client" or m.startswith("andelstal_client.")]:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module("andelstal_client")
    finally:
        sys.path.remove(str(folder))


def test_a_generated_client_plays_a_whole_round(server, tmp_path):
    _generate(server, tmp_path)
    from andelstal_client import AuthenticatedClient, Client
    from andelstal_client.api.proposals import (
        create_proposal,
        export_proposal,
        proposal_report,
        read_audit,
        read_job,
        read_proposal,
        what_if,
    )
    from andelstal_client.api.rounds import create_round, finalise, list_wishes, put_wish, read_round
    from andelstal_client.models import (
        Error,
        ExportProposalFormat,
        FinaliseIn,
        GiveBody,
        HTTPValidationError,
        Job,
        ProposalBody,
        ProposalRequest,
        ReceiveBody,
        RoundIn,
        WhatIfIn,
        WishOut,
    )

    def as_(role: str, county: str | None = None) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=server.url, token=server.token(role, county), timeout=httpx.Timeout(120),
                                   raise_on_unexpected_status=True)

    agency, county, viewer = as_("agency"), as_("county", "22"), as_("viewer")

    answer = what_if.sync_detailed(client=county, body=WhatIfIn.from_dict({
        "wishes": [{"code": "2262", "wish": "give", "amount_permille": "all"},
                   {"code": "2260", "wish": "receive", "amount_permille": 3}], "policy": {"time_limit_s": 1}}))
    assert answer.status_code == 200 and isinstance(answer.parsed, ProposalBody)
    assert {t.giver for t in answer.parsed.transfers} == {"2262"}

    assert create_round.sync_detailed(client=agency, body=RoundIn(year=2038)).status_code == 201
    again = create_round.sync_detailed(client=agency, body=RoundIn(year=2038))
    assert again.status_code == 409 and isinstance(again.parsed, Error)

    made = put_wish.sync_detailed(2038, "2262", client=county, body=GiveBody.from_dict({"wish": "give",
                                                                                        "amount_permille": "all"}))
    assert made.status_code == 201 and isinstance(made.parsed, WishOut)
    put_wish.sync(2038, "2260", client=county, body=ReceiveBody(wish="receive", amount_permille=2))
    changed = put_wish.sync_detailed(2038, "2260", client=county, body=ReceiveBody(wish="receive", amount_permille=3))
    assert changed.status_code == 200 and changed.parsed.amount_permille == 3
    elsewhere = put_wish.sync_detailed(2038, "0180", client=county, body=ReceiveBody(wish="receive",
                                                                                    amount_permille=3))
    assert elsewhere.status_code == 403 and isinstance(elsewhere.parsed, Error)
    wrong = put_wish.sync_detailed(2038, "2260", client=county, body=ReceiveBody(wish="receive", amount_permille=-3))
    assert wrong.status_code == 422 and isinstance(wrong.parsed, HTTPValidationError)
    assert wrong.parsed.detail[0].field == "amount_permille" and wrong.parsed.detail[0].kind.value == "schema"
    assert [w.code for w in list_wishes.sync(2038, client=viewer)] == ["2260", "2262"]

    job = create_proposal.sync_detailed(2038, client=agency, body=ProposalRequest())
    assert job.status_code == 202 and isinstance(job.parsed, Job)
    state = job.parsed
    for _ in range(6000):  # polled until done (a pause between polls leaves the cores to the solve)
        if state.state.value not in ("queued", "running"):
            break
        time.sleep(0.05)
        state = read_job.sync(state.id, client=agency)
    assert state.state.value == "done", state
    proposal = read_proposal.sync(state.proposal_id, client=viewer)
    assert proposal.id == state.proposal_id and proposal.proposal.transfers
    csv = export_proposal.sync_detailed(state.proposal_id, client=viewer, format_=ExportProposalFormat.CSV)
    assert csv.status_code == 200 and csv.content.startswith(b"code")
    pdf = proposal_report.sync_detailed(state.proposal_id, client=viewer)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    refused = finalise.sync_detailed(2038, client=viewer, body=FinaliseIn(proposal_id=state.proposal_id))
    assert refused.status_code == 403
    assert finalise.sync_detailed(2038, client=agency, body=FinaliseIn(proposal_id=state.proposal_id)).status_code == 200
    assert read_round.sync(2038, client=viewer).state.value == "finalised"
    late = put_wish.sync_detailed(2038, "2283", client=county, body=GiveBody(wish="give", amount_permille=0.5))
    assert late.status_code == 409 and isinstance(late.parsed, Error)

    entries = read_audit.sync(client=agency, year=2038)
    assert {"round.created", "wish.put", "round.finalised"} <= {e.action for e in entries}
    assert read_audit.sync_detailed(client=county).status_code == 403
    nobody = Client(base_url=server.url, raise_on_unexpected_status=True)
    assert read_round.sync_detailed(2038, client=nobody).status_code == 401
    assert read_round.sync_detailed(2099, client=viewer).status_code == 404

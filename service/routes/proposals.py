"""What-if, proposals of a round (computed as jobs, stored for good), exports, jobs, and the audit log."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import schemas
from service.auth import Caller, Role
from service.db import AuditRow, JobRow, ProposalRow, Round, WishRow
from service.deps import ERRORS, Agency, Anyone, Officer, Runtime_, Session_, audit
from service.routes.rounds import CLOSED, NOT_FOUND, Year, get_round, require_open, share_units
from service.runtime import JobConflict, Runtime, SolveRequest
from solver.domain import parse_permille
from solver.report import shares_csv, xlsx_bytes

router = APIRouter(prefix="/v1", responses=ERRORS, tags=["proposals"])
ACCEPTED = {202: {"model": schemas.Job, "description": "the solve runs as a job; poll its link"}}
BUSY = {429: {"model": schemas.Error, "description": "the token has as many batch jobs queued or running as it may "
                                                     "(Retry-After says when to try again)"}}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def job_out(job: JobRow) -> schemas.Job:
    links = {"self": f"/v1/jobs/{job.id}"}
    if job.proposal_id is not None:
        links["proposal"] = f"/v1/proposals/{job.proposal_id}"
    if job.simulation_id is not None:
        links["simulation"] = f"/v1/simulations/{job.simulation_id}"
    if job.sweep_id is not None:
        links["sweep"] = f"/v1/sweeps/{job.sweep_id}"
    return schemas.Job(id=job.id, kind=job.kind, state=job.state, created_at=job.created_at,
                       finished_at=job.finished_at, year=job.year, proposal_id=job.proposal_id,
                       simulation_id=job.simulation_id, sweep_id=job.sweep_id, result=job.result, error=job.error,
                       links=links)


def accepted(job: JobRow) -> JSONResponse:
    return JSONResponse(job_out(job).model_dump(mode="json"), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


async def queued(rt: Runtime, who: Caller, kind: str, work, store=None) -> JSONResponse:
    """Queue `work` as a job from an async route and answer 202: in a session of its own, in the thread pool, so
    the route holds no pooled connection and does no database work on the event loop."""
    def submit() -> JSONResponse:
        with rt.sessions() as session:
            return accepted(rt.submit(session, kind=kind, token_id=who.token_id, actor=who.actor, year=None, work=work,
                                      store=store))

    return await run_in_threadpool(submit)


async def disconnected(request: Request) -> None:
    """Returns when the client has closed its connection (the body is read by then, so nothing else arrives)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


@router.post("/what-if", response_model=schemas.ProposalBody, responses={**ACCEPTED, **BUSY},
             summary="A full proposal for the posted wishes and policy; nothing is stored")
async def what_if(body: schemas.WhatIfIn, request: Request, rt: Runtime_, who: Officer,
                  prefer: Annotated[str | None, Header(max_length=200)] = None):
    wishes = [{"code": w.code, "wish": w.wish, "amount_permille": w.amount_permille, "partner": w.partner}
              for w in body.wishes]
    units = None if body.shares is None else share_units(body.shares, rt)
    solve = SolveRequest(wishes, rt.clamp(body.policy.plain()), units, body.backend)
    as_job = "respond-async" in (prefer or "").lower() or solve.policy["time_limit_s"] > rt.settings.sync_time_limit_s
    # the answer is the proposal JSON as the solver encoded it (ProposalBody documents it), sent as it is
    answer = await rt.answer(solve, who, as_job=as_job, gone=partial(disconnected, request))
    return accepted(answer) if isinstance(answer, JobRow) else Response(answer, media_type="application/json")


def _store(year: int, who: Caller, request: SolveRequest):
    def store(session: Session, data: dict[str, Any]) -> dict[str, int]:
        found = session.get(Round, year)
        if found is None or found.state == "finalised":
            raise JobConflict(f"the round {year} was finalised while the proposal was computed; nothing was stored")
        row = ProposalRow(year=year, created_by=who.actor, inputs=request.snapshot(), result=data,
                          termination=data["status"]["termination"], solution=data["status"]["solution"])
        session.add(row)
        found.state = "proposed"
        session.flush()
        audit(session, who, "proposal.created", year=year, target=f"proposal {row.id}",
              termination=row.termination, solution=row.solution, transfers=len(data["transfers"]))
        return {"proposal_id": row.id}

    return store


@router.post("/rounds/{year}/proposals", status_code=202, response_model=schemas.Job,
             responses={**NOT_FOUND, **CLOSED, **BUSY}, summary="Compute a proposal from the round's wishes (a job)")
def create_proposal(year: Year, body: schemas.ProposalRequest, rt: Runtime_, session: Session_, who: Agency):
    found = get_round(session, year)
    require_open(found)
    wishes = [r.to_input() for r in session.scalars(select(WishRow).where(WishRow.year == year).order_by(WishRow.code))]
    for w in wishes:
        if w["amount_permille"] != "all":
            w["amount_permille"] = parse_permille(w["amount_permille"]) / 100
    request = rt.validate(SolveRequest(wishes, rt.clamp(body.policy.plain()), found.base_shares, body.backend))
    audit(session, who, "proposal.requested", year=year, target=f"round {year}", policy=request.policy)
    job = rt.submit(session, kind="proposal", token_id=who.token_id, actor=who.actor, year=year,
                    work=lambda cancel: rt.solve("proposal", request, cancel), store=_store(year, who, request))
    return accepted(job)


@router.get("/rounds/{year}/proposals", response_model=list[schemas.ProposalSummary], responses={**NOT_FOUND})
def list_proposals(year: Year, session: Session_, who: Anyone):
    found = get_round(session, year)
    rows = session.scalars(select(ProposalRow).where(ProposalRow.year == year).order_by(ProposalRow.id)).all()
    return [schemas.ProposalSummary(id=r.id, year=r.year, created_at=r.created_at, created_by=r.created_by,
                                    termination=r.termination, solution=r.solution,
                                    finalised=found.finalised_proposal_id == r.id) for r in rows]


ProposalId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def get_proposal(session: Session, proposal_id: int) -> ProposalRow:
    row = session.get(ProposalRow, proposal_id)
    if row is None:
        raise HTTPException(404, f"there is no proposal {proposal_id}")
    return row


@router.get("/proposals/{proposal_id}", response_model=schemas.StoredProposal, responses={**NOT_FOUND})
def read_proposal(proposal_id: ProposalId, session: Session_, who: Anyone):
    row = get_proposal(session, proposal_id)
    found = session.get(Round, row.year)
    return schemas.StoredProposal(id=row.id, year=row.year, created_at=row.created_at, created_by=row.created_by,
                                  finalised=found is not None and found.finalised_proposal_id == row.id,
                                  inputs=row.inputs, proposal=row.result)


@router.get("/proposals/{proposal_id}/export", response_class=Response, responses={
    **NOT_FOUND, 200: {"content": {"text/csv": {}, XLSX: {}}, "description": "the share table (CSV) or every sheet"}})
def export_proposal(proposal_id: ProposalId, session: Session_, who: Anyone,
                    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
                    language: Annotated[Literal["sv", "en"] | None, Query(
                        description="headers and texts; default: machine columns for CSV, Swedish for XLSX")] = None,
                    convention: Annotated[Literal["plain", "sv"], Query(
                        description="CSV only; sv: semicolons, decimal comma and a BOM, as Swedish Excel opens it")] = "plain"):
    row = get_proposal(session, proposal_id)
    name = f"andelstal-{row.year}-proposal-{row.id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        text = shares_csv(row.result, language or "en", convention)
        body = ("\ufeff" + text) if convention == "sv" else text
        return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(xlsx_bytes(row.result, language or "sv"), media_type=XLSX, headers=headers)


@router.get("/proposals/{proposal_id}/report.pdf", response_class=Response, responses={
    **NOT_FOUND, 200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                       "description": "the decision document (beslutsunderlag), in Swedish"}})
def proposal_report(proposal_id: ProposalId, session: Session_, rt: Runtime_, who: Anyone):
    from solver.decision import decision_pdf

    row = get_proposal(session, proposal_id)
    pdf = decision_pdf(row.result, rt.municipalities, f"omgång {row.year}, förslag {row.id}")
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="beslutsunderlag-{row.year}-{row.id}.pdf"'})


JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


def get_job(session: Session, job_id: str, who: Caller) -> JobRow:
    job = session.get(JobRow, job_id)
    if job is None or (who.role is not Role.AGENCY and job.token_id != who.token_id):
        raise HTTPException(404, f"there is no job {job_id} for this token")  # others' jobs are not revealed
    return job


@router.get("/jobs/{job_id}", response_model=schemas.Job, responses={**NOT_FOUND})
def read_job(job_id: JobId, session: Session_, who: Anyone):
    return job_out(get_job(session, job_id, who))


@router.delete("/jobs/{job_id}", response_model=schemas.Job, responses={**NOT_FOUND},
               summary="Cancel a job: a queued one never starts, a running one stops before its next solve")
def cancel_job(job_id: JobId, rt: Runtime_, session: Session_, who: Anyone):
    job = get_job(session, job_id, who)
    event = rt.cancels.get(job.id)
    if job.state in ("queued", "running") and event is not None:
        event.set()
        audit(session, who, "job.cancelled", year=job.year, target=f"job {job.id}", state=job.state)
    return job_out(job)


@router.get("/audit", response_model=list[schemas.AuditEntry])
def read_audit(session: Session_, who: Agency,
               year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               before: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="entries older than this id")] = None):
    query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    if year is not None:
        query = query.where(AuditRow.year == year)
    if before is not None:
        query = query.where(AuditRow.id < before)
    return [schemas.AuditEntry(id=a.id, at=a.at, actor=a.actor, role=a.role, action=a.action, year=a.year,
                               target=a.target, detail=a.detail) for a in session.scalars(query)]

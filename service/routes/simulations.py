"""Simulations of allocations under a share table or a stored proposal; small ones answered directly.

The roles are those of proposals: the agency runs them, every role reads them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from service import schemas
from service.auth import Caller
from service.db import ProposalRow, SimulationRow
from service.deps import ERRORS, Agency, Anyone, Runtime_, Session_, audit
from service.routes.proposals import ACCEPTED, BUSY, queued
from service.routes.rounds import NOT_FOUND, share_units
from service.runtime import Runtime
from solver.domain import InputError, InputProblem
from solver.simulate import (
    arrivals_from,
    capacity_from,
    one_start,
    parse_params,
    run,
    scenario_from_proposal,
    scenario_from_table,
    start_from,
)

router = APIRouter(prefix="/v1", responses=ERRORS, tags=["simulations"])


def _prepare(body: schemas.SimulationIn, rt: Runtime, session: Session):
    """The scenario(s) and parameters of a request; InputError for anything wrong."""
    codes = {m.code for m in rt.municipalities}
    params = parse_params(body.parameters.model_dump(exclude_none=True), codes)
    volunteers = {c: round(v * 100) for c, v in (body.volunteers or {}).items()}
    if body.proposal_id is not None:
        row = session.get(ProposalRow, body.proposal_id)
        if row is None:
            raise HTTPException(404, f"there is no proposal {body.proposal_id}")
        scenario = scenario_from_proposal(row.result, rt.municipalities, f"proposal {row.id}")
        scenario.volunteers = volunteers or scenario.volunteers
        if body.parameters.arrivals is None:  # start in the proposal's year, with the forecast it used
            params = replace(params, arrivals=arrivals_from(int(row.result["policy"]["forecast"])))
    elif body.shares is not None:
        scenario = scenario_from_table(share_units(body.shares, rt), rt.municipalities, "given shares", volunteers)
    else:
        scenario = scenario_from_table(rt.illustrative.units, rt.municipalities, "today's shares (illustrative)",
                                       volunteers)
    if body.capacity is not None:
        scenario.capacity = capacity_from(({"code": c, "children": n, "_row": c} for c, n in body.capacity.items()),
                                          rt.municipalities, where="capacity")
    start = None
    if body.history is not None:
        start = start_from(({**row.model_dump(), "_row": i} for i, row in enumerate(body.history, start=1)),
                           rt.municipalities, scenario.base, where="history row", source="history")
        one_start(True, params)
    against = against_params = None
    if body.against == "base":
        against = scenario_from_table(scenario.base, rt.municipalities, "base table", scenario.volunteers)
        against.capacity = scenario.capacity  # both sides with the same stated capacity
    elif body.against is not None:
        against_params = replace(params, rule=body.against)
    scenario.validate()
    children = params.replicates * (sum(params.arrivals_by_year()) + sum(params.burn_in))
    work = children * (1 + (body.against is not None) + sum(body.stress) + len(body.stress))
    if work > rt.settings.max_simulation_children:
        limit = rt.settings.max_simulation_children
        raise InputError([InputProblem(
            "parameters", "replicates", f"the request simulates {work:,} children (replicates × arrivals, with the "
            f"comparison and stress runs); this server allows {limit:,}",
            sv=f"begäran simulerar {_tal(work)} barn (replikat × ankomster, med jämförelse och stresskörningar); "
               f"servern tillåter {_tal(limit)}")], "request")
    return scenario, params, against, against_params, start, work


@router.post("/simulations", status_code=201, response_model=schemas.SimulationOut,
             responses={**ACCEPTED, **NOT_FOUND, **BUSY}, summary="Simulate allocations (a job when large)")
async def create_simulation(body: schemas.SimulationIn, rt: Runtime_, who: Agency):
    # the database is used in sessions of their own, in the thread pool, before and after the simulation: a request
    # that waits for a solve thread, or runs on one, holds no pooled connection and blocks no other request
    def prepare():
        with rt.sessions() as session:
            return _prepare(body, rt, session)

    scenario, params, against, against_params, start, work = await run_in_threadpool(prepare)
    request = body.model_dump(mode="json")

    def compute(cancel=None) -> dict[str, Any]:
        return run(scenario, params, start=start, against=against, against_params=against_params,
                   stress_factors=body.stress)

    if work > rt.settings.sync_simulation_children:
        return await queued(rt, who, "simulation", compute, _store(who, request))
    result = await asyncio.get_running_loop().run_in_executor(rt.batch, compute)

    def save() -> schemas.SimulationOut:
        with rt.sessions() as session:
            row = _save(session, who, request, result)
            session.commit()
            return _out(row)

    return await run_in_threadpool(save)


def _save(session: Session, who: Caller, request: dict[str, Any], result: dict[str, Any]) -> SimulationRow:
    row = SimulationRow(created_by=who.actor, request=request, result=result)
    session.add(row)
    session.flush()
    audit(session, who, "simulation.created", target=f"simulation {row.id}", scenario=result["scenario"])
    return row


def _store(who: Caller, request: dict[str, Any]):
    def store(session: Session, result: dict[str, Any]) -> dict[str, int]:
        return {"simulation_id": _save(session, who, request, result).id}

    return store


def _out(row: SimulationRow) -> schemas.SimulationOut:
    return schemas.SimulationOut(id=row.id, created_at=row.created_at, created_by=row.created_by, request=row.request,
                                 result=row.result)


@router.get("/simulations/{simulation_id}", response_model=schemas.SimulationOut, responses={**NOT_FOUND})
def read_simulation(simulation_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: Session_, who: Anyone):
    row = session.get(SimulationRow, simulation_id)
    if row is None:
        raise HTTPException(404, f"there is no simulation {simulation_id}")
    return _out(row)


def _tal(n: int) -> str:
    """A whole number as Swedish writes it: thousands apart by a (non-breaking) space."""
    return f"{n:,}".replace(",", "\u00a0")

"""Sweeps of policy weightings run as jobs: post a grid, poll its progress, fetch its results.

Agency and viewer roles only (the analysts' tools); a county officer gets 403.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service import schemas
from service.auth import Caller, Role
from service.db import JobRow, SweepRow, now
from service.deps import ERRORS, Runtime_, Session_, allow, audit
from service.routes.proposals import BUSY
from service.routes.rounds import NOT_FOUND
from solver.domain import InputError, InputProblem
from solver.sweep import RESULT_FIELDS, fronts, parse_grid, run_sweep

router = APIRouter(prefix="/v1", responses=ERRORS, tags=["sweeps"])
Analyst = Annotated[Caller, Depends(allow(Role.AGENCY, Role.VIEWER))]
SweepId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _plain(body: schemas.SweepIn) -> dict[str, Any]:
    grid = body.grid.model_dump(mode="json", by_alias=True, exclude_none=True)
    grid["wishes"]["sets"] = {name: [{k: v for k, v in w.items() if v is not None} for w in rows]
                              for name, rows in grid["wishes"].get("sets", {}).items()}
    return grid


@router.post("/sweeps", status_code=202, response_model=schemas.SweepOut, responses={**BUSY},
             summary="Run a sweep of policy weightings as a job")
def create_sweep(body: schemas.SweepIn, rt: Runtime_, session: Session_, who: Analyst):
    data = _plain(body)

    def bounds(policy: dict[str, Any]) -> dict[str, Any]:
        return rt.clamp(policy)  # every point within the server's work limit

    grid = parse_grid(data, None, max_points=rt.settings.max_sweep_points, policy_bounds=bounds)
    if len(grid.points) > rt.settings.max_sweep_points:
        limit = rt.settings.max_sweep_points
        raise InputError([InputProblem("grid", "policy", f"the grid has {len(grid.points):,} points; this server "
                                       f"allows {limit:,}", sv=f"rutnätet har {len(grid.points)} punkter; servern "
                                       f"tillåter {limit}")], "request")
    row = SweepRow(created_by=who.actor, total=len(grid.points), digest=grid.digest, grid=data)
    session.add(row)
    session.flush()
    sweep_id = row.id
    folder = rt.sweep_folder(sweep_id)
    audit(session, who, "sweep.created", target=f"sweep {sweep_id}", points=len(grid.points))

    def work(cancel) -> dict[str, Any]:
        def progressed(_row: dict[str, Any]) -> None:
            with rt.sessions.begin() as s:
                s.execute(update(SweepRow).where(SweepRow.id == sweep_id).values(done=SweepRow.done + 1))

        return {"rows": run_sweep(grid, folder, workers=1, progress=False, on_row=progressed, cancel=cancel)}

    def store(s: Session, data_: dict[str, Any]) -> dict[str, int]:
        s.execute(update(SweepRow).where(SweepRow.id == sweep_id).values(results=data_["rows"], finished_at=now(),
                                                                          done=len(data_["rows"])))
        return {}

    job = rt.submit(session, kind="sweep", token_id=who.token_id, actor=who.actor, year=None, work=work, store=store,
                    sweep_id=sweep_id)
    return JSONResponse(_out(row, job).model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/v1/sweeps/{sweep_id}"})


def _get(session: Session, sweep_id: int) -> tuple[SweepRow, JobRow]:
    row = session.get(SweepRow, sweep_id)
    job = session.scalar(select(JobRow).where(JobRow.sweep_id == sweep_id)) if row is not None else None
    if row is None or job is None:
        raise HTTPException(404, f"there is no sweep {sweep_id}")
    return row, job


def _out(row: SweepRow, job: JobRow) -> schemas.SweepOut:
    links = {"self": f"/v1/sweeps/{row.id}", "job": f"/v1/jobs/{job.id}"}
    if row.results is not None:
        links["results"] = f"/v1/sweeps/{row.id}/results"
    return schemas.SweepOut(id=row.id, state=job.state, total=row.total, done=row.done, created_at=row.created_at,
                            created_by=row.created_by, finished_at=row.finished_at, job_id=job.id, error=job.error,
                            pareto=fronts(row.results) if row.results is not None else None, links=links)


@router.get("/sweeps/{sweep_id}", response_model=schemas.SweepOut, responses={**NOT_FOUND})
def read_sweep(sweep_id: SweepId, session: Session_, who: Analyst):
    return _out(*_get(session, sweep_id))


@router.get("/sweeps/{sweep_id}/results", response_class=Response, responses={
    **NOT_FOUND, 409: {"model": schemas.Error, "description": "the sweep has not finished"},
    200: {"content": {"application/json": {}, "text/csv": {}, "application/vnd.apache.parquet": {}},
          "description": "a row per point"}})
def sweep_results(sweep_id: SweepId, session: Session_, rt: Runtime_, who: Analyst,
                  format: Annotated[Literal["json", "csv", "parquet"], Query()] = "json"):
    row, job = _get(session, sweep_id)
    if row.results is None:
        raise HTTPException(409, f"sweep {sweep_id} is {job.state}; its results come when it is done")
    folder = rt.sweep_folder(sweep_id)
    name = f"andelstal-sweep-{sweep_id}"
    if format == "json":
        return JSONResponse({"fields": RESULT_FIELDS, "rows": row.results})
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=RESULT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(row.results)
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return Response((folder / "results.parquet").read_bytes(), media_type="application/vnd.apache.parquet",
                    headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'})

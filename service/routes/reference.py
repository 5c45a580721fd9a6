"""Reference data: municipalities, counties, the base share table; health and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service import schemas
from service.deps import ERRORS, Anyone, Runtime_, bearer, caller
from service.problems import unknown_query
from solver import __version__
from solver.domain import permille
from solver.shares import ShareTable

router = APIRouter(prefix="/v1", responses=ERRORS, tags=["reference"])
plain = APIRouter(tags=["operations"], dependencies=[Depends(unknown_query)])


@router.get("/municipalities", response_model=list[schemas.Municipality],
            responses={404: {"model": schemas.Error, "description": "no such county"}})
def municipalities(rt: Runtime_, who: Anyone,
                   county: Annotated[schemas.CountyCode | None, Query(description="only this county")] = None):
    rows = [m for m in rt.municipalities if county is None or m.county_code == county]
    if county is not None and not rows:
        raise HTTPException(404, f"there is no county {county}")
    return [schemas.Municipality(code=m.code, name=m.name, county_code=m.county_code, county_name=m.county_name,
                                 population=m.population) for m in rows]


@router.get("/counties", response_model=list[schemas.County])
def counties(rt: Runtime_, who: Anyone):
    out: dict[str, schemas.County] = {}
    for m in rt.municipalities:
        c = out.setdefault(m.county_code, schemas.County(code=m.county_code, name=m.county_name, municipalities=0,
                                                         population=0))
        c.municipalities += 1
        c.population += m.population
    return sorted(out.values(), key=lambda c: c.code)


def share_table(rt, table: ShareTable) -> schemas.ShareTableOut:
    return schemas.ShareTableOut(
        source=table.source, illustrative=table.illustrative, note=table.note,
        shares=[schemas.ShareRow(code=m.code, name=m.name, county_code=m.county_code,
                                 share_permille=permille(table[m.code])) for m in rt.municipalities])


@router.get("/shares", response_model=schemas.ShareTableOut, summary="The default (illustrative) base share table")
def shares(rt: Runtime_, who: Anyone):
    return share_table(rt, rt.illustrative)


@plain.get("/healthz", response_model=schemas.Health)
def healthz(rt: Runtime_):
    with rt.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return schemas.Health(status="ok", database=rt.engine.dialect.name, version=__version__)


@plain.get("/metrics", response_class=Response, responses={
    200: {"content": {"text/plain": {}}}, 401: {"model": schemas.Error, "description": "production: a token is required"}})
async def metrics(request: Request, rt: Runtime_,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]):
    """Prometheus metrics; in production only for a caller with a token (a scraper sends it as a bearer token)."""
    if rt.settings.production:
        await caller(request, rt, credentials)
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)

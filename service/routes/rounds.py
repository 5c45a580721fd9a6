"""Rounds (one per year), their wishes, and finalisation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import schemas
from service.auth import Caller, Role
from service.db import ProposalRow, Round, WishRow, now
from service.deps import ERRORS, Agency, Anyone, Officer, Runtime_, Session_, audit
from service.routes.reference import share_table
from service.runtime import Runtime
from solver.domain import InputError, Policy, format_permille, parse_permille
from solver.shares import validate_share_rows
from solver.wishes import parse_wishes

router = APIRouter(prefix="/v1", responses=ERRORS, tags=["rounds"])
Year = Annotated[int, Path(ge=2000, le=2100, description="the year the round's shares apply to")]
CodePath = Annotated[str, Path(pattern=r"^[0-9]{4}$", description="municipality code")]
NOT_FOUND = {404: {"model": schemas.Error, "description": "no such round, municipality or wish"}}
CLOSED = {409: {"model": schemas.Error, "description": "the round is finalised, or the request conflicts with it"}}


def share_units(table: dict[str, float], rt: Runtime, where: str = "body.shares") -> dict[str, int]:
    """A share table given in a body (code -> per mille) as units, validated like a file (422 when wrong)."""
    rows = [{"code": c, "share_permille": v, "_row": i} for i, (c, v) in enumerate(table.items(), start=1)]
    return validate_share_rows(rows, rt.municipalities, where).units  # an InputError is answered 422 (app.py)


def get_round(session: Session, year: int, *, lock: bool = False) -> Round:
    query = select(Round).where(Round.year == year)
    if lock:
        query = query.with_for_update()
    found = session.scalar(query)
    if found is None:
        raise HTTPException(404, f"there is no round for {year}; the agency creates it with POST /v1/rounds")
    return found


def require_open(found: Round) -> None:
    if found.state == "finalised":
        raise HTTPException(409, f"the round {found.year} is finalised (proposal {found.finalised_proposal_id}) "
                                 "and closed to changes")


def round_out(session: Session, found: Round) -> schemas.RoundOut:
    wishes = len(session.scalars(select(WishRow.code).where(WishRow.year == found.year)).all())
    proposals = list(session.scalars(select(ProposalRow.id).where(ProposalRow.year == found.year)
                                     .order_by(ProposalRow.id)).all())
    return schemas.RoundOut(year=found.year, state=found.state, created_at=found.created_at, created_by=found.created_by,
                            wishes=wishes, proposals=proposals, finalised_proposal_id=found.finalised_proposal_id,
                            finalised_at=found.finalised_at, base="illustrative" if found.base_shares is None else "given")


@router.post("/rounds", status_code=201, response_model=schemas.RoundOut, responses={**CLOSED})
def create_round(body: schemas.RoundIn, session: Session_, rt: Runtime_, who: Agency):
    if session.get(Round, body.year) is not None:
        raise HTTPException(409, f"a round for {body.year} exists already")
    units = None if body.shares is None else share_units(body.shares, rt)
    found = Round(year=body.year, state="open", base_shares=units, created_by=who.actor)
    session.add(found)
    session.flush()
    audit(session, who, "round.created", year=body.year, target=f"round {body.year}",
          base="illustrative" if units is None else "given")
    return round_out(session, found)


@router.get("/rounds", response_model=list[schemas.RoundOut])
def list_rounds(session: Session_, who: Anyone):
    return [round_out(session, r) for r in session.scalars(select(Round).order_by(Round.year)).all()]


@router.get("/rounds/{year}", response_model=schemas.RoundOut, responses={**NOT_FOUND})
def read_round(year: Year, session: Session_, who: Anyone):
    return round_out(session, get_round(session, year))


@router.get("/rounds/{year}/shares", response_model=schemas.ShareTableOut, responses={**NOT_FOUND})
def round_shares(year: Year, session: Session_, rt: Runtime_, who: Anyone):
    found = get_round(session, year)
    return share_table(rt, rt.base_table(found.base_shares, f"round {year}"))


def wish_out(rt: Runtime, row: WishRow) -> schemas.WishOut:
    m = next(m for m in rt.municipalities if m.code == row.code)
    amount: Any = row.amount if row.amount == "all" else float(row.amount)
    return schemas.WishOut(code=row.code, name=m.name, county_code=m.county_code, wish=row.wish, amount_permille=amount,
                           partner=row.partner, updated_at=row.updated_at, updated_by=row.updated_by)


@router.get("/rounds/{year}/wishes", response_model=list[schemas.WishOut], responses={**NOT_FOUND})
def list_wishes(year: Year, session: Session_, rt: Runtime_, who: Anyone,
                county: Annotated[schemas.CountyCode | None, Query(description="only this county")] = None):
    get_round(session, year)
    county_of = {m.code: m.county_code for m in rt.municipalities}
    rows = session.scalars(select(WishRow).where(WishRow.year == year).order_by(WishRow.code)).all()
    return [wish_out(rt, r) for r in rows if county is None or county_of[r.code] == county]


def may_change(rt: Runtime, who: Caller, code: str) -> None:
    """Known municipality, and a county officer only in their own county."""
    county = next((m.county_code for m in rt.municipalities if m.code == code), None)
    if county is None:
        raise HTTPException(404, f"there is no municipality {code}")
    if who.role is Role.COUNTY and who.county_code != county:
        raise HTTPException(403, f"municipality {code} is in county {county}; this token may change wishes only in "
                                 f"county {who.county_code}")


def check_wishes(session: Session, rt: Runtime, found: Round, changes: dict[str, dict[str, Any] | None],
                 where: str = "body") -> None:
    """The round's wish set with `changes` applied (code -> new wish row, or None to withdraw) checked as a whole;
    an InputError names only the problems of the changed municipalities (the others' are not this caller's)."""
    rows = [r.to_input() for r in session.scalars(select(WishRow).where(WishRow.year == found.year))
            if r.code not in changes]
    rows += [row for row in changes.values() if row is not None]
    for i, row in enumerate(rows, start=1):
        row["_row"] = i
    try:
        parse_wishes(rows, rt.municipalities, rt.base_table(found.base_shares, f"round {found.year}"), Policy())
    except InputError as exc:
        mine = [p for p in exc.problems if p.code in changes]
        if mine:
            for p in mine:
                if where:
                    p.where = where
            raise InputError(mine, "wish") from None


def store_wish(session: Session, rt: Runtime, who: Caller, year: int, code: str, wish: str, amount: str | float,
               partner: str | None) -> tuple[WishRow, bool]:
    """Store a checked wish with its audit entry; True when the municipality had none."""
    stored = "all" if amount == "all" else format_permille(parse_permille(amount))
    row = session.get(WishRow, (year, code))
    before = None if row is None else row.to_input()
    if row is None:
        row = WishRow(year=year, code=code, wish=wish, amount=stored, partner=partner, updated_by=who.actor)
        session.add(row)
    else:
        row.wish, row.amount, row.partner, row.updated_at, row.updated_by = wish, stored, partner, now(), who.actor
    session.flush()
    audit(session, who, "wish.put", year=year, target=f"wish {code}", before=before, after=row.to_input())
    return row, before is None


def withdraw_wish(session: Session, who: Caller, year: int, code: str) -> None:
    row = session.get(WishRow, (year, code))
    if row is None:
        raise HTTPException(404, f"municipality {code} has no wish in the round {year}")
    before = row.to_input()
    session.delete(row)
    audit(session, who, "wish.withdrawn", year=year, target=f"wish {code}", before=before)


@router.put("/rounds/{year}/wishes/{code}", response_model=schemas.WishOut, status_code=200,
            responses={**NOT_FOUND, **CLOSED,
                       201: {"model": schemas.WishOut, "description": "the municipality had no wish: it is created"}})
def put_wish(year: Year, code: CodePath, body: schemas.WishBody, response: Response, session: Session_, rt: Runtime_,
             who: Officer):
    may_change(rt, who, code)
    found = get_round(session, year, lock=True)
    require_open(found)
    amount = "all" if body.amount_permille == "all" else body.amount_permille
    check_wishes(session, rt, found, {code: {"code": code, "wish": body.wish, "amount_permille": amount,
                                             "partner": body.partner}})
    row, created = store_wish(session, rt, who, year, code, body.wish, amount, body.partner)
    if created:
        response.status_code = 201
    return wish_out(rt, row)


@router.delete("/rounds/{year}/wishes/{code}", status_code=204, responses={**NOT_FOUND, **CLOSED})
def delete_wish(year: Year, code: CodePath, session: Session_, rt: Runtime_, who: Officer):
    may_change(rt, who, code)
    found = get_round(session, year, lock=True)
    require_open(found)
    withdraw_wish(session, who, year, code)
    return Response(status_code=204)


@router.post("/rounds/{year}/finalise", response_model=schemas.RoundOut, responses={**NOT_FOUND, **CLOSED})
def finalise(year: Year, body: schemas.FinaliseIn, session: Session_, who: Agency):
    found = get_round(session, year, lock=True)
    require_open(found)
    proposal = session.get(ProposalRow, body.proposal_id)
    if proposal is None:
        raise HTTPException(404, f"there is no proposal {body.proposal_id}")
    if proposal.year != year:
        raise HTTPException(409, f"proposal {proposal.id} belongs to the round {proposal.year}, not {year}")
    if proposal.solution == "none":
        raise HTTPException(409, f"proposal {proposal.id} has no table ({proposal.termination}); it cannot be fixed")
    found.state, found.finalised_proposal_id, found.finalised_at = "finalised", proposal.id, now()
    audit(session, who, "round.finalised", year=year, target=f"proposal {proposal.id}",
          termination=proposal.termination, solution=proposal.solution)
    return round_out(session, found)

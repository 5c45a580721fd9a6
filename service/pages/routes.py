"""The pages. Every change goes through the same functions as the API (`store_wish`, `create_round`, `finalise`,
the runtime's what-if and jobs), with the same role checks (`require`, `may_change`) and audit entries: a page is
another way to call them, with a session cookie instead of a bearer token and a form token on every form."""

from __future__ import annotations

import difflib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import schemas
from service.auth import Caller, Role, active, csrf_value, lookup, session_token_id, session_value
from service.db import AuditRow, ProposalRow, Round, WishRow
from service.deps import Runtime_, Session_, require
from service.pages import text
from service.routes import proposals, rounds
from service.runtime import Runtime, SolveRequest
from solver.compare import compare
from solver.domain import InputError, format_permille, parse_permille

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
SESSION, LOGIN, LANGUAGE = "andelstal_session", "andelstal_login", "andelstal_lang"
router = APIRouter(prefix="/app", include_in_schema=False)


class LoginRequired(Exception):
    """No valid session: the browser is sent to the login page."""


class Refused(Exception):
    """A page action refused with a status and a message (in the page's language)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def language(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE)
    return chosen if chosen in text.LANGUAGES else "sv"


def render(request: Request, name: str, who: Caller | None = None, status: int = 200, **values: Any) -> HTMLResponse:
    lang = language(request)
    rt: Runtime = request.app.state.runtime
    cookie = request.cookies.get(SESSION, "")
    context = {"lang": lang, "t": partial(text.word, lang), "permille": partial(text.permille, lang),
               "whole": partial(text.whole, lang), "moment": text.moment, "who": who, "Role": Role,
               "csrf": csrf_value(rt.settings.secret, cookie) if cookie else "", "path": request.url.path,
               "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""), **values}
    return templates.TemplateResponse(request, name, context, status_code=status)


async def page_caller(request: Request, rt: Runtime_) -> Caller:
    """The caller of the session cookie (its token still active), else the login page."""
    value = request.cookies.get(SESSION)
    token_id = None if value is None else session_token_id(rt.settings.secret, value, datetime.now(UTC))
    if token_id is None:
        raise LoginRequired
    with rt.sessions() as session:
        who = active(session, token_id)
    if who is None:
        raise LoginRequired
    return who


Who = Annotated[Caller, Depends(page_caller)]


async def form(request: Request) -> dict[str, str]:
    """The posted form, once its form token matches the session's (else 403: another site cannot post it)."""
    data = await request.form()
    rt: Runtime = request.app.state.runtime
    sent, cookie = str(data.get("csrf", "")), request.cookies.get(SESSION, "")
    if not cookie or not hmac.compare_digest(sent, csrf_value(rt.settings.secret, cookie)):
        raise Refused(403, text.word(language(request), "csrf"))
    return {k: str(v) for k, v in data.items()}


Form = Annotated[dict[str, str], Depends(form)]


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- login, logout, language ---------------------------------------------------------------------------------

@router.get("/login")
def login_page(request: Request, failed: bool = False) -> HTMLResponse:
    nonce = request.cookies.get(LOGIN) or secrets.token_urlsafe(16)
    response = render(request, "login.html", nonce=nonce, failed=failed)
    response.set_cookie(LOGIN, nonce, httponly=True, samesite="strict", secure=_secure(request), path="/app")
    return response


@router.post("/login")
async def login(request: Request, rt: Runtime_) -> Response:
    data = await request.form()
    nonce = request.cookies.get(LOGIN, "")
    if not nonce or not hmac.compare_digest(str(data.get("nonce", "")), nonce):  # a login form of this browser only
        raise Refused(403, text.word(language(request), "csrf"))
    token = str(data.get("token", "")).strip()[:200]
    with rt.sessions() as session:
        who = lookup(session, rt.settings.secret, token) if token else None
    if who is None:
        return render(request, "login.html", nonce=nonce, failed=True, status=401)
    response = see("/app")
    response.set_cookie(SESSION, session_value(rt.settings.secret, who.token_id, datetime.now(UTC)), httponly=True,
                        samesite="strict", secure=_secure(request), path="/", max_age=8 * 3600)
    response.delete_cookie(LOGIN, path="/app")
    return response


def _secure(request: Request) -> bool:
    return request.app.state.runtime.settings.production


@router.post("/logout")
def logout(data: Form) -> Response:
    response = see("/app/login")
    response.delete_cookie(SESSION, path="/")
    return response


@router.get("/language")
def choose_language(request: Request, to: str = "sv", next: str = "/app") -> Response:
    response = see(next if next.startswith("/app") and "//" not in next else "/app")
    response.set_cookie(LANGUAGE, to if to in text.LANGUAGES else "sv", samesite="strict", path="/",
                        max_age=365 * 24 * 3600, secure=_secure(request))
    return response


@router.get("")
def home(who: Who) -> Response:
    return see("/app/county" if who.role is Role.COUNTY else "/app/rounds")


# --- the county officer's page -------------------------------------------------------------------------------

def _open_round(session: Session) -> Round | None:
    """The round a county works on: the latest that is not finalised, else the latest."""
    found = session.scalars(select(Round).order_by(Round.year.desc())).all()
    return next((r for r in found if r.state != "finalised"), found[0] if found else None)


def _county_of(who: Caller, asked: str | None, rt: Runtime) -> str:
    if who.role is Role.COUNTY:
        if asked and asked != who.county_code:
            raise Refused(403, f"{who.county_code}≠{asked}")
        return who.county_code or ""
    codes = sorted({m.county_code for m in rt.municipalities})
    return asked if asked in codes else codes[0]


def _stored(session: Session, year: int) -> dict[str, WishRow]:
    return {r.code: r for r in session.scalars(select(WishRow).where(WishRow.year == year))}


def _rows(rt: Runtime, county: str, found: Round | None, stored: dict[str, WishRow],
          edits: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    base = rt.base_table(found.base_shares if found else None, "round").units
    rows = []
    for m in rt.municipalities:
        if m.county_code != county:
            continue
        row = stored.get(m.code)
        value = {"wish": row.wish if row else "none", "amount": _sv_amount(row.amount) if row else "",
                 "partner": row.partner or "" if row else ""}
        if edits is not None and m.code in edits:
            value = edits[m.code]
        rows.append({"m": m, "base": base[m.code], **value})
    return rows


def _sv_amount(amount: str) -> str:
    return "alla" if amount == "all" else amount.replace(".", ",")


@router.get("/county")
def county_page(request: Request, who: Who, session: Session_, rt: Runtime_, county: str | None = None,
                saved: int | None = None) -> HTMLResponse:
    code = _county_of(who, county, rt)
    found = _open_round(session)
    stored = _stored(session, found.year) if found else {}
    return render(request, "county.html", who, county=code, found=found, rows=_rows(rt, code, found, stored),
                  counties=_counties(rt), errors={}, saved=saved, result=None, **_datalist(rt))


def _counties(rt: Runtime) -> list[tuple[str, str]]:
    return sorted({(m.county_code, m.county_name) for m in rt.municipalities})


def _datalist(rt: Runtime) -> dict[str, Any]:
    return {"everyone": sorted(rt.municipalities, key=lambda m: m.name)}


def _partner(value: str, rt: Runtime, lang: str) -> str:
    """A municipality named by code, `code name` or name ("Ånge kommun" too); ValueError with a suggestion when
    the name is not exactly one municipality's."""
    value = value.strip()
    by_code = {m.code: m for m in rt.municipalities}
    head = value.split(" ", 1)[0]
    if head in by_code:
        return head
    name = re.sub(r"\s+(kommun|stad)$", "", value, flags=re.IGNORECASE).casefold()
    named = [m for m in rt.municipalities if m.name.casefold() == name]
    if len(named) == 1:
        return named[0].code
    names = {m.name.casefold(): m for m in rt.municipalities}
    close = [names[n] for n in difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)]
    hint = "" if not close else (f" Menade du {close[0].code} {close[0].name}?" if lang == "sv" else
                                 f" Did you mean {close[0].code} {close[0].name}?")
    raise ValueError(("är ingen kommun." if lang == "sv" else "is not a municipality.") + hint)


def _read_edits(data: dict[str, str], rows: list[dict[str, Any]], stored: dict[str, WishRow], rt: Runtime, lang: str
                ) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, Any] | None], dict[str, dict[str, str]]]:
    """The form's rows as shown (edits), the changed wishes in the solver's form (code -> row, None to withdraw)
    and the problems per municipality and field."""
    edits: dict[str, dict[str, str]] = {}
    changes: dict[str, dict[str, Any] | None] = {}
    errors: dict[str, dict[str, str]] = {}
    for row in rows:
        code = row["m"].code
        wish = data.get(f"wish_{code}", "none")
        amount, partner = data.get(f"amount_{code}", "").strip(), data.get(f"partner_{code}", "").strip()
        edits[code] = {"wish": wish, "amount": amount, "partner": partner}
        if wish not in ("none", "give", "receive"):
            errors.setdefault(code, {})["wish"] = "okänt val" if lang == "sv" else "unknown choice"
            continue
        if wish == "none":
            if row["wish"] != "none":
                changes[code] = None
            continue
        new: dict[str, Any] = {"code": code, "wish": wish, "partner": None}
        if amount.casefold() in ("alla", "all"):
            new["amount_permille"] = "all"
        else:
            try:
                new["amount_permille"] = parse_permille(amount.replace(",", ".")) / 100
            except ValueError:
                errors.setdefault(code, {})["amount"] = (
                    f"”{amount}” är inget promilletal; skriv t.ex. 1,05" if lang == "sv" else
                    f"“{amount}” is not a per mille amount; write e.g. 1.05")
        if partner:
            try:
                new["partner"] = _partner(partner, rt, lang)
            except ValueError as exc:
                errors.setdefault(code, {})["partner"] = f"”{partner}” {exc}"
        old = stored.get(code)
        if code not in errors and (old is None or (old.wish, old.amount, old.partner) != (
                wish, "all" if new["amount_permille"] == "all" else format_permille(round(new["amount_permille"] * 100)),
                new["partner"])):
            changes[code] = new
    return edits, changes, errors


FIELDS = {"amount_permille": "amount", "partner": "partner", "wish": "wish"}


@router.post("/county")
async def county_action(request: Request, who: Who, data: Form, session: Session_, rt: Runtime_) -> Response:
    lang = language(request)
    require(who, Role.AGENCY, Role.COUNTY)
    code = _county_of(who, data.get("county"), rt)
    found = _open_round(session)
    if found is None:
        raise Refused(409, text.word(lang, "no_round"))
    stored = _stored(session, found.year)
    rows = _rows(rt, code, found, stored)
    edits, changes, errors = _read_edits(data, rows, stored, rt, lang)
    if not errors:
        try:
            rounds.check_wishes(session, rt, found, changes, where="")
        except InputError as exc:
            for p in exc.problems:
                errors.setdefault(p.code or "", {})[FIELDS.get(p.field, "amount")] = (
                    p.reason_sv if lang == "sv" and p.reason_sv else p.reason)
    shown = _rows(rt, code, found, stored, edits)
    if errors:
        return render(request, "county.html", who, status=422, county=code, found=found, rows=shown, errors=errors,
                      counties=_counties(rt), saved=None, result=None, **_datalist(rt))
    if data.get("action") == "try":
        wishes = [r.to_input() for c, r in sorted(stored.items()) if c not in changes]
        wishes += [w for w in changes.values() if w is not None]
        for w in wishes:
            if w["amount_permille"] != "all":
                w["amount_permille"] = parse_permille(str(w["amount_permille"])) / 100
        solve = SolveRequest(wishes, rt.clamp(schemas.PolicyIn().plain()), found.base_shares)
        answer = await rt.answer(solve, who, as_job=False, gone=partial(proposals.disconnected, request))
        result = json.loads(answer if isinstance(answer, bytes) else b"{}")
        return render(request, "county.html", who, county=code, found=found, rows=shown, errors={},
                      counties=_counties(rt), saved=None, result=_view(result, code, rt), **_datalist(rt))
    for changed in changes:
        rounds.may_change(rt, who, changed)
    locked = rounds.get_round(session, found.year, lock=True)
    rounds.require_open(locked)
    for changed, wish in changes.items():
        if wish is None:
            rounds.withdraw_wish(session, who, found.year, changed)
        else:
            rounds.store_wish(session, rt, who, found.year, changed, wish["wish"], wish["amount_permille"],
                              wish["partner"])
    query = {"saved": len(changes)} | ({"county": code} if who.role is Role.AGENCY else {})
    return see(f"/app/county?{urlencode(query)}")


def _view(data: dict[str, Any], county: str | None, rt: Runtime) -> dict[str, Any]:
    """What the result table, the transfers and the chart show of a proposal (a county's part, or all of it)."""
    by_code = {m.code: m for m in rt.municipalities}
    rows = [r for r in data["shares"] if (county is None and r["wish"]) or (county and r["county_code"] == county)]
    transfers = [t for t in data["transfers"] if county is None or county in
                 (by_code[t["giver"]].county_code, by_code[t["receiver"]].county_code)]
    for t in transfers:
        t["giver_m"], t["receiver_m"] = by_code[t["giver"]], by_code[t["receiver"]]
    # the chart: the municipalities shown and the other side of their transfers
    sides = {r["code"] for r in rows} | {t[k] for t in transfers for k in ("giver", "receiver")}
    changed = sorted((r for r in data["shares"] if r["code"] in sides and r["delta_permille"]),
                     key=lambda r: (r["delta_permille"], r["code"]))
    largest = max((abs(r["delta_permille"]) for r in changed), default=0) or 1
    moved = sum(t["permille"] for t in data["transfers"])
    status = data["status"]
    return {"rows": rows, "transfers": transfers, "chart": changed, "largest": largest, "moved": moved,
            "count": len(data["transfers"]), "cross": sum(1 for t in data["transfers"] if t["cross_county"]),
            "proven": status["termination"] == "optimal", "feasible": status["solution"] != "none",
            "illustrative": data["base"]["illustrative"], "diagnosis": data["diagnosis"]}


# --- the agency's pages ------------------------------------------------------------------------------------------

@router.get("/rounds")
def rounds_page(request: Request, who: Who, session: Session_) -> HTMLResponse:
    found = session.scalars(select(Round).order_by(Round.year.desc())).all()
    return render(request, "rounds.html", who, found=found, error=None)


@router.post("/rounds")
def create_round(request: Request, who: Who, data: Form, session: Session_, rt: Runtime_) -> Response:
    require(who, Role.AGENCY)
    try:
        year = int(data.get("year", ""))
        body = schemas.RoundIn(year=year)
    except ValueError:
        raise Refused(422, "Ange ett år mellan 2000 och 2100." if language(request) == "sv" else
                      "Enter a year between 2000 and 2100.") from None
    rounds.create_round(body, session, rt, who)
    return see(f"/app/rounds/{year}")


@router.get("/rounds/{year}")
def round_page(request: Request, year: int, who: Who, session: Session_, rt: Runtime_) -> HTMLResponse:
    found = rounds.get_round(session, year)
    names = dict(_counties(rt))
    county_of = {m.code: m.county_code for m in rt.municipalities}
    per_county: dict[str, dict[str, Any]] = {c: {"name": n, "wishes": 0, "last": None, "by": ""} for c, n in names.items()}
    for row in session.scalars(select(WishRow).where(WishRow.year == year)):
        entry = per_county[county_of[row.code]]
        entry["wishes"] += 1
        if entry["last"] is None or row.updated_at > entry["last"]:
            entry["last"], entry["by"] = row.updated_at, row.updated_by
    listed = session.scalars(select(ProposalRow).where(ProposalRow.year == year).order_by(ProposalRow.id)).all()
    return render(request, "round.html", who, found=found, per_county=per_county, proposals=listed)


@router.post("/rounds/{year}/proposals")
def compute(year: int, who: Who, data: Form, session: Session_, rt: Runtime_) -> Response:
    require(who, Role.AGENCY)
    answer = proposals.create_proposal(year, schemas.ProposalRequest(), rt, session, who)
    return see(f"/app/jobs/{json.loads(answer.body)['id']}")


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str, who: Who, session: Session_) -> HTMLResponse:
    job = proposals.get_job(session, job_id, who)
    return render(request, "job.html", who, job=job, waiting=job.state in ("queued", "running"))


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: str, who: Who, data: Form, session: Session_, rt: Runtime_) -> Response:
    proposals.cancel_job(job_id, rt, session, who)
    return see(f"/app/jobs/{job_id}")


@router.get("/proposals/{proposal_id}")
def proposal_page(request: Request, proposal_id: int, who: Who, session: Session_, rt: Runtime_) -> HTMLResponse:
    row = proposals.get_proposal(session, proposal_id)
    found = session.get(Round, row.year)
    return render(request, "proposal.html", who, row=row, found=found, result=_view(row.result, None, rt))


@router.get("/proposals/{proposal_id}/export")
def export(proposal_id: int, who: Who, session: Session_, format: str = "csv") -> Response:
    if format not in ("csv", "xlsx"):
        raise Refused(404, format)
    return proposals.export_proposal(proposal_id, session, who, format)  # type: ignore[arg-type]


@router.get("/compare")
def compare_page(request: Request, a: int, b: int, who: Who, session: Session_, rt: Runtime_) -> HTMLResponse:
    first, second = proposals.get_proposal(session, a), proposals.get_proposal(session, b)
    result = compare(first.result, second.result, rt.municipalities, label_a=str(a), label_b=str(b))
    return render(request, "compare.html", who, a=first, b=second, result=result)


@router.get("/rounds/{year}/finalise")
def finalise_page(request: Request, year: int, proposal: int, who: Who, session: Session_) -> HTMLResponse:
    require(who, Role.AGENCY)
    found = rounds.get_round(session, year)
    return render(request, "finalise.html", who, found=found, row=proposals.get_proposal(session, proposal))


@router.post("/rounds/{year}/finalise")
def finalise(year: int, who: Who, data: Form, session: Session_) -> Response:
    require(who, Role.AGENCY)
    try:
        body = schemas.FinaliseIn(proposal_id=int(data.get("proposal", "")))
    except ValueError:
        raise Refused(422, "proposal") from None
    rounds.finalise(year, body, session, who)
    return see(f"/app/rounds/{year}")


@router.get("/audit")
def audit_page(request: Request, who: Who, session: Session_, year: str = "", action: str = "",
               actor: str = "") -> HTMLResponse:
    require(who, Role.AGENCY)
    query = select(AuditRow).order_by(AuditRow.id.desc()).limit(500)
    if year.isdigit():
        query = query.where(AuditRow.year == int(year))
    if action:
        query = query.where(AuditRow.action == action)
    if actor:
        query = query.where(func.lower(AuditRow.actor).contains(actor.lower()))
    actions = session.scalars(select(AuditRow.action).distinct().order_by(AuditRow.action)).all()
    return render(request, "audit.html", who, entries=session.scalars(query).all(), actions=actions,
                  year=year, action=action, actor=actor)


def install(app: FastAPI) -> None:
    """Mount the pages, their assets and the handlers that turn refusals into pages."""
    app.mount("/app/static", StaticFiles(directory=HERE / "static"), name="app-static")
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return see("/app")

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return see("/app/login")

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return render(request, "error.html", status=exc.status, message=exc.message)


def page_error(request: Request, status: int, detail: str) -> HTMLResponse:
    """An API refusal (HTTPException) met on a page, shown as a page in the caller's language."""
    lang = language(request)
    lead = {403: "forbidden", 404: "not_found", 409: "conflict"}.get(status)
    message = text.word(lang, lead) if lead else ""
    return render(request, "error.html", status=status, message=message, detail=detail)

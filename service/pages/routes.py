"""The pages. Every change goes through the same functions as the API (`store_wish`, `create_round`, `finalise`,
the runtime's what-if and jobs), with the same role checks (`require`, `may_change`) and audit entries: a page is
another way to call them, with a session cookie instead of a bearer token and a form token on every form."""

from __future__ import annotations

import io
import json
import re
import secrets
import tempfile
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from service import schemas
from service.auth import Caller, Role, csrf_value, end_session, lookup, open_session, same, session_caller, stale, touch
from service.db import AuditRow, ProposalRow, Round, WishRow, now
from service.deps import Runtime_, Session_, require
from service.pages import text
from service.routes import proposals, rounds, simulations
from service.routes.proposals import JobId, ProposalId
from service.routes.rounds import Year
from service.runtime import Runtime, SolveRequest
from solver.compare import compare, comparison_csv, sheets
from solver.domain import InputError, format_permille, parse_permille
from solver.io import read_table, write_xlsx
from solver.wishes import SWEDISH_COLUMNS, WISH_WORDS, resolve

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
    response = templates.TemplateResponse(request, name, context, status_code=status)
    # pages hold wishes and proposals: never cached, never framed, forms post only here
    response.headers.update({"Cache-Control": "no-store", "Content-Security-Policy":
                             "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"})
    return response


def page_caller(request: Request, rt: Runtime_) -> Caller:
    """The caller of the session cookie (not ended, its token still active), else the login page. Use is
    recorded on the token as over the API."""
    value = request.cookies.get(SESSION)
    if not value:
        raise LoginRequired
    with rt.sessions.begin() as session:
        who = session_caller(session, rt.settings.secret, value[:200])
        if who is not None and stale(who):
            touch(session, who.token_id)
    if who is None:
        raise LoginRequired
    return who


Who = Annotated[Caller, Depends(page_caller)]
ProposalQuery = Annotated[int, Query(ge=1, le=2**31 - 1)]


async def checked(request: Request) -> FormData:
    """The posted form (files too), once its form token matches the session's (else 403: another site cannot
    post it). Every page that changes something reads its form here."""
    data = await request.form()
    rt: Runtime = request.app.state.runtime
    sent, cookie = str(data.get("csrf", "")), request.cookies.get(SESSION, "")
    if not cookie or not same(sent, csrf_value(rt.settings.secret, cookie)):
        raise Refused(403, text.word(language(request), "csrf"))
    return data


async def form(request: Request) -> dict[str, str]:
    """The posted form's text fields, checked."""
    return {k: str(v) for k, v in (await checked(request)).items()}


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
    if not nonce or not same(str(data.get("nonce", "")), nonce):  # a login form of this browser only
        raise Refused(403, text.word(language(request), "csrf"))
    token = str(data.get("token", "")).strip()[:200]
    with rt.sessions.begin() as session:
        who = lookup(session, rt.settings.secret, token) if token else None
        cookie = None if who is None else open_session(session, rt.settings.secret, who.token_id)
    if cookie is None:
        return render(request, "login.html", nonce=nonce, failed=True, status=401)
    response = see("/app")
    response.set_cookie(SESSION, cookie, httponly=True, samesite="strict", secure=_secure(request), path="/",
                        max_age=8 * 3600)
    response.delete_cookie(LOGIN, path="/app")
    return response


def _secure(request: Request) -> bool:
    return request.app.state.runtime.settings.production


@router.post("/logout")
def logout(request: Request, data: Form, rt: Runtime_) -> Response:
    with rt.sessions.begin() as session:  # ended on the server: a copy of the cookie is worth nothing after this
        end_session(session, rt.settings.secret, request.cookies.get(SESSION, ""))
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


def _county_of(who: Caller, asked: str | None, rt: Runtime, lang: str) -> str:
    names = dict(_counties(rt))
    if who.role is Role.COUNTY:
        if asked and asked != who.county_code:
            raise Refused(403, f"Din åtkomstnyckel gäller {names.get(who.county_code or '', who.county_code)}, inte "
                               f"{names.get(asked, asked)}." if lang == "sv" else
                          f"Your key is for {names.get(who.county_code or '', who.county_code)}, not {names.get(asked, asked)}.")
        return who.county_code or ""
    if asked is None:
        return min(names)
    if asked not in names:
        raise Refused(404, f"Det finns inget län med koden {asked!r}." if lang == "sv" else f"There is no county {asked!r}.")
    return asked


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
                 "partner": row.partner or "" if row else "", "was": _canonical(row)}
        if edits is not None and m.code in edits:
            value = edits[m.code]
        rows.append({"m": m, "base": base[m.code], **value})
    return rows


def _canonical(row: WishRow | None) -> str:
    """A stored wish as the form remembers it (hidden beside its row): a save changes only the rows the officer
    changed, and refuses a row that someone else changed since the page was shown."""
    return "none||" if row is None else f"{row.wish}|{row.amount}|{row.partner or ''}"


def _sv_amount(amount: str) -> str:
    return "alla" if amount == "all" else amount.replace(".", ",")


@router.get("/county")
def county_page(request: Request, who: Who, session: Session_, rt: Runtime_, county: str | None = None,
                saved: int | None = None) -> HTMLResponse:
    code = _county_of(who, county, rt, language(request))
    found = _open_round(session)
    stored = _stored(session, found.year) if found else {}
    return render(request, "county.html", who, county=code, found=found, rows=_rows(rt, code, found, stored),
                  counties=_counties(rt), errors={}, saved=saved, result=None, **_datalist(rt))


def _counties(rt: Runtime) -> list[tuple[str, str]]:
    return sorted({(m.county_code, m.county_name) for m in rt.municipalities})


def _datalist(rt: Runtime) -> dict[str, Any]:
    return {"everyone": sorted(rt.municipalities, key=lambda m: m.name)}


def _partner(value: str, rt: Runtime, lang: str) -> str:
    """A municipality named by code, `code name` or name (the solver's `resolve`); ValueError with a suggestion."""
    code, hint = resolve(value, rt.municipalities)
    if code is not None:
        return code
    ask = "" if not hint else (f" Menade du {hint}?" if lang == "sv" else f" Did you mean {hint}?")
    raise ValueError(("är ingen kommun." if lang == "sv" else "is not a municipality.") + ask)


def _read_edits(data: dict[str, str], rows: list[dict[str, Any]], stored: dict[str, WishRow], rt: Runtime, lang: str
                ) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, Any] | None], dict[str, dict[str, str]]]:
    """The form's rows as shown (edits), the changed wishes in the solver's form (code -> row, None to withdraw)
    and the problems per municipality and field. A row counts as changed when it differs from what the page
    showed (its hidden `was_`), not from the database: a row the form did not send is unchanged."""
    edits: dict[str, dict[str, str]] = {}
    changes: dict[str, dict[str, Any] | None] = {}
    errors: dict[str, dict[str, str]] = {}
    for row in rows:
        code = row["m"].code
        if f"wish_{code}" not in data:
            continue
        wish = data[f"wish_{code}"]
        amount, partner = data.get(f"amount_{code}", "").strip(), data.get(f"partner_{code}", "").strip()
        was = data.get(f"was_{code}", row["was"])
        edits[code] = {"wish": wish, "amount": amount, "partner": partner, "was": was}
        if wish not in ("none", "give", "receive"):
            errors.setdefault(code, {})["wish"] = "okänt val" if lang == "sv" else "unknown choice"
            continue
        new: dict[str, Any] | None = None
        canonical = "none||"
        if wish != "none":
            new = {"code": code, "wish": wish, "partner": None}
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
            if code in errors:
                continue
            units = new["amount_permille"]
            canonical = f"{wish}|{'all' if units == 'all' else format_permille(round(units * 100))}|{new['partner'] or ''}"
        if canonical == was:
            continue
        now_stored = _canonical(stored.get(code))
        if now_stored != was:
            by = stored[code].updated_by if code in stored else ""
            errors.setdefault(code, {})["conflict"] = (
                f"Önskemålet ändrades {('av ' + by + ' ') if by else ''}medan du skrev. Ladda om sidan." if lang == "sv"
                else f"The wish was changed {('by ' + by + ' ') if by else ''}while you wrote. Reload the page.")
            continue
        changes[code] = new
    return edits, changes, errors


FIELDS = {"amount_permille": "amount", "partner": "partner", "wish": "wish"}


@router.post("/county")
async def county_action(request: Request, who: Who, data: Form, session: Session_, rt: Runtime_) -> Response:
    lang = language(request)
    require(who, Role.AGENCY, Role.COUNTY)
    code = _county_of(who, data.get("county"), rt, lang)
    found = _open_round(session)
    if found is None:
        raise Refused(409, text.word(lang, "no_round"))
    if data.get("action") != "try":  # a save locks the round first, as the API does, then checks
        found = rounds.get_round(session, found.year, lock=True)
        rounds.require_open(found)
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
        conflict = any("conflict" in e for e in errors.values())
        return render(request, "county.html", who, status=409 if conflict else 422, county=code, found=found, rows=shown,
                      errors=errors, counties=_counties(rt), saved=None, result=None, **_datalist(rt))
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
    for changed, wish in changes.items():
        if wish is None:
            rounds.withdraw_wish(session, who, found.year, changed)
        else:
            rounds.store_wish(session, rt, who, found.year, changed, wish["wish"], wish["amount_permille"],
                              wish["partner"])
    query = {"saved": len(changes)} | ({"county": code} if who.role is Role.AGENCY else {})
    return see(f"/app/county?{urlencode(query)}")


@router.post("/county/form")
async def read_form(request: Request, who: Who, session: Session_, rt: Runtime_) -> Response:
    """A filled wish form (`andelstal template`, or any wish CSV/XLSX) read into the page's rows: shown for
    the officer to check, stored only by Spara önskemål."""
    lang = language(request)
    data = await checked(request)
    require(who, Role.AGENCY, Role.COUNTY)
    code = _county_of(who, str(data.get("county") or "") or None, rt, lang)
    found = _open_round(session)
    if found is None:
        raise Refused(409, text.word(lang, "no_round"))
    upload = data.get("blankett")
    suffix = Path(getattr(upload, "filename", "") or "").suffix.lower()
    if upload is None or isinstance(upload, str) or suffix not in (".xlsx", ".csv"):
        raise Refused(422, "Välj en blankett (.xlsx eller .csv)." if lang == "sv" else "Choose a form (.xlsx or .csv).")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"blankett{suffix}"
        path.write_bytes(await upload.read())
        try:
            rows, how = read_table(path)
        except InputError as exc:
            raise Refused(422, "; ".join(p.message_sv or p.message if lang == "sv" else p.message
                                         for p in exc.problems)) from None
    stored = _stored(session, found.year)
    shown = _rows(rt, code, found, stored)
    mine = {r["m"].code: r for r in shown}
    problems: list[str] = []
    if not rows:
        problems.append(f"{how}: inga rader att läsa in" if lang == "sv" else f"{how}: no rows to read")
    for row in rows:
        row = {SWEDISH_COLUMNS.get(k, k): v for k, v in row.items()}
        given = str(row.get("code") or "").strip()
        given = given.zfill(4) if given.isdigit() else given  # a spreadsheet ate the leading zero
        target, hint = resolve(given, rt.municipalities)
        if target is None or target not in mine:
            ask = f" (menade du {hint}?)" if hint and lang == "sv" else (f" (did you mean {hint}?)" if hint else "")
            problems.append(f"{how}, rad {row.get('_row')}: {given!r} är ingen kommun i länet{ask}" if lang == "sv"
                            else f"{how}, row {row.get('_row')}: {given!r} is not a municipality of the county{ask}")
            continue
        wish = WISH_WORDS.get(str(row.get("wish") or "").strip().lower(), str(row.get("wish") or "").strip().lower())
        amount = row.get("amount_permille")
        mine[target].update(wish=wish if wish in ("give", "receive") else "none",
                            amount=(f"{amount:.2f}".replace(".", ",") if isinstance(amount, float | int) else
                                    str(amount or "")),
                            partner=str(row.get("partner") or ""))
    return render(request, "county.html", who, status=422 if problems else 200, county=code, found=found, rows=shown,
                  errors={}, counties=_counties(rt), saved=None, result=None, loaded=not problems, problems=problems,
                  **_datalist(rt))


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
        if not re.fullmatch(r"[0-9]{4}", data.get("year", "").strip()):
            raise ValueError("year")
        year = int(data["year"])
        body = schemas.RoundIn(year=year)
    except ValueError:
        raise Refused(422, "Ange ett år mellan 2000 och 2100." if language(request) == "sv" else
                      "Enter a year between 2000 and 2100.") from None
    rounds.create_round(body, session, rt, who)
    return see(f"/app/rounds/{year}")


@router.get("/rounds/{year}")
def round_page(request: Request, year: Year, who: Who, session: Session_, rt: Runtime_) -> HTMLResponse:
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
def compute(year: Year, who: Who, data: Form, session: Session_, rt: Runtime_) -> Response:
    require(who, Role.AGENCY)
    scope = data.get("scope", "national")
    if scope not in ("national", "county"):
        raise Refused(422, scope)
    request = schemas.ProposalRequest(policy=schemas.PolicyIn(scope=scope))  # type: ignore[arg-type]
    answer = proposals.create_proposal(year, request, rt, session, who)
    return see(f"/app/jobs/{json.loads(answer.body)['id']}")


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: JobId, who: Who, session: Session_) -> HTMLResponse:
    job = proposals.get_job(session, job_id, who)
    ended = job.finished_at or now()
    return render(request, "job.html", who, job=job, waiting=job.state in ("queued", "running"),
                  seconds=max(0, round((ended - job.created_at).total_seconds())))


@router.post("/jobs/{job_id}/cancel")
def cancel(job_id: JobId, who: Who, data: Form, session: Session_, rt: Runtime_) -> Response:
    proposals.cancel_job(job_id, rt, session, who)
    return see(f"/app/jobs/{job_id}")


@router.get("/proposals/{proposal_id}")
def proposal_page(request: Request, proposal_id: ProposalId, who: Who, session: Session_, rt: Runtime_) -> HTMLResponse:
    row = proposals.get_proposal(session, proposal_id)
    found = session.get(Round, row.year)
    return render(request, "proposal.html", who, row=row, found=found, result=_view(row.result, None, rt))


@router.get("/proposals/{proposal_id}/export")
def export(request: Request, proposal_id: ProposalId, who: Who, session: Session_, format: str = "csv") -> Response:
    if format not in ("csv", "xlsx"):
        raise Refused(404, format)
    lang = language(request)  # the page's language, and Swedish Excel's CSV for a Swedish reader
    return proposals.export_proposal(proposal_id, session, who, format, lang,  # type: ignore[arg-type]
                                     "sv" if lang == "sv" else "plain")


@router.get("/proposals/{proposal_id}/report.pdf")
def report(proposal_id: ProposalId, who: Who, session: Session_, rt: Runtime_) -> Response:
    return proposals.proposal_report(proposal_id, session, rt, who)


@router.post("/proposals/{proposal_id}/simulate")
async def simulate_page(proposal_id: ProposalId, request: Request, who: Who, data: Form, rt: Runtime_) -> Response:
    """Simulate the proposal's allocations beside its base table, through the API's own route (roles, limits,
    jobs for large runs, audit)."""
    require(who, Role.AGENCY)
    lang = language(request)
    try:
        years, replicates = int(data.get("years", "4")), int(data.get("replicates", "200"))
        body = schemas.SimulationIn(proposal_id=proposal_id, against="base", parameters=schemas.SimulationParamsIn(
            years=years, replicates=replicates, rule=data.get("rule", "equalising")))  # type: ignore[arg-type]
    except ValueError:
        raise Refused(422, "Ange år (1–50) och upprepningar (1–100 000) som heltal." if lang == "sv" else
                      "Give years (1–50) and replicates (1–100,000) as whole numbers.") from None
    answer = await simulations.create_simulation(body, rt, who)
    if isinstance(answer, Response):  # a large run: a job
        return see(f"/app/jobs/{json.loads(answer.body)['id']}")
    return see(f"/app/simulations/{answer.id}")


@router.get("/simulations/{simulation_id}")
def simulation_page(request: Request, simulation_id: ProposalId, who: Who, session: Session_) -> HTMLResponse:
    row = simulations.read_simulation(simulation_id, session, who)
    result = row.result
    before = {r["code"]: r for r in result.get("other", {}).get("municipalities", [])}
    changed = [r for r in result["municipalities"]
               if r["code"] in before and r["share_permille"] != before[r["code"]]["share_permille"]]
    return render(request, "simulation.html", who, row=row, result=result, before=before,
                  changed=sorted(changed, key=lambda r: r["name"]))


@router.get("/simulations/{simulation_id}/{name}.svg")
def simulation_plot(request: Request, simulation_id: ProposalId, name: str, who: Who, session: Session_) -> Response:
    """A plot of the simulation (the command line's plots, drawn as SVG in the page's language)."""
    from solver.simulate import plots

    if name not in ("change", "allocations", "counties", "years_without_allocation"):
        raise Refused(404, name)
    row = simulations.read_simulation(simulation_id, session, who)
    with tempfile.TemporaryDirectory() as folder:
        files = plots(row.result, folder, row.result.get("other"), language=language(request), kind="svg")
        path = next((Path(f) for f in files if Path(f).stem == name), None)
        if path is None:
            raise Refused(404, name)
        return Response(path.read_bytes(), media_type="image/svg+xml")


@router.get("/compare")
def compare_page(request: Request, a: ProposalQuery, b: ProposalQuery, who: Who, session: Session_, rt: Runtime_) -> HTMLResponse:
    first, second = proposals.get_proposal(session, a), proposals.get_proposal(session, b)
    result = compare(first.result, second.result, rt.municipalities, label_a=str(a), label_b=str(b))
    return render(request, "compare.html", who, a=first, b=second, result=result)


@router.get("/compare/export")
def compare_export(request: Request, a: ProposalQuery, b: ProposalQuery, who: Who, session: Session_, rt: Runtime_,
                   format: str = "xlsx") -> Response:
    first, second = proposals.get_proposal(session, a), proposals.get_proposal(session, b)
    result = compare(first.result, second.result, rt.municipalities, label_a=str(a), label_b=str(b))
    lang = language(request)
    name = f"jamforelse-{a}-{b}.{format}" if lang == "sv" else f"comparison-{a}-{b}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        body = comparison_csv(result, lang)
        return Response(("\ufeff" + body if lang == "sv" else body).encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers=headers)
    if format != "xlsx":
        raise Refused(404, format)
    out = io.BytesIO()
    write_xlsx(out, sheets(result, lang))
    return Response(out.getvalue(), media_type=proposals.XLSX, headers=headers)


@router.get("/rounds/{year}/finalise")
def finalise_page(request: Request, year: Year, proposal: ProposalQuery, who: Who, session: Session_) -> HTMLResponse:
    require(who, Role.AGENCY)
    found = rounds.get_round(session, year)
    return render(request, "finalise.html", who, found=found, row=proposals.get_proposal(session, proposal))


@router.post("/rounds/{year}/finalise")
def finalise(year: Year, who: Who, data: Form, session: Session_) -> Response:
    require(who, Role.AGENCY)
    try:
        body = schemas.FinaliseIn(proposal_id=int(data.get("proposal", "")))
    except ValueError:
        raise Refused(422, "proposal") from None
    rounds.finalise(year, body, session, who)
    return see(f"/app/rounds/{year}")


AUDIT_PAGE = 100


@router.get("/audit")
def audit_page(request: Request, who: Who, session: Session_, year: str = "", action: str = "",
               actor: str = "", before: ProposalQuery | None = None) -> HTMLResponse:
    require(who, Role.AGENCY)
    query = select(AuditRow).order_by(AuditRow.id.desc()).limit(AUDIT_PAGE)
    if before is not None:
        query = query.where(AuditRow.id < before)
    if re.fullmatch(r"[0-9]{4}", year):
        query = query.where(AuditRow.year == int(year))
    if action:
        query = query.where(AuditRow.action == action)
    if actor:
        query = query.where(func.lower(AuditRow.actor).contains(actor.lower()))
    actions = session.scalars(select(AuditRow.action).distinct().order_by(AuditRow.action)).all()
    entries = session.scalars(query).all()
    older = None
    if len(entries) == AUDIT_PAGE:
        older = "/app/audit?" + urlencode({"year": year, "action": action, "actor": actor, "before": entries[-1].id})
    return render(request, "audit.html", who, entries=entries, actions=actions, year=year, action=action,
                  actor=actor, older=older)


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


def is_page(request: Request) -> bool:
    return request.url.path == "/app" or request.url.path.startswith("/app/")


STATUS_WORDS = {
    400: ("Begäran kunde inte läsas.", "The request could not be read."),
    401: ("Logga in för att fortsätta.", "Log in to continue."),
    403: ("Din behörighet räcker inte för detta.", "Your role does not allow this."),
    404: ("Finns inte.", "Not found."),
    405: ("Det går inte att göra så här.", "That cannot be done here."),
    409: ("Det gick inte: läget har ändrats.", "That was not possible: the state has changed."),
    413: ("Det som skickades är för stort.", "What was sent is too large."),
    422: ("Uppgifterna är inte giltiga.", "The details are not valid."),
    429: ("Det pågår redan så många beräkningar som din nyckel får ha. Försök igen om en stund.",
          "Your key already has as many computations running as it may. Try again shortly."),
}


def page_error(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    """An API refusal (HTTPException, InputError, 429) met on a page, shown as a page in the caller's language."""
    sv, en = STATUS_WORDS.get(status, ("Det gick inte.", "That was not possible."))
    response = render(request, "error.html", status=status, message=sv if language(request) == "sv" else en,
                      detail=detail)
    response.headers.update(headers or {})
    return response

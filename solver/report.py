"""A proposal written out: JSON (everything), CSV (the share table), XLSX (shares, transfers, explanations, inputs).

Everything is built from the proposal JSON (`Proposal.to_dict()`), so a stored proposal exports exactly
as the command line writes it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from solver.data import load_municipalities
from solver.domain import InputError, InputProblem
from solver.io import write_xlsx
from solver.redistribute.proposal import Proposal

SHARE_COLUMNS = ["code", "name", "county_code", "county_name", "wish", "base_permille", "proposed_permille",
                 "delta_permille", "expected_children", "variable_compensation_sek"]
HEADERS = {
    "sv": ["Kod", "Kommun", "Län", "Önskemål", "Andelstal före (‰)", "Andelstal efter (‰)", "Förändring (‰)",
           "Förväntade barn", "Rörlig ersättning (kr)"],
    "en": ["Code", "Municipality", "County", "Wish", "Share before (‰)", "Share after (‰)", "Change (‰)",
           "Expected children", "Variable compensation (SEK)"],
}
WISHES = {"sv": {"give": "Omfördela bort", "receive": "Ta emot", None: ""},
          "en": {"give": "Redistribute away", "receive": "Receive", None: ""}}
SHEETS = {"sv": ("Andelstal", "Överföringar", "Önskemål", "Inställningar", "Status"),
          "en": ("Shares", "Transfers", "Wishes", "Policy", "Status")}


def _counties() -> dict[str, str]:
    return {m.code: m.county_name for m in load_municipalities()}


def _names() -> dict[str, str]:
    return {m.code: m.name for m in load_municipalities()}


def share_rows(data: dict[str, Any], language: str) -> list[list[Any]]:
    """The share table with its header: machine columns (`en` CSV) or an official's (names, counties, numbers)."""
    county = _counties()
    return [HEADERS[language] + (["Förklaring"] if language == "sv" else ["Explanation"])] + [
        [r["code"], r["name"], county[r["code"]], WISHES[language][r["wish"]], r["base_permille"], r["proposed_permille"],
         r["delta_permille"], r["expected_children"], r["variable_compensation_sek"],
         r["explanation"]["text_sv" if language == "sv" else "text_en"]] for r in data["shares"]]


def _fmt(value: object, decimal: str) -> object:
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", decimal)
    return "" if value is None else value


def shares_csv(data: dict[str, Any], language: str = "en", convention: str = "plain") -> str:
    """The share table as CSV. `en` keeps the machine columns (snake_case); `sv` has the officials' headers.
    `convention="sv"` writes what Swedish Excel opens as is: semicolons, decimal comma (the caller adds a BOM)."""
    out = io.StringIO()
    sv = convention == "sv"
    writer = csv.writer(out, delimiter=";" if sv else ",", lineterminator="\n")
    decimal = "," if sv else "."
    if language == "en":
        county = _counties()
        writer.writerow(SHARE_COLUMNS)
        for row in data["shares"]:
            writer.writerow([_fmt(county[row["code"]] if c == "county_name" else row[c], decimal) for c in SHARE_COLUMNS])
    else:
        for row in share_rows(data, language):
            writer.writerow([_fmt(v, decimal) for v in row[:-1]])
    return out.getvalue()


def proposal_sheets(data: dict[str, Any], language: str = "sv") -> dict[str, list[list[object]]]:
    sv = language == "sv"
    names, county = _names(), _counties()
    shares, transfers, wishes, policy, status = SHEETS[language]
    yes, no = ("Ja", "Nej") if sv else ("Yes", "No")
    return {
        shares: share_rows(data, language),
        transfers: [["Från kod", "Från kommun", "Från län", "Till kod", "Till kommun", "Till län", "Andelstal (‰)",
                     "Mellan län"] if sv else ["From code", "From municipality", "From county", "To code",
                                               "To municipality", "To county", "Share (‰)", "Between counties"]]
        + [[t["giver"], names[t["giver"]], county[t["giver"]], t["receiver"], names[t["receiver"]],
            county[t["receiver"]], t["permille"], yes if t["cross_county"] else no] for t in data["transfers"]],
        wishes: [["Kod", "Kommun", "Önskemål", "Promille", "Mottagande kommun"] if sv
                 else ["Code", "Municipality", "Wish", "Per mille", "Receiving municipality"]]
        + [[w["code"], names[w["code"]], WISHES[language][w["wish"]],
            ("alla" if sv else "all") if w["amount_permille"] == "all" else w["amount_permille"],
            f"{w['partner']} {names[w['partner']]}" if w["partner"] else ""] for w in data["wishes"]],
        policy: [["Inställning (fält i policyfilen)", "Värde"] if sv else ["Setting (policy file field)", "Value"]]
        + [[k, json.dumps(v) if isinstance(v, dict) else v] for k, v in data["policy"].items()],
        status: [["Uppgift", "Värde"] if sv else ["Field", "Value"]]
        + [[label[0] if sv else label[1], value] for label, value in (
            (("avslut", "termination"), data["status"]["termination"]),
            (("lösning", "solution"), data["status"]["solution"]),
            (("lösare", "backend"), data["solver"]["backend"]), (("version", "version"), data["solver"]["version"]),
            (("grundtabell", "base shares"), data["base"]["source"]),
            (("illustrativ grundtabell", "illustrative base"), (yes if data["base"]["illustrative"] else no)),
            (("anmärkning", "note"), data["base"]["note"]))]
        + [["diagnos" if sv else "diagnosis", d["text_sv" if sv else "text_en"]] for d in data["diagnosis"]],
    }


def write_proposal(proposal: Proposal, path: str | Path, *, timing: bool = True, language: str | None = None,
                   csv_convention: str = "plain") -> None:
    """JSON (everything), CSV (the share table; machine columns unless `language="sv"`) or XLSX (every sheet,
    in Swedish unless `language="en"`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        path.write_text(proposal.to_json(timing=timing), encoding="utf-8")
    elif suffix == ".csv":
        text = shares_csv(proposal.to_dict(timing=timing), language or "en", csv_convention)
        path.write_text(text, encoding="utf-8-sig" if csv_convention == "sv" else "utf-8")
    elif suffix == ".xlsx":
        write_xlsx(path, proposal_sheets(proposal.to_dict(timing=timing), language or "sv"))
    else:
        raise InputError([InputProblem(str(path), "out", "must end in .json, .csv or .xlsx",
                                       sv="ska sluta på .json, .csv eller .xlsx")], what="output")


def xlsx_bytes(data: dict[str, Any], language: str = "sv") -> bytes:
    out = io.BytesIO()
    write_xlsx(out, proposal_sheets(data, language))
    return out.getvalue()

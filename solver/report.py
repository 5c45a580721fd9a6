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

from solver.domain import InputError, InputProblem
from solver.io import write_xlsx
from solver.redistribute.proposal import Proposal

SHARE_COLUMNS = ["code", "name", "county_code", "wish", "base_permille", "proposed_permille", "delta_permille",
                 "expected_children", "variable_compensation_sek"]


def _fmt(value: object) -> object:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else value


def shares_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SHARE_COLUMNS)
    for row in data["shares"]:
        writer.writerow([_fmt(row[c]) for c in SHARE_COLUMNS])
    return out.getvalue()


def proposal_sheets(data: dict[str, Any]) -> dict[str, list[list[object]]]:
    rows = data["shares"]
    return {
        "shares": [SHARE_COLUMNS] + [[row[c] for c in SHARE_COLUMNS] for row in rows],
        "transfers": [["giver", "receiver", "permille", "cross_county"]]
        + [[t["giver"], t["receiver"], t["permille"], t["cross_county"]] for t in data["transfers"]],
        "explanations": [["code", "name", "text_en", "text_sv", "reasons"]]
        + [[r["code"], r["name"], r["explanation"]["text_en"], r["explanation"]["text_sv"],
            json.dumps(r["explanation"]["reasons"], ensure_ascii=False)] for r in rows],
        "wishes": [["code", "wish", "amount_permille", "partner"]]
        + [[w["code"], w["wish"], w["amount_permille"], w["partner"]] for w in data["wishes"]],
        "policy": [["field", "value"]] + [[k, json.dumps(v) if isinstance(v, dict) else v]
                                         for k, v in data["policy"].items()],
        "status": [["field", "value"], ["termination", data["status"]["termination"]],
                   ["solution", data["status"]["solution"]], ["backend", data["solver"]["backend"]],
                   ["version", data["solver"]["version"]], ["base shares", data["base"]["source"]],
                   ["illustrative base", data["base"]["illustrative"]], ["note", data["base"]["note"]]]
        + [["diagnosis", d["text_en"]] for d in data["diagnosis"]],
    }


def write_proposal(proposal: Proposal, path: str | Path, *, timing: bool = True) -> None:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        path.write_text(proposal.to_json(timing=timing), encoding="utf-8")
    elif suffix == ".csv":
        path.write_text(shares_csv(proposal.to_dict(timing=timing)), encoding="utf-8")
    elif suffix == ".xlsx":
        write_xlsx(path, proposal_sheets(proposal.to_dict(timing=timing)))
    else:
        raise InputError([InputProblem(str(path), "out", "must end in .json, .csv or .xlsx")], what="output")


def xlsx_bytes(data: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    write_xlsx(out, proposal_sheets(data))
    return out.getvalue()

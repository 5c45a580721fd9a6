"""Tables in and out: CSV, XLSX and JSON rows for wishes and share tables, and proposal files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, BinaryIO

from solver.domain import InputError, InputProblem

MAX_ROWS = 10_000


def _clean_key(key: Any) -> str:
    return str(key).strip().lstrip("\ufeff").lower() if key is not None else ""


def read_rows(path: str | Path, *, list_key: str | None = None) -> list[dict[str, Any]]:
    """Rows of a CSV, XLSX or JSON file as dicts with a `_row` number for error messages."""
    path = Path(path)
    if not path.is_file():
        raise InputError([InputProblem(str(path), "file", "does not exist")], what="file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = rows_from_csv(path.read_text(encoding="utf-8-sig"))
    elif suffix == ".xlsx":
        rows = _rows_from_xlsx(path)
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError([InputProblem(str(path), "file", f"is not valid JSON: {exc}")], what="file") from None
        rows = rows_from_json(data, list_key=list_key, source=str(path))
    else:
        raise InputError([InputProblem(str(path), "file", "must end in .csv, .xlsx or .json")], what="file")
    if len(rows) > MAX_ROWS:
        raise InputError([InputProblem(str(path), "file", f"has {len(rows)} rows; at most {MAX_ROWS}")], what="file")
    return rows


def rows_from_csv(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for number, raw in enumerate(reader, start=2):
        row = {_clean_key(k): (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k is not None}
        if not any(v not in (None, "") for v in row.values()):
            continue
        row["_row"] = number
        rows.append(row)
    return rows


def rows_from_json(data: Any, *, list_key: str | None, source: str) -> list[dict[str, Any]]:
    items = data.get(list_key) if isinstance(data, dict) and list_key else data
    if not isinstance(items, list):
        expected = f'an object with a "{list_key}" list' if list_key else "a list"
        raise InputError([InputProblem(source, list_key or "file", f"must be {expected}")], what="file")
    rows = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InputError([InputProblem(f"item {number}", "*", "must be an object")], what=source)
        row = {_clean_key(k): v for k, v in item.items()}
        row["_row"] = number
        rows.append(row)
    return rows


def _rows_from_xlsx(path: Path) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InputError([InputProblem(str(path), "file", f"is not a readable XLSX workbook: {exc}")], what="file") from None
    sheet = workbook.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    header = [_clean_key(h) for h in next(values, ())]
    rows = []
    for number, cells in enumerate(values, start=2):
        if not any(c not in (None, "") for c in cells):
            continue
        row = {header[i]: (c.strip() if isinstance(c, str) else c) for i, c in enumerate(cells) if i < len(header)}
        row["_row"] = number
        rows.append(row)
    workbook.close()
    return rows


def write_xlsx(path: str | Path | BinaryIO, sheets: dict[str, list[list[Any]]]) -> None:
    """A workbook with one sheet per entry (to a path or a binary stream); the first row of each is its header."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title=title[:31])
        for row in rows:
            sheet.append(row)
    workbook.save(path)

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
    return read_table(path, list_key=list_key)[0]


def read_table(path: str | Path, *, list_key: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Rows of a CSV, XLSX or JSON file and how the file was read (for error messages: a CSV's encoding and
    separator are detected, so a problem says what was assumed)."""
    path = Path(path)
    if not path.is_file():
        raise InputError([InputProblem(str(path), "file", "does not exist", sv="finns inte")], what="file")
    suffix = path.suffix.lower()
    how = path.name
    if suffix == ".csv":
        text, encoding = read_text(path)
        separator = sniff_separator(text)
        how = f"{path.name}, read as {encoding} with {SEPARATORS[separator]} between columns"
        try:
            rows = rows_from_csv(text, separator)
        except csv.Error as exc:
            raise InputError([InputProblem(how, "file", f"is not a readable CSV file: {exc}",
                                           sv=f"är ingen läsbar CSV-fil: {exc}")], what="file") from None
    elif suffix == ".xlsx":
        rows = _rows_from_xlsx(path)
    elif suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError([InputProblem(str(path), "file", f"is not valid JSON: {exc}",
                                           sv=f"är inte giltig JSON: {exc}")], what="file") from None
        rows = rows_from_json(data, list_key=list_key, source=str(path))
    else:
        raise InputError([InputProblem(str(path), "file", "must end in .csv, .xlsx or .json",
                                       sv="ska sluta på .csv, .xlsx eller .json")], what="file")
    if len(rows) > MAX_ROWS:
        raise InputError([InputProblem(str(path), "file", f"has {len(rows)} rows; at most {MAX_ROWS}",
                                       sv=f"har {len(rows)} rader; högst {MAX_ROWS}")], what="file")
    return rows, how


SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs"}


def read_text(path: Path) -> tuple[str, str]:
    """A text file's text and encoding: UTF-8 (with or without a byte-order mark) or, when it is not valid
    UTF-8, Windows-1252, which Excel in Swedish writes for "CSV (semikolonavgränsad)"."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        return raw.decode("utf-16", errors="replace"), "UTF-16"
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "UTF-8"
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), "Windows-1252"


def sniff_separator(text: str) -> str:
    """The separator of a CSV text, read off its first line (Swedish Excel writes semicolons, with a decimal
    comma inside the numbers)."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: first.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda sep: (counts[sep], sep == ";"))
    return best if counts[best] else ","


def rows_from_csv(text: str, separator: str = ",") -> list[dict[str, Any]]:
    """Rows of a CSV text. Line ends of any kind (Excel for Mac writes a bare CR). A row with more values than the
    header keeps them under `_extra` (a decimal comma in a comma-separated file), for the reader to refuse."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.DictReader(io.StringIO(text), delimiter=separator, restkey="_extra")
    rows = []
    for number, raw in enumerate(reader, start=2):
        row = {(k if k == "_extra" else _clean_key(k)): (v.strip() if isinstance(v, str) else v)
               for k, v in raw.items() if k is not None}
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
    """A workbook with one sheet per entry (to a path or a binary stream); the first row of each is its header.

    Made to be read in a Swedish office: numbers stay numbers (floats shown with two decimals), the header is
    bold and frozen, every sheet has filters and columns wide enough for their text."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title=title[:31])
        widths: dict[int, int] = {}
        for row in rows:
            sheet.append(row)
            for i, value in enumerate(row, start=1):
                widths[i] = max(widths.get(i, 0), len(f"{value:.2f}" if isinstance(value, float) else str(value or "")))
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, float):
                    cell.number_format = "0.00"
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for i, width in widths.items():
            sheet.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 80)
        if rows:
            sheet.freeze_panes = "A2"
            sheet.auto_filter.ref = sheet.dimensions
    workbook.save(path)

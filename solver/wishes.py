"""Validating municipalities' wishes (önskemål) to give or receive share: every problem at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from solver.domain import (
    InputError,
    InputProblem,
    Municipality,
    Policy,
    Scope,
    Wish,
    WishKind,
    format_permille,
    parse_permille,
    permille_reason_sv,
)
from solver.io import read_rows
from solver.shares import ShareTable

WISH_FIELDS = {"code", "wish", "amount_permille", "partner", "name", "comment", "_row"}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _code(value: Any) -> str:
    text = _text(value)
    if text.isdigit() and len(text) < 4:  # a spreadsheet ate the leading zero
        text = text.zfill(4)
    return text


def parse_wishes(
    rows: Sequence[Mapping[str, Any]],
    municipalities: Sequence[Municipality],
    base: ShareTable,
    policy: Policy,
) -> list[Wish]:
    """Validated wishes sorted by code; raises InputError listing every problem (row, field, reason)."""
    by_code = {m.code: m for m in municipalities}
    problems: list[InputProblem] = []
    parsed: list[Wish] = []
    first_row: dict[str, tuple[int, WishKind]] = {}
    for row in rows:
        where = f"row {row.get('_row', '?')}"
        for name in sorted(set(row) - WISH_FIELDS):
            problems.append(InputProblem(where, name, "unknown column; expected code, wish, amount_permille, partner",
                                         sv="okänd kolumn; förväntade code, wish, amount_permille, partner"))
        code = _code(row.get("code"))
        if not code:
            problems.append(InputProblem(where, "code", "is missing", sv="saknas"))
            continue
        if code not in by_code:
            problems.append(InputProblem(where, "code", "is not one of the 290 municipality codes", code=code,
                                         sv="är inte en av de 290 kommunkoderna"))
            continue
        kind_text = _text(row.get("wish")).lower()
        try:
            kind = WishKind(kind_text)
        except ValueError:
            problems.append(InputProblem(where, "wish", f"must be 'give' or 'receive', got {kind_text!r}", code=code,
                                         sv=f"ska vara 'give' (omfördela) eller 'receive' (ta emot), inte {kind_text!r}"))
            continue
        number = row.get("_row", 0)
        if code in first_row:
            other_row, other_kind = first_row[code]
            reason = (f"gives and receives in the same year (row {other_row} says {other_kind.value})"
                      if other_kind is not kind else f"has a second wish (first in row {other_row})")
            reason_sv = (f"både omfördelar och tar emot samma år (rad {other_row} säger {other_kind.value})"
                         if other_kind is not kind else f"har ett andra önskemål (det första på rad {other_row})")
            problems.append(InputProblem(where, "code", reason, code=code, sv=reason_sv))
            continue
        first_row[code] = (number, kind)
        amount = _amount(row.get("amount_permille"), kind, code, where, base, problems)
        partner = _code(row.get("partner")) or None
        parsed.append(Wish(code=code, kind=kind, amount=amount, partner=partner, row=number))
    receivers = {w.code for w in parsed if w.kind is WishKind.RECEIVE}
    for wish in parsed:
        if wish.partner is None:
            continue
        where = f"row {wish.row}"
        if wish.kind is WishKind.RECEIVE:
            problems.append(InputProblem(where, "partner", "only a giver names a partner", code=wish.code,
                                         sv="bara en kommun som omfördelar anger en mottagande kommun"))
        elif wish.partner not in by_code:
            problems.append(InputProblem(where, "partner", f"{wish.partner!r} is not a municipality code", code=wish.code,
                                         sv=f"{wish.partner!r} är ingen kommunkod"))
        elif wish.partner == wish.code:
            problems.append(InputProblem(where, "partner", "a municipality cannot give to itself", code=wish.code,
                                         sv="en kommun kan inte omfördela till sig själv"))
        elif wish.partner not in receivers:
            problems.append(InputProblem(where, "partner",
                                         f"{wish.partner} ({by_code[wish.partner].name}) has no wish to receive",
                                         code=wish.code, sv=f"{wish.partner} ({by_code[wish.partner].name}) har "
                                                            "inget önskemål om att ta emot"))
        elif policy.scope is Scope.COUNTY and by_code[wish.partner].county_code != by_code[wish.code].county_code:
            problems.append(InputProblem(where, "partner",
                                         f"{wish.partner} ({by_code[wish.partner].name}) is in another county, "
                                         "which county scope does not allow", code=wish.code,
                                         sv=f"{wish.partner} ({by_code[wish.partner].name}) ligger i ett annat län, "
                                            "vilket omfördelning inom länet inte tillåter"))
    if problems:
        raise InputError(problems, what="wishes")
    return sorted(parsed, key=lambda w: w.code)


def _amount(value: Any, kind: WishKind, code: str, where: str, base: ShareTable,
            problems: list[InputProblem]) -> int | None:
    if isinstance(value, str) and value.strip().lower() == "all":
        if kind is WishKind.RECEIVE:
            problems.append(InputProblem(where, "amount_permille", "'all' is only for a giver; a receiver names the most "
                                         "it will take", code=code, sv="'all' gäller bara en kommun som omfördelar; en "
                                                                       "mottagande kommun anger hur mycket den tar emot"))
        return None
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(InputProblem(where, "amount_permille", "is missing (a number, or 'all' for a giver)", code=code,
                                     sv="saknas (ett tal, eller 'all' för en kommun som omfördelar)"))
        return 0
    try:
        units = parse_permille(value)
    except ValueError as exc:
        problems.append(InputProblem(where, "amount_permille", str(exc), code=code, sv=permille_reason_sv(str(exc))))
        return 0
    if units == 0:
        problems.append(InputProblem(where, "amount_permille", "must be more than 0", code=code, sv="ska vara mer än 0"))
    elif kind is WishKind.GIVE and units > base[code]:
        problems.append(InputProblem(where, "amount_permille",
                                     f"offers {format_permille(units)}‰, more than its share {format_permille(base[code])}‰",
                                     code=code, sv=f"vill omfördela {format_permille(units).replace('.', ',')} ‰, mer än "
                                                   f"sin andel {format_permille(base[code]).replace('.', ',')} ‰"))
    return units


def read_wishes(source: str | Path | Sequence[Mapping[str, Any]] | Mapping[str, Any],
                municipalities: Sequence[Municipality], base: ShareTable, policy: Policy) -> list[Wish]:
    """Wishes from a file path (CSV, XLSX, JSON), a JSON-like mapping or a list of rows."""
    if isinstance(source, str | Path):
        rows = read_rows(source, list_key="wishes")
    elif isinstance(source, Mapping):
        from solver.io import rows_from_json

        rows = rows_from_json(source, list_key="wishes", source="wishes")
    else:
        rows = [dict(r, _row=r.get("_row", i)) for i, r in enumerate(source, start=1)]
        for row in rows:
            if isinstance(row.get("wish"), WishKind):
                row["wish"] = row["wish"].value
    return parse_wishes(rows, municipalities, base, policy)

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
from solver.io import read_table
from solver.shares import ShareTable

WISH_FIELDS = {"code", "wish", "amount_permille", "partner", "name", "county", "share", "comment", "_row"}
# the columns of the Swedish wish form (`andelstal template`), as the reader's lower-cased headers
SWEDISH_COLUMNS = {"kod": "code", "kommunkod": "code", "kommun": "name", "län": "county", "andelstal (‰)": "share",
                   "önskemål": "wish", "promille": "amount_permille", "mottagande kommun": "partner",
                   "kommentar": "comment"}
# the form's choices; a row that says "Inget önskemål" is no wish at all
WISH_WORDS = {"omfördela bort": "give", "omfördela": "give", "ta emot": "receive"}
NO_WISH = {"inget önskemål", "none"}


def resolve(text: str, municipalities: Sequence[Municipality]) -> tuple[str | None, str | None]:
    """A municipality named by its code, `code name`, or its name as written in Swedish (`Ånge`, `Ånge kommun`,
    `Linköpings kommun`, `Stockholms stad`): (code, None); else (None, a suggestion `2260 Ånge`, or None)."""
    import difflib
    import re

    by_code = {m.code: m for m in municipalities}
    by_name = {m.name.casefold(): m for m in municipalities}

    def named(words: str) -> Municipality | None:
        words = re.sub(r"\s+(kommun|stad)$", "", words.strip(), flags=re.IGNORECASE).casefold()
        return by_name.get(words) or (by_name.get(words[:-1]) if words.endswith("s") else None)

    text = text.strip()
    head, _, rest = text.partition(" ")
    if head in by_code:
        if not rest or named(rest) is by_code[head]:
            return head, None
        return None, f"{head} {by_code[head].name}"  # a code and another municipality's name: ask, do not guess
    found = named(text)
    if found is not None:
        return found.code, None
    close = difflib.get_close_matches(text.casefold(), list(by_name), n=1, cutoff=0.6)
    return None, (f"{by_name[close[0]].code} {by_name[close[0]].name}" if close else None)


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
        row = {SWEDISH_COLUMNS.get(k, k): v for k, v in row.items()}
        where = f"row {row.get('_row', '?')}"
        if row.get("_extra"):
            problems.append(InputProblem(where, "*", "has more values than the header has columns (a decimal comma in "
                                         "a comma-separated file? write 1.05, or separate with semicolons)",
                                         sv="har fler värden än rubrikraden har kolumner (decimalkomma i en "
                                            "kommaseparerad fil? skriv 1.05 eller använd semikolon)"))
            continue
        wish_text, amount_text = _text(row.get("wish")).lower(), _text(row.get("amount_permille"))
        if not wish_text and not amount_text and not _text(row.get("partner")):
            continue  # a row of the wish form left as it was, or cleared
        for name in sorted(set(row) - WISH_FIELDS):
            problems.append(InputProblem(where, name, "unknown column; expected code, wish, amount_permille, partner",
                                         sv="okänd kolumn; förväntade code, wish, amount_permille, partner"))
        code = _code(row.get("code"))
        if not code:
            problems.append(InputProblem(where, "code", "is missing", sv="saknas"))
            continue
        if code not in by_code:
            found, hint = resolve(code, municipalities)
            if found is None:
                problems.append(InputProblem(
                    where, "code", f"{code!r} is not a municipality code or name" + (f"; did you mean {hint}?" if hint else ""),
                    code=code if code.isdigit() else None,
                    sv=f"{code!r} är varken en kommunkod eller ett kommunnamn" + (f"; menade du {hint}?" if hint else "")))
                continue
            code = found
        named = _text(row.get("name"))
        if named and resolve(named, municipalities)[0] not in (code, None):
            problems.append(InputProblem(where, "name", f"{named!r} is not the name of {code} "
                                         f"({by_code[code].name}); which one is meant?", code=code,
                                         sv=f"{named!r} är inte namnet på {code} ({by_code[code].name}); vilken "
                                            "kommun avses?"))
            continue
        kind_text = _text(row.get("wish")).lower()
        if kind_text in NO_WISH:
            if amount_text:
                problems.append(InputProblem(where, "amount_permille", f"has an amount ({amount_text}) but no wish",
                                             code=code, sv=f"har ett belopp ({amount_text}) men inget önskemål"))
            continue
        kind_text = WISH_WORDS.get(kind_text, kind_text)
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
        if partner is not None and partner not in by_code:
            partner = resolve(partner, municipalities)[0] or partner  # a name; an unknown one is reported below
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
            hint = resolve(wish.partner, municipalities)[1]
            problems.append(InputProblem(where, "partner", f"{wish.partner!r} is not a municipality code or name"
                                         + (f"; did you mean {hint}?" if hint else ""), code=wish.code,
                                         sv=f"{wish.partner!r} är varken en kommunkod eller ett kommunnamn"
                                            + (f"; menade du {hint}?" if hint else "")))
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
    if isinstance(value, str) and value.strip().lower() in ("all", "alla"):
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
        rows, how = read_table(source, list_key="wishes")
        if not rows and Path(source).suffix.lower() != ".json":
            raise InputError([InputProblem(how, "file", "has no wishes (it is empty or has only a header); for a "
                                           'round without wishes pass a JSON file with {"wishes": []}',
                                           sv="innehåller inga önskemål (den är tom eller har bara rubriker); för en "
                                              'omgång utan önskemål, ange en JSON-fil med {"wishes": []}')], "wishes")
        try:
            return parse_wishes(rows, municipalities, base, policy)
        except InputError as exc:
            raise InputError(exc.problems, f"wishes ({how})") from None
    elif isinstance(source, Mapping):
        from solver.io import rows_from_json

        rows = rows_from_json(source, list_key="wishes", source="wishes")
    else:
        rows = [dict(r, _row=r.get("_row", i)) for i, r in enumerate(source, start=1)]
        for row in rows:
            if isinstance(row.get("wish"), WishKind):
                row["wish"] = row["wish"].value
    return parse_wishes(rows, municipalities, base, policy)

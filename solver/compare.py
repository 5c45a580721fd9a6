"""Two proposals side by side: per municipality and per county, the share, the expected children and the
variable compensation in each, and the difference (B − A).

Shares are compared in whole units (0.01‰), so a difference is exact; the expected children and the
compensation are each proposal's own (its forecast may differ). Used by `andelstal compare` and by the
agency's comparison page.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from solver.domain import UNITS_PER_PERMILLE, InputError, InputProblem, Municipality
from solver.io import write_xlsx
from solver.redistribute.explain import en_permille, sv_permille


@dataclass(frozen=True)
class Line:
    """One municipality or one county in both proposals."""

    code: str
    name: str
    county_code: str
    county_name: str
    share_a: int  # units of 0.01‰
    share_b: int
    children_a: int
    children_b: int
    compensation_a: int  # SEK
    compensation_b: int

    @property
    def share_change(self) -> int:
        return self.share_b - self.share_a

    @property
    def children_change(self) -> int:
        return self.children_b - self.children_a

    @property
    def compensation_change(self) -> int:
        return self.compensation_b - self.compensation_a


@dataclass(frozen=True)
class Comparison:
    label_a: str
    label_b: str
    municipalities: list[Line]
    counties: list[Line]

    @property
    def changed(self) -> list[Line]:
        return [m for m in self.municipalities if m.share_change or m.children_change or m.compensation_change]

    def to_dict(self) -> dict[str, Any]:
        def plain(line: Line) -> dict[str, Any]:
            out = asdict(line)
            for key in ("share_a", "share_b"):
                out[key.replace("share", "share_permille")] = out.pop(key) / UNITS_PER_PERMILLE
            out["share_change_permille"] = line.share_change / UNITS_PER_PERMILLE
            out["children_change"] = line.children_change
            out["compensation_change"] = line.compensation_change
            return out

        return {"a": self.label_a, "b": self.label_b, "municipalities": [plain(m) for m in self.municipalities],
                "counties": [plain(c) for c in self.counties]}


def _units(value: object, where: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError([InputProblem(where, field, f"must be a number, got {value!r}",
                                       sv=f"måste vara ett tal, fick {value!r}")], what="proposal")
    return round(value * UNITS_PER_PERMILLE)


def _table(data: Any, label: str, known: dict[str, Municipality]) -> dict[str, tuple[int, int, int]]:
    """code -> (share units, expected children, compensation) of one proposal, every municipality present."""
    if not isinstance(data, dict) or not isinstance(data.get("shares"), list):
        raise InputError([InputProblem(label, "shares", "is not a proposal of `andelstal propose` (no share table)",
                                       sv="är inte ett förslag från `andelstal propose` (ingen andelstabell)")],
                         what="proposal")
    out: dict[str, tuple[int, int, int]] = {}
    for i, row in enumerate(data["shares"], start=1):
        where = f"{label}, row {i}"
        code = row.get("code") if isinstance(row, dict) else None
        if code not in known:
            raise InputError([InputProblem(where, "code", f"{code!r} is not a municipality code",
                                           sv=f"{code!r} är ingen kommunkod")], what="proposal")
        out[code] = (_units(row.get("proposed_permille"), where, "proposed_permille"),
                     int(row.get("expected_children") or 0), int(row.get("variable_compensation_sek") or 0))
    missing = sorted(set(known) - set(out))
    if missing:
        raise InputError([InputProblem(label, "shares", f"lacks {len(missing)} municipalities, e.g. {missing[0]}",
                                       sv=f"saknar {len(missing)} kommuner, t.ex. {missing[0]}")], what="proposal")
    return out


def compare(a: Any, b: Any, municipalities: Sequence[Municipality], *, label_a: str = "A",
            label_b: str = "B") -> Comparison:
    """Compare two proposals (the JSON of `andelstal propose` or a stored proposal); InputError when either is not
    a whole proposal over the same municipalities."""
    known = {m.code: m for m in municipalities}
    ta, tb = _table(a, label_a, known), _table(b, label_b, known)
    lines = [Line(m.code, m.name, m.county_code, m.county_name, *_pair(ta[m.code], tb[m.code]))
             for m in sorted(municipalities, key=lambda m: m.code)]
    counties: dict[str, list[Line]] = {}
    for line in lines:
        counties.setdefault(line.county_code, []).append(line)
    totals = [Line(code, group[0].county_name, code, group[0].county_name,
                   *[sum(getattr(x, f) for x in group) for f in ("share_a", "share_b", "children_a", "children_b",
                                                                 "compensation_a", "compensation_b")])
              for code, group in sorted(counties.items())]
    return Comparison(label_a, label_b, lines, totals)


def _pair(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int, int, int, int]:
    return a[0], b[0], a[1], b[1], a[2], b[2]


HEADERS = {
    "sv": ["Kod", "Kommun", "Län", "Andelstal A (‰)", "Andelstal B (‰)", "Förändring (‰)", "Förväntade barn A",
           "Förväntade barn B", "Förändring barn", "Ersättning A (kr)", "Ersättning B (kr)", "Förändring ersättning (kr)"],
    "en": ["Code", "Municipality", "County", "Share A (‰)", "Share B (‰)", "Change (‰)", "Expected children A",
           "Expected children B", "Change in children", "Compensation A (SEK)", "Compensation B (SEK)",
           "Change in compensation (SEK)"],
}
COUNTY_HEADERS = {"sv": ["Länskod", "Län"], "en": ["County code", "County"]}


def _cells(line: Line, county: bool) -> list[Any]:
    head = [line.code, line.name] if county else [line.code, line.name, line.county_name]
    return head + [line.share_a / 100, line.share_b / 100, line.share_change / 100, line.children_a, line.children_b,
                   line.children_change, line.compensation_a, line.compensation_b, line.compensation_change]


def sheets(result: Comparison, language: str = "sv") -> dict[str, list[list[Any]]]:
    head = HEADERS[language]
    county_head = COUNTY_HEADERS[language] + head[3:]
    names = ("Kommuner", "Län") if language == "sv" else ("Municipalities", "Counties")
    return {names[0]: [head] + [_cells(m, False) for m in result.municipalities],
            names[1]: [county_head] + [_cells(c, True) for c in result.counties]}


def write_comparison(result: Comparison, path: str | Path, *, language: str = "sv") -> None:
    """JSON (both tables), CSV (the municipalities; Swedish convention: semicolons, decimal comma, BOM) or XLSX."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        path.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    elif suffix == ".csv":
        path.write_text(comparison_csv(result, language), encoding="utf-8-sig" if language == "sv" else "utf-8")
    elif suffix == ".xlsx":
        write_xlsx(path, sheets(result, language))
    else:
        raise InputError([InputProblem(str(path), "out", "must end in .json, .csv or .xlsx",
                                       sv="måste sluta på .json, .csv eller .xlsx")], what="output")


def comparison_csv(result: Comparison, language: str = "sv") -> str:
    out = io.StringIO()
    sv = language == "sv"
    writer = csv.writer(out, delimiter=";" if sv else ",", lineterminator="\n")
    rows = sheets(result, language)
    for row in next(iter(rows.values())):
        writer.writerow([f"{c:.2f}".replace(".", ",") if sv and isinstance(c, float) else
                         (f"{c:.2f}" if isinstance(c, float) else c) for c in row])
    return out.getvalue()


def summary_lines(result: Comparison, language: str = "sv") -> list[str]:
    """The municipalities whose share, children or compensation differ, one line each (for the terminal)."""
    sv = language == "sv"
    out = []
    for m in result.changed:
        if sv:
            out.append(f"{m.name} ({m.code}, {m.county_name}): {sv_permille(m.share_a)} → {sv_permille(m.share_b)} "
                       f"({sv_permille(m.share_change)}), förväntade barn {m.children_a} → {m.children_b}")
        else:
            out.append(f"{m.name} ({m.code}, {m.county_name}): {en_permille(m.share_a)} → {en_permille(m.share_b)} "
                       f"({en_permille(m.share_change)}), expected children {m.children_a} → {m.children_b}")
    if not out:
        out.append("Förslagen är lika för varje kommun." if sv else "The proposals are equal for every municipality.")
    return out

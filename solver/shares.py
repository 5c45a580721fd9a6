"""Base shares (andelstal) from statistics: a weighted key, the 1 per mille floor, exact apportionment.

The Migration Agency's real weights are not public. The key here follows the report's description (large
population raises a share, large earlier reception lowers it) with named weights; the shipped 2018
reception figures stand in for the agency's 12-month statistics. Its output is therefore illustrative,
and says so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from solver.apportion import Method, Tie, apportion
from solver.domain import (
    TOTAL_UNITS,
    UNITS_PER_PERMILLE,
    InputError,
    InputProblem,
    Municipality,
    parse_permille,
    permille_reason_sv,
)

#: statistics the key may weigh, by name -> attribute of Municipality
RECEPTION_VARIABLES = {
    "received_total": "received_2018_total",
    "received_children": "received_2018_children",
}

ILLUSTRATIVE_NOTE = (
    "Illustrative: population share adjusted by 2018 reception with default weights; "
    "the Migration Agency's own weights and 12-month statistics are not public."
)


@dataclass(frozen=True)
class ShareKey:
    """How base shares are computed.

    score_i = population_i × max(0, 1 + Σ_k weight_k × (1 − intensity_k,i)), where intensity is the
    municipality's reception per inhabitant relative to the national rate (1 = national average).
    A municipality whose statistic is missing is treated as at the national rate for it.
    """

    weights: Mapping[str, Fraction] = field(
        default_factory=lambda: {"received_total": Fraction(1, 4), "received_children": Fraction(1, 4)}
    )
    floor_units: int = 1 * UNITS_PER_PERMILLE
    method: Method = Method.HAMILTON

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", Method.parse(self.method))
        unknown = sorted(set(self.weights) - set(RECEPTION_VARIABLES))
        if unknown:
            raise ValueError(f"unknown share-key variable(s) {unknown}; known: {sorted(RECEPTION_VARIABLES)}")

    def describe(self) -> dict[str, Any]:
        return {
            "weights": {k: float(v) for k, v in sorted(self.weights.items())},
            "floor_permille": self.floor_units / UNITS_PER_PERMILLE,
            "method": self.method.value,
        }


@dataclass(frozen=True)
class ShareTable:
    """A complete share table in units: every municipality exactly once, summing to 100,000."""

    units: dict[str, int]
    source: str
    illustrative: bool = False
    note: str = ""
    ties: tuple[tuple[str, ...], ...] = ()

    def __getitem__(self, code: str) -> int:
        return self.units[code]


def key_scores(municipalities: Sequence[Municipality], key: ShareKey) -> list[Fraction]:
    total_pop = sum(m.population for m in municipalities)
    scores: list[Fraction] = []
    rates = {}
    for name, attr in RECEPTION_VARIABLES.items():
        known = [m for m in municipalities if getattr(m, attr) is not None]
        received = sum(getattr(m, attr) for m in known)
        pop = sum(m.population for m in known)
        rates[name] = Fraction(received, pop) if pop else Fraction(0)
    for m in municipalities:
        factor = Fraction(1)
        for name, weight in key.weights.items():
            value = getattr(m, RECEPTION_VARIABLES[name])
            if value is None or rates[name] == 0:
                continue
            intensity = Fraction(value, m.population) / rates[name]
            factor += weight * (1 - intensity)
        scores.append(Fraction(m.population, total_pop) * max(Fraction(0), factor))
    return scores


def compute_base_shares(municipalities: Sequence[Municipality], key: ShareKey | None = None) -> ShareTable:
    if key is None:
        return _default_base_shares(tuple(municipalities))
    return _base_shares(municipalities, key)


@lru_cache(maxsize=4)
def _default_base_shares(municipalities: tuple[Municipality, ...]) -> ShareTable:
    """The illustrative table of the default key, computed once per municipality list (it is exact)."""
    return _base_shares(municipalities, ShareKey())


def _base_shares(municipalities: Sequence[Municipality], key: ShareKey) -> ShareTable:
    scores = key_scores(municipalities, key)
    result = apportion(scores, TOTAL_UNITS, key.method, floors=[key.floor_units] * len(municipalities))
    codes = [m.code for m in municipalities]
    return ShareTable(
        units=dict(zip(codes, result.seats, strict=True)),
        source=f"share key ({key.method.value})",
        illustrative=True,
        note=ILLUSTRATIVE_NOTE,
        ties=tuple(_tie_codes(t, codes) for t in result.ties),
    )


def _tie_codes(tie: Tie, codes: list[str]) -> tuple[str, ...]:
    return tuple(codes[i] for i in tie.parties)


def population_shares(municipalities: Sequence[Municipality]) -> dict[str, Fraction]:
    """Each municipality's population-proportional share, exact, in units."""
    total = sum(m.population for m in municipalities)
    return {m.code: Fraction(m.population * TOTAL_UNITS, total) for m in municipalities}


def validate_share_rows(rows: Sequence[Mapping[str, Any]], municipalities: Sequence[Municipality],
                        source: str) -> ShareTable:
    """A given share table (`code,share_permille`): all codes exactly once, two decimals, sum 1000.00."""
    problems: list[InputProblem] = []
    known = {m.code for m in municipalities}
    units: dict[str, int] = {}
    for row in rows:
        where = f"row {row.get('_row', '?')}"
        code = _code_text(row.get("code"))
        if code is None:
            problems.append(InputProblem(where, "code", "is missing", sv="saknas"))
            continue
        if code not in known:
            problems.append(InputProblem(where, "code", "is not a municipality code", code=code, sv="är ingen kommunkod"))
            continue
        if code in units:
            problems.append(InputProblem(where, "code", "appears more than once", code=code, sv="förekommer mer än en gång"))
            continue
        try:
            units[code] = parse_permille(row.get("share_permille"))
        except ValueError as exc:
            problems.append(InputProblem(where, "share_permille", str(exc), code=code, sv=permille_reason_sv(str(exc))))
            units[code] = 0
    missing = sorted(known - set(units))
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        problems.append(InputProblem(source, "code", f"{len(missing)} municipalities are missing: {shown}",
                                     sv=f"{len(missing)} kommuner saknas: {shown}"))
    total = sum(units.values())
    if not problems and total != TOTAL_UNITS:
        problems.append(InputProblem(source, "share_permille",
                                     f"shares sum to {total / UNITS_PER_PERMILLE:.2f}, not exactly 1000.00",
                                     sv=f"andelarna summerar till {total / UNITS_PER_PERMILLE:.2f}, inte exakt "
                                        "1000,00".replace(".", ",")))
    if problems:
        raise InputError(problems, what=f"share table {source}")
    return ShareTable(units=dict(sorted(units.items())), source=source)


def _code_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if text.isdigit() and len(text) < 4:  # a spreadsheet ate the leading zero
        text = text.zfill(4)
    return text or None


def share_table_csv(table: ShareTable, municipalities: Sequence[Municipality]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "name", "county_code", "share_permille"])
    for m in municipalities:
        units = table.units[m.code]
        writer.writerow([m.code, m.name, m.county_code, f"{units // 100}.{units % 100:02d}"])
    return out.getvalue()


def read_share_table(path: str | Path, municipalities: Sequence[Municipality]) -> ShareTable:
    from solver.io import read_rows

    return validate_share_rows(read_rows(path), municipalities, str(path))

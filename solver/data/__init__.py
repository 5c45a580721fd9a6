"""The shipped municipality data (SCB population 2024, Migration Agency 2018 figures) and its loader.

The loader validates the whole file and refuses a broken one, listing every problem: a share table
computed from a silently truncated or mistyped file would be wrong for every municipality.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources
from pathlib import Path

from solver.domain import InputError, InputProblem, Municipality

EXPECTED_COLUMNS = (
    "code",
    "name",
    "county_code",
    "county_name",
    "population",
    "kommunmottagna_2018_totalt",
    "kommunmottagna_2018_ensamkommande_barn",
    "kommuntal_nyanlanda_2018",
    "kommuntal_nyanlanda_2018_mottagna",
)
EXPECTED_MUNICIPALITIES = 290
EXPECTED_COUNTIES = 21


def _optional_count(text: str, row: int, column: str, problems: list[InputProblem], code: str) -> int | None:
    if text.strip() == "":
        return None
    if not text.strip().isdigit():
        problems.append(InputProblem(f"row {row}", column, f"must be a whole number ≥ 0, got {text!r}", code=code))
        return None
    return int(text)


def parse_municipalities(text: str, *, source: str = "municipalities.csv",
                         expect_complete: bool = True) -> tuple[Municipality, ...]:
    """Parse and validate the municipality table; raise InputError naming every bad row and field."""
    problems: list[InputProblem] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError([InputProblem(source, "header", "the file is empty")], what=source) from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    if tuple(header) != EXPECTED_COLUMNS:
        raise InputError(
            [InputProblem(source, "header", f"expected columns {','.join(EXPECTED_COLUMNS)}, got {','.join(header)}")],
            what=source,
        )
    result: list[Municipality] = []
    seen: dict[str, int] = {}
    county_names: dict[str, str] = {}
    for index, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(EXPECTED_COLUMNS):
            problems.append(InputProblem(f"row {index}", "*", f"expected {len(EXPECTED_COLUMNS)} cells, got {len(cells)}"))
            continue
        code, name, county_code, county_name, population = (c.strip() for c in cells[:5])
        where = f"row {index}"
        if not (len(code) == 4 and code.isdigit()):
            problems.append(InputProblem(where, "code", f"must be four digits, got {code!r}"))
            continue
        if code in seen:
            problems.append(InputProblem(where, "code", f"duplicate of row {seen[code]}", code=code))
            continue
        seen[code] = index
        if not name:
            problems.append(InputProblem(where, "name", "is empty", code=code))
        if not (len(county_code) == 2 and county_code.isdigit()):
            problems.append(InputProblem(where, "county_code", f"must be two digits, got {county_code!r}", code=code))
        elif not code.startswith(county_code):
            problems.append(InputProblem(where, "county_code", f"{county_code} does not match the code's first two digits",
                                         code=code))
        elif county_names.setdefault(county_code, county_name) != county_name:
            problems.append(InputProblem(where, "county_name",
                                         f"{county_name!r} differs from {county_names[county_code]!r} for county {county_code}",
                                         code=code))
        if not population.isdigit() or int(population) <= 0:
            problems.append(InputProblem(where, "population", f"must be a positive whole number, got {population!r}",
                                         code=code))
            continue
        counts = [_optional_count(cells[5 + k], index, EXPECTED_COLUMNS[5 + k], problems, code) for k in range(4)]
        result.append(Municipality(code, name, county_code, county_name, int(population), *counts))
    if expect_complete:
        if len(seen) != EXPECTED_MUNICIPALITIES:
            problems.append(InputProblem(source, "code", f"expected {EXPECTED_MUNICIPALITIES} municipalities, got {len(seen)}"))
        if len(county_names) != EXPECTED_COUNTIES:
            problems.append(InputProblem(source, "county_code",
                                         f"expected {EXPECTED_COUNTIES} counties, got {len(county_names)}"))
    if problems:
        raise InputError(problems, what=source)
    return tuple(sorted(result, key=lambda m: m.code))


def load_municipalities(path: str | Path | None = None) -> tuple[Municipality, ...]:
    """The 290 municipalities sorted by code: the shipped file, or `path` when given."""
    if path is None:
        return _shipped()
    return parse_municipalities(Path(path).read_text(encoding="utf-8"), source=str(path))


@lru_cache(maxsize=1)
def _shipped() -> tuple[Municipality, ...]:
    text = resources.files(__package__).joinpath("municipalities.csv").read_text(encoding="utf-8")
    return parse_municipalities(text)


def sample_wishes_path() -> Path:
    """The demo wish set shipped with the package (about 40 givers and 10 receivers)."""
    return Path(str(resources.files(__package__).joinpath("sample_wishes.json")))

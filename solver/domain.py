"""The nouns of the domain: municipalities, wishes, policy, proposals, and the unit of a share.

Shares (andelstal) are kept as integers in units of 0.01 per mille, so the national total is exactly
100,000 units and no float ever decides an amount.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from fractions import Fraction
from typing import Any

UNITS_PER_PERMILLE = 100
TOTAL_UNITS = 1000 * UNITS_PER_PERMILLE  # 1000.00 per mille


class InputProblem(ValueError):
    """One problem found in the input, naming where it is and why it is wrong."""

    def __init__(self, where: str, field: str, reason: str, *, code: str | None = None, sv: str | None = None):
        self.where = where
        self.field = field
        self.reason = reason
        self.reason_sv = sv  # the reason in Swedish, where the check gives one
        self.code = code
        super().__init__(self.message)

    @property
    def message(self) -> str:
        who = f" (municipality {self.code})" if self.code else ""
        return f"{self.where}{who}, field '{self.field}': {self.reason}"

    @property
    def message_sv(self) -> str | None:
        if self.reason_sv is None:
            return None
        where = re.sub(r"^row ", "rad ", self.where)
        who = f" (kommun {self.code})" if self.code else ""
        return f"{where}{who}, fält '{self.field}': {self.reason_sv}"

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "field": self.field, "code": self.code, "reason": self.reason}


def permille_reason_sv(reason: str) -> str:
    """parse_permille's reasons in Swedish (its ValueError carries the English one)."""
    for en, sv in (("must be a finite number", "ska vara ett ändligt tal"), ("must not be negative", "får inte vara negativt"),
                   ("has more than two decimals", "har fler än två decimaler"), ("must be a number", "ska vara ett tal")):
        if reason.startswith(en):
            return sv + reason[len(en):].replace("(got ", "(fick ")
    return reason


class InputError(ValueError):
    """All problems found in an input at once; nothing is computed from it."""

    def __init__(self, problems: list[InputProblem], what: str = "input"):
        self.problems = list(problems)
        self.what = what
        lines = "\n".join(f"  - {p.message}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the {what}:\n{lines}")

    def to_dict(self) -> dict[str, Any]:
        return {"error": f"invalid {self.what}", "problems": [p.to_dict() for p in self.problems]}


_PERMILLE_RE = re.compile(r"^\s*[0-9]+(\.[0-9]+)?\s*$")  # ASCII digits only: "٣" is not 3


def parse_permille(value: Any) -> int:
    """Parse a per-mille amount with at most two decimals into units of 0.01 per mille.

    Raises ValueError with a readable reason; never rounds silently.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a number")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a finite number")
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = value.strip().replace(",", ".") if value.count(",") == 1 and "." not in value else value.strip()
        if text.startswith("-"):
            raise ValueError(f"must not be negative (got {value!r})")
        if not _PERMILLE_RE.match(text):
            raise ValueError(f"must be a number such as 1.25 (got {value!r})")
        try:
            number = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
            raise ValueError(f"must be a number (got {value!r})") from exc
    else:
        raise ValueError(f"must be a number (got {type(value).__name__})")
    if not number.is_finite():
        raise ValueError("must be a finite number")
    if number < 0:
        raise ValueError(f"must not be negative (got {number})")
    scaled = number * UNITS_PER_PERMILLE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"has more than two decimals (got {number})")
    return int(scaled)


def permille(units: int) -> float:
    """Units of 0.01 per mille as a per-mille number with at most two decimals (for JSON)."""
    return units / UNITS_PER_PERMILLE


def format_permille(units: int) -> str:
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // UNITS_PER_PERMILLE}.{units % UNITS_PER_PERMILLE:02d}"


@dataclass(frozen=True)
class Municipality:
    """A municipality (kommun) with the statistics the share key uses."""

    code: str
    name: str
    county_code: str
    county_name: str
    population: int
    received_2018_total: int | None
    received_2018_children: int | None
    quota_2018: int | None
    quota_2018_received: int | None


class WishKind(str, Enum):
    GIVE = "give"
    RECEIVE = "receive"


@dataclass(frozen=True)
class Wish:
    """A municipality's wish (önskemål) to give away or receive share for the coming year.

    `amount` is in units; None for a giver means `all` (its whole base share).
    """

    code: str
    kind: WishKind
    amount: int | None
    partner: str | None = None
    row: int | None = field(default=None, compare=False)

    @property
    def gives(self) -> bool:
        return self.kind is WishKind.GIVE

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "wish": self.kind.value,
            "amount_permille": "all" if self.amount is None else permille(self.amount),
            "partner": self.partner,
        }


class Scope(str, Enum):
    NATIONAL = "national"
    COUNTY = "county"


class ObjectiveMode(str, Enum):
    LEXICOGRAPHIC = "lexicographic"  # the staged driver: max distance from the relaxation's cut first (a proxy)
    LEXIMIN = "leximin"  # the exact default order of docs/fairness.md (redistribute/leximin.py)
    WEIGHTED = "weighted"


@dataclass(frozen=True)
class Weights:
    """Weights of the objective terms in the weighted mode (all per unit of 0.01 per mille or per count)."""

    unmet: float = 1.0
    unequal: float = 1.0
    population: float = 0.1
    cross_county: float = 10.0
    transfers: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return {
            "unmet": self.unmet,
            "unequal": self.unequal,
            "population": self.population,
            "cross_county": self.cross_county,
            "transfers": self.transfers,
        }


@dataclass(frozen=True)
class Policy:
    """The rules of one redistribution; every field has a default (today's rules, national market).

    Amounts are in units of 0.01 per mille; fractions are exact.
    """

    scope: Scope = Scope.NATIONAL
    objective: ObjectiveMode = ObjectiveMode.LEXICOGRAPHIC
    weights: Weights = field(default_factory=Weights)
    spill: bool = False
    giver_floor: int = 0
    county_floor: Fraction | None = None
    receiver_cap: Fraction | None = None
    one_receiver: bool = True
    binding_agreements: bool = True  # an agreement already made is honoured in full (docs/fairness.md)
    min_transfer: int = 1
    forecast: int = 500
    time_limit_s: float = 5.0
    seed: int = 0
    num_workers: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope.value,
            "objective": self.objective.value,
            "weights": self.weights.to_dict(),
            "spill": self.spill,
            "giver_floor_permille": permille(self.giver_floor),
            "county_floor": None if self.county_floor is None else float(self.county_floor),
            "receiver_cap": None if self.receiver_cap is None else float(self.receiver_cap),
            "one_receiver": self.one_receiver,
            "binding_agreements": self.binding_agreements,
            "min_transfer_permille": permille(self.min_transfer),
            "forecast": self.forecast,
            "time_limit_s": self.time_limit_s,
            "seed": self.seed,
            "num_workers": self.num_workers,
        }


@dataclass(frozen=True)
class Transfer:
    giver: str
    receiver: str
    amount: int
    cross_county: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "giver": self.giver,
            "receiver": self.receiver,
            "permille": permille(self.amount),
            "cross_county": self.cross_county,
        }

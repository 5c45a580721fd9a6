"""The allocation simulator: what a share table means for children, municipalities and money.

The process, year by year and child by child (Monte Carlo over seeded replicates):
- arrivals: the forecast of the year (a fixed count, or Poisson around it);
- a tie allocation (anknytningsanvisning), with probability `tie_share` (exactly round(tie_share × arrivals)
  of them under fixed arrivals, at random places in the year): the child goes to a municipality drawn in
  proportion to its tie weight (population, times a boost for chosen municipalities), whatever its goal
  fulfilment; it counts toward that fulfilment;
- an equalising allocation (utjämnande anvisning): the child goes to the municipality with the lowest goal
  fulfilment, received ÷ (share × all allocations so far). Compared `before` the allocation that is
  Adams' divisor sequence, `after` it D'Hondt's. Ties: the larger share first, then the lower code. A
  municipality with share 0 gets no equalising allocation;
- under the `priority` rule (the report's 4.2), an equalising allocation goes first to a volunteer with room
  left this year (the lowest fulfilment among them), and only then by fulfilment among all.

Goal fulfilment counts from the start state: each municipality's allocations since 2016 (a history file), by
default every municipality on target in whole children with an assumed history (`history_children`). Redistribution is
accounted as the report states it: an equalising allocation to a receiver is credited to it only in
proportion to its own base share, the rest to its givers in proportion to what they gave; tie allocations
are credited where they land.

The inner loop is compiled (numba); `simulate_python` is the same process as a plain per-child loop, kept
as the reference the tests and the benchmark compare with.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from solver.compensation import expected_children
from solver.domain import TOTAL_UNITS, InputError, InputProblem, Municipality

FORECAST = (400, 500, 200, 200)  # children, 2026–2029 (the Migration Agency's forecast)
TIE_SHARE_2025 = 0.72
FIXED_SEK = 500_000  # per municipality and year, for readiness
VARIABLE_SEK = 9_450  # per expected child: round(share × forecast)
PER_CHILD_SEK = 52_000  # once per allocated child
PER_DAY_SEK = 1_000  # per child and day of care
MAX_REPLICATES = 100_000
MAX_YEARS = 50
MAX_ARRIVALS = 1_000_000
MAX_REPLICATE_YEARS = 200_000  # the counts of every replicate-year are kept: 290 × 4 bytes each
MAX_CHILDREN = 500_000_000  # children simulated in all (about 3 minutes on one core)
HISTORY_CHILDREN = 4_390  # the assumed allocations since 2016: ten years at the 2025 volume (about 439)
MAX_HISTORY = 10_000_000  # children in a history, all municipalities together (2016-2025: about 10,000)
CREDIT = 100_000  # a child in credit units: the year-end accounting moves fractions of a child


@dataclass(frozen=True)
class SimulationParams:
    years: int = 4
    arrivals: tuple[int, ...] = FORECAST  # per year; the last repeats when there are more years
    arrivals_model: str = "fixed"  # or "poisson"
    tie_share: float = TIE_SHARE_2025
    tie_boost: Mapping[str, float] = field(default_factory=dict)  # code -> factor on its tie weight
    comparison: str = "before"  # "before": Adams' sequence; "after": D'Hondt's
    rule: str = "equalising"  # or "priority" (volunteers first)
    replicates: int = 1000
    seed: int = 0
    mean_stay_days: float = 365.0  # days of care paid per allocated child
    tie_children_in_agency_housing: float = 0.0  # share of tie children the per-day payment does not cover
    # the forecast the variable compensation and the volunteers' capacity follow (report 2.5, 4.2); default the
    # arrivals. Stress raises the arrivals, never the forecast.
    forecast: tuple[int, ...] | None = None
    # a redistribution is valid one calendar year (report 2.3.2): "once" applies the proposal in the first year and
    # the base table after it; "yearly" makes the same round every year
    redistribution: str = "once"
    # where fulfilment starts: every municipality on target with this many allocations since 2016 behind the
    # country (an assumption: the published yearly volumes of 2016-2024 are not in the project's sources), unless a
    # start file gives each municipality's own allocations
    history_children: int = HISTORY_CHILDREN
    # allocations a year before the simulated years (from 2016), run from zero under the base table to find where
    # fulfilment starts (report section 6: years between allocations are the rule's own doing); the published volumes
    # are the user's to give, and no history may be given with them
    burn_in: tuple[int, ...] = ()

    def arrivals_by_year(self) -> list[int]:
        return [self.arrivals[min(y, len(self.arrivals) - 1)] for y in range(self.years)]

    def forecast_by_year(self) -> list[int]:
        source = self.forecast or self.arrivals
        return [source[min(y, len(source) - 1)] for y in range(self.years)]

    def to_dict(self) -> dict[str, Any]:
        return {"years": self.years, "arrivals": list(self.arrivals_by_year()), "arrivals_model": self.arrivals_model,
                "tie_share": self.tie_share, "tie_boost": dict(self.tie_boost), "comparison": self.comparison,
                "rule": self.rule, "replicates": self.replicates, "seed": self.seed,
                "mean_stay_days": self.mean_stay_days,
                "tie_children_in_agency_housing": self.tie_children_in_agency_housing,
                "forecast": self.forecast_by_year(), "redistribution": self.redistribution,
                "history_children": self.history_children, "burn_in": list(self.burn_in)}


def parse_params(data: Mapping[str, Any] | None, known_codes: set[str]) -> SimulationParams:
    """Parameters from a plain mapping (command line, HTTP); every problem at once, naming the field."""
    data = dict(data or {})
    problems: list[InputProblem] = []
    fields = {f for f in SimulationParams.__dataclass_fields__}
    for name in sorted(set(data) - fields):
        problems.append(InputProblem("parameters", name, f"unknown field; known: {', '.join(sorted(fields))}",
                                     sv=f"okänt fält; kända: {', '.join(sorted(fields))}"))

    def number(name: str, default: float, low: float, high: float, whole: bool = False) -> float:
        value = data.get(name, default)
        if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
                or (whole and value != int(value))):
            problems.append(InputProblem("parameters", name, f"must be a {'whole ' if whole else ''}number, got {value!r}",
                                         sv=f"ska vara ett {'heltal' if whole else 'tal'}, inte {value!r}"))
            return default
        if not low <= value <= high:
            problems.append(InputProblem("parameters", name, f"must be between {low} and {high}, got {value}",
                                         sv=f"ska vara mellan {low} och {high}, inte {value}"))
            return default
        return value

    def integer(name: str, default: int, low: int, high: int) -> int:
        return int(number(name, default, low, high, whole=True))

    def choice(name: str, default: str, options: tuple[str, ...]) -> str:
        value = data.get(name, default)
        if value not in options:
            problems.append(InputProblem("parameters", name, f"must be one of {', '.join(options)}, got {value!r}",
                                         sv=f"ska vara en av {', '.join(options)}, inte {value!r}"))
            return default
        return str(value)

    years = integer("years", 4, 1, MAX_YEARS)
    raw = data.get("arrivals", FORECAST)
    raw = [raw] if isinstance(raw, int | float) and not isinstance(raw, bool) else raw
    arrivals: tuple[int, ...] = ()
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw or len(raw) > MAX_YEARS:
        problems.append(InputProblem("parameters", "arrivals", f"must be a count or a list of 1 to {MAX_YEARS} counts",
                                     sv=f"ska vara ett antal eller en lista med 1 till {MAX_YEARS} antal"))
    else:
        arrivals = _counts("arrivals", raw, problems)
    boost = data.get("tie_boost", {}) or {}
    boosts: dict[str, float] = {}
    if not isinstance(boost, Mapping):
        problems.append(InputProblem("parameters", "tie_boost", "must map municipality codes to factors",
                                     sv="ska ange en faktor per kommunkod"))
    else:
        for code, factor in boost.items():
            if str(code) not in known_codes:
                problems.append(InputProblem("parameters", f"tie_boost.{code}", "is not a municipality code", code=str(code),
                                             sv="är ingen kommunkod"))
            elif isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 <= factor <= 1000:
                problems.append(InputProblem("parameters", f"tie_boost.{code}", f"must be a factor from 0 to 1000, got "
                                             f"{factor!r}", code=str(code),
                                             sv=f"ska vara en faktor från 0 till 1000, inte {factor!r}"))
            else:
                boosts[str(code)] = float(factor)
    params = SimulationParams(
        years=years,
        arrivals=arrivals or FORECAST,
        arrivals_model=choice("arrivals_model", "fixed", ("fixed", "poisson")),
        tie_share=float(number("tie_share", TIE_SHARE_2025, 0.0, 1.0)),
        tie_boost=boosts,
        comparison=choice("comparison", "before", ("before", "after")),
        rule=choice("rule", "equalising", ("equalising", "priority")),
        replicates=integer("replicates", 1000, 1, MAX_REPLICATES),
        seed=integer("seed", 0, 0, 2**31 - 1),
        mean_stay_days=float(number("mean_stay_days", 365.0, 0.0, 10_000.0)),
        tie_children_in_agency_housing=float(number("tie_children_in_agency_housing", 0.0, 0.0, 1.0)),
        forecast=_forecast(data.get("forecast"), problems),
        redistribution=choice("redistribution", "once", ("once", "yearly")),
        history_children=integer("history_children", HISTORY_CHILDREN, 0, 10_000_000),
        burn_in=_counts("burn_in", data.get("burn_in", []), problems),
    )
    spans = params.replicates * (params.years + len(params.burn_in))  # the kernel keeps every year's counts
    if not problems and spans > MAX_REPLICATE_YEARS:
        problems.append(InputProblem("parameters", "replicates", f"replicates × years (with the burn-in's) is "
                                     f"{spans:,}; at most {MAX_REPLICATE_YEARS:,}",
                                     sv=f"replikat × år (med inkörningens) är {spans:,}".replace(",", " ")
                                        + f"; högst {MAX_REPLICATE_YEARS:,}".replace(",", " ")))
    children = params.replicates * (sum(params.arrivals_by_year()) + sum(params.burn_in))
    if not problems and children > MAX_CHILDREN:
        problems.append(InputProblem("parameters", "arrivals", f"replicates × arrivals (with the burn-in's) is "
                                     f"{children:,} children; at most {MAX_CHILDREN:,}",
                                     sv=f"replikat × ankomster (med inkörningens) är {children:,} barn".replace(",", " ")
                                        + f"; högst {MAX_CHILDREN:,}".replace(",", " ")))
    if problems:
        raise InputError(problems, what="simulation parameters")
    return params


def _counts(name: str, raw: Any, problems: list[InputProblem]) -> tuple[int, ...]:
    """A list of at most MAX_YEARS whole numbers of children (yearly arrivals, the burn-in's volumes)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) > MAX_YEARS:
        problems.append(InputProblem("parameters", name, f"must be a list of at most {MAX_YEARS} counts",
                                     sv=f"ska vara en lista med högst {MAX_YEARS} antal"))
        return ()
    out: list[int] = []
    for i, a in enumerate(raw):
        if isinstance(a, bool) or not isinstance(a, int | float) or a != int(a) or not 0 <= a <= MAX_ARRIVALS:
            problems.append(InputProblem("parameters", f"{name}[{i}]",
                                         f"must be a whole number of children from 0 to {MAX_ARRIVALS}, got {a!r}",
                                         sv=f"ska vara ett helt antal barn från 0 till {MAX_ARRIVALS}, inte {a!r}"))
        else:
            out.append(int(a))
    return tuple(out)


def arrivals_from(forecast: int) -> tuple[int, ...]:
    """The yearly arrivals of a simulation that starts in a proposal's year: the agency's forecast from the year
    whose forecast the proposal used (its variable compensation counts on the same number), else that one."""
    return FORECAST[FORECAST.index(forecast):] if forecast in FORECAST else (forecast,)


def _forecast(raw: Any, problems: list[InputProblem]) -> tuple[int, ...] | None:
    if raw is None:
        return None
    raw = [raw] if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if (not isinstance(raw, Sequence) or isinstance(raw, str) or not raw or len(raw) > MAX_YEARS
            or any(isinstance(a, bool) or not isinstance(a, int) or not 0 <= a <= MAX_ARRIVALS for a in raw)):
        problems.append(InputProblem("parameters", "forecast", f"must be a list of 1 to {MAX_YEARS} whole numbers of "
                                     f"children from 0 to {MAX_ARRIVALS}",
                                     sv=f"ska vara en lista med 1 till {MAX_YEARS} hela antal barn från 0 till "
                                        f"{MAX_ARRIVALS}"))
        return None
    return tuple(int(a) for a in raw)


@dataclass
class Scenario:
    """What is simulated: a share table, and where it came from (base table, transfers, volunteers)."""

    municipalities: tuple[Municipality, ...]
    shares: dict[str, int]  # units of 0.01‰, summing to 100,000
    base: dict[str, int]  # the table before redistribution (accounting); the same table if none
    transfers: list[tuple[str, str, int]] = field(default_factory=list)  # giver, receiver, units
    volunteers: dict[str, int] = field(default_factory=dict)  # code -> room in units (priority rule)
    label: str = "shares"
    capacity: dict[str, int] = field(default_factory=dict)  # code -> children a year, where the round states it

    def validate(self) -> None:
        problems: list[InputProblem] = []
        codes = [m.code for m in self.municipalities]
        for name, table in (("shares", self.shares), ("base", self.base)):
            missing = sorted(set(codes) - set(table))
            unknown = sorted(set(table) - set(codes))
            if missing or unknown:
                problems.append(InputProblem(self.label, name, f"must hold every municipality once (missing "
                                             f"{', '.join(missing[:5]) or 'none'}; unknown {', '.join(unknown[:5]) or 'none'})",
                                             sv=f"ska ha varje kommun en gång (saknas: {', '.join(missing[:5]) or 'inga'}; "
                                                f"okända: {', '.join(unknown[:5]) or 'inga'})"))
            elif any(u < 0 for u in table.values()):
                problems.append(InputProblem(self.label, name, "has a negative share", sv="har en negativ andel"))
            elif sum(table.values()) != TOTAL_UNITS:
                problems.append(InputProblem(self.label, name, f"sums to {sum(table.values()) / 100:.2f}, not "
                                             "exactly 1000.00", sv=f"summerar till {sum(table.values()) / 100:.2f}, inte "
                                                                   "exakt 1000.00".replace(".", ",")))
        for giver, receiver, units in self.transfers:
            if giver not in codes or receiver not in codes or units <= 0:
                problems.append(InputProblem(self.label, "transfers", f"{giver}→{receiver} ({units}) is not a transfer "
                                             "between two municipalities", sv=f"{giver}→{receiver} ({units}) är ingen "
                                                                             "överföring mellan två kommuner"))
        for code in self.volunteers:
            if code not in set(codes):
                problems.append(InputProblem(self.label, "volunteers", "is not a municipality code", code=code,
                                             sv="är ingen kommunkod"))
        for code in self.capacity:
            if code not in self.volunteers:
                problems.append(InputProblem(self.label, "capacity", "is not a receiving municipality of the round",
                                             code=code, sv="är ingen mottagande kommun i omgången"))
        if problems:
            raise InputError(problems, what="simulation input")


@dataclass
class Outcome:
    """Raw simulation counts: allocations[replicate, year, municipality] and per replicate-year totals."""

    allocations: np.ndarray
    ties: np.ndarray
    equalising: np.ndarray
    to_volunteers: np.ndarray
    overflow: np.ndarray
    equalising_by_municipality: np.ndarray  # [year, municipality], summed over replicates


# --- the process --------------------------------------------------------------------------------------------

@njit(cache=True)
def _before(i: int, j: int, counts: np.ndarray, shares: np.ndarray, extra: int) -> bool:
    """Whether municipality i is due before j: lower fulfilment, then the larger share, then the lower index."""
    if shares[i] == 0:
        return False
    if shares[j] == 0:
        return True
    left = (counts[i] + extra * CREDIT) * shares[j]
    right = (counts[j] + extra * CREDIT) * shares[i]
    if left != right:
        return left < right
    if shares[i] != shares[j]:
        return shares[i] > shares[j]
    return i < j


@njit(cache=True)
def _lowest(keys: np.ndarray, counts: np.ndarray, shares: np.ndarray, extra: int) -> int:
    """The municipality due next: the smallest key (counts + extra) / share, exactly as `_before` orders them.

    One scan over float keys; keys within a rounding error of the best so far are compared exactly in
    integers, so the floats never decide a close call."""
    best = -1
    least = np.inf
    for j in range(keys.shape[0]):
        k = keys[j]
        if k < least * (1 - 1e-12):
            best, least = j, k
        elif k <= least * (1 + 1e-12) and k != np.inf and _before(j, best, counts, shares, extra):
            best, least = j, k
    return best


@njit(cache=True)
def _kernel(shares_by_year, tie_cumulative, arrivals, poisson, tie_share, extra, priority, volunteers, rooms,
            start, replicates, seed, moves, move_years):
    """Counts of fulfilment are in credit units (CREDIT per child). At each year end where the proposal applied, an
    equalising child of a receiving municipality is credited to it only in proportion to its own base share, the
    rest to its givers in proportion to what they gave (report 2.3.2): moves[k] = (giver, receiver, units,
    receiver's proposed share), move_years[y] whether the proposal applied in year y."""
    n = shares_by_year.shape[1]
    years = arrivals.shape[0]
    np.random.seed(seed)
    allocations = np.zeros((replicates, years, n), np.int32)
    ties = np.zeros((replicates, years), np.int64)
    equalising = np.zeros((replicates, years), np.int64)
    to_volunteers = np.zeros((replicates, years), np.int64)
    overflow = np.zeros((replicates, years), np.int64)
    equalising_by = np.zeros((years, n), np.int64)
    is_volunteer = np.zeros(n, np.bool_)
    for v in volunteers:
        is_volunteer[v] = True
    inverse = np.zeros(n, np.float64)
    keys = np.empty(n, np.float64)
    own_equalising = np.zeros(n, np.int64)
    tie_total = tie_cumulative[n - 1]
    for rep in range(replicates):
        counts = start.copy()
        for y in range(years):
            shares = shares_by_year[y]
            for i in range(n):
                inverse[i] = 1.0 / shares[i] if shares[i] > 0 else 0.0
                keys[i] = (counts[i] + extra * CREDIT) * inverse[i] if shares[i] > 0 else np.inf
                own_equalising[i] = 0
            count = np.random.poisson(arrivals[y]) if poisson[y] else arrivals[y]
            ties_left = int(round(tie_share * count))
            room = rooms[y].copy()
            by_priority = 0
            for c in range(count):
                if poisson[y]:
                    tie = np.random.random() < tie_share
                else:
                    tie = np.random.random() * (count - c) < ties_left
                    if tie:
                        ties_left -= 1
                if tie and tie_total > 0:
                    u = np.random.random() * tie_total
                    i = np.searchsorted(tie_cumulative, u, side="right")
                    if i >= n:
                        i = n - 1
                    ties[rep, y] += 1
                    if priority and is_volunteer[i]:  # a tie child uses up the volunteer's capacity too
                        for k in range(volunteers.shape[0]):
                            if volunteers[k] == i and room[k] > 0:
                                room[k] -= 1
                else:
                    i = -1
                    if priority:
                        for k in range(volunteers.shape[0]):
                            v = volunteers[k]
                            if room[k] > 0 and shares[v] > 0 and (i < 0 or _before(v, i, counts, shares, extra)):
                                i = v
                        if i >= 0:
                            by_priority += 1
                            for k in range(volunteers.shape[0]):
                                if volunteers[k] == i:
                                    room[k] -= 1
                    if i < 0:
                        i = _lowest(keys, counts, shares, extra)
                    equalising[rep, y] += 1
                    equalising_by[y, i] += 1
                    own_equalising[i] += 1
                    if is_volunteer[i]:
                        to_volunteers[rep, y] += 1
                counts[i] += CREDIT
                if shares[i] > 0:
                    keys[i] = (counts[i] + extra * CREDIT) * inverse[i]
                allocations[rep, y, i] += 1
            overflow[rep, y] = equalising[rep, y] - by_priority  # equalising children the volunteers could not take
            if move_years[y]:
                for k in range(moves.shape[0]):
                    g, r, units, proposed = moves[k, 0], moves[k, 1], moves[k, 2], moves[k, 3]
                    moved = own_equalising[r] * CREDIT * units // proposed
                    counts[r] -= moved
                    counts[g] += moved
    return allocations, ties, equalising, to_volunteers, overflow, equalising_by


def _inputs(scenario: Scenario, params: SimulationParams, start: Mapping[str, float] | None):
    """The kernel's arrays, the burn-in's years first (base table, fixed counts, nothing redistributed, no
    volunteers), and how many years the burn-in adds."""
    codes = [m.code for m in scenario.municipalities]
    index = {c: i for i, c in enumerate(codes)}
    proposed = np.array([scenario.shares[c] for c in codes], np.int64)
    base = np.array([scenario.base[c] for c in codes], np.int64)
    one_start(start is not None, params)
    burn = len(params.burn_in)
    years = burn + params.years
    applies = np.array([y >= burn and (y == burn or params.redistribution == "yearly") for y in range(years)], np.bool_)
    shares_by_year = np.array([proposed if applies[y] else base for y in range(years)], np.int64).reshape(years, -1)
    weights = np.array([m.population * params.tie_boost.get(m.code, 1.0) for m in scenario.municipalities], np.float64)
    arrivals = np.array([*params.burn_in, *params.arrivals_by_year()], np.int64)
    drawn = np.array([y >= burn and params.arrivals_model == "poisson" for y in range(years)], np.bool_)
    volunteers = np.array([codes.index(c) for c in sorted(scenario.volunteers)], np.int64)
    # a volunteer's capacity in children each year: its wish in per mille of that year's forecast, rounded half up
    # as the compensation is (Karlstad's 2.50 ‰ of 200 is 1 child, not 0); stress does not raise it
    forecast = [0] * burn + params.forecast_by_year()
    rooms = np.array([[(scenario.capacity[c] if c in scenario.capacity else expected_children(scenario.volunteers[c], a))
                       if applies[y] else 0 for c in sorted(scenario.volunteers)]
                      for y, a in enumerate(forecast)], np.int64).reshape(len(arrivals), len(volunteers))
    if start is not None:  # each municipality's own allocations so far (a history file)
        begin = np.array([round(start.get(c, 0) * CREDIT) for c in codes], np.int64)
    elif burn:  # from zero, the burn-in's years decide
        begin = np.zeros(len(codes), np.int64)
    else:  # every municipality on target under the base table, with the assumed history behind the country, in
        # whole children as real histories are (an exact share of it would decide like a start from zero)
        begin = np.array([expected_children(scenario.base[c], params.history_children) * CREDIT for c in codes],
                         np.int64)
    moves = np.array([[index[g], index[r], units, scenario.shares[r]] for g, r, units in scenario.transfers
                      if scenario.shares[r] > 0], np.int64).reshape(-1, 4)
    return shares_by_year, np.cumsum(weights), arrivals, drawn, volunteers, rooms, begin, moves, applies, burn


def one_start(history: bool, params: SimulationParams) -> None:
    """A history and a burn-in each say where fulfilment starts: refuse the two together."""
    if history and params.burn_in:
        raise InputError([InputProblem("parameters", "burn_in", "cannot be given with a history: each says where "
                                       "fulfilment starts", sv="kan inte anges med en historik: båda anger var "
                                                               "måluppfyllelsen börjar")], what="simulation parameters")


def _after(outcome: Outcome, burn: int) -> Outcome:
    """The simulated years of an outcome that began with a burn-in."""
    return Outcome(outcome.allocations[:, burn:], outcome.ties[:, burn:], outcome.equalising[:, burn:],
                   outcome.to_volunteers[:, burn:], outcome.overflow[:, burn:],
                   outcome.equalising_by_municipality[burn:])


def simulate(scenario: Scenario, params: SimulationParams, start: Mapping[str, float] | None = None) -> Outcome:
    """Run the process; the same scenario, parameters and seed give the same outcome."""
    scenario.validate()
    shares, tie_cumulative, arrivals, drawn, volunteers, rooms, begin, moves, applies, burn = _inputs(
        scenario, params, start)
    out = _kernel(shares, tie_cumulative, arrivals, drawn, params.tie_share,
                  1 if params.comparison == "after" else 0, params.rule == "priority", volunteers, rooms, begin,
                  params.replicates, params.seed, moves, applies)
    return _after(Outcome(*out), burn)


def simulate_python(scenario: Scenario, params: SimulationParams, start: Mapping[str, float] | None = None) -> Outcome:
    """The same process as a plain per-child Python loop (a linear scan for the lowest fulfilment). It draws
    from its own random stream, so it agrees with `simulate` exactly only where nothing is random."""
    scenario.validate()
    shares_by_year, tie_cumulative, arrivals, drawn, volunteers, rooms, begin, moves, applies, burn = _inputs(
        scenario, params, start)
    rng = np.random.default_rng(params.seed)
    n, years, extra = shares_by_year.shape[1], len(arrivals), 1 if params.comparison == "after" else 0
    ties, equalising, to_volunteers, overflow = (np.zeros((params.replicates, years), np.int64) for _ in range(4))
    out = Outcome(np.zeros((params.replicates, years, n), np.int32), ties, equalising, to_volunteers, overflow,
                  np.zeros((years, n), np.int64))
    volunteer_list = [int(v) for v in volunteers]

    for rep in range(params.replicates):
        counts = [int(c) for c in begin]
        for y in range(years):
            share_list = [int(s) for s in shares_by_year[y]]

            def due(i: int, j: int, counts: list[int] = counts, share_list: list[int] = share_list) -> bool:
                if share_list[i] == 0:
                    return False
                if share_list[j] == 0:
                    return True
                left = (counts[i] + extra * CREDIT) * share_list[j]
                right = (counts[j] + extra * CREDIT) * share_list[i]
                if left != right:
                    return left < right
                return share_list[i] > share_list[j] if share_list[i] != share_list[j] else i < j

            count = int(rng.poisson(arrivals[y])) if drawn[y] else int(arrivals[y])
            ties_left = round(params.tie_share * count)
            room = [int(r) for r in rooms[y]]
            by_priority = 0
            mine = [0] * n  # equalising children of this year, for the year-end accounting
            for c in range(count):
                if drawn[y]:
                    tie = rng.random() < params.tie_share
                else:
                    tie = rng.random() * (count - c) < ties_left
                    ties_left -= 1 if tie else 0
                if tie and tie_cumulative[-1] > 0:
                    i = min(int(np.searchsorted(tie_cumulative, rng.random() * tie_cumulative[-1], side="right")), n - 1)
                    out.ties[rep, y] += 1
                    if params.rule == "priority" and i in volunteer_list and room[volunteer_list.index(i)] > 0:
                        room[volunteer_list.index(i)] -= 1
                else:
                    i = -1
                    if params.rule == "priority":
                        for k, v in enumerate(volunteer_list):
                            if room[k] > 0 and share_list[v] > 0 and (i < 0 or due(v, i)):
                                i = v
                        if i >= 0:
                            room[volunteer_list.index(i)] -= 1
                            by_priority += 1
                    if i < 0:
                        i = 0
                        for j in range(1, n):
                            if due(j, i):
                                i = j
                    out.equalising[rep, y] += 1
                    out.equalising_by_municipality[y, i] += 1
                    out.to_volunteers[rep, y] += i in volunteer_list
                    mine[i] += 1
                counts[i] += CREDIT
                out.allocations[rep, y, i] += 1
            out.overflow[rep, y] = int(out.equalising[rep, y]) - by_priority
            if applies[y]:
                for g, r, units, proposed in moves.tolist():
                    moved = mine[r] * CREDIT * units // proposed
                    counts[r] -= moved
                    counts[g] += moved
    return _after(out, burn)


# --- what it means ------------------------------------------------------------------------------------------

def _gini(rows: np.ndarray) -> np.ndarray:
    """Gini coefficient of each row (allocations over municipalities)."""
    x = np.sort(rows.astype(np.float64), axis=-1)
    n = x.shape[-1]
    totals = x.sum(axis=-1)
    ranks = np.arange(1, n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = (2 * (x * ranks).sum(axis=-1) / (n * totals)) - (n + 1) / n
    return np.where(totals > 0, g, 0.0)


def credited(scenario: Scenario, equalising_mean: np.ndarray, ties_mean: np.ndarray) -> np.ndarray:
    """Mean allocations credited per municipality under the report's accounting of redistribution."""
    codes = [m.code for m in scenario.municipalities]
    index = {c: i for i, c in enumerate(codes)}
    out = equalising_mean + ties_mean
    for giver, receiver, units in scenario.transfers:
        r, g = index[receiver], index[giver]
        proposed = scenario.shares[receiver]
        if proposed > 0:
            moved = equalising_mean[..., r] * units / proposed
            out[..., r] -= moved
            out[..., g] += moved
    return out


def report(scenario: Scenario, params: SimulationParams, outcome: Outcome) -> dict[str, Any]:
    """Per-municipality and national figures, overall and per year."""
    alloc = outcome.allocations  # [replicate, year, municipality]
    reps, years, n = alloc.shape
    codes = [m.code for m in scenario.municipalities]
    # the table of each year: the proposal where it applied (the first year, or every year), else the base table
    tables = [scenario.shares if y == 0 or params.redistribution == "yearly" else scenario.base for y in range(years)]
    shares = np.array([[table[c] for c in codes] for table in tables], np.float64)  # [year, municipality]
    per_year = alloc.astype(np.float64)
    mean = per_year.mean(axis=(0, 1))
    p5 = np.percentile(per_year.reshape(-1, n), 5, axis=0)
    p95 = np.percentile(per_year.reshape(-1, n), 95, axis=0)
    none = (alloc == 0).mean(axis=(0, 1))
    some = (alloc > 0).mean(axis=(0, 1))
    eq_year = outcome.equalising_by_municipality / reps  # [year, municipality]
    # the report's accounting, in the years the proposal applied
    credit = sum((credited(scenario, eq_year[y], per_year[:, y].mean(axis=0) - eq_year[y])
                  if tables[y] is scenario.shares else per_year[:, y].mean(axis=0)) for y in range(years)) / years
    # the variable part follows the forecast and the year's share (report 2.5), not the children simulated
    variable = np.array([[expected_children(table[c], a) * VARIABLE_SEK for c in codes]
                         for table, a in zip(tables, params.forecast_by_year())], np.float64).mean(axis=0)
    tie_fraction = outcome.ties.sum() / max(1, outcome.ties.sum() + outcome.equalising.sum())
    day_cover = 1 - params.tie_children_in_agency_housing * tie_fraction
    days = PER_DAY_SEK * params.mean_stay_days * day_cover
    compensation = FIXED_SEK + variable + mean * (PER_CHILD_SEK + days)
    year_mean = per_year.mean(axis=0)  # [year, municipality]
    year_p5, year_p95 = np.percentile(per_year, [5, 95], axis=0)
    year_none = (alloc == 0).mean(axis=0)
    rows = []
    for i, m in enumerate(scenario.municipalities):
        rows.append({
            "code": m.code, "name": m.name, "county_code": m.county_code,
            "share_permille": scenario.shares[m.code] / 100,
            "allocations_mean": round(float(mean[i]), 4),
            "allocations_p5": float(p5[i]), "allocations_p95": float(p95[i]),
            "prob_no_allocation": round(float(none[i]), 4),
            "years_between_allocations": None if some[i] == 0 else round(float(1 / some[i]), 3),
            "credited_mean": round(float(credit[i]), 4),
            "compensation_sek": round(float(compensation[i])),
            "fixed_sek": FIXED_SEK, "variable_sek": round(float(variable[i])),
            "per_child_sek": round(float(mean[i] * PER_CHILD_SEK)), "days_sek": round(float(mean[i] * days)),
            "per_year": [{"year": y + 1, "allocations_mean": round(float(year_mean[y, i]), 4),
                          "allocations_p5": float(year_p5[y, i]), "allocations_p95": float(year_p95[y, i]),
                          "prob_no_allocation": round(float(year_none[y, i]), 4)} for y in range(years)],
        })
    national = _national(scenario, params, outcome, shares, compensation)
    # the variable part read both ways of the report (2.5): the national amount, 9 450 kr × the forecast, and the
    # sum of each municipality's rounded part
    national["variable_pot_sek"] = round(sum(VARIABLE_SEK * a for a in params.forecast_by_year()) / years)
    national["variable_sum_of_parts_sek"] = round(float(variable.sum()))
    national["per_year"] = [_national(scenario, params, outcome, shares, compensation, year=y) for y in range(years)]
    return {"scenario": scenario.label, "parameters": params.to_dict(), "municipalities": rows, "national": national}


def _national(scenario: Scenario, params: SimulationParams, outcome: Outcome, shares: np.ndarray,
              compensation: np.ndarray, year: int | None = None) -> dict[str, Any]:
    alloc = outcome.allocations if year is None else outcome.allocations[:, year:year + 1]
    totals = alloc.sum(axis=-1).astype(np.float64)  # [replicate, year]
    with np.errstate(invalid="ignore", divide="ignore"):
        fractions = np.where(totals[..., None] > 0, alloc / totals[..., None], 0.0)
    hhi = (fractions ** 2).sum(axis=-1)
    top10 = np.sort(fractions, axis=-1)[..., -10:].sum(axis=-1)
    expected = totals[..., None] * (shares if year is None else shares[year:year + 1]) / TOTAL_UNITS
    deviation = np.abs(alloc - expected).sum(axis=-1) / 2
    sl = slice(None) if year is None else slice(year, year + 1)
    eq, ties, vol, over = (a[:, sl].astype(np.float64) for a in (outcome.equalising, outcome.ties,
                                                                 outcome.to_volunteers, outcome.overflow))
    out: dict[str, Any] = {
        "children_mean": round(float(totals.mean()), 3),
        "tie_share_realised": round(float(ties.sum() / max(1, ties.sum() + eq.sum())), 4),
        "equalising_share": round(float(eq.sum() / max(1, ties.sum() + eq.sum())), 4),
        "hhi": round(float(hhi.mean()), 6),
        "gini": round(float(_gini(alloc).mean()), 4),
        "top10_share": round(float(top10.mean()), 4),
        "deviation_from_shares_children": round(float(deviation.mean()), 3),
        "deviation_from_shares_fraction": round(float((deviation / np.maximum(totals, 1)).mean()), 4),
        "to_volunteers_share": round(float(vol.sum() / max(1, eq.sum())), 4),
    }
    if params.rule == "priority":  # equalising children beyond the volunteers' capacity: meaningless otherwise
        out["overflow_mean"] = round(float(over.mean()), 3)
    if year is None:
        years = alloc.shape[1]
        cumulative = np.cumsum(alloc, axis=1)  # [replicate, year, municipality]
        out["no_allocation_within"] = {str(k): round(float((cumulative[:, k - 1] == 0).sum(axis=-1).mean()), 3)
                                       for k in (1, 3, 5) if k <= years}
        out["state_cost_sek_per_year"] = round(float(compensation.sum()))
    else:
        out["year"] = year + 1
        out["arrivals"] = params.arrivals_by_year()[year]
    return out


def compare(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Two reports side by side: national figures and each municipality's change in expected allocations."""
    keys = [k for k, v in left["national"].items() if isinstance(v, int | float)]
    national = {k: {"left": left["national"][k], "right": right["national"][k],
                    "change": round(right["national"][k] - left["national"][k], 6)} for k in keys}
    by_code = {r["code"]: r for r in right["municipalities"]}
    rows = [{"code": r["code"], "name": r["name"],
             "allocations_mean_left": r["allocations_mean"],
             "allocations_mean_right": by_code[r["code"]]["allocations_mean"],
             "change": round(by_code[r["code"]]["allocations_mean"] - r["allocations_mean"], 4),
             "prob_no_allocation_left": r["prob_no_allocation"],
             "prob_no_allocation_right": by_code[r["code"]]["prob_no_allocation"]} for r in left["municipalities"]]
    return {"left": left["scenario"], "right": right["scenario"], "national": national,
            "municipalities": sorted(rows, key=lambda r: (-abs(r["change"]), r["code"]))}


def stress(scenario: Scenario, params: SimulationParams, factors: Sequence[int] = (2, 5, 10),
           start: Mapping[str, float] | None = None, base: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Arrivals far above forecast (the report's 'valve'): national figures and where the extra children land.
    `base` is the report at the forecast, when the caller has it already."""
    from dataclasses import replace

    if base is None:
        base = report(scenario, params, simulate(scenario, params, start))
    out = []
    for factor in factors:
        raised = replace(params, arrivals=tuple(a * factor for a in params.arrivals_by_year()),
                         forecast=tuple(params.forecast_by_year()))
        result = report(scenario, raised, simulate(scenario, raised, start))
        extra = sorted(((r["allocations_mean"] - b["allocations_mean"], r["code"], r["name"])
                        for r, b in zip(result["municipalities"], base["municipalities"])), reverse=True)
        out.append({"factor": factor, "national": {k: v for k, v in result["national"].items() if k != "per_year"},
                    "extra_children_mean": round(sum(e for e, _, _ in extra), 3),
                    "extra_to_volunteers_share": round(
                        sum(e for e, c, _ in extra if c in scenario.volunteers) / max(1e-9, sum(e for e, _, _ in extra)), 4),
                    "largest_extra": [{"code": c, "name": name, "extra_allocations_mean": round(e, 3)}
                                      for e, c, name in extra[:10]]})
    return out


# --- inputs and outputs ---------------------------------------------------------------------------------------

def scenario_from_proposal(data: Mapping[str, Any], municipalities: Sequence[Municipality],
                           label: str = "proposal") -> Scenario:
    """A proposal JSON (`andelstal propose --out x.json`): its table, base, transfers and receivers' room."""
    problems: list[InputProblem] = []
    try:
        shares = {r["code"]: round(float(r["proposed_permille"]) * 100) for r in data["shares"]}
        base = {r["code"]: round(float(r["base_permille"]) * 100) for r in data["shares"]}
        transfers = [(t["giver"], t["receiver"], round(float(t["permille"]) * 100)) for t in data.get("transfers", [])]
        volunteers = {w["code"]: round(float(w["amount_permille"]) * 100) for w in data.get("wishes", [])
                      if w.get("wish") == "receive"}
    except (KeyError, TypeError, ValueError) as exc:
        problems.append(InputProblem(label, "proposal", f"is not a proposal JSON of `andelstal propose` ({exc!r})"))
        raise InputError(problems, what="simulation input") from None
    scenario = Scenario(tuple(municipalities), shares, base, transfers, volunteers, label)
    scenario.validate()
    return scenario


def scenario_from_table(units: Mapping[str, int], municipalities: Sequence[Municipality], label: str = "shares",
                        volunteers: Mapping[str, int] | None = None) -> Scenario:
    scenario = Scenario(tuple(municipalities), dict(units), dict(units), [], dict(volunteers or {}), label)
    scenario.validate()
    return scenario


def result_rows(result: Mapping[str, Any]) -> list[list[Any]]:
    columns = ["code", "name", "county_code", "share_permille", "allocations_mean", "allocations_p5", "allocations_p95",
               "prob_no_allocation", "years_between_allocations", "credited_mean", "compensation_sek"]
    return [columns] + [[row[c] for c in columns] for row in result["municipalities"]]


def write_result(result: Mapping[str, Any], path) -> None:
    """JSON (everything), CSV (a row per municipality) or XLSX (municipalities, national, years, …) by suffix."""
    import csv
    import json
    from pathlib import Path

    from solver.io import write_xlsx

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        path.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    elif suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(result_rows(result))
    elif suffix == ".xlsx":
        national = {k: v for k, v in result["national"].items() if not isinstance(v, list | dict)}
        sheets: dict[str, list[list[Any]]] = {
            "municipalities": result_rows(result),
            "national": [["metric", "value"]] + [[k, v] for k, v in national.items()]
            + [[f"no_allocation_within_{k}_years", v] for k, v in result["national"].get("no_allocation_within", {}).items()],
            "years": [list(result["national"]["per_year"][0])] + [list(y.values()) for y in result["national"]["per_year"]],
            "parameters": [["field", "value"]] + [[k, json.dumps(v) if isinstance(v, list | dict) else v]
                                                  for k, v in result["parameters"].items()],
        }
        if "comparison" in result:
            cmp = result["comparison"]
            sheets["comparison"] = [["metric", cmp["left"], cmp["right"], "change"]] + [
                [k, v["left"], v["right"], v["change"]] for k, v in cmp["national"].items()]
        if "stress" in result:
            sheets["stress"] = [["factor", "children_mean", "extra_children_mean", "extra_to_volunteers_share",
                                 "top10_share", "gini"]] + [
                [s["factor"], s["national"]["children_mean"], s["extra_children_mean"], s["extra_to_volunteers_share"],
                 s["national"]["top10_share"], s["national"]["gini"]] for s in result["stress"]]
        write_xlsx(path, sheets)
    else:
        raise InputError([InputProblem(str(path), "out", "must end in .json, .csv or .xlsx")], what="output")


PLOT_WORDS = {
    "sv": {"changed": "Förväntade anvisningar per år för kommuner vars andel ändras",
           "change": "Förändring av förväntade anvisningar per år", "change_axis": "förändring, barn per år",
           "largest": "Förväntade anvisningar per år, de 25 största kommunerna",
           "per_year": "förväntade anvisningar per år", "band": "5–95 percentil",
           "counties": "Förväntade anvisningar per år och län", "none": "Hur sannolikt är ett år helt utan anvisning?",
           "chance": "sannolikhet för ett år utan anvisning (procent)", "count": "antal kommuner",
           "settings": "{rule} anvisning, {years} år, {arrivals} barn/år, {replicates} upprepningar, frö {seed}",
           "equalising": "utjämnande", "priority": "prioriterad"},
    "en": {"changed": "Expected allocations per year, municipalities whose share changes",
           "change": "Change in expected allocations per year", "change_axis": "change, children per year",
           "largest": "Expected allocations per year, the 25 largest municipalities",
           "per_year": "expected allocations per year", "band": "5th–95th percentile",
           "counties": "Expected allocations per year by county", "none": "How likely is a year without any allocation?",
           "chance": "chance of a year without any allocation (per cent)", "count": "municipalities",
           "settings": "{rule} rule, {years} years, {arrivals} children/year, {replicates} replicates, seed {seed}",
           "equalising": "equalising", "priority": "priority"},
}


def plots(result: Mapping[str, Any], directory, other: Mapping[str, Any] | None = None,
          language: str = "sv", kind: str = "png") -> list[str]:
    """PNG plots for officials, with the run's settings in a subtitle: expected allocations of the municipalities
    whose share changes (against `other`, e.g. today's table), by name, with their 5–95 percentile band; the same
    per county; and how many municipalities risk a year without any allocation. Returns the files written."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.fonttype"] = "none"  # an SVG keeps its words as text
    words = PLOT_WORDS[language]
    if other is not None and language == "sv":  # the command line's names of the compared tables, in Swedish
        other = {**other, "scenario": {"base table": "grundtabellen"}.get(other["scenario"], other["scenario"])}
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows = result["municipalities"]
    params = result["parameters"]
    arrivals = sorted(set(params["arrivals"]))
    settings = words["settings"].format(rule=words.get(params["rule"], params["rule"]), years=params["years"],
                                        arrivals="–".join(str(a) for a in (arrivals[0], arrivals[-1]))
                                        if len(arrivals) > 1 else arrivals[0],
                                        replicates=params["replicates"], seed=params["seed"])
    before = {r["code"]: r for r in other["municipalities"]} if other is not None else {}
    changed = [r for r in rows if r["code"] in before and r["share_permille"] != before[r["code"]]["share_permille"]]
    shown = sorted(sorted(changed, key=lambda r: -r["allocations_mean"])[:40] if changed else
                   sorted(rows, key=lambda r: -r["allocations_mean"])[:25], key=lambda r: r["allocations_mean"])
    written = []

    def save(fig: Any, name: str, title: str) -> None:
        fig.suptitle(title, fontsize=12, x=0.01, ha="left")
        fig.text(0.01, 0.005, f"{result['scenario']}: {settings}", fontsize=8, color="#444444")
        fig.tight_layout(rect=(0, 0.03, 1, 0.97))
        written.append(str(directory / name.replace(".png", f".{kind}")))
        fig.savefig(written[-1], dpi=110)
        plt.close(fig)

    if changed:  # the change itself, by name: the largest 40 either way
        moved = sorted(changed, key=lambda r: -abs(r["allocations_mean"] - before[r["code"]]["allocations_mean"]))[:40]
        moved.sort(key=lambda r: r["allocations_mean"] - before[r["code"]]["allocations_mean"])
        delta = [r["allocations_mean"] - before[r["code"]]["allocations_mean"] for r in moved]
        fig, ax = plt.subplots(figsize=(9, 1.2 + 0.3 * len(moved)))
        y = np.arange(len(moved))
        ax.barh(y, delta, color=["#a4262c" if d < 0 else "#1b6e3a" for d in delta])
        ax.axvline(0, color="#222222", lw=0.8)
        ax.set_yticks(y, [r["name"] for r in moved], fontsize=8)
        ax.set_xlabel(words["change_axis"])
        save(fig, "change.png", words["change"])

    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.32 * len(shown)))
    y = np.arange(len(shown))
    mean = np.array([r["allocations_mean"] for r in shown])
    band = np.array([[r["allocations_mean"] - r["allocations_p5"] for r in shown],
                     [r["allocations_p95"] - r["allocations_mean"] for r in shown]]).clip(min=0)
    if before:
        ax.barh(y + 0.2, [before[r["code"]]["allocations_mean"] for r in shown], height=0.38, color="#b0b0b0",
                label=other["scenario"] if other is not None else "")
    ax.barh(y - 0.2 if before else y, mean, height=0.38 if before else 0.6, color="#1f5fa8", xerr=band,
            error_kw={"ecolor": "#333333", "capsize": 2, "lw": 0.8}, label=f"{result['scenario']} ({words['band']})")
    ax.set_yticks(y, [r["name"] for r in shown], fontsize=8)
    ax.set_xlabel(words["per_year"])
    ax.legend(loc="lower right", fontsize=8, framealpha=0.95)
    save(fig, "allocations.png", words["changed"] if changed else words["largest"])

    counties: dict[str, list[float]] = {}
    for r in rows:
        counties.setdefault(r["county_code"], []).append(r["allocations_mean"])
    names = {r["county_code"]: r["county_code"] for r in rows}
    try:
        from solver.data import load_municipalities

        names = {m.county_code: m.county_name for m in load_municipalities()}
    except Exception:  # a result from another data set: codes it is
        pass
    order = sorted(counties, key=lambda c: sum(counties[c]))
    fig, ax = plt.subplots(figsize=(9, 7))
    y = np.arange(len(order))
    if before:
        other_sum: dict[str, float] = {}
        for r in before.values():
            other_sum[r["county_code"]] = other_sum.get(r["county_code"], 0.0) + r["allocations_mean"]
        ax.barh(y + 0.2, [other_sum.get(c, 0.0) for c in order], height=0.38, color="#b0b0b0",
                label=other["scenario"] if other is not None else "")
    ax.barh(y - 0.2 if before else y, [sum(counties[c]) for c in order], height=0.38 if before else 0.6,
            color="#1f5fa8", label=result["scenario"])
    ax.set_yticks(y, [names.get(c, c) for c in order], fontsize=8)
    ax.set_xlabel(words["per_year"])
    ax.legend(loc="lower right", fontsize=8)
    save(fig, "counties.png", words["counties"])

    fig, ax = plt.subplots(figsize=(8, 4.8))
    bins = [i * 5 for i in range(21)]
    if other is not None:
        ax.hist([100 * r["prob_no_allocation"] for r in other["municipalities"]], bins=bins, alpha=0.5,
                color="#888888", label=other["scenario"])
    ax.hist([100 * r["prob_no_allocation"] for r in rows], bins=bins, alpha=0.6, color="#1f5fa8",
            label=result["scenario"])
    ax.set_xlabel(words["chance"])
    ax.set_ylabel(words["count"])
    ax.legend(fontsize=8)
    save(fig, "years_without_allocation.png", words["none"])
    return written


def read_capacity(path, municipalities: Sequence[Municipality]) -> dict[str, int]:
    """Volunteers' capacity as the round states it, CSV `code,children`: children a year each will take first."""
    from solver.io import read_rows

    return capacity_from(read_rows(path), municipalities)


def capacity_from(rows: Iterable[Mapping[str, Any]], municipalities: Sequence[Municipality],
                  where: str = "row") -> dict[str, int]:
    """The capacity of rows {code, children} (a file's, or a request's with `where` = "capacity")."""
    known = {m.code for m in municipalities}
    problems: list[InputProblem] = []
    out: dict[str, int] = {}
    for row in rows:
        place = f"{where} {row.get('_row', '?')}"
        code = str(row.get("code", "")).strip().zfill(4)
        raw = row.get("children", "")
        value = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip()  # a spreadsheet's 3.0
        if code not in known:
            problems.append(InputProblem(place, "code", "is not a municipality code", code=code, sv="är ingen kommunkod"))
        elif code in out:
            problems.append(InputProblem(place, "code", "appears more than once", code=code,
                                         sv="förekommer mer än en gång"))
        elif not value.isdecimal() or not value.isascii() or int(value) > MAX_ARRIVALS:
            problems.append(InputProblem(place, "children", f"must be a whole number of children, got {value!r}",
                                         code=code, sv=f"ska vara ett helt antal barn, inte {value!r}"))
        else:
            out[code] = int(value)
    if problems:
        raise InputError(problems, what="capacity")
    return out


@dataclass(frozen=True)
class Start:
    """Where goal fulfilment starts: each municipality's allocations so far (on the scale the simulation counts)
    and what the output says of it."""

    counts: dict[str, float]
    summary: dict[str, Any]


def read_start(path, municipalities: Sequence[Municipality], base: Mapping[str, int] | None = None) -> Start:
    """A history, CSV `code,allocations[,equalising][,target]`: see `start_from`."""
    from solver.io import read_rows

    return start_from(read_rows(path), municipalities, base, where="row", source=str(path))


def _whole(value: Any, high: int) -> int | None:
    """A whole number 0..high from a cell or a JSON value (a spreadsheet's 3.0 too), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return int(text) if text.isdecimal() and text.isascii() and int(text) <= high else None


def start_from(rows: Iterable[Mapping[str, Any]], municipalities: Sequence[Municipality],
               base: Mapping[str, int] | None = None, where: str = "row", source: str = "history") -> Start:
    """A history: each municipality's allocations since 2016 and, optionally, of which equalising and its
    share-weighted target so far in children. With targets, each municipality starts at its own fulfilment
    (allocations ÷ target) on the scale of its base share and the country's allocations so far; without, its
    allocations count as they are. The equalising ones decide nothing in the process (a child counts the same
    whichever way it came); they are checked and reported with the start."""
    known = {m.code for m in municipalities}
    problems: list[InputProblem] = []
    counts: dict[str, int] = {}
    equalising: dict[str, int] = {}
    targets: dict[str, float] = {}
    for row in rows:
        place = f"{where} {row.get('_row', '?')}"
        code = str(row.get("code", "")).strip().zfill(4)
        if code not in known:
            problems.append(InputProblem(place, "code", "is not a municipality code", code=code,
                                         sv="är ingen kommunkod"))
            continue
        if code in counts:
            problems.append(InputProblem(place, "code", "appears more than once", code=code,
                                         sv="förekommer mer än en gång"))
            continue
        value = row.get("allocations")
        count = _whole(value, MAX_HISTORY)
        if count is None:
            problems.append(InputProblem(place, "allocations", f"must be a whole number ≥ 0, got {value!r}", code=code,
                                         sv=f"ska vara ett helt tal ≥ 0, inte {value!r}"))
            continue
        counts[code] = count
        raw = row.get("equalising")
        if raw not in (None, ""):
            part = _whole(raw, count)
            if part is None:
                problems.append(InputProblem(place, "equalising", f"must be a whole number from 0 to the allocations "
                                             f"({count}), got {raw!r}", code=code,
                                             sv=f"ska vara ett helt tal från 0 till antalet anvisningar ({count}), "
                                                f"inte {raw!r}"))
            else:
                equalising[code] = part
        target = row.get("target")
        if target not in (None, ""):
            try:
                if isinstance(target, bool):
                    raise ValueError
                number = float(str(target).strip().replace(",", "."))
                if not 0 < number <= MAX_ARRIVALS * MAX_YEARS:
                    raise ValueError
                targets[code] = number
            except ValueError:
                problems.append(InputProblem(place, "target", f"must be a number of children above 0, got {target!r}",
                                             code=code, sv=f"ska vara ett antal barn över 0, inte {target!r}"))
    absent = sorted(known - set(counts))  # a municipality left out would start at zero: the history is half made up
    if absent and not problems:
        problems.append(InputProblem(source, "code", f"has no row for {len(absent)} municipalities, among them "
                                     f"{', '.join(absent[:5])}: a history gives every municipality its allocations "
                                     f"(0 too)", sv=f"saknar rader för {len(absent)} kommuner, bland dem "
                                                    f"{', '.join(absent[:5])}: en historik anger varje kommuns "
                                                    f"anvisningar (även 0)"))
    if targets and base is not None:
        missing = sorted(c for c in known if c not in targets)  # a fulfilment each, or the start is half made up
        if missing:
            problems.append(InputProblem(source, "target", f"is given for some municipalities but not for "
                                         f"{', '.join(missing[:5])}", sv=f"anges för vissa kommuner men inte för "
                                                                        f"{', '.join(missing[:5])}"))
    total = sum(counts.values())
    if total > MAX_HISTORY:  # the kernel's fulfilment products stay within int64 (credit units × shares)
        problems.append(InputProblem(source, "allocations", f"add up to {total:,} children; at most {MAX_HISTORY:,}",
                                     sv=f"blir sammanlagt {total:,} barn; högst {MAX_HISTORY:,}".replace(",", " ")))
    if problems:
        raise InputError(problems, what="start state")
    summary = {"source": "history", "municipalities": len(counts), "allocations": total,
               "equalising": sum(equalising.values()) if len(equalising) == len(counts) else None,
               "equalising_given_for": len(equalising), "targets": bool(targets and base is not None)}
    if not targets or base is None:
        return Start({c: float(v) for c, v in counts.items()}, summary)
    high = sorted(c for c in counts if counts[c] > 1000 * targets[c])
    if high:
        raise InputError([InputProblem(source, "target", f"gives a fulfilment above 1000 (allocations ÷ target) for "
                                       f"{', '.join(high[:5])}", sv=f"ger en måluppfyllelse över 1000 (anvisningar ÷ "
                                                                    f"mål) för {', '.join(high[:5])}")], what="start state")
    scaled = {c: total * base[c] / TOTAL_UNITS * counts[c] / targets[c] for c in counts}
    large = sorted(c for c in scaled if scaled[c] > MAX_HISTORY)
    if large:
        raise InputError([InputProblem(source, "target", f"gives a start above {MAX_HISTORY:,} children (the country's "
                                       f"allocations × share × fulfilment) for {', '.join(large[:5])}",
                                       sv=f"ger en start över {MAX_HISTORY:,} barn (landets anvisningar × andel × "
                                          f"måluppfyllelse) för {', '.join(large[:5])}".replace(",", " "))],
                         what="start state")
    return Start(scaled, summary)


def assumed_start(params: SimulationParams) -> dict[str, Any]:
    """What the output says of a start without a history: the burn-in's, or the default."""
    if params.burn_in:
        return {"source": "burn-in", "years": len(params.burn_in), "allocations": sum(params.burn_in),
                "note": "the rule run from zero under the base table over the burn-in's yearly volumes"}
    return {"source": "assumed", "history_children": params.history_children,
            "note": "every municipality on target under the base table in whole children, with the assumed "
                    "allocations since 2016 behind the country (the published yearly volumes are not in the "
                    "project's sources)"}


def run(scenario: Scenario, params: SimulationParams, *, start: Start | None = None,
        against: Scenario | None = None, against_params: SimulationParams | None = None,
        stress_factors: Sequence[int] = ()) -> dict[str, Any]:
    """Simulate a scenario; with `against` (another table) or `against_params` (another rule), the other side
    by side; with `stress_factors`, arrivals raised by those factors. The result says where fulfilment started."""
    counts = start.counts if start is not None else None
    result = report(scenario, params, simulate(scenario, params, counts))
    if against is not None or against_params is not None:
        other_scenario = against or scenario
        other_params = against_params or params
        other = report(other_scenario, other_params, simulate(other_scenario, other_params, counts))
        if against is None:
            other["scenario"] = f"{other_scenario.label} ({other_params.rule})"
            result["scenario"] = f"{scenario.label} ({params.rule})"
        result["comparison"] = compare(other, result)
        result["other"] = other
    if stress_factors:
        result["stress"] = stress(scenario, params, stress_factors, counts, base=result)
    result["start"] = start.summary if start is not None else assumed_start(params)
    return result

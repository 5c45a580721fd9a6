"""The exact core (solver/redistribute/leximin.py) against an exhaustive oracle written from the fairness
definition alone (docs/fairness.md): every feasible table of a small instance is enumerated and ranked by the
five levels, and the core must return the best one, level by level and amount by amount.

The oracle shares no code with the core: it reads only the instance (offers, rooms, counties, populations,
base shares) and uses plain integers and Fractions.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.domain import TOTAL_UNITS, Policy, Wish, WishKind
from solver.redistribute.backend import SolveOptions
from solver.redistribute.check import check_stages
from solver.redistribute.leximin import describe, solve
from solver.redistribute.proposal import propose
from solver.redistribute.targets import build_setup
from solver.shares import ShareTable

BUDGET = 20_000  # the most tables an instance may have for the oracle to enumerate


@dataclass(frozen=True)
class Instance:
    givers: dict[str, int | None]  # code -> offer in units (None: all of its base share)
    receivers: dict[str, int]  # code -> room in units
    base: dict[str, int]  # every municipality's base share in units
    partners: tuple[tuple[str, str], ...] = ()  # binding agreements: (giver, receiver)


# --- the oracle ----------------------------------------------------------------------------------------

def _splits(givers: list[str], offers: dict[str, int], room: int, whole: set[str]):
    """Every way the givers assigned to one receiver can give it whole units: each at least one unit, at most
    its offer (exactly its offer for a giver in `whole`), together at most the room."""
    if not givers:
        yield ()
        return
    first, rest = givers[0], givers[1:]
    low = offers[first] if first in whole else 1
    for amount in range(low, min(offers[first], room) + 1):
        for tail in _splits(rest, offers, room - amount, whole):
            yield (amount, *tail)


def tables(offers: dict[str, int], rooms: dict[str, int], partners: dict[str, str]):
    """Every table that keeps the hard rules under the one-receiver rule: {(giver, receiver): amount > 0}. A giver
    with a binding agreement gives its whole offer to its partner."""
    givers = sorted(offers)
    receivers = sorted(rooms)
    options = [[partners[g]] if g in partners else [None, *receivers] for g in givers]
    for choice in itertools.product(*options):
        groups = {r: [g for g, c in zip(givers, choice, strict=True) if c == r] for r in receivers}
        if any(offers[g] == 0 for g, c in zip(givers, choice, strict=True) if c is not None):
            continue
        per_receiver = [list(_splits(groups[r], offers, rooms[r], set(partners))) for r in receivers]
        for amounts in itertools.product(*per_receiver):
            table = {}
            for r, split in zip(receivers, amounts, strict=True):
                table.update({(g, r): a for g, a in zip(groups[r], split, strict=True)})
            yield table


def rank(table, offers, rooms, county, population, base, partners):
    """The five levels of the default order as one key: the larger key is the better table. What a binding
    agreement moves is outside the first level: its giver has no ratio, and its partner's wish and amount are
    taken without it."""
    moved = {code: 0 for code in [*offers, *rooms]}
    for (g, r), a in table.items():
        moved[g] += a
        moved[r] += a
    wishes = {**offers, **rooms}
    outside = {r: sum(offers[g] for g, p in partners.items() if p == r) for r in rooms}
    ratios = tuple(sorted([Fraction(moved[g], o) for g, o in offers.items() if o > 0 and g not in partners]
                          + [Fraction(moved[r] - outside[r], c - outside[r]) for r, c in rooms.items()
                             if c - outside[r] > 0]))
    volume = sum(table.values())
    cross = sum(1 for g, r in table if county[g] != county[r])
    total_population = sum(population.values())
    deviation = sum(abs(Fraction(base[c] + (moved[c] if c in rooms else -moved[c]))
                        - Fraction(population[c] * TOTAL_UNITS, total_population)) for c in wishes)
    matrix = tuple(table.get((g, r), 0) for g in sorted(offers) for r in sorted(rooms))
    return ratios, volume, -cross, -len(table), -deviation, matrix


def best(offers, rooms, county, population, base, partners):
    return max(tables(offers, rooms, partners),
               key=lambda t: rank(t, offers, rooms, county, population, base, partners))


def count_tables(offers: dict[str, int], rooms: dict[str, int]) -> int:
    """An upper bound of how many tables the oracle would enumerate."""
    return math.prod(1 + sum(min(o, c) for c in rooms.values()) for o in offers.values())


# --- running both ----------------------------------------------------------------------------------------

def run_core(municipalities, inst: Instance):
    partners = dict(inst.partners)
    wishes = [Wish(c, WishKind.GIVE, a, partners.get(c)) for c, a in inst.givers.items()]
    wishes += [Wish(c, WishKind.RECEIVE, a) for c, a in inst.receivers.items()]
    table = ShareTable(dict(inst.base), "test")
    setup = build_setup(municipalities, table, wishes, Policy(binding_agreements=True))
    assert len(setup.markets) == 1
    out = solve(setup, setup.markets[0], SolveOptions(time_limit_s=60))
    return out


def check_against_oracle(municipalities, inst: Instance):
    county = {m.code: m.county_code for m in municipalities}
    population = {m.code: m.population for m in municipalities}
    offers = {c: (inst.base[c] if a is None else a) for c, a in inst.givers.items()}
    partners = dict(inst.partners)
    out = run_core(municipalities, inst)
    if not any(True for _ in tables(offers, inst.receivers, partners)):
        assert out.termination.value == "infeasible"
        return
    expected = best(offers, inst.receivers, county, population, inst.base, partners)
    assert out.termination.value == "optimal", out.message
    got = out.flows or {}
    key = rank(expected, offers, inst.receivers, county, population, inst.base, partners)
    got_key = rank(got, offers, inst.receivers, county, population, inst.base, partners)
    for level, a, b in zip(["leximin", "volume", "cross_county", "transfers", "population", "matrix"], got_key, key,
                           strict=True):
        assert a == b, f"level {level}: the core reaches {a}, the best table {b} ({got} against {expected})"
    assert got == expected
    assert out.stage_values["leximin"] == describe(list(key[0]))


def _with_small_shares(municipalities, base, small: dict[str, int]) -> dict[str, int]:
    """The illustrative table with some municipalities' shares set small (for `all` offers), the difference put
    on the largest municipality that takes no part."""
    units = dict(base.units)
    sink = max((m for m in municipalities if m.code not in small), key=lambda m: units[m.code]).code
    for code, amount in small.items():
        units[sink] += units[code] - amount
        units[code] = amount
    return units


# --- the examples of the fairness definition -------------------------------------------------------------

EXAMPLES = [
    # a giver of 0.01 and rooms 0.01 and 0.02: the unit goes to the room of 0.01
    ({"0114": 1}, {"0120": 1, "0123": 2}, {("0114", "0120"): 1}),
    # 0114 and 0115 offer 0.02 each, rooms 0.03 and 0.01: ratios (1/2, 2/3, 1, 1)
    ({"0114": 2, "0115": 2}, {"0120": 3, "0123": 1}, {("0114", "0123"): 1, ("0115", "0120"): 2}),
    # offers 0.02, 0.04, 0.01 into one room of 0.05: 2, 2, 1 units
    ({"0114": 2, "0115": 4, "0117": 1}, {"0120": 5}, {("0114", "0120"): 2, ("0115", "0120"): 2, ("0117", "0120"): 1}),
    # offers 3 and 1 into a room of 2 (version 1's example, in units): 1.5 and 0.5 become 2 and 0 or 1 and 1
    ({"0114": 300, "0115": 100}, {"0120": 200}, {("0114", "0120"): 150, ("0115", "0120"): 50}),
    # one giver of 2.00 and rooms 3.00 and 1.00: whole to the room of 3.00
    ({"0114": 200}, {"0120": 300, "0123": 100}, {("0114", "0120"): 200}),
    # three offers of 1.00 into two rooms of 1.50: 1.00, 0.75, 0.75
    ({"0114": 100, "0115": 100, "0117": 100}, {"0120": 150, "0123": 150},
     {("0114", "0120"): 100, ("0115", "0123"): 75, ("0117", "0123"): 75}),
]


@pytest.mark.parametrize("offers, rooms, expected", EXAMPLES)
def test_the_examples_of_the_fairness_definition(municipalities, base, offers, rooms, expected):
    out = run_core(municipalities, Instance(offers, rooms, dict(base.units)))
    assert out.termination.value == "optimal"
    assert out.flows == expected


def test_a_giver_larger_than_every_room_gives_what_the_largest_room_takes(municipalities, base):
    """Timrå's case in small: the giver is served as far as one room allows, and the room is filled."""
    inst = Instance({"2262": 9}, {"2260": 4, "2280": 6}, dict(base.units))
    check_against_oracle(municipalities, inst)
    assert run_core(municipalities, inst).flows == {("2262", "2280"): 6}


# --- many random instances over the real municipalities ------------------------------------------------

@st.composite
def instances(draw, municipalities, base):
    size = {c: sum(1 for m in municipalities if m.county_code == c) for c in {m.county_code for m in municipalities}}
    chosen = draw(st.lists(st.sampled_from(sorted(c for c in size if size[c] >= 8)), min_size=1, max_size=2,
                           unique=True))
    pool = sorted(m.code for m in municipalities if m.county_code in chosen)
    n_givers = draw(st.integers(2, 5))
    n_receivers = draw(st.integers(1, 3))
    codes = draw(st.permutations(pool))[:n_givers + n_receivers]
    amount = st.one_of(st.integers(1, 6), st.integers(1, 60))
    givers: dict[str, int | None] = {}
    small: dict[str, int] = {}
    equal = draw(st.booleans())  # equal wishes: every giver offers the same
    common = draw(amount)
    for code in codes[:n_givers]:
        if draw(st.integers(0, 5)) == 0:  # `all` of a share made small for the test
            small[code] = draw(st.integers(1, 12))
            givers[code] = None
        else:
            givers[code] = common if equal else draw(amount)
    receivers = {code: draw(amount) for code in codes[n_givers:]}
    partners = tuple((g, draw(st.sampled_from(sorted(receivers)))) for g in sorted(givers)
                     if draw(st.integers(0, 6)) == 0)  # now and then a binding agreement
    offers = {c: small.get(c, a or 0) for c, a in givers.items()}
    if count_tables(offers, receivers) > BUDGET:
        # keep the instance, smaller: every amount scaled down until the oracle can enumerate it
        while count_tables(offers, receivers) > BUDGET:
            offers = {c: max(1, a // 2) for c, a in offers.items()}
            receivers = {c: max(1, a // 2) for c, a in receivers.items()}
        givers = {c: (None if c in small else offers[c]) for c in givers}
        small = {c: offers[c] for c in small}
    return Instance(givers, receivers, _with_small_shares(municipalities, base, small), partners)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_the_core_returns_the_best_table_of_every_small_instance(municipalities, base, data):
    check_against_oracle(municipalities, data.draw(instances(municipalities, base)))


# --- the exact mode of a proposal ----------------------------------------------------------------------

@pytest.mark.parametrize("offers, rooms, expected", EXAMPLES)
def test_a_proposal_in_the_exact_mode_is_the_cores_table_and_checked(offers, rooms, expected):
    wishes = [{"code": c, "wish": "give", "amount_permille": a / 100} for c, a in offers.items()]
    wishes += [{"code": c, "wish": "receive", "amount_permille": a / 100} for c, a in rooms.items()]
    proposal = propose({"wishes": wishes}, policy={"objective": "leximin"}).to_dict()
    assert proposal["status"] == {"termination": "optimal", "solution": "optimal"}
    assert {(t["giver"], t["receiver"]): round(t["permille"] * 100) for t in proposal["transfers"]} == expected
    assert list(proposal["objective"]["stages"]["national"]) == ["leximin", "volume", "cross_county", "transfers",
                                                                 "population"]
    assert set(proposal["objective"]["stage_status"]["national"].values()) == {"optimal"}


def test_the_checker_recomputes_the_first_level_from_the_table(municipalities, base):
    wishes = [Wish("0114", WishKind.GIVE, 2), Wish("0115", WishKind.GIVE, 4), Wish("0117", WishKind.GIVE, 1),
              Wish("0120", WishKind.RECEIVE, 5)]
    setup = build_setup(municipalities, base, wishes, Policy(binding_agreements=True))
    market = setup.markets[0]
    flows = [("0114", "0120", 1), ("0115", "0120", 3), ("0117", "0120", 1)]
    assert check_stages(setup, market, {"leximin": "1/2×1 3/4×1 1×2"}, flows) == []
    assert check_stages(setup, market, {"leximin": "1/2×1 1×3"}, flows) == [
        "market national: stage leximin reported 1/2×1 1×3, the table gives 1/2×1 3/4×1 1×2"]

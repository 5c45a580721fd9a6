"""The exact core (solver/redistribute/leximin.py) against an exhaustive oracle written from the fairness
definition alone (docs/fairness.md): every feasible table of a small instance is enumerated and ranked by the
five levels, and the core must return the best one, level by level and amount by amount.

The oracle shares no code with the core: it reads only the instance (offers, rooms, counties, populations,
base shares) and uses plain integers and Fractions.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

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

ROOT = Path(__file__).resolve().parent.parent
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
    assert out.stage_status == dict.fromkeys(["leximin", "volume", "cross_county", "transfers", "population",
                                              "tie_break"], "optimal")


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


# `make mutation` runs this test once per mutant and asks for fewer examples (ANDELSTAL_ORACLE_EXAMPLES), the same
# ones for every mutant, so that its score can be made again
@settings(max_examples=int(os.environ.get("ANDELSTAL_ORACLE_EXAMPLES", "300")), deadline=None,
          derandomize="ANDELSTAL_ORACLE_EXAMPLES" in os.environ,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
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


# --- instances where a later level decides, and how the core ends when it cannot finish --------------------

DECISIVE = [  # found by enumeration: the named level tells apart tables equal before it (and, "over", the best
    # table changes where that level is optimised the wrong way)
    ("volume", {"2104": 1, "2161": 2}, {"2180": 4, "2309": 1, "2121": 1}),
    ("volume over the later levels", {"0305": 2, "1981": 6}, {"1983": 4, "0380": 6, "1980": 1}),
    ("cross_county", {"0561": 5, "0512": 2, "0760": 5}, {"0582": 4, "0781": 4}),
    ("cross_county over the later levels", {"1230": 4, "1256": 1, "1862": 1, "1260": 6}, {"1284": 1, "1882": 2}),
    ("population", {"0160": 1, "0128": 2}, {"0125": 5, "0191": 5, "0140": 4}),
    ("population over the matrix", {"0763": 1, "0760": 4, "2361": 3, "0764": 4}, {"2321": 5}),
    ("two agreements with one partner", {"0114": 1, "0115": 2, "0117": 4}, {"0120": 10}),
]


@pytest.mark.parametrize("level, offers, rooms", DECISIVE, ids=[d[0] for d in DECISIVE])
def test_the_later_levels_decide_where_the_first_ties(municipalities, base, level, offers, rooms):
    partners = (("0114", "0120"), ("0115", "0120")) if level.startswith("two") else ()
    check_against_oracle(municipalities, Instance(offers, rooms, dict(base.units), partners))


def _core(municipalities, base, offers, rooms, policy: Policy | None = None, **options):
    wishes = [Wish(c, WishKind.GIVE, a, p) for c, (a, p) in offers.items()]
    wishes += [Wish(c, WishKind.RECEIVE, a) for c, a in rooms.items()]
    setup = build_setup(municipalities, base, wishes, policy or Policy())
    return solve(setup, setup.markets[0], SolveOptions(**{"time_limit_s": 60, **options}))


def test_without_the_one_receiver_rule_a_giver_serves_two_rooms(municipalities, base):
    out = _core(municipalities, base, {"0114": (2, None)}, {"0120": 1, "0123": 1}, Policy(one_receiver=False))
    assert out.flows == {("0114", "0120"): 1, ("0114", "0123"): 1}
    out = _core(municipalities, base, {"0114": (2, None)}, {"0120": 1, "0123": 1})
    assert out.flows == {("0114", "0120"): 1}  # the rule on: one room, the first in the matrix order


def test_no_transfer_is_smaller_than_the_policys_least(municipalities, base):
    """A giver of one unit cannot give where the least transfer is two; the giver of three fills the room. Two
    givers of two into a room of three: without the least transfer 2 and 1 (ratios ½, 1, 1), with it one gives 2."""
    out = _core(municipalities, base, {"0114": (1, None), "0115": (3, None)}, {"0120": 4}, Policy(min_transfer=2))
    assert out.flows == {("0115", "0120"): 3}
    out = _core(municipalities, base, {"0114": (2, None), "0115": (2, None)}, {"0120": 3}, Policy(min_transfer=2))
    assert list(out.flows.values()) == [2] and out.stage_values["leximin"] == "0×1 2/3×1 1×1"  # level 4 says who
    out = _core(municipalities, base, {"0114": (2, None), "0115": (2, None)}, {"0120": 3})
    assert sorted(out.flows.values()) == [1, 2] and out.stage_values["leximin"] == "1/2×1 1×2"


@pytest.mark.parametrize("partner", [None, "0120"])
def test_a_giver_whose_floor_takes_its_offer_has_no_ratio(municipalities, base, partner):
    """Also with an agreement: a bound giver with nothing to give binds nothing."""
    share = base.units["0319"]  # the smallest share; the floor leaves Stockholm's offer whole
    out = _core(municipalities, base, {"0319": (share, partner), "0180": (2, None)}, {"0120": 2},
                Policy(giver_floor=share))
    assert out.flows == {("0180", "0120"): 2} and out.stage_values["leximin"] == "1×2"


def test_a_market_without_a_possible_transfer_leaves_everyone_at_zero(municipalities, base):
    """No pair can carry the least transfer: the table is empty, and proven so at every level."""
    out = _core(municipalities, base, {"0114": (1, None)}, {"0120": 1}, Policy(min_transfer=2))
    assert (out.termination.value, out.flows, out.stage_values["leximin"]) == ("optimal", {}, "0×2")


def test_an_agreement_with_a_partner_that_cannot_take_it_is_infeasible(municipalities, base):
    out = _core(municipalities, base, {"0114": (3, "0120")}, {"0120": 1}, Policy(min_transfer=2))
    assert (out.termination.value, out.solution.value, out.flows) == ("infeasible", "none", None)
    assert out.message == "a binding agreement names a partner that cannot take the transfer"
    out = _core(municipalities, base, {"0114": (3, "0120")}, {"0120": 2})  # a partner with too little room
    assert (out.termination.value, out.solution.value, out.flows) == ("infeasible", "none", None)
    assert out.message == "no table keeps the hard rules"


def _sample(municipalities, base):
    import json

    from solver.wishes import read_wishes

    wishes = read_wishes(json.loads((ROOT / "solver" / "data" / "sample_wishes.json").read_text()), municipalities,
                         base, Policy())
    return build_setup(municipalities, base, wishes, Policy())


def test_a_solve_stopped_at_its_work_limit_says_so_and_counts_its_work(municipalities, base, monkeypatch):
    """The national sample with a work limit far too small: nothing is proven, the table is the local search's
    start (every member served), and the work spent is what CP-SAT reports over as many solves as were made
    (CP-SAT's calls counted here) plus the packing search's nodes at their rate, within the limit."""
    from ortools.sat.python import cp_model

    calls, spent = [], []
    original = cp_model.CpSolver.solve

    def counted(self, *args, **kwargs):
        status = original(self, *args, **kwargs)
        calls.append(status)
        spent.append(self.deterministic_time)
        return status

    monkeypatch.setattr(cp_model.CpSolver, "solve", counted)
    setup = _sample(municipalities, base)
    out = solve(setup, setup.markets[0], SolveOptions(time_limit_s=0.02))
    assert (out.termination.value, out.solution.value) == ("time_limit", "feasible")
    moved: dict[str, int] = {}
    for (g, r), amount in out.flows.items():
        moved[g] = moved.get(g, 0) + amount
        moved[r] = moved.get(r, 0) + amount
    assert {p.code for p in setup.markets[0].participants} == set(moved)
    assert out.message == "the work limit was reached; levels proven: none"
    assert out.stage_status == {} and out.levels == []
    assert out.solves == len(calls) >= 1 and 0 < out.spent <= 0.03
    nodes = (out.spent - sum(spent)) / SolveOptions().tuning.packing_node_work  # the packing search's, at their rate
    assert nodes >= 0 and abs(nodes - round(nodes)) < 1e-3


@pytest.mark.parametrize("shape, seed, proven", [("small", 1, []),
                                                  ("tiny-offers", 14, ["leximin", "volume", "cross_county",
                                                                       "transfers", "population"])])
def test_a_stop_after_a_table_keeps_it_and_names_the_levels_proven(municipalities, base, shape, seed, proven):
    """Two corpus rounds stopped at a work limit of 0.5: the table kept reaches the first level where it is
    proven (the checker recomputes it from the table), and the message names the levels proven."""
    import sys

    from solver.domain import Scope
    from solver.wishes import read_wishes

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import corpus

    wishes, fields = corpus.make(shape, seed, list(municipalities), base)
    assert fields == {}
    setup = build_setup(municipalities, base, read_wishes({"wishes": wishes}, municipalities, base, Policy()),
                        Policy(scope=Scope.NATIONAL))
    market = setup.markets[0]
    out = solve(setup, market, SolveOptions(time_limit_s=0.5))
    assert (out.termination.value, out.solution.value) == ("time_limit", "feasible") and out.flows
    assert list(out.stage_status) == proven
    assert out.message == f"the work limit was reached; levels proven: {', '.join(proven) or 'none'}"
    flows = [(g, r, a) for (g, r), a in out.flows.items()]
    assert check_stages(setup, market, {k: out.stage_values[k] for k in proven if k == "leximin"}, flows) == []


@pytest.mark.parametrize("limit", [60, 0.5])
def test_a_cancelled_solve_says_so(municipalities, base, limit):
    import threading

    cancel = threading.Event()
    cancel.set()
    setup = _sample(municipalities, base)
    out = solve(setup, setup.markets[0], SolveOptions(time_limit_s=limit, cancel=cancel))
    assert (out.termination.value, out.solution.value) == ("time_limit", "none")
    assert out.message == "cancelled; levels proven: none"


def test_no_work_left_means_no_solve(municipalities, base):
    setup = _sample(municipalities, base)
    out = solve(setup, setup.markets[0], SolveOptions(time_limit_s=0))
    assert (out.termination.value, out.solution.value, out.solves, out.spent) == ("time_limit", "none", 0, 0)
    assert out.message == "the work limit was reached; levels proven: none"


def test_a_cancel_during_a_solve_stops_it_at_once(municipalities, base):
    """The national sample's first level takes the core far longer than the moment waited here, so the cancel
    arrives during a solve: the watcher stops that solve (its work stays far below the limit of 60) and the
    answer says cancelled. The moment only decides when, not what."""
    import threading

    cancel = threading.Event()
    setup = _sample(municipalities, base)
    done: list = []
    worker = threading.Thread(target=lambda: done.append(solve(setup, setup.markets[0],
                                                               SolveOptions(time_limit_s=60, cancel=cancel))))
    worker.start()
    cancel.wait(0.3)  # a pause, then the cancel
    cancel.set()
    worker.join()
    out = done[0]
    # the local search's start is usually checked before the cancel arrives: then it is the table kept
    assert out.termination.value == "time_limit" and out.solution.value in ("none", "feasible")
    assert (out.flows is None) == (out.solution.value == "none")
    assert out.message == "cancelled; levels proven: none" and out.spent < 10


# --- where the core starts (solver/redistribute/start.py) ------------------------------------------------

def _best_split(total: int, wishes: list[int]) -> list[Fraction]:
    """The leximin-best sorted ratios of `total` units shared among `wishes`, by enumerating every split."""
    best: list[Fraction] | None = None
    for amounts in itertools.product(*(range(w + 1) for w in wishes)):
        if sum(amounts) == min(total, sum(wishes)):
            ratios = sorted(Fraction(a, w) for a, w in zip(amounts, wishes))
            best = ratios if best is None or ratios > best else best
    assert best is not None
    return best


@settings(max_examples=300, deadline=None)
@given(wishes=st.lists(st.integers(1, 9), min_size=1, max_size=4), share=st.fractions(0, 1))
def test_the_split_of_one_room_is_the_leximin_of_every_split(wishes, share):
    """start.split, the unit-by-unit rule with its tie rule, against every split of the units (the examples of
    docs/fairness.md among them: 0.02, 0.04, 0.01 into 0.05 give 2, 2, 1)."""
    from solver.redistribute.start import split

    total = math.floor(share * sum(wishes))
    amounts = split(total, wishes)
    assert sum(amounts) == total and all(0 <= a <= w for a, w in zip(amounts, wishes))
    assert sorted(Fraction(a, w) for a, w in zip(amounts, wishes)) == _best_split(total, wishes)
    assert split(5, [2, 4, 1]) == [2, 2, 1]


@settings(max_examples=200, deadline=None)
@given(offers=st.lists(st.integers(1, 6), min_size=1, max_size=3), rooms=st.lists(st.integers(1, 6), min_size=1,
                                                                                    max_size=2))
def test_the_relaxation_is_at_least_as_good_as_every_packed_table(offers, rooms):
    """start.relaxed bounds level 1 from above: no table of the oracle's enumeration is better, and the relaxed
    vector is one that some split of the units reaches (short side in full, long side by the best split)."""
    from solver.redistribute.start import relaxed

    bound = relaxed(offers, rooms)
    givers = {f"g{i}": o for i, o in enumerate(offers)}
    receivers = {f"r{i}": r for i, r in enumerate(rooms)}
    for table in tables(givers, receivers, {}):
        moved = {c: 0 for c in [*givers, *receivers]}
        for (g, r), amount in table.items():
            moved[g] += amount
            moved[r] += amount
        ratios = sorted(Fraction(moved[c], w) for c, w in {**givers, **receivers}.items())
        assert ratios <= bound
    short, long_ = (offers, rooms) if sum(offers) <= sum(rooms) else (rooms, offers)
    assert bound == sorted([Fraction(1)] * len(short) + _best_split(min(sum(offers), sum(rooms)), long_))


@settings(max_examples=300, deadline=None)
@given(offers=st.lists(st.integers(1, 7), min_size=1, max_size=4),
       rooms=st.lists(st.integers(1, 9), min_size=1, max_size=3), data=st.data())
def test_a_packing_with_a_count_decides_as_every_table_does(offers, rooms, data):
    """The packing search with a count (start.counted): "can every member reach v while at least `need` members
    move at least their own amount?", the amounts those of a higher ratio (ceil) or of exceeding v (floor + 1),
    decided exactly as the enumeration of every table decides it; where it finds a placing, some table within
    that placing answers the question (the core's checks under the one-receiver rule, leximin.Core._pack)."""
    from solver.redistribute.packing import search
    from solver.redistribute.start import counted, placed, threshold

    givers = {f"g{i}": o for i, o in enumerate(offers)}
    receivers = {f"r{i}": r for i, r in enumerate(rooms)}
    wish = {**givers, **receivers}
    ratios = sorted({Fraction(a, w) for w in wish.values() for a in range(w)})
    v = data.draw(st.sampled_from(ratios), label="v")
    if data.draw(st.booleans(), label="above v"):
        def amount(w: int) -> int:
            return math.floor(v * w) + 1
    else:
        x = data.draw(st.sampled_from([r for r in ratios if r > v] or [Fraction(1)]), label="x")

        def amount(w: int) -> int:
            return math.ceil(x * w)
    need = data.draw(st.integers(0, len(wish)), label="need")

    def answers(table: dict[tuple[str, str], int]) -> bool:
        moved = dict.fromkeys(wish, 0)
        for (g, r), a in table.items():
            moved[g] += a
            moved[r] += a
        return (all(moved[c] >= math.ceil(v * w) for c, w in wish.items())
                and sum(moved[c] >= amount(w) for c, w in wish.items()) >= need)

    every = list(tables(givers, receivers, {}))
    allowed = {g: sorted(receivers) for g in givers}
    packing, kinds = threshold(v, givers, receivers, allowed)
    counts, _ = search(packing, 10**7, counted(v, givers, receivers, packing, kinds, amount, need))
    assert (counts is not None) == any(answers(t) for t in every)
    if counts is not None:
        at = placed(counts, kinds)
        # (at v = 0 a giver placed may move nothing, and a table has no such pair)
        assert any(answers(t) for t in every if all(at.get(g) == r for g, r in t))


@pytest.mark.parametrize("shape, seed", [("realistic-40x10", 3), ("small", 1), ("rooms-exceed-offers", 1)])
def test_a_stopped_core_answers_no_worse_than_where_it_started(municipalities, base, shape, seed):
    """Where level 1 is left unproven, the table returned is the best the core saw, so never worse at level 1
    than the local search's start (a count's solve may be worse in its larger ratios than the table before it):
    corpus rounds stopped at work limits of 0.5 and 2."""
    import sys

    from solver.redistribute import start
    from solver.redistribute.leximin import Core
    from solver.wishes import read_wishes

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import corpus

    wishes, fields = corpus.make(shape, seed, list(municipalities), base)
    assert fields == {}
    setup = build_setup(municipalities, base, read_wishes({"wishes": wishes}, municipalities, base, Policy()),
                        Policy())
    market = setup.markets[0]

    def vector(flows: dict[tuple[str, str], int]) -> list[Fraction]:
        moved = {p.code: 0 for p in market.participants}
        for (g, r), a in flows.items():
            moved[g] += a
            moved[r] += a
        return sorted(Fraction(moved[p.code], p.effective) for p in market.participants if p.effective > 0)

    begun = vector(start.assign(*Core(setup, market, SolveOptions())._wishes))
    for limit in (0.5, 2):
        out = solve(setup, market, SolveOptions(time_limit_s=limit))
        assert "leximin" not in out.stage_status and out.flows
        assert vector(out.flows) >= begun

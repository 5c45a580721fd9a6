"""Each rule on a tiny instance where it binds and one where it does not, and the checker that guards them."""

from fractions import Fraction

import pytest

from solver import propose
from solver.redistribute.check import check
from solver.shares import population_shares

SOLLEFTEA_ALL = {"code": "2283", "wish": "give", "amount_permille": "all"}


def test_spill_spreads_what_volunteers_cannot_take():
    wishes = {"wishes": [SOLLEFTEA_ALL, {"code": "2260", "wish": "receive", "amount_permille": 0.4}]}
    off = propose(wishes)
    on = propose(wishes, spill=True)
    left = on.base.units["2283"] - 40
    assert off.spill == {} and on.spill["2283"] == -left
    assert sum(u for u in on.spill.values() if u > 0) == left
    assert on.shares["2283"] == 0 and on.shares["2260"] == on.base.units["2260"] + 40
    assert all(code != "2260" for code in on.spill)
    # the largest municipality takes the largest part of the spill
    assert max(on.spill, key=on.spill.get) == "0180"
    assert "no wish" in on.explanations["0180"]["text_en"]


def test_spill_stays_in_the_county_under_county_scope():
    wishes = {"wishes": [SOLLEFTEA_ALL, {"code": "2260", "wish": "receive", "amount_permille": 0.4}]}
    p = propose(wishes, spill=True, scope="county")
    assert p.spill and all(code.startswith("22") for code in p.spill)
    assert sum(p.spill.values()) == 0


def test_giver_floor_binds_and_is_explained():
    wishes = {"wishes": [SOLLEFTEA_ALL, {"code": "2260", "wish": "receive", "amount_permille": 5.0}]}
    p = propose(wishes, giver_floor_permille=0.5)
    assert p.shares["2283"] == 50
    assert {"rule": "giver_floor", "lowered_by_permille": 0.5} in p.explanations["2283"]["reasons"]
    assert "keeps a least share for its readiness" in p.explanations["2283"]["text_en"]
    assert "ska behålla en lägsta andel för sin beredskap" in p.explanations["2283"]["text_sv"]
    assert propose(wishes).shares["2283"] == 0  # without the floor it gives everything


def test_receiver_cap_binds():
    wishes = {"wishes": [{"code": "0180", "wish": "give", "amount_permille": 20.0},
                         {"code": "2260", "wish": "receive", "amount_permille": 20.0}]}
    p = propose(wishes, receiver_cap=2)
    cap = p.setup.receiver_cap["2260"]
    assert cap == int(2 * population_shares(p.municipalities)["2260"])
    assert p.shares["2260"] == cap
    assert any(r["rule"] == "receiver_cap" for r in p.explanations["2260"]["reasons"])


def test_county_floor_keeps_the_county_total():
    wishes = {"wishes": [{"code": c, "wish": "give", "amount_permille": "all"} for c in ("2260", "2262", "2280")]
              + [{"code": "0180", "wish": "receive", "amount_permille": 10.0}]}
    p = propose(wishes, county_floor=1)
    floor = p.setup.county_floor["22"]
    total = sum(u for c, u in p.shares.items() if c.startswith("22"))
    base_total = sum(u for c, u in p.base.units.items() if c.startswith("22"))
    assert total >= min(floor, base_total)
    assert sum(p.shares[c] for c in ("2260", "2262", "2280")) > 0 or base_total <= floor


def test_min_transfer_binds():
    wishes = {"wishes": [{"code": "0114", "wish": "give", "amount_permille": 0.3},
                         {"code": "2260", "wish": "receive", "amount_permille": 2.0}]}
    assert propose(wishes, min_transfer_permille=0.5).transfers == []
    assert len(propose(wishes, min_transfer_permille=0.2).transfers) == 1


def test_fixed_partner_is_respected():
    wishes = {"wishes": [{"code": "0114", "wish": "give", "amount_permille": 1.0, "partner": "2480"},
                         {"code": "2260", "wish": "receive", "amount_permille": 5.0},
                         {"code": "2480", "wish": "receive", "amount_permille": 0.5}]}
    p = propose(wishes, binding_agreements=False)  # the partner only restricts where 0114 may give
    assert [(t.giver, t.receiver, t.amount) for t in p.transfers] == [("0114", "2480", 50)]
    binding = propose(wishes)  # by default the whole offer goes to the partner, which lacks the room
    assert binding.termination.value == "infeasible" and binding.diagnosis


def test_weighted_mode_trades_volume_for_simplicity():
    wishes = {"wishes": [{"code": "0114", "wish": "give", "amount_permille": 1.0},
                         {"code": "2260", "wish": "receive", "amount_permille": 1.0}]}
    moved = propose(wishes, objective="weighted", weights={"unmet": 1, "cross_county": 0})
    kept = propose(wishes, objective="weighted", weights={"unmet": 1, "cross_county": 1000})
    assert len(moved.transfers) == 1 and kept.transfers == []
    assert kept.objective["mode"] == "weighted"


def test_objective_terms_are_reported():
    p = propose({"wishes": [{"code": "0114", "wish": "give", "amount_permille": 1.0},
                            {"code": "2260", "wish": "receive", "amount_permille": 0.4}]})
    terms = p.objective["terms"]
    assert terms["volume_permille"] == 0.4 and terms["unmet_permille"] == 0.6
    assert terms["transfers"] == 1 and terms["cross_county_transfers"] == 1
    assert Fraction(p.objective["exact"]["min_ratio"]) == Fraction(2, 5)


def test_checker_catches_a_broken_table():
    p = propose({"wishes": [{"code": "0114", "wish": "give", "amount_permille": 1.0},
                            {"code": "2260", "wish": "receive", "amount_permille": 2.0}]})
    flows = [(t.giver, t.receiver, t.amount) for t in p.transfers]
    assert check(p.setup, p.shares, flows, {}) == []
    broken = dict(p.shares)
    broken["0114"] -= 1
    assert any("sum" in v for v in check(p.setup, broken, flows, {}))
    too_much = [(g, r, a + 10) for g, r, a in flows]
    shares = dict(p.base.units)
    shares["0114"] -= 110
    shares["2260"] += 110
    assert any("more than its effective offer" in v for v in check(p.setup, shares, too_much, {}))
    wrong_way = [("2260", "0114", 10)]
    assert any("without a wish" in v for v in check(p.setup, p.base.units, wrong_way, {}))


@pytest.mark.parametrize("backend", ["cpsat", "highs", "cbc"])
def test_every_backend_solves_a_small_case_the_same(backend):
    wishes = {"wishes": [{"code": "0114", "wish": "give", "amount_permille": 3.0},
                         {"code": "0115", "wish": "give", "amount_permille": 1.0},
                         {"code": "2260", "wish": "receive", "amount_permille": 2.0}]}
    p = propose(wishes, backend=backend)
    assert p.solution.value == "optimal"
    assert [(t.giver, t.receiver, t.amount) for t in p.transfers] == [("0114", "2260", 150), ("0115", "2260", 50)]
    assert p.solver["backend"] == backend


def test_unknown_backend_is_a_clear_error():
    from solver.domain import InputError

    with pytest.raises(InputError, match="unknown backend"):
        propose({"wishes": []}, backend="gurobi")


def test_rooms_smaller_than_two_smallest_transfers_still_solve():
    # two givers cannot share a room of 0.6 when each transfer must be at least 0.5
    wishes = {"wishes": [{"code": "0114", "wish": "give", "amount_permille": 0.6},
                         {"code": "0115", "wish": "give", "amount_permille": 0.6},
                         {"code": "2260", "wish": "receive", "amount_permille": 0.6}]}
    p = propose(wishes, min_transfer_permille=0.5)
    assert p.solution.value == "optimal" and len(p.transfers) == 1


def test_the_remembered_construction_is_the_construction_and_a_copy():
    """The construction's table is remembered per market; every caller gets its own table, equal to a fresh one."""
    from solver.data import sample_wishes_path
    from solver.redistribute import solve
    from solver.redistribute.memo import Models
    from solver.redistribute.problem import build_problem

    models = Models()
    p = propose(str(sample_wishes_path()), models=models)
    setup = p.setup
    prob = build_problem(setup, setup.markets[0], models)
    assert len(models.problems) == 1  # the proposal's model, and this is it
    first = solve._construction(setup, prob, models)
    assert any(first)  # the sample moves something
    first[0] += 1  # a caller's change must not reach the next caller
    again = solve._construction(setup, prob, models)
    assert len(models.constructions) == 1
    fresh = solve._constructed(setup, prob)
    assert again == fresh and again is not fresh
    assert again != first

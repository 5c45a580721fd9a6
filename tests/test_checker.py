"""Every rule of the independent checker (solver/redistribute/check.py), each broken by a table made to break it,
with the checker's exact words. A table is written as its transfers and spill; its shares follow from them
(base − given + received + spill), so only the rule under test is broken unless a case says otherwise."""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import pytest

from solver.domain import Policy, Scope, Wish, WishKind
from solver.redistribute.check import check, check_stages, objective_terms
from solver.redistribute.targets import build_setup

# Timrå 2262 (share 124 units), Ånge 2260 (100), Upplands Väsby 0114 (452), Stockholm 0180 (9,704)
WISHES = [Wish("2262", WishKind.GIVE, 105), Wish("2260", WishKind.RECEIVE, 500), Wish("0114", WishKind.GIVE, 50),
          Wish("0180", WishKind.RECEIVE, 200)]


def setup_for(municipalities, base, wishes=WISHES, **policy):
    return build_setup(municipalities, base, wishes, Policy(**policy))


def shares_of(setup, flows, spill=None):
    shares = dict(setup.base.units)
    for g, r, amount in flows:
        shares[g] -= amount
        shares[r] += amount
    for code, amount in (spill or {}).items():
        shares[code] += amount
    return shares


def violations(setup, flows, spill=None, shares=None):
    return check(setup, shares if shares is not None else shares_of(setup, flows, spill), flows, spill or {})


def test_a_sound_table_has_no_violation(municipalities, base):
    setup = setup_for(municipalities, base)
    assert violations(setup, [("2262", "2260", 105), ("0114", "0180", 50)]) == []


CASES = [
    # (name, policy, wishes or None, transfers, spill, the checker's words)
    ("below the smallest transfer", {"min_transfer": 10}, None, [("2262", "2260", 5)], None,
     ["transfer 2262→2260 of 5 is below the smallest transfer 10"]),
    ("a giver without a wish", {}, None, [("0180", "2260", 5)], None, ["0180 gives without a wish to give"]),
    ("a receiver without a wish", {}, None, [("2262", "0114", 5)], None, ["0114 receives without a wish to receive"]),
    ("a county line under county scope", {"scope": Scope.COUNTY}, None, [("0114", "2260", 5)], None,
     ["transfer 0114→2260 crosses a county line under county scope"]),
    ("not the fixed partner", {}, [Wish("2262", WishKind.GIVE, 105, "2260"), *WISHES[1:]], [("2262", "0180", 105)],
     None, ["2262 gives to 0180, not to its fixed partner 2260"]),
    ("both gives and receives", {}, None, [("2262", "2260", 50), ("0114", "2262", 5)], None,
     ["2262 receives without a wish to receive", "2262 both gives and receives"]),
    ("more than the offer", {}, None, [("2262", "2260", 106)], None,
     ["2262 gives 106, more than its effective offer 105"]),
    ("two receivers", {}, None, [("2262", "2260", 50), ("2262", "0180", 50)], None, ["2262 gives to 2 receivers"]),
    ("two receivers, the rule off", {"one_receiver": False}, None, [("2262", "2260", 50), ("2262", "0180", 50)], None,
     []),
    ("the giver floor", {"giver_floor": 100}, None, [("2262", "2260", 25)], None,
     ["2262 gives 25, more than its effective offer 24", "2262 falls below the giver floor"]),
    ("a binding agreement cut short", {"binding_agreements": True},
     [Wish("2262", WishKind.GIVE, 105, "2260"), *WISHES[1:]], [("2262", "2260", 50)], None,
     ["2262 does not give its whole offer to its partner 2260"]),
    ("an agreement that binds nothing", {"binding_agreements": False},
     [Wish("2262", WishKind.GIVE, 105, "2260"), *WISHES[1:]], [("2262", "2260", 50)], None, []),
    ("more than the room", {}, [*WISHES[:1], Wish("2260", WishKind.RECEIVE, 50)], [("2262", "2260", 60)], None,
     ["2260 receives 60, more than its effective room 50"]),
    ("spill without spill mode", {}, None, [], {"2262": -10, "0115": 10}, ["spill without spill mode"]),
    ("a spill that does not balance", {"spill": True}, None, [], {"2262": -10, "0115": 5},
     ["shares sum to 99995 units, not 100000", "the spill does not balance: what givers put in is not what others take"]),
    ("spill to a municipality with a wish", {"spill": True}, None, [], {"2262": -10, "2260": 10},
     ["2260 has a wish but received spill"]),
    ("spill from one without a wish to give", {"spill": True}, None, [], {"0115": -10, "0117": 10},
     ["0115 put share into the spill without a wish to give"]),
    ("gives and spills more than the offer", {"spill": True}, None, [("2262", "2260", 105)], {"2262": -10, "0115": 10},
     ["2262 gives and spills more than its effective offer"]),
]


@pytest.mark.parametrize("name, policy, wishes, flows, spill, expected", CASES, ids=[c[0] for c in CASES])
def test_each_rule_is_named_when_broken(municipalities, base, name, policy, wishes, flows, spill, expected):
    setup = setup_for(municipalities, base, wishes or WISHES, **policy)
    assert violations(setup, flows, spill) == expected


def test_a_table_that_does_not_add_up_is_named(municipalities, base):
    setup = setup_for(municipalities, base)
    shares = shares_of(setup, [("2262", "2260", 105)])
    del shares["0114"]
    assert violations(setup, [("2262", "2260", 105)], shares=shares) == [
        "the table does not have exactly one share per municipality"]
    shares = shares_of(setup, [("2262", "2260", 105)])
    shares["0115"] += 1
    assert violations(setup, [("2262", "2260", 105)], shares=shares) == [
        "shares sum to 100001 units, not 100000", "0115: share 342 ≠ base 341 − given + received + spill = 341"]


def test_a_transfer_that_is_not_positive_is_named(municipalities, base):
    setup = setup_for(municipalities, base)
    assert violations(setup, [("2262", "2260", 0)]) == ["transfer 2262→2260 is not positive",
                                                         "transfer 2262→2260 of 0 is below the smallest transfer 1"]


def test_a_negative_share_is_named(municipalities, base):
    setup = setup_for(municipalities, base, [Wish("2262", WishKind.GIVE, None), Wish("2260", WishKind.RECEIVE, 500)])
    assert violations(setup, [("2262", "2260", 130)]) == ["2262: negative share",
                                                           "2262 gives 130, more than its effective offer 124",
                                                           "2262 falls below the giver floor"]


def test_the_receiver_cap_is_named(municipalities, base):
    setup = setup_for(municipalities, base, receiver_cap=Fraction(3, 2))
    cap = setup.receiver_cap["2260"]
    room = setup.participants["2260"].effective
    assert room + 1 <= 105, "the case needs the cap to bind below Timrå's offer"
    assert violations(setup, [("2262", "2260", room + 1)]) == [
        f"2260 receives {room + 1}, more than its effective room {room}", f"2260 ends above its cap {cap}"]


def test_the_county_floor_is_named(municipalities, base):
    wishes = [Wish("2262", WishKind.GIVE, None), Wish("0180", WishKind.RECEIVE, 500)]
    setup = setup_for(municipalities, base, wishes, county_floor=Fraction(1))
    floor = setup.county_floor["22"]
    totals = defaultdict(int)
    shares = shares_of(setup, [("2262", "0180", 124)])
    for m in municipalities:
        totals[m.county_code] += shares[m.code]
    assert totals["22"] < floor, "the case needs county 22 to end below its floor"
    found = violations(setup, [("2262", "0180", 124)])
    assert f"county 22 ends at {totals['22']}, below its floor {floor}" in found
    assert f"county 22 is below its floor {floor} but its municipalities gave share away" in found


def test_stage_values_are_recomputed_and_unknown_stages_refused(municipalities, base):
    setup = setup_for(municipalities, base)
    market = setup.markets[0]
    flows = [("0114", "0180", 50), ("2262", "2260", 105)]
    assert check_stages(setup, market, {"volume": "155", "transfers": "2", "cross_county": "0"}, flows) == []
    assert check_stages(setup, market, {"volume": "154"}, flows) == [
        "market national: stage volume reported 154, the table gives 155"]
    assert check_stages(setup, market, {"volumen": "155"}, flows) == [
        "market national: stage volumen is not one the checker knows"]


def test_boundaries_are_no_violations(municipalities, base):
    """A transfer of exactly the smallest amount, a spill entry of 0 and a county at exactly its floor break
    nothing."""
    setup = setup_for(municipalities, base, min_transfer=1)
    assert violations(setup, [("2262", "2260", 1), ("0114", "0180", 50)]) == []
    setup = setup_for(municipalities, base, min_transfer=5)
    assert violations(setup, [("2262", "2260", 5)]) == []
    spilling = setup_for(municipalities, base, spill=True)
    assert violations(spilling, [("2262", "2260", 95)], {"2262": -10, "0115": 10, "2260": 0, "0117": 0}) == []
    assert violations(spilling, [], {"0117": 0}) == []
    wishes = [Wish("2262", WishKind.GIVE, None), Wish("0180", WishKind.RECEIVE, 500)]
    floored = setup_for(municipalities, base, wishes, county_floor=Fraction(1, 2))
    floor = floored.county_floor["22"]
    total = sum(base[m.code] for m in municipalities if m.county_code == "22")
    give = min(124, total - floor)  # the most that keeps county 22 at its floor or above
    assert violations(floored, [("2262", "0180", give)]) == []


def test_stage_values_of_every_known_stage(municipalities, base):
    """Each stage the checker recomputes, on a table where a giver gives to two receivers (the rule off), and the
    stages it knows without recomputing them."""
    setup = setup_for(municipalities, base, one_receiver=False, binding_agreements=True)
    market = setup.markets[0]
    flows = [("0114", "0180", 30), ("0114", "2260", 20), ("2262", "2260", 105)]
    assert check_stages(setup, market, {"volume": "155", "transfers": "3", "cross_county": "1"}, flows) == []
    # 0180 30 of 200, 2260 125 of 500, 0114 and 2262 all they offered
    assert check_stages(setup, market, {"leximin": "3/20×1 1/4×1 1×2"}, flows) == []
    assert check_stages(setup, market, {s: "0" for s in ("weighted", "tie_pairs", "tie_flows", "tie_order")},
                        flows) == []


def test_the_first_level_leaves_out_what_an_agreement_binds(municipalities, base):
    """A giver bound to its partner has no ratio; its partner's wish and amount count without the bound part."""
    wishes = [Wish("2262", WishKind.GIVE, 105, "2260"), Wish("2260", WishKind.RECEIVE, 305),
              Wish("0114", WishKind.GIVE, 50), Wish("0180", WishKind.RECEIVE, 200)]
    flows = [("0114", "2260", 50), ("2262", "2260", 105)]
    bound = setup_for(municipalities, base, wishes, binding_agreements=True)
    # 0114: 50/50; 2260: (155 − 105)/(305 − 105) = 1/4; 0180: 0/200
    assert check_stages(bound, bound.markets[0], {"leximin": "0×1 1/4×1 1×1"}, flows) == []
    free = setup_for(municipalities, base, wishes, binding_agreements=False)
    # without the binding, 2262 has a ratio (1) and 2260 counts all: 155/305 = 31/61
    assert check_stages(free, free.markets[0], {"leximin": "0×1 31/61×1 1×2"}, flows) == []


def test_the_objective_terms_are_recomputed_from_the_table(municipalities, base):
    setup = setup_for(municipalities, base, one_receiver=False)
    flows = [("0114", "0180", 30), ("0114", "2260", 20), ("2262", "2260", 105)]
    terms = objective_terms(setup, shares_of(setup, flows), flows)
    parts = setup.participants
    moved = {"0114": 50, "0180": 30, "2260": 125, "2262": 105}
    assert terms["volume"] == "155" and terms["transfers"] == "3" and terms["cross_county"] == "1"
    assert terms["unmet"] == str(sum(p.effective - moved[c] for c, p in parts.items()))
    assert terms["unequal"] == str(sum(abs(moved[c] - p.target) for c, p in parts.items()))
    assert terms["min_ratio"] == str(min(Fraction(moved[c], p.effective) for c, p in parts.items()))
    nothing = setup_for(municipalities, base, [])
    assert objective_terms(nothing, dict(base.units), [])["min_ratio"] == "1"


def test_one_unit_counts(municipalities, base):
    """The smallest amounts: a spill of one unit to a municipality with a wish, a receiver whose cap lets it take
    nothing and that takes one unit, a spill entry of 0 beside an offer broken, and participants of one unit."""
    spilling = setup_for(municipalities, base, spill=True)
    assert violations(spilling, [], {"2262": -1, "2260": 1}) == ["2260 has a wish but received spill"]
    assert violations(spilling, [("2262", "2260", 106)], {"2262": 0}) == [
        "2262 gives 106, more than its effective offer 105"]
    capped = setup_for(municipalities, base, receiver_cap=Fraction(1, 100))
    cap = capped.receiver_cap["2260"]
    assert capped.participants["2260"].effective == 0
    assert violations(capped, [("2262", "2260", 1)]) == ["2260 receives 1, more than its effective room 0",
                                                          f"2260 ends above its cap {cap}"]
    # above its cap through spill, not through what it received: the spill is the violation, not the cap
    capped_spill = setup_for(municipalities, base, receiver_cap=Fraction(1, 100), spill=True)
    assert violations(capped_spill, [], {"2262": -1, "2260": 1}) == ["2260 has a wish but received spill"]
    wishes = [Wish("2262", WishKind.GIVE, 1, "2260"), Wish("2283", WishKind.GIVE, 2, "2260"),
              Wish("2260", WishKind.RECEIVE, 4), Wish("0114", WishKind.GIVE, 1), Wish("0180", WishKind.RECEIVE, 1)]
    tiny = setup_for(municipalities, base, wishes, binding_agreements=True)
    flows = [("2262", "2260", 1), ("2283", "2260", 2)]
    # both bound givers are outside the first level; 2260 counts 0 of the 1 unit left; 0114 and 0180 have 0 of 1
    assert check_stages(tiny, tiny.markets[0], {"leximin": "0×3"}, flows) == []
    # 0114 and 0180, of one unit each, have moved nothing: the least ratio is theirs
    assert objective_terms(tiny, shares_of(tiny, flows), flows)["min_ratio"] == "0"
    flows.append(("0114", "0180", 1))
    assert check_stages(tiny, tiny.markets[0], {"leximin": "0×1 1×2"}, flows) == []


def test_a_county_exactly_at_its_floor_breaks_nothing(municipalities, base):
    wishes = [Wish("2262", WishKind.GIVE, None), Wish("0180", WishKind.RECEIVE, 500)]
    total = sum(base[m.code] for m in municipalities if m.county_code == "22")
    for percent in range(50, 200):  # a floor that Timrå's share can just reach
        setup = setup_for(municipalities, base, wishes, county_floor=Fraction(percent, 100))
        give = total - setup.county_floor["22"]
        if 0 < give <= setup.participants["2262"].effective:
            break
    else:
        pytest.fail("no floor between 0.5 and 2 leaves county 22 a gift Timrå can make")
    assert violations(setup, [("2262", "0180", give)]) == []

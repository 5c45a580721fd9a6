"""The redistribution model end to end with the real solvers over the real 290 municipalities."""

import logging
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from solver import propose
from solver.compensation import expected_children, variable_compensation
from solver.domain import TOTAL_UNITS
from solver.redistribute.tuning import Tuning

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def flows(proposal):
    return [(t.giver, t.receiver, t.amount) for t in proposal.transfers]


def moved(proposal):
    out = defaultdict(int)
    for g, r, a in flows(proposal):
        out[g] += a
        out[r] += a
    return out


@st.composite
def instances(draw, max_givers=5, max_receivers=3, partners=False):
    from solver.data import load_municipalities
    from solver.shares import compute_base_shares

    municipalities = load_municipalities()
    base = compute_base_shares(municipalities).units
    codes = [m.code for m in municipalities]
    chosen = draw(st.lists(st.sampled_from(codes), min_size=2, max_size=max_givers + max_receivers, unique=True))
    n_receivers = draw(st.integers(1, min(max_receivers, len(chosen) - 1)))
    wishes = []
    for i, code in enumerate(sorted(chosen)):
        if i < n_receivers:
            wishes.append({"code": code, "wish": "receive", "amount_permille": draw(st.integers(1, 400)) / 100})
        else:
            amount = draw(st.one_of(st.just("all"), st.integers(1, base[code]).map(lambda u: u / 100)))
            wish = {"code": code, "wish": "give", "amount_permille": amount}
            if partners and draw(st.booleans()):
                wish["partner"] = draw(st.sampled_from([w["code"] for w in wishes[:n_receivers]]))
            wishes.append(wish)
    return {"wishes": wishes}


def check_rules(p, wishes, one_receiver=True, county_scope=False):
    base = p.base.units
    assert sum(p.shares.values()) == TOTAL_UNITS
    kinds = {w["code"]: w["wish"] for w in wishes["wishes"]}
    receivers_of = defaultdict(set)
    county = {m.code: m.county_code for m in p.municipalities}
    for g, r, a in flows(p):
        assert kinds.get(g) == "give" and kinds.get(r) == "receive" and a > 0
        receivers_of[g].add(r)
        if county_scope:
            assert county[g] == county[r]
    if one_receiver:
        assert all(len(rs) <= 1 for rs in receivers_of.values())
    m = moved(p)
    for code, units in p.shares.items():
        if code not in kinds:
            assert units == base[code]
        elif kinds[code] == "give":
            assert units == base[code] - m[code] and m[code] <= p.setup.participants[code].effective
        else:
            assert units == base[code] + m[code] and m[code] <= p.setup.participants[code].effective


@contextmanager
def _warnings_of(name, level=logging.WARNING):
    """The messages (warnings, unless another level is named) a logger emits inside the block."""
    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Collect(level)
    logger = logging.getLogger(name)
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, logger.getEffectiveLevel()))
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


@FAST
@given(instances(), st.booleans(), st.booleans(), st.sampled_from([0, 0.5, 2.0]), st.sampled_from([None, 1.5, 4]),
       st.sampled_from([None, 0.9]), st.sampled_from([0.01, 0.2]))
def test_hard_rules_hold(wishes, one_receiver, county, giver_floor, cap, county_floor, min_transfer):
    scope = "county" if county else "national"
    with _warnings_of("solver.redistribute.solve") as warned:
        p = propose(wishes, one_receiver=one_receiver, scope=scope, giver_floor_permille=giver_floor, receiver_cap=cap,
                    county_floor=county_floor, min_transfer_permille=min_transfer)
    assert p.feasible
    assert warned == []  # e.g. the aggregate model's table was always confirmed by the full model
    check_rules(p, wishes, one_receiver, county)
    for t in p.transfers:
        assert t.amount >= round(min_transfer * 100)
    for code, part in p.setup.participants.items():
        if part.gives:
            assert p.shares[code] >= min(p.base.units[code], round(giver_floor * 100))
        elif cap is not None and p.transfers:
            assert p.shares[code] <= max(p.base.units[code], p.setup.receiver_cap[code])
    if county_floor is not None:
        for county_code, floor in p.setup.county_floor.items():
            total = sum(u for c, u in p.shares.items() if c[:2] == county_code)
            base_total = sum(u for c, u in p.base.units.items() if c[:2] == county_code)
            assert total >= min(floor, base_total)


@FAST
@given(instances(max_givers=4, max_receivers=2))
def test_fixed_partners_are_respected(wishes):
    receivers = [w["code"] for w in wishes["wishes"] if w["wish"] == "receive"]
    for w in wishes["wishes"]:
        if w["wish"] == "give":
            w["partner"] = receivers[-1]
    p = propose(wishes)
    assert all(t.receiver == receivers[-1] for t in p.transfers)


@FAST
@given(instances())
def test_same_input_gives_byte_identical_output(wishes):
    first = propose(wishes).to_json(timing=False)
    assert propose(wishes).to_json(timing=False) == first


POLICIES = [{}, {"county_floor": 0.8}, {"binding_agreements": True}, {"giver_floor_permille": 0.5},
            {"objective": "weighted", "weights": {"population": 0.1, "cross_county": 10.0}},
            {"objective": "weighted", "weights": {"population": 10.0, "unequal": 3.0}},
            {"objective": "weighted", "weights": {"population": 10.0, "unequal": 3.0}, "receiver_cap": 1.5}]


@FAST
@given(instances(max_givers=6, max_receivers=3, partners=True), st.sampled_from(POLICIES),
       st.sampled_from(POLICIES))
def test_remembered_models_change_no_answer(wishes, before, policy):
    """Models are remembered in the caller's memory (the full and aggregate models under the setup's inputs,
    CP-SAT models by content, the construction, the tie-break's strategies): a proposal after another, with
    other weights or rules, is the one made without a memory."""
    from solver.redistribute.memo import Models

    fresh = propose(wishes, policy=policy).to_json(timing=False)
    models = Models()
    propose(wishes, policy=before, models=models)
    assert propose(wishes, policy=policy, models=models).to_json(timing=False) == fresh


@FAST
@given(instances(max_givers=4, max_receivers=3), st.booleans())
def test_backends_agree(wishes, one_receiver):
    a = propose(wishes, backend="cpsat", one_receiver=one_receiver)
    b = propose(wishes, backend="highs", one_receiver=one_receiver)
    assume(a.solution.value == "optimal" and b.solution.value == "optimal")
    assert a.objective["stages"] == b.objective["stages"]
    assert a.shares == b.shares
    assert flows(a) == flows(b)


@FAST
@given(instances(max_givers=6, max_receivers=3))
def test_without_the_one_receiver_rule_the_cut_is_proportional(wishes):
    p = propose(wishes, one_receiver=False)
    m = moved(p)
    for market in p.setup.markets:
        for side in (market.givers, market.receivers):
            members = [q for q in side if q.effective > 0]
            for a in members:
                for b in members:
                    # Adams: no one's ratio exceeds another's by more than one unit explains
                    assert Fraction(m[a.code], a.effective) - Fraction(m[b.code], b.effective) <= Fraction(1, a.effective)


@FAST
@given(instances(max_givers=5, max_receivers=1), st.integers(1, 300))
def test_offering_more_never_leaves_a_giver_with_more(wishes, extra):
    p = propose(wishes)
    giver = next((w for w in wishes["wishes"] if w["wish"] == "give" and w["amount_permille"] != "all"), None)
    assume(giver is not None)
    base = p.base.units[giver["code"]]
    more = dict(giver, amount_permille=min(base, round(giver["amount_permille"] * 100) + extra) / 100)
    bigger = {"wishes": [more if w is giver else w for w in wishes["wishes"]]}
    assert propose(bigger).shares[giver["code"]] <= p.shares[giver["code"]]


@FAST
@given(instances(max_givers=2, max_receivers=4), st.integers(1, 300))
def test_more_room_never_leaves_a_receiver_with_less(wishes, extra):
    p = propose(wishes, one_receiver=False)
    receiver = next(w for w in wishes["wishes"] if w["wish"] == "receive")
    more = dict(receiver, amount_permille=(round(receiver["amount_permille"] * 100) + extra) / 100)
    bigger = {"wishes": [more if w is receiver else w for w in wishes["wishes"]]}
    assert propose(bigger, one_receiver=False).shares[receiver["code"]] >= p.shares[receiver["code"]]


def test_equal_wishes_get_equal_outcomes():
    wishes = {"wishes": [{"code": c, "wish": "give", "amount_permille": 1.0} for c in ("0114", "0115", "0117")]
              + [{"code": "2260", "wish": "receive", "amount_permille": 2.0}]}
    m = moved(propose(wishes))
    amounts = sorted(m[c] for c in ("0114", "0115", "0117"))
    assert amounts[-1] - amounts[0] <= 1 and sum(amounts) == 200


def test_fairness_examples():
    # offers 3.00 and 1.00 into room 2.00 give 1.50 and 0.50
    p = propose({"wishes": [{"code": "0114", "wish": "give", "amount_permille": 3.0},
                            {"code": "0115", "wish": "give", "amount_permille": 1.0},
                            {"code": "2260", "wish": "receive", "amount_permille": 2.0}]})
    assert flows(p) == [("0114", "2260", 150), ("0115", "2260", 50)]
    # one giver of 2.00, rooms 3.00 and 1.00, one receiver per giver: the whole 2.00 goes to the room of 3.00
    p = propose({"wishes": [{"code": "0180", "wish": "give", "amount_permille": 2.0},
                            {"code": "2260", "wish": "receive", "amount_permille": 3.0},
                            {"code": "2480", "wish": "receive", "amount_permille": 1.0}]})
    assert flows(p) == [("0180", "2260", 200)]


def test_empty_wish_set_keeps_the_base_table(base):
    p = propose({"wishes": []})
    assert p.shares == base.units and p.transfers == [] and p.feasible


def test_county_scope_never_crosses_and_markets_are_independent():
    west = [{"code": "2262", "wish": "give", "amount_permille": 1.05}, {"code": "2260", "wish": "receive",
                                                                         "amount_permille": 2.0}]
    east = [{"code": "0114", "wish": "give", "amount_permille": 1.0}, {"code": "0180", "wish": "receive",
                                                                        "amount_permille": 0.5}]
    both = propose({"wishes": west + east}, scope="county")
    alone = propose({"wishes": west + [dict(east[0], amount_permille=0.3), east[1]]}, scope="county")
    assert all(t.cross_county is False for t in both.transfers)
    for code in ("2262", "2260"):
        assert both.shares[code] == alone.shares[code]


def test_floors_and_caps_hold():
    p = propose({"wishes": [{"code": "0114", "wish": "give", "amount_permille": "all"},
                            {"code": "2260", "wish": "receive", "amount_permille": 30.0}]},
                giver_floor_permille=1.0, receiver_cap=2.0)
    assert p.shares["0114"] >= 100
    cap = p.setup.receiver_cap["2260"]
    assert p.shares["2260"] <= max(p.base.units["2260"], cap)
    reasons = {r["rule"] for r in p.explanations["0114"]["reasons"]}
    assert "giver_floor" in reasons


def test_infeasible_agreement_is_diagnosed_in_words():
    wishes = {"wishes": [{"code": "0114", "wish": "give", "amount_permille": 2.0, "partner": "2260"},
                         {"code": "0115", "wish": "give", "amount_permille": 2.0, "partner": "2260"},
                         {"code": "2260", "wish": "receive", "amount_permille": 3.0}]}
    p = propose(wishes, binding_agreements=True)
    assert p.termination.value == "infeasible" and p.solution.value == "none"
    text = " ".join(d["text_en"] for d in p.diagnosis)
    assert "Ånge (2260)" in text and "agreement" in text
    assert p.shares == p.base.units  # nothing changes


def test_report_compensation_example():
    assert expected_children(945, 1500) == 14
    assert variable_compensation(945, 1500) == 132_300


@given(st.integers(-10**7, 10**7), st.integers(0, 10**5))
def test_expected_children_are_the_share_of_the_forecast_rounded_half_up(units, forecast):
    """In integers, as in exact fractions: round(share × forecast) to the nearest child, halves away from zero."""
    from fractions import Fraction

    exact = Fraction(units * forecast, 100_000)
    halves_up = int(abs(exact) + Fraction(1, 2))
    assert expected_children(units, forecast) == (halves_up if exact >= 0 else -halves_up)
    assert expected_children(50, 1000) == 1 and expected_children(-50, 1000) == -1  # 0.5 children: halves up


def test_rows_carry_explanations_and_money():
    p = propose({"wishes": [{"code": "2262", "wish": "give", "amount_permille": 1.05, "partner": "2260"},
                            {"code": "2260", "wish": "receive", "amount_permille": 5.0}]}, forecast=1500)
    rows = {r["code"]: r for r in p.to_dict()["shares"]}
    ange = rows["2260"]
    assert ange["proposed_permille"] == pytest.approx(ange["base_permille"] + 1.05)
    assert ange["variable_compensation_sek"] == 9450 * ange["expected_children"]
    assert "Timrå" in ange["explanation"]["text_en"] and "Timrå" in ange["explanation"]["text_sv"]
    assert rows["0114"]["explanation"]["reasons"] == [{"rule": "no_wish"}]
    assert p.to_dict()["transfers"] == [{"giver": "2262", "receiver": "2260", "permille": 1.05, "cross_county": False}]


def _least_deviation_by_enumeration(p) -> int:
    """Brute force over every assignment of givers to receivers (or none) in each market."""
    import itertools

    worst = 0
    for market in p.setup.markets:
        rooms = {r.code: r for r in market.receivers}
        # a binding agreement sends the giver's whole offer to its partner, and nowhere else
        bound = {g.code for g in market.givers if p.policy.binding_agreements and g.partner and g.effective > 0}
        options = {g.code: [r for gg, r in market.pairs if gg == g.code] + ([] if g.code in bound else [None])
                   for g in market.givers}
        best = None
        for choice in itertools.product(*options.values()):
            sigma = dict(zip(options, choice))
            d = 0
            for g in market.givers:
                if sigma[g.code] is None:
                    d = max(d, g.target)
            for r in market.receivers:
                group = [g for g in market.givers if sigma[g.code] == r.code]
                # least D with every giver and the receiver within D of their targets
                highs = [min(g.effective, rooms[r.code].effective) for g in group]
                lows = [g.effective if g.code in bound else min(p.policy.min_transfer, h) for g, h in zip(group, highs)]
                if sum(lows) > r.effective or any(low > h for low, h in zip(lows, highs)):
                    d = 10**9  # the smallest transfers alone overflow the room
                    break
                for limit in itertools.count():
                    if any(max(low, g.target - limit) > min(h, g.target + limit)
                           for g, low, h in zip(group, lows, highs)):
                        continue
                    lo = sum(max(low, g.target - limit) for g, low in zip(group, lows))
                    hi = sum(min(h, g.target + limit) for g, h in zip(group, highs))
                    if lo <= min(r.effective, r.target + limit) and hi >= r.target - limit:
                        d = max(d, limit)
                        break
            best = d if best is None else min(best, d)
        worst = max(worst, best or 0)
    return worst


@FAST
@given(instances(max_givers=4, max_receivers=3))
def test_the_largest_deviation_is_the_least_possible(wishes):
    p = propose(wishes)
    assume(p.solution.value == "optimal")
    assert int(p.objective["stages"]["national"]["max_deviation"]) == _least_deviation_by_enumeration(p)


def _with(wishes, policy=None, **switches):
    """Propose with some of the solvers' tuning replaced (counts_from_givers, aggregate_stages, …)."""
    return propose(wishes, policy=policy, tuning=replace(Tuning(), **switches))


FAIRNESS_STAGES = ("max_deviation", "volume_simplicity", "population")


@FAST
@given(instances(max_givers=4, max_receivers=3, partners=True),
       st.sampled_from([{}, {"county_floor": 0.9}, {"county_floor": 1.0, "giver_floor_permille": 0.5},
                        {"binding_agreements": True}, {"binding_agreements": True, "county_floor": 0.9}]))
def test_counts_and_aggregate_agree_with_the_full_model(wishes, policy):
    """Stage 1 on counts and the later stages on the aggregate model reach the full model's optimum, also
    with county floors and binding agreements (which the aggregate models as windows)."""
    with _warnings_of("solver.redistribute.solve") as warned:
        counted = _with(wishes, policy, counts_from_givers=1, aggregate_stages=True)
    full = _with(wishes, policy, counts_from_givers=1000, aggregate_stages=False)
    assert counted.termination == full.termination
    assume(counted.solution.value == "optimal" and full.solution.value == "optimal")
    assert warned == []  # the aggregate's tables were confirmed by the full model, not replaced by it
    check_rules(counted, wishes)
    if "max_deviation" not in full.objective["stages"]["national"]:
        return  # nothing moves: no market problem was solved
    assert int(counted.objective["stages"]["national"]["max_deviation"]) == _least_deviation_by_enumeration(counted)
    for stage in FAIRNESS_STAGES:
        assert counted.objective["stages"]["national"][stage] == full.objective["stages"]["national"][stage]


@FAST
@given(instances(max_givers=4, max_receivers=3), st.sampled_from([{}, {"population": 1.0}, {"cross_county": 0.0}]))
def test_the_weighted_mode_on_the_aggregate_reaches_the_full_models_optimum(wishes, weights):
    policy = {"objective": "weighted", "weights": weights}
    with _warnings_of("solver.redistribute.solve") as warned:
        aggregated = _with(wishes, policy, aggregate_stages=True)
    assert warned == []  # the aggregate's table was confirmed by the full model, not replaced by it
    full = _with(wishes, policy, aggregate_stages=False)
    assume(aggregated.termination.value == "optimal" and full.termination.value == "optimal")
    assert aggregated.objective["stages"]["national"]["weighted"] == full.objective["stages"]["national"]["weighted"]
    assert aggregated.objective["value"] == full.objective["value"]


@FAST
@given(instances(max_givers=5, max_receivers=3))
def test_ties_go_to_the_table_first_in_code_order(wishes):
    """The tie-break's one search equals maximising each count, then each total, one after the other."""
    from solver.redistribute import aggregate
    from solver.redistribute.backend import SolveOptions
    from solver.redistribute.cpsat import Session
    from solver.redistribute.problem import Constraint

    p = propose(wishes)
    assume(p.solution.value == "optimal" and p.setup.markets)
    stages = p.objective["stages"]["national"]
    assume("tie_order" in stages)
    agg = aggregate.build(p.setup, p.setup.markets[0], int(stages["max_deviation"]))
    session = Session(agg.problem, SolveOptions(time_limit_s=10))
    volume, population = agg.problem.stages
    session.add(Constraint("stage", "v", volume.expr, int(stages["volume_simplicity"]), None))
    session.add(Constraint("stage", "p", population.expr, None,
                           int(stages["population"]) - agg.constants["population"]))
    for var in agg.order:
        res = session.optimize({var: 1}, "max", 10)
        assert res.termination.value == "optimal"
        session.add(Constraint("stage", "lex", {var: 1}, res.values[var], None))
    expected = sorted((g, r, a) for (g, r), a in aggregate.flows(agg, res.values).items() if a > 0)
    assert sorted(flows(p)) == expected


def _sample_wishes() -> list[dict]:
    import json

    from solver.data import sample_wishes_path

    return json.loads(sample_wishes_path().read_text(encoding="utf-8"))["wishes"]


def _sample_with_offer(index: int, changed) -> list[dict]:
    """The shipped sample wishes with the offer of the index-th giver with a number changed to `changed(offer)`
    (to two decimals)."""
    wishes = _sample_wishes()
    giver = [w for w in wishes if w["wish"] == "give" and w["amount_permille"] != "all"][index]
    giver["amount_permille"] = round(changed(float(giver["amount_permille"])), 2)
    return wishes


@pytest.mark.parametrize("order_limit", [1.0, 0.003], ids=["default", "short"])
def test_the_tie_break_that_reaches_the_last_stages_bound_gives_the_staged_answer(order_limit):
    """Where the tie-break's search reaches the population stage's bound, its table is the one the stage and
    the tie-break give one after the other (the stages run one by one, as where their bounds are not reached at
    once: see the next test); where it does not (the bound is not the optimum, or the search
    stops at its limit), the stage goes on and the answer is the same. National instances that take each
    path: the sample reaches the bound, a variant's bound is not its optimum, and a short limit stops it."""
    paths = []
    for wishes in (_sample_wishes(), _sample_with_offer(13, lambda offer: offer - 0.01)):
        with _warnings_of("solver.redistribute.solve", logging.DEBUG) as seen:
            peeked = _with(wishes, peek_order=order_limit, bounds_slice=0)
        staged = _with(wishes, peek_slice=0, bounds_slice=0)
        assert peeked.solution.value == "optimal"
        assert peeked.to_json(timing=False) == staged.to_json(timing=False)
        paths += [m.split(": ", 1)[1].replace("the tie-break ", "") for m in seen if "the tie-break" in m]
    if order_limit < 1:
        assert any(p.startswith("did not reach") and p.endswith("(time_limit)") for p in paths)
    else:
        assert any(p.startswith("reached") for p in paths)
        assert any(p.startswith("did not reach") and p.endswith("(infeasible)") for p in paths)


@pytest.mark.parametrize("case", ["reached", "unreachable", "settled", "not settled", "stopped"])
def test_one_search_that_reaches_every_stages_bound_gives_the_staged_answer(case):
    """The aggregate stages (volume and simplicity, then population) first only look for their bounds, and one
    tie-break search looks for the first table in order that reaches them all. Its table is the one the stages
    and the tie-break give one after the other:
    - reached: the national sample;
    - unreachable: the sample with one offer halved, whose bound of volume and simplicity is above the optimum,
      so that no table reaches it (the population stage finds none); without `bounds_settle` the stages then
      run one by one;
    - settled: the sample with a county floor of 0.8, whose bound of volume and simplicity (looked for with
      probing, for 0.005 deterministic seconds) is likewise above the optimum: the search from that bound finds
      the optimum (`bounds_settle`), and the population stage's bound at it is reached;
    - not settled: the halved offer again, whose search from that bound does not finish within `bounds_settle`;
    - stopped: the sample with the tie-break search's work limit too short; the stages then run one by one.
    (Each from the table of the check that found the largest deviation to fit, as without `speculate`.)"""
    halved = case in ("unreachable", "not settled")
    wishes = _sample_with_offer(35, lambda offer: offer / 2) if halved else _sample_wishes()
    policy = {"county_floor": 0.8, "binding_agreements": False} if case == "settled" else None  # the path measured
    switches = {"reached": {}, "unreachable": {"bounds_settle": 0},
                "settled": {"bounds_probing": True, "bounds_slice": 0.005}, "not settled": {},
                "stopped": {"bounds_order": 0.005}}[case]
    with _warnings_of("solver.redistribute.solve", logging.DEBUG) as seen:
        joint = _with(wishes, policy, speculate=0, **switches)
    staged = _with(wishes, policy, bounds_slice=0, peek_slice=0)
    assert joint.solution.value == "optimal"
    assert joint.to_json(timing=False) == staged.to_json(timing=False)
    expected = {"reached": ["the tie-break reached every stage's bound"],
                "unreachable": ["the bound of stage population: infeasible"],
                "settled": ["stage volume_simplicity: its bound is not reached, its optimum is 361099776",
                            "the tie-break reached every stage's bound"],
                "not settled": ["stage volume_simplicity is not settled from its bound (time_limit)"],
                "stopped": ["the tie-break did not reach every stage's bound (time_limit)"]}[case]
    for message in expected:
        assert [m for m in seen if m.startswith(message)], message


def test_a_small_work_limit_runs_the_stages_one_by_one():
    """Where less work is left than four times the search's limit, what the bounds may spend would be a large
    part of it, so the stages run one by one (a work limit of 0.3 on the national sample; 5 decides them from
    their bounds)."""
    for limit, decided in ((0.3, False), (5, True)):
        with _warnings_of("solver.redistribute.solve", logging.DEBUG) as seen:
            p = propose(_sample_wishes(), time_limit_s=limit)
        assert p.feasible
        assert any("every stage's bound" in m for m in seen) == decided


@FAST
@given(instances(max_givers=8, max_receivers=3, partners=True),
       st.sampled_from([{}, {"county_floor": 0.9}, {"binding_agreements": True},
                        {"giver_floor_permille": 0.5, "min_transfer_permille": 0.2}]))
def test_the_stages_decided_from_their_bounds_give_the_staged_answer(wishes, policy):
    """On random instances (most of whose stages are decided within the slice that looks for their bounds,
    which then bound the search exactly), the proposal is byte for byte the one of the stages run one by one."""
    joint = _with(wishes, policy, counts_from_givers=2)
    staged = _with(wishes, policy, counts_from_givers=2, bounds_slice=0)
    assert joint.to_json(timing=False) == staged.to_json(timing=False)


def test_a_solve_cancelled_before_it_starts_stops_at_once():
    """CP-SAT does not keep a stop asked before its search starts, so the backend asks again until the search
    has ended: a solve whose cancel is already set does next to no work, where the full national model's
    volume stage would spend its whole limit (3 deterministic seconds)."""
    import threading

    from solver.redistribute.backend import SolveOptions, Termination
    from solver.redistribute.cpsat import Session
    from solver.redistribute.problem import build_problem

    setup = propose(_sample_wishes()).setup
    problem = build_problem(setup, setup.markets[0])
    stage = next(s for s in problem.stages if s.name == "volume_simplicity")
    cancel = threading.Event()
    cancel.set()
    res = Session(problem, SolveOptions(time_limit_s=3, cancel=cancel)).optimize(stage.expr, stage.sense, 3)
    assert res.termination is Termination.TIME_LIMIT
    assert res.spent < 0.5


@pytest.mark.parametrize("kind", ["signal", "event"])
def test_a_running_search_stops_when_its_own_cancel_is_set(kind):
    """One watcher thread stops every running search whose cancel is set: at once for a Signal (what the driver
    sets), within WATCH_EVERY for a plain Event (what the service sets). Two searches of the full national
    model's volume stage run side by side, each with a limit of 3 deterministic seconds and its own cancel; the
    first is cancelled after 0.1 s and the second after 0.6 s, so the first stops having done less work."""
    import threading
    import time

    from solver.redistribute.backend import Signal, SolveOptions, Termination
    from solver.redistribute.cpsat import Session
    from solver.redistribute.problem import build_problem

    setup = propose(_sample_wishes()).setup
    problem = build_problem(setup, setup.markets[0])
    stage = next(s for s in problem.stages if s.name == "volume_simplicity")
    cancels = [Signal() if kind == "signal" else threading.Event() for _ in range(2)]
    results: dict[int, object] = {}

    def search(i: int) -> None:
        session = Session(problem, SolveOptions(time_limit_s=3, cancel=cancels[i], presolve=False))
        results[i] = session.optimize(stage.expr, stage.sense, 3)

    threads = [threading.Thread(target=search, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    cancels[0].set()
    time.sleep(0.5)
    cancels[1].set()
    for t in threads:
        t.join(30)
    first, second = results[0], results[1]
    assert first.termination is Termination.TIME_LIMIT and second.termination is Termination.TIME_LIMIT
    assert first.spent < second.spent < 2


def test_a_search_stopped_before_it_finds_a_table_reports_the_bound_it_proved():
    """A search stopped before it finds a table reports the bound it proved, and none where it stopped before it
    set up its objective (in presolve: CP-SAT's response then holds 0). On the aggregate model of the national
    sample, the volume and simplicity stage stopped after 0.005 deterministic seconds reports a bound no table
    exceeds, and stopped at once, none."""
    from solver.redistribute import aggregate
    from solver.redistribute.backend import SolveOptions, Termination
    from solver.redistribute.cpsat import Session

    p = propose(_sample_wishes())
    agg = aggregate.build(p.setup, p.setup.markets[0], int(p.objective["stages"]["national"]["max_deviation"]))
    stage = agg.problem.stages[0]
    optimum = Session(agg.problem, SolveOptions(time_limit_s=10)).optimize(stage.expr, stage.sense, 10)
    assert optimum.termination is Termination.OPTIMAL
    stopped = Session(agg.problem, SolveOptions()).optimize(stage.expr, stage.sense, 0.005, from_bound=True)
    assert stopped.values is None and stopped.termination is Termination.TIME_LIMIT
    assert stopped.bound is not None and stopped.bound >= optimum.objective
    at_once = Session(agg.problem, SolveOptions()).optimize(stage.expr, stage.sense, 0.0001, from_bound=True)
    assert at_once.values is None and at_once.bound is None


# fourteen givers and three receivers of the sample: the least largest deviation is 1, found by a check after
# the one of 2 fitted, so the stages that ran ahead at 2 are not the answer
_TIGHTER_AT_THE_LAST_CHECK = [
    *({"code": code, "wish": "give", "amount_permille": amount} for code, amount in [
        ("0483", 1.0), ("0513", 1.0), ("2460", 0.75), ("1761", 1.5), ("0680", 0.25), ("1481", 1.0), ("1447", "all"),
        ("1283", 0.25), ("0140", 1.37), ("1473", 1.0), ("1496", 0.25), ("2417", 1.0), ("2101", 0.25), ("1485", 0.75)]),
    *({"code": code, "wish": "receive", "amount_permille": amount} for code, amount in [
        ("2580", 1.66), ("1780", 2.73), ("2480", 2.65)]),
]


@pytest.mark.parametrize("case", ["answer", "redone", "dropped"])
def test_the_later_stages_that_run_ahead_of_the_last_deviation_check_give_the_same_answer(case):
    """While the last check of the largest deviation runs (D − 1, once D fits), the later stages run at D on a
    thread of their own, with the work left before that check. The answer is the one they give when run after
    the check, with what it left:
    - answer: D − 1 does not fit, and every work limit they took would have been the same (the national
      sample), so what ran ahead is the answer;
    - redone: the same sample with a work limit of 0.5, where their first limit (with the stages run one by
      one, not decided from their bounds at once) is a part of all that is left, so they run again after the
      check (CP-SAT's, whose work is more than that limit allows; the packing search's few nodes are not);
    - dropped: D − 1 fits (a smaller wish set), so they run again at D − 1."""
    wishes = [dict(w) for w in _TIGHTER_AT_THE_LAST_CHECK] if case == "dropped" else _sample_wishes()
    policy = {"time_limit_s": 0.5 if case == "redone" else 5}
    switches = {"bounds_slice": 0, "deviation_packing_nodes": 0} if case == "redone" else {}
    with _warnings_of("solver.redistribute.solve", logging.DEBUG) as seen:
        ahead = _with(wishes, policy, ahead=True, **switches)
    after = _with(wishes, policy, ahead=False, **switches)
    assert ahead.feasible
    assert ahead.to_json(timing=False) == after.to_json(timing=False)
    ran = [m.rsplit("deviation ", 1)[1] for m in seen if "ran ahead" in m]
    assert ran == [{"answer": "2", "redone": "2, but took a limit from the work the last check spent",
                    "dropped": "2, which is 1"}[case]]


# three givers of 1.00 and two rooms of 1.50: one receiver gets one giver, the other two, so the least largest
# deviation is well above 2
_FAR_FROM_TWO = [{"code": "0114", "wish": "give", "amount_permille": 1.0},
                 {"code": "0115", "wish": "give", "amount_permille": 1.0},
                 {"code": "0117", "wish": "give", "amount_permille": 1.0},
                 {"code": "0120", "wish": "receive", "amount_permille": 1.5},
                 {"code": "0123", "wish": "receive", "amount_permille": 1.5}]


@pytest.mark.parametrize("case", ["decided", "from the check", "lower", "refuted"])
def test_the_later_stages_that_start_before_the_first_check_give_the_same_answer(case):
    """The later stages start at a largest deviation of 2 before anything is checked (`speculate`), from the
    table where nothing moves, and may be decided there by their bounds alone. Whatever happens, the answer is
    the one they give when run after the checks (`ahead` off), and where every stage is proven, the one they give
    without speculating:
    - decided: the national sample, whose bounds decide every stage;
    - from the check: the sample with a county floor of 0.8, whose bounds from there are not reached (without
      `bounds_settle`, which would settle them), so they wait for the table of the check that finds 2 to fit and
      run from it;
    - lower: the least largest deviation is 1 (a check finds it after 2 fitted), so they run again at 1;
    - refuted: the check of 2 finds that it does not fit, so what runs at 2 is dropped."""
    wishes, policy, switches = {
        "decided": (_sample_wishes(), {}, {}),
        "from the check": (_sample_wishes(), {"county_floor": 0.8}, {"bounds_settle": 0}),
        "lower": ([dict(w) for w in _TIGHTER_AT_THE_LAST_CHECK], {}, {}),
        "refuted": (_FAR_FROM_TWO, {}, {"counts_from_givers": 2}),
    }[case]
    with _warnings_of("solver.redistribute.solve", logging.DEBUG) as seen:
        ahead = _with(wishes, policy, **switches)
    after = _with(wishes, policy, ahead=False, **switches)
    plain = _with(wishes, policy, speculate=0, **switches)
    assert ahead.solution.value == "optimal" and plain.solution.value == "optimal"
    assert ahead.to_json(timing=False) == after.to_json(timing=False) == plain.to_json(timing=False)
    deviation = ahead.objective["stages"]["national"]["max_deviation"]
    from_check = [m for m in seen if "not decided from their bounds alone" in m]
    ran = [m.rsplit("deviation ", 1)[1] for m in seen if "ran ahead" in m]
    if case == "decided":
        assert deviation == "2" and ran == ["2"] and not from_check
    elif case == "from the check":
        assert deviation == "2" and ran == ["2"] and from_check
    elif case == "lower":
        assert deviation == "1" and ran == ["2, which is 1"]
    else:
        assert int(deviation) > 2 and "2" not in ran


@FAST
@given(instances(max_givers=8, max_receivers=3, partners=True),
       st.sampled_from([{}, {"county_floor": 0.9}, {"binding_agreements": True},
                        {"giver_floor_permille": 0.5, "min_transfer_permille": 0.2}]),
       st.sampled_from([0.003, 0.03, 5.0]))
def test_running_the_later_stages_ahead_never_changes_the_answer(wishes, policy, limit):
    """On random instances (the deviation decided on counts from two givers on, so that the stages run ahead
    on small markets too) and work limits small enough that limits are cut by what is left, the proposal is
    byte for byte the one made with the later stages run after the last check; and where every stage is
    proven, the one made without starting them before the first check (`speculate`)."""
    policy = dict(policy, time_limit_s=limit)
    ahead = _with(wishes, policy, ahead=True, counts_from_givers=2)
    after = _with(wishes, policy, ahead=False, counts_from_givers=2)
    assert ahead.to_json(timing=False) == after.to_json(timing=False)
    plain = _with(wishes, policy, speculate=0, counts_from_givers=2)
    if ahead.solution.value == plain.solution.value == "optimal":
        assert ahead.to_json(timing=False) == plain.to_json(timing=False)


def test_a_cancelled_proposal_stops_the_stages_that_run_ahead():
    """Cancelled while the later stages run ahead (at their first stage), the proposal raises Cancelled, and the
    thread they ran on ends: they see the caller's cancel, or the driver stops them."""
    import threading

    from solver.redistribute.backend import Cancelled

    cancel = threading.Event()

    class CancelAhead(logging.Handler):
        def emit(self, record):
            if threading.current_thread().name == "andelstal-ahead" and "aggregate stage" in record.getMessage():
                cancel.set()

    logger = logging.getLogger("solver.redistribute.solve")
    handler, before = CancelAhead(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with pytest.raises(Cancelled):
            propose(_sample_wishes(), cancel=cancel)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
    assert cancel.is_set()
    for thread in [t for t in threading.enumerate() if t.name == "andelstal-ahead"]:
        thread.join(timeout=10)
        assert not thread.is_alive()


@FAST
@given(instances(max_givers=8, max_receivers=3, partners=True),
       st.sampled_from([{}, {"county_floor": 0.9}, {"binding_agreements": True}, {"receiver_cap": 1.5},
                        {"giver_floor_permille": 0.5, "min_transfer_permille": 0.2}]))
def test_the_volume_and_simplicity_bounds_on_counts_keep_the_optimum(wishes, policy):
    """The bounds that counts of interchangeable givers put on the volume-and-simplicity stage never cut off
    its optimum: with them (asked before the stage's search) every stage ends where it ends without them."""
    with _warnings_of("solver.redistribute.solve", logging.DEBUG) as seen:
        counted = _with(wishes, policy, simplicity_on_counts="always")
    plain = _with(wishes, policy, simplicity_on_counts="never")
    assume(counted.solution.value == "optimal" and plain.solution.value == "optimal")
    check_rules(counted, wishes)
    assert counted.objective == plain.objective
    assert flows(counted) == flows(plain)
    if any("volume_simplicity" in stages for stages in plain.objective["stages"].values()):
        assert any("on counts the most volume" in m for m in seen)


def test_counts_prove_the_volume_and_simplicity_stage_where_the_aggregate_does_not():
    """A national what-if (a receiver's room 0.05‰ lower): the aggregate model's search does not prove the
    volume-and-simplicity stage within the default work limit, the bounds from counts do, at a table as
    good or better."""
    wishes = _sample_wishes()
    receiver = next(w for w in wishes if w["wish"] == "receive")
    receiver["amount_permille"] = round(float(receiver["amount_permille"]) - 0.05, 2)
    stage = "volume_simplicity"
    with_counts = _with(wishes, simplicity_on_counts="stalled").objective
    without = _with(wishes, simplicity_on_counts="never").objective
    assert without["stage_status"]["national"][stage] == "feasible"
    assert with_counts["stage_status"]["national"][stage] == "optimal"
    assert int(with_counts["stages"]["national"][stage]) >= int(without["stages"]["national"][stage])


@FAST
@given(instances(max_givers=6, max_receivers=3, partners=True),
       st.fixed_dictionaries({"population": st.sampled_from([0.0, 0.1, 10.0]),
                              "cross_county": st.sampled_from([0.0, 10.0, 100.0]),
                              "unequal": st.sampled_from([0.0, 1.0, 3.0])}),
       st.sampled_from([{}, {"binding_agreements": True}, {"county_floor": 0.9, "min_transfer_permille": 0.2}]))
def test_the_weighted_local_search_is_sound_and_priced_as_the_model(wishes, weights, rules):
    """The local search's tables keep every rule, cost what the full model says and never more than where
    they started; the proposal costs no more than the search's table, and records its own value."""
    from solver.redistribute import improve
    from solver.redistribute.construct import construct_flows
    from solver.redistribute.problem import build_problem, evaluate, values_for
    from solver.redistribute.solve import _sound

    policy = {"objective": "weighted", "weights": weights, **rules}
    with _warnings_of("solver.redistribute.solve") as warned:
        p = propose(wishes, policy=policy)
    assert warned == []
    assume(p.setup.markets and p.termination.value != "infeasible")
    setup, market = p.setup, p.setup.markets[0]
    prob = build_problem(setup, market)
    weighted = prob.stages[0].expr
    start = construct_flows(market, setup.policy)
    found = improve.improve(setup, market, start)
    assume(found is not None)  # binding agreements that cannot be kept: infeasible
    value, flows = found
    table = values_for(setup, prob, flows)
    assert _sound(setup, prob, table)
    assert value == evaluate(weighted, table)
    begun = values_for(setup, prob, start)
    if _sound(setup, prob, begun):
        assert value <= evaluate(weighted, begun)
    proposed = evaluate(weighted, values_for(setup, prob, {(t.giver, t.receiver): t.amount for t in p.transfers}))
    assert proposed <= value  # the proposal keeps the local search's table unless the solver beats it
    if "weighted" in p.objective["stages"]["national"]:
        assert int(p.objective["stages"]["national"]["weighted"]) == proposed  # the recorded value is the table's


@FAST
@given(instances(max_givers=8, max_receivers=3, partners=True),
       st.fixed_dictionaries({"population": st.sampled_from([0.0, 0.1, 10.0, 1e6]),
                              "cross_county": st.sampled_from([0.0, 10.0, 1e6]),
                              "unequal": st.sampled_from([0.0, 1.0, 3.0]),
                              "unmet": st.sampled_from([1.0, 1e6])}),
       st.randoms(use_true_random=False))
def test_the_compiled_group_cost_is_the_python_one(wishes, weights, rnd):
    """The local search's compiled kernel prices every group as the Python reference does, in int64 where
    every sum fits and through the reference where one might not (weights of 10⁶)."""
    from solver.redistribute import improve

    p = propose(wishes, policy={"objective": "weighted", "weights": weights, "time_limit_s": 0.01})
    assume(p.setup.markets)
    search = improve.Search(p.setup, p.setup.markets[0])
    huge = max(weights.values()) >= 1e6
    if not huge:
        assert search._compiled() is not None  # the kernel is the path taken
    codes = sorted(search.givers)
    for r in sorted(search.receivers):
        candidates = [i for i, g in enumerate(codes) if (g, r) in search.window]
        for _ in range(6):
            indices = sorted(rnd.sample(candidates, rnd.randint(0, len(candidates))))
            members = tuple(codes[i] for i in indices)
            assert search.group_cost(r, indices) == search.group_cost_python(r, members)


@FAST
@given(instances(max_givers=12, max_receivers=4, partners=True),
       st.fixed_dictionaries({"population": st.sampled_from([0.0, 0.1, 10.0]),
                              "cross_county": st.sampled_from([0.0, 10.0, 100.0]),
                              "unequal": st.sampled_from([0.0, 1.0, 3.0])}),
       st.sampled_from([{}, {"binding_agreements": True}, {"min_transfer_permille": 0.2}]),
       st.sampled_from([3, 40, 20_000]),
       st.randoms(use_true_random=False))
def test_the_compiled_search_makes_the_python_searchs_changes(wishes, weights, rules, limit, rnd):
    """From any start, the compiled local search (kernel.search) ends at the Python reference's assignment
    after the same number of group evaluations, also when the evaluation limit stops it early."""
    from solver.redistribute import improve

    p = propose(wishes, policy={"objective": "weighted", "weights": weights, "time_limit_s": 0.01, **rules})
    assume(p.setup.markets)
    market = p.setup.markets[0]
    searches = [improve.Search(p.setup, market) for _ in range(2)]
    start = {g.code: rnd.choice([*sorted(market.receivers_of().get(g.code, [])), improve.UNPLACED])
             for g in market.givers}
    assume(searches[0]._search_arrays(searches[0].start(start)) is not None)  # the start's groups fit
    compiled = searches[0].run(start, limit)
    python = searches[1].run(start, limit, compiled=False)
    assert compiled == python
    assert searches[0].evaluations == searches[1].evaluations


def _packings(wishes, policy):
    """Each market's deviation checks of D = 0 to 4 as packings, with the count model CP-SAT would solve."""
    from solver.redistribute import packing
    from solver.redistribute.construct import giver_types
    from solver.redistribute.problem import type_count_problem

    setup = propose(wishes, policy=policy).setup
    for market in setup.markets:
        types = giver_types(market, setup.policy)
        for limit in range(5):
            yield packing.windows(setup, market, types, limit), type_count_problem(setup, market, types, limit)


@FAST
@given(instances(max_givers=9, max_receivers=4, partners=True),
       st.sampled_from([{}, {"county_floor": 0.9}, {"binding_agreements": True}, {"receiver_cap": 1.5},
                        {"giver_floor_permille": 0.5, "min_transfer_permille": 0.2}, {"scope": "county"}]))
def test_the_packing_search_decides_each_deviation_check_as_cp_sat_does(wishes, policy):
    """The packing search finds a packing exactly where CP-SAT finds counts for the same check, and its
    packing keeps every constraint of the count model CP-SAT solves."""
    from solver.domain import InputError
    from solver.redistribute import packing
    from solver.redistribute.backend import SolveOptions
    from solver.redistribute.cpsat import Session
    from solver.redistribute.problem import evaluate

    try:
        checks = list(_packings(wishes, policy))
    except InputError:  # a partner in another county under county scope
        assume(False)
    for asked, counts in checks:
        found, _ = packing.search(asked, 10**6)
        res = Session(counts, SolveOptions(time_limit_s=10)).optimize({}, "min", 10)
        assert res.termination.value in ("optimal", "infeasible")
        assert (found is not None) == (res.termination.value == "optimal")
        if found is not None:
            values = [0] * len(counts.variables)
            for key, n in found.items():
                values[counts.y[key]] = n
            for v, value in zip(counts.variables, values):
                assert v.lb <= value <= v.ub
            for c in counts.constraints:
                total = evaluate(c.expr, values)
                assert (c.lo is None or total >= c.lo) and (c.hi is None or total <= c.hi), c.label


def test_a_packing_without_receivers_places_no_giver():
    """No room at all (a check of a market whose receivers are all filled): givers free to stay out give an empty
    packing, a giver that must be placed none (hypothesis found this crashing once)."""
    from solver.redistribute.packing import Packing, search

    assert search(Packing((), (2,), (0,), ((),), ()), 100) == ({}, 0)
    assert search(Packing((), (2,), (1,), ((),), ()), 100) == (None, 0)


def test_the_packing_search_stops_at_its_limit_of_nodes():
    """Stopped at its limit, the search raises Exhausted with the nodes it took; allowed exactly the nodes it
    takes, it gives the answer it gives with a limit far above (the national sample's checks of D = 0 to 4)."""
    from solver.redistribute import packing

    sample = {"wishes": _sample_wishes()}
    answers = {}
    for asked, _ in _packings(sample, None):
        found, used = packing.search(asked, 10**6)
        assert used > 1
        answers[asked] = (found is not None, used)
        with pytest.raises(packing.Exhausted) as stopped:
            packing.search(asked, used - 1)
        assert stopped.value.nodes == used
        assert packing.search(asked, used) == (found, used)
    # the sample's least largest deviation is 2: 0 and 1 do not fit, 2 to 4 do
    assert [fits for fits, _ in answers.values()] == [False, False, True, True, True]


def test_a_market_too_large_for_the_packing_search_is_left_to_cp_sat():
    """Past DEEPEST receivers and types together (its recursion would pass Python's limit), the search stops at
    once, having taken no node: a market of 500 receivers and 400 types."""
    from solver.redistribute import packing

    receivers, types = 500, 400
    asked = packing.Packing(tuple(f"{i:04d}" for i in range(receivers)), (1,) * types, (1,) * types,
                            tuple(((1, 2),) * receivers for _ in range(types)), ((0, 2),) * receivers)
    with pytest.raises(packing.Exhausted) as stopped:
        packing.search(asked, 10**6)
    assert stopped.value.nodes == 0
    one = packing.Packing(("0000",), (1,), (1,), (((1, 2),),), ((0, 2),))  # one giver, one receiver
    # four nodes: the state, the group built over no type and over the one type, and that group tried
    assert packing.search(one, 10) == ({(0, "0000"): 1}, 4)


@pytest.mark.parametrize("nodes", [0, 3])
def test_a_deviation_check_the_packing_search_does_not_decide_goes_to_cp_sat(nodes):
    """With no nodes, or too few to decide any check, CP-SAT decides every check, and the proposal's stage
    values are the packing search's. (Its tables differ, and with them where the later stages start: the
    national sample's bounds decide them from either.)"""
    wishes = _sample_wishes()
    with _warnings_of("solver.redistribute.solve", logging.DEBUG) as seen:
        by_cpsat = _with(wishes, deviation_packing_nodes=nodes)
    assert any("the packing search did not decide D = 1; CP-SAT does" in m for m in seen)
    by_packing = _with(wishes)
    assert by_cpsat.solution.value == by_packing.solution.value == "optimal"
    assert by_cpsat.to_json(timing=False) == by_packing.to_json(timing=False)


def _first_in_order(agg, reach, limit, split, guided=False):
    """The aggregate's tie-break search at the stages' values `reach`, with the split search beside it or not,
    and with the last of them as its guide or not."""
    from solver.redistribute import cpsat
    from solver.redistribute.backend import SolveOptions

    options = SolveOptions(time_limit_s=10, tuning=replace(Tuning(), tie_split=split, tie_split_from=0))
    return cpsat.Session(agg.problem, options).first_in_order(agg.order, limit, reach, reach[1] if guided else None)


@pytest.mark.parametrize("case", ["at the top", "below the top", "stopped"])
def test_the_tie_break_search_split_on_its_first_variable_finds_the_same_table(case):
    """The tie-break's two searches side by side (`tie_split`) give the answer of the plain search alone: where
    the first undecided variable's largest value is in the answer (the national sample), where it is not (the
    split search goes on below it), and where neither finds a table within a work limit too small."""
    from solver.redistribute import aggregate
    from solver.redistribute.problem import Constraint

    p = propose({"wishes": _sample_wishes()})
    stages = p.objective["stages"]["national"]
    agg = aggregate.build(p.setup, p.setup.markets[0], int(stages["max_deviation"]))
    volume, population = agg.problem.stages
    reach = [Constraint("stage", "v", volume.expr, int(stages["volume_simplicity"]), None),
             Constraint("stage", "p", population.expr, None, int(stages["population"]) - agg.constants["population"])]
    first = agg.order[0]
    answer = _first_in_order(agg, reach, 5, False).values
    assert answer[first] == agg.problem.variables[first].ub  # the sample's answer has it at its largest
    if case == "below the top":  # a constraint, not its domain, keeps it below: the split search's first half fails
        reach.append(Constraint("test", "the first count below the answer's", {first: 1}, None, answer[first] - 1))
    limit = 0.0001 if case == "stopped" else 5
    both, alone = _first_in_order(agg, reach, limit, True), _first_in_order(agg, reach, limit, False)
    assert both.termination == alone.termination
    assert both.values == alone.values
    for split in (False, True):  # the population bound as the search's objective finds the same first table
        guided = _first_in_order(agg, reach, limit, split, guided=True)
        assert (guided.termination, guided.values) == (alone.termination, alone.values)
    if case == "stopped":
        assert both.termination.value == "time_limit" and both.values is None
    else:
        assert both.termination.value == "optimal"


@FAST
@given(instances(max_givers=8, max_receivers=3, partners=True),
       st.sampled_from([{}, {"county_floor": 0.9}, {"binding_agreements": True}]),
       st.sampled_from([0.003, 5.0]))
def test_the_split_tie_break_search_never_changes_the_proposal(wishes, policy, limit):
    """With the tie-break's split search beside it or not (here on models of any size), the proposal is the
    same where every stage is proven."""
    policy = dict(policy, time_limit_s=limit)
    # every search split, however small its model, or none
    both = _with(wishes, policy, counts_from_givers=2, tie_split_from=0)
    alone = _with(wishes, policy, counts_from_givers=2, tie_split_from=0, tie_split=False)
    if both.solution.value == alone.solution.value == "optimal":
        assert both.to_json(timing=False) == alone.to_json(timing=False)


@FAST
@given(instances(max_givers=8, max_receivers=3, partners=True),
       st.sampled_from([{}, {"county_floor": 0.9}, {"binding_agreements": True}]))
def test_the_guided_tie_break_search_never_changes_the_proposal(wishes, policy):
    """With the last stage's bound as the tie-break search's objective (`tie_guided`) or not, the proposal is the
    same where every stage is proven (the split search on every model, so that both searches are guided)."""
    guided = _with(wishes, policy, counts_from_givers=2, tie_guided=True, tie_split_from=0)
    plain = _with(wishes, policy, counts_from_givers=2, tie_guided=False, tie_split_from=0)
    if guided.solution.value == plain.solution.value == "optimal":
        assert guided.to_json(timing=False) == plain.to_json(timing=False)


# two binding agreements whose whole offers (1.00‰ each) overflow their partner's room (1.02‰)
_AGREEMENTS_OVERFLOW = [
    {"code": "0114", "wish": "receive", "amount_permille": 1.02}, {"code": "0115", "wish": "receive", "amount_permille": 1.03},
    *({"code": code, "wish": "give", "amount_permille": "all"} for code in ("0117", "0120", "0123", "0685", "0760", "0880",
                                                                            "1260")),
    {"code": "0684", "wish": "give", "amount_permille": "all", "partner": "0114"},
    {"code": "0687", "wish": "give", "amount_permille": "all", "partner": "0114"}]


@pytest.mark.parametrize("limit", [0.003, 5.0])
@pytest.mark.parametrize("nodes", [20_000, 0])
def test_where_nothing_moving_breaks_an_agreement_no_largest_deviation_is_taken_from_it(limit, nodes):
    """The table where nothing moves bounds the largest deviation only where it keeps every rule. Here it
    breaks two binding agreements and no table keeps them: the proposal is infeasible and says why, whatever
    the work limit and whichever decides the checks. (Once, with a work limit that ended right after the
    checks, that table was kept as the answer, and the independent checker refused it.)"""
    p = _with({"wishes": _AGREEMENTS_OVERFLOW}, {"binding_agreements": True, "time_limit_s": limit},
              counts_from_givers=2, deviation_packing_nodes=nodes)
    assert p.termination.value == "infeasible"
    named = {c["label"] for d in p.diagnosis for c in d["constraints"]}
    assert {"agreement 0684→0114", "agreement 0687→0114"} <= named


@FAST
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(-3, 3)), min_size=1, max_size=30),
       st.sampled_from([{}, {"county_floor": 0.8}, {"binding_agreements": True}]))
def test_the_rules_checked_as_arrays_agree_with_the_rules_checked_one_by_one(changes, policy):
    """A large model's rules are checked as arrays (SOUND_ARRAYS_FROM); on the national model, the sample's
    table and tables near it (some variables moved by a few units) are judged as the rules one by one judge
    them, and the sample's own table keeps them."""
    from solver.redistribute import solve
    from solver.redistribute.problem import build_problem, values_for

    p = propose(_sample_wishes(), policy=policy)
    setup = p.setup
    prob = build_problem(setup, setup.markets[0])
    assert len(prob.constraints) >= solve.SOUND_ARRAYS_FROM
    table = values_for(setup, prob, {(t.giver, t.receiver): t.amount for t in p.transfers})
    assert solve._sound(setup, prob, table)
    near = list(table)
    for where, by in changes:
        near[where % len(near)] += by
    arrays = solve._sound(setup, prob, near)
    assert solve._sound(setup, prob, near, arrays_from=10**9) == arrays  # one by one


def test_the_weighted_mode_keeps_a_binding_agreement_where_nothing_else_fits():
    """0509 gives all of its 1.00‰ to its partner 0114 (room 1.01‰); with a least transfer of 0.20‰ no other
    giver fits beside it. The empty start weighs less (population term) but breaks the agreement: it was
    once kept, and the proposal failed its own check."""
    wishes = {"wishes": [{"code": "0114", "wish": "receive", "amount_permille": 1.01},
                         *({"code": c, "wish": "give", "amount_permille": "all"} for c in
                           ("0115", "0117", "0120", "0123", "0125", "0126", "0127")),
                         {"code": "0509", "wish": "give", "amount_permille": "all", "partner": "0114"}]}
    p = propose(wishes, policy={"objective": "weighted", "weights": {"population": 10.0, "unequal": 0.0,
                                                                     "cross_county": 0.0},
                                "binding_agreements": True, "min_transfer_permille": 0.2})
    assert p.termination.value == "optimal"
    assert [(t.giver, t.receiver, t.amount) for t in p.transfers] == [("0509", "0114", 100)]

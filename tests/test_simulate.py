"""The allocation simulator: the process against independent references, its accounting, money and errors."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from solver.apportion import Method, apportion
from solver.cli import main
from solver.compensation import expected_children
from solver.domain import InputError
from solver.simulate import (
    FIXED_SEK,
    PER_CHILD_SEK,
    PER_DAY_SEK,
    VARIABLE_SEK,
    Scenario,
    SimulationParams,
    Start,
    parse_params,
    report,
    run,
    scenario_from_table,
    simulate,
    simulate_python,
)


@pytest.fixture(scope="module")
def today(municipalities, base):
    return scenario_from_table(base.units, municipalities, "today")


def divisor_sequence(shares: list[int], children: int, after: bool) -> list[int]:
    """Each child to the municipality with the largest share / (seats + d), d = 1 after (D'Hondt) or 0 before
    (Adams: a municipality without any goes first); ties to the larger share, then the lower index."""
    seats = [0] * len(shares)
    for _ in range(children):
        def priority(i: int):
            if shares[i] == 0:
                return (Fraction(-1), 0, 0)
            d = seats[i] + (1 if after else 0)
            value = Fraction(10**12) if d == 0 else Fraction(shares[i], d)
            return (value, shares[i], -i)
        best = max(range(len(shares)), key=priority)
        seats[best] += 1
    return seats


@pytest.mark.parametrize("comparison", ["before", "after"])
def test_equalising_sequence_is_the_divisor_sequence(today, comparison):
    shares = [today.shares[m.code] for m in today.municipalities]
    for total in (1, 37, 290, 611):
        params = SimulationParams(years=1, arrivals=(total,), tie_share=0.0, replicates=1, comparison=comparison,
                                  history_children=0)  # the sequence from an empty start
        got = simulate(today, params).allocations[0, 0].tolist()
        assert got == divisor_sequence(shares, total, after=comparison == "after")
        method = Method.ADAMS if comparison == "before" else Method.JEFFERSON
        assert got == list(apportion(shares, total, method).seats)  # house monotone: the sequence is the apportionment


@pytest.mark.parametrize("comparison", ["before", "after"])
def test_many_years_stay_close_to_share_times_total(today, comparison):
    params = SimulationParams(years=20, arrivals=(500,), tie_share=0.0, replicates=1, comparison=comparison,
                              history_children=0)
    counts = simulate(today, params).allocations[0].sum(axis=0)
    quota = np.array([today.shares[m.code] for m in today.municipalities]) * counts.sum() / 100_000
    assert counts.sum() == 10_000
    # within 1 % of its quota and one child, for every municipality; on one side, the quota holds exactly:
    # Adams (before) never gives anyone more than its upper quota, D'Hondt (after) never less than its lower
    assert (np.abs(counts - quota) <= 0.01 * quota + 1).all()
    if comparison == "before":
        assert (counts <= np.ceil(quota)).all()
    else:
        assert (counts >= np.floor(quota)).all()


def test_compiled_loop_equals_the_plain_python_loop_where_nothing_is_random(today, municipalities):
    volunteers = {"2260": 500, "2480": 300}
    scenario = replace(today, volunteers=volunteers)
    for rule in ("equalising", "priority"):
        for comparison in ("before", "after"):
            params = SimulationParams(years=3, arrivals=(300, 150, 80), tie_share=0.0, replicates=2, rule=rule,
                                      comparison=comparison)
            start = {"0180": 40, "1480": 12}
            fast, slow = simulate(scenario, params, start), simulate_python(scenario, params, start)
            assert (fast.allocations == slow.allocations).all()
            assert (fast.to_volunteers == slow.to_volunteers).all()


def test_same_seed_same_result_and_ties_follow_population(today):
    params = SimulationParams(years=2, arrivals=(500,), replicates=200, seed=11, arrivals_model="poisson")
    a, b = simulate(today, params), simulate(today, params)
    assert (a.allocations == b.allocations).all()
    assert not (simulate(today, replace(params, seed=12)).allocations == a.allocations).all()
    # tie children land by population: Stockholm (0180) takes its population share of them
    population = np.array([m.population for m in today.municipalities], float)
    ties_only = simulate(today, replace(params, tie_share=1.0, arrivals_model="fixed"))
    stockholm = [m.code for m in today.municipalities].index("0180")
    observed = ties_only.allocations[..., stockholm].sum() / ties_only.allocations.sum()
    assert abs(observed - population[stockholm] / population.sum()) < 0.01


def test_calibration_a_2025_like_year_is_about_28_percent_equalising(today):
    params = SimulationParams(years=1, arrivals=(450,), replicates=400, arrivals_model="poisson", seed=3)
    national = report(today, params, simulate(today, params))["national"]
    # the report: 72 % tie allocations in 2025, so 28 % equalising
    assert abs(national["equalising_share"] - 0.28) < 0.01, national["equalising_share"]


def test_priority_fills_volunteers_first(today):
    rooms = {"2260": 2000, "2480": 2000}  # 20‰ each of 500 children: 10 children each
    scenario = replace(today, volunteers=rooms)
    params = SimulationParams(years=1, arrivals=(500,), replicates=50, rule="priority", tie_share=0.3)
    out = simulate(scenario, params)
    equalising = out.equalising[:, 0]
    placed = equalising - out.overflow[:, 0]  # equalising children the volunteers took first
    assert (placed <= 20).all() and (out.to_volunteers[:, 0] >= placed).all() and (placed > 0).all()
    plain = simulate(scenario, replace(params, rule="equalising"))
    assert plain.to_volunteers.mean() < out.to_volunteers.mean()
    alone = simulate(scenario, replace(params, tie_share=0.0))  # without ties: exactly the capacity, first
    assert (alone.to_volunteers[:, 0] == 20).all()


def test_a_volunteers_capacity_is_in_children_and_tie_children_use_it_up(today):
    from solver.simulate import _inputs

    # 2.50 ‰ of a forecast of 200 is half a child: one, rounded half up as the compensation is (not 0 by half-to-even)
    scenario = replace(today, volunteers={"1780": 250})
    rooms = _inputs(scenario, SimulationParams(years=2, arrivals=(200, 600), redistribution="yearly"), None)[5]
    assert rooms.tolist() == [[1], [2]]
    once = _inputs(scenario, SimulationParams(years=2, arrivals=(200, 600)), None)[5]
    assert once.tolist() == [[1], [0]]  # the proposal, and its volunteers' capacity, hold one year
    stressed = _inputs(scenario, SimulationParams(years=1, arrivals=(2000,), forecast=(200,)), None)[5]
    assert stressed.tolist() == [[1]]  # stress raises arrivals, not the capacity the wish gave
    stated = _inputs(replace(scenario, capacity={"1780": 4}), SimulationParams(years=1, arrivals=(200,)), None)[5]
    assert stated.tolist() == [[4]]  # the round's own figure wins
    # every tie child goes to the volunteers: their capacity of 20 is soon used by ties, not by equalising children
    rooms20 = {"2260": 2000, "2480": 2000}
    tied = replace(today, volunteers=rooms20)
    params = SimulationParams(years=1, arrivals=(500,), replicates=50, rule="priority",
                              tie_boost={"2260": 1e12, "2480": 1e12})
    out = simulate(tied, params)
    assert (out.to_volunteers[:, 0] < 20).all() and out.to_volunteers.mean() < 10
    # overflow counts the equalising children not placed with the volunteers (their capacity went to ties)
    assert (out.overflow[:, 0] > out.equalising[:, 0] - 20).all()


def test_stress_raises_children_not_the_variable_compensation(today):
    from solver.simulate import run

    params = SimulationParams(years=1, arrivals=(500,), replicates=20)
    result = run(today, params, stress_factors=(5,))
    national, stressed = result["national"], result["stress"][0]["national"]
    assert stressed["children_mean"] == 5 * national["children_mean"]
    assert national["variable_pot_sek"] == stressed["variable_pot_sek"] == 9_450 * 500
    assert national["variable_sum_of_parts_sek"] == stressed["variable_sum_of_parts_sek"]
    assert national["variable_sum_of_parts_sek"] == sum(
        9_450 * expected_children(units, 500) for units in today.shares.values())
    assert "overflow_mean" not in national  # it means something under the priority rule only
    row = result["municipalities"][0]
    assert abs(row["compensation_sek"] - (row["fixed_sek"] + row["variable_sek"] + row["per_child_sek"]
                                          + row["days_sek"])) <= 2


def test_zero_share_gets_no_equalising_allocation(municipalities, base):
    units = dict(base.units)
    units["0180"] += units["0114"]
    units["0114"] = 0
    scenario = scenario_from_table(units, municipalities, "zero")
    out = simulate(scenario, SimulationParams(years=2, arrivals=(2000,), replicates=20))
    index = [m.code for m in municipalities].index("0114")
    assert out.equalising_by_municipality[:, index].sum() == 0
    assert out.allocations[..., index].sum() > 0  # tie allocations still reach it


def test_redistributed_allocations_are_credited_to_the_giver(municipalities, base):
    units = dict(base.units)
    units["2260"] += units["2262"]
    moved = units["2262"]
    units["2262"] = 0
    scenario = Scenario(tuple(municipalities), units, dict(base.units), [("2262", "2260", moved)], {}, "proposal")
    params = SimulationParams(replicates=300, seed=5)
    result = report(scenario, params, simulate(scenario, params))
    rows = {r["code"]: r for r in result["municipalities"]}
    assert rows["2262"]["credited_mean"] > rows["2262"]["allocations_mean"]
    assert rows["2260"]["credited_mean"] < rows["2260"]["allocations_mean"]
    total_alloc = sum(r["allocations_mean"] for r in rows.values())
    total_credit = sum(r["credited_mean"] for r in rows.values())
    assert abs(total_alloc - total_credit) < 1e-6 * total_alloc


def test_the_reports_compensation_example(municipalities, base):
    assert expected_children(945, 1500) * VARIABLE_SEK == 132_300
    units = dict(base.units)
    delta = 945 - units["2260"]
    units["2260"] = 945
    units["0180"] -= delta
    scenario = scenario_from_table(units, municipalities, "example")
    params = SimulationParams(years=1, arrivals=(1500,), replicates=10, mean_stay_days=0)
    row = next(r for r in report(scenario, params, simulate(scenario, params))["municipalities"] if r["code"] == "2260")
    assert row["compensation_sek"] == FIXED_SEK + 132_300 + round(row["allocations_mean"] * PER_CHILD_SEK)
    params = replace(params, mean_stay_days=30)
    row = next(r for r in report(scenario, params, simulate(scenario, params))["municipalities"] if r["code"] == "2260")
    assert row["compensation_sek"] == round(FIXED_SEK + 132_300 + row["allocations_mean"] * (PER_CHILD_SEK + 30 * PER_DAY_SEK))


@pytest.mark.parametrize("data, field", [
    ({"arrivals": [400, -5]}, "arrivals[1]"),
    ({"tie_share": 1.5}, "tie_share"),
    ({"tie_boost": {"9999": 2}}, "tie_boost.9999"),
    ({"replicates": 0}, "replicates"),
    ({"comparison": "sideways"}, "comparison"),
    ({"colour": "red"}, "colour"),
    ({"replicates": 100_000, "years": 50}, "replicates"),
    ({"replicates": 50_000, "arrivals": [1_000_000]}, "arrivals"),
])
def test_bad_parameters_name_the_field(municipalities, data, field):
    with pytest.raises(InputError) as err:
        parse_params(data, {m.code for m in municipalities})
    assert any(p.field == field for p in err.value.problems), err.value


def test_a_table_that_does_not_sum_to_1000_is_refused(municipalities, base):
    units = dict(base.units)
    units["0114"] += 1
    with pytest.raises(InputError, match="not exactly 1000.00"):
        scenario_from_table(units, municipalities)


def test_command_line_writes_json_csv_xlsx_and_plots(tmp_path, base):
    proposal = tmp_path / "p.json"
    assert main(["propose", "--wishes", str(_wishes(tmp_path)), "--out", str(proposal)]) == 0
    out = tmp_path / "sim.json"
    assert main(["simulate", "--proposal", str(proposal), "--against", "base", "--replicates", "50", "--stress", "2",
                 "--out", str(out), "--plots", str(tmp_path / "plots")]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {"municipalities", "national", "comparison", "stress"} <= set(data)
    row = next(r for r in data["municipalities"] if r["code"] == "2260")
    assert {"allocations_mean", "allocations_p5", "allocations_p95", "prob_no_allocation", "compensation_sek"} <= set(row)
    assert [y["year"] for y in row["per_year"]] == [1, 2, 3, 4] == [y["year"] for y in data["national"]["per_year"]]
    assert abs(sum(y["allocations_mean"] for y in row["per_year"]) / 4 - row["allocations_mean"]) < 1e-3
    assert (tmp_path / "plots" / "allocations.png").stat().st_size > 10_000
    for suffix in ("csv", "xlsx"):
        assert main(["simulate", "--replicates", "20", "--out", str(tmp_path / f"s.{suffix}")]) == 0
    assert (tmp_path / "s.csv").read_text(encoding="utf-8").startswith("code,name,county_code")
    assert main(["simulate", "--tie-share", "2", "--out", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()


def _wishes(tmp_path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"wishes": [{"code": "2262", "wish": "give", "amount_permille": "all"},
                                           {"code": "2260", "wish": "receive", "amount_permille": 3}]}))
    return path


def test_plots_speak_swedish_name_municipalities_and_show_the_run(tmp_path):
    from solver.simulate import plots

    proposal = tmp_path / "p.json"
    assert main(["propose", "--wishes", str(_wishes(tmp_path)), "--out", str(proposal)]) == 0
    out = tmp_path / "sim.json"
    assert main(["simulate", "--proposal", str(proposal), "--against", "base", "--replicates", "30", "--seed", "7",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    files = plots(result, tmp_path / "svg", result["other"], language="sv", kind="svg")
    assert [f.rsplit("/", 1)[1] for f in files] == ["change.svg", "allocations.svg", "counties.svg",
                                                     "years_without_allocation.svg"]
    change = open(files.pop(0), encoding="utf-8").read()
    assert "Förändring av förväntade anvisningar per år" in change and "Ånge" in change and "Timrå" in change
    assert change.count("<text") < 200  # a bar per municipality whose share changed, not 290
    texts = [open(f, encoding="utf-8").read() for f in files]
    assert "Förväntade anvisningar per år för kommuner vars andel ändras" in texts[0]
    assert "Ånge" in texts[0] and "Timrå" in texts[0]  # the municipalities whose share changed, by name
    assert "5–95 percentil" in texts[0] and "grundtabellen" in texts[0]
    assert "Västernorrlands län" in texts[1]
    assert "sannolikhet för ett år utan anvisning (procent)" in texts[2]
    settings = f"utjämnande anvisning, {result['parameters']['years']} år"
    assert all(settings in t and "30 upprepningar, frö 7" in t for t in texts + [change])
    english = plots(result, tmp_path / "en", result["other"], language="en", kind="svg")
    assert "Change in expected allocations per year" in open(english[0], encoding="utf-8").read()


def _timra_to_ange(municipalities, base):
    units = dict(base.units)
    moved = units["2262"]
    units["2260"] += moved
    units["2262"] = 0
    return Scenario(tuple(municipalities), units, dict(base.units), [("2262", "2260", moved)], {}, "proposal")


def test_a_redistribution_holds_one_year_unless_made_every_year(municipalities, base):
    scenario = _timra_to_ange(municipalities, base)
    params = SimulationParams(years=2, arrivals=(3000,), tie_share=0.0, replicates=1)
    once = simulate(scenario, params).equalising_by_municipality
    yearly = simulate(scenario, replace(params, redistribution="yearly")).equalising_by_municipality
    timra = [m.code for m in municipalities].index("2262")
    assert once[0, timra] == yearly[0, timra] == 0  # its share is 0 in the year of the proposal
    assert once[1, timra] > 0 and yearly[1, timra] == 0  # the next year it has its base share again, unless redone


def test_the_year_end_accounting_drives_the_next_years_allocations(municipalities, base):
    """Ånge's equalising children on Timrå's share are credited to Timrå at the year end (report 2.3.2): the next
    year Timrå is nearer its target than the raw counts say, so it is due later and gets fewer children."""
    scenario = _timra_to_ange(municipalities, base)
    raw = replace(scenario, transfers=[])  # the same table, without the accounting
    params = SimulationParams(years=2, arrivals=(3000,), tie_share=0.0, replicates=1, history_children=0)
    codes = [m.code for m in municipalities]
    timra, ange = codes.index("2262"), codes.index("2260")
    accounted = simulate(scenario, params).equalising_by_municipality
    plain = simulate(raw, params).equalising_by_municipality
    assert accounted[0, ange] == plain[0, ange] > 0  # the first year is the same
    assert accounted[1, timra] < plain[1, timra]  # credited, Timrå is served later
    assert accounted[1, ange] > plain[1, ange]  # and Ånge, relieved of that credit, sooner
    # the compiled loop and the plain Python loop agree on the accounting where nothing is random
    assert (simulate_python(scenario, params).equalising_by_municipality == accounted).all()


def test_with_the_default_start_some_municipalities_wait_three_years(tmp_path):
    """The report: "det i många fall går flera år mellan anvisningarna". From a start on target (not from zero),
    the sample proposal leaves municipalities without any allocation for three years."""
    from solver.data import sample_wishes_path

    proposal = tmp_path / "p.json"
    assert main(["propose", "--wishes", str(sample_wishes_path()), "--out", str(proposal)]) == 0
    out = tmp_path / "sim.json"
    assert main(["simulate", "--proposal", str(proposal), "--replicates", "100", "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["national"]["no_allocation_within"]["3"] > 0
    assert data["parameters"]["history_children"] == 4_390 and data["parameters"]["redistribution"] == "once"
    zero = tmp_path / "zero.json"
    assert main(["simulate", "--proposal", str(proposal), "--replicates", "100", "--out", str(zero),
                 "--history-children", "0"]) == 0
    assert json.loads(zero.read_text(encoding="utf-8"))["national"]["no_allocation_within"]["3"] == 0


def test_a_proposal_is_simulated_from_its_own_year_and_forecast(tmp_path):
    proposal = tmp_path / "p.json"
    assert main(["propose", "--wishes", str(_wishes(tmp_path)), "--forecast", "500", "--out", str(proposal)]) == 0
    out = tmp_path / "sim.json"
    assert main(["simulate", "--proposal", str(proposal), "--replicates", "10", "--out", str(out)]) == 0
    parameters = json.loads(out.read_text(encoding="utf-8"))["parameters"]
    assert parameters["arrivals"][0] == parameters["forecast"][0] == 500  # 2027's forecast, as the proposal used
    assert main(["simulate", "--proposal", str(proposal), "--replicates", "10", "--arrivals", "300",
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["parameters"]["arrivals"][0] == 300  # asked for: kept


def test_a_history_with_targets_starts_each_municipality_at_its_own_fulfilment(tmp_path, municipalities, base):
    def history(ange_target: float) -> str:
        # every municipality on its target, Ånge with the same 4 allocations but another target
        path = tmp_path / f"history-{ange_target}.csv"
        lines = ["code;allocations;equalising;target"]
        for m in municipalities:
            target = base.units[m.code] * 4390 / 100_000
            count = 4 if m.code == "2260" else round(target)
            lines.append(f"{m.code};{count};0;{ange_target if m.code == '2260' else target:.3f}".replace(".", ","))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)

    got = {}
    for ange in (40.0, 0.4):  # its 4 children are a tenth of its target, or ten times it
        out = tmp_path / f"sim-{ange}.json"
        assert main(["simulate", "--history", history(ange), "--years", "1", "--arrivals", "50", "--tie-share", "0",
                     "--replicates", "1", "--out", str(out)]) == 0
        data = json.loads(out.read_text(encoding="utf-8"))
        got[ange] = next(r["allocations_mean"] for r in data["municipalities"] if r["code"] == "2260")
        assert {k: data["start"][k] for k in ("source", "municipalities", "equalising", "targets")} == {
            "source": "history", "municipalities": 290, "equalising": 0, "targets": True}
    assert got[40.0] >= 2 and got[0.4] == 0  # the target, not the count, decides
    bad = tmp_path / "bad.csv"
    for text in ("code;allocations;target\n2260;3;0\n", "code;allocations;target\n2260;3;4,39\n",  # 0; the rest
                 "code;allocations;equalising\n2260;3;4\n"):  # more equalising than allocations
        bad.write_text(text, encoding="utf-8")
        assert main(["simulate", "--history", str(bad), "--replicates", "1", "--out", str(tmp_path / "x.json")]) == 2
    tiny = history(0.001)  # a fulfilment of 4,000: refused, not carried into an overflow
    assert main(["simulate", "--history", tiny, "--replicates", "1", "--out", str(tmp_path / "x.json")]) == 2


def test_capacity_from_a_file_is_read_and_checked(tmp_path):
    proposal = tmp_path / "p.json"
    assert main(["propose", "--wishes", str(_wishes(tmp_path)), "--out", str(proposal)]) == 0
    capacity = tmp_path / "kapacitet.csv"
    capacity.write_text("code,children\n2260,3\n", encoding="utf-8")
    out = tmp_path / "sim.json"
    args = ["simulate", "--proposal", str(proposal), "--rule", "priority", "--tie-share", "0", "--years", "1",
            "--replicates", "5", "--out", str(out)]
    assert main([*args, "--capacity", str(capacity)]) == 0
    national = json.loads(out.read_text(encoding="utf-8"))["national"]
    # Ånge takes its stated 3 first; the rest of the equalising children are the overflow
    assert national["overflow_mean"] == national["children_mean"] - 3
    for text in ("code,children\n2260,three\n9999,1\n", "code,children\n2260,3\n2260,5\n", "code,children\n0114,2\n"):
        capacity.write_text(text, encoding="utf-8")  # not a number, twice, not a receiving municipality
        assert main([*args, "--capacity", str(capacity)]) == 2


def test_a_burn_in_is_the_first_years_of_one_longer_run(today):
    """A burn-in of N children is the process run from zero under the base table: one simulated year after it is
    exactly the second year of a two-year run from zero with N children in the first (the same draws, in the same
    order), in the compiled kernel and in the Python reference; and the output says where it started."""
    params = SimulationParams(years=1, arrivals=(300,), replicates=3, seed=5, burn_in=(2000,))
    longer = SimulationParams(years=2, arrivals=(2000, 300), replicates=3, seed=5, history_children=0)
    after = simulate(today, params)
    whole = simulate(today, longer)
    assert (after.allocations == whole.allocations[:, 1:]).all() and (after.ties == whole.ties[:, 1:]).all()
    assert (after.equalising_by_municipality == whole.equalising_by_municipality[1:]).all()
    plain = replace(params, tie_share=0.0, replicates=1)
    assert (simulate_python(today, plain).allocations == simulate(today, plain).allocations).all()
    result = run(today, replace(params, replicates=2))
    assert result["start"]["source"] == "burn-in" and result["start"]["allocations"] == 2000
    assert result["parameters"]["burn_in"] == [2000]
    with pytest.raises(InputError) as bad:
        parse_params({"burn_in": [100, -1, "x"]}, set(today.shares))
    assert [p.field for p in bad.value.problems] == ["burn_in[1]", "burn_in[2]"]
    with pytest.raises(InputError) as both:
        run(today, params, start=Start({"0114": 3.0}, {}))
    assert both.value.problems[0].field == "burn_in"
    with pytest.raises(InputError) as big:  # the kernel keeps the burn-in's years too: 6 GB here
        parse_params({"years": 2, "replicates": 100_000, "arrivals": [0], "burn_in": [20] * 50}, set(today.shares))
    assert [p.field for p in big.value.problems] == ["replicates"]


def test_a_bad_burn_in_on_the_command_line_is_refused_by_name(tmp_path, capsys):
    assert main(["simulate", "--burn-in", "439,²", "--replicates", "1", "--out", str(tmp_path / "x.json")]) == 2
    assert "burn_in[1]" in capsys.readouterr().err

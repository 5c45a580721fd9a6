"""The shipped data, share tables, wishes and policies: loud, complete, specific errors on bad input."""

import json

import pytest

from solver.data import load_municipalities, parse_municipalities
from solver.domain import TOTAL_UNITS, InputError, parse_permille
from solver.policy import parse_policy
from solver.shares import ShareKey, compute_base_shares, read_share_table
from solver.wishes import read_wishes


def test_shipped_data_is_complete(municipalities):
    assert len(municipalities) == 290
    assert len({m.county_code for m in municipalities}) == 21
    assert sum(m.population for m in municipalities) == 10_587_710  # SCB's national total, 31 Dec 2024
    assert [m.code for m in municipalities] == sorted(m.code for m in municipalities)


def test_broken_data_file_fails_loudly(tmp_path):
    text = (load_municipalities.__globals__["resources"].files("solver.data")
            .joinpath("municipalities.csv").read_text(encoding="utf-8"))
    lines = text.splitlines()
    broken = "\n".join([lines[0], lines[1].replace("50323", "-5"), lines[1]] + lines[3:]) + "\n"
    path = tmp_path / "broken.csv"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_municipalities(path)
    reasons = " ".join(p.message for p in info.value.problems)
    assert "population" in reasons and "duplicate" in reasons and "expected 290" in reasons


def test_bad_header_is_refused():
    with pytest.raises(InputError, match="expected columns"):
        parse_municipalities("code,name\n0114,Upplands Väsby\n")


@pytest.mark.parametrize("method", ["hamilton", "webster", "jefferson", "adams", "huntington-hill"])
def test_base_shares_sum_exactly_and_respect_the_floor(municipalities, method):
    table = compute_base_shares(municipalities, ShareKey(method=method))
    assert sum(table.units.values()) == TOTAL_UNITS
    assert min(table.units.values()) >= 100
    assert table.illustrative


def test_population_alone_gives_population_shares(municipalities):
    table = compute_base_shares(municipalities, ShareKey(weights={}, floor_units=0))
    total = sum(m.population for m in municipalities)
    for m in municipalities:
        assert abs(table.units[m.code] - m.population * TOTAL_UNITS / total) < 1


def test_more_earlier_reception_lowers_a_share(municipalities):
    plain = compute_base_shares(municipalities, ShareKey(weights={}))
    adjusted = compute_base_shares(municipalities)
    ange = "2260"  # received far more per inhabitant than the national rate in 2018
    assert adjusted.units[ange] <= plain.units[ange]


@pytest.mark.parametrize("text,units", [("1.25", 125), ("0.5", 50), (3, 300), ("9,45", 945), (1.1, 110)])
def test_permille_parsing(text, units):
    assert parse_permille(text) == units


@pytest.mark.parametrize("text", ["1.255", "-1", "abc", None, True, float("nan")])
def test_permille_parsing_refuses(text):
    with pytest.raises(ValueError):
        parse_permille(text)


def test_share_table_file_is_validated(tmp_path, municipalities, base):
    rows = ["code,share_permille"] + [f"{c},{u / 100:.2f}" for c, u in base.units.items()]
    good = tmp_path / "good.csv"
    good.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert read_share_table(good, municipalities).units == base.units
    bad = list(rows)
    bad[1] = bad[1].split(",")[0] + ",1.001"
    bad[2] = "9999,1.00"
    bad.append(rows[3])
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(bad) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_share_table(path, municipalities)
    text = str(info.value)
    assert "more than two decimals" in text and "not a municipality code" in text
    assert "more than once" in text and "missing" in text


def test_every_wish_problem_is_reported_at_once(municipalities, base):
    policy = parse_policy({"scope": "county"})
    rows = [
        {"code": "9999", "wish": "give", "amount_permille": 1},                 # unknown code
        {"code": "0114", "wish": "give", "amount_permille": 1.234},             # three decimals
        {"code": "0115", "wish": "give", "amount_permille": 500},               # above its share
        {"code": "0117", "wish": "give", "amount_permille": 1},
        {"code": "0117", "wish": "receive", "amount_permille": 1},              # gives and receives
        {"code": "0120", "wish": "take", "amount_permille": 1},                 # bad wish
        {"code": "0123", "wish": "give", "amount_permille": 1, "partner": "0125"},  # partner not a receiver
        {"code": "0125", "wish": "give", "amount_permille": "all", "partner": "2260"},  # other county
        {"code": "2260", "wish": "receive", "amount_permille": "all"},          # 'all' for a receiver
    ]
    with pytest.raises(InputError) as info:
        read_wishes(rows, municipalities, base, policy)
    problems = info.value.problems
    fields = {(p.code, p.field) for p in problems}
    assert ("0114", "amount_permille") in fields and ("0115", "amount_permille") in fields
    assert ("0117", "code") in fields and ("0120", "wish") in fields
    assert ("0123", "partner") in fields and ("0125", "partner") in fields and ("2260", "amount_permille") in fields
    assert any(p.field == "code" and "'9999' is not a municipality code or name" == p.reason for p in problems)
    assert any("gives and receives" in p.reason for p in problems)
    assert any("another county" in p.reason for p in problems)


def test_wishes_read_from_csv_xlsx_and_json(tmp_path, municipalities, base):
    from openpyxl import Workbook

    policy = parse_policy({})
    rows = [["code", "wish", "amount_permille", "partner"], ["0114", "give", "all", ""],
            ["2260", "receive", "2.5", ""]]
    csv_path = tmp_path / "w.csv"
    csv_path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    xlsx_path = tmp_path / "w.xlsx"
    book = Workbook()
    for r in rows:
        book.active.append(r)
    book.save(xlsx_path)
    json_path = tmp_path / "w.json"
    json_path.write_text(json.dumps({"wishes": [dict(zip(rows[0], r)) for r in rows[1:]]}), encoding="utf-8")
    results = [read_wishes(p, municipalities, base, policy) for p in (csv_path, xlsx_path, json_path)]
    assert results[0] == results[1] == results[2]
    assert results[0][0].amount is None and results[0][1].amount == 250


def test_policy_problems_are_all_reported():
    with pytest.raises(InputError) as info:
        parse_policy({"scope": "planet", "weights": {"unmet": -1, "speed": 1}, "forecast": -5, "colour": "red",
                      "receiver_cap": 0, "min_transfer_permille": "0.001"})
    fields = {p.field for p in info.value.problems}
    assert {"scope", "weights.unmet", "weights.speed", "forecast", "colour", "receiver_cap",
            "min_transfer_permille"} <= fields


def test_share_table_from_xlsx_and_policy_from_toml(tmp_path, municipalities, base):
    from openpyxl import Workbook

    from solver.policy import read_policy

    book = Workbook()
    book.active.append(["code", "share_permille"])
    for code, units in base.units.items():
        book.active.append([int(code), units / 100])  # a spreadsheet that stored codes as numbers
    path = tmp_path / "shares.xlsx"
    book.save(path)
    assert read_share_table(path, municipalities).units == base.units
    toml = tmp_path / "policy.toml"
    toml.write_text('scope = "county"\nreceiver_cap = 3.0\n[weights]\ncross_county = 5\n', encoding="utf-8")
    policy = read_policy(toml)
    assert policy.scope.value == "county" and policy.receiver_cap == 3 and policy.weights.cross_county == 5
    bad = tmp_path / "bad.toml"
    bad.write_text("scope = \n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot be parsed"):
        read_policy(bad)

"""`andelstal compare`: two real proposals side by side, in every output, checked against the proposals' own
files (not against the comparison's code)."""

from __future__ import annotations

import csv
import json

from openpyxl import load_workbook

from solver.cli import main


def _proposals(tmp_path):
    """Two proposals of the same round, the second with Timrå offering less and a second receiver."""
    paths = []
    for name, wishes in [("a", [{"code": "2262", "wish": "give", "amount_permille": "all"},
                                {"code": "0115", "wish": "give", "amount_permille": 1.5},
                                {"code": "2260", "wish": "receive", "amount_permille": 3.0}]),
                         ("b", [{"code": "2262", "wish": "give", "amount_permille": 0.6},
                                {"code": "0115", "wish": "give", "amount_permille": 1.5},
                                {"code": "2260", "wish": "receive", "amount_permille": 3.0},
                                {"code": "1280", "wish": "receive", "amount_permille": 1.0}])]:
        wishes_path = tmp_path / f"wishes-{name}.json"
        wishes_path.write_text(json.dumps({"wishes": wishes}), encoding="utf-8")
        out = tmp_path / f"{name}.json"
        assert main(["propose", "--wishes", str(wishes_path), "--out", str(out), "--forecast", "1500"]) == 0
        paths.append(out)
    return paths


def _shares(path):
    return {r["code"]: r for r in json.loads(path.read_text(encoding="utf-8"))["shares"]}


def test_compare_writes_every_format_and_agrees_with_both_proposals(tmp_path, capsys):
    a, b = _proposals(tmp_path)
    sa, sb = _shares(a), _shares(b)
    for suffix in ("json", "csv", "xlsx"):
        assert main(["compare", str(a), str(b), "--out", str(tmp_path / f"c.{suffix}")]) == 0
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    lines = {m["code"]: m for m in data["municipalities"]}
    assert len(lines) == 290 and len(data["counties"]) == 21
    for code in ("2262", "0115", "2260", "1280", "0180"):
        m = lines[code]
        assert (m["share_permille_a"], m["share_permille_b"]) == (sa[code]["proposed_permille"], sb[code]["proposed_permille"])
        change = sb[code]["proposed_permille"] - sa[code]["proposed_permille"]
        assert round(m["share_change_permille"] * 100) == round(change * 100)
        assert (m["children_a"], m["children_b"]) == (sa[code]["expected_children"], sb[code]["expected_children"])
        assert m["compensation_change"] == sb[code]["variable_compensation_sek"] - sa[code]["variable_compensation_sek"]
    assert lines["1280"]["share_change_permille"] > 0 and lines["2262"]["share_change_permille"] > 0
    # a county's line is the sum of its municipalities', and shares are conserved in both
    county = next(c for c in data["counties"] if c["code"] == "22")
    members = [r for r in sb.values() if r["county_code"] == "22"]
    assert round(county["share_permille_b"] * 100) == sum(round(r["proposed_permille"] * 100) for r in members)
    assert county["name"] == "Västernorrlands län"
    assert sum(round(c["share_permille_a"] * 100) for c in data["counties"]) == 100_000
    assert sum(round(c["share_change_permille"] * 100) for c in data["counties"]) == 0

    raw = (tmp_path / "c.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # as Excel writes Swedish CSV
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0][:6] == ["Kod", "Kommun", "Län", "Andelstal A (‰)", "Andelstal B (‰)", "Förändring (‰)"]
    timra = next(r for r in rows if r[0] == "2262")
    assert timra[1:3] == ["Timrå", "Västernorrlands län"]
    assert timra[3] == f"{sa['2262']['proposed_permille']:.2f}".replace(".", ",")

    book = load_workbook(tmp_path / "c.xlsx")
    assert book.sheetnames == ["Kommuner", "Län"]
    first = next(r for r in book["Kommuner"].iter_rows(values_only=True) if r[0] == "2262")
    assert isinstance(first[3], int | float) and first[3] == sa["2262"]["proposed_permille"]  # a number, not text

    assert main(["compare", str(a), str(b)]) == 0
    said = capsys.readouterr().out
    assert "Timrå (2262, Västernorrlands län)" in said and "Stockholm (0180" not in said  # only what differs
    assert main(["compare", str(a), str(a), "--language", "en"]) == 0
    assert "The proposals are equal for every municipality." in capsys.readouterr().out


def test_compare_refuses_what_is_not_a_whole_proposal(tmp_path, capsys):
    a, _ = _proposals(tmp_path)
    cut = json.loads(a.read_text(encoding="utf-8"))
    cut["shares"] = cut["shares"][:-3]
    (tmp_path / "cut.json").write_text(json.dumps(cut), encoding="utf-8")
    (tmp_path / "wishes.json").write_text(json.dumps({"wishes": []}), encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    for other, words in [("cut.json", "lacks 3 municipalities"), ("wishes.json", "no share table"),
                         ("broken.json", "cannot be read as JSON")]:
        assert main(["compare", str(a), str(tmp_path / other), "--out", str(tmp_path / "x.csv")]) == 2
        error = capsys.readouterr().err
        assert str(tmp_path / other) in error and words in error
    assert not (tmp_path / "x.csv").exists()
    assert main(["compare", str(a), str(a), "--out", str(tmp_path / "x.pdf")]) == 2
    assert ".json, .csv or .xlsx" in capsys.readouterr().err

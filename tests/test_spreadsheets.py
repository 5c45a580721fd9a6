"""Spreadsheets as Swedish offices use them: CSV from Swedish Excel (semicolons, decimal comma, BOM or
Windows-1252), names where codes are expected, the county's wish form, and outputs with Swedish headers, names
and numbers kept as numbers."""

from __future__ import annotations

import csv
import json

import pytest
from openpyxl import load_workbook

from solver.cli import main

ROWS = [("2262", "Timrå", "Omfördela bort", "1,05", "Ånge"), ("2260", "Ånge", "Ta emot", "2,50", ""),
        ("2283", "Sollefteå", "Inget önskemål", "", "")]
HEADER = "Kod;Kommun;Önskemål;Promille;Mottagande kommun"


def _proposal(tmp_path, wishes_file, *extra):
    out = tmp_path / "p.json"
    assert main(["propose", "--wishes", str(wishes_file), "--out", str(out), "--no-timing", *extra]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    return {t["giver"]: (t["receiver"], t["permille"]) for t in data["transfers"]}, data


@pytest.mark.parametrize("encoding,bom", [("utf-8", False), ("utf-8", True), ("cp1252", False)])
def test_swedish_excel_csv_is_read_in_every_encoding(tmp_path, encoding, bom):
    text = "\r\n".join([HEADER] + [";".join(r) for r in ROWS]) + "\r\n"
    path = tmp_path / "önskemål.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    transfers, data = _proposal(tmp_path, path)
    assert transfers == {"2262": ("2260", 1.05)}  # the partner given by name, the amount with a decimal comma
    assert {w["code"] for w in data["wishes"]} == {"2262", "2260"}  # "Inget önskemål" is no wish


def test_the_same_wishes_with_commas_and_decimal_points(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text('code,wish,amount_permille,partner\n2262,give,"1,05",2260\n2260,receive,2.5,\n', encoding="utf-8")
    assert _proposal(tmp_path, path)[0] == {"2262": ("2260", 1.05)}


def test_an_error_names_the_file_its_encoding_and_a_close_name(tmp_path, capsys):
    path = tmp_path / "fel.csv"
    path.write_bytes("Kod;Önskemål;Promille\nÅnga;Ta emot;1,0\n2262;Omfördela bort;x\n".encode("cp1252"))
    assert main(["check", "--wishes", str(path)]) == 2
    err = capsys.readouterr().err
    assert "fel.csv, read as Windows-1252 with semicolons between columns" in err
    assert "'Ånga' is not a municipality code or name; did you mean 2260 Ånge?" in err
    assert "row 3 (municipality 2262), field 'amount_permille'" in err


@pytest.mark.parametrize("content", ["", "code,wish,amount_permille\n", "Kod;Önskemål;Promille\r\n"])
def test_an_empty_or_header_only_file_is_an_error_but_an_explicit_empty_set_is_not(tmp_path, capsys, content):
    path = tmp_path / "tom.csv"
    path.write_text(content, encoding="utf-8")
    assert main(["propose", "--wishes", str(path), "--out", str(tmp_path / "p.json")]) == 2
    assert "has no wishes (it is empty or has only a header)" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
    empty = tmp_path / "tom.json"
    empty.write_text('{"wishes": []}', encoding="utf-8")
    assert main(["propose", "--wishes", str(empty), "--out", str(tmp_path / "p.json")]) == 0


def test_a_name_is_accepted_for_a_code_when_it_is_one_municipality(tmp_path, capsys):
    path = tmp_path / "w.csv"
    path.write_text("code;wish;amount_permille;partner\nTimrå kommun;give;1,00;Ånge kommun\nÅnge;receive;2,00;\n"
                    "1280 Stockholm;receive;1,00;\n", encoding="utf-8")
    assert main(["check", "--wishes", str(path)]) == 2  # a code with another municipality's name: asked, not guessed
    assert "'1280 Stockholm' is not a municipality code or name; did you mean 1280 Malmö?" in capsys.readouterr().err
    path.write_text("code;wish;amount_permille;partner\nTimrå kommun;give;1,00;Ånge kommun\nÅnge;receive;2,00;\n",
                    encoding="utf-8")
    assert _proposal(tmp_path, path)[0] == {"2262": ("2260", 1.0)}


def test_the_wish_form_has_the_county_and_drop_downs_and_is_read_back(tmp_path, capsys):
    form = tmp_path / "önskemål.xlsx"
    assert main(["template", "--county", "22", "--out", str(form)]) == 0
    book = load_workbook(form)
    sheet = book["Önskemål"]
    assert [c.value for c in sheet[1]] == ["Kod", "Kommun", "Andelstal (‰)", "Önskemål", "Promille", "Mottagande kommun"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 7 and {r[0] for r in rows} >= {"2260", "2262", "2283"}
    assert all(isinstance(r[2], int | float) and r[3] == "Inget önskemål" for r in rows)
    kinds = {str(v.sqref)[0]: v for v in sheet.data_validations.dataValidation}
    assert kinds["D"].type == "list" and "Omfördela bort" in kinds["D"].formula1
    assert kinds["F"].type == "list" and "Kommuner" in kinds["F"].formula1
    assert kinds["E"].type == "custom"
    assert sheet.freeze_panes == "A2" and sheet.protection.sheet
    assert book["Kommuner"].max_row == 291
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == "2262":
            row[3].value, row[4].value, row[5].value = "Omfördela bort", "alla", "2260 Ånge"
        if row[0].value == "2260":
            row[3].value, row[4].value = "Ta emot", 2.5
    book.save(form)
    transfers, data = _proposal(tmp_path, form)
    timra = next(r for r in data["shares"] if r["code"] == "2262")
    assert transfers["2262"] == ("2260", timra["base_permille"])  # "alla": its whole share
    assert main(["template", "--county", "99", "--out", str(tmp_path / "x.xlsx")]) == 2
    assert "'99' is not a county code" in capsys.readouterr().err


def test_outputs_have_swedish_headers_names_and_numbers(tmp_path):
    wishes = tmp_path / "w.json"
    wishes.write_text(json.dumps({"wishes": [{"code": "2262", "wish": "give", "amount_permille": 1.05},
                                             {"code": "0580", "wish": "receive", "amount_permille": 2.0}]}),
                      encoding="utf-8")
    assert main(["propose", "--wishes", str(wishes), "--out", str(tmp_path / "p.xlsx")]) == 0
    book = load_workbook(tmp_path / "p.xlsx")
    assert book.sheetnames[:3] == ["Andelstal", "Överföringar", "Önskemål"]
    shares = book["Andelstal"]
    assert [c.value for c in shares[1]][:4] == ["Kod", "Kommun", "Län", "Önskemål"]
    timra = next(r for r in shares.iter_rows(min_row=2) if r[0].value == "2262")
    assert [c.value for c in timra[1:4]] == ["Timrå", "Västernorrlands län", "Omfördela bort"]
    assert isinstance(timra[4].value, float) and timra[4].number_format == "0.00"
    assert timra[9].value.startswith("Timrå kommun önskade omfördela 1,05 ‰")
    assert shares.freeze_panes == "A2" and shares.auto_filter.ref
    moved = [c.value for c in book["Överföringar"][2]]
    assert moved[:3] == ["2262", "Timrå", "Västernorrlands län"] and moved[4:6] == ["Linköping", "Östergötlands län"]
    assert moved[7] == "Ja"

    assert main(["propose", "--wishes", str(wishes), "--out", str(tmp_path / "p.csv"), "--language", "sv",
                 "--csv", "sv"]) == 0
    raw = (tmp_path / "p.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert table[0][:3] == ["Kod", "Kommun", "Län"]
    assert next(r for r in table if r[0] == "2262")[4] == "1,24"
    assert main(["propose", "--wishes", str(wishes), "--out", str(tmp_path / "plain.csv")]) == 0
    assert (tmp_path / "plain.csv").read_text(encoding="utf-8").startswith("code,name,county_code,county_name,")

    assert main(["shares", "--out", str(tmp_path / "s.xlsx")]) == 0
    first = list(load_workbook(tmp_path / "s.xlsx")["shares"].iter_rows(min_row=2, max_row=2, values_only=True))[0]
    assert isinstance(first[3], float)  # a number, not the text "4.52"


def test_what_would_be_misread_is_refused_or_read_right(tmp_path, capsys):
    comma = tmp_path / "komma.csv"
    comma.write_text("code,wish,amount_permille\n0115,give,1,5\n0580,receive,2\n", encoding="utf-8")
    assert main(["check", "--wishes", str(comma)]) == 2  # an unquoted decimal comma: never read as 1
    assert "more values than the header has columns (a decimal comma" in capsys.readouterr().err
    mismatch = tmp_path / "fel-namn.csv"
    mismatch.write_text("Kod;Kommun;Önskemål;Promille\n0114;Vallentuna;Omfördela bort;1,00\n", encoding="utf-8")
    assert main(["check", "--wishes", str(mismatch)]) == 2
    assert "'Vallentuna' is not the name of 0114 (Upplands Väsby)" in capsys.readouterr().err
    mac = tmp_path / "mac.csv"  # Excel for Mac: a bare CR ends each line
    mac.write_bytes("Kod;Önskemål;Promille\r2262;Omfördela bort;1,05\r2260;Ta emot;2\r".encode("cp1252"))
    unicode_text = tmp_path / "unicode.csv"  # Excel's "Unicode text": UTF-16 with a byte-order mark
    unicode_text.write_bytes("Kod;Önskemål;Promille\n2262;Omfördela bort;1,05\n2260;Ta emot;2\n".encode("utf-16"))
    cleared = tmp_path / "rensad.csv"  # a form row whose cells were cleared is no wish
    cleared.write_text("Kod;Önskemål;Promille\n2262;Omfördela bort;1,05\n2260;Ta emot;2\n2283;;\n", encoding="utf-8")
    for path in (mac, unicode_text, cleared):
        assert _proposal(tmp_path, path)[0] == {"2262": ("2260", 1.05)}, path.name
    assert main(["check", "--wishes", str(unicode_text)]) == 0
    stray = tmp_path / "belopp.csv"
    stray.write_text("Kod;Önskemål;Promille\n2262;Inget önskemål;1,05\n", encoding="utf-8")
    assert main(["check", "--wishes", str(stray)]) == 2
    assert "has an amount (1,05) but no wish" in capsys.readouterr().err
    stray.write_text("Kod;Önskemål;Promille;Mottagande kommun\n2262;Omfördela bort;1,05;Ångee\n2260;Ta emot;2;\n",
                     encoding="utf-8")
    assert main(["check", "--wishes", str(stray)]) == 2
    assert "'Ångee' is not a municipality code or name; did you mean 2260 Ånge?" in capsys.readouterr().err

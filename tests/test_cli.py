"""The `andelstal` command as an analyst runs it: real files in, real files out."""

import json
import subprocess
import sys
from decimal import Decimal

from openpyxl import load_workbook

from solver.cli import main


def write_wishes(tmp_path):
    path = tmp_path / "wishes.json"
    path.write_text(json.dumps({"wishes": [
        {"code": "2262", "wish": "give", "amount_permille": 1.05, "partner": "2260"},
        {"code": "2283", "wish": "give", "amount_permille": "all"},
        {"code": "2260", "wish": "receive", "amount_permille": 5.0},
    ]}), encoding="utf-8")
    return path


def test_propose_writes_json_csv_and_xlsx(tmp_path, capsys):
    wishes = write_wishes(tmp_path)
    for suffix in ("json", "csv", "xlsx"):
        assert main(["propose", "--wishes", str(wishes), "--out", str(tmp_path / f"p.{suffix}"), "--forecast", "1500"]) == 0
    data = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    assert data["status"] == {"termination": "optimal", "solution": "optimal"}
    assert {"shares", "transfers", "objective", "solver", "diagnosis"} <= set(data)
    assert all(Decimal(repr(r["proposed_permille"])).as_tuple().exponent >= -2 for r in data["shares"])
    csv_lines = (tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()
    assert csv_lines[0].startswith("code,name,county_code") and len(csv_lines) == 291
    book = load_workbook(tmp_path / "p.xlsx")
    assert ["Andelstal", "Överföringar", "Önskemål", "Inställningar", "Status"] == book.sheetnames
    assert book["Överföringar"].max_row == 1 + len(data["transfers"])
    assert "2262 → 2260" in capsys.readouterr().out


def test_no_timing_output_is_byte_identical(tmp_path):
    wishes = write_wishes(tmp_path)
    for name in ("a.json", "b.json"):
        assert main(["propose", "--wishes", str(wishes), "--out", str(tmp_path / name), "--no-timing"]) == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_check_reports_bad_input_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("code,wish,amount_permille,partner\n0114,give,1.234,\n9999,receive,1,\n", encoding="utf-8")
    assert main(["check", "--wishes", str(path)]) == 2
    err = capsys.readouterr().err
    assert "row 2" in err and "amount_permille" in err and "row 3" in err and "9999" in err


def test_check_accepts_good_input(tmp_path, capsys):
    assert main(["check", "--wishes", str(write_wishes(tmp_path))]) == 0
    assert "OK: 3 wishes" in capsys.readouterr().out


def test_shares_command_writes_an_exact_table(tmp_path):
    out = tmp_path / "shares.csv"
    assert main(["shares", "--method", "webster", "--out", str(out)]) == 0
    rows = out.read_text(encoding="utf-8").splitlines()[1:]
    assert len(rows) == 290
    assert sum(round(float(r.split(",")[-1]) * 100) for r in rows) == 100_000


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "solver.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "propose" in result.stdout and "serve" not in result.stdout
    result = subprocess.run([sys.executable, "-m", "service.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "propose" in result.stdout and "serve" in result.stdout


def test_the_solver_imports_nothing_of_the_service():
    """The service builds on the solver, never the reverse: every solver module imported, no service module
    loaded (the `serve` and `tokens` commands live in service/cli.py, which mounts the solver's)."""
    code = ("import pkgutil, importlib, sys, solver\n"
            "for m in pkgutil.walk_packages(solver.__path__, 'solver.'): importlib.import_module(m.name)\n"
            "print(sorted(n for n in sys.modules if n == 'service' or n.startswith('service.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_infeasible_request_exits_3_with_a_diagnosis(tmp_path, capsys):
    wishes = tmp_path / "w.csv"
    wishes.write_text("code,wish,amount_permille,partner\n0114,give,2,2260\n0115,give,2,2260\n2260,receive,3,\n",
                      encoding="utf-8")
    policy = tmp_path / "p.toml"
    policy.write_text("binding_agreements = true\n", encoding="utf-8")
    assert main(["propose", "--wishes", str(wishes), "--policy", str(policy), "--out", str(tmp_path / "o.json")]) == 3
    out = capsys.readouterr().out
    assert "termination infeasible" in out and "diagnosis:" in out and "Ånge (2260)" in out

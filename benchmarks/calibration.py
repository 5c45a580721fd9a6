"""Calibration, reported and not tuned: the simulator on a year shaped like 2025, beside the report's figures.

Usage: python benchmarks/calibration.py [--replicates 1000] [--out benchmarks/results/calibration.json]

About 439 allocations a year, 72 % of them ties, from the default start (every municipality on target with the
assumed history, solver/simulate.py), under the illustrative base table and under the proposal for the shipped
sample wishes with county scope (redistribution within counties, as in 2025); beside them, a burn-in of ten years at
the 2025 volume (the published volumes of 2016-2024 are not in the project's sources) and a start from zero. Three
years are simulated, so that
"no allocation within 3 years" is seen. Prints a Markdown table for the README; nothing here is fitted to the
report's figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from solver import propose  # noqa: E402
from solver.data import load_municipalities, sample_wishes_path  # noqa: E402
from solver.shares import compute_base_shares  # noqa: E402
from solver.simulate import (  # noqa: E402
    HISTORY_CHILDREN,
    SimulationParams,
    report,
    scenario_from_proposal,
    scenario_from_table,
    simulate,
)
from solver.sweep import machine  # noqa: E402

REPORT = {  # the report (2.4.1, 2.4.3) and docs: 2025
    "allocations": 439, "equalising": 123, "stockholm_county": 101, "stockholm_county_equalising": 6,
    "stockholm": 27, "goteborg": 18, "malmo": 13, "kalmar": 7, "kalmar_equalising": 7, "halmstad": 9,
    "halmstad_equalising": 0, "on_redistributed_shares": "7 (2025); about 8 a year 2023–2025",
}


def figures(scenario, params: SimulationParams) -> dict[str, float]:
    outcome = simulate(scenario, params)
    result = report(scenario, params, outcome)
    codes = [m.code for m in scenario.municipalities]
    first = outcome.allocations[:, 0].astype(np.float64)  # the first year, per replicate
    eq_first = outcome.equalising_by_municipality[0] / params.replicates

    def total(*wanted: str) -> float:
        return float(first[:, [codes.index(c) for c in wanted]].sum(axis=1).mean())

    stockholm_county = [m.code for m in scenario.municipalities if m.county_code == "01"]
    on_shares = 0.0
    for _giver, receiver, units in scenario.transfers:  # equalising children on the shares moved to a receiver
        on_shares += eq_first[codes.index(receiver)] * units / scenario.shares[receiver]
    within = result["national"]["no_allocation_within"]
    return {
        "allocations": float(first.sum(axis=1).mean()),
        "equalising": float(outcome.equalising[:, 0].mean()),
        "stockholm_county": total(*stockholm_county),
        "stockholm_county_equalising": float(sum(eq_first[codes.index(c)] for c in stockholm_county)),
        "stockholm": total("0180"), "goteborg": total("1480"), "malmo": total("1280"),
        "kalmar": total("0880"), "kalmar_equalising": float(eq_first[codes.index("0880")]),
        "halmstad": total("1380"), "halmstad_equalising": float(eq_first[codes.index("1380")]),
        "no_allocation_1y": within["1"], "no_allocation_3y": within["3"],
        "on_redistributed_shares": round(on_shares, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/calibration.json"))
    args = ap.parse_args()
    municipalities = load_municipalities()
    base = compute_base_shares(municipalities)
    params = SimulationParams(years=3, arrivals=(439,), replicates=args.replicates, seed=0)
    county = propose(sample_wishes_path(), scope="county")
    runs = {
        "base table": figures(scenario_from_table(base.units, municipalities, "base table"), params),
        "sample, county scope": figures(scenario_from_proposal(county.to_dict(), municipalities), params),
        "base table, burn-in 10 × 439": figures(scenario_from_table(base.units, municipalities, "burn-in"),
                                                replace(params, burn_in=(439,) * 10)),
        "base table, start from zero": figures(scenario_from_table(base.units, municipalities, "zero"),
                                               SimulationParams(years=3, arrivals=(439,), replicates=args.replicates,
                                                                seed=0, history_children=0)),
    }
    rows = [("allocations", "allocations in the year"), ("equalising", "of them equalising"),
            ("stockholm_county", "Stockholm county"), ("stockholm_county_equalising", "  of them equalising"),
            ("stockholm", "Stockholm"), ("goteborg", "Göteborg"), ("malmo", "Malmö"), ("kalmar", "Kalmar"),
            ("kalmar_equalising", "  of them equalising"), ("halmstad", "Halmstad"),
            ("halmstad_equalising", "  of them equalising"),
            ("no_allocation_1y", "municipalities without an allocation in 1 year"),
            ("no_allocation_3y", "municipalities without an allocation in 3 years"),
            ("on_redistributed_shares", "children on redistributed shares")]
    print("| figure (first simulated year) | report, 2025 | " + " | ".join(runs) + " |")
    print("|---|---|" + "---|" * len(runs))
    for key, label in rows:
        values = " | ".join(f"{run[key]:.1f}" for run in runs.values())
        print(f"| {label} | {REPORT.get(key, '–')} | {values} |")
    Path(args.out).write_text(json.dumps({"settings": {"replicates": args.replicates, "arrivals": 439, "years": 3,
                                                       "tie_share": params.tie_share,
                                                       "history_children": HISTORY_CHILDREN},
                                          "report": REPORT, "runs": runs, "machine": machine()}, indent=1,
                                         ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

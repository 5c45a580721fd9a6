"""Time the allocation simulator: 10,000 replicate-years of 500 arrivals over the 290 municipalities.

Usage: python benchmarks/simulate.py [--replicates 10000] [--arrivals 500] [--repeat 5] [--python-replicates 100]

The compiled process (`solver.simulate.simulate`, one core) is warmed up once (compilation excluded), then
timed `--repeat` times; the plain per-child Python loop (`simulate_python`, the same process) is timed on
`--python-replicates` replicate-years in the same process and scaled linearly to the same work, which is
what the ratio compares. Results go to benchmarks/results/simulate.json with the machine noted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from solver.data import load_municipalities  # noqa: E402
from solver.shares import compute_base_shares  # noqa: E402
from solver.simulate import SimulationParams, scenario_from_table, simulate, simulate_python  # noqa: E402
from solver.sweep import machine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=10_000)
    ap.add_argument("--arrivals", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--python-replicates", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/simulate.json"))
    args = ap.parse_args()
    municipalities = load_municipalities()
    scenario = scenario_from_table(compute_base_shares(municipalities).units, municipalities, "today")
    params = SimulationParams(years=1, arrivals=(args.arrivals,), replicates=args.replicates)
    simulate(scenario, SimulationParams(years=1, arrivals=(10,), replicates=1))  # compile (or load the cache)
    runs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        simulate(scenario, params)
        runs.append(time.perf_counter() - started)
    started = time.perf_counter()
    simulate_python(scenario, SimulationParams(years=1, arrivals=(args.arrivals,), replicates=args.python_replicates))
    python_s = (time.perf_counter() - started) * args.replicates / args.python_replicates
    median = statistics.median(runs)
    result = {
        "machine": machine(),
        "settings": vars(args), "compiled_runs_s": [round(r, 4) for r in runs], "compiled_median_s": round(median, 4),
        "python_loop_s_scaled": round(python_s, 2), "speedup": round(python_s / median, 1),
        "children": args.replicates * args.arrivals, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{args.replicates:,} replicate-years of {args.arrivals} arrivals: compiled median {median:.3f} s "
          f"(runs {', '.join(f'{r:.3f}' for r in runs)}); plain Python loop {python_s:.1f} s "
          f"(measured on {args.python_replicates} replicate-years, scaled); {python_s / median:.0f}× faster")


if __name__ == "__main__":
    main()

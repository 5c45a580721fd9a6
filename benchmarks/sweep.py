"""Sweep throughput: points per second with 1 and 2 local workers, and the scaling efficiency.

Usage: python benchmarks/sweep.py [--points 40] [--time-limit 0.2] [--out FILE]

The grid is `--points` weightings (weighted objective, population × cross-county weights) of the national
sample wishes, propose only, each point's work limited to `--time-limit` (CP-SAT deterministic seconds).
The same grid runs with 1 worker, then 2, each into a fresh folder; efficiency = (rate with 2) / (2 × rate
with 1). Issue 5's target (1,000 weightings in under 60 s on 2 cores) is compared with the measured rate.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from solver.data import sample_wishes_path  # noqa: E402
from solver.sweep import machine, parse_grid, run_sweep  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=40)
    ap.add_argument("--time-limit", type=float, default=0.2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/sweep.json"))
    args = ap.parse_args()
    # the largest divisor of --points up to its square root, so the grid has exactly that many points when it can
    side = max(d for d in range(1, math.isqrt(max(1, args.points)) + 1) if max(1, args.points) % d == 0)
    other = max(1, args.points // side)
    wishes = json.loads(sample_wishes_path().read_text(encoding="utf-8"))["wishes"]
    grid = parse_grid({"policy": {"objective": "weighted", "time_limit_s": args.time_limit,
                                  "weights.population": [round(0.05 * i, 2) for i in range(side)],
                                  "weights.cross_county": [2 * i for i in range(other)]},
                       "wishes": {"sets": {"national": wishes}}}, None)
    rates = {}
    with tempfile.TemporaryDirectory(prefix="andelstal-sweep-") as tmp:
        for workers in (1, 2):
            started = time.perf_counter()
            rows = run_sweep(grid, Path(tmp) / str(workers), workers=workers, progress=False)
            seconds = time.perf_counter() - started
            rates[workers] = {"seconds": round(seconds, 3), "points": len(rows),
                              "points_per_s": round(len(rows) / seconds, 3),
                              "statuses": sorted({f"{r['termination']}/{r['solution']}" for r in rows})}
    efficiency = rates[2]["points_per_s"] / (2 * rates[1]["points_per_s"])
    projected = 1000 / rates[2]["points_per_s"]
    result = {"machine": machine(),
              "settings": {"points": len(grid.points), "time_limit_s": args.time_limit}, "workers": rates,
              "scaling_efficiency": round(efficiency, 3), "projected_1000_points_s_with_2_workers": round(projected, 1),
              "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for w, r in rates.items():
        print(f"{w} worker(s): {r['points']} points in {r['seconds']} s, {r['points_per_s']} points/s "
              f"({', '.join(r['statuses'])})")
    print(f"scaling efficiency {efficiency:.0%}; 1,000 points with 2 workers would take about {projected:.0f} s")


if __name__ == "__main__":
    main()

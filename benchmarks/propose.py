"""Time `propose` (build, solve, explain) on the national instance and synthetic ones, against a naive baseline.

Usage: python benchmarks/propose.py [--repeat 5] [--time-limit 10] [--sizes 290,2900,29000,100000]
                                   [--generated 1,2,3,4,5,6,7,8] [--out FILE]

Instances:
- national: the shipped 290 municipalities and sample wishes (40 givers, 10 receivers);
- generated S: the shipped municipalities with the sweep's generated wish set of seed S (40 givers,
  10 receivers, offers of 25 to 100 % of a share, rooms of 1 to 5 shares), run once each;
- synthetic N: N units made from copies of the 290 municipalities (codes prefixed by the copy number,
  each copy its own set of counties), with about 14 % of them wishing, drawn from a fixed seed.

The naive baseline is the formulation the issue describes: every giver paired with every receiver,
big-M single-receiver binaries, one weighted objective (unmet offers + deviation from the population
share + a penalty per cross-county pair), solved by PuLP with CBC. Results are written as JSON with the
settings and the machine that produced them; ratios are against the baseline from the same run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import pulp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solver.data import load_municipalities, sample_wishes_path  # noqa: E402
from solver.domain import TOTAL_UNITS, Municipality  # noqa: E402
from solver.redistribute.proposal import propose as propose_only  # noqa: E402
from solver.shares import ShareTable, compute_base_shares  # noqa: E402
from solver.sweep import generated_wishes, machine  # noqa: E402


def propose(*args, **kwargs):
    """`propose` and the proposal's JSON: every municipality's explanation is made at its first use, so this is
    what a user of the command or the API waits for (build, solve, explain)."""
    proposal = propose_only(*args, **kwargs)
    proposal.to_dict()
    return proposal


def synthetic(units: int, seed: int = 7) -> tuple[list[Municipality], ShareTable, dict]:
    """`units` municipalities from copies of the real ones, with an apportioned share table and wishes."""
    real = load_municipalities()
    base = compute_base_shares(real).units
    copies = max(1, units // len(real))
    munis = []
    for k in range(copies):
        for m in real:
            munis.append(replace(m, code=f"{k:03d}{m.code}", county_code=f"{k:03d}{m.county_code}"))
    from solver.apportion import apportion

    seats = apportion([base[m.code[3:]] for m in munis], TOTAL_UNITS, "hamilton").seats
    table = ShareTable(units={m.code: s for m, s in zip(munis, seats)}, source=f"synthetic {len(munis)}")
    rng = random.Random(seed)
    # at 100,000 units most shares are a single 0.01‰ unit or none: only a municipality with a share may give
    chosen = [m for m in rng.sample(munis, k=len(munis) * 14 // 100) if table.units[m.code] > 0]
    wishes = []
    for i, m in enumerate(sorted(chosen, key=lambda m: m.code)):
        if i % 5 == 0:
            room = rng.choice([1, 2, 3, 5]) * table.units[m.code]
            wishes.append({"code": m.code, "wish": "receive", "amount_permille": room / 100})
        else:
            offer = max(1, table.units[m.code] * rng.choice([25, 50, 75, 100]) // 100)
            wishes.append({"code": m.code, "wish": "give", "amount_permille": offer / 100})
    for w in wishes:
        w["amount_permille"] = round(w["amount_permille"], 2) or 0.01
    return munis, table, {"wishes": wishes}


def synthetic_run(size: int, scope: str, time_limit: float, backend: str = "cpsat") -> dict:
    """Generate and propose one synthetic instance; its time and this process's peak memory."""
    import resource

    munis, table, wishes = synthetic(size)
    started = time.perf_counter()
    proposal = propose(wishes, shares=table, municipalities=munis, backend=backend, time_limit_s=time_limit, scope=scope)
    seconds = time.perf_counter() - started
    return {"method": f"propose {backend} scope={scope}", "median_s": seconds, "units": len(munis),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, "result": describe(proposal)}


def naive_baseline(munis: list[Municipality], table: ShareTable, wishes: dict, time_limit: float) -> dict:
    """The issue's naive weighted formulation on CBC; returns its status and objective."""
    county = {m.code: m.county_code for m in munis}
    total_pop = sum(m.population for m in munis)
    pop_share = {m.code: m.population * TOTAL_UNITS / total_pop for m in munis}
    givers = {w["code"]: (table.units[w["code"]] if w["amount_permille"] == "all" else round(w["amount_permille"] * 100))
              for w in wishes["wishes"] if w["wish"] == "give"}
    rooms = {w["code"]: round(w["amount_permille"] * 100) for w in wishes["wishes"] if w["wish"] == "receive"}
    prob = pulp.LpProblem("naive", pulp.LpMinimize)
    x = {(g, r): pulp.LpVariable(f"x_{g}_{r}", 0, min(givers[g], rooms[r]), cat="Integer") for g in givers for r in rooms}
    y = {(g, r): pulp.LpVariable(f"y_{g}_{r}", cat="Binary") for g in givers for r in rooms}
    dev = {c: pulp.LpVariable(f"d_{c}", 0) for c in list(givers) + list(rooms)}
    for g in givers:
        prob += pulp.lpSum(y[g, r] for r in rooms) <= 1
        prob += pulp.lpSum(x[g, r] for r in rooms) <= givers[g]
        for r in rooms:
            prob += x[g, r] <= 100_000 * y[g, r]  # big-M, as a naive model writes it
    for r in rooms:
        prob += pulp.lpSum(x[g, r] for g in givers) <= rooms[r]
    for c in dev:
        moved = pulp.lpSum(x[c, r] for r in rooms) if c in givers else pulp.lpSum(x[g, c] for g in givers)
        share = table.units[c] - moved if c in givers else table.units[c] + moved
        prob += dev[c] >= share - pop_share[c]
        prob += dev[c] >= pop_share[c] - share
    unmet = pulp.lpSum(givers[g] - pulp.lpSum(x[g, r] for r in rooms) for g in givers)
    cross = pulp.lpSum(y[g, r] for g in givers for r in rooms if county[g] != county[r])
    prob += unmet + 0.1 * pulp.lpSum(dev.values()) + 10 * cross
    started = time.perf_counter()
    prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=1))
    return {"seconds": time.perf_counter() - started, "status": pulp.LpStatus[prob.status],
            "solution": prob.sol_status, "objective": pulp.value(prob.objective)}


# (backend, name, policy) of the national runs: the default, the rule off, and the readiness and agreement rules
NATIONAL_VARIANTS = [
    ("cpsat", "one receiver per giver", {}),
    ("cpsat", "rule off", {"one_receiver": False}),
    ("cpsat", "county floor 0.8", {"county_floor": 0.8}),
    ("cpsat", "county floor 1.0", {"county_floor": 1.0}),
    ("cpsat", "binding agreements", {"binding_agreements": True}),
    ("highs", "one receiver per giver", {}),
    ("highs", "rule off", {"one_receiver": False}),
]


def timed(repeat: int, run) -> dict:
    times, last = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        last = run()
        times.append(time.perf_counter() - started)
    return {"median_s": statistics.median(times), "runs": times, "last": last}


def describe(proposal) -> dict:
    markets = proposal.solver["markets"]
    out = {"termination": proposal.termination.value, "solution": proposal.solution.value,
           "markets": len(markets), "markets_optimal": sum(m["solution"] == "optimal" for m in markets),
           "solves": sum(m["solves"] for m in markets)}
    if len(markets) == 1:
        out["stages"] = proposal.objective["stages"][markets[0]["market"]]
    return out


def national_rows(args, record) -> None:
    """The naive baseline, the national variants and the generated wish sets, each recorded."""
    national = json.loads(sample_wishes_path().read_text(encoding="utf-8"))
    munis = list(load_municipalities())
    table = compute_base_shares(munis)
    baseline = timed(1, lambda: naive_baseline(munis, table, national, max(args.time_limit, 60)))
    record("national", {"method": "naive baseline (PuLP CBC)", "median_s": baseline["median_s"],
                        "result": baseline["last"]})
    for backend, name, policy in NATIONAL_VARIANTS:
        run = timed(args.repeat if backend == "cpsat" else 1,
                    partial(propose, national, backend=backend, time_limit_s=args.time_limit, **policy))
        record("national", {"method": f"propose {backend}, {name}", "policy": policy, "median_s": run["median_s"],
                            "runs": run["runs"], "ratio_to_baseline": run["median_s"] / baseline["median_s"],
                            "result": describe(run["last"])})
    for seed in [int(s) for s in args.generated.split(",") if s]:
        # the sweep's generator (40 givers, 10 receivers drawn from the seed): how often the default is proven
        wishes = {"wishes": generated_wishes(seed, 40, 10)}
        run = timed(1, partial(propose, wishes, time_limit_s=args.time_limit))
        record(f"generated {seed}", {"method": "propose cpsat, one receiver per giver", "median_s": run["median_s"],
                                     "ratio_to_baseline": run["median_s"] / baseline["median_s"],
                                     "result": describe(run["last"])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--sizes", default="290,2900,29000,100000")
    parser.add_argument("--generated", default="1,2,3,4,5,6,7,8", help="seeds of generated wish sets ('' for none)")
    parser.add_argument("--skip-national", action="store_true", help="only the synthetic instances")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "propose.json"))
    args = parser.parse_args()
    results: dict = {"settings": vars(args), "machine": machine(), "rows": []}

    def record(name: str, row: dict) -> None:
        row["instance"] = name
        results["rows"].append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "runs"}, default=str), flush=True)

    if not args.skip_national:
        national_rows(args, record)
    for size in [int(s) for s in args.sizes.split(",") if s and int(s) > 290]:
        for scope in ("county", "national"):
            if scope == "national" and size > 2900:
                record(f"synthetic {size}", {"method": "propose national", "skipped": "one market of thousands of "
                                             "participants: too large a model"})
                continue
            for backend in ("cpsat", "highs") if scope == "county" else ("cpsat",):
                # each in a fresh process, so its peak memory is its own
                with multiprocessing.get_context("spawn").Pool(1) as pool:
                    row = pool.apply(synthetic_run, (size, scope, args.time_limit, backend))
                record(f"synthetic {size}", row)
        if size <= 2900:
            munis, table, wishes = synthetic(size)
            naive = timed(1, partial(naive_baseline, munis, table, wishes, max(args.time_limit, 60)))
            record(f"synthetic {size}", {"method": "naive baseline (PuLP CBC), national", "median_s": naive["median_s"],
                                         "result": naive["last"]})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

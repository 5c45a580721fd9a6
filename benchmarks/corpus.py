"""A corpus of seeded rounds over the real 290 municipalities, in named shapes, and the exact core run on it.

Usage: python benchmarks/corpus.py [--seeds 17] [--shapes NAME,...] [--time-limit 5] [--driver]
       [--cbc N] [--cbc-limit 60] [--out FILE]

Every round is made from its shape's name and seed alone (random.Random(f"{shape}:{seed}")), so a round can be
named and made again. For each round the exact core (solver/redistribute/leximin.py) decides every market with
the work limit (CP-SAT deterministic seconds per market); the report gives, per shape, the share of rounds proven
at every level, the share with level 1 proven, and p50/p95/max wall time. With --driver the proposal's present
default (the max-distance driver) runs beside it, for its termination and time. With --cbc N the naive weighted
model of benchmarks/propose.py (every pair, big-M single-receiver binaries, unmet offers + population deviation +
a cross-county penalty, on PuLP/CBC; it knows nothing of the policy's other rules) runs on the first N seeds of
each shape, and the report gives the ratio of the core's time to CBC's on those rounds. Results are written as
JSON with the settings and the machine.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solver.data import load_municipalities  # noqa: E402
from solver.domain import Municipality, Policy, Scope  # noqa: E402
from solver.redistribute.backend import SolveOptions  # noqa: E402
from solver.redistribute.check import _sorted_ratios  # noqa: E402 - the checker's own reading of level 1
from solver.redistribute.leximin import solve  # noqa: E402
from solver.redistribute.proposal import propose  # noqa: E402
from solver.redistribute.targets import build_setup  # noqa: E402
from solver.shares import ShareTable, compute_base_shares  # noqa: E402
from solver.sweep import machine  # noqa: E402
from solver.wishes import read_wishes  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from propose import naive_baseline  # noqa: E402

Round = tuple[list[dict[str, Any]], dict[str, Any]]  # wishes (as in a wish file), policy fields


def _permille(units: int) -> float:
    return round(units / 100, 2)


def _wishes(rng: random.Random, munis: list[Municipality], base: ShareTable, givers: tuple[int, int],
            receivers: tuple[int, int], offer: Callable[[random.Random, int], int | None],
            room: Callable[[random.Random], int], pool: list[Municipality] | None = None) -> list[dict[str, Any]]:
    pool = pool or munis
    n_g = rng.randint(*givers)
    n_r = rng.randint(*receivers)
    chosen = rng.sample(pool, min(len(pool), n_g + n_r))
    out = []
    for m in chosen[:n_g]:
        units = offer(rng, base[m.code])
        out.append({"code": m.code, "wish": "give", "amount_permille": "all" if units is None else _permille(units)})
    for m in chosen[n_g:]:
        out.append({"code": m.code, "wish": "receive", "amount_permille": _permille(room(rng))})
    return out


def share_of(low: float, high: float, all_chance: float = 0.15) -> Callable[[random.Random, int], int | None]:
    """An offer of low to high of the giver's share (`all` now and then)."""
    def draw(rng: random.Random, share: int) -> int | None:
        if rng.random() < all_chance:
            return None
        return max(1, round(share * rng.uniform(low, high)))
    return draw


def units(low: int, high: int) -> Callable[..., int]:
    return lambda rng, *_: rng.randint(low, high)


def shapes(munis: list[Municipality], base: ShareTable) -> dict[str, Callable[[random.Random], Round]]:
    """The named shapes: what each varies is in its name."""
    realistic = dict(givers=(40, 40), receivers=(10, 10), offer=share_of(0.2, 1.0), room=units(50, 800))
    county = sorted({m.county_code for m in munis})

    def agreements(rng: random.Random) -> Round:
        wishes = _wishes(rng, munis, base, (20, 40), (5, 10), share_of(0.2, 1.0, 0), units(50, 800))
        left = {w["code"]: round(w["amount_permille"] * 100) for w in wishes if w["wish"] == "receive"}
        for w in wishes:
            offer = round(w["amount_permille"] * 100) if w["wish"] == "give" else 0
            fits = sorted(code for code, room in left.items() if room >= offer)
            if w["wish"] == "give" and fits and rng.random() < 0.2:  # an agreement the partner has room for
                w["partner"] = rng.choice(fits)
                left[w["partner"]] -= offer
        return wishes, {"binding_agreements": True}

    def one_county(rng: random.Random) -> Round:
        pool = [m for m in munis if m.county_code == rng.choice(county)]
        return _wishes(rng, munis, base, (2, 8), (1, 3), share_of(0.2, 1.0), units(5, 400), pool), {}

    return {
        "small": lambda rng: (_wishes(rng, munis, base, (5, 15), (1, 5), share_of(0.2, 1.0), units(5, 1000)), {}),
        "realistic-40x10": lambda rng: (_wishes(rng, munis, base, **realistic), {}),
        "large-80x25": lambda rng: (_wishes(rng, munis, base, (80, 80), (25, 25), share_of(0.2, 1.0),
                                            units(50, 800)), {}),
        "largest-120x40": lambda rng: (_wishes(rng, munis, base, (110, 120), (35, 40), share_of(0.2, 1.0),
                                               units(5, 1000)), {}),
        "offers-exceed-rooms": lambda rng: (_wishes(rng, munis, base, (20, 60), (3, 8), share_of(0.5, 1.0),
                                                    units(5, 200)), {}),
        "rooms-exceed-offers": lambda rng: (_wishes(rng, munis, base, (5, 20), (10, 30), share_of(0.1, 0.5, 0),
                                                    units(200, 1000)), {}),
        "tiny-offers": lambda rng: (_wishes(rng, munis, base, (10, 40), (3, 10), lambda r, s: r.randint(1, 20),
                                            units(5, 100)), {}),
        "agreements": agreements,
        "county-floor-0.8": lambda rng: (_wishes(rng, munis, base, **realistic), {"county_floor": 0.8}),
        "receiver-cap-1.5": lambda rng: (_wishes(rng, munis, base, **realistic), {"receiver_cap": 1.5}),
        "rule-off": lambda rng: (_wishes(rng, munis, base, **realistic), {"one_receiver": False}),
        "county-scope": lambda rng: (_wishes(rng, munis, base, **realistic), {"scope": "county"}),
        "one-county": one_county,
    }


def make(shape: str, seed: int, munis: list[Municipality], base: ShareTable) -> Round:
    return shapes(munis, base)[shape](random.Random(f"{shape}:{seed}"))


def run_core(wishes: list[dict[str, Any]], fields: dict[str, Any], munis, base, time_limit: float) -> dict[str, Any]:
    policy = Policy(**{k: (Scope(v) if k == "scope" else Fraction(v).limit_denominator(1000) if
                           k in ("county_floor", "receiver_cap") else v) for k, v in fields.items()})
    started = time.perf_counter()
    setup = build_setup(munis, base, read_wishes({"wishes": wishes}, munis, base, policy), policy)
    levels, proven, solves, work = [], True, 0, 0.0
    flows: list[tuple[str, str, int]] = []
    for market in setup.markets:
        out = solve(setup, market, SolveOptions(time_limit_s=time_limit))
        solves += out.solves
        work += out.spent
        proven &= out.termination.value in ("optimal", "infeasible")
        levels.append("leximin" in out.stage_status or out.termination.value == "infeasible")
        flows += [(g, r, a) for (g, r), a in (out.flows or {}).items()]
    return {"wall_s": round(time.perf_counter() - started, 4), "proven": proven, "level1": all(levels),
            "markets": len(setup.markets), "solves": solves, "work": round(work, 4),
            "vector": vector(setup, flows)}


def vector(setup, flows: list[tuple[str, str, int]]) -> list[str]:
    """The table's fulfilment ratios of level 1 over every market, ascending (as the checker computes them)."""
    moved: dict[str, int] = defaultdict(int)
    for g, r, amount in flows:
        moved[g] += amount
        moved[r] += amount
    out: list[Fraction] = []
    for market in setup.markets:
        for part in _sorted_ratios(setup, market, moved).split():
            value, count = part.split("×")
            out += [Fraction(value)] * int(count)
    return [str(v) for v in sorted(out)]


def run_driver(wishes, fields, munis, base, time_limit: float) -> dict[str, Any]:
    started = time.perf_counter()
    proposal = propose({"wishes": wishes}, shares=base, policy={**fields, "time_limit_s": time_limit},
                       municipalities=munis)
    return {"wall_s": round(time.perf_counter() - started, 4), "termination": proposal.termination.value,
            "vector": vector(proposal.setup, [(t.giver, t.receiver, t.amount) for t in proposal.transfers])}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=17)
    ap.add_argument("--shapes", default="")
    ap.add_argument("--time-limit", type=float, default=5.0)
    ap.add_argument("--driver", action="store_true", help="also run the present default driver")
    ap.add_argument("--cbc", type=int, default=0, help="run the naive CBC model on the first N seeds of each shape")
    ap.add_argument("--cbc-limit", type=float, default=60.0, help="CBC's time limit per round (s)")
    ap.add_argument("--out", default="benchmarks/results/corpus.json")
    args = ap.parse_args(argv)
    munis = list(load_municipalities())
    base = compute_base_shares(munis)
    names = [s for s in args.shapes.split(",") if s] or list(shapes(munis, base))
    rows, summary = [], {}
    for shape in names:
        mine = []
        for seed in range(args.seeds):
            wishes, fields = make(shape, seed, munis, base)
            row = {"shape": shape, "seed": seed, "givers": sum(w["wish"] == "give" for w in wishes),
                   "receivers": sum(w["wish"] == "receive" for w in wishes),
                   "core": run_core(wishes, fields, munis, base, args.time_limit)}
            if args.driver:
                row["driver"] = run_driver(wishes, fields, munis, base, args.time_limit)
                core, driver = ([Fraction(v) for v in row[k]["vector"]] for k in ("core", "driver"))
                row["level1_vs_driver"] = "better" if core > driver else "worse" if core < driver else "equal"
            if seed < args.cbc:
                naive = naive_baseline(munis, base, {"wishes": wishes}, args.cbc_limit)
                row["cbc"] = {"wall_s": round(naive["seconds"], 4), "status": naive["status"],
                              "solution": naive["solution"]}
            rows.append(row)
            mine.append(row)
            print(json.dumps(row), flush=True)
        walls = [r["core"]["wall_s"] for r in mine]
        summary[shape] = {"rounds": len(mine), "proven_every_level": sum(r["core"]["proven"] for r in mine) / len(mine),
                          "level1_proven": sum(r["core"]["level1"] for r in mine) / len(mine),
                          "p50_s": statistics.median(walls), "p95_s": _pct(walls, 0.95), "max_s": max(walls)}
        paired = [r for r in mine if "cbc" in r]
        if paired:
            summary[shape]["cbc_rounds"] = len(paired)
            summary[shape]["cbc_p50_s"] = statistics.median(r["cbc"]["wall_s"] for r in paired)
            summary[shape]["core_over_cbc_p50"] = statistics.median(r["core"]["wall_s"] / r["cbc"]["wall_s"]
                                                                     for r in paired)
            # PuLP's solution status 1 is a proven optimum (its status text says "Optimal" at a time limit too)
            summary[shape]["cbc_proven"] = sum(r["cbc"]["solution"] == 1 for r in paired) / len(paired)
        if args.driver:
            summary[shape]["driver_optimal"] = sum(r["driver"]["termination"] == "optimal" for r in mine) / len(mine)
            summary[shape]["driver_p50_s"] = statistics.median(r["driver"]["wall_s"] for r in mine)
            summary[shape]["level1_vs_driver"] = {k: sum(r["level1_vs_driver"] == k for r in mine)
                                                  for k in ("better", "equal", "worse")}
        print(shape, json.dumps(summary[shape]), flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"settings": vars(args), "machine": machine(), "peak_memory_mb": round(peak_mb, 1),
              "summary": summary, "rounds": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}: {len(rows)} rounds, peak memory {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

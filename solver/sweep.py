"""Sweeps of policy weightings: every point of a grid proposed (and optionally simulated), in parallel,
into one resumable results table, with the Pareto front of wish fulfilment against population fairness.

A grid file (TOML):

    [policy]                      # every combination of these lists is one point (a value alone is fixed)
    objective = ["weighted"]
    "weights.population" = [0.0, 0.1, 1.0]
    "weights.cross_county" = { from = 0, to = 20, step = 10 }    # a range: 0, 10, 20
    scope = ["national", "county"]
    time_limit_s = 1

    [wishes]
    files = ["wishes.json"]       # relative to the grid file
    generated = { count = 2, seed = 7, givers = 40, receivers = 10 }   # wish sets drawn from a seed

    [scenarios]
    forecast = [500]              # children a year: expected children, compensation, simulated arrivals
    stress = [1, 2]               # simulated arrivals = forecast × stress

    [simulate]                    # optional: each point's table is also simulated
    replicates = 200
    seed = 0
    years = 4

Each point records its policy, wish set and scenario, the solve status and time, and the outcome: wish
fulfilment (volume moved ÷ the short side), the spread of fulfilment ratios, deviation from the
population share, cross-county transfers and transfers; simulated, concentration (HHI, Gini, top ten),
municipalities without allocation, and the state's cost.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import os
import platform
import random
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from solver.domain import InputError, InputProblem
from solver.redistribute.memo import Models

RESULT_FIELDS = [
    "point", "wish_set", "forecast", "stress", "policy", "scope", "termination", "solution", "gap", "solve_s",
    "wish_fulfilment", "min_ratio", "unequal_permille", "population_deviation_permille", "cross_county_transfers",
    "transfers", "volume_permille", "sim_hhi", "sim_gini", "sim_top10_share", "sim_no_allocation_1y",
    "sim_no_allocation_3y", "sim_state_cost_sek", "error",
]
SECTIONS = {"policy", "wishes", "scenarios", "simulate"}


@dataclass(frozen=True)
class Point:
    key: str  # a stable id: the hash of everything below
    wish_set: str
    forecast: int
    stress: int
    policy: dict[str, Any]
    simulate: dict[str, Any] | None


@dataclass
class Grid:
    points: list[Point]
    wish_sets: dict[str, list[dict[str, Any]]]
    settings: dict[str, Any]  # what the results depend on, stored beside them
    digest: str


def _values(name: str, value: Any, problems: list[InputProblem]) -> list[Any]:
    """A grid axis: a list, a {from, to, step} range, or a single value."""
    if isinstance(value, list):
        if not value:
            problems.append(InputProblem("grid", name, "is an empty list", sv="är en tom lista"))
        return value
    if isinstance(value, dict):
        try:
            start, stop, step = (Fraction(str(value[k])) for k in ("from", "to", "step"))
        except (KeyError, ValueError):
            problems.append(InputProblem("grid", name, "a range needs numbers from, to and step",
                                         sv="ett intervall behöver talen from, to och step"))
            return []
        if step <= 0 or stop < start or (stop - start) / step > 10_000:
            problems.append(InputProblem("grid", name, "a range needs step > 0, to ≥ from, at most 10,000 values",
                                         sv="ett intervall behöver step > 0, to ≥ from och högst 10 000 värden"))
            return []
        count = int((stop - start) / step) + 1
        return [float(start + i * step) if (start + i * step).denominator != 1 else int(start + i * step)
                for i in range(count)]
    return [value]


def generated_wishes(seed: int, givers: int, receivers: int) -> list[dict[str, Any]]:
    """A wish set drawn from a seed over the real municipalities (for stress studies)."""
    from solver.data import load_municipalities
    from solver.shares import compute_base_shares

    municipalities = load_municipalities()
    base = compute_base_shares(municipalities).units
    rng = random.Random(seed)
    chosen = rng.sample([m.code for m in municipalities], givers + receivers)
    wishes: list[dict[str, Any]] = [{"code": c, "wish": "receive", "amount_permille": rng.choice([1, 2, 3, 5]) * base[c] / 100}
                                    for c in sorted(chosen[:receivers])]
    wishes += [{"code": c, "wish": "give", "amount_permille": max(1, base[c] * rng.choice([25, 50, 75, 100]) // 100) / 100}
               for c in sorted(chosen[receivers:])]
    for w in wishes:
        w["amount_permille"] = round(float(w["amount_permille"]), 2)
    return sorted(wishes, key=lambda w: w["code"])


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid file; every problem at once, naming the field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError([InputProblem(str(path), "file", f"cannot be read as TOML: {exc}")], what="grid") from None
    return parse_grid(data, path.parent)


def parse_grid(data: Mapping[str, Any], base_dir: Path | None, *, max_points: int | None = None,
               policy_bounds: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Grid:
    """A grid from its plain form (the TOML as a mapping). Wish sets come from files relative to `base_dir`
    (refused when it is None, as over HTTP), from `[wishes.sets]` given inline, or are generated.
    `policy_bounds` may clamp each point's policy (a server's work limits)."""
    from solver.io import read_rows, rows_from_json
    from solver.policy import parse_policy

    problems: list[InputProblem] = []
    for name in sorted(set(data) - SECTIONS):
        problems.append(InputProblem("grid", name, f"unknown section; known: {', '.join(sorted(SECTIONS))}",
                                     sv=f"okänd del; kända: {', '.join(sorted(SECTIONS))}"))
    axes = {name: _values(f"policy.{name}", value, problems) for name, value in data.get("policy", {}).items()}
    wish_sets: dict[str, list[dict[str, Any]]] = {}
    wishes = data.get("wishes", {})
    for file in wishes.get("files", []):
        if base_dir is None:
            problems.append(InputProblem("grid", "wishes.files", "files cannot be named here; give the wish sets "
                                         "inline under wishes.sets"))
            break
        try:
            rows = read_rows(base_dir / file, list_key="wishes")
        except (OSError, InputError) as exc:
            problems.append(InputProblem("grid", "wishes.files", f"{file}: {exc}"))
            continue
        wish_sets[Path(file).stem] = [{k: v for k, v in r.items() if k != "_row"} for r in rows]
    for name, rows in (wishes.get("sets") or {}).items():
        try:
            parsed = rows_from_json({"wishes": rows}, list_key="wishes", source=f"wishes.sets.{name}")
        except InputError as exc:
            problems += exc.problems
            continue
        wish_sets[str(name)] = [{k: v for k, v in r.items() if k != "_row"} for r in parsed]
    gen = wishes.get("generated")
    if gen is not None:
        try:
            for k in range(int(gen.get("count", 1))):
                seed = int(gen.get("seed", 0)) + k
                wish_sets[f"generated-{seed}"] = generated_wishes(seed, int(gen.get("givers", 40)),
                                                                  int(gen.get("receivers", 10)))
        except (TypeError, ValueError) as exc:
            problems.append(InputProblem("grid", "wishes.generated", f"needs whole numbers count, seed, givers, "
                                         f"receivers ({exc})"))
    if not wish_sets:
        problems.append(InputProblem("grid", "wishes", "names no wish set (files or generated)",
                                     sv="anger ingen uppsättning önskemål (filer eller genererade)"))
    scenarios = data.get("scenarios", {})
    forecasts = _values("scenarios.forecast", scenarios.get("forecast", [500]), problems)
    stresses = _values("scenarios.stress", scenarios.get("stress", [1]), problems)
    for name, values in (("scenarios.forecast", forecasts), ("scenarios.stress", stresses)):
        if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in values):
            problems.append(InputProblem("grid", name, "must be whole numbers ≥ 0", sv="ska vara heltal ≥ 0"))
    simulate = data.get("simulate")
    if simulate is not None:
        from solver.data import load_municipalities
        from solver.simulate import parse_params

        try:
            parse_params({k: v for k, v in simulate.items() if k != "enabled"}, {m.code for m in load_municipalities()})
        except InputError as exc:
            problems += [InputProblem("grid", f"simulate.{p.field}", p.reason, sv=p.reason_sv) for p in exc.problems]
        if simulate.get("enabled", True) is False:
            simulate = None
    points: list[Point] = []
    names = sorted(axes)
    for combo in itertools.product(*(axes[n] for n in names)):
        flat = dict(zip(names, combo))
        if max_points is not None and len(points) > max_points:
            problems.append(InputProblem("grid", "policy", f"the grid has more than {max_points:,} points",
                                         sv=f"rutnätet har fler än {max_points:,} punkter".replace(",", " ")))
            break
        policy: dict[str, Any] = {}
        for name, value in flat.items():
            if name.startswith("weights."):
                policy.setdefault("weights", {})[name.split(".", 1)[1]] = value
            else:
                policy[name] = value
        if policy_bounds is not None:
            policy = policy_bounds(policy)
        try:
            parse_policy(policy)
        except InputError as exc:
            problems += [InputProblem("grid", f"policy.{p.field}", p.reason, sv=p.reason_sv) for p in exc.problems]
            break
        for wish_set, forecast, stress in itertools.product(sorted(wish_sets), forecasts, stresses):
            sim = None if simulate is None else {k: v for k, v in simulate.items() if k != "enabled"}
            body = {"wish_set": wish_set, "forecast": forecast, "stress": stress, "policy": policy, "simulate": sim}
            key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
            points.append(Point(key, wish_set, forecast, stress, policy, sim))
    if problems:
        raise InputError(problems, what="grid")
    # the result columns too: a folder written with other columns is never resumed under this header
    settings = {"grid": data, "wish_sets": wish_sets, "version": _versions(), "columns": RESULT_FIELDS}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    return Grid(points, wish_sets, settings, digest)


def _versions() -> dict[str, str]:
    import ortools
    import pulp

    from solver import __version__

    return {"andelstal": __version__, "ortools": ortools.__version__, "pulp": pulp.__version__}  # type: ignore[attr-defined]


def run_point(point: Point, wishes: list[dict[str, Any]], models: Models | None = None) -> dict[str, Any]:
    """Propose (and simulate) one point; a failure is recorded in the row, never raised. `models` is the memory of
    built models that the points of one batch share (a point that varies only the weights reuses them)."""
    from solver.redistribute.proposal import propose

    row: dict[str, Any] = {"point": point.key, "wish_set": point.wish_set, "forecast": point.forecast,
                           "stress": point.stress, "policy": json.dumps(point.policy, sort_keys=True),
                           "scope": str(point.policy.get("scope", "national"))}
    started = time.perf_counter()
    try:
        proposal = propose(wishes, policy=dict(point.policy, forecast=point.forecast), models=models)
    except Exception as exc:  # a bad point is a result too: say what went wrong and go on
        return {**row, "termination": "error", "solution": "none", "error": f"{type(exc).__name__}: {exc}"[:500]}
    terms = proposal.objective["terms"]  # the whole proposal (to_dict) is built only to be simulated
    short = min(sum(p.effective for p in proposal.setup.participants.values() if p.gives),
                sum(p.effective for p in proposal.setup.participants.values() if not p.gives))
    row.update({
        "termination": proposal.termination.value, "solution": proposal.solution.value,
        # the relative gap a stopped search certified (0 when proven; empty when it certified none): a front is
        # drawn from proven points only
        "gap": 0.0 if proposal.termination.value == "optimal" else (
            round(float(proposal.solver["gap"]), 6) if proposal.solver.get("gap") else None),
        "solve_s": round(time.perf_counter() - started, 4),
        "wish_fulfilment": round(terms["volume_permille"] * 100 / short, 6) if short else 1.0,
        "min_ratio": terms["min_ratio"], "unequal_permille": terms["unequal_permille"],
        "population_deviation_permille": terms["population_deviation_permille"],
        "cross_county_transfers": terms["cross_county_transfers"], "transfers": terms["transfers"],
        "volume_permille": terms["volume_permille"], "error": "",
    })
    if point.simulate is not None and proposal.feasible:
        from solver.data import load_municipalities
        from solver.simulate import parse_params, report, scenario_from_proposal, simulate

        municipalities = load_municipalities()
        # stress raises the children, never the forecast the compensation and the capacity follow
        params = parse_params({**point.simulate, "arrivals": [point.forecast * point.stress],
                               "forecast": [point.forecast]}, {m.code for m in municipalities})
        scenario = scenario_from_proposal(proposal.to_dict(), municipalities)
        national = report(scenario, params, simulate(scenario, params))["national"]
        within = national.get("no_allocation_within", {})
        row.update({"sim_hhi": national["hhi"], "sim_gini": national["gini"], "sim_top10_share": national["top10_share"],
                    "sim_no_allocation_1y": within.get("1"), "sim_no_allocation_3y": within.get("3"),
                    "sim_state_cost_sek": national["state_cost_sek_per_year"]})
    return row


Task = tuple[Point, list[dict[str, Any]]]  # a point and its wishes
BATCH = 100  # points at most in one batch of a pool or cluster


def _run_batch(batch: list[Task]) -> list[dict[str, Any]]:
    """The points of a batch in one process, in order, sharing one memory of models: 16 weightings of the national
    sample took 4.6 s so against 7.7 s each on its own (benchmarks/README.md)."""
    models = Models()
    return [run_point(point, wishes, models) for point, wishes in batch]


def _batches(tasks: list[Task], workers: int) -> list[list[Task]]:
    """Consecutive points (a grid's weightings of one wish set are neighbours) in batches small enough that every
    worker gets several, so that none idles long at the end, and that a lost worker costs little to redo."""
    size = max(1, min(BATCH, len(tasks) // (4 * workers)))
    return [tasks[i:i + size] for i in range(0, len(tasks), size)]



class Progress:
    """The sweep's progress with `rich` (rate and time left) on a terminal; a quiet line per tenth elsewhere."""

    def __init__(self, total: int, done: int, stream=sys.stderr):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        self.total, self.done, self.stream = total, done, stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.next_line = done + max(1, total // 10)
        self.bar = None
        if self.tty:
            self.bar = Bar("sweep", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                           console=Console(file=stream), transient=False)
            self.task = self.bar.add_task("sweep", total=total, completed=done)
            self.bar.start()

    def step(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
            if self.done == self.total:
                self.bar.stop()
        elif self.done >= self.next_line or self.done == self.total:
            self.stream.write(f"sweep: {self.done}/{self.total} points\n")
            self.stream.flush()
            self.next_line = self.done + max(1, self.total // 10)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_sweep(grid: Grid, out: str | Path, *, workers: int | None = None, dask: str | None = None,
              progress: bool = True, on_row: Callable[[dict[str, Any]], None] | None = None,
              cancel: threading.Event | None = None) -> list[dict[str, Any]]:
    """Run every point not yet in `out/results.csv`; write results.csv, results.parquet, meta.json, pareto.*.

    A results folder made with other settings is refused, so a resumed sweep never mixes two grids.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta_path, csv_path = out / "meta.json", out / "results.csv"
    if meta_path.exists():
        stored = json.loads(meta_path.read_text(encoding="utf-8"))
        if stored.get("digest") != grid.digest:
            raise InputError([InputProblem(str(meta_path), "settings", "the results there come from another grid, "
                                           "wish sets or versions; use another --out folder")], what="sweep")
    else:
        meta_path.write_text(json.dumps({"digest": grid.digest, "settings": grid.settings, "machine": machine()},
                                        indent=1, default=str) + "\n", encoding="utf-8")
    rows = read_results(csv_path)
    done = {r["point"] for r in rows}
    todo = [p for p in grid.points if p.key not in done]
    bar = Progress(len(grid.points), len(done)) if progress else None
    with csv_path.open("a", newline="", encoding="utf-8") as f, contextlib.closing(bar) if bar else nullcontext():
        writer = csv.DictWriter(f, fieldnames=RESULT_FIELDS, lineterminator="\n")
        if not done:
            writer.writeheader()
        for row in _execute(todo, grid, workers, dask, cancel):
            row = {k: row.get(k, "") for k in RESULT_FIELDS}
            writer.writerow(row)
            f.flush()  # a row on disk is a point an interrupted sweep will not redo
            rows.append(_typed(row))
            if bar is not None:
                bar.step()
            if on_row is not None:
                on_row(row)
    order = {p.key: i for i, p in enumerate(grid.points)}
    rows.sort(key=lambda r: order.get(r["point"], len(order)))
    write_parquet(rows, out / "results.parquet", grid)
    write_pareto(rows, out)
    return rows


def _execute(points: list[Point], grid: Grid, workers: int | None, dask: str | None,
             cancel: threading.Event | None = None) -> Iterable[dict[str, Any]]:
    """Rows as points finish; `cancel` stops before the next point (what is done stays in the results)."""
    tasks = [(p, grid.wish_sets[p.wish_set]) for p in points]
    if dask is not None:
        yield from _execute_dask(tasks, dask)
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        models = Models()
        for point, wishes in tasks:
            _stop_if(cancel)
            yield run_point(point, wishes, models)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_run_batch, batch) for batch in _batches(tasks, workers)]
        try:
            for future in as_completed(futures):
                yield from future.result()
                _stop_if(cancel)
        finally:
            for future in futures:
                future.cancel()


def _stop_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        from solver.redistribute.backend import Cancelled

        raise Cancelled("the sweep was cancelled; the points done so far are kept and a rerun resumes")


def _execute_dask(tasks: list[Task], address: str) -> Iterable[dict[str, Any]]:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise InputError([InputProblem("command line", "--dask", "needs the dask extra: pip install "
                                       "'andelstal[dask]'")], what="sweep") from None
    cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True) if address == "local" else None
    client = Client(cluster if cluster is not None else address)
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        futures = client.map(_run_batch, _batches(tasks, workers), pure=False)
        for future in dask_completed(futures):
            yield from future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


NUMERIC = {"forecast", "stress", "gap", "solve_s", "wish_fulfilment", "min_ratio", "unequal_permille",
           "population_deviation_permille", "cross_county_transfers", "transfers", "volume_permille", "sim_hhi",
           "sim_gini", "sim_top10_share", "sim_no_allocation_1y", "sim_no_allocation_3y", "sim_state_cost_sek"}


def _typed(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in RESULT_FIELDS:
        v = row.get(k, "")
        out[k] = (None if v in ("", None) else float(v)) if k in NUMERIC else ("" if v is None else str(v))
    return out


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [_typed(r) for r in csv.DictReader(f)]


def write_parquet(rows: list[dict[str, Any]], path: Path, grid: Grid) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {k: [r[k] for r in rows] for k in RESULT_FIELDS}
    schema = pa.schema([(k, pa.float64() if k in NUMERIC else pa.string()) for k in RESULT_FIELDS],
                       metadata={"andelstal.digest": grid.digest,
                                 "andelstal.settings": json.dumps(grid.settings, default=str),
                                 "andelstal.machine": json.dumps(machine())})
    pq.write_table(pa.Table.from_pydict(columns, schema=schema), path)


def pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Proven points (every level optimal) that no other proven point beats on both wish fulfilment (more) and
    population deviation (less). Call it per scope: national and county fronts are not one trade-off.

    One pass from the most fulfilment down: a point stands when its deviation is the least of its own
    fulfilment and below every deviation seen at a higher fulfilment."""
    ok = [r for r in rows if r["wish_fulfilment"] is not None and r["population_deviation_permille"] is not None
          and r["termination"] == "optimal"]  # a stopped search's point is where it stopped, not a trade-off
    ok.sort(key=lambda r: (-r["wish_fulfilment"], r["population_deviation_permille"]))
    front: list[dict[str, Any]] = []
    best_above = float("inf")  # the least deviation among points with more fulfilment
    for _, same in itertools.groupby(ok, key=lambda r: r["wish_fulfilment"]):
        group = list(same)
        least = group[0]["population_deviation_permille"]
        if least < best_above:
            front += [r for r in group if r["population_deviation_permille"] == least]
        best_above = min(best_above, least)
    return sorted(front, key=lambda r: (r["wish_fulfilment"], r["point"]))


def _scope(row: Mapping[str, Any]) -> str:
    return str(row.get("scope") or json.loads(row["policy"]).get("scope", "national"))


def _group(row: Mapping[str, Any]) -> tuple[str, str, float, float]:
    """What one front compares weightings within: the scope, the wish set, the forecast and the stress."""
    return _scope(row), str(row["wish_set"]), float(row["forecast"] or 0), float(row["stress"] or 0)


def fronts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The proven Pareto front of each scope, wish set, forecast and stress, one after the other."""
    return [r for group in sorted({_group(r) for r in rows}) for r in pareto([r for r in rows if _group(r) == group])]


def _weights(row: Mapping[str, Any]) -> str:
    """A front point's weighting, short: `pop 0.1, län 10`."""
    weights = json.loads(row["policy"]).get("weights", {})
    names = {"population": "pop", "cross_county": "län", "unmet": "ouppfyllt", "unequal": "ojämnt", "transfers": "antal"}
    return ", ".join(f"{names.get(k, k)} {v:g}" for k, v in sorted(weights.items()) if k in names) or "standard"


def write_pareto(rows: list[dict[str, Any]], out: Path) -> None:
    """pareto.csv (the proven front of each scope), unproven.csv (points whose search stopped, with their gap), and
    pareto.png: every point by scope, unproven ones apart (grey crosses), the front's points ringed and labelled
    with their weighting, never joined by lines across points between them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scopes = sorted({_scope(r) for r in rows})
    front_rows_all = fronts(rows)
    front_of = {scope: [r for r in front_rows_all if _scope(r) == scope] for scope in scopes}
    with (out / "pareto.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=RESULT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(r for scope in scopes for r in front_of[scope])
    unproven = [r for r in rows if r["termination"] != "optimal" and r["solution"] != "none"]  # stopped with a table
    with (out / "unproven.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=RESULT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(unproven)
    ok = [r for r in rows if r["wish_fulfilment"] is not None and r["population_deviation_permille"] is not None]
    fig, ax = plt.subplots(figsize=(9, 6))
    markers = {"national": "o", "county": "s"}
    labels = {"national": "nationellt", "county": "inom län"}
    for scope in scopes:
        mine = [r for r in ok if _scope(r) == scope and r["termination"] == "optimal"]
        ax.scatter([r["population_deviation_permille"] for r in mine], [r["wish_fulfilment"] for r in mine],
                   marker=markers.get(scope, "^"), s=26, alpha=0.7, label=f"{labels.get(scope, scope)}: bevisade punkter")
        front_rows = front_of[scope]
        ax.scatter([r["population_deviation_permille"] for r in front_rows], [r["wish_fulfilment"] for r in front_rows],
                   marker=markers.get(scope, "^"), s=90, facecolors="none", edgecolors="#c0392b", linewidths=1.5,
                   label=f"{labels.get(scope, scope)}: paretofront")
        for r in front_rows[:12]:
            ax.annotate(_weights(r), (r["population_deviation_permille"], r["wish_fulfilment"]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
    stopped = [r for r in ok if r["termination"] != "optimal"]
    if stopped:
        ax.scatter([r["population_deviation_permille"] for r in stopped], [r["wish_fulfilment"] for r in stopped],
                   marker="x", color="#888888", s=24, label=f"ej bevisade ({len(stopped)}, se unproven.csv)")
    if ok:
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("avvikelse från andelar efter folkmängd (‰, mindre är jämnare)")
    ax.set_ylabel("måluppfyllelse (omfördelat ÷ den kortare sidan)")
    ax.set_title(f"{len(ok)} punkter, {sum(len(f) for f in front_of.values())} på paretofronten, "
                 f"{len(stopped)} ej bevisade")
    fig.tight_layout()
    fig.savefig(out / "pareto.png", dpi=110)
    plt.close(fig)


def machine() -> dict[str, Any]:
    """The machine a result came from, stored beside it."""
    return {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "system": platform.platform()}

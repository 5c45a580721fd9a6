"""The `andelstal` command: base shares, input checks, proposals, and the demo. The only place that prints."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from solver.apportion import Method
from solver.data import load_municipalities, sample_wishes_path
from solver.domain import InputError, InputProblem, format_permille, parse_permille
from solver.io import write_xlsx
from solver.policy import read_policy
from solver.redistribute.check import CheckFailed
from solver.shares import ShareKey, compute_base_shares, read_share_table, share_table_csv

EXIT_BAD_INPUT = 2
EXIT_NO_TABLE = 3


def _key(args: argparse.Namespace) -> ShareKey:
    weights = dict(ShareKey().weights)
    for item in args.weight or []:
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = Fraction(value.strip())
        except ValueError:
            raise InputError([InputProblem("command line", "--weight", f"{item!r} is not NAME=NUMBER")]) from None
    try:
        return ShareKey(weights=weights, floor_units=parse_permille(args.floor), method=Method.parse(args.method))
    except ValueError as exc:
        raise InputError([InputProblem("command line", "--method/--weight/--floor", str(exc))]) from None


def cmd_shares(args: argparse.Namespace) -> int:
    municipalities = load_municipalities()
    table = compute_base_shares(municipalities, _key(args))
    text = share_table_csv(table, municipalities)
    if args.out:
        out = Path(args.out)
        if out.suffix.lower() == ".xlsx":
            rows: list[list[object]] = [["code", "name", "county_code", "share_permille"]]
            rows += [[m.code, m.name, m.county_code, table.units[m.code] / 100] for m in municipalities]  # numbers
            write_xlsx(out, {"shares": rows, "note": [["note"], [table.note]]})
        elif out.suffix.lower() == ".json":
            out.write_text(json.dumps({"illustrative": True, "note": table.note, "key": _key(args).describe(),
                                       "ties": [list(t) for t in table.ties],
                                       "shares": [{"code": c, "share_permille": u / 100} for c, u in table.units.items()]},
                                      ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        else:
            out.write_text(text, encoding="utf-8")
        print(f"wrote {out} (290 municipalities, sum {format_permille(sum(table.units.values()))}‰)")
    else:
        sys.stdout.write(text)
    print(f"# {table.note}", file=sys.stderr)
    for tie in table.ties:
        print(f"# tie broken by the documented rule among {', '.join(tie)}", file=sys.stderr)
    return 0


def _policy(args: argparse.Namespace):
    overrides = {"scope": args.scope, "forecast": args.forecast, "time_limit_s": args.time_limit}
    return read_policy(args.policy, **overrides)


def _shares(args: argparse.Namespace, municipalities):
    return read_share_table(args.shares, municipalities) if args.shares else compute_base_shares(municipalities)


def cmd_check(args: argparse.Namespace) -> int:
    from solver.wishes import read_wishes

    municipalities = load_municipalities()
    policy = _policy(args)
    base = _shares(args, municipalities)
    wishes = read_wishes(args.wishes, municipalities, base, policy)
    givers = sum(1 for w in wishes if w.gives)
    print(f"OK: {len(wishes)} wishes ({givers} to give, {len(wishes) - givers} to receive); "
          f"shares sum to 1000.00‰; policy scope {policy.scope.value}")
    return 0


def _summary(proposal) -> str:
    data = proposal.to_dict()
    lines = [f"status: termination {data['status']['termination']}, solution {data['status']['solution']}"
             f" ({data['solver']['backend']}, {data['solver']['wall_time_s']} s)"]
    if proposal.base.illustrative:
        lines.append(f"base shares: {proposal.base.note}")
    for d in data["diagnosis"]:
        lines.append(f"diagnosis: {d['text_en']}")
    lines.append(f"{'code':<5} {'name':<18} {'base‰':>7} {'proposed‰':>10} {'delta‰':>8} {'children':>8}")
    for row in data["shares"]:
        if row["wish"] or row["delta_permille"]:
            lines.append(f"{row['code']:<5} {row['name'][:18]:<18} {row['base_permille']:>7.2f} "
                         f"{row['proposed_permille']:>10.2f} {row['delta_permille']:>8.2f} {row['expected_children']:>8}")
    lines.append("transfers:")
    for t in data["transfers"]:
        cross = " (cross-county)" if t["cross_county"] else ""
        lines.append(f"  {t['giver']} → {t['receiver']}: {t['permille']:.2f}‰{cross}")
    terms = data["objective"]["terms"]
    lines.append("objective: " + ", ".join(f"{k} {v}" for k, v in terms.items()))
    return "\n".join(lines)


def cmd_propose(args: argparse.Namespace) -> int:
    from solver.redistribute.proposal import propose
    from solver.report import write_proposal

    proposal = propose(args.wishes, shares=args.shares, policy=_policy(args), backend=args.backend)
    if args.out:
        write_proposal(proposal, args.out, timing=not args.no_timing, language=args.language, csv_convention=args.csv)
        print(f"wrote {args.out}")
    print(_summary(proposal))
    return 0 if proposal.feasible else EXIT_NO_TABLE


def cmd_demo(args: argparse.Namespace) -> int:
    from solver.redistribute.proposal import propose

    print(f"andelstal demo: a national proposal for the sample wishes in {sample_wishes_path().name}")
    proposal = propose(sample_wishes_path(), backend=args.backend, time_limit_s=args.time_limit)
    print(_summary(proposal))
    ange = next(r for r in proposal.rows() if r["code"] == "2260")
    print(f"\nexplanation for Ånge:\n  {ange['explanation']['text_en']}\n  {ange['explanation']['text_sv']}")
    return 0 if proposal.feasible else EXIT_NO_TABLE


def _scenario(path: str | None, municipalities, label: str, volunteers: dict[str, int]):
    from solver.simulate import scenario_from_proposal, scenario_from_table

    if path is None:
        return scenario_from_table(compute_base_shares(municipalities).units, municipalities, "today's shares (illustrative)",
                                   volunteers)
    if path.lower().endswith(".json"):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if isinstance(data, dict) and "shares" in data and "transfers" in data:
            scenario = scenario_from_proposal(data, municipalities, label or Path(path).stem)
            scenario.volunteers = volunteers or scenario.volunteers
            return scenario
    table = read_share_table(path, municipalities)
    return scenario_from_table(table.units, municipalities, label or Path(path).stem, volunteers)


def cmd_compare(args: argparse.Namespace) -> int:
    from solver.compare import compare, summary_lines, write_comparison

    loaded = []
    for name in (args.a, args.b):
        try:
            loaded.append(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise InputError([InputProblem(name, "file", f"cannot be read as JSON: {exc}",
                                           sv=f"kan inte läsas som JSON: {exc}")], what="proposal") from None
    result = compare(loaded[0], loaded[1], load_municipalities(), label_a=args.a, label_b=args.b)
    if args.out:
        write_comparison(result, args.out, language=args.language)
        print(f"wrote {args.out} ({len(result.changed)} municipalities differ)")
    else:
        print("\n".join(summary_lines(result, args.language)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from solver.decision import decision_html, decision_pdf

    try:
        data = json.loads(Path(args.proposal).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError([InputProblem(args.proposal, "file", f"cannot be read as JSON: {exc}",
                                       sv=f"kan inte läsas som JSON: {exc}")], what="proposal") from None
    out = Path(args.out)
    if out.suffix.lower() == ".html":
        out.write_text(decision_html(data, load_municipalities(), args.title or ""), encoding="utf-8")
    elif out.suffix.lower() == ".pdf":
        out.write_bytes(decision_pdf(data, load_municipalities(), args.title or ""))
    else:
        raise InputError([InputProblem(args.out, "out", "must end in .pdf or .html", sv="ska sluta på .pdf eller .html")],
                         what="output")
    print(f"wrote {out}")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    from solver.template import wish_form

    municipalities = load_municipalities()
    base = read_share_table(args.shares, municipalities) if args.shares else compute_base_shares(municipalities)
    if Path(args.out).suffix.lower() != ".xlsx":
        raise InputError([InputProblem(args.out, "out", "must end in .xlsx", sv="ska sluta på .xlsx")], what="output")
    count = wish_form(municipalities, base, args.county.zfill(2), args.out)
    print(f"wrote {args.out} (the wish form of county {args.county.zfill(2)}, {count} municipalities)")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from solver.simulate import parse_params, plots, read_start, run, scenario_from_table, write_result
    from solver.wishes import read_wishes

    municipalities = load_municipalities()
    codes = {m.code for m in municipalities}
    raw: dict = {"rule": args.rule, "years": args.years, "arrivals_model": args.arrivals_model,
                 "tie_share": args.tie_share, "comparison": args.comparison, "replicates": args.replicates,
                 "seed": args.seed, "history_children": args.history_children, "redistribution": args.redistribution}
    if args.arrivals is not None:
        try:
            raw["arrivals"] = [int(a) if a.strip().lstrip("-").isdigit() else a for a in args.arrivals.split(",")]
        except ValueError:
            raw["arrivals"] = args.arrivals
    if args.burn_in is not None:
        raw["burn_in"] = [int(a) if a.strip().isascii() and a.strip().isdigit() else a for a in args.burn_in.split(",")]
    if args.proposal and args.arrivals is None:  # start in the proposal's year, with the forecast it used
        from solver.simulate import arrivals_from

        try:
            forecast = json.loads(Path(args.proposal).read_text(encoding="utf-8"))["policy"]["forecast"]
            raw["arrivals"] = list(arrivals_from(int(forecast)))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # reading the proposal below says what is wrong with it
    params = parse_params({k: v for k, v in raw.items() if v is not None}, codes)
    volunteers: dict[str, int] = {}
    if args.wishes:
        base = compute_base_shares(municipalities)
        volunteers = {w.code: w.amount or 0 for w in read_wishes(args.wishes, municipalities, base, read_policy(None))
                      if not w.gives}
    scenario = _scenario(args.proposal or args.shares, municipalities, args.label or "", volunteers)
    if args.capacity:
        from solver.simulate import read_capacity

        scenario = replace(scenario, capacity=read_capacity(args.capacity, municipalities))
    start = read_start(args.start, municipalities, scenario.base) if args.start else None
    against = against_params = None
    if args.against == "base":
        against = scenario_from_table(scenario.base, municipalities, "base table", scenario.volunteers)
    elif args.against in ("equalising", "priority"):
        against_params = replace(params, rule=args.against)
    elif args.against:
        against = _scenario(args.against, municipalities, "", scenario.volunteers)
    if against is not None:  # both sides with the same stated capacity
        against = replace(against, capacity=scenario.capacity)
    factors = [int(f) for f in args.stress.split(",")] if args.stress else []
    result = run(scenario, params, start=start, against=against, against_params=against_params,
                 stress_factors=factors)
    write_result(result, args.out)
    print(f"wrote {args.out}")
    if args.plots:
        for path in plots(result, args.plots, result.get("other"), language=args.language):
            print(f"wrote {path}")
    n = result["national"]
    print(f"{result['scenario']}: {n['children_mean']} children a year on average, equalising share "
          f"{n['equalising_share']:.0%}, top ten take {n['top10_share']:.0%}, Gini {n['gini']}, state cost "
          f"{n['state_cost_sek_per_year']:,} SEK a year")
    for k, v in n.get("no_allocation_within", {}).items():
        print(f"  municipalities with no allocation within {k} year(s): {v}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from solver.sweep import fronts, load_grid, run_sweep

    grid = load_grid(args.grid)
    print(f"sweep: {len(grid.points)} points ({len(grid.wish_sets)} wish set(s)) into {args.out}", flush=True)
    rows = run_sweep(grid, args.out, workers=args.workers, dask=args.dask, progress=not args.quiet)
    failed = sum(1 for r in rows if r["solution"] == "none")
    front = fronts(rows)
    unproven = sum(1 for r in rows if r["termination"] != "optimal" and r["solution"] != "none")
    print(f"wrote {args.out}/results.csv, results.parquet, pareto.csv, unproven.csv and pareto.png: {len(rows)} points, "
          f"{failed} without a table, {unproven} not proven (left out of the front), {len(front)} on the Pareto fronts")
    for r in front:
        print(f"  {r['scope']}: fulfilment {r['wish_fulfilment']:.4f}, population deviation "
              f"{r['population_deviation_permille']:.3f}‰, cross-county {r['cross_county_transfers']:.0f}: {r['policy']} "
              f"({r['wish_set']})")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shares", help="a share table (CSV/XLSX code,share_permille) instead of the computed key")
    p.add_argument("--policy", help="a policy file (TOML or JSON)")
    p.add_argument("--scope", choices=["national", "county"])
    p.add_argument("--forecast", type=int, help="forecast of children for the year")
    p.add_argument("--time-limit", type=float,
                   help="solver work limit: CP-SAT deterministic seconds (reproducible), wall seconds for PuLP")


Mount = Callable[[Any], None]  # adds commands to the parser's subcommands (the service mounts serve and tokens)


def parser(mount: Mount | None = None) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="andelstal", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("shares", help="compute the base share table (illustrative key)")
    p.add_argument("--method", default="hamilton", help="hamilton, webster, jefferson, adams, huntington-hill")
    p.add_argument("--weight", action="append", help="NAME=NUMBER, e.g. received_children=0.25")
    p.add_argument("--floor", default="1.00", help="the least share per municipality in per mille")
    p.add_argument("--out", help="output file (.csv, .xlsx or .json); standard output when left out")
    p.set_defaults(func=cmd_shares)
    p = sub.add_parser("check", help="validate wishes, shares and policy without solving")
    p.add_argument("--wishes", required=True)
    _common(p)
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("propose", help="propose a redistribution")
    p.add_argument("--wishes", required=True)
    _common(p)
    p.add_argument("--backend", default="cpsat", choices=["cpsat", "pulp", "highs", "cbc"])
    p.add_argument("--out", help=".json (full proposal), .csv (share table) or .xlsx (all sheets)")
    p.add_argument("--no-timing", action="store_true", help="leave wall times out, for byte-identical files")
    p.add_argument("--language", choices=["sv", "en"],
                   help="headers and texts of .csv/.xlsx (default: Swedish for .xlsx, machine columns for .csv)")
    p.add_argument("--csv", choices=["plain", "sv"], default="plain",
                   help="sv: semicolons, decimal comma and a BOM, as Swedish Excel opens it")
    p.set_defaults(func=cmd_propose)
    p = sub.add_parser("demo", help="print a national proposal for the shipped sample wishes")
    p.add_argument("--backend", default="cpsat", choices=["cpsat", "pulp", "highs", "cbc"])
    p.add_argument("--time-limit", type=float, default=5.0)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("report", help="write the decision document (beslutsunderlag) of a proposal, in Swedish")
    p.add_argument("--proposal", required=True, help="a proposal JSON of `andelstal propose`")
    p.add_argument("--out", required=True, help="beslutsunderlag.pdf (or .html)")
    p.add_argument("--title", help="a line for the title, e.g. the round: 2027")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("template", help="write a county's wish form (XLSX with drop-downs) that propose reads back")
    p.add_argument("--county", required=True, help="the county code, e.g. 22")
    p.add_argument("--shares", help="the round's share table (CSV/XLSX); default the illustrative key")
    p.add_argument("--out", required=True, help="an .xlsx file, e.g. önskemål.xlsx")
    p.set_defaults(func=cmd_template)
    p = sub.add_parser("compare", help="compare two proposals per municipality and per county")
    p.add_argument("a", help="the first proposal (JSON of `andelstal propose`)")
    p.add_argument("b", help="the second proposal")
    p.add_argument("--out", help=".json, .csv (Swedish convention with --language sv) or .xlsx; else a summary")
    p.add_argument("--language", choices=["sv", "en"], default="sv", help="headers and numbers (default sv)")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("simulate", help="simulate allocations under a share table or a proposal")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--shares", help="a share table (CSV/XLSX code,share_permille); default today's (illustrative)")
    source.add_argument("--proposal", help="a proposal JSON of `andelstal propose`")
    p.add_argument("--wishes", help="wishes whose receivers are the volunteers of the priority rule")
    p.add_argument("--against", help="compare with: base (the table before redistribution), equalising or priority "
                                     "(the other rule), or another share table / proposal file")
    p.add_argument("--rule", choices=["equalising", "priority"])
    p.add_argument("--years", type=int)
    p.add_argument("--arrivals", help="children per year, e.g. 400,500,200,200 (the last repeats)")
    p.add_argument("--arrivals-model", choices=["fixed", "poisson"])
    p.add_argument("--tie-share", type=float)
    p.add_argument("--comparison", choices=["before", "after"], help="before: Adams' sequence; after: D'Hondt's")
    p.add_argument("--start", "--history", dest="start",
                   help="CSV code,allocations[,equalising][,target]: each municipality's allocations since 2016 (and "
                        "its target so far in children), counted toward fulfilment (default: every municipality on "
                        "target, --history-children behind the country)")
    p.add_argument("--capacity", help="CSV code,children: the volunteers' capacity a year as the round states it "
                                      "(default: the wish in per mille of the forecast, rounded half up)")
    p.add_argument("--history-children", type=int,
                   help="the allocations since 2016 assumed behind the country when no --history is given (4390)")
    p.add_argument("--burn-in", help="allocations a year before the simulated years, from 2016, e.g. the published "
                                     "volumes: the rule is run from zero under the base table over them to find where "
                                     "fulfilment starts (instead of --history or the assumed start)")
    p.add_argument("--redistribution", choices=["once", "yearly"],
                   help="once (default): the proposal holds the first year, the base table after; yearly: every year")
    p.add_argument("--replicates", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--stress", help="factors of raised arrivals, e.g. 2,5,10")
    p.add_argument("--label", help="the scenario's name in the output")
    p.add_argument("--out", required=True, help=".json, .csv or .xlsx")
    p.add_argument("--plots", help="a directory for PNG plots")
    p.add_argument("--language", choices=["sv", "en"], default="sv", help="the plots' words (default sv)")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("sweep", help="propose (and simulate) every point of a grid of policies; resumable")
    p.add_argument("--grid", required=True, help="a grid file (TOML); see examples/sweep-small.toml")
    p.add_argument("--workers", type=int, help="local worker processes (default: the number of cores)")
    p.add_argument("--dask", help="run on a Dask cluster: tcp://HOST:8786, or local for a LocalCluster")
    p.add_argument("--out", required=True, help="a folder for results.csv, results.parquet, pareto.png, meta.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)
    if mount is not None:
        mount(sub)
    return top


def main(argv: list[str] | None = None, mount: Mount | None = None,
         bad_input: tuple[type[Exception], ...] = ()) -> int:
    """Run a command; `mount` adds commands and `bad_input` more errors that are the user's (exit 2)."""
    args = parser(mount).parse_args(argv)
    users: tuple[type[Exception], ...] = (InputError, *bad_input)
    try:
        return args.func(args)
    except users as exc:
        print(f"andelstal: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CheckFailed as exc:  # a solver bug: say so plainly
        print(f"andelstal: internal check failed, please report: {exc}", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())

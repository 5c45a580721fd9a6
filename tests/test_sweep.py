"""Sweeps: the grid, parallel and distributed runs that agree, failures kept, resuming, refusing other settings."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from solver.cli import main
from solver.domain import InputError
from solver.sweep import load_grid, pareto, read_results, run_sweep

GRID = """
[policy]
objective = "weighted"
"weights.population" = [0.0, 1.0]
"weights.cross_county" = {{ from = 0, to = 10, step = 10 }}
scope = "county"
binding_agreements = {binding}

[wishes]
files = ["w.json"]

[scenarios]
forecast = [500]
stress = [1, 2]

[simulate]
replicates = 20
years = 2
seed = 1
"""
WISHES = {"wishes": [{"code": "2262", "wish": "give", "amount_permille": "all", "partner": "2260"},
                     {"code": "2281", "wish": "give", "amount_permille": 1.5},
                     {"code": "2260", "wish": "receive", "amount_permille": 1.0},
                     {"code": "0114", "wish": "give", "amount_permille": 2},
                     {"code": "0180", "wish": "receive", "amount_permille": 1}]}


def grid_file(tmp_path, binding="false", text=GRID):
    (tmp_path / "w.json").write_text(json.dumps(WISHES))
    path = tmp_path / "grid.toml"
    path.write_text(text.format(binding=binding))
    return path


def comparable(rows):
    return [{k: v for k, v in r.items() if k != "solve_s"} for r in rows]


def test_grid_points_and_ranges(tmp_path):
    grid = load_grid(grid_file(tmp_path))
    assert len(grid.points) == 2 * 2 * 2  # population × cross_county × stress
    weights = sorted({json.dumps(p.policy["weights"], sort_keys=True) for p in grid.points})
    assert weights == ['{"cross_county": 0, "population": 0.0}', '{"cross_county": 0, "population": 1.0}',
                       '{"cross_county": 10, "population": 0.0}', '{"cross_county": 10, "population": 1.0}']
    assert len({p.key for p in grid.points}) == len(grid.points)


@pytest.mark.parametrize("text, field", [
    (GRID.replace('scope = "county"', 'scope = "planet"'), "policy.scope"),
    (GRID.replace("[scenarios]", "[colours]"), "colours"),
    (GRID.replace('"weights.population" = [0.0, 1.0]', '"weights.population" = []'), "policy.weights.population"),
    (GRID.replace("replicates = 20", "replicates = 0"), "simulate.replicates"),
    (GRID.replace('files = ["w.json"]', 'files = ["missing.json"]'), "wishes.files"),
])
def test_bad_grids_name_the_field(tmp_path, text, field):
    with pytest.raises(InputError) as err:
        load_grid(grid_file(tmp_path, text=text))
    assert any(p.field == field for p in err.value.problems), err.value


def test_one_and_two_workers_agree_and_a_rerun_computes_nothing(tmp_path):
    grid = load_grid(grid_file(tmp_path))
    one = run_sweep(grid, tmp_path / "one", workers=1, progress=False)
    two = run_sweep(grid, tmp_path / "two", workers=2, progress=False)
    assert comparable(one) == comparable(two)
    assert all(r["solution"] == "optimal" and r["sim_gini"] is not None for r in one)
    again = []
    rows = run_sweep(grid, tmp_path / "one", workers=2, progress=False, on_row=again.append)
    assert again == [] and comparable(rows) == comparable(one)
    table = pq.read_table(tmp_path / "one" / "results.parquet")
    assert table.num_rows == 8 and table.schema.metadata[b"andelstal.digest"].decode() == grid.digest
    assert (tmp_path / "one" / "pareto.png").stat().st_size > 5000
    front = pareto(rows)
    assert front and all(not any(o["wish_fulfilment"] > f["wish_fulfilment"]
                                 and o["population_deviation_permille"] < f["population_deviation_permille"]
                                 for o in rows) for f in front)


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path):
    grid = load_grid(grid_file(tmp_path))
    seen = []

    def stop_after_three(row):
        seen.append(row)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(grid, tmp_path / "out", workers=1, progress=False, on_row=stop_after_three)
    assert len(read_results(tmp_path / "out" / "results.csv")) == 3
    rest = []
    rows = run_sweep(grid, tmp_path / "out", workers=1, progress=False, on_row=rest.append)
    assert len(rest) == 5 and len(rows) == 8 and len({r["point"] for r in rows}) == 8


def test_a_results_folder_of_another_grid_is_refused(tmp_path):
    run_sweep(load_grid(grid_file(tmp_path)), tmp_path / "out", workers=1, progress=False)
    other = load_grid(grid_file(tmp_path, text=GRID.replace("seed = 1", "seed = 2")))
    with pytest.raises(InputError, match="another grid"):
        run_sweep(other, tmp_path / "out", workers=1, progress=False)


def test_failed_points_are_recorded_and_the_sweep_goes_on(tmp_path):
    # a binding agreement that moves Timrå's whole share into Ånge's smaller room has no table
    rows = run_sweep(load_grid(grid_file(tmp_path, binding="[false, true]")), tmp_path / "out", workers=2,
                     progress=False)
    assert len(rows) == 16
    bound = [r for r in rows if '"binding_agreements": true' in r["policy"]]
    assert bound and all(r["termination"] == "infeasible" and r["solution"] == "none" for r in bound)
    assert all(r["solution"] == "optimal" for r in rows if r not in bound)


def test_a_dask_local_cluster_gives_the_same_results(tmp_path):
    grid = load_grid(grid_file(tmp_path))
    local = run_sweep(grid, tmp_path / "local", workers=1, progress=False)
    distributed = run_sweep(grid, tmp_path / "dask", dask="local", progress=False)
    assert comparable(local) == comparable(distributed)


def test_command_line(tmp_path, capsys):
    assert main(["sweep", "--grid", str(grid_file(tmp_path)), "--workers", "2", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0
    assert "8 points" in capsys.readouterr().out
    assert (tmp_path / "o" / "results.csv").read_text().startswith("point,wish_set,forecast")
    assert main(["sweep", "--grid", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "p")]) == 2


def test_a_real_cluster_loses_a_worker_and_every_point_is_done_once_as_on_one_core(tmp_path):
    """`dask scheduler` and two `dask worker` processes (the distributed package's own commands) on 127.0.0.1; one
    worker is killed as soon as the first point is back (an event, not a timer). The sweep completes, every point
    once, and every row (timing aside) equals the one-worker run made with a busy process beside it."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from distributed import Client

    from tests.server import free_port

    grid = load_grid(grid_file(tmp_path, text=GRID.replace('"weights.population" = [0.0, 1.0]',
                                                           '"weights.population" = [0.0, 0.5, 1.0, 2.0]')))
    assert len(grid.points) == 16
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        alone = run_sweep(grid, tmp_path / "alone", workers=1, progress=False)
    finally:
        busy.kill()
        busy.wait()
    dask = str(Path(sys.executable).parent / "dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": Path(__file__).parent.parent}
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                 **quiet)
    workers = [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                 "--memory-limit", "0"], **quiet) for _ in range(2)]
    try:
        with Client(address, timeout=120) as client:
            client.wait_for_workers(2, timeout=120)
        killed = []

        def kill_one(row):
            if not killed:
                workers[0].send_signal(signal.SIGKILL)
                killed.append(row["point"])

        # in a thread with a bound, so that a cluster that hangs fails this test instead of stalling the suite
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1)
        try:
            rows = pool.submit(run_sweep, grid, tmp_path / "cluster", dask=address, progress=False,
                               on_row=kill_one).result(timeout=600)
        finally:
            pool.shutdown(wait=False)  # a hung sweep is left behind, not waited for
        assert killed and workers[0].wait() == -signal.SIGKILL
        assert len(rows) == 16 and len({r["point"] for r in rows}) == 16
        assert len(read_results(tmp_path / "cluster" / "results.csv")) == 16  # each point written once
        assert comparable(rows) == comparable(alone)
    finally:
        for process in [*workers, scheduler]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


def test_only_proven_points_make_the_front_and_stopped_ones_are_listed(tmp_path):
    # the small wish set is proven at once; a national round of 40 and 10 is not within 0.05 s of work
    text = GRID.replace('scope = "county"', 'scope = ["national", "county"]').replace(
        'binding_agreements = {binding}', 'binding_agreements = {binding}\ntime_limit_s = 0.05').replace(
        'files = ["w.json"]', 'files = ["w.json"]\ngenerated = {{ count = 1, seed = 3, givers = 40, receivers = 10 }}')
    grid = load_grid(grid_file(tmp_path, text=text))
    rows = run_sweep(grid, tmp_path / "out", workers=2, progress=False)
    stopped = [r for r in rows if r["termination"] != "optimal"]
    proven = [r for r in rows if r["termination"] == "optimal"]
    assert stopped and proven
    assert all(r["gap"] == 0 for r in proven) and all(r["gap"] is None or r["gap"] > 0 for r in stopped)
    front = read_results(tmp_path / "out" / "pareto.csv")
    assert front and all(r["termination"] == "optimal" for r in front)
    assert {r["scope"] for r in front} == {"national", "county"}  # a front per scope
    listed = read_results(tmp_path / "out" / "unproven.csv")
    assert sorted(r["point"] for r in listed) == sorted(r["point"] for r in stopped)

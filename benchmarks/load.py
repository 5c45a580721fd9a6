"""Load on the HTTP service: what-if requests for the national instance from concurrent clients.

Usage: python benchmarks/load.py [--clients 16] [--requests 160] [--distinct 16] [--time-limit 5] [--sweeps 2]
                                [--out FILE]

It starts `andelstal serve` on loopback with a fresh SQLite file, takes the development token it prints, and
sends two workloads of POST /v1/what-if with the shipped sample wishes (40 givers, 10 receivers), each client
on a keep-alive connection it opened before the clock started:
- repeated: the same national request `--requests` times (a county board re-checking its wishes);
  equal requests are solved once and the others wait for or reuse that answer;
- distinct: `--distinct` requests that each change one giver's offer, so every one is a real solve.
- distinct beside sweeps: `--distinct` other such requests while `--sweeps` sweeps (of 1,000 weighted points each,
  posted by the same token) run as batch jobs; the issue asks its p99 to stay within twice the distinct p99.
Each is printed with throughput and p50/p99 latency, next to the in-process `propose` time of the same
request measured in this process. Results go to benchmarks/results/load.json with the machine noted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from solver.data import sample_wishes_path  # noqa: E402
from solver.redistribute.proposal import propose  # noqa: E402
from solver.sweep import machine  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(workdir: Path) -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    env = dict(os.environ, ANDELSTAL_ENV="development")
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--quiet",
               "--database-url", f"sqlite:///{workdir}/load.db"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    token = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("andel_"):
            token = line.strip()
            break
    if token is None:
        raise SystemExit(f"the service did not start: {proc.wait()}")
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url, token
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("the service did not answer /healthz")


async def workload(url: str, token: str, bodies: list[dict], clients: int) -> dict:
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    timed: list[tuple[int, float]] = []  # (the request's place in sending order, its latency)
    statuses: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {token}"}

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            place = len(bodies) - queue.qsize() - 1
            started = time.perf_counter()
            res = await http.post("/v1/what-if", json=body)
            timed.append((place, time.perf_counter() - started))
            statuses[res.status_code] = statuses.get(res.status_code, 0) + 1

    # the clients are made before the clock starts: making one loads a TLS context (about 37 ms of CPU here),
    # and made inside the workload, 16 of them held this event loop for 0.6 s while the first requests' clocks
    # ran, a second of latency that was the load generator's, not the service's
    https = [httpx.AsyncClient(base_url=url, headers=headers, timeout=600) for _ in range(clients)]
    try:
        # and each opens its keep-alive connection before the clock starts, as wrk does and as k6 leaves connecting
        # out of a request's duration: in waves of 16 against fresh servers, opening 16 connections inside the wave
        # added 0.05 to 0.07 s to its slowest answer, the generator's set-up rather than the service's answer
        await asyncio.gather(*(http.get("/healthz") for http in https))
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for http in https))
        wall = time.perf_counter() - started
    finally:
        for http in https:
            await http.aclose()
    latencies = sorted(latency for _, latency in timed)
    # the first wave (one request per client) of a repeated workload waits for the one solve; reported apart so
    # that the steady state is visible too, never instead of the p99 over every request
    first = [latency for place, latency in timed if place < clients]
    later = sorted(latency for place, latency in timed if place >= clients)
    return {
        "requests": len(bodies), "clients": clients, "wall_s": round(wall, 3),
        "throughput_per_s": round(len(bodies) / wall, 2),
        "p50_s": round(statistics.median(latencies), 4),
        "p99_s": round(_p99(latencies), 4),
        "max_s": round(latencies[-1], 4),
        "first_wave_max_s": round(max(first), 4),
        "after_first_wave_p99_s": round(_p99(later), 4) if later else None,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": sum(v for k, v in statuses.items() if k != 200),
    }


def start_sweeps(url: str, token: str, count: int) -> list[str]:
    """`count` sweeps of 1,000 weighted points of generated national rounds, each waited for until its job runs or
    waits for a batch thread (they take far longer than the workload beside them)."""
    headers = {"Authorization": f"Bearer {token}"}
    grid = {"grid": {"policy": {"objective": "weighted", "weights.population": {"from": 0, "to": 9.99, "step": 0.01},
                                "time_limit_s": 1},
                     "wishes": {"generated": {"count": 1, "seed": 1}}}}
    jobs = []
    for _ in range(count):
        res = httpx.post(f"{url}/v1/sweeps", json=grid, headers=headers, timeout=120)
        res.raise_for_status()
        jobs.append(res.json()["job_id"])
    return jobs


def stop_sweeps(url: str, token: str, jobs: list[str]) -> list[str]:
    """Cancel the sweeps; their states when the workload ended."""
    headers = {"Authorization": f"Bearer {token}"}
    states = [httpx.get(f"{url}/v1/jobs/{job}", headers=headers, timeout=60).json()["state"] for job in jobs]
    for job in jobs:
        httpx.delete(f"{url}/v1/jobs/{job}", headers=headers, timeout=60)
    return states


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=160)
    ap.add_argument("--distinct", type=int, default=16)
    ap.add_argument("--time-limit", type=float, default=5.0)
    ap.add_argument("--sweeps", type=int, default=2, help="sweeps running during the third workload (0: none)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/load.json"))
    args = ap.parse_args()

    wishes = json.loads(sample_wishes_path().read_text(encoding="utf-8"))["wishes"]
    policy = {"time_limit_s": args.time_limit}
    national = {"wishes": wishes, "policy": policy}
    givers = [i for i, w in enumerate(wishes) if w["wish"] == "give" and w["amount_permille"] != "all"]
    variants = []
    for k in range(2 * args.distinct):  # the first half alone, the second beside the sweeps
        changed = [dict(w) for w in wishes]
        i = givers[k % len(givers)]
        changed[i]["amount_permille"] = round(float(changed[i]["amount_permille"]) - 0.01 * (1 + k // len(givers)), 2)
        variants.append({"wishes": changed, "policy": policy})

    # the generator's own heap (the solver it imports for the in-process timing) is frozen out of its garbage
    # collector, and that timing comes after the load: run before it, in this process, it cost the first wave
    # 0.01 to 0.16 s in four alternating pairs, the generator's latency, not the service's
    gc.collect()
    gc.freeze()
    with tempfile.TemporaryDirectory(prefix="andelstal-load-") as tmp:
        proc, url, token = start_service(Path(tmp))
        try:
            repeated = asyncio.run(workload(url, token, [national] * args.requests, args.clients))
            distinct = asyncio.run(workload(url, token, variants[:args.distinct], args.clients))
            jobs = start_sweeps(url, token, args.sweeps)
            beside = asyncio.run(workload(url, token, variants[args.distinct:], args.clients))
            beside["sweep_jobs"] = stop_sweeps(url, token, jobs)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    in_process = []
    for _ in range(3):
        started = time.perf_counter()
        propose(wishes, policy=policy)
        in_process.append(time.perf_counter() - started)

    result = {
        "machine": machine(),
        "settings": vars(args),
        "in_process_propose_median_s": round(statistics.median(in_process), 4),
        "repeated": repeated,
        "distinct": distinct,
        "distinct_beside_sweeps": beside,
        "beside_sweeps_p99_ratio": round(beside["p99_s"] / distinct["p99_s"], 2),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"in-process propose (same request), median of 3: {result['in_process_propose_median_s']} s")
    print(f"p99 beside {args.sweeps} sweeps / p99 alone: {result['beside_sweeps_p99_ratio']}")
    for name in ("repeated", "distinct", "distinct_beside_sweeps"):
        r = result[name]
        print(f"{name:>9}: {r['requests']} requests, {r['clients']} clients: {r['throughput_per_s']}/s, "
              f"p50 {r['p50_s']} s, p99 {r['p99_s']} s, max {r['max_s']} s, errors {r['errors']} "
              f"(first wave: max {r['first_wave_max_s']} s; after it: p99 {r['after_first_wave_p99_s']} s)")


if __name__ == "__main__":
    main()

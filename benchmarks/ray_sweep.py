"""A sweep in process against the same sweep on Ray with 1 and 2 workers: wall times, speed-up, same table?

Runs the points of a scenario (default ``scenarios/awgn.yaml`` on 4 images) through the executors of
``simulate`` (:mod:`simulation.executors`): in this process, then on a private local Ray instance
with 1 worker, then with 2 (or the ``--workers`` list; ``--address`` joins an existing cluster
instead). For each it prints the start-up time (Ray start, every worker loading the models and
encoding the images; ``simulate`` itself starts the points as soon as the first worker is ready),
the time of the points, the total, the speed-up of the points over 1 Ray worker, and whether
the rows equal the in-process rows (every column but the timings).

Usage::

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824 \\
    OMP_NUM_THREADS=1 python benchmarks/ray_sweep.py [SCENARIO] [--num-images N] [--max-points K] [--workers 1,2]

Needs the ``ray`` extra (``pip install -e ".[ray]"``). Ray workers use 1 thread each; the in-process
run uses ``OMP_NUM_THREADS`` threads (torch's default when unset).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "awgn.yaml"))
    parser.add_argument("--num-images", type=int, default=4, help="override dataset.num_images (default 4)")
    parser.add_argument("--max-points", type=int, help="only the first K sweep points")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts to time, comma-separated (default 1,2)")
    parser.add_argument("--address", help="an existing Ray cluster instead of a private local instance per run")
    return parser.parse_args()


def timed_run(name: str, loaded: Any, points: list[Any], *, workers: int | None, address: str | None) -> dict[str, Any]:
    """Prepare and run ``points`` on one executor; seconds of each phase and the rows."""
    from simulation.executors import make_executor

    start = time.perf_counter()
    with make_executor(name, loaded, runner_options={"progress": False}, address=address, workers=workers) as executor:
        executor.prepare()
        if hasattr(executor, "wait_ready"):
            executor.wait_ready()  # every worker prepared: the points are timed on all of them
        prepared = time.perf_counter()
        rows = sorted(executor.run(points), key=lambda r: r["point"])
        done = time.perf_counter()
        described = executor.describe() or {}
        counters = executor.counters.to_dict()
    return {"startup": prepared - start, "points": done - prepared, "total": time.perf_counter() - start, "rows": rows,
            "rss": described.get("worker_peak_rss_mb_after_prepare"), "counters": counters}


def main() -> None:
    args = parse_args()
    import torch

    from simulation.results import TIME_COLUMNS
    from simulation.scenario import load_scenario

    loaded = load_scenario(args.scenario, num_images=args.num_images)
    points = loaded.points[: args.max_points] if args.max_points else loaded.points
    print(f"{loaded.scenario.name}: {len(points)} points, {loaded.scenario.dataset.num_images} images; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; in-process threads {torch.get_num_threads()}")

    runs = {"in process": timed_run("inprocess", loaded, points, workers=None, address=None)}
    for count in (int(w) for w in args.workers.split(",")):
        runs[f"ray, {count} worker(s)"] = timed_run("ray", loaded, points, workers=count, address=args.address)

    def table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in rows]

    reference = table(runs["in process"]["rows"])
    one = next((r for name, r in runs.items() if name.startswith("ray, 1 ")), None)
    print(f"\n{'run':<20} {'start-up s':>10} {'points s':>9} {'total s':>8} {'points speed-up':>16}  same table")
    for name, run in runs.items():
        speedup = f"{one['points'] / run['points']:.2f}x" if one and name.startswith("ray") else ""
        same = "yes" if table(run["rows"]) == reference else "NO"
        print(f"{name:<20} {run['startup']:10.1f} {run['points']:9.1f} {run['total']:8.1f} {speedup:>16}  {same}")
    print("\nwork of the points (each Ray worker keeps its own caches of receptions and teacher labels):")
    for name, run in runs.items():
        work = {k: v for k, v in run["counters"].items() if isinstance(v, (int, float))}
        print(f"  {name:<20} " + ", ".join(f"{k} {v:g}" for k, v in work.items()))
    rss = [f"{name}: {run['rss']:.0f} MB" for name, run in runs.items() if run["rss"]]
    print(f"peak memory of a Ray worker after preparing: {'; '.join(rss)}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

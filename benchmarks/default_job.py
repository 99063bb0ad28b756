"""The default job (``simulate scenarios/urban_rayleigh.yaml``), receiver path before vs now, in one process.

1. **Receiver, in process.** Two runners on the scenario: the plain receiver (the float32
   teacher's own ``predict``, reuse of intact images only: ``fast_teacher=False,
   reuse_repeats=False, teacher_precision="float32"``, the receiver before issue 17) and the
   default one (the scenario's teacher precision, the fast inference copy or the int8 one, reuse
   of repeated receptions and pixels). Both prepare (images, teacher, codecs, clean decode); the link
   of every point runs once and its output is replayed to both (the link is the same code for
   both); then both run every point, taking turns point by point (so both see the same load on a
   shared machine). Prints seconds per stage for both, their ratio, the work counters, and the
   results table compared: largest |Δ mIoU| and whether each point's mIoU lies within the plain
   run's 95 % interval. ``--order`` sets which runner prepares first.
2. **Whole job, as subprocesses** (``--baseline-tree DIR``): wall time of the ``simulate`` command
   with the code in ``DIR`` (e.g. a checkout of the previous commit, made with ``git worktree add``)
   and with this tree, alternated ``--repeats`` times, and their results tables compared. A
   scenario of this repository runs in each tree's own version (the default job of each code).

Timings vary on shared machines: compare within one run only. The in-process part also prints each
runner's process CPU time (with one thread, less disturbed by other processes than wall time).

Usage::

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824 \\
    OMP_NUM_THREADS=2 python benchmarks/default_job.py [SCENARIO] [--num-images N] [--max-points K]
    python benchmarks/default_job.py --skip-in-process --baseline-tree /tmp/base --repeats 2
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from simulation.receiver import packets_key
from simulation.results import TIME_COLUMNS
from simulation.runner import Runner
from simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736", "MALLOC_TOP_PAD_": "1073741824"}
STAGES = ["load_data", "load_models", "teacher_reference", "encode", "clean_decode", "clean_teacher", "link", "decode", "teacher"]
PLAIN = {"fast_teacher": False, "reuse_repeats": False, "teacher_precision": "float32"}
FAST: dict[str, bool] = {}


class ReplayLink:
    """A link whose outputs are recorded on first use and replayed afterwards (same packets, SNR)."""

    def __init__(self, link: Any) -> None:
        self.link, self.memo = link, {}

    def transmit(self, packets: list[bytes], *, snr_db: float, generator: Any) -> Any:
        key = (float(snr_db), packets_key(packets))
        if key not in self.memo:
            self.memo[key] = self.link.transmit(packets, snr_db=snr_db, generator=generator)
        return self.memo[key]


def prepared_runner(loaded: Any, options: dict[str, bool], links: dict[str, Any], points: list) -> tuple[Runner, float, float]:
    """A prepared runner with ``options`` whose links are the shared :class:`ReplayLink` s: (runner, wall s, CPU s)."""
    runner = Runner(loaded, progress=False, **options)
    runner._links = links  # link_for() looks links up there by their settings
    for point in points:
        link, _ = runner.link_for(point)
        if not isinstance(link, ReplayLink):
            key = next(k for k, v in links.items() if v is link)
            links[key] = ReplayLink(link)
    start, cpu = time.perf_counter(), time.process_time()
    runner.prepare()
    return runner, time.perf_counter() - start, time.process_time() - cpu


def record_links(runner: Runner, points: list) -> tuple[float, float]:
    """Run the link of every point once (recorded for both runners): (wall s, CPU s)."""
    start, cpu = time.perf_counter(), time.process_time()
    for point in points:
        link, _ = runner.link_for(point)
        flat = [p for s in runner.codecs[point.codec].streams for p in s.packets]
        link.transmit(flat, snr_db=point.snr_db, generator=point.generator(runner.scenario.seed))
    return time.perf_counter() - start, time.process_time() - cpu


def compare_rows(plain: list[dict], fast: list[dict]) -> str:
    """Largest |Δ mIoU| (and Δ of the other score columns) and how many points lie within the plain CI."""
    deltas, inside, other = [], 0, 0.0
    for a, b in zip(plain, fast):
        deltas.append(abs(a["miou_gt"] - b["miou_gt"]))
        inside += a["miou_gt_ci_low"] <= b["miou_gt"] <= a["miou_gt_ci_high"] or math.isnan(a["miou_gt_ci_low"])
        for key in ("miou_teacher", "pixel_accuracy", "psnr_db", "packet_loss_rate", "ber"):
            if isinstance(a.get(key), float) and not (math.isnan(a[key]) and math.isnan(b[key])):
                other = max(other, abs(a[key] - b[key]))
    same = sum({k: v for k, v in a.items() if k not in TIME_COLUMNS} == {k: v for k, v in b.items() if k not in TIME_COLUMNS}
               for a, b in zip(plain, fast))
    return (f"{len(plain)} points: {same} rows identical; max |Δ miou_gt| {max(deltas):.2e}; max |Δ| of miou_teacher, "
            f"pixel_accuracy, psnr_db, packet loss, ber {other:.2e}; miou_gt within the plain 95 % interval at {inside}/{len(plain)}")


def in_process(args: argparse.Namespace) -> None:
    loaded = load_scenario(args.scenario, num_images=args.num_images)
    points = loaded.points[: args.max_points] if args.max_points else loaded.points
    print(f"{loaded.scenario.name}: {len(points)} points x {loaded.scenario.dataset.num_images} images, "
          f"teacher {loaded.scenario.teacher}, torch threads {torch.get_num_threads()}")
    links: dict[str, Any] = {}
    names = ["plain", "fast"] if args.order == "plain-first" else ["fast", "plain"]
    runners, seconds, cpu = {}, {}, {}
    for name in names:
        runner, wall, cpu_seconds = prepared_runner(loaded, PLAIN if name == "plain" else FAST, links, points)
        runners[name], cpu[name] = runner, cpu_seconds
        seconds[name] = {**runner.stage_seconds, "preparation": wall}
    link_wall, link_cpu = record_links(runners[names[0]], points)
    rows: dict[str, list[dict]] = {name: [] for name in names}
    for i, point in enumerate(points):  # alternate which runner goes first, point by point
        for name in names if i % 2 == 0 else names[::-1]:
            start, cpu_start = time.perf_counter(), time.process_time()
            rows[name].append(runners[name].run_point(point))
            seconds[name]["points"] = seconds[name].get("points", 0.0) + time.perf_counter() - start
            cpu[name] += time.process_time() - cpu_start
    for name in names:
        seconds[name].update({k: v for k, v in runners[name].stage_seconds.items() if k in ("decode", "teacher")})
        seconds[name]["total"] = seconds[name]["preparation"] + seconds[name]["points"]
        seconds[name]["process CPU time"] = cpu[name]
    plain, fast = seconds["plain"], seconds["fast"]
    print(f"link of every point, run once and replayed to both: {link_wall:.1f} s ({link_cpu:.1f} s CPU)")
    print(f"{'stage (s)':<18}{'plain':>9}{'fast':>9}{'ratio':>8}")
    for stage in STAGES + ["preparation", "points", "total", "process CPU time"]:
        if stage == "link":
            continue
        a, b = plain.get(stage, 0.0), fast.get(stage, 0.0)
        print(f"{stage:<18}{a:9.2f}{b:9.2f}{(b / a if a else float('nan')):8.2f}")
    teacher_a = sum(plain.get(k, 0.0) for k in ("teacher_reference", "clean_teacher", "teacher"))
    teacher_b = sum(fast.get(k, 0.0) for k in ("teacher_reference", "clean_teacher", "teacher"))
    print(f"teacher (reference + clean + points): {teacher_a:.1f} s -> {teacher_b:.1f} s (x{teacher_b / teacher_a:.2f}); "
          f"with the link once: {plain['total'] + link_wall:.1f} s -> {fast['total'] + link_wall:.1f} s "
          f"(x{(fast['total'] + link_wall) / (plain['total'] + link_wall):.2f})")
    for name in names:
        c = runners[name].counters
        print(f"  {name}: {c.images_reused} intact, {c.images_decoded} scored by the receiver, of which "
              f"{c.images_repeated} repeated receptions; teacher labels reused for {c.teacher_reused}")
    print("table: " + compare_rows(rows["plain"], rows["fast"]))


def simulate(tree: Path, scenario: str, out: Path, extra: list[str]) -> tuple[float, list[dict[str, str]]]:
    """Wall seconds of ``simulate SCENARIO --out OUT`` with the packages of ``tree``, and its results.csv rows."""
    env = {**os.environ, **MALLOC_ENV, "PYTHONPATH": str(tree)}
    code = "import sys; from simulation.cli import main; sys.exit(main())"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, scenario, "--out", str(out), *extra], env=env, check=True,
                   cwd=tree, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    with open(out / "results.csv", newline="") as handle:
        return seconds, list(csv.DictReader(handle))


def scenario_in(tree: Path, scenario: str) -> str:
    """``scenario``, or its copy in ``tree`` when it is a file of this repository (each tree runs its
    own version of a shipped scenario, e.g. without fields the older code does not know)."""
    path = Path(scenario)
    try:
        relative = path.relative_to(ROOT)
    except ValueError:
        return scenario
    return str(tree / relative) if (tree / relative).is_file() else scenario


def whole_job(args: argparse.Namespace) -> None:
    scenario = str(Path(args.scenario).resolve())
    extra = ["--num-images", str(args.num_images)] if args.num_images else []
    trees = {"baseline": Path(args.baseline_tree).resolve(), "this tree": ROOT}
    times: dict[str, list[float]] = {name: [] for name in trees}
    tables: dict[str, list[dict[str, str]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            names = list(trees) if repeat % 2 == 0 else list(trees)[::-1]
            for name in names:
                seconds, rows = simulate(trees[name], scenario_in(trees[name], scenario),
                                         Path(folder) / f"{name}-{repeat}".replace(" ", "_"), extra)
                times[name].append(seconds)
                tables[name] = rows
                print(f"  simulate with {name}: {seconds:.1f} s", flush=True)
    a, b = min(times["baseline"]), min(times["this tree"])
    print(f"whole job (best of {args.repeats}): baseline {a:.1f} s, this tree {b:.1f} s, ratio {b / a:.2f}")
    as_float = [[{k: float(v) for k, v in r.items() if k in ("miou_gt", "miou_gt_ci_low", "miou_gt_ci_high", "miou_teacher",
                                                                "pixel_accuracy", "psnr_db", "packet_loss_rate", "ber")}
                 for r in tables[name]] for name in trees]
    print("table: " + compare_rows(*as_float))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "urban_rayleigh.yaml"))
    parser.add_argument("--num-images", type=int, help="override dataset.num_images")
    parser.add_argument("--max-points", type=int, help="only the first K sweep points (in process)")
    parser.add_argument("--order", choices=["plain-first", "fast-first"], default="plain-first")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--baseline-tree", help="a tree of the code to compare with (whole-job timing)")
    parser.add_argument("--repeats", type=int, default=1, help="alternated runs of each tree (whole job)")
    args = parser.parse_args()
    if not args.skip_in_process:
        in_process(args)
    if args.baseline_tree:
        whole_job(args)


if __name__ == "__main__":
    main()

"""Where the time of a ``simulate`` run goes: seconds per stage, reuse of clean results, link speed.

Runs a scenario (default ``scenarios/urban_rayleigh.yaml``) through :class:`simulation.runner.Runner`
and prints:

1. preparation: loading images and models, the teacher on the originals, encoding, the clean
   decode and its scoring;
2. the sweep points with reuse of clean-channel scores, of repeated receptions and of repeated
   pixels (the default of ``simulate``): link (with the ``LinkStats.stage_seconds`` breakdown),
   codec decode, teacher;
3. the same points again without reuse (every image decoded and labelled at every point), and
   whether both gave the same numbers;
4. the link against the same Sionna blocks wired by hand on the packets of one point
   (``benchmarks/link_throughput.py``; Rayleigh block fading + LDPC scenarios only; the direct
   chain needs equal packet lengths, so its packets are zero-padded to the longest one).

Usage::

    MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824 \\
    OMP_NUM_THREADS=2 python benchmarks/simulate_stages.py [SCENARIO] [--num-images N] [--max-points K]

``--plain-receiver`` runs the receiver as before issue 17 (the teacher's own ``predict``, reuse of
intact images only); ``benchmarks/default_job.py`` compares both in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import link_throughput  # noqa: E402  (benchmarks/link_throughput.py)
from simulation.results import TIME_COLUMNS  # noqa: E402
from simulation.runner import Runner, RunCounters  # noqa: E402
from simulation.scenario import load_scenario  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "urban_rayleigh.yaml"))
    parser.add_argument("--num-images", type=int, help="override dataset.num_images")
    parser.add_argument("--max-points", type=int, help="only the first K sweep points")
    parser.add_argument("--skip-no-reuse", action="store_true", help="do not time the run without reuse")
    parser.add_argument("--repeats", type=int, default=2, help="repeats of the link comparison (best kept)")
    parser.add_argument("--plain-receiver", action="store_true",
                        help="the teacher's own predict and reuse of intact images only (the receiver before issue 17)")
    return parser.parse_args()


def show(title: str, seconds: dict[str, float], keys: list[str] | None = None) -> None:
    keys = keys if keys is not None else list(seconds)
    text = "  ".join(f"{k} {seconds.get(k, 0.0):7.2f}" for k in keys)
    print(f"{title:<22} total {sum(seconds.get(k, 0.0) for k in keys):7.2f} s | {text}")


def run_points(runner: Runner, points) -> tuple[float, list[dict]]:
    runner.stage_seconds = {k: v for k, v in runner.stage_seconds.items() if k not in ("link", "decode", "teacher")}
    runner.counters = RunCounters()
    start = time.perf_counter()
    rows = [runner.run_point(point) for point in points]
    return time.perf_counter() - start, rows


def main() -> None:
    args = parse_args()
    malloc = "on" if all(k in os.environ for k in link_throughput.MALLOC_ENV) else "off (see the module docstring)"
    loaded = load_scenario(args.scenario, num_images=args.num_images)
    points = loaded.points[: args.max_points] if args.max_points else loaded.points
    s = loaded.scenario
    print(f"{s.name}: {len(points)} points, {s.dataset.num_images} images {s.dataset.size}, {len(s.codecs)} codec(s); "
          f"torch threads {torch.get_num_threads()}; malloc env {malloc}")

    options = {"fast_teacher": False, "reuse_repeats": False} if args.plain_receiver else {}
    runner = Runner(loaded, progress=False, **options)
    start = time.perf_counter()
    runner.prepare()
    prepare_seconds = time.perf_counter() - start
    show("preparation", runner.stage_seconds)
    for label, prepared in runner.codecs.items():
        print(f"  {label}: {prepared.payload_bytes / 1e3:.2f} kB/image in {prepared.packets_per_image:.1f} packets, "
              f"clean mIoU {prepared.clean_row['miou_gt']:.4f}")

    with_reuse, rows = run_points(runner, points)
    counters = runner.counters
    show("points, with reuse", runner.stage_seconds, ["link", "decode", "teacher"])
    show("  link stages", counters.link_stages)
    print(f"  {counters.images_decoded} images through the receiver ({counters.images_repeated} of them repeated "
          f"receptions, teacher labels reused for {counters.teacher_reused}), {counters.images_reused} intact; "
          f"{with_reuse:.1f} s for the points (+{prepare_seconds:.1f} s preparation)")

    if not args.skip_no_reuse:
        runner.reuse = False
        without_reuse, rows_again = run_points(runner, points)
        show("points, without reuse", runner.stage_seconds, ["link", "decode", "teacher"])
        same = all({k: v for k, v in a.items() if k not in TIME_COLUMNS} == {k: v for k, v in b.items() if k not in TIME_COLUMNS}
                   for a, b in zip(rows, rows_again))
        print(f"  reuse saves {without_reuse - with_reuse:.1f} s of {without_reuse:.1f} s "
              f"({runner.counters.images_decoded} decodes instead of {counters.images_decoded}); identical results: {same}")

    compare_link(runner, points, repeats=args.repeats)


def compare_link(runner: Runner, points, *, repeats: int) -> None:
    """The link of one point against the hand-wired Sionna chain of link_throughput.py."""
    point = points[len(points) // 2]
    link, channel = runner.link_for(point)
    config, params = link.config, link.channel.params
    packets = [p for s in runner.codecs[point.codec].streams for p in s.packets]
    print(f"link speed at {point.key}: {len(packets)} packets, {sum(map(len, packets)) / 1e3:.1f} kB")
    seconds, stats = link_throughput.time_link(link, packets, point.snr_db, repeats)
    link_throughput.print_stages("link", stats.stage_seconds, stats.payload_bits)
    if config.code != "ldpc" or channel != "rayleigh" or getattr(params, "fading", "") != "block":
        print("  (direct Sionna chain skipped: it is wired for LDPC over Rayleigh block fading)")
        return
    longest = max(len(p) for p in packets)
    if 8 * longest + 24 > 8448:
        print("  (direct Sionna chain skipped: packets longer than one LDPC code block)")
        return
    padded = [p + bytes(longest - len(p)) for p in packets]
    args = argparse.Namespace(rate=config.code_rate, iterations=config.ldpc.iterations,
                              coherence_symbols=params.coherence_symbols, snr_db=point.snr_db)
    direct = link_throughput.time_direct_chain(args, padded, link, repeats)
    link_throughput.print_stages("direct Sionna", direct, 8 * longest * len(padded))
    print(f"  (direct chain on {len(padded)} packets zero-padded to {longest} B; throughput in payload Mbit/s of "
          f"what each processed; LDPC early exit {stats.codewords_early_exit}/{stats.codewords} codewords in the link)")


if __name__ == "__main__":
    main()

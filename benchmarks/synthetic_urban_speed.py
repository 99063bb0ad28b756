"""Rendering speed of ``synthetic-urban``: images per second on the current thread settings.

Run it on one core to compare with the target (>= 10 images/s at 256x512)::

    OMP_NUM_THREADS=1 python benchmarks/synthetic_urban_speed.py --size 256 512 --num 100

Prints the throughput of ``render_scene`` and, separately, of the resolution-independent scene
layout, so a slowdown can be traced to the layout or to the pixel work. Wall-clock figures move by
10-20 % when other processes share the machine: repeat a run that looks off.

Speed-ups must keep every render bit-identical (same random draws, same float operations per
element), since trained models and caches depend on the exact images and labels.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gosvae.datasets.synthetic_urban import render_scene
from gosvae.datasets.synthetic_urban.render import scene_seed_sequence
from gosvae.datasets.synthetic_urban.scene import build_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=(256, 512), metavar=("H", "W"), help="output size (default 256 512)")
    parser.add_argument("--num", type=int, default=100, help="number of scenes to render (default 100)")
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    height, width = args.size
    render_scene(seed=args.seed, split=args.split, index=0, height=height, width=width)  # warm-up (imports, caches)

    start = time.perf_counter()
    for index in range(args.num):
        layout, _, _ = scene_seed_sequence(seed=args.seed, split=args.split, index=index).spawn(3)
        build_scene(np.random.default_rng(layout))
    layout_seconds = time.perf_counter() - start

    start = time.perf_counter()
    for index in range(args.num):
        render_scene(seed=args.seed, split=args.split, index=index, height=height, width=width)
    total_seconds = time.perf_counter() - start

    print(f"synthetic-urban at {height}x{width}, {args.num} scenes of split {args.split}")
    print(f"  render_scene : {args.num / total_seconds:7.1f} images/s  ({1000 * total_seconds / args.num:6.1f} ms/image)")
    print(f"  layout only  : {args.num / layout_seconds:7.1f} scenes/s  ({1000 * layout_seconds / args.num:6.1f} ms/scene)")


if __name__ == "__main__":
    main()

"""Inference time of zoo teachers per 256x512 image (batch 1, what `simulate` does per received image).

Prints, per teacher, its parameter count and the median and mean wall time of ``predict`` over
``--repeats`` passes after ``--warmup`` passes, on random images (the time does not depend on the
content).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/teacher_speed.py --teachers urban-unet urban-unet-l-cpu urban-unet-lh-cpu
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gosvae.teachers import load_teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teachers", nargs="+", default=["urban-unet"], help="zoo teachers or local folders")
    parser.add_argument("--size", nargs=2, type=int, default=[256, 512], metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = torch.rand(1, 3, *args.size, generator=torch.Generator().manual_seed(0))
    print(f"{args.size[0]}x{args.size[1]}, batch 1, {args.threads} thread(s), {args.repeats} passes")
    for name in args.teachers:
        teacher = load_teacher(name)
        params = sum(p.numel() for p in teacher.parameters())
        with torch.no_grad():
            for _ in range(args.warmup):
                teacher.predict(image)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                teacher.predict(image)
                times.append(time.perf_counter() - start)
        print(
            f"{name:>20}  {params / 1e6:6.3f} M params  median {1e3 * statistics.median(times):7.1f} ms"
            f"  mean {1e3 * statistics.mean(times):7.1f} ms"
        )


if __name__ == "__main__":
    main()

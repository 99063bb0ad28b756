"""Inference time of zoo teachers per 256x512 image (batch 1, what `simulate` does per received image).

Prints, per teacher, its parameter count and the median and mean wall time of ``predict`` over
``--repeats`` passes after ``--warmup`` passes, on random images (the time does not depend on the
content).

``--fast`` also times the teacher's inference copy (:func:`gosvae.teachers.inference.inference_teacher`,
what ``simulate`` labels with), interleaved with the plain teacher, pass by pass, and prints the
ratio. ``--clock cpu`` times the process's CPU time instead of wall time (with one thread, less
disturbed by other processes on a shared machine). ``--bf16`` adds the fast copy under bfloat16 autocast;
``--int8`` the int8 copy (:mod:`gosvae.teachers.quantized`, the calibration shipped in the zoo entry).
``--miou N`` scores the plain teacher, the fast copy (and with ``--bf16`` / ``--int8`` those) on the
first N ``synthetic-urban`` val scenes and prints each mIoU, the difference and the pixels whose
label changed.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/teacher_speed.py --teachers urban-unet urban-unet-l-cpu urban-unet-lh-cpu
    OMP_NUM_THREADS=1 python benchmarks/teacher_speed.py --teachers urban-unet-xlf8k-cpu --fast --bf16 --clock cpu --repeats 10
    OMP_NUM_THREADS=2 python benchmarks/teacher_speed.py --teachers urban-unet-xlf8k-cpu --fast --threads 2 --miou 100
    OMP_NUM_THREADS=1 python benchmarks/teacher_speed.py --teachers urban-unet-xlf8k-cpu --int8 --repeats 10
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext
from typing import Callable

import torch

from gosvae.teachers import load_teacher
from gosvae.teachers.inference import inference_teacher, predict_labels
from gosvae.teachers.quantized import zoo_int8_calibration


def bf16(teacher: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """Labels of ``teacher`` under CPU bfloat16 autocast."""

    def predict(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return predict_labels(teacher, x)

    return predict


def time_interleaved(predictors: dict[str, Callable[[torch.Tensor], torch.Tensor]], image: torch.Tensor, *,
                     warmup: int, repeats: int, clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per pass of each predictor, passes interleaved (one of each in turn)."""
    times: dict[str, list[float]] = {name: [] for name in predictors}
    for _ in range(warmup):
        for predict in predictors.values():
            predict(image)
    for _ in range(repeats):
        for name, predict in predictors.items():
            start = clock()
            predict(image)
            times[name].append(clock() - start)
    return times


def score(predictors: dict[str, Callable[[torch.Tensor], torch.Tensor]], *, num: int, size: tuple[int, int],
          num_classes: int) -> None:
    """mIoU of each predictor on the first ``num`` synthetic-urban val scenes, and changed pixels against the first."""
    from gosvae.datasets import IGNORE_INDEX, build_dataset
    from gosvae.metrics import confusion_matrix, mean_iou

    data = build_dataset(name="synthetic-urban", split="val", num_images=num, size=size)
    confusion = {name: torch.zeros(num_classes, num_classes, dtype=torch.int64) for name in predictors}
    changed = dict.fromkeys(predictors, 0)
    pixels = 0
    for i in range(len(data)):
        image, label = data[i]
        labels = {name: predict(image[None]) for name, predict in predictors.items()}
        first = next(iter(labels.values()))
        pixels += first.numel()
        for name, pred in labels.items():
            confusion[name] += confusion_matrix(pred[0], label.long(), num_classes=num_classes, ignore_index=IGNORE_INDEX)
            changed[name] += int((pred != first).sum())
    base = mean_iou(next(iter(confusion.values())))
    for name in predictors:
        miou = mean_iou(confusion[name])
        print(f"    {name:>10}: mIoU {miou:.6f} (Δ {miou - base:+.6f}) on {len(data)} val scenes; "
              f"{changed[name]} of {pixels} pixel labels differ from the first")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teachers", nargs="+", default=["urban-unet"], help="zoo teachers or local folders")
    parser.add_argument("--size", nargs=2, type=int, default=[256, 512], metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall", help="wall time or the process's CPU time")
    parser.add_argument("--fast", action="store_true", help="also time the fast inference copy (interleaved)")
    parser.add_argument("--bf16", action="store_true", help="also the fast copy under bfloat16 autocast")
    parser.add_argument("--int8", action="store_true", help="also the int8 copy (the calibration in the zoo entry)")
    parser.add_argument("--miou", type=int, default=0, metavar="N", help="score on N val scenes (plain, fast, bf16)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = torch.rand(1, 3, *args.size, generator=torch.Generator().manual_seed(0))
    print(f"{args.size[0]}x{args.size[1]}, batch 1, {args.threads} thread(s), {args.repeats} passes")
    for name in args.teachers:
        teacher = load_teacher(name)
        params = sum(p.numel() for p in teacher.parameters())
        predictors: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"plain": lambda x, t=teacher: _no_grad(t, x)}
        if args.fast or args.bf16 or args.int8 or args.miou:
            fast = inference_teacher(teacher)
            predictors["fast"] = lambda x, t=fast: predict_labels(t, x)
            if args.bf16:
                predictors["fast bf16"] = bf16(fast)
            if args.int8:
                int8 = inference_teacher(teacher, int8=zoo_int8_calibration(name))
                predictors["int8"] = lambda x, t=int8: predict_labels(t, x)
        timed = predictors if (args.fast or args.bf16 or args.int8) else {"plain": predictors["plain"]}
        times = time_interleaved(timed, image, warmup=args.warmup, repeats=args.repeats,
                                 clock=time.process_time if args.clock == "cpu" else time.perf_counter)
        plain = statistics.median(times["plain"])
        for label, values in times.items():
            ratio = "" if label == "plain" else f"  x{statistics.median(values) / plain:.2f} of plain"
            print(f"{name:>20}  {label:>9}  {params / 1e6:6.3f} M params  median {1e3 * statistics.median(values):7.1f} ms"
                  f"  mean {1e3 * statistics.mean(values):7.1f} ms{ratio}")
        if args.miou:
            score(predictors, num=args.miou, size=tuple(args.size), num_classes=teacher.num_classes)


def _no_grad(teacher: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad() if not torch.is_inference_mode_enabled() else nullcontext():
        return teacher.predict(x)


if __name__ == "__main__":
    main()

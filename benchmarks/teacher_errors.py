"""Where a teacher goes wrong on clean images: per-class IoU, recall, precision, main confusions,
and mIoU with the pixels near label boundaries left out.

For each class it prints IoU, recall (share of its pixels found), precision (share of the pixels
predicted as it that are right) and the two classes it is most often mistaken for, in both
directions. The boundary rows recompute mIoU without the pixels within ``r`` pixels of a change
of ground-truth label: if mIoU barely rises, the errors are in the interior of objects
(recognition), not at their outlines (localisation).

Usage::

    python benchmarks/teacher_errors.py --teacher urban-unet --num 100
    python benchmarks/teacher_errors.py --teacher urban-unet-l-cpu --num 100 --threads 2
    python benchmarks/teacher_errors.py --teacher urban-unet-xlf8k-cpu --single-view   # no flip test
    python benchmarks/teacher_errors.py --teacher urban-unet-xlf-cpu --flip-test       # add it
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from gosvae.datasets import build_dataset
from gosvae.datasets.base import IGNORE_INDEX
from gosvae.metrics.segmentation import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy
from gosvae.teachers import load_teacher


def interior_mask(labels: torch.Tensor, *, radius: int) -> torch.Tensor:
    """(B, H, W) bool: pixels whose (2r+1)² neighbourhood holds a single ground-truth label."""
    as_float = labels.unsqueeze(1).float()
    size = 2 * radius + 1
    high = F.max_pool2d(as_float, size, stride=1, padding=radius)
    low = -F.max_pool2d(-as_float, size, stride=1, padding=radius)
    return (high == low).squeeze(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="urban-unet", help="zoo teacher or local folder")
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--num", type=int, default=100, help="number of scenes (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 512), metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=1)
    views = parser.add_mutually_exclusive_group()
    views.add_argument("--single-view", action="store_true", help="an urban-unet with the flip test, without it")
    views.add_argument("--flip-test", action="store_true", help="an urban-unet without the flip test, with it")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    teacher = load_teacher(args.teacher)
    if args.single_view:
        if not getattr(teacher, "test_time_flip", False):
            parser.error(f"--single-view: teacher {args.teacher} does not use the flip test")
        teacher.test_time_flip = False
    if args.flip_test:
        if not hasattr(teacher, "test_time_flip"):
            parser.error(f"--flip-test: teacher {args.teacher} is not an urban-unet")
        teacher.test_time_flip = True
    dataset = build_dataset(name="synthetic-urban", split=args.split, num_images=args.num, size=tuple(args.size), seed=args.seed)
    m = teacher.num_classes
    radii = (1, 2, 3)
    total = torch.zeros(m, m, dtype=torch.int64)
    interior = {r: torch.zeros(m, m, dtype=torch.int64) for r in radii}
    with torch.no_grad():
        for image, label in dataset:
            pred = teacher.predict(image.unsqueeze(0))[0]
            total += confusion_matrix(pred, label, num_classes=m)
            for r in radii:
                keep = interior_mask(label.unsqueeze(0), radius=r)[0]
                masked = torch.where(keep, label, torch.full_like(label, IGNORE_INDEX))
                interior[r] += confusion_matrix(pred, masked, num_classes=m)

    names = teacher.class_names
    iou = iou_per_class(total)
    found = total.sum(dim=1)
    predicted = total.sum(dim=0)
    view = " (single view)" if args.single_view else " (with the flip test)" if args.flip_test else ""
    print(f"teacher {args.teacher}{view} on synthetic-urban/{args.split}, {args.num} images at {args.size[0]}x{args.size[1]}")
    print(f"mIoU {mean_iou(total):.4f}   pixel accuracy {pixel_accuracy(total):.4f}\n")
    print(f"{'class':>14} {'IoU':>6} {'recall':>7} {'prec.':>6}   missed as (share of its pixels)    wrongly predicted on (share of predictions)")
    for c in range(m):
        if found[c] == 0 and predicted[c] == 0:
            continue
        row, col = total[c].clone(), total[:, c].clone()
        row[c] = col[c] = 0
        recall = total[c, c] / found[c] if found[c] else float("nan")
        precision = total[c, c] / predicted[c] if predicted[c] else float("nan")
        missed = ", ".join(f"{names[j]} {row[j] / found[c]:.2f}" for j in row.argsort(descending=True)[:2]) if found[c] else "-"
        wrong = ", ".join(f"{names[j]} {col[j] / predicted[c]:.2f}" for j in col.argsort(descending=True)[:2]) if predicted[c] else "-"
        print(f"{names[c]:>14} {iou[c]:6.3f} {recall:7.3f} {precision:6.3f}   {missed:<34} {wrong}")
    print()
    for r in radii:
        share = interior[r].sum() / total.sum()
        print(f"without pixels within {r} px of a label boundary ({share:.1%} of pixels kept): mIoU {mean_iou(interior[r]):.4f}")


if __name__ == "__main__":
    main()

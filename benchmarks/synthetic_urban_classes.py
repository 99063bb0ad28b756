"""Class frequencies of ``synthetic-urban``: pixel share and number of images per class.

Prints one row per Cityscapes class: the percentage of all labelled pixels and the number of
images (out of ``--num``) in which the class appears, plus how many classes appear at all.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/synthetic_urban_classes.py --split val --num 100
"""

from __future__ import annotations

import argparse

import numpy as np

from gosvae.datasets.base import CITYSCAPES_CLASSES, IGNORE_INDEX
from gosvae.datasets.synthetic_urban import render_scene


def class_table(*, split: str, num: int, seed: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Pixel counts (19,), image counts (19,) and ignored pixels over ``num`` scenes."""
    pixels = np.zeros(len(CITYSCAPES_CLASSES), dtype=np.int64)
    images = np.zeros(len(CITYSCAPES_CLASSES), dtype=np.int64)
    ignored = 0
    for index in range(num):
        _, label = render_scene(seed=seed, split=split, index=index, height=height, width=width)
        counts = np.bincount(label.ravel(), minlength=256)
        pixels += counts[: len(CITYSCAPES_CLASSES)]
        images += counts[: len(CITYSCAPES_CLASSES)] > 0
        ignored += int(counts[IGNORE_INDEX])
    return pixels, images, ignored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--num", type=int, default=100, help="number of scenes (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 512), metavar=("H", "W"))
    args = parser.parse_args()
    pixels, images, ignored = class_table(split=args.split, num=args.num, seed=args.seed, height=args.size[0], width=args.size[1])
    total = pixels.sum() + ignored
    print(f"synthetic-urban, split={args.split}, {args.num} images at {args.size[0]}x{args.size[1]}, seed={args.seed}")
    print(f"{'id':>2}  {'class':<14}{'pixel %':>9}{'images':>8}")
    for class_id, name in enumerate(CITYSCAPES_CLASSES):
        print(f"{class_id:>2}  {name:<14}{100.0 * pixels[class_id] / total:>9.3f}{images[class_id]:>8d}")
    print(f"ignored pixels: {100.0 * ignored / total:.3f} %")
    print(f"classes present: {int((images > 0).sum())} of {len(CITYSCAPES_CLASSES)}")


if __name__ == "__main__":
    main()

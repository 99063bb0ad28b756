"""Segmentation datasets: the procedural ``synthetic-urban`` scenes and real-data loaders.

All follow the contract of :mod:`gosvae.datasets.base`. ``build_dataset`` builds any registered
dataset by name with the common options.

Example
-------
>>> ds = build_dataset(name="synthetic-urban", split="val", num_images=4, size=(128, 256))
>>> image, label = ds[0]          # (3, 128, 256) float32 in [0, 1], (128, 256) int64
"""

from __future__ import annotations

import inspect
from pathlib import Path

from torch.utils.data import Dataset, Subset

from gosvae.datasets.ade20k import ADE20K
from gosvae.datasets.base import CITYSCAPES_CLASSES, IGNORE_INDEX
from gosvae.datasets.camvid import CamVid
from gosvae.datasets.cityscapes import Cityscapes
from gosvae.datasets.synthetic_urban import SyntheticUrban, render_scene
from gosvae.errors import UserError
from gosvae.registry import DATASETS

__all__ = [
    "ADE20K", "CamVid", "Cityscapes", "SyntheticUrban", "render_scene", "build_dataset",
    "IGNORE_INDEX", "CITYSCAPES_CLASSES",
]


def build_dataset(
    *,
    name: str,
    split: str,
    root: str | Path | None = None,
    num_images: int | None = None,
    size: tuple[int, int] | None = None,
    crop: tuple[int, int] | None = None,
    hflip: bool = False,
    seed: int = 0,
) -> Dataset:
    """A registered dataset by ``name``; real datasets need ``root``, generated ones ignore it.

    ``num_images`` takes the first N items of a real dataset (all of them when ``None``).
    """
    cls = DATASETS.get(name)
    params = inspect.signature(cls).parameters
    kwargs: dict = {"split": split, "size": size, "crop": crop, "hflip": hflip, "seed": seed}
    if "root" in params:
        if root is None:
            raise UserError(f"dataset '{name}' reads files: give its root folder (dataset.root)")
        kwargs["root"] = root
    if "num_images" in params:
        kwargs["num_images"] = num_images
    dataset = cls(**kwargs)
    if "num_images" not in params and num_images is not None and num_images < len(dataset):
        dataset = Subset(dataset, range(num_images))
    return dataset

"""Cityscapes fine annotations, mapped to the 19 evaluation classes (train ids).

The loader reads a copy the user already has (``leftImg8bit_trainvaltest.zip`` and
``gtFine_trainvaltest.zip`` unpacked in one folder); it never downloads. Layout under ``root``::

    leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png
    gtFine/{split}/{city}/{stem}_gtFine_labelIds.png

The ``labelIds`` files (ids 0..33) are mapped to the 19 train ids with the official table of
``cityscapesScripts/helpers/labels.py``; every other id (void, parking, rail track, guard rail,
caravan, trailer, ...) becomes 255. The ``test`` split has no public labels: all its pixels are 255.

Example
-------
Reading a local copy (image: (3, 512, 1024) float32 in [0, 1]; label: (512, 1024) int64):

>>> dataset = Cityscapes(root="/data/cityscapes", split="val", size=(512, 1024))  # doctest: +SKIP
>>> image, label = dataset[0]  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from gosvae.datasets.base import CITYSCAPES_CLASSES
from gosvae.datasets.transforms import (
    PairedFileDataset,
    label_lookup_table,
    require_folder,
    require_root,
    require_split,
)
from gosvae.errors import DatasetLayoutError
from gosvae.registry import register_dataset

__all__ = ["CITYSCAPES_LABEL_TO_TRAIN_ID", "Cityscapes"]

CITYSCAPES_LABEL_TO_TRAIN_ID: dict[int, int] = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}
"""Official label id → train id table (road 7 → 0, ..., bicycle 33 → 18); other ids are ignored."""

_SPLITS = ("train", "val", "test")
_IMAGE_SUFFIX = "_leftImg8bit.png"
_LABEL_SUFFIX = "_gtFine_labelIds.png"
_LAYOUT = (
    "the Cityscapes layout (leftImg8bit/{split}/{city}/*_leftImg8bit.png, "
    "gtFine/{split}/{city}/*_gtFine_labelIds.png)"
)


@register_dataset(
    "cityscapes", description="Cityscapes fine labels (19 classes), read from a local folder"
)
class Cityscapes(PairedFileDataset):
    """Cityscapes street scenes with fine labels, 19 train-id classes.

    Parameters
    ----------
    root : str | Path
        Folder holding ``leftImg8bit/`` and ``gtFine/`` (never downloaded).
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    size : tuple[int, int] | None
        Resize every item to (H, W): bilinear image, nearest label (the files are 1024 x 2048).
    crop : tuple[int, int] | None
        Random (h, w) crop after the resize, for training.
    hflip : bool
        Random horizontal flips, for training.
    seed : int
        Seed of the crops and flips; an item depends only on ``(seed, epoch, index)``.

    Output of ``dataset[i]``
    ------------------------
    image : (3, H, W) float32 in [0, 1], RGB;  label : (H, W) int64 in 0..18 or 255.
    """

    class_names = CITYSCAPES_CLASSES

    def __init__(
        self,
        *,
        root: str | Path,
        split: str = "train",
        size: tuple[int, int] | None = None,
        crop: tuple[int, int] | None = None,
        hflip: bool = False,
        seed: int = 0,
    ) -> None:
        root = require_root(root, layout=_LAYOUT)
        require_split(split, allowed=_SPLITS, root=root, dataset="Cityscapes")
        image_folder = require_folder(root, f"leftImg8bit/{split}", layout=_LAYOUT)
        label_folder = require_folder(root, f"gtFine/{split}", layout=_LAYOUT)
        images = sorted(image_folder.glob(f"*/*{_IMAGE_SUFFIX}"))
        if not images:
            raise DatasetLayoutError(
                f"{root}: no '*{_IMAGE_SUFFIX}' file in 'leftImg8bit/{split}/<city>/'; "
                f"expected {_LAYOUT}"
            )
        pairs = []
        for image_path in images:
            stem = image_path.name[: -len(_IMAGE_SUFFIX)]
            city = image_path.parent.name
            label_path = label_folder / city / f"{stem}{_LABEL_SUFFIX}"
            if not label_path.is_file():
                raise DatasetLayoutError(
                    f"{image_path}: no label file gtFine/{split}/{city}/{label_path.name}; "
                    f"expected {_LAYOUT}"
                )
            pairs.append((image_path, label_path))
        super().__init__(
            pairs,
            root=root,
            split=split,
            lookup=label_lookup_table(CITYSCAPES_LABEL_TO_TRAIN_ID),
            size=size,
            crop=crop,
            hflip=hflip,
            seed=seed,
        )

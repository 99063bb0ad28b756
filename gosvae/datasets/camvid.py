"""CamVid in the layout of the SegNet release: 11 urban classes at 480 x 360.

The loader reads a copy the user already has; it never downloads. Layout under ``root``::

    train/  trainannot/  val/  valannot/  test/  testannot/     (RGB PNGs, label PNGs)
    train.txt  val.txt  test.txt                                 (optional pair lists)

A list file holds one pair per line, ``train/X.png trainannot/X.png``; the SegNet tutorial writes
absolute paths (``/SegNet/CamVid/train/X.png ...``), so only the last two components of each path
are used. Without a list file, every image of ``{split}/`` is paired with the label of the same
name in ``{split}annot/``. Label values 0..10 are the classes below; 11 (Unlabelled) becomes 255.

Example
-------
Reading a local copy (image: (3, 256, 256) float32 in [0, 1]; label: (256, 256) int64), then
drawing new crops and flips for the next epoch:

>>> dataset = CamVid(root="/data/camvid", split="train", crop=(256, 256), hflip=True)  # doctest: +SKIP
>>> image, label = dataset[0]  # doctest: +SKIP
>>> dataset.epoch = 1  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from gosvae.datasets.transforms import (
    PairedFileDataset,
    label_lookup_table,
    require_folder,
    require_root,
    require_split,
)
from gosvae.errors import DatasetLayoutError
from gosvae.registry import register_dataset

__all__ = ["CAMVID_CLASSES", "CamVid"]

CAMVID_CLASSES: tuple[str, ...] = (
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
    "Pedestrian", "Bicyclist",
)
"""The 11 classes of the SegNet CamVid labels (ids 0..10; id 11, Unlabelled, is ignored)."""

_SPLITS = ("train", "val", "test")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_LAYOUT = (
    "the SegNet CamVid layout (train/, trainannot/, val/, valannot/, test/, testannot/, "
    "optional train.txt, val.txt, test.txt)"
)


@register_dataset("camvid", description="CamVid, SegNet release (11 classes), read from a local folder")
class CamVid(PairedFileDataset):
    """CamVid road scenes, SegNet layout, 11 classes.

    Parameters
    ----------
    root : str | Path
        Folder holding ``train/``, ``trainannot/``, ... (never downloaded).
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    size : tuple[int, int] | None
        Resize every item to (H, W): bilinear image, nearest label.
    crop : tuple[int, int] | None
        Random (h, w) crop after the resize, for training.
    hflip : bool
        Random horizontal flips, for training.
    seed : int
        Seed of the crops and flips; an item depends only on ``(seed, epoch, index)``.

    Output of ``dataset[i]``
    ------------------------
    image : (3, H, W) float32 in [0, 1], RGB;  label : (H, W) int64 in 0..10 or 255.
    """

    class_names = CAMVID_CLASSES

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
        require_split(split, allowed=_SPLITS, root=root, dataset="CamVid")
        image_folder = require_folder(root, split, layout=_LAYOUT)
        label_folder = require_folder(root, f"{split}annot", layout=_LAYOUT)
        list_file = root / f"{split}.txt"
        if list_file.is_file():
            pairs = _pairs_from_list(list_file, root=root)
        else:
            pairs = _pairs_by_name(image_folder, label_folder, root=root)
        super().__init__(
            pairs,
            root=root,
            split=split,
            lookup=label_lookup_table({k: k for k in range(len(CAMVID_CLASSES))}),
            size=size,
            crop=crop,
            hflip=hflip,
            seed=seed,
        )


def _pairs_from_list(list_file: Path, *, root: Path) -> list[tuple[Path, Path]]:
    """Pairs of a SegNet list file, each path re-rooted at ``root`` by its last two components."""
    pairs = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise DatasetLayoutError(
                f"{list_file} line {number}: expected 'IMAGE LABEL' (two paths), found {line.strip()!r}"
            )
        image_path, label_path = (root.joinpath(*PurePosixPath(f).parts[-2:]) for f in fields)
        if not image_path.is_file():
            raise DatasetLayoutError(f"{list_file} line {number}: image {image_path} does not exist")
        if not label_path.is_file():
            raise DatasetLayoutError(
                f"{list_file} line {number}: image {image_path} has no label file {label_path}"
            )
        pairs.append((image_path, label_path))
    if not pairs:
        raise DatasetLayoutError(
            f"{list_file}: lists no image; expected one 'IMAGE LABEL' pair per line"
        )
    return pairs


def _pairs_by_name(image_folder: Path, label_folder: Path, *, root: Path) -> list[tuple[Path, Path]]:
    """Every image of ``image_folder`` with the PNG label of the same stem in ``label_folder``."""
    images = sorted(p for p in image_folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not images:
        raise DatasetLayoutError(f"{root}: no image in '{image_folder.name}/'; expected {_LAYOUT}")
    pairs = []
    for image_path in images:
        label_path = label_folder / f"{image_path.stem}.png"
        if not label_path.is_file():
            raise DatasetLayoutError(
                f"{image_path}: no label file {label_folder.name}/{label_path.name}; expected {_LAYOUT}"
            )
        pairs.append((image_path, label_path))
    return pairs

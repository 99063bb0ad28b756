"""ADE20K SceneParsing (ADEChallengeData2016): 150 indoor and outdoor classes.

The loader reads a copy the user already has (``ADEChallengeData2016.zip`` unpacked); it never
downloads. ``root`` is either the folder that contains ``ADEChallengeData2016`` or that folder::

    ADEChallengeData2016/images/{training,validation}/*.jpg
    ADEChallengeData2016/annotations/{training,validation}/*.png

Splits ``"train"`` and ``"val"`` are the ``training`` and ``validation`` folders (the folder names
are accepted too). Annotation 0 ("other") becomes 255 and annotation k in 1..150 becomes class
k - 1, the convention of the benchmark and of the ADE20K checkpoints of Hugging Face models.

Example
-------
Reading a local copy (image: (3, 512, 512) float32 in [0, 1]; label: (512, 512) int64):

>>> dataset = ADE20K(root="/data", split="val", size=(512, 512))  # doctest: +SKIP
>>> image, label = dataset[0]  # doctest: +SKIP
>>> dataset.class_names[label[0, 0]]  # doctest: +SKIP
'wall'
"""

from __future__ import annotations

from pathlib import Path

from gosvae.datasets.transforms import (
    PairedFileDataset,
    label_lookup_table,
    require_folder,
    require_root,
    require_split,
)
from gosvae.errors import DatasetLayoutError
from gosvae.registry import register_dataset

__all__ = ["ADE20K", "ADE20K_CLASSES"]

ADE20K_CLASSES: tuple[str, ...] = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair",
    "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion",
    "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper",
    "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table",
    "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind", "coffee table",
    "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island",
    "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman",
    "bottle", "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy",
    "washer", "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag",
    "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave", "pot",
    "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce",
    "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
"""The 150 SceneParsing classes (class k - 1 is annotation k), short names of objectInfo150."""

_SPLIT_FOLDERS = {
    "train": "training", "val": "validation", "training": "training", "validation": "validation",
}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_CHALLENGE_FOLDER = "ADEChallengeData2016"
_LAYOUT = (
    "the ADE20K SceneParsing layout (ADEChallengeData2016/images/{training,validation}/*.jpg, "
    "ADEChallengeData2016/annotations/{training,validation}/*.png)"
)


@register_dataset("ade20k", description="ADE20K SceneParsing (150 classes), read from a local folder")
class ADE20K(PairedFileDataset):
    """ADE20K scene parsing benchmark, 150 classes.

    Parameters
    ----------
    root : str | Path
        The folder containing ``ADEChallengeData2016``, or that folder itself (never downloaded).
    split : str
        ``"train"`` or ``"val"`` (also ``"training"``, ``"validation"``).
    size : tuple[int, int] | None
        Resize every item to (H, W): bilinear image, nearest label (file sizes vary).
    crop : tuple[int, int] | None
        Random (h, w) crop after the resize, for training.
    hflip : bool
        Random horizontal flips, for training.
    seed : int
        Seed of the crops and flips; an item depends only on ``(seed, epoch, index)``.

    Output of ``dataset[i]``
    ------------------------
    image : (3, H, W) float32 in [0, 1], RGB;  label : (H, W) int64 in 0..149 or 255.
    """

    class_names = ADE20K_CLASSES

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
        require_split(split, allowed=tuple(_SPLIT_FOLDERS), root=root, dataset="ADE20K")
        base = root / _CHALLENGE_FOLDER if (root / _CHALLENGE_FOLDER).is_dir() else root
        if not ((base / "images").is_dir() and (base / "annotations").is_dir()):
            raise DatasetLayoutError(
                f"{root}: no '{_CHALLENGE_FOLDER}' folder, nor 'images' and 'annotations' in it; "
                f"expected {_LAYOUT}"
            )
        folder = _SPLIT_FOLDERS[split]
        image_folder = require_folder(base, f"images/{folder}", layout=_LAYOUT)
        label_folder = require_folder(base, f"annotations/{folder}", layout=_LAYOUT)
        images = sorted(p for p in image_folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not images:
            raise DatasetLayoutError(f"{base}: no image in 'images/{folder}/'; expected {_LAYOUT}")
        pairs = []
        for image_path in images:
            label_path = label_folder / f"{image_path.stem}.png"
            if not label_path.is_file():
                raise DatasetLayoutError(
                    f"{image_path}: no label file annotations/{folder}/{label_path.name}; "
                    f"expected {_LAYOUT}"
                )
            pairs.append((image_path, label_path))
        super().__init__(
            pairs,
            root=root,
            split=split,
            lookup=label_lookup_table({k: k - 1 for k in range(1, len(ADE20K_CLASSES) + 1)}),
            size=size,
            crop=crop,
            hflip=hflip,
            seed=seed,
        )

"""Shared item pipeline of the file-based segmentation datasets: read, relabel, resize, crop, flip.

CamVid, Cityscapes and ADE20K differ only in where their files are and how raw label values map to
class ids; everything after that is the same and lives here:

1. :func:`read_rgb_image` and :func:`read_label_map` decode the two files of an item with Pillow
   (the label through a 256-entry lookup table built by :func:`label_lookup_table`);
2. :class:`PairTransform` resizes (bilinear for the image, nearest for the label), random-crops and
   random-flips the image and the label together;
3. :func:`augmentation_generator` seeds the randomness from ``(seed, epoch, index)``, so an item is
   the same whenever and in whichever worker process it is read;
4. :class:`PairedFileDataset` ties these together behind the dataset contract of
   :mod:`gosvae.datasets.base`.

Example
-------
>>> transform = PairTransform(size=(256, 512), crop=(128, 128), hflip=True)
>>> image, label = torch.rand(3, 512, 1024), torch.zeros(512, 1024, dtype=torch.int64)
>>> image, label = transform(image, label, generator=augmentation_generator(seed=0, epoch=0, index=7))
>>> image.shape, label.shape
(torch.Size([3, 128, 128]), torch.Size([128, 128]))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from gosvae.datasets.base import IGNORE_INDEX
from gosvae.errors import DatasetLayoutError, UserError

__all__ = [
    "PairTransform",
    "PairedFileDataset",
    "augmentation_generator",
    "hflip_pair",
    "label_lookup_table",
    "random_crop_pair",
    "require_folder",
    "require_root",
    "require_split",
    "read_label_map",
    "read_rgb_image",
    "resize_pair",
]


# --------------------------------------------------------------------------------------------- #
# Layout checks (one-line DatasetLayoutError messages naming the root and the expected layout)
# --------------------------------------------------------------------------------------------- #
def require_root(root: str | Path, *, layout: str) -> Path:
    """``root`` as a Path; :class:`DatasetLayoutError` if it is not an existing folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DatasetLayoutError(f"{root}: dataset root {what}; expected {layout}")
    return root


def require_folder(root: Path, relative: str | Path, *, layout: str) -> Path:
    """``root / relative``; :class:`DatasetLayoutError` naming it if it is not a folder."""
    folder = root / relative
    if not folder.is_dir():
        raise DatasetLayoutError(f"{root}: no '{Path(relative).as_posix()}' folder; expected {layout}")
    return folder


def require_split(split: str, *, allowed: Sequence[str], root: Path, dataset: str) -> str:
    """``split`` if it is one of ``allowed``, else :class:`DatasetLayoutError` listing them."""
    if split not in allowed:
        expected = ", ".join(f"'{name}'" for name in allowed)
        raise DatasetLayoutError(
            f"{root}: unknown {dataset} split {split!r}; expected one of {expected}"
        )
    return split


# --------------------------------------------------------------------------------------------- #
# Reading files
# --------------------------------------------------------------------------------------------- #
def label_lookup_table(mapping: Mapping[int, int], *, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Lookup table from raw 8-bit label values to class ids; values not in ``mapping`` → ignore.

    Input: ``mapping`` {raw value in [0, 255]: class id in [0, 255]}.
    Output: (256,) uint8 array ``table`` with ``table[raw] = class id``.

    Example
    -------
    >>> label_lookup_table({7: 0, 26: 13})[[0, 7, 26]].tolist()
    [255, 0, 13]
    """
    table = np.full(256, ignore_index, dtype=np.uint8)
    for raw, class_id in mapping.items():
        if not (0 <= raw <= 255 and 0 <= class_id <= 255):
            raise ValueError(f"label mapping {raw} -> {class_id} is outside the 8-bit range")
        table[raw] = class_id
    return table


def read_rgb_image(path: str | Path) -> torch.Tensor:
    """Decode an image file (any mode Pillow reads: RGB, grey, palette, RGBA) as RGB.

    Output: (3, H, W) float32 in [0, 1].
    """
    with Image.open(path) as image:
        # No EXIF rotation: label files are aligned with the stored pixel grid, not the rotated one.
        pixels = np.array(image.convert("RGB"), dtype=np.uint8)  # (H, W, 3), a writable copy
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous().float().div_(255.0)


def read_label_map(path: str | Path, *, lookup: np.ndarray) -> torch.Tensor:
    """Decode a single-channel label file and map its raw values through ``lookup``.

    Input: ``path`` of an 8- or 16-bit single-channel image (mode L, P, I;16 or I); ``lookup`` the
    (256,) table of :func:`label_lookup_table`.
    Output: (H, W) int64 class ids or the ignore index.
    Raises :class:`DatasetLayoutError` for a colour label image or values above 255.
    """
    with Image.open(path) as image:
        if image.mode not in ("L", "P", "I;16", "I"):
            raise DatasetLayoutError(
                f"{path}: label image has mode {image.mode}; expected single-channel class ids "
                "(mode L or P), not a colour-coded label"
            )
        raw = np.array(image)
    if raw.dtype != np.uint8:
        if raw.min() < 0 or raw.max() > 255:
            raise DatasetLayoutError(
                f"{path}: label values span [{raw.min()}, {raw.max()}]; expected class ids in [0, 255]"
            )
        raw = raw.astype(np.uint8)
    return torch.from_numpy(lookup[raw].astype(np.int64))


# --------------------------------------------------------------------------------------------- #
# Geometric transforms (image and label together)
# --------------------------------------------------------------------------------------------- #
def resize_pair(
    image: torch.Tensor, label: torch.Tensor, *, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize to ``size`` = (H', W'): bilinear with antialiasing for the image, nearest for the label.

    The image filter matches Pillow's ``BILINEAR`` and the label filter Pillow's ``NEAREST``
    (``nearest-exact``: pixel centres, no half-pixel shift).

    Input: ``image`` (3, H, W) float32; ``label`` (H, W) int64.
    Output: (3, H', W') float32 in the input's range; (H', W') int64 with only input label values.
    """
    if tuple(image.shape[-2:]) == tuple(size):
        return image, label
    resized_image = F.interpolate(
        image[None], size=size, mode="bilinear", align_corners=False, antialias=True
    )[0].clamp_(0.0, 1.0)
    # Labels go through float32, exact for integers below 2**24.
    resized_label = F.interpolate(label[None, None].float(), size=size, mode="nearest-exact")[0, 0]
    return resized_image, resized_label.to(label.dtype)


def random_crop_pair(
    image: torch.Tensor,
    label: torch.Tensor,
    *,
    crop: tuple[int, int],
    generator: torch.Generator,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut the same random (h, w) window out of the image and the label.

    A side shorter than the window is first padded at its end (bottom/right) with zeros in the
    image and ``ignore_index`` in the label, so padded pixels never count in losses or metrics.

    Input: ``image`` (3, H, W); ``label`` (H, W); ``crop`` (h, w); ``generator`` for the offsets.
    Output: (3, h, w) and (h, w), equal to ``image[:, t:t+h, l:l+w]`` and ``label[t:t+h, l:l+w]``
    of the padded pair, with ``t`` and ``l`` uniform over the valid offsets.
    """
    crop_h, crop_w = crop
    height, width = label.shape
    pad_h, pad_w = max(crop_h - height, 0), max(crop_w - width, 0)
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), value=0.0)
        label = F.pad(label, (0, pad_w, 0, pad_h), value=ignore_index)
        height, width = label.shape
    top = int(torch.randint(height - crop_h + 1, (1,), generator=generator))
    left = int(torch.randint(width - crop_w + 1, (1,), generator=generator))
    return (
        image[:, top : top + crop_h, left : left + crop_w],
        label[top : top + crop_h, left : left + crop_w],
    )


def hflip_pair(image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror left-right. Input/output: (3, H, W) and (H, W)."""
    return image.flip(-1), label.flip(-1)


def augmentation_generator(*, seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator seeded from ``(seed, epoch, index)``, identical in every process.

    NumPy's ``SeedSequence`` hashes the three numbers into one well-mixed 64-bit seed, so nearby
    tuples such as (0, 1, 0) and (0, 0, 1) give unrelated streams.
    """
    if min(seed, epoch, index) < 0:
        raise UserError(
            f"seed, epoch and index must be >= 0, got seed={seed}, epoch={epoch}, index={index}"
        )
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _check_hw(name: str, value: Sequence[int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
        or min(value) < 1
    ):
        raise UserError(f"{name} must be (height, width) with two positive integers, got {value!r}")
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class PairTransform:
    """Resize, then random crop, then random horizontal flip, applied to an image and its label.

    Parameters
    ----------
    size : tuple[int, int] | None
        (H, W) to resize to (bilinear image, nearest label); ``None`` keeps the file's size.
    crop : tuple[int, int] | None
        (h, w) of a random window (after the resize); ``None`` for no crop.
    hflip : bool
        Mirror left-right with probability 1/2.

    Input
    -----
    image : (3, H, W) float32;  label : (H, W) int64;
    generator : torch.Generator | None, needed when :attr:`is_random`.

    Output
    ------
    (3, h, w) float32 and (h, w) int64, aligned pixel for pixel.
    """

    size: tuple[int, int] | None = None
    crop: tuple[int, int] | None = None
    hflip: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", _check_hw("size", self.size))
        object.__setattr__(self, "crop", _check_hw("crop", self.crop))
        object.__setattr__(self, "hflip", bool(self.hflip))

    @property
    def is_random(self) -> bool:
        """Whether the transform draws random numbers (crop or flip)."""
        return self.crop is not None or self.hflip

    def __call__(
        self, image: torch.Tensor, label: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.is_random and generator is None:
            raise ValueError("PairTransform with crop or hflip needs a generator")
        if self.size is not None:
            image, label = resize_pair(image, label, size=self.size)
        if self.crop is not None:
            image, label = random_crop_pair(image, label, crop=self.crop, generator=generator)
        if self.hflip and bool(torch.rand((), generator=generator) < 0.5):
            image, label = hflip_pair(image, label)
        return image.contiguous(), label.contiguous()


# --------------------------------------------------------------------------------------------- #
# The dataset base
# --------------------------------------------------------------------------------------------- #
class PairedFileDataset(Dataset):
    """Base of datasets made of (image file, label file) pairs; subclasses only find the pairs.

    Subclasses set the class attributes ``class_names`` (and hence ``num_classes``) and call
    ``super().__init__`` with the pairs they found and the lookup table of their label values.

    Parameters
    ----------
    pairs : Sequence[tuple[Path, Path]]
        (image file, label file) of every item, in item order.
    root : Path
        The dataset folder the user gave (kept for messages and ``repr``).
    split : str
        The split the pairs belong to.
    lookup : np.ndarray
        (256,) uint8 table from raw label values to class ids (:func:`label_lookup_table`).
    size, crop, hflip
        Options of :class:`PairTransform`.
    seed : int
        Augmentation seed; with :attr:`epoch` and the index it fixes the crop and flip of an item.

    Attributes
    ----------
    epoch : int
        Set it at the start of each epoch (``dataset.epoch = e``) to draw new crops and flips.
        DataLoader workers copy the dataset when an iterator starts, so set it before iterating
        (with ``persistent_workers=True`` the workers keep the value they started with).

    Output of ``dataset[i]``
    ------------------------
    image : (3, H, W) float32 in [0, 1], RGB;  label : (H, W) int64 in [0, num_classes) or 255.
    """

    class_names: tuple[str, ...] = ()
    ignore_index: int = IGNORE_INDEX

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        *,
        root: Path,
        split: str,
        lookup: np.ndarray,
        size: tuple[int, int] | None = None,
        crop: tuple[int, int] | None = None,
        hflip: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UserError(f"seed must be a non-negative integer, got {seed!r}")
        self.pairs: tuple[tuple[Path, Path], ...] = tuple(pairs)
        self.root = Path(root)
        self.split = split
        self.lookup = lookup
        self.transform = PairTransform(size=size, crop=crop, hflip=hflip)
        self.seed = int(seed)
        self.epoch = 0

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = range(len(self.pairs))[index]  # negative indices; IndexError when out of range
        image_path, label_path = self.pairs[index]
        image = read_rgb_image(image_path)
        label = read_label_map(label_path, lookup=self.lookup)
        if image.shape[-2:] != label.shape:
            raise DatasetLayoutError(
                f"{image_path}: image is {tuple(image.shape[-2:])} (H, W) but its label {label_path} "
                f"is {tuple(label.shape)}; expected the same size"
            )
        generator = None
        if self.transform.is_random:
            generator = augmentation_generator(seed=self.seed, epoch=int(self.epoch), index=index)
        return self.transform(image, label, generator=generator)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self.transform).items())
        return (
            f"{type(self).__name__}(root='{self.root}', split='{self.split}', {len(self)} items, "
            f"{options}, seed={self.seed})"
        )

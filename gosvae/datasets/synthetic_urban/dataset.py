"""The ``synthetic-urban`` torch dataset: rendered street scenes on demand, with augmentation.

Items are rendered when read (no files); an item depends only on ``(seed, split, index)``, and
its crop and flip only on ``(seed, epoch, index)``, so it is the same in every worker process.

Example
-------
>>> dataset = SyntheticUrban(split="train", num_images=8, size=(128, 256), crop=(96, 96), hflip=True)
>>> image, label = dataset[3]
>>> tuple(image.shape), image.dtype, tuple(label.shape), label.dtype
((3, 96, 96), torch.float32, (96, 96), torch.int64)
>>> dataset.epoch = 1     # the trainer sets this: new crops and flips
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from gosvae.datasets.base import CITYSCAPES_CLASSES, IGNORE_INDEX
from gosvae.datasets.synthetic_urban.render import SPLIT_CODES, render_scene
from gosvae.datasets.transforms import PairTransform, augmentation_generator
from gosvae.errors import UserError
from gosvae.registry import register_dataset

__all__ = ["SyntheticUrban", "DEFAULT_SPLIT_SIZES"]

DEFAULT_SPLIT_SIZES: dict[str, int] = {"train": 2000, "val": 100, "test": 100}
"""Number of scenes per split unless ``num_images`` says otherwise."""

DEFAULT_SIZE: tuple[int, int] = (256, 512)


def _height_width(name: str, value: Sequence[int]) -> tuple[int, int]:
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise UserError(f"synthetic-urban: {name} must be (height, width) with two positive integers, got {value!r}")
    return int(value[0]), int(value[1])


@register_dataset("synthetic-urban", description="procedural street scenes with exact Cityscapes-19 labels (generated offline)")
class SyntheticUrban(Dataset):
    """Procedural urban street scenes labelled with the 19 Cityscapes train ids.

    Parameters
    ----------
    split : str
        ``"train"``, ``"val"`` or ``"test"``; the splits never share a scene.
    num_images : int | None
        Number of scenes; ``None`` gives :data:`DEFAULT_SPLIT_SIZES` (2000 / 100 / 100).
    size : tuple[int, int] | None
        (H, W) at which scenes are rendered; ``None`` means (256, 512). Scenes are laid out for a
        1:2 frame and the same scene is drawn at every size.
    crop : tuple[int, int] | None
        (h, w) random window cut from the render (labels stay exact), for training.
    hflip : bool
        Mirror left-right with probability 1/2, for training.
    seed : int
        Chooses the scenes and, with :attr:`epoch` and the index, the crops and flips.

    Attributes
    ----------
    num_classes : int
        19.
    class_names : tuple[str, ...]
        :data:`~gosvae.datasets.base.CITYSCAPES_CLASSES`.
    ignore_index : int
        255 (never produced by the renderer).
    epoch : int
        Set by the trainer at each epoch (``dataset.epoch = e``) to draw new crops and flips; set it
        before creating the DataLoader iterator, since workers copy the dataset.

    Output of ``dataset[i]``
    ------------------------
    image : torch.Tensor
        (3, h, w) float32 in [0, 1], RGB.
    label : torch.Tensor
        (h, w) int64 train ids in [0, 19).
    """

    class_names: tuple[str, ...] = CITYSCAPES_CLASSES
    num_classes: int = len(CITYSCAPES_CLASSES)
    ignore_index: int = IGNORE_INDEX

    def __init__(
        self,
        *,
        split: str = "train",
        num_images: int | None = None,
        size: tuple[int, int] | None = DEFAULT_SIZE,
        crop: tuple[int, int] | None = None,
        hflip: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if split not in SPLIT_CODES:
            raise UserError(f"synthetic-urban: unknown split {split!r}; expected one of {', '.join(map(repr, SPLIT_CODES))}")
        if num_images is None:
            num_images = DEFAULT_SPLIT_SIZES[split]
        if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or num_images < 0:
            raise UserError(f"synthetic-urban: num_images must be a non-negative integer or None, got {num_images!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UserError(f"synthetic-urban: seed must be a non-negative integer, got {seed!r}")
        self.split = split
        self.num_images = int(num_images)
        self.size = _height_width("size", DEFAULT_SIZE if size is None else size)
        if crop is not None:
            crop = _height_width("crop", crop)
            if crop[0] > self.size[0] or crop[1] > self.size[1]:
                raise UserError(f"synthetic-urban: crop {crop} is larger than the rendered size {self.size} (height, width)")
        self.transform = PairTransform(size=None, crop=crop, hflip=hflip)
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.num_images

    def render(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The full render of item ``index`` before augmentation: (H, W, 3) uint8 and (H, W) uint8."""
        index = range(self.num_images)[index]  # negative indices; IndexError when out of range
        height, width = self.size
        return render_scene(seed=self.seed, split=self.split, index=index, height=height, width=width)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = range(self.num_images)[index]
        image, label = self.render(index)
        image_t = torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)
        label_t = torch.from_numpy(label.astype(np.int64))
        generator = None
        if self.transform.is_random:
            generator = augmentation_generator(seed=self.seed, epoch=int(self.epoch), index=index)
        return self.transform(image_t, label_t, generator=generator)

    def __repr__(self) -> str:
        return (
            f"SyntheticUrban(split='{self.split}', num_images={self.num_images}, size={self.size}, "
            f"crop={self.transform.crop}, hflip={self.transform.hflip}, seed={self.seed})"
        )

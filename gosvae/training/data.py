"""Training data held in memory as uint8 tensors, with batched random crops and flips.

Rendering a ``synthetic-urban`` scene or decoding a PNG costs far more than a training step of the
small models here, so the training split is materialised once (optionally cached on disk as a
``.npz``) and batches are cut from it with torch indexing.

Example
-------
>>> data = MaterializedData.from_dataset(dataset)                       # doctest: +SKIP
>>> images, labels = data.random_batch(batch_size=8, crop=(128, 256), hflip=True, generator=g)
>>> images.shape, images.dtype, labels.shape, labels.dtype
(torch.Size([8, 3, 128, 256]), torch.float32, torch.Size([8, 128, 256]), torch.int64)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm


def _collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.stack([(img * 255.0).round().to(torch.uint8) for img, _ in batch])
    labels = torch.stack([lab.to(torch.uint8) for _, lab in batch])
    return images, labels


@dataclass
class MaterializedData:
    """All items of a dataset: ``images`` (N, 3, H, W) uint8 and ``labels`` (N, H, W) uint8."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    @classmethod
    def from_dataset(
        cls, dataset: Dataset, *, cache_file: Path | None = None, num_workers: int | None = None, desc: str = "rendering"
    ) -> "MaterializedData":
        """Read every item of ``dataset`` once (items must all have the same size).

        With ``cache_file``, an existing cache is loaded instead, and a new one is written.
        ``num_workers`` reader processes (default: one per CPU core, at most 8); items depend on
        their index alone, so the result does not depend on it.
        """
        if num_workers is None:
            num_workers = min(8, os.cpu_count() or 1)
        if cache_file is not None and Path(cache_file).is_file():
            with np.load(cache_file) as z:
                return cls(torch.from_numpy(z["images"]), torch.from_numpy(z["labels"]))
        # The loader's own generator: by default it draws its base seed from torch's global RNG, so a
        # run that renders its data (no cache yet) would initialise its model differently from one
        # that finds the cache. Items depend on their index alone, so this seed changes no image.
        loader = DataLoader(
            dataset, batch_size=16, num_workers=num_workers, collate_fn=_collate, generator=torch.Generator().manual_seed(0)
        )
        parts = [batch for batch in tqdm(loader, desc=desc, unit="batch", leave=False)]
        images = torch.cat([p[0] for p in parts])
        labels = torch.cat([p[1] for p in parts])
        if cache_file is not None:
            Path(cache_file).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(str(cache_file) + ".tmp.npz")
            np.savez(tmp, images=images.numpy(), labels=labels.numpy())
            tmp.replace(cache_file)
        return cls(images, labels)

    def to(self, device: torch.device | str) -> "MaterializedData":
        """The same data on ``device`` (uint8 stays uint8: 0.4 MB per 256x512 image)."""
        return MaterializedData(self.images.to(device), self.labels.to(device))

    def random_batch(
        self,
        *,
        batch_size: int,
        crop: tuple[int, int] | None,
        hflip: bool,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch: images (B, 3, h, w) float32 in [0, 1], labels (B, h, w) int64."""
        n, _, height, width = self.images.shape
        idx = torch.randint(n, (batch_size,), generator=generator)
        ch, cw = crop if crop is not None else (height, width)
        tops = torch.randint(height - ch + 1, (batch_size,), generator=generator)
        lefts = torch.randint(width - cw + 1, (batch_size,), generator=generator)
        flips = torch.rand(batch_size, generator=generator) < 0.5 if hflip else torch.zeros(batch_size, dtype=torch.bool)
        images, labels = [], []
        for i, t, l, f in zip(idx.tolist(), tops.tolist(), lefts.tolist(), flips.tolist()):
            img = self.images[i, :, t : t + ch, l : l + cw]
            lab = self.labels[i, t : t + ch, l : l + cw]
            if f:
                img, lab = img.flip(-1), lab.flip(-1)
            images.append(img)
            labels.append(lab)
        return torch.stack(images).float().div_(255.0), torch.stack(labels).long()

    def batches(self, *, batch_size: int) -> "list[tuple[torch.Tensor, torch.Tensor]]":
        """The whole set in order, as (images float [0,1], labels int64) batches (for evaluation)."""
        out = []
        for start in range(0, len(self), batch_size):
            out.append(
                (self.images[start : start + batch_size].float() / 255.0, self.labels[start : start + batch_size].long())
            )
        return out

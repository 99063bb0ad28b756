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
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
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
            # a temporary file of its own per call: runs started side by side render the same split
            # at once, and each must rename a complete file of its own
            handle, name = tempfile.mkstemp(dir=Path(cache_file).parent, prefix=Path(cache_file).name, suffix=".tmp.npz")
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, images=images.numpy(), labels=labels.numpy())
            Path(name).replace(cache_file)
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
        scale_range: tuple[float, float] | None = None,
        color_jitter: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch: images (B, 3, h, w) float32 in [0, 1], labels (B, h, w) int64.

        ``scale_range`` (lo, hi): each item is a crop of ``crop / s`` pixels (``s`` uniform in
        [lo, hi], shrunk to fit the image with its aspect kept) resized to ``crop`` (bilinear image,
        nearest label): scale augmentation for small real datasets. ``color_jitter`` c: brightness
        and contrast each scaled by a factor uniform in [1 - c, 1 + c], saturation likewise.
        Without either option the draws are exactly those of crops and flips alone.
        """
        if scale_range is not None:
            return self._scaled_batch(
                batch_size=batch_size, crop=crop, hflip=hflip, generator=generator, scale_range=scale_range,
                color_jitter=color_jitter,
            )
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
        batch = torch.stack(images).float().div_(255.0)
        if color_jitter > 0:
            batch = _jitter_colors(batch, strength=color_jitter, generator=generator)
        return batch, torch.stack(labels).long()

    def _scaled_batch(
        self,
        *,
        batch_size: int,
        crop: tuple[int, int] | None,
        hflip: bool,
        generator: torch.Generator,
        scale_range: tuple[float, float],
        color_jitter: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`random_batch` with scale augmentation (see there)."""
        n, _, height, width = self.images.shape
        ch, cw = crop if crop is not None else (height, width)
        lo, hi = scale_range
        idx = torch.randint(n, (batch_size,), generator=generator)
        scales = lo + (hi - lo) * torch.rand(batch_size, generator=generator)
        offsets = torch.rand(batch_size, 2, generator=generator)
        flips = torch.rand(batch_size, generator=generator) < 0.5 if hflip else torch.zeros(batch_size, dtype=torch.bool)
        images, labels = [], []
        for i, s, (u, v), f in zip(idx.tolist(), scales.tolist(), offsets.tolist(), flips.tolist()):
            shrink = max(ch / s / height, cw / s / width, 1.0)  # keep the aspect if the crop overflows
            sh, sw = max(1, round(ch / s / shrink)), max(1, round(cw / s / shrink))
            top, left = int(u * (height - sh + 1)), int(v * (width - sw + 1))
            img = self.images[i : i + 1, :, top : top + sh, left : left + sw].float().div_(255.0)
            lab = self.labels[i : i + 1, None, top : top + sh, left : left + sw].float()
            img = F.interpolate(img, size=(ch, cw), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
            lab = F.interpolate(lab, size=(ch, cw), mode="nearest")
            if f:
                img, lab = img.flip(-1), lab.flip(-1)
            images.append(img[0])
            labels.append(lab[0, 0])
        batch = torch.stack(images)
        if color_jitter > 0:
            batch = _jitter_colors(batch, strength=color_jitter, generator=generator)
        return batch, torch.stack(labels).long()

    def batches(self, *, batch_size: int) -> "list[tuple[torch.Tensor, torch.Tensor]]":
        """The whole set in order, as (images float [0,1], labels int64) batches (for evaluation)."""
        out = []
        for start in range(0, len(self), batch_size):
            out.append(
                (self.images[start : start + batch_size].float() / 255.0, self.labels[start : start + batch_size].long())
            )
        return out


def _jitter_colors(images: torch.Tensor, *, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and saturation of each image (B, 3, H, W) in [0, 1] scaled by factors
    uniform in [1 - strength, 1 + strength]; the result is clamped to [0, 1]."""
    b = images.shape[0]
    factors = 1.0 + strength * (2.0 * torch.rand(b, 3, generator=generator) - 1.0)
    brightness, contrast, saturation = (factors[:, k].view(b, 1, 1, 1).to(images) for k in range(3))
    out = images * brightness
    gray = (0.299 * out[:, 0:1] + 0.587 * out[:, 1:2] + 0.114 * out[:, 2:3])
    out = gray.mean(dim=(2, 3), keepdim=True) + contrast * (out - gray.mean(dim=(2, 3), keepdim=True))
    gray = (0.299 * out[:, 0:1] + 0.587 * out[:, 1:2] + 0.114 * out[:, 2:3])
    out = gray + saturation * (out - gray)
    return out.clamp_(0.0, 1.0)

"""The RL-ASC receiver: semantic-label-guided image generator and conditional discriminator.

RL-ASC (reinforcement-learning-based adaptive semantic coding, Huang et al. 2022, arXiv
2208.04094) sends a small map of semantic concept features (``n`` channels at ``H/8 x W/8``)
together with the semantic labels, and rebuilds the image with a GAN generator of three parts:

- a **local generator** (pix2pixHD-style): a 3x3 convolution to ``4w`` channels, residual blocks at
  the feature resolution, two transposed 4x4 convolutions (``4w -> 2w -> w``) and one
  **class-specific** transposed 4x4 convolution head per class, so each pixel is drawn by the head
  of its label;
- a **global generator** (SPADE, Park et al. 2019): a 3x3 convolution to ``4w`` channels, then
  SPADE residual blocks conditioned on the one-hot label map, each followed by a x2 nearest
  upsampling, widths ``4w -> 4w, 4w -> 2w, 2w -> w`` (the width halves after the first block, down to
  ``w``); 3 blocks reach ``H x W``;
- an **attention module**: three transposed 4x4 convolutions from the features to ``H x W`` and a
  2-channel softmax that mixes the two images pixel by pixel.

:class:`MultiScalePatchDiscriminator` is the conditional multi-scale PatchGAN (pix2pixHD) that
scores ``[image, one-hot labels]`` at ``scales`` resolutions.

Example
-------
>>> gen = RLASCGenerator(concept_channels=8, num_classes=11, width=8)
>>> labels = torch.randint(0, 11, (2, 64, 128))
>>> out = gen(torch.randn(2, 8, 8, 16), labels)
>>> out.image.shape, out.attention.shape
(torch.Size([2, 3, 64, 128]), torch.Size([2, 2, 64, 128]))
>>> disc = MultiScalePatchDiscriminator(num_classes=11, channels=8)
>>> [tuple(m.shape) for m in disc(out.image, labels)]
[(2, 1, 6, 14), (2, 1, 2, 6)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gosvae.errors import UserError
from gosvae.models.patch_discriminator import PatchDiscriminator

__all__ = [
    "GeneratorOutput",
    "MultiScalePatchDiscriminator",
    "RLASCGenerator",
    "SPADE",
    "SpadeResBlock",
    "labels_onehot",
]

UPSAMPLING: int = 8
"""Ratio between the image side and the concept-feature side (three x2 stages)."""


def labels_onehot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot encoding of a label map.

    Input: ``labels`` (B, H, W) int64 with values in ``[0, num_classes)`` (map void / ignore pixels,
    e.g. 255, to a class first). Output: (B, num_classes, H, W) float32 of 0s and 1s.
    """
    if labels.dim() != 3:
        raise UserError(f"labels must be (B, H, W), got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise UserError(f"labels must be an integer tensor (int64), got {labels.dtype}")
    if num_classes < 1:
        raise UserError(f"num_classes must be >= 1, got {num_classes}")
    if labels.numel():
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise UserError(f"labels must lie in [0, {num_classes}), got values from {low} to {high}")
    return F.one_hot(labels.long(), num_classes).permute(0, 3, 1, 2).to(torch.float32)


class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al. 2019).

    ``InstanceNorm(x) * (1 + gamma) + beta`` with a parameter-free instance norm; ``gamma`` and
    ``beta`` come from two 3x3 convolutions on a shared 3x3 convolution + ReLU of the one-hot label
    map, resized to the size of ``x`` by nearest interpolation.

    Parameters
    ----------
    channels : int
        ``C``, channels of ``x``.
    label_channels : int
        ``L``, channels of the one-hot map (the number of classes).
    hidden : int
        Width of the shared convolution.

    Input
    -----
    x : torch.Tensor
        (B, C, h, w) float.
    onehot : torch.Tensor
        (B, L, H', W') float (any size; resized to h x w).

    Output
    ------
    torch.Tensor
        (B, C, h, w) float.
    """

    def __init__(self, channels: int, *, label_channels: int, hidden: int = 64) -> None:
        super().__init__()
        if channels < 1 or label_channels < 1 or hidden < 1:
            raise UserError(
                f"SPADE: channels, label_channels and hidden must be >= 1, got {channels}, {label_channels}, {hidden}"
            )
        self.channels, self.label_channels = int(channels), int(label_channels)
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise UserError(f"SPADE: x must be (B, {self.channels}, h, w), got {tuple(x.shape)}")
        if onehot.dim() != 4 or onehot.shape[1] != self.label_channels or onehot.shape[0] != x.shape[0]:
            raise UserError(
                f"SPADE: onehot must be (B={x.shape[0]}, {self.label_channels}, H, W), got {tuple(onehot.shape)}"
            )
        if onehot.shape[-2:] != x.shape[-2:]:
            onehot = F.interpolate(onehot, size=x.shape[-2:], mode="nearest")
        hidden = self.mlp_shared(onehot.to(x.dtype))
        return self.norm(x) * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SpadeResBlock(nn.Module):
    """SPADE residual block: ``SPADE -> LeakyReLU(0.2) -> conv3x3`` twice, plus a shortcut.

    The middle width is ``min(in_channels, out_channels)`` (as in SPADE); when the widths differ the
    shortcut is learned (``SPADE -> conv1x1`` without bias), else it is the identity.

    Input: ``x`` (B, in_channels, h, w) float and ``onehot`` (B, label_channels, H', W') float.
    Output: (B, out_channels, h, w) float.
    """

    def __init__(self, in_channels: int, out_channels: int, *, label_channels: int, hidden: int = 64) -> None:
        super().__init__()
        middle = min(in_channels, out_channels)
        self.norm_0 = SPADE(in_channels, label_channels=label_channels, hidden=hidden)
        self.conv_0 = nn.Conv2d(in_channels, middle, 3, padding=1)
        self.norm_1 = SPADE(middle, label_channels=label_channels, hidden=hidden)
        self.conv_1 = nn.Conv2d(middle, out_channels, 3, padding=1)
        self.learned_shortcut = in_channels != out_channels
        if self.learned_shortcut:
            self.norm_s = SPADE(in_channels, label_channels=label_channels, hidden=hidden)
            self.conv_s = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, onehot)) if self.learned_shortcut else x
        h = self.conv_0(F.leaky_relu(self.norm_0(x, onehot), 0.2))
        h = self.conv_1(F.leaky_relu(self.norm_1(h, onehot), 0.2))
        return shortcut + h


class _LocalResBlock(nn.Module):
    """``x + IN(conv3x3(ReLU(IN(conv3x3(x)))))`` (pix2pixHD); shape-preserving."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.InstanceNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


def _up(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """Transposed 4x4 convolution, stride 2, padding 1: exactly doubles each side."""
    return nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)


@dataclass
class GeneratorOutput:
    """What :class:`RLASCGenerator` returns; every tensor is float of side ``H x W``.

    image: (B, 3, H, W) in [0, 1], the attention-weighted mix of the two images.
    local: (B, 3, H, W) in [0, 1], the local (class-specific) generator's image.
    global_image: (B, 3, H, W) in [0, 1], the global (SPADE) generator's image.
    attention: (B, 2, H, W) in [0, 1], summing to 1 over dim 1 (channel 0: local, 1: global).
    """

    image: torch.Tensor
    local: torch.Tensor
    global_image: torch.Tensor
    attention: torch.Tensor


class RLASCGenerator(nn.Module):
    """RL-ASC generator: local + global generators mixed by a learned attention map.

    Parameters
    ----------
    concept_channels : int
        ``n``, channels of the semantic concept features.
    num_classes : int
        Number of semantic classes (heads of the local generator, channels of the one-hot map).
    width : int
        ``w``, base width; the trunks run at ``4w``, ``2w`` and ``w`` channels.
    local_blocks : int
        Residual blocks of the local generator (at the feature resolution); may be 0.
    global_blocks : int
        SPADE residual blocks of the global generator (>= 1). Each of the first three is followed
        by a x2 nearest upsampling; with fewer than 3 the rest of the way to ``H x W`` is one
        nearest interpolation before the output convolution, with more than 3 the extra blocks run
        at ``H x W`` and width ``w``.

    Input
    -----
    features : torch.Tensor
        (B, n, h, w) float concept features (h * w >= 2, as instance norm needs).
    labels : torch.Tensor
        (B, 8h, 8w) int64 class ids in ``[0, num_classes)``.

    Output
    ------
    GeneratorOutput
        ``image``, ``local``, ``global_image`` (B, 3, 8h, 8w) float in [0, 1] and ``attention``
        (B, 2, 8h, 8w) float summing to 1 over dim 1.
    """

    def __init__(
        self, *, concept_channels: int, num_classes: int, width: int = 32, local_blocks: int = 5, global_blocks: int = 3
    ) -> None:
        super().__init__()
        if concept_channels < 1 or num_classes < 1 or width < 1:
            raise UserError(
                "RL-ASC generator: concept_channels, num_classes and width must be >= 1, "
                f"got {concept_channels}, {num_classes}, {width}"
            )
        if local_blocks < 0 or global_blocks < 1:
            raise UserError(
                f"RL-ASC generator: local_blocks must be >= 0 and global_blocks >= 1, got {local_blocks} and {global_blocks}"
            )
        n, k, w = int(concept_channels), int(num_classes), int(width)
        self.concept_channels, self.num_classes, self.width = n, k, w
        self.local_blocks, self.global_blocks = int(local_blocks), int(global_blocks)

        def conv_in_relu(module: nn.Module, channels: int) -> list[nn.Module]:
            return [module, nn.InstanceNorm2d(channels), nn.ReLU(inplace=True)]

        self.local_trunk = nn.Sequential(
            *conv_in_relu(nn.Conv2d(n, 4 * w, 3, padding=1), 4 * w),
            *(_LocalResBlock(4 * w) for _ in range(self.local_blocks)),
            *conv_in_relu(_up(4 * w, 2 * w), 2 * w),
            *conv_in_relu(_up(2 * w, w), w),
        )
        # One head per class, stored as one layer: output channels 3c .. 3c + 2 belong to class c.
        self.local_heads = _up(w, 3 * k)

        self.global_in = nn.Conv2d(n, 4 * w, 3, padding=1)
        widths = [4 * w] + [max(4 * w // 2**i, w) for i in range(1, self.global_blocks)]
        blocks, previous = [], 4 * w
        for out in widths:
            blocks.append(SpadeResBlock(previous, out, label_channels=k))
            previous = out
        self.spade_blocks = nn.ModuleList(blocks)
        self.global_out = nn.Conv2d(previous, 3, 3, padding=1)

        self.attention = nn.Sequential(
            _up(n, 2 * w), nn.ReLU(inplace=True),
            _up(2 * w, w), nn.ReLU(inplace=True),
            _up(w, max(w // 2, 8)), nn.ReLU(inplace=True),
            nn.Conv2d(max(w // 2, 8), 2, 3, padding=1),
        )

    @property
    def config(self) -> dict[str, Any]:
        return {
            "concept_channels": self.concept_channels,
            "num_classes": self.num_classes,
            "width": self.width,
            "local_blocks": self.local_blocks,
            "global_blocks": self.global_blocks,
        }

    def _check(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        n = self.concept_channels
        if features.dim() != 4 or features.shape[1] != n:
            raise UserError(f"features must be (B, {n}, h, w), got {tuple(features.shape)}")
        if not features.is_floating_point():
            raise UserError(f"features must be a float tensor, got {features.dtype}")
        h, w = features.shape[-2:]
        if h * w < 2:
            raise UserError(f"features must have at least 2 spatial positions (instance norm), got {h}x{w}")
        if labels.dim() != 3 or labels.shape[-2:] != (UPSAMPLING * h, UPSAMPLING * w):
            raise UserError(
                f"labels must be (B, {UPSAMPLING * h}, {UPSAMPLING * w}) for features of side {h}x{w}, got {tuple(labels.shape)}"
            )
        if labels.shape[0] != features.shape[0]:
            raise UserError(f"features and labels differ in batch size: {features.shape[0]} and {labels.shape[0]}")

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> GeneratorOutput:
        self._check(features, labels)
        onehot = labels_onehot(labels, self.num_classes).to(features.dtype)
        batch, size = features.shape[0], labels.shape[-2:]

        heads = self.local_heads(self.local_trunk(features)).view(batch, self.num_classes, 3, *size)
        local = torch.sigmoid((heads * onehot.unsqueeze(2)).sum(dim=1))

        x = self.global_in(features)
        for index, block in enumerate(self.spade_blocks):
            x = block(x, onehot)
            if index < 3:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=size, mode="nearest")
        global_image = torch.sigmoid(self.global_out(x))

        attention = torch.softmax(self.attention(features), dim=1)
        image = attention[:, 0:1] * local + attention[:, 1:2] * global_image
        return GeneratorOutput(image=image, local=local, global_image=global_image, attention=attention)


class MultiScalePatchDiscriminator(nn.Module):
    """Conditional multi-scale PatchGAN (pix2pixHD): one :class:`PatchDiscriminator` per scale.

    Each scale scores ``cat([images, one-hot labels])`` (``3 + num_classes`` channels); the input
    of scale ``k`` is average-pooled (kernel 3, stride 2, padding 1, padding not counted) ``k``
    times. :class:`PatchDiscriminator` maps its input by ``2x - 1``, so the one-hot channels enter
    as {-1, 1} (pooled ones as values in between): harmless, the first convolution is learned.

    Parameters
    ----------
    num_classes : int
        Number of semantic classes.
    channels : int
        Filters of the first stage of each discriminator.
    layers : int
        Stride-2 stages of each discriminator.
    scales : int
        Number of discriminators / resolutions.

    Input
    -----
    images : torch.Tensor
        (B, 3, H, W) float in [0, 1].
    labels : torch.Tensor
        (B, H, W) int64 class ids in ``[0, num_classes)``.

    Output
    ------
    list[torch.Tensor]
        ``scales`` logit maps (B, 1, h_k, w_k), full resolution first.
    """

    def __init__(self, *, num_classes: int, channels: int = 32, layers: int = 3, scales: int = 2) -> None:
        super().__init__()
        if num_classes < 1 or scales < 1:
            raise UserError(f"multi-scale discriminator: num_classes and scales must be >= 1, got {num_classes} and {scales}")
        self.num_classes, self.channels, self.layers, self.scales = int(num_classes), int(channels), int(layers), int(scales)
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(channels=channels, layers=layers, in_channels=3 + self.num_classes) for _ in range(self.scales)
        )

    @property
    def config(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "channels": self.channels, "layers": self.layers, "scales": self.scales}

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
        if images.dim() != 4 or images.shape[1] != 3:
            raise UserError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        if labels.dim() != 3 or labels.shape != (images.shape[0], *images.shape[-2:]):
            raise UserError(
                f"labels must be (B, H, W) = {(images.shape[0], *images.shape[-2:])} to match the images, got {tuple(labels.shape)}"
            )
        x = torch.cat([images, labels_onehot(labels, self.num_classes).to(images.dtype)], dim=1)
        outputs = []
        for index, disc in enumerate(self.discriminators):
            if index:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(disc(x))
        return outputs

"""PatchGAN discriminator (Isola et al. 2017 "pix2pix"; the one VQ-GAN uses, Esser et al. 2021).

A fully convolutional stack of 4x4 convolutions that scores overlapping patches of an image as
real or rebuilt: ``layers`` stride-2 stages (``channels · 2^i`` filters, capped at 8x), one
stride-1 stage, and a 1-channel stride-1 output; BatchNorm and LeakyReLU(0.2) in between (no norm
on the first stage). With 3 layers each output logit sees a 70x70 receptive field. Inputs in
[0, 1] are mapped to [-1, 1] inside. ``in_channels`` (default 3) lets a conditional discriminator
score an image stacked with extra maps (e.g. a one-hot label map, which the same ``2x - 1`` maps to
{-1, 1}).

Example
-------
>>> disc = PatchDiscriminator(channels=16, layers=3)
>>> disc(torch.rand(2, 3, 64, 128)).shape          # one logit per patch
torch.Size([2, 1, 6, 14])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gosvae.errors import UserError

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(nn.Module):
    """N-layer PatchGAN discriminator.

    Parameters
    ----------
    channels : int
        Filters of the first stage (pix2pix / VQ-GAN: 64).
    layers : int
        Number of stride-2 stages (3: 70x70 patches).
    in_channels : int
        Channels of the input (3: an RGB image).

    Input
    -----
    x : torch.Tensor
        (B, in_channels, H, W) float in [0, 1].

    Output
    ------
    torch.Tensor
        (B, 1, h, w) float: real/fake logits, one per patch (``h ≈ H / 2^layers - 2``).
    """

    def __init__(self, *, channels: int = 64, layers: int = 3, in_channels: int = 3) -> None:
        super().__init__()
        if channels < 1 or layers < 1:
            raise UserError(f"patch discriminator: channels and layers must be >= 1, got {channels} and {layers}")
        if in_channels < 1:
            raise UserError(f"patch discriminator: in_channels must be >= 1, got {in_channels}")
        self.channels, self.layers, self.in_channels = int(channels), int(layers), int(in_channels)
        stack: list[nn.Module] = [nn.Conv2d(self.in_channels, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        width = channels
        for i in range(1, layers + 1):
            new = channels * min(2**i, 8)
            stride = 2 if i < layers else 1
            stack += [nn.Conv2d(width, new, 4, stride=stride, padding=1, bias=False), nn.BatchNorm2d(new), nn.LeakyReLU(0.2, inplace=True)]
            width = new
        stack.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*stack)
        for module in self.modules():  # the pix2pix initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"channels": self.channels, "layers": self.layers}
        if self.in_channels != 3:
            config["in_channels"] = self.in_channels
        return config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise UserError(f"images must be (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self.net(2.0 * x - 1.0)

"""The residual VQ-VAE encoder and decoder (the paper's VQ-VAE† / GOS-VAE†, about 7.3 M parameters).

The layout follows the VQ-VAE of van den Oord et al. (2017), generalised to any ratio ``r``:

- encoder: ``log2(r)`` strided 4x4 convolutions, a 3x3 convolution, ``n`` residual blocks
  (activation, 3x3 convolution, activation, 1x1 convolution, added to the input), an activation
  and a 1x1 projection to ``D``;
- decoder: a 3x3 convolution from ``D``, ``n`` residual blocks, an activation, ``log2(r)``
  transposed 4x4 convolutions (the last one to RGB) and a sigmoid.

Defaults (stage widths 128, 256, 256, ...; residual width 224; 4 blocks on each side) were
calibrated so that ``r = 4``, ``K = 12000``, ``D = 64`` gives 7.18 M parameters (paper: 7.3 M).

Example
-------
>>> encoder = ResidualEncoder(ratio=4, embedding_dim=64)
>>> decoder = ResidualDecoder(ratio=4, embedding_dim=64)
>>> decoder(encoder(torch.rand(1, 3, 32, 64))).shape
torch.Size([1, 3, 32, 64])
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from gosvae.errors import UserError
from gosvae.models.shallow import make_activation, resolve_channels

DEFAULT_STAGE_CHANNELS: tuple[int, ...] = (128, 256, 256, 256, 256)
"""Stage widths, highest resolution first; a model of ratio ``r`` uses the first ``log2(r)``."""
DEFAULT_RESIDUAL_CHANNELS: int = 224
DEFAULT_NUM_RESIDUAL_BLOCKS: int = 4


class ResidualBlock(nn.Module):
    """``x + conv1x1(act(conv3x3(act(x))))``; shape-preserving.

    Input: (B, C, h, w) float. Output: (B, C, h, w) float.
    """

    def __init__(self, channels: int, *, hidden_channels: int, activation: str = "relu") -> None:
        super().__init__()
        self.branch = nn.Sequential(
            make_activation(activation),
            nn.Conv2d(channels, hidden_channels, 3, padding=1),
            make_activation(activation),
            nn.Conv2d(hidden_channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


def _check_blocks(num_residual_blocks: int, residual_channels: int) -> None:
    if num_residual_blocks < 0:
        raise UserError(f"num_residual_blocks must be >= 0, got {num_residual_blocks}")
    if residual_channels < 1:
        raise UserError(f"residual_channels must be >= 1, got {residual_channels}")


class ResidualEncoder(nn.Module):
    """Encoder with residual blocks at the latent resolution.

    Parameters
    ----------
    ratio : int
        Downsampling per side, one of 2, 4, 8, 16, 32.
    embedding_dim : int
        ``D``, channels of the output.
    channels : Sequence[int] | None
        Widths of the ``log2(ratio)`` strided convolutions (the last one is the width of the
        residual trunk); defaults to :data:`DEFAULT_STAGE_CHANNELS`.
    residual_channels : int
        Hidden width of the residual blocks.
    num_residual_blocks : int
        Number of residual blocks.
    activation : str
        "relu" or "gelu".

    Input
    -----
    x : torch.Tensor
        (B, 3, H, W) float in [0, 1], H and W divisible by ``ratio``.

    Output
    ------
    torch.Tensor
        (B, D, H / ratio, W / ratio) float.
    """

    def __init__(
        self,
        *,
        ratio: int,
        embedding_dim: int,
        channels: Sequence[int] | None = None,
        residual_channels: int = DEFAULT_RESIDUAL_CHANNELS,
        num_residual_blocks: int = DEFAULT_NUM_RESIDUAL_BLOCKS,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        _check_blocks(num_residual_blocks, residual_channels)
        self.channels = resolve_channels(
            channels, ratio=ratio, default=DEFAULT_STAGE_CHANNELS, what="encoder_channels"
        )
        layers: list[nn.Module] = []
        in_channels = 3
        for index, width in enumerate(self.channels):
            if index:
                layers.append(make_activation(activation))
            layers.append(nn.Conv2d(in_channels, width, 4, stride=2, padding=1))
            in_channels = width
        layers += [make_activation(activation), nn.Conv2d(in_channels, in_channels, 3, padding=1)]
        layers += [
            ResidualBlock(in_channels, hidden_channels=residual_channels, activation=activation)
            for _ in range(num_residual_blocks)
        ]
        layers += [make_activation(activation), nn.Conv2d(in_channels, embedding_dim, 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ResidualDecoder(nn.Module):
    """Decoder mirroring :class:`ResidualEncoder`.

    Parameters
    ----------
    ratio : int
        Upsampling per side, one of 2, 4, 8, 16, 32.
    embedding_dim : int
        ``D``, channels of the input.
    channels : Sequence[int] | None
        Stage widths, highest resolution first (run in reverse; the last one is the width of the
        residual trunk); defaults to :data:`DEFAULT_STAGE_CHANNELS`.
    residual_channels : int
        Hidden width of the residual blocks.
    num_residual_blocks : int
        Number of residual blocks.
    activation : str
        "relu" or "gelu".

    Input
    -----
    z_q : torch.Tensor
        (B, D, h, w) float.

    Output
    ------
    torch.Tensor
        (B, 3, h * ratio, w * ratio) float in [0, 1].
    """

    def __init__(
        self,
        *,
        ratio: int,
        embedding_dim: int,
        channels: Sequence[int] | None = None,
        residual_channels: int = DEFAULT_RESIDUAL_CHANNELS,
        num_residual_blocks: int = DEFAULT_NUM_RESIDUAL_BLOCKS,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        _check_blocks(num_residual_blocks, residual_channels)
        self.channels = resolve_channels(
            channels, ratio=ratio, default=DEFAULT_STAGE_CHANNELS, what="decoder_channels"
        )
        widths = self.channels[::-1]  # lowest resolution first
        layers: list[nn.Module] = [nn.Conv2d(embedding_dim, widths[0], 3, padding=1)]
        layers += [
            ResidualBlock(widths[0], hidden_channels=residual_channels, activation=activation)
            for _ in range(num_residual_blocks)
        ]
        for in_width, out_width in zip(widths[:-1], widths[1:]):
            layers += [
                make_activation(activation),
                nn.ConvTranspose2d(in_width, out_width, 4, stride=2, padding=1),
            ]
        layers += [
            make_activation(activation),
            nn.ConvTranspose2d(widths[-1], 3, 4, stride=2, padding=1),
            nn.Sigmoid(),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.layers(z_q)

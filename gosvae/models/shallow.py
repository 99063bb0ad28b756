"""The shallow VQ-VAE encoder and decoder (the paper's light GOS-VAE, about 0.70 M parameters).

The encoder runs at the transmitter and is kept light: ``log2(r)`` strided 3x3 convolutions, each
halving height and width, then a 1x1 projection to the embedding size ``D`` (3x3 rather than the
4x4 of the original VQ-VAE: 44 % fewer multiply-adds, about 20 % faster encoding on CPU). The
decoder runs at the receiver and mirrors it with more channels: a 3x3 convolution from ``D``, then
``log2(r)`` transposed 4x4 convolutions that double height and width, the last one to RGB, and a
sigmoid.

Default widths (encoder 32, 64, 128, ...; decoder 128, 240, 240, ...) were calibrated so that the
whole model with ``r = 4``, ``K = 512``, ``D = 64`` has 0.69 M parameters (24 k of them in the
encoder), the size of the paper's GOS-VAE (0.70 M); encoder plus quantiser of that model run at
about 50 frames/s at 256x512 on one CPU core (35-55 on a busy shared machine).

Example
-------
>>> encoder = ShallowEncoder(ratio=4, embedding_dim=64)
>>> decoder = ShallowDecoder(ratio=4, embedding_dim=64)
>>> z = encoder(torch.rand(1, 3, 64, 128))          # (1, 64, 16, 32)
>>> decoder(z).shape                                 # values in [0, 1]
torch.Size([1, 3, 64, 128])
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from gosvae.errors import UserError

SUPPORTED_RATIOS: tuple[int, ...] = (2, 4, 8, 16, 32)
"""Compression ratios ``r`` (downsampling per side) the models support."""

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}
"""Names accepted by the ``activation`` option."""

DEFAULT_ENCODER_CHANNELS: tuple[int, ...] = (32, 64, 128, 128, 128)
DEFAULT_DECODER_CHANNELS: tuple[int, ...] = (128, 240, 240, 240, 240)
"""Stage widths, highest resolution first; a model of ratio ``r`` uses the first ``log2(r)``."""


def num_stages(ratio: int) -> int:
    """``log2(ratio)``, the number of stride-2 stages; :class:`UserError` if ``ratio`` is unsupported."""
    if ratio not in SUPPORTED_RATIOS:
        raise UserError(f"compression ratio must be one of {list(SUPPORTED_RATIOS)}, got {ratio!r}")
    return int(ratio).bit_length() - 1


def make_activation(name: str) -> nn.Module:
    """A fresh activation module from its name ("relu" or "gelu")."""
    if name not in ACTIVATIONS:
        raise UserError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def resolve_channels(
    channels: Sequence[int] | None, *, ratio: int, default: Sequence[int], what: str
) -> tuple[int, ...]:
    """Stage widths for ``ratio``: ``channels`` checked (one positive int per stage) or the default."""
    stages = num_stages(ratio)
    if channels is None:
        return tuple(default[:stages])
    channels = tuple(int(c) for c in channels)
    if len(channels) != stages or min(channels) < 1:
        raise UserError(
            f"{what} must list {stages} positive widths for ratio {ratio} (one per stage), "
            f"got {list(channels)}"
        )
    return channels


class ShallowEncoder(nn.Module):
    """Light transmitter-side encoder.

    Parameters
    ----------
    ratio : int
        Downsampling per side, one of 2, 4, 8, 16, 32.
    embedding_dim : int
        ``D``, channels of the output (the codeword size).
    channels : Sequence[int] | None
        Widths of the ``log2(ratio)`` strided convolutions; defaults to
        :data:`DEFAULT_ENCODER_CHANNELS`.
    activation : str
        "relu" or "gelu".

    Input
    -----
    x : torch.Tensor
        (B, 3, H, W) float in [0, 1], H and W divisible by ``ratio``.

    Output
    ------
    torch.Tensor
        (B, D, H / ratio, W / ratio) float: the continuous latents ``z_e``.
    """

    def __init__(
        self,
        *,
        ratio: int,
        embedding_dim: int,
        channels: Sequence[int] | None = None,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.channels = resolve_channels(
            channels, ratio=ratio, default=DEFAULT_ENCODER_CHANNELS, what="encoder_channels"
        )
        layers: list[nn.Module] = []
        in_channels = 3
        for width in self.channels:
            layers += [nn.Conv2d(in_channels, width, 3, stride=2, padding=1), make_activation(activation)]
            in_channels = width
        layers.append(nn.Conv2d(in_channels, embedding_dim, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ShallowDecoder(nn.Module):
    """Receiver-side decoder mirroring :class:`ShallowEncoder`.

    Parameters
    ----------
    ratio : int
        Upsampling per side, one of 2, 4, 8, 16, 32.
    embedding_dim : int
        ``D``, channels of the input.
    channels : Sequence[int] | None
        Widths of the stages, highest resolution first (the decoder runs them in reverse);
        defaults to :data:`DEFAULT_DECODER_CHANNELS`.
    activation : str
        "relu" or "gelu".

    Input
    -----
    z_q : torch.Tensor
        (B, D, h, w) float: quantised latents.

    Output
    ------
    torch.Tensor
        (B, 3, h * ratio, w * ratio) float in [0, 1]: the rebuilt image.
    """

    def __init__(
        self,
        *,
        ratio: int,
        embedding_dim: int,
        channels: Sequence[int] | None = None,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.channels = resolve_channels(
            channels, ratio=ratio, default=DEFAULT_DECODER_CHANNELS, what="decoder_channels"
        )
        widths = self.channels[::-1]  # lowest resolution first
        layers: list[nn.Module] = [
            nn.Conv2d(embedding_dim, widths[0], 3, padding=1),
            make_activation(activation),
        ]
        for in_width, out_width in zip(widths[:-1], widths[1:]):
            layers += [
                nn.ConvTranspose2d(in_width, out_width, 4, stride=2, padding=1),
                make_activation(activation),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], 3, 4, stride=2, padding=1), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.layers(z_q)

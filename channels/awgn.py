"""Additive white Gaussian noise channel: ``y = x + n``, ``h = 1``.

Example
-------
>>> channel = AWGNChannel()
>>> out = channel(torch.zeros(1, 4, dtype=torch.complex64), no=0.5, generator=torch.Generator().manual_seed(1))
>>> out.h
tensor([[1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j]])
"""

from __future__ import annotations

import torch

from channels.base import ChannelModel, ChannelOutput, check_symbols, complex_normal, noise_variance_tensor
from channels.registry import register_channel

__all__ = ["AWGNChannel"]


@register_channel("awgn", description="additive white Gaussian noise, no fading (h = 1)")
class AWGNChannel(ChannelModel):
    """Additive white Gaussian noise; no parameters.

    Input
    -----
    x : torch.Tensor
        (B, N), complex64 or complex128: transmitted symbols.
    no : float | torch.Tensor
        Noise variance per complex symbol: scalar, (B,) or (B, 1).
    generator : torch.Generator
        Source of the noise.

    Output
    ------
    ChannelOutput
        ``y = x + n`` with ``n ~ CN(0, no)``; ``h`` all ones (B, N); ``no`` as a real tensor.
    """

    def forward(self, x: torch.Tensor, *, no: float | torch.Tensor, generator: torch.Generator) -> ChannelOutput:
        check_symbols(x)
        no_t = noise_variance_tensor(no, x)
        noise = complex_normal(tuple(x.shape), generator=generator, dtype=x.dtype, device=x.device)
        return ChannelOutput(y=x + noise * no_t.sqrt(), h=torch.ones_like(x), no=no_t)

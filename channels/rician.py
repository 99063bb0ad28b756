"""Flat Rician fading: ``y = h x + n`` with a line-of-sight term plus Rayleigh scattering.

The gain of every fading block is

``h = sqrt(K / (K + 1)) * exp(j phi) + sqrt(1 / (K + 1)) * g``,  ``g ~ CN(0, 1)``,

so ``|h|`` is Rice distributed with ``E|h|^2 = 1`` for every K-factor ``K`` (the ratio of the
line-of-sight power to the scattered power, linear). ``K = 0`` is Rayleigh fading (and gives
exactly the output of :class:`~channels.rayleigh.RayleighChannel` for the same generator seed);
a large ``K`` approaches AWGN (``h -> exp(j phi)``). In dB, ``K_dB = 10 log10(K)``.

- ``fading`` and ``coherence_symbols`` follow :class:`~channels.rayleigh.RayleighChannel`: fast
  fading draws one gain per symbol; block fading one gain per run of ``coherence_symbols``
  consecutive symbols of a row, runs starting at symbol 0 (the last run may be shorter).
- ``los_phase: random`` draws the line-of-sight phase ``phi`` uniformly in [0, 2 pi) for every
  gain draw (every fading block, or every symbol with fast fading), so blocks are independent
  realisations; ``los_phase: zero`` keeps ``phi = 0`` (the gain then has mean
  ``sqrt(K / (K + 1))``). With perfect CSI the phase does not change the error rate.

Random numbers are drawn in the order: scattered gains, noise, line-of-sight phases.

Example
-------
>>> channel = RicianChannel(k_factor=10.0, fading="block", coherence_symbols=4)
>>> out = channel(torch.ones(2, 8, dtype=torch.complex64), no=0.1, generator=torch.Generator().manual_seed(0))
>>> out.h.shape
torch.Size([2, 8])
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field

from channels.base import ChannelModel, ChannelOutput, check_symbols, complex_normal, noise_variance_tensor
from channels.rayleigh import RayleighParams
from channels.registry import register_channel

__all__ = ["RicianChannel", "RicianParams"]


class RicianParams(RayleighParams):
    """Parameters of :class:`RicianChannel` (``fading`` and ``coherence_symbols`` as for Rayleigh)."""

    k_factor: float = Field(
        ..., ge=0, allow_inf_nan=False, description="line-of-sight to scattered power ratio, linear (0: Rayleigh)"
    )
    los_phase: Literal["random", "zero"] = "random"


@register_channel("rician", description="flat Rician fading (K-factor), fast or block, perfect CSI")
class RicianChannel(ChannelModel):
    """Flat Rician fading with unit average power gain.

    Parameters
    ----------
    k_factor : float
        Line-of-sight to scattered power ratio ``K`` (linear, >= 0; required).
    los_phase : "random" | "zero"
        Line-of-sight phase: uniform and new for every gain draw, or fixed at 0.
    fading : "fast" | "block"
        One gain per symbol, or one per run of ``coherence_symbols`` symbols.
    coherence_symbols : int
        Run length of block fading (>= 1); must stay 1 for fast fading.

    Input
    -----
    x : torch.Tensor
        (B, N), complex64 or complex128: transmitted symbols.
    no : float | torch.Tensor
        Noise variance per complex symbol: scalar, (B,) or (B, 1).
    generator : torch.Generator
        Source of the gains, the line-of-sight phases and the noise.

    Output
    ------
    ChannelOutput
        ``y = h x + n`` (B, N); ``h`` (B, N) Rician with ``E|h|^2 = 1``; ``no`` as a real tensor.
    """

    Params = RicianParams

    def forward(self, x: torch.Tensor, *, no: float | torch.Tensor, generator: torch.Generator) -> ChannelOutput:
        check_symbols(x)
        no_t = noise_variance_tensor(no, x)
        batch, length = x.shape
        k_factor = self.params.k_factor
        run = self.params.coherence_symbols if self.params.fading == "block" else 1
        num_runs = -(-length // run)
        scattered = complex_normal((batch, num_runs), generator=generator, dtype=x.dtype, device=x.device)
        noise = complex_normal((batch, length), generator=generator, dtype=x.dtype, device=x.device)
        los_amplitude = math.sqrt(k_factor / (k_factor + 1.0))
        scattered_amplitude = math.sqrt(1.0 / (k_factor + 1.0))
        if self.params.los_phase == "random":
            real_dtype = x.real.dtype
            phase = torch.rand((batch, num_runs), generator=generator, dtype=real_dtype, device=generator.device)
            los = torch.polar(torch.full_like(phase, los_amplitude), phase * (2 * math.pi))
            los = los.to(device=x.device, dtype=x.dtype)
        else:
            los = torch.full((batch, num_runs), los_amplitude, dtype=x.dtype, device=x.device)
        gains = los + scattered_amplitude * scattered
        h = gains.repeat_interleave(run, dim=1)[:, :length] if run > 1 else gains
        return ChannelOutput(y=h * x + noise * no_t.sqrt(), h=h, no=no_t)

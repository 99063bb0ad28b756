"""Flat Rayleigh fading: ``y = h x + n`` with ``h ~ CN(0, 1)``, fast or block fading.

- ``fading: fast``: an independent ``h`` for every symbol.
- ``fading: block``: one ``h`` per run of ``coherence_symbols`` consecutive symbols of a row,
  runs starting at symbol 0 of each row (the last run of a row may be shorter); rows are
  independent.

``h`` is drawn before the noise, both from the call's generator.

Example
-------
>>> channel = RayleighChannel(fading="block", coherence_symbols=4)
>>> out = channel(torch.ones(1, 8, dtype=torch.complex64), no=0.0, generator=torch.Generator().manual_seed(0))
>>> bool((out.h[0, :4] == out.h[0, 0]).all())
True
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from channels.base import ChannelModel, ChannelOutput, check_symbols, complex_normal, noise_variance_tensor
from channels.registry import register_channel

__all__ = ["RayleighChannel"]


class RayleighParams(BaseModel):
    """Parameters of :class:`RayleighChannel`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fading: Literal["fast", "block"] = "fast"
    coherence_symbols: int = Field(1, ge=1, description="symbols sharing one gain (block fading only)")

    @field_validator("coherence_symbols")
    @classmethod
    def _only_for_block_fading(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("fading") == "fast" and value != 1:
            raise ValueError("only used with fading 'block' (fast fading draws one gain per symbol)")
        return value


@register_channel("rayleigh", description="flat Rayleigh fading, fast or block, perfect CSI")
class RayleighChannel(ChannelModel):
    """Flat Rayleigh fading with unit average power gain.

    Parameters
    ----------
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
        Source of the gains and the noise.

    Output
    ------
    ChannelOutput
        ``y = h x + n`` (B, N); ``h ~ CN(0, 1)`` (B, N); ``no`` as a real tensor.
    """

    Params = RayleighParams

    def forward(self, x: torch.Tensor, *, no: float | torch.Tensor, generator: torch.Generator) -> ChannelOutput:
        check_symbols(x)
        no_t = noise_variance_tensor(no, x)
        batch, length = x.shape
        run = self.params.coherence_symbols if self.params.fading == "block" else 1
        num_runs = -(-length // run)
        gains = complex_normal((batch, num_runs), generator=generator, dtype=x.dtype, device=x.device)
        h = gains.repeat_interleave(run, dim=1)[:, :length] if run > 1 else gains
        noise = complex_normal((batch, length), generator=generator, dtype=x.dtype, device=x.device)
        return ChannelOutput(y=h * x + noise * no_t.sqrt(), h=h, no=no_t)

"""Bernoulli-Gaussian impulsive noise: ``y = x + n`` where a few symbols get much more noise.

Every symbol independently is hit by an impulse with probability ``p`` (``probability``). Its
noise is circularly-symmetric complex Gaussian with variance

- ``s`` (the background) without an impulse,
- ``s * (1 + R)`` with one, ``R`` being ``impulse_ratio`` (impulse variance / background variance),

and the background is set so that the *average* noise variance per symbol is the requested
``no``: ``s = no / (1 + p R)``. So ``E|n|^2 = no`` and the SNR axis of a scenario means the same as
for AWGN; what changes is the shape of the noise (heavy-tailed, kurtosis above the Gaussian's).

The channel has no fading (``h = 1``). What the receiver is told about the noise is chosen by
``receiver_knows_impulses``: ``False`` (default) returns the average variance ``no`` (a receiver
designed for Gaussian noise); ``True`` returns each symbol's own variance (B, N), as if the
receiver knew where the impulses hit (its LLRs of hit symbols are then nearly erased).

Random numbers come from the call's generator, in the order: Gaussian samples (B, N), then the
impulse positions (B, N).

Example
-------
>>> channel = BernoulliGaussianChannel(probability=0.05, impulse_ratio=100.0)
>>> out = channel(torch.zeros(2, 1000, dtype=torch.complex64), no=0.1, generator=torch.Generator().manual_seed(0))
>>> out.y.shape, out.no.shape
(torch.Size([2, 1000]), torch.Size([]))
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from channels.base import ChannelModel, ChannelOutput, check_symbols, complex_normal, noise_variance_tensor

__all__ = ["BernoulliGaussianChannel", "BernoulliGaussianParams"]


class BernoulliGaussianParams(BaseModel):
    """Parameters of :class:`BernoulliGaussianChannel`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    probability: float = Field(0.01, ge=0, le=1, description="probability that a symbol is hit by an impulse")
    impulse_ratio: float = Field(100.0, ge=0, allow_inf_nan=False, description="impulse / background noise variance")
    receiver_knows_impulses: bool = Field(
        False, description="return each symbol's noise variance instead of the average"
    )


# No @register_channel here: the package's entry point (pyproject.toml, group gosvae.channels)
# registers the class under its scenario name, with the plugin's distribution as its origin.
class BernoulliGaussianChannel(ChannelModel):
    """Impulsive (Bernoulli-Gaussian) noise with the requested average variance; no fading.

    Parameters
    ----------
    probability : float
        Probability ``p`` in [0, 1] that a symbol is hit by an impulse (default 0.01).
    impulse_ratio : float
        Impulse to background noise variance ratio ``R`` >= 0 (default 100).
    receiver_knows_impulses : bool
        Return per-symbol noise variances (True) or the average ``no`` (False, default).

    Input
    -----
    x : torch.Tensor
        (B, N), complex64 or complex128: transmitted symbols.
    no : float | torch.Tensor
        Average noise variance per complex symbol: scalar, (B,) or (B, 1).
    generator : torch.Generator
        Source of the noise and of the impulse positions.

    Output
    ------
    ChannelOutput
        ``y = x + n`` (B, N); ``h`` ones (B, N); ``no``: the average variance (as given) or, with
        ``receiver_knows_impulses``, each symbol's variance (B, N).
    """

    Params = BernoulliGaussianParams

    def forward(self, x: torch.Tensor, *, no: float | torch.Tensor, generator: torch.Generator) -> ChannelOutput:
        check_symbols(x)
        no_t = noise_variance_tensor(no, x)
        p, ratio = self.params.probability, self.params.impulse_ratio
        gaussian = complex_normal(tuple(x.shape), generator=generator, dtype=x.dtype, device=x.device)
        uniform = torch.rand(tuple(x.shape), generator=generator, dtype=x.real.dtype, device=generator.device)
        hit = (uniform < p).to(x.device)
        background = no_t / (1.0 + p * ratio)
        variance = background * torch.where(hit, 1.0 + ratio, 1.0).to(x.real.dtype)  # (B, N)
        y = x + gaussian * variance.sqrt()
        return ChannelOutput(y=y, h=torch.ones_like(x), no=variance if self.params.receiver_knows_impulses else no_t)

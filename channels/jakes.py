"""Time-correlated flat Rayleigh fading (Clarke/Jakes Doppler spectrum) by sum of sinusoids.

Each row is a fading process sampled once per symbol, ``t_n = n / symbol_rate``, with maximum
Doppler frequency ``f_d = v f_c / c`` (``v`` the speed, ``f_c`` the carrier, ``c`` the speed of
light). It is the sum of ``M`` complex sinusoids with random arrival angles and phases,

``h(t) = (1 / sqrt(M)) * sum_m exp(j (2 pi f_d t cos(alpha_m) + phi_m))``,

``alpha_m = (2 pi m - pi + theta) / M`` for ``m = 1..M`` with ``theta ~ U[-pi, pi)`` and
``phi_m ~ U[0, 2 pi)`` drawn independently for every row: the stratified random angles of the
improved Clarke models of Pop & Beaulieu (2001) and Zheng & Xiao (2002, 2003), in the complex
exponential form. For every ``M``, over the random angles and phases,

- ``E|h|^2 = 1`` (unit average power gain) and ``E|h|^4 = 2 - 1 / M`` (2 for Rayleigh),
- ``E[h(t + tau) conj(h(t))] = J0(2 pi f_d tau)`` (Clarke's autocorrelation), and
  ``E[h(t + tau) h(t)] = 0`` (circular),

and ``h`` tends to a complex Gaussian process as ``M`` grows (16 is close already). Rows are
independent; ``f_d = 0`` (speed 0) gives a constant gain per row.

Why hand-written: Sionna 2.x has no Jakes/Clarke flat-fading block, and its OFDM/TDL channels
draw their random numbers from Sionna's process-global generator, while the channel contract
requires every random number to come from the caller's ``torch.Generator``.

Phases are computed in float64 (as a fraction of a turn, reduced modulo 1) so that long rows stay
accurate in complex64 too. Random numbers are drawn in the order: ``theta`` (B,), ``phi``
(B, M), noise (B, N).

Example
-------
>>> channel = JakesChannel(speed_kmh=50.0, carrier_frequency_hz=2.4e9, symbol_rate=1e5)
>>> round(channel.max_doppler_hz, 1), round(channel.normalized_doppler, 6)
(111.2, 0.001112)
>>> out = channel(torch.ones(2, 1000, dtype=torch.complex64), no=0.01, generator=torch.Generator().manual_seed(0))
>>> out.h.shape
torch.Size([2, 1000])
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field

from channels.base import ChannelModel, ChannelOutput, check_symbols, complex_normal, noise_variance_tensor
from channels.registry import register_channel

__all__ = ["JakesChannel", "JakesParams", "SPEED_OF_LIGHT"]

SPEED_OF_LIGHT = 299_792_458.0  # m/s


class JakesParams(BaseModel):
    """Parameters of :class:`JakesChannel`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    speed_kmh: float = Field(..., ge=0, allow_inf_nan=False, description="speed of the terminal, km/h")
    carrier_frequency_hz: float = Field(..., gt=0, allow_inf_nan=False, description="carrier frequency, Hz")
    symbol_rate: float = Field(..., gt=0, allow_inf_nan=False, description="symbols per second (one h per symbol)")
    num_sinusoids: int = Field(16, ge=1, le=1024, description="sinusoids M of the sum")


@register_channel("jakes", description="time-correlated flat Rayleigh fading, Jakes Doppler spectrum (speed, carrier)")
class JakesChannel(ChannelModel):
    """Flat Rayleigh fading whose gain evolves in time with the Jakes (Clarke) Doppler spectrum.

    Parameters
    ----------
    speed_kmh : float
        Speed ``v`` in km/h (>= 0).
    carrier_frequency_hz : float
        Carrier frequency ``f_c`` in Hz (> 0).
    symbol_rate : float
        Symbols per second (> 0); symbol ``n`` of a row is sent at ``t = n / symbol_rate``.
    num_sinusoids : int
        Number ``M`` of sinusoids (default 16).

    Input
    -----
    x : torch.Tensor
        (B, N), complex64 or complex128: transmitted symbols; each row is one continuous
        transmission.
    no : float | torch.Tensor
        Noise variance per complex symbol: scalar, (B,) or (B, 1).
    generator : torch.Generator
        Source of the angles, phases and noise.

    Output
    ------
    ChannelOutput
        ``y = h x + n`` (B, N); ``h`` (B, N) with ``E|h|^2 = 1`` and autocorrelation
        ``J0(2 pi f_d k / symbol_rate)`` at a lag of ``k`` symbols; ``no`` as a real tensor.
    """

    Params = JakesParams

    @property
    def max_doppler_hz(self) -> float:
        """Maximum Doppler frequency ``f_d = v f_c / c`` in Hz."""
        return self.params.speed_kmh / 3.6 * self.params.carrier_frequency_hz / SPEED_OF_LIGHT

    @property
    def normalized_doppler(self) -> float:
        """``f_d T``: maximum Doppler frequency times the symbol duration."""
        return self.max_doppler_hz / self.params.symbol_rate

    def forward(self, x: torch.Tensor, *, no: float | torch.Tensor, generator: torch.Generator) -> ChannelOutput:
        check_symbols(x)
        no_t = noise_variance_tensor(no, x)
        batch, length = x.shape
        num = self.params.num_sinusoids
        theta = torch.rand((batch, 1), generator=generator, dtype=torch.float64, device=generator.device)
        phi = torch.rand((batch, num), generator=generator, dtype=torch.float64, device=generator.device)
        noise = complex_normal((batch, length), generator=generator, dtype=x.dtype, device=x.device)
        h = self._gains(theta.to(x.device), phi.to(x.device), length).to(x.dtype)
        return ChannelOutput(y=h * x + noise * no_t.sqrt(), h=h, no=no_t)

    def _gains(self, theta: torch.Tensor, phi: torch.Tensor, length: int) -> torch.Tensor:
        """(B, 1) uniform theta and (B, M) uniform phi, both in [0, 1) turns -> (B, N) complex128 gains."""
        num = phi.shape[1]
        m = torch.arange(1, num + 1, dtype=torch.float64, device=phi.device)
        alpha = (2 * math.pi * m - math.pi + 2 * math.pi * (theta - 0.5)) / num  # (B, M), theta in [-pi, pi)
        doppler_turns = self.normalized_doppler * torch.cos(alpha)  # (B, M) turns per symbol
        n = torch.arange(length, dtype=torch.float64, device=phi.device)
        h = torch.zeros((phi.shape[0], length), dtype=torch.complex128, device=phi.device)
        for index in range(num):  # one sinusoid at a time keeps memory at O(B N)
            turns = torch.remainder(doppler_turns[:, index : index + 1] * n + phi[:, index : index + 1], 1.0)
            h += torch.polar(torch.ones_like(turns), turns * (2 * math.pi))
        return h / math.sqrt(num)

"""Generalised divisive normalisation (GDN) and its inverse (Ballé, Laparra, Simoncelli 2016).

``GDN``:  ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)``; ``inverse=True`` (IGDN, used in the
synthesis transform) multiplies instead: ``y_i = x_i * sqrt(beta_i + sum_j gamma_ij x_j^2)``.
``beta > 0`` and ``gamma >= 0`` are kept valid by the usual reparametrisation: the stored
parameters are ``sqrt(value + pedestal)`` and are clamped from below before squaring.

Example
-------
>>> gdn = GDN(8)
>>> y = gdn(torch.randn(2, 8, 16, 16))             # (2, 8, 16, 16)
>>> gdn.beta.shape, gdn.gamma.shape                # effective parameters
(torch.Size([8]), torch.Size([8, 8]))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GDN"]

_PEDESTAL = 2.0 ** -36


class GDN(nn.Module):
    """GDN (or IGDN with ``inverse=True``) over the channels of a feature map.

    Parameters
    ----------
    channels : int
        Number of channels ``C``.
    inverse : bool
        IGDN: multiply by the norm instead of dividing.
    beta_min : float
        Lower bound of ``beta`` (keeps the division finite).
    gamma_init : float
        Initial diagonal of ``gamma`` (``beta`` starts at 1, off-diagonal ``gamma`` at 0).

    Input
    -----
    x : torch.Tensor
        (B, C, H, W) float.

    Output
    ------
    torch.Tensor
        (B, C, H, W) float: the normalised map.
    """

    def __init__(self, channels: int, *, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1) -> None:
        super().__init__()
        self.channels = int(channels)
        self.inverse = bool(inverse)
        self._beta_bound = (beta_min + _PEDESTAL) ** 0.5
        self._gamma_bound = _PEDESTAL ** 0.5
        self.beta_param = nn.Parameter(torch.sqrt(torch.ones(self.channels) + _PEDESTAL))
        self.gamma_param = nn.Parameter(torch.sqrt(gamma_init * torch.eye(self.channels) + _PEDESTAL))

    @property
    def beta(self) -> torch.Tensor:
        """(C,) float: the effective ``beta`` (> 0)."""
        return self.beta_param.clamp_min(self._beta_bound).square() - _PEDESTAL

    @property
    def gamma(self) -> torch.Tensor:
        """(C, C) float: the effective ``gamma`` (>= 0); row ``i`` weighs the inputs of channel ``i``."""
        return self.gamma_param.clamp_min(self._gamma_bound).square() - _PEDESTAL

    @torch.no_grad()
    def set_parameters(self, *, beta: torch.Tensor, gamma: torch.Tensor) -> None:
        """Set the effective ``beta`` (C,) > 0 and ``gamma`` (C, C) >= 0 (tests, conversions)."""
        self.beta_param.copy_(torch.sqrt(beta + _PEDESTAL))
        self.gamma_param.copy_(torch.sqrt(gamma + _PEDESTAL))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = F.conv2d(x * x, self.gamma[:, :, None, None], self.beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)

    def extra_repr(self) -> str:
        return f"{self.channels}, inverse={self.inverse}"

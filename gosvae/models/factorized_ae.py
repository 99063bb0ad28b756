r"""Autoencoder with scalar quantisation and a learned factorized entropy model (Ballé et al. 2017).

The analysis transform ``g_a`` (strided 5x5 convolutions + GDN) maps an image to a latent ``y``
(B, M, H/r, W/r); ``y`` is rounded at test time and perturbed by additive uniform noise
``U(-1/2, 1/2)`` in training (the differentiable proxy of rounding); the synthesis transform
``g_s`` (transposed convolutions + IGDN) rebuilds the image. The rate is ``-log2`` of the
likelihood of the quantised latent under :class:`FactorizedDensity`, the non-parametric
per-channel cumulative model of Ballé et al. 2018 (appendix 6.1): ``p(ŷ) = c(ŷ + 1/2) - c(ŷ - 1/2)``
with ``c`` a monotone function of ``y`` per channel (softplus-positive matrices, tanh
nonlinearities), i.e. the density of ``y`` convolved with the unit box.

Training minimises ``lmbda · 255² · MSE + bpp`` (the CompressAI convention; ``lmbda`` sets the
rate), see :func:`rate_distortion_loss`.

Example
-------
>>> model = FactorizedAE(channels=32, latent_channels=48, ratio=16)
>>> out = model(torch.rand(2, 3, 64, 64))                   # training: noisy latents
>>> out.x_hat.shape, out.likelihoods.shape
(torch.Size([2, 3, 64, 64]), torch.Size([2, 48, 4, 4]))
>>> rate_distortion_loss(torch.rand(2, 3, 64, 64), out, lmbda=0.01)["total"].backward()
>>> q = model.quantize(model.analysis(torch.rand(1, 3, 64, 64)))   # rounded: integers in a float tensor
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gosvae.errors import ConfigError, UserError
from gosvae.models.gdn import GDN

__all__ = ["FactorizedAE", "FactorizedAEOutput", "FactorizedDensity", "rate_distortion_loss", "SUPPORTED_FAE_RATIOS"]

SUPPORTED_FAE_RATIOS: tuple[int, ...] = (2, 4, 8, 16, 32)
LIKELIHOOD_BOUND = 1e-9


class FactorizedDensity(nn.Module):
    """Per-channel learned density of a latent, as the cumulative of Ballé et al. 2018.

    Parameters
    ----------
    channels : int
        Number of latent channels ``M`` (one independent density each).
    filters : tuple of int
        Hidden widths of the per-channel monotone network (Ballé: (3, 3, 3)).
    init_scale : float
        Initial scale of the density (its spread in latent units).

    Input
    -----
    y : torch.Tensor
        (B, M, h, w) float: latent values (noisy or rounded).

    Output
    ------
    torch.Tensor
        (B, M, h, w) float: ``p(y)`` = mass of the unit bin centred on ``y``, floored at 1e-9.
    """

    def __init__(self, channels: int, *, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0) -> None:
        super().__init__()
        self.channels = int(channels)
        widths = (1, *(int(f) for f in filters), 1)
        scale = init_scale ** (1.0 / (len(widths) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(widths) - 1):
            init = math.log(math.expm1(1.0 / scale / widths[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((self.channels, widths[i + 1], widths[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(self.channels, widths[i + 1], 1) - 0.5))
            if i < len(widths) - 2:
                self.factors.append(nn.Parameter(torch.zeros(self.channels, widths[i + 1], 1)))

    def logits_cumulative(self, values: torch.Tensor) -> torch.Tensor:
        """(M, 1, N) values → (M, 1, N) logits of the cumulative ``c`` (monotone increasing)."""
        logits = values
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            logits = torch.matmul(F.softplus(matrix), logits) + bias
            if i < len(self.factors):
                logits = logits + torch.tanh(self.factors[i]) * torch.tanh(logits)
        return logits

    def bin_probabilities(self, values: torch.Tensor) -> torch.Tensor:
        """(M, 1, N) values → (M, 1, N) mass of the bins ``[v - 1/2, v + 1/2]`` (not floored)."""
        lower = self.logits_cumulative(values - 0.5)
        upper = self.logits_cumulative(values + 0.5)
        sign = -torch.sign(lower + upper).detach()  # evaluate in the far tail where it is accurate
        return (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.dim() != 4 or y.shape[1] != self.channels:
            raise UserError(f"latents must be (B, {self.channels}, h, w), got {tuple(y.shape)}")
        values = y.transpose(0, 1).reshape(self.channels, 1, -1)
        probabilities = self.bin_probabilities(values).clamp_min(LIKELIHOOD_BOUND)
        return probabilities.reshape(self.channels, y.shape[0], *y.shape[2:]).transpose(0, 1)

    @torch.no_grad()
    def integer_tables(self, *, max_value: int = 255, tail_mass: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
        """Per channel, the integers that carry all but ``tail_mass`` of the density, with their masses.

        Output
        ------
        low : torch.Tensor
            (M,) int64: the smallest integer of each channel's support.
        pmf : torch.Tensor
            (M, L) float64: ``pmf[c, k]`` = mass of integer ``low[c] + k``; zero beyond a
            channel's support; each row sums to 1 (the tails are folded into the end bins).
        """
        grid = torch.arange(-max_value, max_value + 1, dtype=torch.float32)
        values = grid.expand(self.channels, 1, -1)
        cdf_low = torch.sigmoid(self.logits_cumulative(values - 0.5)).double()[:, 0]   # c(k - 1/2)
        cdf_high = torch.sigmoid(self.logits_cumulative(values + 0.5)).double()[:, 0]  # c(k + 1/2)
        inside = (cdf_high > tail_mass / 2) & (cdf_low < 1 - tail_mass / 2)
        inside[:, max_value] = True  # zero is always coded
        first = inside.float().argmax(dim=1)
        last = inside.shape[1] - 1 - inside.flip(1).float().argmax(dim=1)
        length = int((last - first).max()) + 1
        pmf = torch.zeros(self.channels, length, dtype=torch.float64)
        masses = self.bin_probabilities(values).double()[:, 0]
        for c in range(self.channels):
            a, b = int(first[c]), int(last[c])
            row = masses[c, a : b + 1].clone()
            row[0] += cdf_low[c, a]                # mass below the support
            row[-1] += 1.0 - cdf_high[c, b]        # mass above it
            row = row.clamp_min(1e-12)
            pmf[c, : b - a + 1] = row / row.sum()
        return (first - max_value).long(), pmf


@dataclass
class FactorizedAEOutput:
    """What :meth:`FactorizedAE.forward` returns.

    Attributes
    ----------
    x_hat : torch.Tensor
        (B, 3, H, W) float: the rebuilt image (not clamped in training).
    y_hat : torch.Tensor
        (B, M, H/r, W/r) float: the noisy (training) or rounded latent.
    likelihoods : torch.Tensor
        (B, M, H/r, W/r) float: ``p(y_hat)`` under the factorized model.
    """

    x_hat: torch.Tensor
    y_hat: torch.Tensor
    likelihoods: torch.Tensor

    @property
    def bits(self) -> torch.Tensor:
        """Scalar: ``-sum log2 p(y_hat)``, the estimated rate of the batch in bits."""
        return -torch.log2(self.likelihoods).sum()


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def _deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


class FactorizedAE(nn.Module):
    """Ballé et al. 2017 autoencoder with a factorized entropy model ("bmshj2018-factorized").

    Parameters
    ----------
    channels : int
        Width ``N`` of the hidden layers (Ballé: 128 or 192).
    latent_channels : int
        Channels ``M`` of the latent (Ballé: 192 or 320).
    ratio : int
        Downsampling per side ``r`` (``log2(r)`` stride-2 stages; 16 in the paper).

    Input
    -----
    x : torch.Tensor
        (B, 3, H, W) float in [0, 1]; H and W multiples of ``ratio``.
    noise : bool | None
        Uniform noise (True) or rounding (False) of the latent; ``None``: noise in training mode.
    generator : torch.Generator | None
        Source of the noise (CPU generator; the noise is moved to the latent's device).

    Output
    ------
    FactorizedAEOutput
        ``x_hat`` (B, 3, H, W), ``y_hat`` and ``likelihoods`` (B, M, H/r, W/r).
    """

    def __init__(self, *, channels: int = 128, latent_channels: int = 192, ratio: int = 16) -> None:
        super().__init__()
        if ratio not in SUPPORTED_FAE_RATIOS:
            raise UserError(f"ratio must be one of {list(SUPPORTED_FAE_RATIOS)}, got {ratio!r}")
        if channels < 1 or latent_channels < 1:
            raise UserError(f"channels and latent_channels must be >= 1, got {channels} and {latent_channels}")
        self.ratio, self.channels, self.latent_channels = int(ratio), int(channels), int(latent_channels)
        stages = int(math.log2(ratio))
        widths = [3] + [self.channels] * (stages - 1) + [self.latent_channels]
        analysis: list[nn.Module] = []
        synthesis: list[nn.Module] = []
        for i in range(stages):
            analysis.append(_conv(widths[i], widths[i + 1]))
            if i < stages - 1:
                analysis.append(GDN(widths[i + 1]))
        rev = widths[::-1]
        for i in range(stages):
            synthesis.append(_deconv(rev[i], rev[i + 1]))
            if i < stages - 1:
                synthesis.append(GDN(rev[i + 1], inverse=True))
        self.g_a = nn.Sequential(*analysis)
        self.g_s = nn.Sequential(*synthesis)
        self.density = FactorizedDensity(self.latent_channels)

    @property
    def config(self) -> dict[str, Any]:
        """JSON-able constructor options; :meth:`from_config` rebuilds the architecture."""
        return {"arch": "factorized-ae", "channels": self.channels, "latent_channels": self.latent_channels, "ratio": self.ratio}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "FactorizedAE":
        """A fresh model of :attr:`config`; :class:`ConfigError` on unknown keys."""
        options = dict(config)
        arch = options.pop("arch", "factorized-ae")
        unknown = sorted(set(options) - {"channels", "latent_channels", "ratio"})
        if arch != "factorized-ae" or unknown:
            raise ConfigError(f"factorized-ae model config: unexpected arch {arch!r} or key(s) {unknown}")
        return cls(**options)

    def latent_shape(self, height: int, width: int) -> tuple[int, int]:
        """(H/r, W/r) of an (H, W) image; one-line :class:`UserError` if not divisible."""
        if height % self.ratio or width % self.ratio or height <= 0 or width <= 0:
            raise UserError(f"image size {height}x{width} is not divisible by the ratio {self.ratio} of the factorized-ae model")
        return height // self.ratio, width // self.ratio

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] → latent y (B, M, H/r, W/r) float (not quantised)."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise UserError(f"images must be (B, 3, H, W), got {tuple(x.shape)}")
        self.latent_shape(x.shape[2], x.shape[3])
        return self.g_a(x)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Latent (B, M, h, w) → images (B, 3, h·r, w·r) float (unclamped)."""
        return self.g_s(y_hat)

    @staticmethod
    def quantize(y: torch.Tensor, *, noise: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """Rounding (test time) or ``y + U(-1/2, 1/2)`` (training's proxy); same shape and dtype."""
        if not noise:
            return torch.round(y)
        u = torch.rand(y.shape, generator=generator, dtype=y.dtype) - 0.5
        return y + u.to(y.device)

    def forward(self, x: torch.Tensor, *, noise: bool | None = None, generator: torch.Generator | None = None) -> FactorizedAEOutput:
        y = self.analysis(x)
        y_hat = self.quantize(y, noise=self.training if noise is None else noise, generator=generator)
        return FactorizedAEOutput(x_hat=self.synthesis(y_hat), y_hat=y_hat, likelihoods=self.density(y_hat))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, latent_channels={self.latent_channels}, ratio={self.ratio}"


def rate_distortion_loss(x: torch.Tensor, output: FactorizedAEOutput, *, lmbda: float) -> dict[str, torch.Tensor]:
    """Ballé's rate-distortion Lagrangian in CompressAI's units: ``lmbda · 255² · MSE + bpp``.

    Input: images ``x`` (B, 3, H, W) in [0, 1], the model's output on them, ``lmbda > 0``.
    Output: dict of scalars ``mse`` (mean squared error on [0, 1] pixels), ``bpp`` (estimated
    bits per pixel), ``total``.
    """
    num_pixels = x.shape[0] * x.shape[2] * x.shape[3]
    mse = F.mse_loss(output.x_hat, x)
    bpp = output.bits / num_pixels
    return {"mse": mse, "bpp": bpp, "total": lmbda * 255.0**2 * mse + bpp}

"""Bits to symbols and back: Sionna ``Mapper``, perfect-CSI equalisation, demapping.

Demapping of the QAM constellations computes Sionna's ``Demapper`` LLRs (APP or max-log) per
axis: Sionna's "qam" is two Gray PAMs, the even label bits on the real axis and the odd ones on
the imaginary axis, and with circular noise the likelihood of a point factorises over the two
axes, so each bit's LLR needs only the ``sqrt(M)`` levels of its axis: the same values, to
float rounding, several times faster on the CPU (:class:`SeparableQamDemapper`, measured in
``docs/ldpc-decoder.md``). Sionna's ``Demapper`` serves BPSK and other devices.

Example
-------
>>> modem = Modem(modulation="16qam", demapping="app", equalizer="zf", device="cpu")
>>> symbols = modem.map(torch.randint(0, 2, (400,)).float())     # (1, 100) complex64
>>> llr = modem.demap(symbols, torch.full((1, 100), 1e-3))       # (400,) float
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from sionna.phy.mapping import Constellation, Demapper, Mapper
from sionna.phy.mimo import lmmse_equalizer

from channels.base import ChannelOutput
from simulation.link.config import MODULATIONS

__all__ = ["Modem", "SeparableQamDemapper"]

# Elements of the demapper's largest intermediate (symbols x bits x points / 2) per call.
_DEMAPPER_ELEMENTS_PER_CALL = 1 << 24


class Modem:
    """Gray-labelled modulation with perfect-CSI detection.

    Parameters
    ----------
    modulation : str
        A key of :data:`~simulation.link.config.MODULATIONS` ("bpsk", "qpsk", "16qam", ...).
    demapping : "app" | "maxlog"
        Sionna demapping method.
    equalizer : "zf" | "mmse"
        Zero forcing ``x = y / h``, ``no_eff = no / |h|^2``, or Sionna's unbiased
        ``lmmse_equalizer`` (identical for per-symbol scalar channels).
    device : str
        Device of the Sionna blocks.
    """

    def __init__(self, *, modulation: str, demapping: str, equalizer: str, device: str) -> None:
        constellation_type, bits_per_symbol = MODULATIONS[modulation]
        self.bits_per_symbol = bits_per_symbol
        self.equalizer = equalizer
        self.constellation = Constellation(constellation_type, bits_per_symbol, device=device)
        self._mapper = Mapper(constellation=self.constellation, device=device)
        self._demapper: Demapper | SeparableQamDemapper = Demapper(
            demapping, constellation=self.constellation, device=device
        )
        if constellation_type == "qam" and torch.device(device).type == "cpu":
            self._demapper = SeparableQamDemapper(self.constellation, method=demapping)
        self._symbols_per_call = max(1024, _DEMAPPER_ELEMENTS_PER_CALL // (bits_per_symbol << bits_per_symbol))

    def map(self, bits: torch.Tensor) -> torch.Tensor:
        """(M,) float 0/1 bits, M a multiple of ``bits_per_symbol`` -> (1, M / bits_per_symbol) complex."""
        return self._mapper(bits.reshape(1, -1))

    def equalize(self, received: ChannelOutput) -> tuple[torch.Tensor, torch.Tensor]:
        """Perfect-CSI estimates ``x_eq`` (B, N) complex and their noise variance ``no_eff`` (B, N)."""
        y, h = received.y, received.h
        no = torch.broadcast_to(received.no, y.shape)
        if self.equalizer == "mmse":
            x_eq, no_eff = lmmse_equalizer(y[..., None], h[..., None, None], no.to(y.dtype)[..., None, None])
            return x_eq[..., 0], no_eff[..., 0]
        # |h|^2 is floored so that a gain of exactly zero gives zero-information LLRs, not NaN.
        power = (h.real.square() + h.imag.square()).clamp_min(torch.finfo(no.dtype).eps ** 2)
        return y * h.conj() / power, no / power

    def demap(self, x_eq: torch.Tensor, no_eff: torch.Tensor) -> torch.Tensor:
        """LLRs ``log P(b=1)/P(b=0)`` of every bit: (B, N) symbols -> (B * N * bits_per_symbol,) float.

        Runs in chunks of symbols so that memory stays bounded for large constellations.
        """
        symbols, variances = x_eq.reshape(-1), torch.broadcast_to(no_eff, x_eq.shape).reshape(-1)
        parts = [
            self._demapper(symbols[start : start + self._symbols_per_call], variances[start : start + self._symbols_per_call])
            for start in range(0, symbols.numel(), self._symbols_per_call)
        ]
        return torch.cat(parts).reshape(-1) if parts else symbols.real.new_zeros(0)


class SeparableQamDemapper:
    """LLRs of Sionna's Gray QAM per axis, compiled; the same values as Sionna's ``Demapper``.

    ``llr_j = log sum_{c: b_j(c)=1} exp(-|y-c|^2/no) - log sum_{c: b_j(c)=0} exp(-|y-c|^2/no)``
    (max instead of log-sum for "maxlog"); since ``|y-c|^2`` splits into a real-axis and an
    imaginary-axis term and bit ``j`` lives on one axis, the other axis's factor cancels. Written
    here because Sionna's demapper has no separable path (it compares with all ``M`` points in
    several tensor passes). CPU only, not differentiable (the link needs neither).

    Parameters
    ----------
    constellation : Constellation
        A Sionna "qam" constellation (label bit ``j`` MSB-first; even ``j`` set the real part).
    method : "app" | "maxlog"
        As Sionna's ``Demapper``.

    Input
    -----
    y : torch.Tensor
        (S,) complex symbols (CPU).
    no : torch.Tensor
        (S,) float noise variance per complex symbol (floored at the smallest float32, as Sionna).

    Output
    ------
    llr : torch.Tensor
        (S * bits_per_symbol,) float32, ``log P(b=1)/P(b=0)``, bits of each symbol in label order.
    """

    def __init__(self, constellation: Constellation, *, method: str) -> None:
        points = constellation().detach().cpu().numpy()
        m = constellation.num_bits_per_symbol
        h = m // 2
        labels = (np.arange(2**m)[:, None] >> np.arange(m - 1, -1, -1)) & 1
        self.bits_per_symbol = m
        self.maxlog = method == "maxlog" or h == 1  # QPSK: one level per group, max-log is exact
        self._levels = np.zeros((2, 2**h), dtype=np.float64)
        for axis, values in enumerate((points.real, points.imag)):
            level = labels[:, axis::2] @ (1 << np.arange(h - 1, -1, -1))
            self._levels[axis, level] = values
            if not np.allclose(self._levels[axis, level], values):
                raise ValueError("the constellation is not a product of two PAMs over the label bits")
        # (levels, h): bit j of each level's label, MSB first
        self._level_bits = ((np.arange(2**h)[:, None] >> np.arange(h - 1, -1, -1)) & 1).astype(np.uint8)

    def __call__(self, y: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        y = y.detach().cpu()
        out = np.empty((y.shape[0], self.bits_per_symbol), dtype=np.float32)
        _demap(
            np.ascontiguousarray(y.real.numpy(), dtype=np.float64),
            np.ascontiguousarray(y.imag.numpy(), dtype=np.float64),
            np.ascontiguousarray(no.detach().cpu().numpy(), dtype=np.float64),
            self._levels, self._level_bits, self.maxlog, float(np.finfo(np.float32).tiny), out,
        )  # fmt: skip
        return torch.from_numpy(out.reshape(-1))


@numba.njit(cache=True, nogil=True)
def _demap(real, imag, no, levels, level_bits, maxlog, no_floor, out):  # pragma: no cover - compiled
    """Per symbol and axis: level metrics, then each bit's two level groups by log-sum-exp (or max).

    The exponentials are taken once per level, relative to the axis maximum; a group whose sum
    underflows (all its levels more than ~640 below that maximum) falls back to its maximum,
    which is off by at most log(levels / 2) on an |LLR| above 600.
    """
    count, bits = level_bits.shape
    metric = np.empty(count)
    weight = np.empty(count)
    for symbol in range(real.size):
        scale = 1.0 / max(no[symbol], no_floor)
        for axis in range(2):
            value = real[symbol] if axis == 0 else imag[symbol]
            top = -np.inf
            for level in range(count):
                metric[level] = -((value - levels[axis, level]) ** 2) * scale
                top = max(top, metric[level])
            if not maxlog:
                for level in range(count):
                    weight[level] = np.exp(metric[level] - top)
            for bit in range(bits):
                top1 = top0 = -np.inf
                sum1 = sum0 = 0.0
                for level in range(count):
                    if level_bits[level, bit]:
                        top1 = max(top1, metric[level])
                        sum1 += weight[level] if not maxlog else 0.0
                    else:
                        top0 = max(top0, metric[level])
                        sum0 += weight[level] if not maxlog else 0.0
                one = np.log(sum1) + top if sum1 > 1e-280 else top1
                zero = np.log(sum0) + top if sum0 > 1e-280 else top0
                out[symbol, 2 * bit + axis] = top1 - top0 if maxlog else one - zero

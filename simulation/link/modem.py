"""Bits to symbols and back: mapping (Sionna's labels), perfect-CSI equalisation, demapping.

Demapping of the QAM constellations computes Sionna's ``Demapper`` LLRs (APP or max-log) per
axis: Sionna's "qam" is two Gray PAMs, the even label bits on the real axis and the odd ones on
the imaginary axis, and with circular noise the likelihood of a point factorises over the two
axes, so each bit's LLR needs only the ``sqrt(M)`` levels of its axis: the same values, to
float rounding, several times faster on the CPU (:class:`~simulation.link.qam_demapper.SeparableQamDemapper`,
measured in ``docs/ldpc-decoder.md``). Sionna's ``Demapper`` serves BPSK and other devices, Sionna's
``Mapper`` other devices (on the CPU a compiled loop gives its points, bit for bit).

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
from simulation.link.qam_demapper import SeparableQamDemapper

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
        """(M,) float 0/1 bits, M a multiple of ``bits_per_symbol`` -> (1, M / bits_per_symbol) complex.

        On the CPU a compiled loop does what Sionna's ``Mapper`` does (label = the symbol's bits,
        MSB first, as integers; the constellation point of that label) without its int32 and
        shifted-bit intermediates: the same points, bit for bit (tested).
        """
        bits = bits.reshape(-1)
        if bits.device.type != "cpu" or bits.numel() % self.bits_per_symbol:
            return self._mapper(bits.reshape(1, -1))
        points = self.constellation().detach().resolve_conj().cpu().numpy()
        out = np.empty(bits.numel() // self.bits_per_symbol, dtype=points.dtype)
        _map(bits.detach().numpy(), points, self.bits_per_symbol, out)
        return torch.from_numpy(out).reshape(1, -1)

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

        Sionna's ``Demapper`` runs in chunks of symbols so that memory stays bounded for large
        constellations; the separable demapper needs no intermediate and runs in one call.
        """
        symbols, variances = x_eq.reshape(-1), torch.broadcast_to(no_eff, x_eq.shape).reshape(-1)
        if isinstance(self._demapper, SeparableQamDemapper):
            return self._demapper(symbols, variances)
        parts = [
            self._demapper(symbols[start : start + self._symbols_per_call], variances[start : start + self._symbols_per_call])
            for start in range(0, symbols.numel(), self._symbols_per_call)
        ]
        return torch.cat(parts).reshape(-1) if parts else symbols.real.new_zeros(0)


@numba.njit(cache=True, nogil=True)
def _map(bits, points, bits_per_symbol, out):  # pragma: no cover - compiled
    """``out[s] = points[sum_j int(bits[s m + j]) << (m - 1 - j)]``, as Sionna's ``Mapper``."""
    for symbol in range(out.size):
        label = 0
        for j in range(bits_per_symbol):
            label += np.int64(bits[symbol * bits_per_symbol + j]) << (bits_per_symbol - 1 - j)
        if label < 0 or label >= points.size:
            raise ValueError("bits must be 0 or 1")
        out[symbol] = points[label]

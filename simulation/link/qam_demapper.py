"""Demapping of Sionna's Gray QAM per axis, compiled: the LLRs of Sionna's ``Demapper``.

Sionna's "qam" is two Gray PAMs, the even label bits on the real axis and the odd ones on the
imaginary axis, and with circular noise the likelihood of a point factorises over the two axes,
so each bit's LLR needs only the ``sqrt(M)`` levels of its axis: the same values, to float
rounding, several times faster on the CPU (measured in ``docs/ldpc-decoder.md``). Written here
because Sionna's demapper has no separable path (it compares with all ``M`` points in several
tensor passes). 16-QAM, the link's usual higher-order case, has its own loop with the four
metrics of an axis in registers (:func:`_demap16`; the same values as the general loop, bit for
bit, in about half the time at high SNR).

Example
-------
>>> from sionna.phy.mapping import Constellation
>>> demapper = SeparableQamDemapper(Constellation("qam", 4), method="app")
>>> y = torch.tensor([0.3 + 0.9j, -1.0 - 0.2j], dtype=torch.complex64)
>>> demapper(y, torch.full((2,), 0.1)).shape                        # (2 * 4,) float32
torch.Size([8])
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from sionna.phy.mapping import Constellation

__all__ = ["SeparableQamDemapper"]


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
        # (h, levels / 2): the levels whose label has bit j set (ones) or clear (zeros), MSB first
        level_bits = (np.arange(2**h)[:, None] >> np.arange(h - 1, -1, -1)) & 1
        self._ones = np.stack([np.flatnonzero(level_bits[:, j]) for j in range(h)]).astype(np.int64)
        self._zeros = np.stack([np.flatnonzero(level_bits[:, j] == 0) for j in range(h)]).astype(np.int64)

    def __call__(self, y: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        y = y.detach().cpu().reshape(-1)
        if not y.is_complex():
            y = y.to(torch.complex64)
        out = np.empty((y.shape[0], self.bits_per_symbol), dtype=np.float32)
        symbols, variances = y.resolve_conj().numpy(), no.detach().cpu().reshape(-1).numpy()
        no_floor = float(np.finfo(np.float32).tiny)
        if self.bits_per_symbol == 4:
            _demap16(symbols, variances, self._levels, self.maxlog, no_floor, out)
        else:
            _demap(symbols, variances, self._levels, self._ones, self._zeros, self.maxlog, no_floor, out)
        return torch.from_numpy(out.reshape(-1))


#: Group terms more than this far below their group's maximum metric are left out: each is below
#: exp(-40) = 4.2e-18 of the group's sum (at least 1), under its float64 rounding, so leaving them
#: out changes nothing, and a group with nothing else sums to exactly 1.
_NEGLIGIBLE = 40.0
_EXP_STEPS = 64  # table steps per factor e^-(log 2): exp(x) = table[k] * exp(r), |r| <= log(2) / 128
_STEP = np.log(2.0) / _EXP_STEPS
_STEP_HI = np.float64(np.float32(_STEP))  # k * _STEP_HI is exact for the k used here
_STEP_LO = _STEP - _STEP_HI
#: exp(-k log(2) / 64) = 2^(-k / 64) for k = 0 .. 64 * 40 / log 2 + 1
_EXP_TABLE = 2.0 ** (-np.arange(int(_NEGLIGIBLE / _STEP) + 2, dtype=np.float64) / _EXP_STEPS)


@numba.njit(inline="always")
def _exp_nonpositive(x):  # pragma: no cover - compiled
    """exp(x) for -_NEGLIGIBLE <= x <= 0 to about 2e-15 relative, exactly 1 at 0.

    ``x = -k log(2) / 64 + r`` with ``|r| <= log(2) / 128``: a table entry times the Taylor series
    of degree 5 in ``r`` (remainder below 1e-14 / 720). Inlined into the demapper's loop: float64
    accuracy for about the time of libm's float32 ``expf`` there (measured), no call.
    """
    k = np.floor(0.5 - x * (1.0 / _STEP))  # round(-x / step)
    r = (x + k * _STEP_HI) + k * _STEP_LO
    p = r * (1.0 / 120.0) + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _EXP_TABLE[int(k)]


@numba.njit(inline="always")
def _bit_llr16(a1, b1, a0, b0, maxlog):  # pragma: no cover - compiled
    """One bit of a 4-level axis: each group is its maximum plus one term (see :func:`_demap`)."""
    llr = max(a1, b1) - max(a0, b0)
    if maxlog:
        return llr
    gap1 = -abs(a1 - b1)
    gap0 = -abs(a0 - b0)
    if gap1 <= -_NEGLIGIBLE and gap0 <= -_NEGLIGIBLE:
        return llr
    sum1 = 1.0 + (_exp_nonpositive(gap1) if gap1 > -_NEGLIGIBLE else 0.0)
    sum0 = 1.0 + (_exp_nonpositive(gap0) if gap0 > -_NEGLIGIBLE else 0.0)
    if sum1 != sum0:
        llr += np.log(np.float32(sum1 / sum0))
    return llr


@numba.njit(cache=True, nogil=True)
def _demap16(y, no, levels, maxlog, no_floor, out):  # pragma: no cover - compiled
    """:func:`_demap` for 16-QAM, metrics in registers: per axis, level ``l`` is label ``l``, bit 0
    (MSB) is set for labels {2, 3} and clear for {0, 1}, bit 1 set for {1, 3} and clear for {0, 2}."""
    for symbol in range(y.size):
        scale = 1.0 / max(np.float64(no[symbol]), no_floor)
        sample = y[symbol]
        for axis in range(2):
            value = np.float64(sample.real) if axis == 0 else np.float64(sample.imag)
            d0 = value - levels[axis, 0]
            d1 = value - levels[axis, 1]
            d2 = value - levels[axis, 2]
            d3 = value - levels[axis, 3]
            m0 = -(d0 * d0) * scale
            m1 = -(d1 * d1) * scale
            m2 = -(d2 * d2) * scale
            m3 = -(d3 * d3) * scale
            out[symbol, axis] = _bit_llr16(m2, m3, m0, m1, maxlog)
            out[symbol, 2 + axis] = _bit_llr16(m1, m3, m0, m2, maxlog)


@numba.njit(cache=True, nogil=True)
def _demap(y, no, levels, ones, zeros, maxlog, no_floor, out):  # pragma: no cover - compiled
    """Per symbol and axis: level metrics, then each bit's two level groups by log-sum-exp (or max).

    Each group's log-sum-exp is taken relative to its own maximum, ``top + log(sum exp(metric -
    top))`` with a sum in [1, levels / 2], so nothing underflows and no group needs a fallback;
    the LLR is ``top1 - top0 + log(sum1 / sum0)``: one logarithm per bit, none when both sums are
    1 (every other term negligible, as mostly at high SNR), and an exponential (the inlined
    :func:`_exp_nonpositive`) only for the terms within ``_NEGLIGIBLE`` of their group's maximum.
    The ratio's logarithm is taken in float32 (|log| <= log(levels / 2), so an absolute error
    below 3e-7, under the float32 rounding of the LLRs Sionna computes). Before, the sums were
    relative to the axis maximum, with a max-log fallback off by up to log(levels / 2) where a
    group underflowed (|LLR| > 600); now exact there too.
    """
    bits, half = ones.shape
    count = levels.shape[1]
    metric = np.empty(count)
    for symbol in range(y.size):
        scale = 1.0 / max(np.float64(no[symbol]), no_floor)
        sample = y[symbol]
        for axis in range(2):
            value = np.float64(sample.real) if axis == 0 else np.float64(sample.imag)
            for level in range(count):
                distance = value - levels[axis, level]
                metric[level] = -(distance * distance) * scale
            for bit in range(bits):
                top1 = metric[ones[bit, 0]]
                top0 = metric[zeros[bit, 0]]
                for i in range(1, half):
                    top1 = max(top1, metric[ones[bit, i]])
                    top0 = max(top0, metric[zeros[bit, i]])
                llr = top1 - top0
                if maxlog:
                    pass
                elif half == 2:  # 16-QAM: each group is its maximum plus one term
                    gap1 = -abs(metric[ones[bit, 0]] - metric[ones[bit, 1]])
                    gap0 = -abs(metric[zeros[bit, 0]] - metric[zeros[bit, 1]])
                    sum1 = 1.0 + (_exp_nonpositive(gap1) if gap1 > -_NEGLIGIBLE else 0.0)
                    sum0 = 1.0 + (_exp_nonpositive(gap0) if gap0 > -_NEGLIGIBLE else 0.0)
                    if sum1 != sum0:
                        llr += np.log(np.float32(sum1 / sum0))
                else:
                    sum1 = sum0 = 0.0
                    for i in range(half):
                        gap1 = metric[ones[bit, i]] - top1
                        gap0 = metric[zeros[bit, i]] - top0
                        sum1 += _exp_nonpositive(gap1) if gap1 > -_NEGLIGIBLE else 0.0
                        sum0 += _exp_nonpositive(gap0) if gap0 > -_NEGLIGIBLE else 0.0
                    if sum1 != sum0:
                        llr += np.log(np.float32(sum1 / sum0))
                out[symbol, 2 * bit + axis] = llr

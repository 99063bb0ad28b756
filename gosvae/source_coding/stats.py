"""Bit accounting for index maps and their packets: entropy bounds, header and payload bits.

Example
-------
>>> indices = np.array([[0, 0], [0, 1]])
>>> round(order0_entropy_bits(indices), 3)     # 4 * H(3/4, 1/4)
3.245
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.special import xlogy

from gosvae.source_coding.coders import as_prior
from gosvae.source_coding.header import HEADER_SIZE


def order0_entropy_bits(indices: np.ndarray) -> float:
    """Empirical order-0 entropy of a map times its number of indices.

    This is the size, in bits, of the best code that treats the indices as i.i.d. and knows
    their empirical frequencies: ``-sum_k n_k log2(n_k / N)``.

    Parameters
    ----------
    indices : np.ndarray, any shape, int >= 0
        The index map.

    Returns
    -------
    float
        Bits; ``0.0`` for an empty or constant map.
    """
    flat = np.asarray(indices).reshape(-1)
    if flat.size == 0:
        return 0.0
    counts = np.bincount(flat).astype(np.float64)
    return float(-xlogy(counts, counts / flat.size).sum() / np.log(2.0))


def ideal_code_length_bits(indices: np.ndarray, *, prior: np.ndarray) -> float:
    """Ideal code length of a map under the index prior, ``-sum log2 prior[indices]``, in bits.

    A range coder with that prior reaches this up to a few bytes per slice; it equals
    :func:`order0_entropy_bits` when the prior is the map's own empirical distribution.

    Parameters
    ----------
    indices : np.ndarray, any shape, int in [0, K)
        The index map.
    prior : np.ndarray, (K,), float
        Index probabilities, all ``> 0``.

    Returns
    -------
    float
        Bits.
    """
    p = as_prior(prior)
    return float(-np.log2(p[np.asarray(indices).reshape(-1)]).sum())


@dataclass(frozen=True)
class PacketBits:
    """Size of a list of slice packets, split into header overhead and coded payload.

    Attributes
    ----------
    header_bits : int
        ``8 * HEADER_SIZE`` per packet.
    payload_bits : int
        Bits after the headers (entropy-coded indices, padding included).
    """

    header_bits: int
    payload_bits: int

    @property
    def total_bits(self) -> int:
        """``header_bits + payload_bits``."""
        return self.header_bits + self.payload_bits

    @property
    def header_fraction(self) -> float:
        """Share of the total taken by headers, in ``[0, 1]``."""
        return self.header_bits / self.total_bits if self.total_bits else 0.0


def packet_bits(packets: Sequence[bytes | None]) -> PacketBits:
    """Header and payload bits of slice packets (``None`` entries, lost packets, are skipped).

    Parameters
    ----------
    packets : Sequence[bytes | None]
        Packets from :func:`~gosvae.source_coding.slices.encode_index_map`.

    Returns
    -------
    PacketBits

    Raises
    ------
    ValueError
        A packet is shorter than a slice header.
    """
    present = [len(p) for p in packets if p is not None]
    if any(n < HEADER_SIZE for n in present):
        raise ValueError(f"a packet is shorter than the {HEADER_SIZE}-byte slice header")
    header = 8 * HEADER_SIZE * len(present)
    return PacketBits(header_bits=header, payload_bits=8 * sum(present) - header)


def payload_bits(packets: Sequence[bytes | None]) -> int:
    """Bits of coded indices in slice packets, headers excluded (see :func:`packet_bits`)."""
    return packet_bits(packets).payload_bits

"""Packet CRC of any length, batched through Sionna's ``CRCEncoder`` / ``CRCDecoder``.

Sionna's CRC blocks work on a fixed number of bits per call. The 3GPP CRCs start from a zero
register, so zeros *in front of* a message leave its CRC unchanged: packets are left-padded with
zeros to a power-of-two width (at least 64 bits) and every width is one batched Sionna call. The
encoder/decoder pair of each width is built once and kept by the instance.

Example
-------
>>> crc = PacketCRC("CRC24A", device="cpu")
>>> bits = torch.tensor([1., 0., 1., 1., 0., 0., 0., 1.])
>>> parity = crc.parity(bits, starts=np.array([0]), lengths=np.array([8]))      # (1, 24)
>>> crc.check(bits, parity, starts=np.array([0]), lengths=np.array([8]))
tensor([True])
"""

from __future__ import annotations

import numpy as np
import torch
from sionna.phy.fec.crc import CRCDecoder, CRCEncoder

from simulation.link.segmentation import ragged_indices

__all__ = ["PacketCRC"]

_MIN_WIDTH = 64


class PacketCRC:
    """CRC of many packets of different lengths.

    Parameters
    ----------
    polynomial : str
        "CRC24A", "CRC24B", "CRC24C", "CRC16", "CRC11", "CRC6" (3GPP TS 38.212) or "none".
    device : str
        Device of the Sionna blocks and of the tensors given to them.
    """

    def __init__(self, polynomial: str, *, device: str) -> None:
        self.polynomial = polynomial
        self.device = device
        self.length = 0 if polynomial == "none" else CRCEncoder(polynomial).crc_length
        self._coders: dict[int, tuple[CRCEncoder, CRCDecoder]] = {}

    def parity(self, bits: torch.Tensor, *, starts: np.ndarray, lengths: np.ndarray) -> torch.Tensor:
        """CRC parity bits of each packet.

        Input: ``bits`` (M,) float 0/1 holding packet ``i`` at ``bits[starts[i] : starts[i] +
        lengths[i]]``; ``starts``, ``lengths`` (P,) ints.
        Output: (P, length) float 0/1 on ``bits.device``.
        """
        parity = torch.zeros(len(lengths), self.length, dtype=torch.float32, device=bits.device)
        if self.length == 0:
            return parity
        for width, rows in self._width_groups(lengths):
            padded = self._left_padded(bits, starts[rows], lengths[rows], width, extra=0)
            encoder, _ = self._coder(width)
            parity[torch.as_tensor(rows, device=bits.device)] = encoder(padded)[:, width:].to(torch.float32)
        return parity

    def check(
        self, bits: torch.Tensor, parity: torch.Tensor, *, starts: np.ndarray, lengths: np.ndarray
    ) -> torch.Tensor:
        """Whether each packet's received ``parity`` (P, length) matches its received ``bits``.

        Input as in :meth:`parity`. Output: (P,) bool; all True when the CRC is "none".
        """
        valid = torch.ones(len(lengths), dtype=torch.bool, device=bits.device)
        if self.length == 0:
            return valid
        for width, rows in self._width_groups(lengths):
            rows_t = torch.as_tensor(rows, device=bits.device)
            padded = self._left_padded(bits, starts[rows], lengths[rows], width, extra=self.length)
            padded[:, width:] = parity[rows_t]
            _, decoder = self._coder(width)
            valid[rows_t] = decoder(padded)[1].reshape(-1)
        return valid

    def _coder(self, width: int) -> tuple[CRCEncoder, CRCDecoder]:
        if width not in self._coders:
            encoder = CRCEncoder(self.polynomial, k=width, device=self.device)
            self._coders[width] = (encoder, CRCDecoder(encoder, device=self.device))
        return self._coders[width]

    @staticmethod
    def _width_groups(lengths: np.ndarray) -> list[tuple[int, np.ndarray]]:
        lengths = np.asarray(lengths, dtype=np.int64)
        widths = np.maximum(_MIN_WIDTH, 1 << np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64))
        return [(int(w), np.flatnonzero(widths == w)) for w in np.unique(widths)]

    @staticmethod
    def _left_padded(
        bits: torch.Tensor, starts: np.ndarray, lengths: np.ndarray, width: int, *, extra: int
    ) -> torch.Tensor:
        """(rows, width + extra) zeros with packet r right-aligned in its first ``width`` columns."""
        rows = len(lengths)
        row_of_bit = np.repeat(np.arange(rows, dtype=np.int64), lengths)
        column = ragged_indices(width - lengths, lengths)
        target = torch.as_tensor(row_of_bit * (width + extra) + column, device=bits.device)
        source = torch.as_tensor(ragged_indices(starts, lengths), device=bits.device)
        padded = torch.zeros(rows * (width + extra), dtype=torch.float32, device=bits.device)
        padded[target] = bits[source].to(torch.float32)
        return padded.view(rows, width + extra)

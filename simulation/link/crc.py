"""Packet CRC of any length: Sionna's 3GPP CRC polynomials, computed by a compiled shift register.

The generator polynomials are Sionna's (``CRCEncoder(polynomial).crc_pol``, TS 38.212 5.1); the
parity of a packet is the remainder of ``bits(D) * D^L`` divided by ``g(D)``, MSB first, exactly
what Sionna's ``CRCEncoder`` appends. A packet passes the check when the parity computed from
its received bits equals its received parity, which is Sionna's ``CRCDecoder`` test (the
remainder of ``bits(D) * D^L + parity(D)`` is zero) rewritten: the register starts at zero, so
the remainder of the whole word is ``crc(bits) XOR parity``. All packets of a call go through
one compiled loop, one bit per step, reading the float 0/1 stream in place (no padding, no
per-length Sionna blocks; tests compare with Sionna's blocks and a long division).

Example
-------
>>> crc = PacketCRC("CRC24A", device="cpu")
>>> bits = torch.tensor([1., 0., 1., 1., 0., 0., 0., 1.])
>>> parity = crc.parity(bits, starts=np.array([0]), lengths=np.array([8]))      # (1, 24)
>>> crc.check(bits, parity, starts=np.array([0]), lengths=np.array([8]))
tensor([True])
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from sionna.phy.fec.crc import CRCEncoder

__all__ = ["PacketCRC"]


class PacketCRC:
    """CRC of many packets of different lengths.

    Parameters
    ----------
    polynomial : str
        "CRC24A", "CRC24B", "CRC24C", "CRC16", "CRC11", "CRC6" (3GPP TS 38.212) or "none".
    device : str
        Device of the returned tensors' inputs (the register runs on the CPU).
    """

    def __init__(self, polynomial: str, *, device: str) -> None:
        self.polynomial = polynomial
        self.device = device
        self.length = 0
        self._generator = 0  # g(D) without its leading term, bit i = coefficient of D^i
        if polynomial != "none":
            coefficients = np.asarray(CRCEncoder(polynomial).crc_pol, dtype=np.int64)  # D^L first
            self.length = len(coefficients) - 1
            self._generator = int(coefficients[1:] @ (1 << np.arange(self.length - 1, -1, -1, dtype=np.int64)))

    def parity(self, bits: torch.Tensor, *, starts: np.ndarray, lengths: np.ndarray) -> torch.Tensor:
        """CRC parity bits of each packet.

        Input: ``bits`` (M,) float 0/1 holding packet ``i`` at ``bits[starts[i] : starts[i] +
        lengths[i]]``; ``starts``, ``lengths`` (P,) ints.
        Output: (P, length) float 0/1 on ``bits.device``.
        """
        if self.length == 0:
            return torch.zeros(len(lengths), 0, dtype=torch.float32, device=bits.device)
        registers = self._registers(bits, starts, lengths)
        shifts = np.arange(self.length - 1, -1, -1, dtype=np.int64)
        parity = ((registers[:, None] >> shifts) & 1).astype(np.float32)
        return torch.from_numpy(parity).to(bits.device)

    def check(
        self, bits: torch.Tensor, parity: torch.Tensor, *, starts: np.ndarray, lengths: np.ndarray
    ) -> torch.Tensor:
        """Whether each packet's received ``parity`` (P, length) matches its received ``bits``.

        Input as in :meth:`parity`. Output: (P,) bool; all True when the CRC is "none".
        """
        if self.length == 0:
            return torch.ones(len(lengths), dtype=torch.bool, device=bits.device)
        received = (parity.detach().cpu().numpy().reshape(len(lengths), self.length) > 0.5).astype(np.int64)
        received = received @ (1 << np.arange(self.length - 1, -1, -1, dtype=np.int64))
        return torch.from_numpy(self._registers(bits, starts, lengths) == received).to(bits.device)

    def _registers(self, bits: torch.Tensor, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(P,) int64 remainders of the packets, bit ``L - 1 - j`` = parity bit ``j``."""
        stream = bits.detach().to(device="cpu", dtype=torch.float32).reshape(-1).numpy()
        lengths = np.ascontiguousarray(lengths, dtype=np.int64).reshape(-1)
        starts = np.ascontiguousarray(np.asarray(starts, dtype=np.int64).reshape(-1)[: len(lengths)])
        if len(starts) != len(lengths):
            raise ValueError(f"{len(lengths)} packet lengths but {len(starts)} starts")
        if len(lengths) and ((starts < 0).any() or (starts + lengths > len(stream)).any() or (lengths < 0).any()):
            raise ValueError("a packet reaches outside the bit stream")
        out = np.zeros(len(lengths), dtype=np.int64)
        _crc_registers(stream, starts, lengths, self._generator, self.length, out)
        return out


@numba.njit(cache=True, nogil=True)
def _crc_registers(bits, starts, lengths, generator, length, out):  # pragma: no cover - compiled
    """Shift register of ``g(D)``, zero start, one input bit per step (bit > 0.5 counts as 1)."""
    mask = (np.int64(1) << length) - 1
    for packet in range(starts.size):
        register = np.int64(0)
        for position in range(starts[packet], starts[packet] + lengths[packet]):
            feedback = ((register >> (length - 1)) & 1) ^ np.int64(bits[position] > 0.5)
            register = ((register << 1) & mask) ^ (generator & -feedback)
        out[packet] = register

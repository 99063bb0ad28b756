"""Which received 5G LDPC codewords are already codewords: decoding them changes nothing.

Sionna's ``LDPC5GDecoder`` runs a fixed number of iterations on every codeword. At useful SNRs
most hard decisions are already error-free; this check finds them so that only the others go
through belief propagation.

Why it is not a plain ``H @ c``: a 5G codeword on air lacks bits of the mother code (the first
``2Z`` systematic bits are always punctured, parity bits beyond ``n`` are cut by rate matching,
filler bits are known zeros) and may be permuted by the 3GPP output bit interleaver (undone
here first). The hard decisions ``t`` of the ``n`` sent bits form a valid
codeword iff some values of the missing bits make ``H c = 0``. Built once per code:

1. *peeling*: a missing parity bit that sits in a single remaining check can always satisfy it,
   so that check (and the bit) drop out; repeated until nothing changes. This removes every
   rate-matched extension parity of 5G codes.
2. the remaining checks ``H'`` and missing bits ``u`` give ``M u = s`` over GF(2), with ``s``
   the syndrome of the known bits. ``M`` has full column rank for 5G codes (checked: only tiny
   blocks with one or two parity bits fail it, and the link never builds those), so ``u`` is
   unique: ``u = M_P^{-1} s_P`` for a set ``P`` of independent rows.
3. per codeword: fill in ``u`` and test ``H' c = 0``. If it holds, ``c[:k]`` are the information
   bits, including the punctured ones.

The GF(2) elimination is written here because neither numpy, scipy nor torch solves linear
systems over GF(2); it runs once per (k, n) on bit-packed rows.

Example
-------
>>> encoder = LDPC5GEncoder(k=512, n=1024, num_bits_per_symbol=4)   # 3GPP bit interleaver on
>>> check = LDPC5GCodewordCheck(encoder)
>>> bits = torch.randint(0, 2, (3, 512)).float()
>>> valid, info = check(10.0 * (2 * encoder(bits) - 1))      # noiseless LLRs
>>> bool(valid.all()), torch.equal(info, bits)
(True, True)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from sionna.phy.fec.ldpc import LDPC5GEncoder

from simulation.link.ldpc_fast import rate_matched_positions

__all__ = ["EarlyExitUnsupported", "LDPC5GCodewordCheck"]


class EarlyExitUnsupported(ValueError):
    """The sent bits do not determine the punctured ones (degenerate tiny high-rate codes)."""


class LDPC5GCodewordCheck:
    """Syndrome test of 5G LDPC hard decisions, accounting for puncturing and shortening.

    Parameters
    ----------
    encoder : LDPC5GEncoder
        The code, with or without the 3GPP output bit interleaver (``num_bits_per_symbol``).
    device : str | torch.device
        Device of the precomputed matrices.

    Input
    -----
    llr : torch.Tensor
        (G, n) float, Sionna's convention ``log P(b=1)/P(b=0)`` (hard decision: ``llr > 0``), bits
        in the encoder's output order (interleaved when the encoder interleaves).

    Output
    ------
    valid : torch.Tensor
        (G,) bool: the hard decisions are a codeword.
    info_bits : torch.Tensor
        (G, k) float 0/1: the codeword's information bits (meaningful where ``valid``).
    """

    def __init__(self, encoder: LDPC5GEncoder, *, device: str | torch.device = "cpu") -> None:
        k, k_ldpc, n_ldpc, n = encoder.k, encoder.k_ldpc, encoder.n_ldpc, encoder.n
        try:  # mother-code bit of each received bit, the output interleaver undone
            sent = rate_matched_positions(encoder)
        except ValueError as exc:
            raise EarlyExitUnsupported(str(exc)) from None
        known = np.zeros(n_ldpc, dtype=bool)
        known[sent] = True
        known[k:k_ldpc] = True  # filler bits, zero
        pcm = sp.csr_matrix(encoder.pcm, dtype=np.int8)
        missing_info = np.flatnonzero(~known[:k])
        missing_parity = np.flatnonzero(~known[k:]) + k
        kept_rows, kept_parity = _peel(pcm, missing_parity)
        unknown = np.concatenate([missing_info, kept_parity])
        kept = pcm[kept_rows]
        system = kept[:, unknown].toarray().astype(bool)
        pivot_rows, rank = _gf2_independent_rows(system)
        if rank < len(unknown):
            raise EarlyExitUnsupported(
                f"the punctured bits of the (k={k}, n={n}) code are not determined by the sent bits"
            )
        inverse = _gf2_inverse(system[pivot_rows])

        self.k, self.n, self.n_ldpc = k, n, n_ldpc
        self._sent = torch.as_tensor(sent, device=device)
        self._unknown = torch.as_tensor(unknown, device=device)
        self._pivot_rows = torch.as_tensor(pivot_rows, device=device)
        coo = kept.tocoo()
        self._checks = torch.sparse_coo_tensor(
            np.vstack([coo.row, coo.col]),
            coo.data.astype(np.float32),
            kept.shape,
            device=device,
            check_invariants=True,
        ).coalesce()
        self._inverse = torch.as_tensor(inverse, dtype=torch.float32, device=device)

    def __call__(self, llr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if llr.dim() != 2 or llr.shape[1] != self.n:
            raise ValueError(f"expected LLRs of shape (G, {self.n}), got {tuple(llr.shape)}")
        codeword = torch.zeros(llr.shape[0], self.n_ldpc, dtype=torch.float32, device=llr.device)
        codeword[:, self._sent] = (llr > 0).to(torch.float32)
        # Float sums of 0/1 values stay exact far beyond any row weight or system size here.
        syndrome = torch.remainder(torch.sparse.mm(self._checks, codeword.T), 2)
        missing = torch.remainder(self._inverse @ syndrome[self._pivot_rows], 2)
        codeword[:, self._unknown] = missing.T
        residual = torch.remainder(torch.sparse.mm(self._checks, codeword.T), 2)
        valid = residual.sum(dim=0) == 0
        return valid, codeword[:, : self.k]


def _peel(pcm: sp.csr_matrix, missing_parity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop checks that a missing parity bit of degree one can always satisfy.

    Output: indices of the checks that remain, and of the missing parity bits still in them.
    """
    columns = pcm.tocsc()
    alive = np.ones(pcm.shape[0], dtype=bool)
    candidates = np.asarray(missing_parity, dtype=np.int64)
    while candidates.size:
        sub = columns[:, candidates]
        degree = alive.astype(np.int64) @ sub
        single = degree == 1
        if not single.any():
            break
        hits = sub[:, single].multiply(alive[:, None]).tocsc()
        hits.eliminate_zeros()
        alive[hits.indices] = False
        candidates = candidates[degree > 1]
    if candidates.size:
        candidates = candidates[(alive.astype(np.int64) @ columns[:, candidates]) > 0]
    return np.flatnonzero(alive), candidates


def _gf2_independent_rows(matrix: np.ndarray) -> tuple[np.ndarray, int]:
    """Forward elimination over GF(2): original indices of rank-many independent rows, and the rank.

    Each row chosen as a pivot is its original row plus earlier pivot rows, so the chosen
    original rows are linearly independent.
    """
    rows, cols = matrix.shape
    packed = np.packbits(matrix, axis=1)
    order = np.arange(rows)
    rank = 0
    for col in range(cols):
        if rank == rows:
            break
        byte, mask = col >> 3, np.uint8(0x80 >> (col & 7))
        hits = np.flatnonzero(packed[rank:, byte] & mask)
        if hits.size == 0:
            continue
        pivot = rank + hits[0]
        packed[[rank, pivot]] = packed[[pivot, rank]]
        order[[rank, pivot]] = order[[pivot, rank]]
        below = rank + 1 + np.flatnonzero(packed[rank + 1 :, byte] & mask)
        packed[below] ^= packed[rank]
        rank += 1
    return order[:rank], rank


def _gf2_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a square invertible 0/1 matrix over GF(2) (Gauss-Jordan on packed rows)."""
    size = matrix.shape[0]
    packed = np.packbits(np.concatenate([matrix, np.eye(size, dtype=bool)], axis=1), axis=1)
    for col in range(size):
        byte, mask = col >> 3, np.uint8(0x80 >> (col & 7))
        pivot = col + np.flatnonzero(packed[col:, byte] & mask)[0]
        packed[[col, pivot]] = packed[[pivot, col]]
        others = np.flatnonzero(packed[:, byte] & mask)
        others = others[others != col]
        packed[others] ^= packed[col]
    return np.unpackbits(packed, axis=1, count=2 * size)[:, size:].astype(np.uint8)

"""Sionna's 5G LDPC encoder, built once per lifted graph instead of once per block length.

A packet-based link meets a new information length ``k`` at almost every packet (a codec's packets
differ in size), and Sionna's ``LDPC5GEncoder`` builds everything from scratch for each: it reads
the base graph from its CSV file, lifts it, splits it into the sub-matrices of its encoder and
turns each into gather indices (about 60-160 ms per construction on this CPU, of which the output
interleaver, the only part that depends on ``n``, is under 10 ms). All of that depends only on the
base graph, its sub-index ``i_ls``, the lifting size ``Z`` and ``k_b`` - a few dozen combinations
in all (TS 38.212 has 51 lifting sizes per base graph) - so :class:`CachedLDPC5GEncoder` keeps each
result the first time it is computed and hands the same (read-only) arrays to every later encoder.
Everything else is Sionna's own ``__init__``: the encoder is bit for bit Sionna's (tested).

The cache is per process and bounded by the standard's combinations; nothing in it depends on
input data.

Example
-------
>>> first = CachedLDPC5GEncoder(4200, 8400, num_bits_per_symbol=4)
>>> second = CachedLDPC5GEncoder(4208, 8416, num_bits_per_symbol=4)   # same Z: no lifting again
>>> first.pcm is second.pcm
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy as sp
from sionna.phy.fec.ldpc import LDPC5GEncoder

__all__ = ["CachedLDPC5GEncoder", "is_shared_pcm"]

_BASE_GRAPHS: dict[tuple[int, str], np.ndarray] = {}
_LIFTED: dict[tuple[bytes, tuple[int, ...], int], sp.sparse.csr_matrix] = {}
_SUB_MATRICES: dict[tuple[bytes, tuple[int, ...], int, int, str], tuple[Any, ...]] = {}
#: id of a cached sub-matrix -> (that matrix, its gather indices); the matrices live in
#: ``_SUB_MATRICES`` for the whole process, so their ids are never reused.
_INDICES: dict[int, tuple[Any, np.ndarray]] = {}


class CachedLDPC5GEncoder(LDPC5GEncoder):
    """``sionna.phy.fec.ldpc.LDPC5GEncoder`` with its graph construction cached per process.

    Parameters, inputs and outputs are Sionna's (``k``, ``n``, ``num_bits_per_symbol``, ...).
    The parity-check matrix ``pcm`` and the base graph are shared between encoders of the same
    graph: treat them as read-only (Sionna's decoders and this package's copy them).
    """

    def _load_basegraph(self, i_ls: int, bg: str) -> np.ndarray:
        key = (int(i_ls), str(bg))
        if key not in _BASE_GRAPHS:
            graph = super()._load_basegraph(i_ls, bg)
            graph.setflags(write=False)
            _BASE_GRAPHS[key] = graph
        return _BASE_GRAPHS[key]

    def _lift_basegraph(self, bm: np.ndarray, z: int) -> sp.sparse.csr_matrix:
        key = (bm.tobytes(), bm.shape, int(z))
        if key not in _LIFTED:
            _LIFTED[key] = super()._lift_basegraph(bm, z)
        return _LIFTED[key]

    def _gen_submat(self, bm: np.ndarray, k_b: int, z: int, bg: str) -> Any:
        key = (bm.tobytes(), bm.shape, int(k_b), int(z), str(bg))
        if key not in _SUB_MATRICES:
            _SUB_MATRICES[key] = tuple(super()._gen_submat(bm, k_b, z, bg))
        return _SUB_MATRICES[key]

    def _mat_to_ind(self, mat: Any) -> np.ndarray:
        cached = _INDICES.get(id(mat))
        if cached is not None and cached[0] is mat:
            return cached[1]
        indices = super()._mat_to_ind(mat)
        if any(mat is part for parts in _SUB_MATRICES.values() for part in parts):
            _INDICES[id(mat)] = (mat, indices)
        return indices


def is_shared_pcm(pcm: object) -> bool:
    """Whether ``pcm`` is one of the cached parity-check matrices (alive for the whole process)."""
    return any(pcm is lifted for lifted in _LIFTED.values())

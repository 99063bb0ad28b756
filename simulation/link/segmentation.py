"""Packets to code blocks and back: where every bit of a batch sits.

Each packet becomes ``payload bits | CRC bits | zero padding`` in one *information stream*, cut
into ``C`` code blocks of ``k`` bits each::

    L = 8 * len(packet) + crc_bits          bits to protect
    C = ceil(L / max_block)                 code blocks (1 without a limit, 0 for L = 0)
    k = grid(max(ceil(L / C), min_block))   block length, capped at max_block
    padding = C * k - L                     zeros at the end of the packet's last block

``grid`` rounds up to ``steps_per_octave`` values per octave (16: at most 6.25 % padding), so
packets of similar lengths share a block length and hence one encoder/decoder and one batched
Sionna call. The zero padding is sent (it is known to be zero but the decoder is not told) and
is excluded from every statistic.

The *coded stream* holds the codewords of all blocks in packet order, each ``n`` code bits then
zeros up to a whole number of symbols (``n_air``).

Example
-------
>>> layout = plan_blocks(np.array([8, 16000]), crc_bits=24, max_block=8448, min_block=12,
...                      steps_per_octave=16, codeword_bits=lambda k: 2 * k, bits_per_symbol=2)
>>> layout.block_k.tolist(), layout.block_packet.tolist()
([32, 8192, 8192], [0, 1, 1])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numba
import numpy as np
import torch

__all__ = [
    "BlockLayout", "bits_to_packets", "block_groups", "block_view", "grid_round_up", "packets_to_bits", "piece_offsets",
    "plan_blocks", "ragged_copy", "ragged_indices",
]


@dataclass(frozen=True)
class BlockLayout:
    """Positions of packets and code blocks in the information and coded streams.

    Attributes (numpy int64 arrays; P packets, C code blocks)
    ----------------------------------------------------------
    payload_bits : (P,)
        8 times the packet length in bytes.
    crc_bits : int
        CRC length per packet.
    packet_start : (P,)
        Start of each packet in the information stream.
    block_packet : (C,)
        Packet each block belongs to (blocks in packet order).
    block_k, block_n, block_air : (C,)
        Information bits, code bits out of the encoder, code bits on air (``block_n`` rounded up
        to whole symbols).
    block_info_start, block_code_start : (C,)
        Start of each block in the information stream and in the coded stream.
    """

    payload_bits: np.ndarray
    crc_bits: int
    packet_start: np.ndarray
    block_packet: np.ndarray
    block_k: np.ndarray
    block_n: np.ndarray
    block_air: np.ndarray
    block_info_start: np.ndarray
    block_code_start: np.ndarray

    @property
    def protected_bits(self) -> np.ndarray:
        """(P,) payload plus CRC bits of each packet."""
        return self.payload_bits + self.crc_bits

    @property
    def info_length(self) -> int:
        """Length of the information stream (padding included)."""
        return int(self.block_k.sum())

    @property
    def code_length(self) -> int:
        """Length of the coded stream (modulation padding included)."""
        return int(self.block_air.sum())


def plan_blocks(
    payload_bits: np.ndarray,
    *,
    crc_bits: int,
    max_block: int | None,
    min_block: int,
    steps_per_octave: int | None,
    codeword_bits: Callable[[int], int],
    bits_per_symbol: int,
) -> BlockLayout:
    """Cut packets into code blocks (see the module docstring for the rule).

    Input: ``payload_bits`` (P,) ints; ``codeword_bits(k)`` the encoder output length for ``k``.
    Output: a :class:`BlockLayout`.
    """
    payload_bits = np.asarray(payload_bits, dtype=np.int64)
    protected = payload_bits + crc_bits
    if max_block is None:
        num_blocks = (protected > 0).astype(np.int64)
        block_k = protected.copy()
    else:
        num_blocks = -(-protected // max_block)
        block_k = -(-protected // np.maximum(num_blocks, 1))
        block_k = np.maximum(block_k, min_block)
        if steps_per_octave is not None:
            block_k = np.minimum(grid_round_up(block_k, steps_per_octave), max_block)
    packet_span = num_blocks * block_k
    packet_start = np.concatenate([[0], np.cumsum(packet_span)[:-1]]).astype(np.int64)

    block_packet = np.repeat(np.arange(len(protected)), num_blocks)
    k = block_k[block_packet]
    index_in_packet = np.arange(len(block_packet)) - np.repeat(np.cumsum(num_blocks) - num_blocks, num_blocks)
    info_start = packet_start[block_packet] + index_in_packet * k
    n_of_k = {int(value): int(codeword_bits(int(value))) for value in np.unique(k)}
    n = np.array([n_of_k[int(value)] for value in k], dtype=np.int64)
    air = -(-n // bits_per_symbol) * bits_per_symbol
    code_start = np.concatenate([[0], np.cumsum(air)[:-1]]).astype(np.int64)
    return BlockLayout(
        payload_bits=payload_bits,
        crc_bits=crc_bits,
        packet_start=packet_start,
        block_packet=block_packet,
        block_k=k.astype(np.int64),
        block_n=n,
        block_air=air,
        block_info_start=info_start.astype(np.int64),
        block_code_start=code_start[: len(air)],
    )


def grid_round_up(values: np.ndarray, steps_per_octave: int) -> np.ndarray:
    """Round positive ints up to the grid ``ceil(2^e (1 + j / steps))``, j = 0..steps, e = floor(log2 v).

    Input/output: int64 arrays of the same shape; the result is >= the input and at most
    ``1 / steps_per_octave`` larger in relative terms.
    """
    values = np.asarray(values, dtype=np.int64)
    octave = np.left_shift(1, np.floor(np.log2(np.maximum(values, 1))).astype(np.int64))
    octave = np.where(octave > values, octave // 2, octave)  # guard log2 rounding
    octave = np.where(octave * 2 <= values, octave * 2, octave)
    step_index = -((-(values - octave) * steps_per_octave) // octave)
    return octave + -((-step_index * octave) // steps_per_octave)


def ragged_indices(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for every (s, l), without a Python loop.

    Input: ``starts``, ``lengths`` (M,) ints. Output: (sum(lengths),) int64.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - offsets, lengths)


def ragged_copy(
    source: np.ndarray, source_starts: np.ndarray, target: np.ndarray, target_starts: np.ndarray, lengths: np.ndarray
) -> None:
    """``target[t + j] = source[s + j]`` for ``j < l``, every (s, t, l): what indexing with two
    :func:`ragged_indices` does, in one compiled pass without the index arrays.

    Input: 1-D numpy ``source`` and ``target`` (values cast to ``target``'s dtype as numpy's
    ``astype`` does for 0/1 bits); ``lengths`` (M,) ints, ``source_starts`` and ``target_starts``
    at least M ints (entries after the M-th ignored, as a layout's ``packet_start`` for no packets).
    """
    lengths = np.ascontiguousarray(lengths, dtype=np.int64).reshape(-1)
    source_starts, target_starts = (
        np.ascontiguousarray(np.asarray(a, dtype=np.int64).reshape(-1)[: len(lengths)])
        for a in (source_starts, target_starts)
    )
    if len(source_starts) != len(lengths) or len(target_starts) != len(lengths):
        raise ValueError("a ragged copy needs a source and a target start per length")
    if len(lengths) and (
        (lengths < 0).any() or (source_starts < 0).any() or (target_starts < 0).any()
        or (source_starts + lengths > len(source)).any() or (target_starts + lengths > len(target)).any()
    ):  # fmt: skip
        raise ValueError("a ragged copy reaches outside its arrays")
    _ragged_copy(source, source_starts, target, target_starts, lengths)


@numba.njit(cache=True, nogil=True)
def _ragged_copy(source, source_starts, target, target_starts, lengths):  # pragma: no cover - compiled
    for i in range(lengths.size):
        for j in range(lengths[i]):
            target[target_starts[i] + j] = source[source_starts[i] + j]


def packets_to_bits(packets: Sequence[bytes]) -> np.ndarray:
    """All packets' bits, most significant bit of each byte first, concatenated: (sum 8 len,) uint8."""
    return np.unpackbits(np.frombuffer(b"".join(packets), dtype=np.uint8))


def bits_to_packets(bits: np.ndarray, payload_bits: np.ndarray) -> list[bytes]:
    """Inverse of :func:`packets_to_bits`: (sum payload_bits,) 0/1 array to one bytes per packet."""
    data = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()
    ends = np.cumsum(np.asarray(payload_bits, dtype=np.int64) // 8)
    starts = ends - np.asarray(payload_bits, dtype=np.int64) // 8
    return [data[s:e] for s, e in zip(starts.tolist(), ends.tolist())]


def block_groups(layout: BlockLayout) -> Iterator[tuple[int, int, np.ndarray]]:
    """(k, n, block indices) for every distinct block length, blocks in stream order."""
    for k in np.unique(layout.block_k):
        blocks = np.flatnonzero(layout.block_k == k)
        yield int(k), int(layout.block_n[blocks[0]]), blocks


def piece_offsets(lengths: np.ndarray) -> np.ndarray:
    """Starts of consecutive pieces of the given lengths."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.cumsum(lengths) - lengths


def block_view(stream: torch.Tensor, starts: np.ndarray, length: int) -> torch.Tensor | None:
    """(G, length) strided view of the contiguous 1-D ``stream`` at rows ``starts[g]``, when the
    starts are evenly spaced at least ``length`` apart (rows do not overlap); else None."""
    starts = np.asarray(starts, dtype=np.int64)
    if len(starts) == 0 or not stream.is_contiguous() or stream.dim() != 1:
        return None
    step = int(starts[1] - starts[0]) if len(starts) > 1 else length
    if step < length or starts[0] < 0 or int(starts[-1]) + length > stream.numel():
        return None
    if not np.array_equal(starts, starts[0] + step * np.arange(len(starts), dtype=np.int64)):
        return None
    return stream.as_strided((len(starts), length), (step, 1), stream.storage_offset() + int(starts[0]))

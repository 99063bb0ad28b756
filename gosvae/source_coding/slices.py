"""Cutting an index map into independently coded row slices, and putting it back together.

The transmitter cuts the ``(H', W')`` index map into slices of ``rows_per_slice`` whole rows (the
last slice may be shorter), codes each slice on its own and prefixes it with a
:class:`~gosvae.source_coding.header.SliceHeader`: one packet per slice. A slice lost on the link
then damages only its own rows.

The receiver gets each packet back as ``bytes`` or ``None`` (lost). Decoding never raises on what
the link delivers: a missing packet, a header that does not match the expected map, model or
slicing, a payload that the coder rejects (see
:class:`~gosvae.source_coding.coders.CorruptPayloadError`) or a slice whose rows another packet
already filled are all reported in :attr:`DecodedIndices.slice_status`, and their rows are
concealed (:mod:`~gosvae.source_coding.concealment`) and flagged in
:attr:`DecodedIndices.concealed_rows`. Packets may arrive in any order: each header says where
its rows go.

Example
-------
>>> prior = np.full(16, 1 / 16)
>>> indices = np.arange(6 * 4).reshape(6, 4) % 16
>>> packets = encode_index_map(indices, prior=prior, coder="range", rows_per_slice=4)
>>> packets[1] = None                                   # second slice lost
>>> decoded = decode_index_map(packets, shape=(6, 4), prior=prior, concealment="copy-above")
>>> decoded.concealed_rows.tolist()
[False, False, False, False, True, True]
>>> decoded.indices[4].tolist() == indices[3].tolist()  # copied from the last received row
True
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from gosvae.errors import UserError
from gosvae.source_coding.coders import IndexCoder, as_prior, build_coder
from gosvae.source_coding.concealment import ConcealmentMode, check_concealment_mode, conceal_rows
from gosvae.source_coding.header import (
    CODER_NAMES,
    HEADER_SIZE,
    MAX_PAYLOAD_BYTES,
    MAX_UINT16,
    SliceHeader,
    SliceHeaderError,
    parse_slice_header,
)


class SliceStatus(str, enum.Enum):
    """What happened to one received packet position."""

    OK = "ok"
    """Decoded; its rows hold the transmitted indices."""
    MISSING = "missing"
    """The link lost the packet (``None``)."""
    BAD_HEADER = "bad-header"
    """The header is malformed or does not match the expected map, model or slicing."""
    BAD_PAYLOAD = "bad-payload"
    """The coder rejected the payload (truncated, extended, corrupted)."""
    DUPLICATE = "duplicate"
    """Its rows were already filled by an earlier packet of the list."""


@dataclass(frozen=True, eq=False)
class DecodedIndices:
    """Result of :func:`decode_index_map`.

    Attributes
    ----------
    indices : np.ndarray, (H', W'), int64
        The index map, values in ``[0, K)``; concealed rows filled by the concealment strategy.
    concealed_rows : np.ndarray, (H',), bool
        ``True`` for rows that were not decoded from a valid slice.
    slice_status : tuple[SliceStatus, ...]
        One entry per packet position of the input list.
    """

    indices: np.ndarray
    concealed_rows: np.ndarray
    slice_status: tuple[SliceStatus, ...]

    @property
    def num_slices_ok(self) -> int:
        """Number of packets decoded successfully."""
        return sum(status is SliceStatus.OK for status in self.slice_status)

    @property
    def concealed_fraction(self) -> float:
        """Fraction of rows concealed, in ``[0, 1]``."""
        return float(self.concealed_rows.mean())


def _check_model_id(model_id: int) -> int:
    if not isinstance(model_id, (int, np.integer)) or not 0 <= model_id <= MAX_UINT16:
        raise UserError(f"model_id: expected an integer in [0, {MAX_UINT16}], got {model_id!r}")
    return int(model_id)


def _check_shape(shape: Sequence[int], *, name: str) -> tuple[int, int]:
    if len(shape) != 2 or not all(isinstance(n, (int, np.integer)) and 1 <= n <= MAX_UINT16 for n in shape):
        raise UserError(f"{name}: expected (H', W') with 1 <= H', W' <= {MAX_UINT16}, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def encode_index_map(
    indices: np.ndarray,
    *,
    prior: np.ndarray,
    coder: str | IndexCoder = "range",
    rows_per_slice: int = 8,
    model_id: int = 0,
) -> list[bytes]:
    """Cut an index map into row slices and code each into one packet.

    Parameters
    ----------
    indices : np.ndarray, (H', W'), int
        Codebook indices in ``[0, K)``; ``1 <= H', W' <= 65535``.
    prior : np.ndarray, (K,), float
        The model's index prior, all entries ``> 0`` (shared with the receiver).
    coder : "range" | "huffman" | "fixed" | IndexCoder
        Entropy coder, by name, or a coder already built from this same ``prior`` with
        :func:`~gosvae.source_coding.coders.build_coder` (saves rebuilding the Huffman tree,
        about 2 ms for K = 12000, per image).
    rows_per_slice : int
        Rows per slice; the last slice holds the remaining ``H' mod rows_per_slice`` rows if
        that is not zero.
    model_id : int
        16-bit id written in every header; the receiver drops slices of other models.

    Returns
    -------
    list[bytes]
        ``ceil(H' / rows_per_slice)`` packets, top to bottom, each a 13-byte header and payload.

    Raises
    ------
    UserError
        Invalid map, prior, coder, ``rows_per_slice`` or ``model_id``; a slice payload beyond
        the 16 MiB header limit.
    """
    p = as_prior(prior)
    index_map = np.asarray(indices)
    if index_map.ndim != 2 or not np.issubdtype(index_map.dtype, np.integer):
        raise UserError(f"indices: expected a 2-D integer array, got shape {index_map.shape} dtype {index_map.dtype}")
    height, width = _check_shape(index_map.shape, name="indices shape")
    if index_map.min() < 0 or index_map.max() >= p.shape[0]:
        raise UserError(
            f"indices: values must lie in [0, K={p.shape[0]}), found [{index_map.min()}, {index_map.max()}]"
        )
    if not isinstance(rows_per_slice, (int, np.integer)) or rows_per_slice < 1:
        raise UserError(f"rows_per_slice: expected an integer >= 1, got {rows_per_slice!r}")
    model_id = _check_model_id(model_id)
    index_coder = build_coder(coder, prior=p) if isinstance(coder, str) else coder
    if index_coder.num_symbols != p.shape[0]:
        raise UserError(f"coder: built for K={index_coder.num_symbols}, but the prior has K={p.shape[0]}")

    packets = []
    for slice_id, first_row in enumerate(range(0, height, int(rows_per_slice))):
        rows = index_map[first_row:first_row + int(rows_per_slice)]
        payload = index_coder.encode(rows.reshape(-1))
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise UserError(
                f"slice {slice_id}: payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte "
                f"header limit; use rows_per_slice < {rows_per_slice}"
            )
        header = SliceHeader(
            coder_id=index_coder.coder_id, model_id=model_id, slice_id=slice_id, first_row=first_row,
            num_rows=rows.shape[0], payload_length=len(payload),
        )
        packets.append(header.to_bytes() + payload)
    return packets


def decode_index_map(
    packets: Sequence[bytes | None],
    *,
    shape: tuple[int, int],
    prior: np.ndarray,
    concealment: ConcealmentMode = "most-probable",
    model_id: int = 0,
) -> DecodedIndices:
    """Rebuild an index map from received packets, concealing what is lost or damaged.

    Never raises because of packet contents; raises only for invalid arguments.

    Parameters
    ----------
    packets : Sequence[bytes | None]
        One entry per packet sent for the map (as many as :func:`encode_index_map` returned),
        ``None`` where the link lost it, in any order. ``bytes``-like objects are accepted.
    shape : tuple[int, int]
        ``(H', W')`` of the transmitted map.
    prior : np.ndarray, (K,), float
        The model's index prior (the same as the transmitter's).
    concealment : "most-probable" | "copy-above"
        How to fill rows without a valid slice (see :mod:`~gosvae.source_coding.concealment`).
    model_id : int
        The 16-bit id of the receiver's model; slices with another id are rejected.

    Returns
    -------
    DecodedIndices
        ``indices`` (H', W') int64 in ``[0, K)``, ``concealed_rows`` (H',) bool and
        ``slice_status`` per packet position.

    Raises
    ------
    UserError
        Invalid ``shape``, ``prior``, ``concealment`` or ``model_id``.
    TypeError
        An entry of ``packets`` is neither ``None`` nor bytes-like.
    """
    p = as_prior(prior)
    height, width = _check_shape(shape, name="shape")
    check_concealment_mode(concealment)
    model_id = _check_model_id(model_id)

    indices = np.zeros((height, width), dtype=np.int64)
    received_rows = np.zeros(height, dtype=bool)
    coders: dict[int, IndexCoder] = {}  # built on first use: most calls see one coder id
    status: list[SliceStatus] = []
    for packet in packets:
        if packet is None:
            status.append(SliceStatus.MISSING)
            continue
        data = bytes(memoryview(packet))
        try:
            header = parse_slice_header(data)
        except SliceHeaderError:
            status.append(SliceStatus.BAD_HEADER)
            continue
        if header.problem(map_height=height, num_slices=len(packets), model_id=model_id) is not None:
            status.append(SliceStatus.BAD_HEADER)
            continue
        rows = slice(header.first_row, header.first_row + header.num_rows)
        if received_rows[rows].any():
            status.append(SliceStatus.DUPLICATE)
            continue
        if header.coder_id not in coders:
            coders[header.coder_id] = build_coder(CODER_NAMES[header.coder_id], prior=p)
        try:
            symbols = coders[header.coder_id].decode(data[HEADER_SIZE:], count=header.num_rows * width)
        except Exception:  # CorruptPayloadError, or anything else a library raises on garbage
            status.append(SliceStatus.BAD_PAYLOAD)
            continue
        indices[rows] = symbols.reshape(header.num_rows, width)
        received_rows[rows] = True
        status.append(SliceStatus.OK)

    indices = conceal_rows(indices, received_rows=received_rows, prior=p, mode=concealment)
    return DecodedIndices(indices=indices, concealed_rows=~received_rows, slice_status=tuple(status))

"""The 13-byte header in front of every slice packet.

Every packet produced by :func:`~gosvae.source_coding.slices.encode_index_map` is
``header (13 bytes) + payload``. All multi-byte fields are big-endian (network order):

======  =====  ======================================================================
offset  bytes  field
======  =====  ======================================================================
0       1      magic and version: high nibble ``0xA`` (magic), low nibble the header
               version (currently ``1``), i.e. the byte ``0xA1``
1       1      coder id: ``0`` fixed-length, ``1`` Huffman, ``2`` range (see
               :data:`CODER_IDS`)
2       2      model id (uint16): short id of the model whose prior coded the slice,
               e.g. :func:`short_model_id` of the model name
4       2      slice id (uint16): position of the slice, top to bottom, from 0
6       2      first row (uint16) of the slice in the index map
8       2      number of rows (uint16) of the slice, at least 1
10      3      payload length in bytes (uint24), the bytes that follow the header
======  =====  ======================================================================

There is no checksum: the link protects each packet with a CRC and hands the receiver either
the packet or ``None``. Instead the receiver checks every field against what it expects
(:meth:`SliceHeader.problem`) and treats any mismatch as a damaged slice.

Example
-------
>>> header = SliceHeader(coder_id=2, model_id=7, slice_id=1, first_row=8, num_rows=8,
...                      payload_length=120)
>>> packet = header.to_bytes() + bytes(120)
>>> parse_slice_header(packet) == header
True
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

HEADER_VERSION: int = 1
"""Version of the slice header layout, stored in the low nibble of byte 0."""

MAGIC_VERSION_BYTE: int = 0xA0 | HEADER_VERSION
"""Byte 0 of every slice packet: magic nibble ``0xA`` and :data:`HEADER_VERSION`."""

HEADER_SIZE: int = 13
"""Size of the slice header in bytes."""

MAX_PAYLOAD_BYTES: int = (1 << 24) - 1
"""Largest payload a slice can carry (24-bit length field)."""

MAX_UINT16: int = 0xFFFF

CODER_IDS: Mapping[str, int] = MappingProxyType({"fixed": 0, "huffman": 1, "range": 2})
"""Coder name → coder id written in byte 1 of the header."""

CODER_NAMES: Mapping[int, str] = MappingProxyType({v: k for k, v in CODER_IDS.items()})
"""Coder id → coder name."""

# magic/version, coder id, model id, slice id, first row, number of rows; then the uint24 length.
_FIXED_FIELDS = struct.Struct(">BBHHHH")


class SliceHeaderError(ValueError):
    """A packet is too short to hold a header or its header is not a valid slice header."""


def short_model_id(name: str) -> int:
    """16-bit model id derived from a model name (the low 16 bits of its CRC-32).

    Parameters
    ----------
    name : str
        Model name, e.g. ``"gos-vae-star-r4"``.

    Returns
    -------
    int
        Id in ``[0, 65535]``, the same on every machine and Python version.

    Example
    -------
    >>> 0 <= short_model_id("gos-vae-star-r4") <= 0xFFFF
    True
    """
    return zlib.crc32(name.encode("utf-8")) & MAX_UINT16


@dataclass(frozen=True)
class SliceHeader:
    """The fields of one slice header (see the module docstring for the byte layout).

    Parameters
    ----------
    coder_id : int
        Entropy coder of the payload, a value of :data:`CODER_IDS`.
    model_id : int
        16-bit id of the model (its index prior) that coded the payload.
    slice_id : int
        Position of the slice, from 0 at the top.
    first_row : int
        First index-map row covered by the slice.
    num_rows : int
        Number of rows covered, at least 1.
    payload_length : int
        Bytes of payload after the header.
    """

    coder_id: int
    model_id: int
    slice_id: int
    first_row: int
    num_rows: int
    payload_length: int

    def __post_init__(self) -> None:
        for name in ("model_id", "slice_id", "first_row", "num_rows"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_UINT16:
                raise ValueError(f"slice header field {name}={value} does not fit in 16 bits")
        if self.coder_id not in CODER_NAMES:
            raise ValueError(f"slice header coder_id={self.coder_id} is not one of {dict(CODER_IDS)}")
        if not 0 <= self.payload_length <= MAX_PAYLOAD_BYTES:
            raise ValueError(
                f"slice payload of {self.payload_length} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte "
                "limit of the header; use fewer rows per slice"
            )

    def to_bytes(self) -> bytes:
        """The 13 header bytes."""
        fixed = _FIXED_FIELDS.pack(
            MAGIC_VERSION_BYTE, self.coder_id, self.model_id, self.slice_id, self.first_row, self.num_rows
        )
        return fixed + self.payload_length.to_bytes(3, "big")

    def problem(self, *, map_height: int, num_slices: int, model_id: int) -> str | None:
        """Why this header cannot belong to the expected index map, or ``None`` if it can.

        The slices of a map of ``map_height`` rows cut into ``num_slices`` slices of
        ``rows_per_slice`` rows (the last one possibly shorter) satisfy, for some
        ``rows_per_slice``: ``first_row == slice_id * rows_per_slice`` and
        ``num_rows == min(rows_per_slice, map_height - first_row)`` and
        ``ceil(map_height / rows_per_slice) == num_slices``. A header that no
        ``rows_per_slice`` explains was damaged.

        Parameters
        ----------
        map_height : int
            ``H'``, rows of the index map the receiver expects.
        num_slices : int
            Number of packets sent for the map (received or lost).
        model_id : int
            16-bit id of the receiver's model.

        Returns
        -------
        str | None
            A short description of the first mismatch found, or ``None``.
        """
        if self.model_id != model_id:
            return f"model id {self.model_id}, expected {model_id}"
        if self.slice_id >= num_slices:
            return f"slice id {self.slice_id} but only {num_slices} slices were sent"
        if self.num_rows < 1 or self.first_row + self.num_rows > map_height:
            return f"rows {self.first_row}..{self.first_row + self.num_rows - 1} outside the {map_height}-row map"
        is_last = self.first_row + self.num_rows == map_height
        if not is_last or self.slice_id == 0:
            rows_per_slice = self.num_rows
        elif self.first_row % self.slice_id == 0:
            rows_per_slice = self.first_row // self.slice_id
        else:
            return f"first row {self.first_row} is not a multiple of slice id {self.slice_id}"
        if (
            self.first_row != self.slice_id * rows_per_slice
            or self.num_rows != min(rows_per_slice, map_height - self.first_row)
            or -(-map_height // rows_per_slice) != num_slices
        ):
            return (
                f"slice {self.slice_id} (rows {self.first_row}+{self.num_rows}) does not fit a cut of "
                f"{map_height} rows into {num_slices} slices"
            )
        return None


def parse_slice_header(packet: bytes) -> SliceHeader:
    """Read and check the structure of the header at the start of ``packet``.

    Parameters
    ----------
    packet : bytes
        A whole slice packet, header then payload.

    Returns
    -------
    SliceHeader
        The header fields. The payload is ``packet[HEADER_SIZE:]``.

    Raises
    ------
    SliceHeaderError
        The packet is shorter than a header, byte 0 is not :data:`MAGIC_VERSION_BYTE`, the
        coder id is unknown, or the payload length differs from the bytes after the header.
    """
    if len(packet) < HEADER_SIZE:
        raise SliceHeaderError(f"packet of {len(packet)} bytes is shorter than the {HEADER_SIZE}-byte header")
    magic, coder_id, model_id, slice_id, first_row, num_rows = _FIXED_FIELDS.unpack_from(packet)
    if magic != MAGIC_VERSION_BYTE:
        raise SliceHeaderError(f"header byte 0 is {magic:#04x}, expected {MAGIC_VERSION_BYTE:#04x}")
    if coder_id not in CODER_NAMES:
        raise SliceHeaderError(f"unknown coder id {coder_id}")
    payload_length = int.from_bytes(packet[_FIXED_FIELDS.size:HEADER_SIZE], "big")
    if payload_length != len(packet) - HEADER_SIZE:
        raise SliceHeaderError(
            f"header announces {payload_length} payload bytes, packet carries {len(packet) - HEADER_SIZE}"
        )
    return SliceHeader(
        coder_id=coder_id, model_id=model_id, slice_id=slice_id, first_row=first_row,
        num_rows=num_rows, payload_length=payload_length,
    )

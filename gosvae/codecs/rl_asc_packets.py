"""The packets of the RL-ASC codec: one semantic-map packet and one packet per coded concept.

Big-endian fields. **Semantic packet** (always the first packet of an image)::

    offset  bytes  field
    0       1      0xC1 (magic and version 1)
    1       2      model id (uint16, :func:`~gosvae.source_coding.header.short_model_id`)
    3       2      h, rows of s_d (uint16)
    5       2      w, columns of s_d (uint16)
    7       1      K, the number of concepts (classes present in s_d)
    8       2K     per concept, by class id: class id (uint8), quantisation level (uint8)
    8+2K    ...    s_d: h·w class ids (uint8, row-major), raw Deflate (zlib, level 9, no header)

**Concept packet** (one per concept whose level sends bits, i.e. has more than one centre)::

    0       1      0xC2
    1       2      model id (uint16)
    3       1      class id
    4       1      level
    5       1      coder id (1 Huffman, 2 range; :data:`~gosvae.source_coding.header.CODER_IDS`)
    6       3      payload length (uint24)
    9       ...    the concept's symbols: n channels × its positions (channel-major, positions in
                   row-major order), entropy-coded with the level's table

The semantic map is coded losslessly with Deflate: its long runs of one class are what a general
LZ77 + Huffman coder handles well, and the standard library has it (``zlib``). Parsing never
trusts a field: sizes are checked against the expected map and the model, the decompressed size
is bounded before any allocation, and the concept list must equal the classes present in s_d.

Example
-------
>>> labels_d = np.zeros((4, 6), dtype=np.uint8); labels_d[2:] = 3
>>> packet = pack_semantic(labels_d, {0: 5, 3: 0}, model_id=7)
>>> got = unpack_semantic(packet, model_id=7, shape=(4, 6), num_classes=11, num_levels=6)
>>> got.levels, bool((got.labels_d == labels_d).all())
({0: 5, 3: 0}, True)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np

__all__ = ["ConceptPacket", "SemanticPacket", "pack_concept", "pack_semantic", "parse_concept", "unpack_semantic"]

SEMANTIC_MAGIC = 0xC1
CONCEPT_MAGIC = 0xC2
_SEMANTIC = struct.Struct(">BHHHB")
_CONCEPT = struct.Struct(">BHBBB")
CONCEPT_HEADER_SIZE = _CONCEPT.size + 3
MAX_PAYLOAD_BYTES = (1 << 24) - 1


@dataclass(frozen=True)
class SemanticPacket:
    """A parsed semantic packet: ``labels_d`` (h, w) uint8 and ``levels`` {class id: level}."""

    labels_d: np.ndarray
    levels: dict[int, int]


@dataclass(frozen=True)
class ConceptPacket:
    """A parsed concept packet (header checked, payload not yet decoded)."""

    class_id: int
    level: int
    coder_id: int
    payload: bytes


def pack_semantic(labels_d: np.ndarray, levels: Mapping[int, int], *, model_id: int) -> bytes:
    """``labels_d`` (h, w) ints < 256 and the level of every class present → the semantic packet."""
    h, w = labels_d.shape
    classes = sorted(int(c) for c in np.unique(labels_d))
    if sorted(levels) != classes:
        raise ValueError(f"levels must name exactly the classes present {classes}, got {sorted(levels)}")
    header = _SEMANTIC.pack(SEMANTIC_MAGIC, model_id, h, w, len(classes))
    table = bytes(b for c in classes for b in (c, int(levels[c])))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(np.ascontiguousarray(labels_d, dtype=np.uint8).tobytes()) + compressor.flush()
    return header + table + body


def unpack_semantic(packet: bytes, *, model_id: int, shape: tuple[int, int], num_classes: int,
                    num_levels: int) -> SemanticPacket | None:
    """The semantic packet → :class:`SemanticPacket`, or ``None`` if any field does not fit."""
    if len(packet) < _SEMANTIC.size:
        return None
    magic, got_id, h, w, count = _SEMANTIC.unpack_from(packet)
    if magic != SEMANTIC_MAGIC or got_id != model_id or (h, w) != tuple(shape) or not 1 <= count <= num_classes:
        return None
    table_end = _SEMANTIC.size + 2 * count
    if len(packet) < table_end:
        return None
    table = packet[_SEMANTIC.size:table_end]
    classes, levels = list(table[0::2]), list(table[1::2])
    if classes != sorted(set(classes)) or classes[-1] >= num_classes or max(levels) >= num_levels:
        return None
    decompressor = zlib.decompressobj(-15)
    try:
        raw = decompressor.decompress(packet[table_end:], h * w + 1)  # bounded before allocation
    except zlib.error:
        return None
    if len(raw) != h * w or not decompressor.eof or decompressor.unconsumed_tail or decompressor.unused_data:
        return None
    labels_d = np.frombuffer(raw, dtype=np.uint8).reshape(h, w)
    if np.unique(labels_d).tolist() != classes:
        return None
    return SemanticPacket(labels_d=labels_d, levels=dict(zip(classes, levels)))


def pack_concept(*, class_id: int, level: int, coder_id: int, payload: bytes, model_id: int) -> bytes:
    """A concept packet for ``payload`` (the entropy-coded symbols of one concept)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"concept payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return _CONCEPT.pack(CONCEPT_MAGIC, model_id, class_id, level, coder_id) + len(payload).to_bytes(3, "big") + payload


def parse_concept(packet: bytes, *, model_id: int) -> ConceptPacket | None:
    """A concept packet's header and payload, or ``None`` if the header does not fit."""
    if len(packet) < CONCEPT_HEADER_SIZE:
        return None
    magic, got_id, class_id, level, coder_id = _CONCEPT.unpack_from(packet)
    length = int.from_bytes(packet[_CONCEPT.size:CONCEPT_HEADER_SIZE], "big")
    if magic != CONCEPT_MAGIC or got_id != model_id or length != len(packet) - CONCEPT_HEADER_SIZE:
        return None
    return ConceptPacket(class_id=class_id, level=level, coder_id=coder_id, payload=bytes(packet[CONCEPT_HEADER_SIZE:]))

"""Readers of the ``.gosv`` format versions before 3 (no checksums); see
:mod:`gosvae.source_coding.container` for the layouts.

Version 1 (``vqvae`` files only): its header gives the index-map shape and the slice count, so
the count is checked against the map's rows (a ``vqvae`` map of ``H'`` rows is cut into at most
``H'`` slices) before any packet is read. Neither version carries a checksum: damage inside a
packet is found only where the codec's own decoding notices it.
"""

from __future__ import annotations

import struct

from gosvae.source_coding.container import SIZES, ContainerContents, MalformedContainerError, Reader, read_spec

__all__ = ["unpack_v1", "unpack_v2"]

_SIZES_V1 = struct.Struct(">IIHHH")  # image height, width; index height, width; number of slices


def read_packets(reader: Reader, count: int) -> list[bytes]:
    """``count`` packets framed as ``uint32 length, bytes`` (versions 1 and 2); nothing may follow."""
    if 4 * count > reader.left:
        raise reader.fail(f"truncated .gosv file: {count} packets need at least {4 * count} bytes, file has {reader.left} left")
    packets = []
    for i in range(count):
        length = int.from_bytes(reader.take(4, f"length of packet {i}"), "big")
        packets.append(reader.take(length, f"packet {i} of {count}"))
    if reader.left:
        raise reader.fail(f"{reader.left} unexpected bytes after the last of {count} packets")
    return packets


def unpack_v1(reader: Reader) -> ContainerContents:
    """Version 1: ``uint8 L, L bytes model id, uint32 ×2 image size, uint16 ×2 index shape, uint16 N, packets``."""
    (name_length,) = reader.take(1, "model id length")
    try:
        model_id = reader.take(name_length, "model id").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedContainerError(f"{reader.source}: model id is not valid UTF-8 ({exc.reason})") from None
    if not model_id:
        raise reader.fail("empty model id")
    image_h, image_w, index_h, index_w, count = _SIZES_V1.unpack(reader.take(_SIZES_V1.size, "sizes"))
    sizes = ContainerContents(codec_spec=f"vqvae:model={model_id}", image_size=(image_h, image_w), version=1,
                              index_shape=(index_h, index_w))
    if count > index_h:
        raise reader.fail(f"{count} slices for an index map of {index_h} rows (at most one slice per row)")
    return ContainerContents(codec_spec=sizes.codec_spec, image_size=sizes.image_size, packets=read_packets(reader, count),
                             version=1, index_shape=sizes.index_shape)


def unpack_v2(reader: Reader) -> ContainerContents:
    """Version 2: version 3 without the header and packet checksums."""
    spec = read_spec(reader)
    image_h, image_w, coded_h, coded_w, count = SIZES.unpack(reader.take(SIZES.size, "sizes"))
    # sizes are checked before the packets are read
    sizes = ContainerContents(codec_spec=spec, image_size=(image_h, image_w), coded_size=(coded_h, coded_w), version=2)
    return ContainerContents(codec_spec=sizes.codec_spec, image_size=sizes.image_size, coded_size=sizes.coded_size,
                             packets=read_packets(reader, count), version=2)

"""The ``.gosv`` file written by ``gosvae encode`` and read by ``gosvae decode``.

One file holds one coded image: the codec that coded it (a codec spec, as
:func:`gosvae.codecs.parse_codec_spec` reads it), the sizes needed to rebuild it, and its packets
exactly as they would go on the link. All integers are big-endian. Format version 2
(:data:`CONTAINER_VERSION`, written):

==========  ==========  ================================================================
bytes       type        field
==========  ==========  ================================================================
4           bytes       magic ``b"GOSV"``
1           uint8       format version, 2
2           uint16      ``L``, length of the codec spec in bytes (1..1024)
L           ASCII       codec spec ``NAME:KEY=VALUE,...`` (printable ASCII), e.g.
                        ``"jpeg:quality=30,restart_rows=1,..."``
2 + 2       uint16 ×2   image height, width (pixels, the original image)
2 + 2       uint16 ×2   coded height, width: the image padded on the right and bottom by edge
                        replication to a multiple of the codec's ``size_multiple()``
2           uint16      number of packets ``N``
N × (4 + n) uint32, n   each packet: its length ``n`` in bytes, then its ``n`` bytes
==========  ==========  ================================================================

Version 1 (still read): ``magic, 1, uint8 L, L bytes UTF-8 model id, uint32 ×2 image size,
uint16 ×2 index-map shape, uint16 N, packets``; it is read as the codec spec ``vqvae:model=ID``
with ``coded_size=None`` and ``index_shape`` set (the coded size is the index shape times the
model's ratio: :meth:`ContainerContents.checked_coded_size`).

Bounds, checked before anything is allocated: spec of 1 to :data:`MAX_SPEC_BYTES` printable ASCII
bytes; ``1 <= image <= coded <= MAX_SIDE`` per side (and, once the codec is known,
``coded < image + multiple`` with ``coded`` a multiple); at most 65535 packets, each announced
length within the bytes left in the file. The packet count is not bounded by the coded height:
byte codecs at high quality legitimately send more packets than pixel rows (JPEG fragments, WebP
cut into ``max_packet_bytes`` pieces); the file size bounds it instead (4 bytes per packet).
Nothing may follow the last packet. Reading a malformed file raises
:class:`MalformedContainerError`, a :class:`~gosvae.errors.UserError` whose one-line message
names the file and what is wrong.

Example
-------
>>> contents = ContainerContents(codec_spec="jpeg:quality=30", image_size=(250, 500),
...                              coded_size=(250, 500), packets=[b"\\xff\\xd8...", b"..."])
>>> write_container("/tmp/image.gosv", contents)          # doctest: +SKIP
>>> read_container("/tmp/image.gosv") == contents         # doctest: +SKIP
True
"""

from __future__ import annotations

import operator
import os
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from gosvae.errors import UserError

__all__ = [
    "CONTAINER_MAGIC", "CONTAINER_VERSION", "MAX_FILE_BYTES", "MAX_SIDE", "MAX_SPEC_BYTES", "ContainerContents",
    "MalformedContainerError", "pack_container", "read_container", "unpack_container", "write_container",
]

CONTAINER_MAGIC: bytes = b"GOSV"
CONTAINER_VERSION: int = 2
#: Longest codec spec (bytes).
MAX_SPEC_BYTES: int = 1024
#: Largest coded (hence image) height or width, pixels.
MAX_SIDE: int = 16384
#: Largest file :func:`read_container` reads (bytes).
MAX_FILE_BYTES: int = 1 << 31
_MAX_UINT16 = 0xFFFF
_MAX_UINT32 = 0xFFFFFFFF
_SIZES_V1 = struct.Struct(">IIHHH")  # image height, width; index height, width; number of slices
_SIZES_V2 = struct.Struct(">HHHHH")  # image height, width; coded height, width; number of packets


class MalformedContainerError(UserError):
    """A ``.gosv`` file that cannot be read (bad magic, unsupported version, truncated, ...)."""


def _pair(value: object, name: str, low: int, high: int) -> tuple[int, int]:
    try:
        sizes = tuple(operator.index(n) for n in value)  # type: ignore[union-attr]
    except TypeError:
        sizes = ()
    if len(sizes) != 2 or not all(low <= n <= high for n in sizes):
        raise UserError(f"container {name}: expected two integers in [{low}, {high}], got {value}")
    return sizes  # type: ignore[return-value]


@dataclass(frozen=True)
class ContainerContents:
    """What a ``.gosv`` file holds.

    Attributes
    ----------
    codec_spec : str
        ``NAME:KEY=VALUE,...`` of the codec that coded the image (1 to 1024 printable ASCII bytes).
    image_size : tuple[int, int]
        ``(H, W)`` of the original image, pixels, each in ``[1, MAX_SIDE]``.
    coded_size : tuple[int, int] | None
        ``(H, W)`` the codec coded (the padded image), each in ``[image, MAX_SIDE]``; ``None`` only
        for a version-1 file (then ``index_shape`` is set).
    packets : list[bytes]
        The packets in transmission order (at most 65535).
    version : int
        Format version the contents came from (1 or 2); only version 2 is written.
    index_shape : tuple[int, int] | None
        ``(H', W')`` of a version-1 file's index map; ``None`` in version 2.
    """

    codec_spec: str
    image_size: tuple[int, int]
    coded_size: tuple[int, int] | None = None
    packets: list[bytes] = field(default_factory=list)
    version: int = CONTAINER_VERSION
    index_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        spec = self.codec_spec
        if not isinstance(spec, str) or not 1 <= len(spec) <= MAX_SPEC_BYTES:
            size = len(spec) if isinstance(spec, str) else type(spec).__name__
            raise UserError(f"container codec spec: expected 1 to {MAX_SPEC_BYTES} bytes, got {size}")
        bad = next((c for c in spec if not " " <= c <= "~"), None)
        if bad is not None:
            raise UserError(f"container codec spec: only printable ASCII is allowed, got {bad!r} in {spec[:80]!r}")
        image = _pair(self.image_size, "image_size", 1, MAX_SIDE)
        object.__setattr__(self, "image_size", image)
        if self.version == CONTAINER_VERSION:
            if self.coded_size is None or self.index_shape is not None:
                raise UserError("container: version 2 needs coded_size and no index_shape")
            coded = _pair(self.coded_size, "coded_size", 1, MAX_SIDE)
            if coded[0] < image[0] or coded[1] < image[1]:
                raise UserError(f"container coded_size: {coded[0]}x{coded[1]} is smaller than the image {image[0]}x{image[1]}")
            object.__setattr__(self, "coded_size", coded)
        elif self.version == 1:
            if self.coded_size is not None or self.index_shape is None:
                raise UserError("container: version 1 has an index_shape and no coded_size")
            object.__setattr__(self, "index_shape", _pair(self.index_shape, "index_shape", 1, _MAX_UINT16))
        else:
            raise UserError(f"container version: expected 1 or {CONTAINER_VERSION}, got {self.version!r}")
        if len(self.packets) > _MAX_UINT16:
            raise UserError(f"container packets: at most {_MAX_UINT16} packets, got {len(self.packets)}")
        packets = [bytes(p) for p in self.packets]
        if any(len(p) > _MAX_UINT32 for p in packets):
            raise UserError("container packets: a packet is larger than 4 GiB")
        object.__setattr__(self, "packets", packets)

    def checked_coded_size(self, multiple: int, *, source: str = "<contents>") -> tuple[int, int]:
        """The coded size checked against the codec's ``size_multiple()``.

        Input: ``multiple`` (>= 1); ``source`` names the file in messages. Output: ``(H, W)``, each
        a multiple of ``multiple``, at least the image size, less than image + ``multiple``, at most
        :data:`MAX_SIDE` (version 1: the index shape times ``multiple``). Raises
        :class:`MalformedContainerError` otherwise.
        """
        if self.coded_size is not None:
            coded = self.coded_size
        else:
            coded = (self.index_shape[0] * multiple, self.index_shape[1] * multiple)  # type: ignore[index]
        what = f"coded size {coded[0]}x{coded[1]}"
        if max(coded) > MAX_SIDE:
            raise MalformedContainerError(f"{source}: {what} exceeds {MAX_SIDE} pixels per side")
        for side, (image, size) in enumerate(zip(self.image_size, coded)):
            if size % multiple or not image <= size < image + multiple:
                raise MalformedContainerError(
                    f"{source}: {what} is not image {self.image_size[0]}x{self.image_size[1]} padded to a multiple "
                    f"of {multiple} ({'height' if side == 0 else 'width'})"
                )
        return coded


def pack_container(contents: ContainerContents) -> bytes:
    """The bytes of a version-2 ``.gosv`` file holding ``contents`` (see the module docstring)."""
    if contents.version != CONTAINER_VERSION:
        raise UserError(f"container: only version {CONTAINER_VERSION} is written, got contents of version {contents.version}")
    spec = contents.codec_spec.encode("ascii")
    parts = [CONTAINER_MAGIC, bytes([CONTAINER_VERSION]), len(spec).to_bytes(2, "big"), spec,
             _SIZES_V2.pack(*contents.image_size, *contents.coded_size, len(contents.packets))]  # type: ignore[misc]
    for packet in contents.packets:
        parts += [len(packet).to_bytes(4, "big"), packet]
    return b"".join(parts)


class _Reader:
    """Cursor over the file bytes that raises a one-line error naming the file when short."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data, self.source, self.offset = data, source, 0

    @property
    def left(self) -> int:
        return len(self.data) - self.offset

    def take(self, size: int, what: str) -> bytes:
        if size > self.left:
            raise MalformedContainerError(
                f"{self.source}: truncated .gosv file: {what} needs {size} bytes at offset {self.offset}, "
                f"file has {self.left} left"
            )
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk


def _read_packets(reader: _Reader, count: int) -> list[bytes]:
    if 4 * count > reader.left:
        raise MalformedContainerError(
            f"{reader.source}: truncated .gosv file: {count} packets need at least {4 * count} bytes, file has {reader.left} left"
        )
    packets = []
    for i in range(count):
        length = int.from_bytes(reader.take(4, f"length of packet {i}"), "big")
        packets.append(reader.take(length, f"packet {i} of {count}"))
    if reader.left:
        raise MalformedContainerError(f"{reader.source}: {reader.left} unexpected bytes after the last of {count} packets")
    return packets


def _unpack_v1(reader: _Reader) -> ContainerContents:
    (name_length,) = reader.take(1, "model id length")
    try:
        model_id = reader.take(name_length, "model id").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedContainerError(f"{reader.source}: model id is not valid UTF-8 ({exc.reason})") from None
    if not model_id:
        raise MalformedContainerError(f"{reader.source}: empty model id")
    image_h, image_w, index_h, index_w, count = _SIZES_V1.unpack(reader.take(_SIZES_V1.size, "sizes"))
    packets = _read_packets(reader, count)
    return ContainerContents(codec_spec=f"vqvae:model={model_id}", image_size=(image_h, image_w), packets=packets,
                             version=1, index_shape=(index_h, index_w))


def _unpack_v2(reader: _Reader) -> ContainerContents:
    spec_length = int.from_bytes(reader.take(2, "codec spec length"), "big")
    if not 1 <= spec_length <= MAX_SPEC_BYTES:
        raise MalformedContainerError(f"{reader.source}: codec spec length {spec_length} is not in [1, {MAX_SPEC_BYTES}]")
    raw = reader.take(spec_length, "codec spec")
    bad = next((b for b in raw if not 0x20 <= b <= 0x7E), None)
    if bad is not None:
        raise MalformedContainerError(f"{reader.source}: codec spec is not printable ASCII (byte 0x{bad:02x})")
    image_h, image_w, coded_h, coded_w, count = _SIZES_V2.unpack(reader.take(_SIZES_V2.size, "sizes"))
    # sizes are checked before the packets are read
    sizes = ContainerContents(codec_spec=raw.decode("ascii"), image_size=(image_h, image_w), coded_size=(coded_h, coded_w))
    return ContainerContents(codec_spec=sizes.codec_spec, image_size=sizes.image_size, coded_size=sizes.coded_size,
                             packets=_read_packets(reader, count))


def unpack_container(data: bytes, *, source: str = "<bytes>") -> ContainerContents:
    """Parse the bytes of a ``.gosv`` file (version 1 or 2).

    Parameters
    ----------
    data : bytes
        The whole file.
    source : str
        Name of the file, used in error messages.

    Returns
    -------
    ContainerContents

    Raises
    ------
    MalformedContainerError
        Bad magic, unsupported version, truncated data, invalid codec spec or model id, sizes out
        of bounds, too many packets or bytes after the last packet.
    """
    reader = _Reader(bytes(data), source)
    magic = reader.data[:4]
    if magic != CONTAINER_MAGIC:
        raise MalformedContainerError(
            f"{source}: not a .gosv file: starts with {magic!r}, expected {CONTAINER_MAGIC!r}"
        )
    reader.take(4, "magic")
    (version,) = reader.take(1, "version")
    if version not in (1, CONTAINER_VERSION):
        raise MalformedContainerError(
            f"{source}: unsupported .gosv format version {version} (this gosvae reads versions 1 and {CONTAINER_VERSION})"
        )
    try:
        return _unpack_v1(reader) if version == 1 else _unpack_v2(reader)
    except MalformedContainerError:
        raise
    except UserError as exc:
        raise MalformedContainerError(f"{source}: {exc}") from None


def write_container(destination: str | os.PathLike[str] | BinaryIO, contents: ContainerContents) -> int:
    """Write a version-2 ``.gosv`` file.

    Parameters
    ----------
    destination : path or binary file object
        Where to write; a path is created or overwritten.
    contents : ContainerContents
        What to store.

    Returns
    -------
    int
        Number of bytes written.

    Raises
    ------
    UserError
        The path cannot be written (a folder, under a file, no permission).
    """
    data = pack_container(contents)
    if hasattr(destination, "write"):
        destination.write(data)
        return len(data)
    try:
        with open(destination, "wb") as file:
            file.write(data)
    except OSError as exc:
        raise UserError(f"{os.fspath(destination)}: cannot write .gosv file ({exc.strerror or exc})") from None
    return len(data)


def read_container(source: str | os.PathLike[str] | BinaryIO) -> ContainerContents:
    """Read a ``.gosv`` file (version 1 or 2).

    Parameters
    ----------
    source : path or binary file object
        The file.

    Returns
    -------
    ContainerContents

    Raises
    ------
    MalformedContainerError
        The file is not a valid ``.gosv`` file; the message names it and the problem.
    UserError
        The path does not exist or cannot be read.
    """
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "<stream>"))
        return unpack_container(_read_bounded(source, name), source=name)
    try:
        with open(source, "rb") as file:
            data = _read_bounded(file, os.fspath(source))
    except OSError as exc:
        raise UserError(f"{os.fspath(source)}: cannot read .gosv file ({exc.strerror or exc})") from None
    return unpack_container(data, source=os.fspath(source))


def _read_bounded(file: BinaryIO, name: str) -> bytes:
    """The file's bytes: the magic first (so a device or a wrong file is refused early), at most
    :data:`MAX_FILE_BYTES` in all."""
    head = file.read(len(CONTAINER_MAGIC))
    if head != CONTAINER_MAGIC:
        return head
    data = head + file.read(MAX_FILE_BYTES + 1 - len(head))
    if len(data) > MAX_FILE_BYTES:
        raise MalformedContainerError(f"{name}: larger than {MAX_FILE_BYTES} bytes, not a .gosv file")
    return data

"""The ``.gosv`` file written by ``gosvae encode`` and read by ``gosvae decode``.

One file holds one coded image: the codec that coded it (a codec spec, as
:func:`gosvae.codecs.parse_codec_spec` reads it), the sizes needed to rebuild it, and its packets
exactly as they would go on the link. All integers are big-endian. Format version 3
(:data:`CONTAINER_VERSION`, written):

==========  ==========  ================================================================
bytes       type        field
==========  ==========  ================================================================
4           bytes       magic ``b"GOSV"``
1           uint8       format version, 3
2           uint16      ``L``, length of the codec spec in bytes (1..1024)
L           ASCII       codec spec ``NAME:KEY=VALUE,...`` (printable ASCII), e.g.
                        ``"jpeg:quality=30,restart_rows=1,..."``
2 + 2       uint16 ×2   image height, width (pixels, the original image)
2 + 2       uint16 ×2   coded height, width: the image padded on the right and bottom by edge
                        replication to a multiple of the codec's ``size_multiple()``
2           uint16      number of packets ``N``
4           uint32      header checksum: CRC-32 (``zlib.crc32``) of every byte above
N × (8 + n) uint32 ×2,  each packet: its length ``n`` in bytes, the CRC-32 of those 4 length
            n bytes     bytes followed by the packet's ``n`` bytes, then the ``n`` bytes
==========  ==========  ================================================================

Every byte of a version-3 file is covered by one checksum. A header that fails its checksum is
an error (the sizes and the spec cannot be trusted); a packet that fails its own is *damaged*:
it is kept in :attr:`ContainerContents.packets`, its index is listed in
:attr:`ContainerContents.damaged`, and :meth:`ContainerContents.received` hands it to the codec
as lost (``None``), which conceals it exactly as it would a packet the link's CRC dropped.

Older versions are still read (:mod:`~gosvae.source_coding.container_legacy`): version 2 is
version 3 without the checksums; version 1 is ``magic, 1, uint8 L, L bytes model id, uint32 ×2
image size, uint16 ×2 index-map shape, uint16 N, packets`` read as the codec spec
``vqvae:model=ID`` with ``coded_size=None`` and ``index_shape`` set. Without checksums, damage
shows only where the codec's own decoding notices it (:attr:`ContainerContents.checksummed` is
False).

Bounds, checked before anything is allocated: spec of 1 to :data:`MAX_SPEC_BYTES` printable ASCII
bytes; ``1 <= image <= coded <= MAX_SIDE`` per side (and, once the codec is known,
``coded < image + multiple`` with ``coded`` a multiple: :meth:`ContainerContents.checked_coded_size`);
at most 65535 packets, each announced length within the bytes left in the file. The packet count
is not bounded by the coded height: byte codecs at high quality legitimately send more packets
than pixel rows (JPEG fragments, WebP cut into ``max_packet_bytes`` pieces); the file size bounds
it instead. Nothing may follow the last packet. Reading a malformed file raises
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
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from gosvae.errors import UserError

__all__ = [
    "CONTAINER_MAGIC", "CONTAINER_VERSION", "MAX_FILE_BYTES", "MAX_SIDE", "MAX_SPEC_BYTES", "READ_VERSIONS",
    "ContainerContents", "MalformedContainerError", "pack_container", "read_container", "unpack_container",
    "write_container",
]

CONTAINER_MAGIC: bytes = b"GOSV"
CONTAINER_VERSION: int = 3
#: Format versions :func:`unpack_container` reads.
READ_VERSIONS: tuple[int, ...] = (1, 2, 3)
#: Longest codec spec (bytes).
MAX_SPEC_BYTES: int = 1024
#: Largest coded (hence image) height or width, pixels.
MAX_SIDE: int = 16384
#: Largest file :func:`read_container` reads (bytes).
MAX_FILE_BYTES: int = 1 << 31
_MAX_UINT16 = 0xFFFF
_MAX_UINT32 = 0xFFFFFFFF
SIZES = struct.Struct(">HHHHH")  # image height, width; coded height, width; number of packets (versions 2, 3)
_U32 = struct.Struct(">I")


class MalformedContainerError(UserError):
    """A ``.gosv`` file that cannot be read (bad magic, unsupported version, truncated, damaged, ...)."""


def _pair(value: object, name: str, low: int, high: int) -> tuple[int, int]:
    try:
        sizes = tuple(operator.index(n) for n in value)  # type: ignore[union-attr]
    except TypeError:
        sizes = ()
    if len(sizes) != 2 or not all(low <= n <= high for n in sizes):
        raise UserError(f"container {name}: expected two integers in [{low}, {high}], got {str(value)[:80]}")
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
        The packets in transmission order (at most 65535), as stored (damaged ones included).
    version : int
        Format version the contents came from (1, 2 or 3); only version 3 is written.
    index_shape : tuple[int, int] | None
        ``(H', W')`` of a version-1 file's index map; ``None`` otherwise.
    damaged : tuple[int, ...]
        Indices of the packets that failed their checksum (version 3 only), increasing.
    """

    codec_spec: str
    image_size: tuple[int, int]
    coded_size: tuple[int, int] | None = None
    packets: list[bytes] = field(default_factory=list)
    version: int = CONTAINER_VERSION
    index_shape: tuple[int, int] | None = None
    damaged: tuple[int, ...] = ()

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
        if self.version in (2, 3):
            if self.coded_size is None or self.index_shape is not None:
                raise UserError(f"container: version {self.version} needs coded_size and no index_shape")
            coded = _pair(self.coded_size, "coded_size", 1, MAX_SIDE)
            if coded[0] < image[0] or coded[1] < image[1]:
                raise UserError(f"container coded_size: {coded[0]}x{coded[1]} is smaller than the image {image[0]}x{image[1]}")
            object.__setattr__(self, "coded_size", coded)
        elif self.version == 1:
            if self.coded_size is not None or self.index_shape is None:
                raise UserError("container: version 1 has an index_shape and no coded_size")
            object.__setattr__(self, "index_shape", _pair(self.index_shape, "index_shape", 1, _MAX_UINT16))
        else:
            raise UserError(f"container version: expected one of {READ_VERSIONS}, got {self.version!r}")
        if len(self.packets) > _MAX_UINT16:
            raise UserError(f"container packets: at most {_MAX_UINT16} packets, got {len(self.packets)}")
        packets = [bytes(p) for p in self.packets]
        if any(len(p) > _MAX_UINT32 for p in packets):
            raise UserError("container packets: a packet is larger than 4 GiB")
        object.__setattr__(self, "packets", packets)
        damaged = tuple(sorted(set(self.damaged)))
        if damaged and (self.version != 3 or damaged[0] < 0 or damaged[-1] >= len(packets)):
            raise UserError(f"container damaged: packet indices in [0, {len(packets)}) of a version-3 file, got {damaged[:8]}")
        object.__setattr__(self, "damaged", damaged)

    @property
    def checksummed(self) -> bool:
        """True when the file carried checksums (version 3): damage was detected, not guessed."""
        return self.version >= 3

    def received(self) -> list[bytes | None]:
        """The packets as the codec receives them: a damaged packet is lost (``None``)."""
        damaged = set(self.damaged)
        return [None if i in damaged else p for i, p in enumerate(self.packets)]

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


def packet_checksum(packet: bytes) -> int:
    """CRC-32 of a packet's 4-byte length field followed by its bytes (version 3)."""
    return zlib.crc32(packet, zlib.crc32(_U32.pack(len(packet))))


def pack_container(contents: ContainerContents) -> bytes:
    """The bytes of a version-3 ``.gosv`` file holding ``contents`` (see the module docstring)."""
    if contents.version != CONTAINER_VERSION:
        raise UserError(f"container: only version {CONTAINER_VERSION} is written, got contents of version {contents.version}")
    spec = contents.codec_spec.encode("ascii")
    header = b"".join([CONTAINER_MAGIC, bytes([CONTAINER_VERSION]), len(spec).to_bytes(2, "big"), spec,
                       SIZES.pack(*contents.image_size, *contents.coded_size, len(contents.packets))])  # type: ignore[misc]
    parts = [header, _U32.pack(zlib.crc32(header))]
    for packet in contents.packets:
        parts += [_U32.pack(len(packet)), _U32.pack(packet_checksum(packet)), packet]
    return b"".join(parts)


class Reader:
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

    def fail(self, problem: str) -> MalformedContainerError:
        return MalformedContainerError(f"{self.source}: {problem}")


def read_spec(reader: Reader) -> str:
    """The uint16-prefixed printable-ASCII codec spec of versions 2 and 3."""
    spec_length = int.from_bytes(reader.take(2, "codec spec length"), "big")
    if not 1 <= spec_length <= MAX_SPEC_BYTES:
        raise reader.fail(f"codec spec length {spec_length} is not in [1, {MAX_SPEC_BYTES}]")
    raw = reader.take(spec_length, "codec spec")
    bad = next((b for b in raw if not 0x20 <= b <= 0x7E), None)
    if bad is not None:
        raise reader.fail(f"codec spec is not printable ASCII (byte 0x{bad:02x})")
    return raw.decode("ascii")


def _unpack_v3(reader: Reader) -> ContainerContents:
    spec = read_spec(reader)
    image_h, image_w, coded_h, coded_w, count = SIZES.unpack(reader.take(SIZES.size, "sizes"))
    stored = _U32.unpack(reader.take(4, "header checksum"))[0]
    computed = zlib.crc32(reader.data[:reader.offset - 4])
    if stored != computed:
        raise reader.fail(f"damaged .gosv file: the header fails its checksum (stored {stored:#010x}, computed "
                          f"{computed:#010x}); its sizes and codec cannot be trusted")
    sizes = ContainerContents(codec_spec=spec, image_size=(image_h, image_w), coded_size=(coded_h, coded_w))
    if 8 * count > reader.left:
        raise reader.fail(f"truncated .gosv file: {count} packets need at least {8 * count} bytes, file has {reader.left} left")
    packets, damaged = [], []
    for i in range(count):
        length_field = reader.take(4, f"length of packet {i}")
        checksum = _U32.unpack(reader.take(4, f"checksum of packet {i}"))[0]
        length = _U32.unpack(length_field)[0]
        if length > reader.left:  # the file was cut, or the length field damaged: the framing is lost
            raise reader.fail(f"truncated or damaged .gosv file: packet {i} of {count} needs {length} bytes at "
                              f"offset {reader.offset}, file has {reader.left} left")
        packet = reader.take(length, f"packet {i} of {count}")
        if zlib.crc32(packet, zlib.crc32(length_field)) != checksum:
            damaged.append(i)
        packets.append(packet)
    if reader.left:
        raise reader.fail(f"damaged .gosv file: {reader.left} unexpected bytes after the last of {count} packets")
    return ContainerContents(codec_spec=sizes.codec_spec, image_size=sizes.image_size, coded_size=sizes.coded_size,
                             packets=packets, damaged=tuple(damaged))


def unpack_container(data: bytes, *, source: str = "<bytes>") -> ContainerContents:
    """Parse the bytes of a ``.gosv`` file (version 1, 2 or 3).

    Parameters
    ----------
    data : bytes
        The whole file.
    source : str
        Name of the file, used in error messages.

    Returns
    -------
    ContainerContents
        With ``damaged`` listing the packets that failed their checksum (version 3).

    Raises
    ------
    MalformedContainerError
        Bad magic, unsupported version, truncated data, a header that fails its checksum, invalid
        codec spec or model id, sizes out of bounds, too many packets or bytes after the last packet.
    """
    from gosvae.source_coding.container_legacy import unpack_v1, unpack_v2

    reader = Reader(bytes(data), source)
    magic = reader.data[:4]
    if magic != CONTAINER_MAGIC:
        raise MalformedContainerError(f"{source}: not a .gosv file: starts with {magic!r}, expected {CONTAINER_MAGIC!r}")
    reader.take(4, "magic")
    (version,) = reader.take(1, "version")
    readers = {1: unpack_v1, 2: unpack_v2, 3: _unpack_v3}
    if version not in readers:
        known = ", ".join(map(str, READ_VERSIONS[:-1])) + f" and {READ_VERSIONS[-1]}"
        raise MalformedContainerError(f"{source}: unsupported .gosv format version {version} (this gosvae reads versions {known})")
    try:
        return readers[version](reader)
    except MalformedContainerError:
        raise
    except UserError as exc:
        raise MalformedContainerError(f"{source}: {exc}") from None


def write_container(destination: str | os.PathLike[str] | BinaryIO, contents: ContainerContents) -> int:
    """Write a version-3 ``.gosv`` file.

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
    """Read a ``.gosv`` file (version 1, 2 or 3).

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
        The path does not exist, is a folder or cannot be read.
    """
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "<stream>"))
        return unpack_container(_read_bounded(source, name), source=name)
    if os.path.isdir(source):
        raise UserError(f"{os.fspath(source)}: is a folder, expected a .gosv file")
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

"""The ``.gosv`` file written by ``gosvae encode`` and read by ``gosvae decode``.

One file holds one coded image: which model coded it, the sizes needed to rebuild it, and its
slice packets exactly as they would go on the link. All integers are big-endian:

==========  ==========  ================================================================
bytes       type        field
==========  ==========  ================================================================
4           bytes       magic ``b"GOSV"``
1           uint8       format version (:data:`CONTAINER_VERSION`, currently 1)
1           uint8       ``L``, length of the model id in bytes (1..255)
L           UTF-8       model id, e.g. ``"gos-vae-star-r4"``
4 + 4       uint32 ×2   image height, image width (pixels)
2 + 2       uint16 ×2   index map height ``H'``, width ``W'``
2           uint16      number of slices ``N``
N × (4 + n) uint32, n   each slice: its length ``n`` in bytes, then its ``n`` bytes
==========  ==========  ================================================================

Nothing may follow the last slice. Reading a malformed file raises
:class:`MalformedContainerError`, a :class:`~gosvae.errors.UserError` whose one-line message
names the file and what is wrong.

Example
-------
>>> contents = ContainerContents(model_id="gos-vae-star-r4", image_size=(256, 512),
...                              index_shape=(64, 128), packets=[b"\\xa1...", b"\\xa1..."])
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

CONTAINER_MAGIC: bytes = b"GOSV"
CONTAINER_VERSION: int = 1
_MAX_UINT16 = 0xFFFF
_MAX_UINT32 = 0xFFFFFFFF
_SIZES = struct.Struct(">IIHHH")  # image height, width; index height, width; number of slices


class MalformedContainerError(UserError):
    """A ``.gosv`` file that cannot be read (bad magic, unsupported version, truncated, ...)."""


@dataclass(frozen=True)
class ContainerContents:
    """What a ``.gosv`` file holds.

    Attributes
    ----------
    model_id : str
        Name of the model that coded the image (1 to 255 bytes of UTF-8).
    image_size : tuple[int, int]
        ``(H, W)`` of the original image, pixels.
    index_shape : tuple[int, int]
        ``(H', W')`` of the index map.
    packets : list[bytes]
        The slice packets, top to bottom (at most 65535).
    """

    model_id: str
    image_size: tuple[int, int]
    index_shape: tuple[int, int]
    packets: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        name_bytes = self.model_id.encode("utf-8") if isinstance(self.model_id, str) else b""
        if not 1 <= len(name_bytes) <= 255:
            raise UserError(f"container model_id: expected 1 to 255 bytes of UTF-8, got {self.model_id!r}")
        for name, limit in (("image_size", _MAX_UINT32), ("index_shape", _MAX_UINT16)):
            value = tuple(getattr(self, name))
            try:
                sizes = tuple(operator.index(n) for n in value)
            except TypeError:
                sizes = ()
            if len(sizes) != 2 or not all(1 <= n <= limit for n in sizes):
                raise UserError(f"container {name}: expected two integers in [1, {limit}], got {value}")
            object.__setattr__(self, name, sizes)
        if len(self.packets) > _MAX_UINT16:
            raise UserError(f"container packets: at most {_MAX_UINT16} slices, got {len(self.packets)}")
        packets = [bytes(p) for p in self.packets]
        if any(len(p) > _MAX_UINT32 for p in packets):
            raise UserError("container packets: a slice is larger than 4 GiB")
        object.__setattr__(self, "packets", packets)


def pack_container(contents: ContainerContents) -> bytes:
    """The bytes of a ``.gosv`` file holding ``contents`` (see the module docstring)."""
    name = contents.model_id.encode("utf-8")
    parts = [CONTAINER_MAGIC, bytes([CONTAINER_VERSION, len(name)]), name,
             _SIZES.pack(*contents.image_size, *contents.index_shape, len(contents.packets))]
    for packet in contents.packets:
        parts += [len(packet).to_bytes(4, "big"), packet]
    return b"".join(parts)


class _Reader:
    """Cursor over the file bytes that raises a one-line error naming the file when short."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data, self.source, self.offset = data, source, 0

    def take(self, size: int, what: str) -> bytes:
        if self.offset + size > len(self.data):
            raise MalformedContainerError(
                f"{self.source}: truncated .gosv file: {what} needs {size} bytes at offset {self.offset}, "
                f"file has {len(self.data) - self.offset} left"
            )
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk


def unpack_container(data: bytes, *, source: str = "<bytes>") -> ContainerContents:
    """Parse the bytes of a ``.gosv`` file.

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
        Bad magic, unsupported version, truncated data, invalid model id, zero sizes or bytes
        after the last slice.
    """
    reader = _Reader(bytes(data), source)
    magic = reader.data[:4]
    if magic != CONTAINER_MAGIC:
        raise MalformedContainerError(
            f"{source}: not a .gosv file: starts with {magic!r}, expected {CONTAINER_MAGIC!r}"
        )
    reader.take(4, "magic")
    version, name_length = reader.take(2, "version and model id length")
    if version != CONTAINER_VERSION:
        raise MalformedContainerError(
            f"{source}: unsupported .gosv format version {version} (this gosvae reads version {CONTAINER_VERSION})"
        )
    try:
        model_id = reader.take(name_length, "model id").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedContainerError(f"{source}: model id is not valid UTF-8 ({exc.reason})") from None
    image_h, image_w, index_h, index_w, num_slices = _SIZES.unpack(reader.take(_SIZES.size, "sizes"))
    packets = []
    for i in range(num_slices):
        length = int.from_bytes(reader.take(4, f"length of slice {i}"), "big")
        packets.append(reader.take(length, f"slice {i} of {num_slices}"))
    if reader.offset != len(reader.data):
        raise MalformedContainerError(
            f"{source}: {len(reader.data) - reader.offset} unexpected bytes after the last of {num_slices} slices"
        )
    try:
        return ContainerContents(
            model_id=model_id, image_size=(image_h, image_w), index_shape=(index_h, index_w), packets=packets
        )
    except UserError as exc:
        raise MalformedContainerError(f"{source}: {exc}") from None


def write_container(destination: str | os.PathLike[str] | BinaryIO, contents: ContainerContents) -> int:
    """Write a ``.gosv`` file.

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
    """
    data = pack_container(contents)
    if hasattr(destination, "write"):
        destination.write(data)
    else:
        with open(destination, "wb") as file:
            file.write(data)
    return len(data)


def read_container(source: str | os.PathLike[str] | BinaryIO) -> ContainerContents:
    """Read a ``.gosv`` file.

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
        return unpack_container(source.read(), source=str(getattr(source, "name", "<stream>")))
    try:
        with open(source, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise UserError(f"{os.fspath(source)}: cannot read .gosv file ({exc.strerror})") from None
    return unpack_container(data, source=os.fspath(source))

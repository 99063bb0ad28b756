"""Packet framing of the byte codecs: independently decodable units (JPEG restart intervals,
JPEG 2000 tile-parts) packed into packets of at most ``max_packet_bytes``.

A real system would do the same: RTP payload formats for JPEG (RFC 2435) and JPEG 2000
(RFC 5371) carry a small payload header per packet that says where its data sits in the image,
so that a receiver can place what arrived and conceal what did not. Our header is 6 bytes::

    tag (1 byte)          codec-specific (JPEG: the quality Q, from which the receiver rebuilds
                          the JPEG headers, as RFC 2435 does; JPEG 2000: 0)
    first unit (2 bytes)  index of the first unit in the packet, big-endian
    count (1 byte)        number of whole units in the packet
    fragment (1 byte)     index of this fragment
    fragments (1 byte)    number of fragments (1 for packets of whole units)

A packet of whole units carries each unit prefixed by its length (LEB128 varint); a unit larger
than a packet is cut into ``fragments`` packets of one unit each (raw bytes, no length prefix),
and is usable only when all its fragments arrive. Every byte of the header counts in the payload.

The receiver (:func:`unpack_units`) validates each packet (sizes, ranges, framing) and discards
a packet that does not parse; it never raises.

Example
-------
>>> packets = pack_units([b"abc", b"defg"], max_packet_bytes=64, tag=75)
>>> unpack_units([packets[0]], num_units=2).units
{0: b'abc', 1: b'defg'}
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from gosvae.errors import UserError

__all__ = ["PACKET_HEADER_BYTES", "UnpackedUnits", "pack_units", "unpack_units"]

_HEADER = struct.Struct("!BHBBB")
PACKET_HEADER_BYTES = _HEADER.size  # 6
_MAX_COUNT = 255
_MAX_FRAGMENTS = 255


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Return (value, new position); (-1, pos) if malformed (more than 4 bytes or truncated)."""
    value = 0
    for shift in range(0, 28, 7):
        if pos >= len(data):
            return -1, pos
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    return -1, pos


def pack_units(units: Sequence[bytes], *, max_packet_bytes: int, tag: int = 0) -> list[bytes]:
    """Greedily pack ``units`` in order into packets of at most ``max_packet_bytes``.

    Input
    -----
    units : sequence of bytes
        Independently decodable units, in image order (at most 65535).
    max_packet_bytes : int
        Packet size limit, header included.
    tag : int
        One byte (0..255) repeated in every packet header.

    Output
    ------
    list[bytes]
        Packets in transmission order; each ``len(p) <= max_packet_bytes``.
    """
    if len(units) > 0xFFFF:
        raise UserError(f"too many units ({len(units)}) for the packet header (at most 65535)")
    room = max_packet_bytes - PACKET_HEADER_BYTES
    if room < 8:
        raise UserError(f"max_packet_bytes={max_packet_bytes} is too small (at least {PACKET_HEADER_BYTES + 8})")
    packets: list[bytes] = []
    first, body = 0, bytearray()
    count = 0

    def flush() -> None:
        nonlocal body, count
        if count:
            packets.append(_HEADER.pack(tag, first, count, 0, 1) + bytes(body))
        body, count = bytearray(), 0

    for index, unit in enumerate(units):
        framed = _varint(len(unit)) + unit
        if len(framed) > room:  # too large for one packet: fragments of its own
            flush()
            pieces = [unit[i:i + room] for i in range(0, len(unit), room)]
            if len(pieces) > _MAX_FRAGMENTS:
                raise UserError(f"a unit of {len(unit)} bytes needs more than {_MAX_FRAGMENTS} packets of "
                                f"{max_packet_bytes} bytes; raise max_packet_bytes")
            packets.extend(_HEADER.pack(tag, index, 1, k, len(pieces)) + piece for k, piece in enumerate(pieces))
            first = index + 1
            continue
        if count == _MAX_COUNT or len(body) + len(framed) > room:
            flush()
        if count == 0:
            first = index
        body += framed
        count += 1
    flush()
    return packets


@dataclass
class UnpackedUnits:
    """What :func:`unpack_units` recovered: ``units`` (index → bytes), the header ``tags`` of the
    valid packets, and how many received packets were ``discarded`` as malformed."""

    units: dict[int, bytes] = field(default_factory=dict)
    tags: list[int] = field(default_factory=list)
    discarded: int = 0

    def majority_tag(self) -> int | None:
        """The most common tag among valid packets (robust to a damaged header), or None."""
        if not self.tags:
            return None
        return Counter(self.tags).most_common(1)[0][0]


def unpack_units(received: Sequence[bytes | None], *, num_units: int) -> UnpackedUnits:
    """Recover the units carried by the received packets; never raises.

    Input
    -----
    received : sequence of bytes or None
        Packets in the order sent; ``None`` for a lost packet.
    num_units : int
        How many units the image has (the receiver knows it from the image size and the codec
        settings); packets claiming units outside ``[0, num_units)`` are discarded.

    Output
    ------
    :class:`UnpackedUnits`
    """
    out = UnpackedUnits()
    fragments: dict[int, dict[int, bytes]] = {}
    totals: dict[int, int] = {}
    for packet in received:
        if packet is None:
            continue
        if not isinstance(packet, (bytes, bytearray)) or len(packet) < PACKET_HEADER_BYTES:
            out.discarded += 1
            continue
        tag, first, count, frag, total = _HEADER.unpack_from(packet)
        payload = bytes(packet[PACKET_HEADER_BYTES:])
        if total == 0 or count == 0 or first + count > num_units:
            out.discarded += 1
            continue
        if total > 1:  # one fragment of one unit
            if count != 1 or frag >= total or totals.setdefault(first, total) != total:
                out.discarded += 1
                continue
            fragments.setdefault(first, {}).setdefault(frag, payload)
            out.tags.append(tag)
            continue
        if frag != 0:
            out.discarded += 1
            continue
        pos, parsed = 0, []
        for _ in range(count):
            size, pos = _read_varint(payload, pos)
            if size < 0 or pos + size > len(payload):
                parsed = None
                break
            parsed.append(payload[pos:pos + size])
            pos += size
        if parsed is None or pos != len(payload):  # framing does not add up: damaged packet
            out.discarded += 1
            continue
        out.tags.append(tag)
        for k, unit in enumerate(parsed):
            out.units.setdefault(first + k, unit)
    for index, pieces in fragments.items():
        if len(pieces) == totals[index] and index not in out.units:
            out.units[index] = b"".join(pieces[k] for k in range(totals[index]))
    return out

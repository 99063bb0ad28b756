"""JPEG (baseline, libjpeg-turbo through Pillow) with restart markers, packetised like RTP/JPEG.

Transmission scheme (after RFC 2435, the RTP payload format for JPEG):

- The encoder writes a baseline JPEG with standard (Annex K) Huffman tables, the libjpeg quality
  scaling of the standard quantisation tables, and a restart marker every ``restart_rows`` MCU
  rows (Pillow's ``restart_marker_rows``). The entropy-coded scan is cut at the RST markers into
  *restart intervals*; each interval decodes on its own (the DC predictors reset at each RST).
- The JPEG headers (SOI, APP0, DQT, SOF0, DHT, DRI, SOS; about 600 bytes) are **not sent**: as in
  RFC 2435 they are a function of the quality Q, the image size and the codec settings, so the
  receiver rebuilds them byte-exactly (by encoding a mid-grey image of the same size with the same
  settings) from the Q carried in every packet header. Only the packets are counted as payload:
  6 header bytes per packet (:mod:`gosvae.codecs.pillow_packets`) plus the intervals, each with a
  1-2 byte length prefix instead of its 2-byte RST marker.
- The receiver rebuilds a valid stream: received intervals in place, RST markers renumbered
  (``RST(i mod 8)``), each lost or damaged interval (a packet lost, a fragment missing, a stray
  marker inside its data) replaced by the grey image's interval, which has all coefficients zero
  and so decodes to flat mid-grey; then (``concealment="interpolate"``, default) the lost rows are
  filled by linear interpolation between the intact rows above and below.

Damage therefore stays inside the lost MCU rows; with 4:2:0 chroma subsampling, libjpeg-turbo's
"fancy" chroma upsampling also changes the one pixel row on either side of them.

Example
-------
>>> codec = JpegCodec(quality=75)                                    # doctest: +SKIP
>>> streams = codec.encode(images)                                   # (B, 3, H, W) in [0, 1]
>>> out = codec.decode([s.packets for s in streams], image_size=images.shape[-2:])
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field

from gosvae.codecs.base import ReceivedPackets
from gosvae.codecs.pillow_base import ImageDecode, PillowCodec, PillowParams, grey_image, open_checked
from gosvae.codecs.pillow_packets import pack_units, unpack_units
from gosvae.registry import register_codec

__all__ = ["JpegCodec", "JpegParams", "conceal_rows", "split_jpeg"]

_RST = re.compile(rb"\xff[\xd0-\xd7]")
_NOT_STUFFED = re.compile(rb"\xff[^\x00]|\xff$")  # a marker or a dangling 0xFF inside entropy data
_MCU_HEIGHT = {"4:4:4": 8, "4:2:2": 8, "4:2:0": 16}


class JpegParams(PillowParams):
    """JPEG parameters.

    Attributes
    ----------
    quality : int
        libjpeg quality 1..100 (used when no rate target is given).
    subsampling : "4:4:4" | "4:2:2" | "4:2:0"
        Chroma subsampling (4:2:0 as in most JPEGs).
    restart_rows : int
        MCU rows per restart interval (1: a lost packet costs only its own rows).
    concealment : "grey" | "interpolate"
        Fill lost rows with mid-grey, or interpolate between the intact rows around them.
    """

    quality: int = Field(75, ge=1, le=100)
    subsampling: Literal["4:4:4", "4:2:2", "4:2:0"] = "4:2:0"
    restart_rows: int = Field(1, ge=1, le=256)
    concealment: Literal["grey", "interpolate"] = "interpolate"


def _encode_jpeg(array: np.ndarray, quality: int, subsampling: str, restart_rows: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", quality=int(quality), subsampling=subsampling,
                                restart_marker_rows=restart_rows, optimize=False, progressive=False)
    return buf.getvalue()


def split_jpeg(data: bytes) -> tuple[bytes, list[bytes]]:
    """Split a baseline JPEG with restart markers into (headers up to the SOS segment, intervals).

    Input
    -----
    data : bytes
        A single-scan JPEG file ending with EOI.

    Output
    ------
    (bytes, list[bytes])
        The headers (SOI .. end of the SOS segment) and the entropy-coded restart intervals without
        their RST markers and without EOI. In entropy-coded data every 0xFF byte is followed by a
        stuffed 0x00, so splitting at ``0xFF 0xD0..0xD7`` is exact.
    """
    sos = data.find(b"\xff\xda")
    if sos < 0 or not data.endswith(b"\xff\xd9"):
        raise ValueError("not a single-scan JPEG")
    end_of_headers = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
    return data[:end_of_headers], _RST.split(data[end_of_headers:-2])


@lru_cache(maxsize=64)
def _reference(height: int, width: int, quality: int, subsampling: str, restart_rows: int) -> tuple[bytes, tuple[bytes, ...]]:
    """Headers and all-zero-coefficient intervals for these settings (from a mid-grey encode)."""
    headers, intervals = split_jpeg(_encode_jpeg(grey_image(height, width), quality, subsampling, restart_rows))
    return headers, tuple(intervals)


def conceal_rows(image: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """Fill each run of lost rows by linear interpolation between the intact rows around it.

    Input
    -----
    image : (H, W, 3) uint8
    lost : (H,) bool, True for rows to conceal

    Output
    ------
    (H, W, 3) uint8, a copy; rows with no intact neighbour on either side are left as they are;
    with one neighbour that row is repeated.
    """
    out = image.copy()
    h = image.shape[0]
    row = 0
    while row < h:
        if not lost[row]:
            row += 1
            continue
        start = row
        while row < h and lost[row]:
            row += 1
        above = image[start - 1].astype(np.float32) if start > 0 else None
        below = image[row].astype(np.float32) if row < h else None
        if above is None and below is None:
            continue
        if above is None or below is None:
            out[start:row] = (above if below is None else below).round().astype(np.uint8)
            continue
        w = (np.arange(start, row, dtype=np.float32) - (start - 1)) / (row - (start - 1))
        out[start:row] = ((1 - w)[:, None, None] * above + w[:, None, None] * below).round().astype(np.uint8)
    return out


@register_codec("jpeg", description="JPEG (libjpeg-turbo via Pillow), restart interval per packet group, RTP/JPEG-style")
class JpegCodec(PillowCodec):
    """Baseline JPEG with restart markers; lost packets cost only their MCU rows (see module doc)."""

    codec_name = "jpeg"
    Params = JpegParams
    scheme = "JPEG"
    quality_range = (1, 100)
    integer_quality = True
    packetisation = ("restart intervals (RST markers) packed into packets of <= max_packet_bytes with a 6-byte "
                     "RTP/JPEG-like header carrying Q; JPEG headers rebuilt at the receiver, not sent")

    def _interval_rows(self) -> int:
        return _MCU_HEIGHT[self.params.subsampling] * self.params.restart_rows

    def _encode_image(self, array: np.ndarray, quality: float) -> list[bytes]:
        p = self.params
        _, intervals = split_jpeg(_encode_jpeg(array, int(quality), p.subsampling, p.restart_rows))
        return pack_units(intervals, max_packet_bytes=p.max_packet_bytes, tag=int(quality))

    def _decode_image(self, packets: ReceivedPackets, height: int, width: int) -> ImageDecode:
        p = self.params
        rows = self._interval_rows()
        num_units = -(-height // rows)
        got = unpack_units(packets, num_units=num_units)
        quality = got.majority_tag()
        details = {"units": num_units, "packets_lost": sum(x is None for x in packets),
                   "packets_discarded": got.discarded}
        if quality is None or not 1 <= quality <= 100 or not got.units:
            details["lost_units"] = num_units
            return ImageDecode(grey_image(height, width), 1.0, True, details)
        headers, grey = _reference(height, width, quality, p.subsampling, p.restart_rows)
        lost = []
        parts = [headers]
        for i in range(num_units):
            data = got.units.get(i)
            if data is None or _NOT_STUFFED.search(data):
                lost.append(i)
                data = grey[i]
            if i:
                parts.append(bytes((0xFF, 0xD0 + (i - 1) % 8)))
            parts.append(data)
        parts.append(b"\xff\xd9")
        image = open_checked(b"".join(parts), height=height, width=width)
        details["lost_units"] = len(lost)
        if lost and p.concealment == "interpolate":
            mask = np.zeros(height, dtype=bool)
            for i in lost:
                mask[i * rows:(i + 1) * rows] = True
            image = conceal_rows(image, mask)
        return ImageDecode(image, len(lost) / num_units, len(lost) == num_units, details)

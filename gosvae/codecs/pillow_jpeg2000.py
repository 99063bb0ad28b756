"""JPEG 2000 (OpenJPEG through Pillow) with tiles; one tile-part per tile, packetised by tiles.

Transmission scheme (in the spirit of RFC 5371, the RTP payload format for JPEG 2000):

- The encoder writes a raw codestream (``.j2k``, no JP2 box) with the irreversible 9/7 wavelet,
  one quality layer at a target PSNR (OpenJPEG ``quality_mode="dB"``: ``quality`` is that PSNR in
  dB), square tiles of ``tile_size`` (Pillow ``tile_size``), ``num_resolutions`` levels. Each tile is
  one tile-part (SOT marker with its tile index and length, then its data) and decodes on its own
  once the main header is known.
- The main header (SOC, SIZ, COD, QCD, COM; ~130 bytes) depends only on the image size and the
  codec settings, not on the image or the rate, so it is **not sent**: the receiver rebuilds it
  byte-exactly by encoding a mid-grey image of the same size with the same settings. The tile-parts
  are packed into packets of at most ``max_packet_bytes`` (6-byte header each, see
  :mod:`gosvae.codecs.pillow_packets`); every packet byte counts as payload.
- The receiver checks each received tile-part (SOT marker, tile index, length) and replaces each
  lost or malformed one by the grey image's tile-part for that tile (all coefficients zero: the
  tile decodes to flat mid-grey), so the other tiles are untouched.

Example
-------
>>> codec = Jpeg2000Codec(quality=35.0, tile_size=64)               # doctest: +SKIP
>>> streams = codec.encode(images)
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
from PIL import Image
from pydantic import Field

from gosvae.codecs.base import ReceivedPackets
from gosvae.codecs.pillow_base import ImageDecode, PillowCodec, PillowParams, grey_image, open_checked
from gosvae.codecs.pillow_packets import pack_units, unpack_units
from gosvae.registry import register_codec

__all__ = ["Jpeg2000Codec", "Jpeg2000Params", "split_j2k"]

_SOT = b"\xff\x90"
_EOC = b"\xff\xd9"
_REFERENCE_QUALITY = 40.0  # the grey reference's tile-parts are all-zero whatever the quality


class Jpeg2000Params(PillowParams):
    """JPEG 2000 parameters.

    Attributes
    ----------
    quality : float
        Target PSNR of the single quality layer in dB, 15..90 (OpenJPEG ``quality_mode="dB"``).
    tile_size : int
        Side of the square tiles in pixels (the unit of loss).
    num_resolutions : int
        Wavelet resolution levels (decompositions + 1); 0 picks ``min(6, log2(min side) - 1)``.
    """

    quality: float = Field(40.0, ge=15.0, le=90.0)
    tile_size: int = Field(64, ge=16, le=4096)
    num_resolutions: int = Field(0, ge=0, le=8)


def split_j2k(data: bytes) -> tuple[bytes, list[bytes]]:
    """Split a raw JPEG 2000 codestream into (main header, tile-parts), following the SOT lengths.

    Input
    -----
    data : bytes
        A ``.j2k`` codestream (SOC ... EOC) whose tile-parts all give their length (Psot > 0).

    Output
    ------
    (bytes, list[bytes])
        Main header (SOC up to the first SOT) and the tile-parts in codestream order (each from
        its SOT marker to the end of its data).
    """
    pos = data.find(_SOT)
    if pos < 0:
        raise ValueError("no tile-part in the codestream")
    header, parts = data[:pos], []
    while data[pos:pos + 2] == _SOT:
        length = int.from_bytes(data[pos + 6:pos + 10], "big")
        if length < 14 or pos + length > len(data):
            raise ValueError("bad tile-part length")
        parts.append(data[pos:pos + length])
        pos += length
    if data[pos:] != _EOC:
        raise ValueError("codestream does not end with EOC after its tile-parts")
    return header, parts


def _valid_tile_part(part: bytes, index: int) -> bool:
    # SOT: FF90, Lsot=10, Isot (tile index), Psot (length of the tile-part), TPsot=0, TNsot=1
    return (len(part) >= 14 and part[:4] == b"\xff\x90\x00\x0a"
            and int.from_bytes(part[4:6], "big") == index
            and int.from_bytes(part[6:10], "big") == len(part)
            and part[10] == 0 and part[12:14] == b"\xff\x93")


def _encode_j2k(array: np.ndarray, quality: float, tile: int, resolutions: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG2000", no_jp2=True, tile_size=(tile, tile), quality_mode="dB",
                                quality_layers=[float(quality)], irreversible=True,
                                num_resolutions=resolutions, mct=1)
    return buf.getvalue()


@lru_cache(maxsize=64)
def _reference(height: int, width: int, tile: int, resolutions: int) -> tuple[bytes, tuple[bytes, ...]]:
    header, parts = split_j2k(_encode_j2k(grey_image(height, width), _REFERENCE_QUALITY, tile, resolutions))
    return header, tuple(parts)


@register_codec("jpeg2000", description="JPEG 2000 (OpenJPEG via Pillow), tiles as units of loss, PSNR-target quality")
class Jpeg2000Codec(PillowCodec):
    """JPEG 2000 with tiles; a lost packet costs only its tiles (see module doc)."""

    codec_name = "jpeg2000"
    Params = Jpeg2000Params
    scheme = "JPEG 2000"
    quality_range = (15.0, 90.0)
    integer_quality = False
    packetisation = ("tile-parts packed into packets of <= max_packet_bytes with a 6-byte header; main header "
                     "rebuilt at the receiver, not sent; lost tiles decode mid-grey")

    def _resolutions(self, height: int, width: int) -> int:
        if self.params.num_resolutions:
            return self.params.num_resolutions
        side = min(self.params.tile_size, height, width)
        return max(1, min(6, int(math.log2(max(side, 1))) - 1))

    def _num_tiles(self, height: int, width: int) -> int:
        t = self.params.tile_size
        return -(-height // t) * -(-width // t)

    def _encode_image(self, array: np.ndarray, quality: float) -> list[bytes]:
        h, w = array.shape[:2]
        _, parts = split_j2k(_encode_j2k(array, quality, self.params.tile_size, self._resolutions(h, w)))
        return pack_units(parts, max_packet_bytes=self.params.max_packet_bytes, tag=0)

    def _decode_image(self, packets: ReceivedPackets, height: int, width: int) -> ImageDecode:
        num_units = self._num_tiles(height, width)
        got = unpack_units(packets, num_units=num_units)
        details = {"units": num_units, "packets_lost": sum(x is None for x in packets),
                   "packets_discarded": got.discarded}
        header, grey = _reference(height, width, self.params.tile_size, self._resolutions(height, width))
        lost, parts = [], [header]
        for i in range(num_units):
            part = got.units.get(i)
            if part is None or not _valid_tile_part(part, i):
                lost.append(i)
                part = grey[i]
            parts.append(part)
        parts.append(_EOC)
        details["lost_units"] = len(lost)
        if len(lost) == num_units:
            return ImageDecode(grey_image(height, width), 1.0, True, details)
        try:
            image = open_checked(b"".join(parts), height=height, width=width)
        except Exception:
            # A tile-part that passed the SOT checks but whose data OpenJPEG rejects: find it by
            # decoding each received tile alone among grey ones (N extra decodes, only in this rare
            # case), conceal the rejected ones and decode again.
            for i in range(num_units):
                if i in lost:
                    continue
                alone = [header, *grey[:i], parts[1 + i], *grey[i + 1:], _EOC]
                try:
                    open_checked(b"".join(alone), height=height, width=width)
                except Exception:
                    lost.append(i)
                    parts[1 + i] = grey[i]
            details["lost_units"] = len(lost)
            if len(lost) == num_units:
                return ImageDecode(grey_image(height, width), 1.0, True, details)
            image = open_checked(b"".join(parts), height=height, width=width)
        return ImageDecode(image, len(lost) / num_units, False, details)

"""WebP and AVIF through Pillow: whole-stream formats cut into packets of ``max_packet_bytes``.

Neither format has resynchronisation points that a receiver could use without the bytes before
them (a WebP/VP8 frame is one arithmetic-coded partition pair; an AVIF file is an ISOBMFF container
around one AV1 intra frame), so the stream is simply cut into consecutive packets of at most
``max_packet_bytes`` (no per-packet header: the sequence of packets is the file). When every
packet arrives the file is decoded; otherwise the receiver tries a best-effort decode of the
prefix that arrived before the first loss (Pillow's truncated-image mode, switched on for that call
only); when that fails too, the image is mid-grey and reported ``failed``.

AVIF stands in for **BPG**: both are the intra-frame coder of a modern video codec in a still-image
container (BPG: HEVC intra; AVIF: AV1 intra) and sit well above JPEG in rate-distortion, but BPG has
no maintained Python package while AVIF is supported by Pillow (libavif).

Example
-------
>>> codec = WebpCodec(quality=75)                                    # doctest: +SKIP
>>> streams = codec.encode(images)
"""

from __future__ import annotations

import io
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import Field

from gosvae.codecs.base import ReceivedPackets
from gosvae.codecs.pillow_base import ImageDecode, PillowCodec, PillowParams, grey_image, open_checked
from gosvae.registry import register_codec

__all__ = ["AvifCodec", "AvifParams", "WebpCodec", "WebpParams"]


class _StreamCodec(PillowCodec):
    """Whole-stream codec: packets are consecutive slices of the file."""

    packetisation = "whole stream cut into consecutive packets of <= max_packet_bytes; any loss: truncated decode or mid-grey"

    def _save(self, array: np.ndarray, quality: float) -> bytes:
        raise NotImplementedError

    def _encode_image(self, array: np.ndarray, quality: float) -> list[bytes]:
        data = self._save(array, quality)
        size = self.params.max_packet_bytes
        return [data[i:i + size] for i in range(0, len(data), size)]

    def _decode_image(self, packets: ReceivedPackets, height: int, width: int) -> ImageDecode:
        total = len(packets)
        lost = sum(p is None for p in packets)
        details: dict[str, Any] = {"units": total, "packets_lost": lost}
        prefix = []
        for p in packets:
            if p is None:
                break
            prefix.append(bytes(p))
        data = b"".join(prefix)
        if data:
            try:
                image = open_checked(data, height=height, width=width, allow_truncated=lost > 0)
                return ImageDecode(image, lost / max(total, 1), False, details)
            except Exception as exc:  # damaged or truncated beyond repair
                details["error"] = type(exc).__name__
        return ImageDecode(grey_image(height, width), 1.0, True, details)


class WebpParams(PillowParams):
    """WebP parameters.

    Attributes
    ----------
    quality : int
        libwebp lossy quality 0..100.
    method : int
        libwebp effort 0 (fast) .. 6 (best).
    """

    quality: int = Field(75, ge=0, le=100)
    method: int = Field(4, ge=0, le=6)


@register_codec("webp", description="WebP lossy (libwebp via Pillow), whole stream in packets")
class WebpCodec(_StreamCodec):
    """Lossy WebP (VP8 intra, 4:2:0); the whole stream is needed (see module doc)."""

    codec_name = "webp"
    Params = WebpParams
    scheme = "WebP"
    quality_range = (0, 100)
    integer_quality = True

    def _save(self, array: np.ndarray, quality: float) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, "WEBP", quality=int(quality), method=self.params.method,
                                    lossless=False, exact=False)
        return buf.getvalue()


class AvifParams(PillowParams):
    """AVIF parameters.

    Attributes
    ----------
    quality : int
        libavif quality 0..100.
    speed : int
        Encoder speed 0 (slowest, best) .. 10 (fastest).
    subsampling : "4:4:4" | "4:2:2" | "4:2:0"
        Chroma subsampling.
    max_threads : int
        Encoder threads (1 keeps the simulator's CPU use predictable).
    """

    quality: int = Field(60, ge=0, le=100)
    speed: int = Field(6, ge=0, le=10)
    subsampling: Literal["4:4:4", "4:2:2", "4:2:0"] = "4:2:0"
    max_threads: int = Field(1, ge=1, le=64)


@register_codec("avif", description="AVIF (AV1 intra via Pillow/libavif), stand-in for BPG, whole stream in packets")
class AvifCodec(_StreamCodec):
    """AVIF (AV1 intra frame), the stand-in for BPG (HEVC intra); whole stream needed (see module doc)."""

    codec_name = "avif"
    Params = AvifParams
    scheme = "AVIF"
    quality_range = (0, 100)
    integer_quality = True

    def _save(self, array: np.ndarray, quality: float) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(array).save(buf, "AVIF", quality=int(quality), speed=self.params.speed,
                                    subsampling=self.params.subsampling, max_threads=self.params.max_threads)
        return buf.getvalue()

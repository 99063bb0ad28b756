"""Uniform colour quantiser + zlib, one packet per ``rows_per_packet`` pixel rows.

Transmitter: every channel value x in [0, 1] becomes the level ``round(x (L - 1))`` (one byte);
each band of ``rows_per_packet`` rows, (3, n, W) bytes, is compressed with zlib into one packet
(a 2-byte header: the band index). Receiver: a band whose packet is lost, damaged (zlib fails or
the size is wrong) or carries another band index is concealed by repeating the last row above it
(mid-grey for the first band); an image with every band concealed is ``failed``.

Example
-------
>>> codec = QuantiseZlibCodec(levels=16, rows_per_packet=16)
>>> images = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
>>> streams = codec.encode(images)                   # one Bitstream per image, 2 packets each
>>> len(streams[0].packets)
2
>>> codec.decode([streams[0].packets], image_size=(32, 48)).images.shape
torch.Size([1, 3, 32, 48])
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Sequence

import numpy as np
import torch
from pydantic import Field

from gosvae.codecs import Bitstream, Codec, CodecParams, DecodedBatch, ReceivedPackets

__all__ = ["QuantiseZlibCodec", "QuantiseZlibParams"]


class QuantiseZlibParams(CodecParams):
    """Parameters of ``quantise-zlib``."""

    levels: int = Field(16, ge=2, le=256, description="quantisation levels per colour channel")
    rows_per_packet: int = Field(16, ge=1, le=4096, description="pixel rows per packet")
    compression: int = Field(9, ge=0, le=9, description="zlib level")


class QuantiseZlibCodec(Codec):
    """Uniform colour quantiser + zlib, one packet per band of rows (see the module docstring)."""

    Params = QuantiseZlibParams
    codec_name = "quantise-zlib"
    params: QuantiseZlibParams

    def describe(self) -> dict[str, Any]:
        p = self.params
        return {"codec": self.codec_name, "scheme": "quantiser+zlib", "levels": p.levels,
                "rows_per_packet": p.rows_per_packet, "coder": "zlib", "rate_control": "none"}

    def encode(self, images: torch.Tensor, *, byte_budgets: Sequence[int] | None = None) -> list[Bitstream]:
        """Images (B, 3, H, W) in [0, 1] → one Bitstream per image; ``byte_budgets`` is ignored."""
        top = self.params.levels - 1
        levels = (images.detach().cpu().double().clamp(0, 1) * top).round().to(torch.uint8).numpy()
        rows = self.params.rows_per_packet
        return [
            Bitstream([
                struct.pack(">H", band) + zlib.compress(np.ascontiguousarray(image[:, start : start + rows]).tobytes(),
                                                        self.params.compression)
                for band, start in enumerate(range(0, image.shape[1], rows))
            ])
            for image in levels
        ]

    def decode(self, received: Sequence[ReceivedPackets], *, image_size: tuple[int, int]) -> DecodedBatch:
        """Per image the received packets (bytes or None) → (B, 3, H, W) float32 images in [0, 1]."""
        height, width = image_size
        rows, top = self.params.rows_per_packet, self.params.levels - 1
        starts = list(range(0, height, rows))
        images = torch.empty(len(received), 3, height, width)
        concealed = []
        for i, packets in enumerate(received):
            out = np.full((3, height, width), 0.5, dtype=np.float32)
            lost = 0
            for band, start in enumerate(starts):
                n = min(rows, height - start)
                block = self._band(packets[band] if band < len(packets) else None, band, (3, n, width))
                if block is None:
                    lost += 1
                    if start > 0:
                        out[:, start : start + n] = out[:, start - 1 : start]
                    continue
                out[:, start : start + n] = block.astype(np.float32) / top
            images[i] = torch.from_numpy(out)
            concealed.append(lost / len(starts))
        return DecodedBatch(images, concealed, failed=[c == 1.0 for c in concealed])

    def _band(self, packet: bytes | None, band: int, shape: tuple[int, int, int]) -> np.ndarray | None:
        """The decoded band, or None if the packet is lost or damaged."""
        if packet is None or len(packet) < 3 or struct.unpack(">H", packet[:2])[0] != band:
            return None
        try:
            raw = zlib.decompress(packet[2:])
        except zlib.error:
            return None
        if len(raw) != int(np.prod(shape)):
            return None
        block = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
        return block if int(block.max(initial=0)) <= self.params.levels - 1 else None

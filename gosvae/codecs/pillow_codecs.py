"""The Pillow byte codecs, registered as ``jpeg``, ``jpeg2000``, ``webp`` and ``avif``.

Importing this module registers all four (see :mod:`gosvae.registry`). Details:

- :mod:`gosvae.codecs.pillow_jpeg`: baseline JPEG with restart markers, RTP/JPEG-like packets,
  a lost packet costs only its MCU rows;
- :mod:`gosvae.codecs.pillow_jpeg2000`: JPEG 2000 with tiles, a lost packet costs only its tiles;
- :mod:`gosvae.codecs.pillow_stream`: WebP and AVIF (AVIF standing in for BPG), whole streams cut
  into packets;
- :mod:`gosvae.codecs.pillow_base`: the shared rate control (bisection on quality to a byte target,
  :mod:`gosvae.codecs.rate_control`) and the never-raising decode loop;
- :mod:`gosvae.codecs.pillow_packets`: the 6-byte packet header and its parser.

Example
-------
>>> from gosvae.codecs.pillow_codecs import JpegCodec
>>> codec = JpegCodec(target_bpp=0.5)                                # doctest: +SKIP
>>> streams = codec.encode(images)                                   # (B, 3, H, W) in [0, 1]
>>> out = codec.decode([s.packets for s in streams], image_size=images.shape[-2:])
"""

from gosvae.codecs.pillow_base import PillowCodec, PillowParams
from gosvae.codecs.pillow_jpeg import JpegCodec, JpegParams
from gosvae.codecs.pillow_jpeg2000 import Jpeg2000Codec, Jpeg2000Params
from gosvae.codecs.pillow_stream import AvifCodec, AvifParams, WebpCodec, WebpParams

__all__ = ["AvifCodec", "AvifParams", "Jpeg2000Codec", "Jpeg2000Params", "JpegCodec", "JpegParams",
           "PillowCodec", "PillowParams", "WebpCodec", "WebpParams"]

"""Backwards-compatible names of the codec contract; the code lives in :mod:`gosvae.codecs`.

New code imports from :mod:`gosvae.codecs` (``build_codec``, ``Codec``, ``Bitstream``) and
:mod:`gosvae.codecs.vqvae` (``VQVAECodec``, ``load_codec``).
"""

from gosvae.codecs import Bitstream, Codec, DecodedBatch, ReceivedPackets, build_codec
from gosvae.codecs.vqvae import VQVAECodec, load_codec

__all__ = ["Bitstream", "Codec", "DecodedBatch", "ReceivedPackets", "VQVAECodec", "build_codec", "load_codec"]

"""Source coding of codebook-index maps: row slices, entropy coders, concealment, file container.

Transmitter: :func:`encode_index_map` cuts an ``(H', W')`` index map into slices of whole rows and
codes each into one packet (13-byte :mod:`~gosvae.source_coding.header` + payload) with a range,
Huffman or fixed-length coder (:mod:`~gosvae.source_coding.coders`). Receiver:
:func:`decode_index_map` rebuilds the map from packets that are ``bytes`` or ``None`` (lost),
never raising on damaged input; rows without a valid slice are concealed
(:mod:`~gosvae.source_coding.concealment`) and flagged. :mod:`~gosvae.source_coding.stats`
counts bits; :mod:`~gosvae.source_coding.container` is the ``.gosv`` file format.

Example
-------
>>> import numpy as np
>>> prior = np.array([0.5, 0.25, 0.125, 0.125])
>>> indices = np.random.default_rng(0).choice(4, size=(6, 10), p=prior)
>>> packets = encode_index_map(indices, prior=prior, coder="range", rows_per_slice=4)
>>> decoded = decode_index_map(packets, shape=(6, 10), prior=prior)
>>> bool((decoded.indices == indices).all()), bool(decoded.concealed_rows.any())
(True, False)
"""

from gosvae.source_coding.coders import (
    CorruptPayloadError,
    FixedLengthCoder,
    HuffmanCoder,
    IndexCoder,
    RangeCoder,
    as_prior,
    build_coder,
)
from gosvae.source_coding.concealment import CONCEALMENT_MODES, conceal_rows
from gosvae.source_coding.container import (
    ContainerContents,
    MalformedContainerError,
    pack_container,
    read_container,
    unpack_container,
    write_container,
)
from gosvae.source_coding.header import HEADER_SIZE, SliceHeader, parse_slice_header, short_model_id
from gosvae.source_coding.slices import DecodedIndices, SliceStatus, decode_index_map, encode_index_map
from gosvae.source_coding.stats import (
    PacketBits,
    ideal_code_length_bits,
    order0_entropy_bits,
    packet_bits,
    payload_bits,
)

__all__ = [
    "CONCEALMENT_MODES", "HEADER_SIZE", "ContainerContents", "CorruptPayloadError", "DecodedIndices",
    "FixedLengthCoder", "HuffmanCoder", "IndexCoder", "MalformedContainerError", "PacketBits",
    "RangeCoder", "SliceHeader", "SliceStatus", "as_prior", "build_coder", "conceal_rows",
    "decode_index_map", "encode_index_map", "ideal_code_length_bits", "order0_entropy_bits",
    "pack_container", "packet_bits", "parse_slice_header", "payload_bits", "read_container",
    "short_model_id", "unpack_container", "write_container",
]

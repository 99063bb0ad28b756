"""The ``Codec`` contract: images in, packets out; received packets in, images out.

Every codec of the project (GOS-VAE, VQ-VAE, and later baselines such as JPEG) implements
:class:`Codec`, so the link and the sweeps never special-case one:

- ``encode(images) -> list[Bitstream]``: one :class:`Bitstream` (a list of packets, each ``bytes``)
  per image; each packet is what the application hands the radio.
- ``decode(received, *, image_size) -> DecodedBatch``: ``received`` holds, per image, the list of
  received packets in the order sent, each ``bytes`` or ``None`` (lost). Decoding never raises on
  damaged input: lost or undecodable slices are concealed and reported.

:class:`VQVAECodec` is the codec of a trained :class:`~gosvae.models.VQVAE`: encoder + quantizer at
the transmitter, index map cut into row slices and entropy-coded with the model's index prior.

Example
-------
>>> codec = load_codec("gos-vae-star-r4")                           # doctest: +SKIP
>>> streams = codec.encode(images)                                   # images (B, 3, 256, 512)
>>> [s.num_bytes for s in streams]                                   # payload per image
>>> out = codec.decode([s.packets for s in streams], image_size=(256, 512))
>>> out.images.shape                                                 # (B, 3, 256, 512)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from gosvae.errors import UserError
from gosvae.models import VQVAE
from gosvae.registry import register_codec
from gosvae.source_coding import (
    DecodedIndices,
    decode_index_map,
    encode_index_map,
    short_model_id,
)

ReceivedPackets = Sequence[bytes | None]


@dataclass(frozen=True)
class Bitstream:
    """The packets of one encoded image, in transmission order."""

    packets: list[bytes]

    @property
    def num_bytes(self) -> int:
        """Total size of all packets (headers included) in bytes."""
        return sum(len(p) for p in self.packets)


@dataclass
class DecodedBatch:
    """What the receiver rebuilt.

    Attributes
    ----------
    images : torch.Tensor
        (B, 3, H, W) float32 in [0, 1].
    concealed_fraction : list[float]
        Per image, the fraction of the transmitted units (index rows) that were concealed.
    details : list
        Codec-specific per-image decoding reports (e.g. :class:`DecodedIndices`).
    """

    images: torch.Tensor
    concealed_fraction: list[float]
    details: list = field(default_factory=list)


class Codec(ABC):
    """Base class of all codecs (see the module docstring)."""

    name: str

    @abstractmethod
    def encode(self, images: torch.Tensor) -> list[Bitstream]:
        """Input: images (B, 3, H, W) float in [0, 1]. Output: one :class:`Bitstream` per image."""

    @abstractmethod
    def decode(self, received: Sequence[ReceivedPackets], *, image_size: tuple[int, int]) -> DecodedBatch:
        """Input: per image, the received packets (``bytes`` or ``None``). Output: :class:`DecodedBatch`."""


@register_codec("vqvae", description="VQ-VAE / GOS-VAE: index map, row slices, entropy-coded with the index prior")
class VQVAECodec(Codec):
    """A trained VQ-VAE (or GOS-VAE) with source coding of its index maps.

    Parameters
    ----------
    model : VQVAE
        Trained model; its quantizer's ``index_prior`` is the entropy-coding prior.
    name : str
        Model name (zoo name); its 16-bit hash goes into every slice header.
    coder : str
        "range" (default), "huffman" or "fixed" (⌈log2 K⌉ bits per index).
    rows_per_slice : int
        Index rows per packet: smaller slices lose less per lost packet but cost more headers.
    concealment : str
        "most-probable" or "copy-above" for rows of lost or damaged slices.
    batch_size : int
        Images per encoder/decoder forward pass.
    """

    def __init__(
        self,
        model: VQVAE,
        *,
        name: str,
        coder: str = "range",
        rows_per_slice: int = 4,
        concealment: str = "most-probable",
        batch_size: int = 16,
    ) -> None:
        if rows_per_slice < 1:
            raise UserError(f"rows_per_slice must be >= 1, got {rows_per_slice}")
        self.model = model.eval()
        self.name = name
        self.coder = coder
        self.rows_per_slice = int(rows_per_slice)
        self.concealment = concealment
        self.batch_size = int(batch_size)
        self.model_id = short_model_id(name)
        self.prior = model.quantizer.index_prior.double().cpu().numpy()

    @property
    def ratio(self) -> int:
        return self.model.ratio

    @property
    def codebook_size(self) -> int:
        return self.model.codebook_size

    @torch.no_grad()
    def encode_indices(self, images: torch.Tensor) -> torch.Tensor:
        """Transmitter's model half: images (B, 3, H, W) → indices (B, H/r, W/r) int64."""
        return torch.cat([self.model.encode(chunk) for chunk in images.split(self.batch_size)])

    def encode(self, images: torch.Tensor) -> list[Bitstream]:
        indices = self.encode_indices(images).cpu().numpy()
        return [
            Bitstream(
                encode_index_map(
                    index_map, prior=self.prior, coder=self.coder, rows_per_slice=self.rows_per_slice, model_id=self.model_id
                )
            )
            for index_map in indices
        ]

    def decode_indices(self, received: Sequence[ReceivedPackets], *, image_size: tuple[int, int]) -> list[DecodedIndices]:
        """Receiver's source decoding: per image, the index map (concealed where needed)."""
        shape = self.model.latent_shape(*image_size)
        return [
            decode_index_map(list(packets), shape=shape, prior=self.prior, concealment=self.concealment, model_id=self.model_id)
            for packets in received
        ]

    @torch.no_grad()
    def decode_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Receiver's model half: indices (B, h, w) int64 → images (B, 3, h·r, w·r) in [0, 1]."""
        return torch.cat([self.model.decode(chunk) for chunk in indices.split(self.batch_size)])

    def decode(self, received: Sequence[ReceivedPackets], *, image_size: tuple[int, int]) -> DecodedBatch:
        details = self.decode_indices(received, image_size=image_size)
        indices = torch.from_numpy(np.stack([d.indices for d in details])).long()
        return DecodedBatch(
            images=self.decode_from_indices(indices),
            concealed_fraction=[float(d.concealed_rows.mean()) for d in details],
            details=details,
        )


def load_codec(name: str, **options) -> VQVAECodec:
    """A zoo codec by name, with source-coding ``options`` of :class:`VQVAECodec`."""
    from gosvae.zoo import load_zoo_weights

    entry, state = load_zoo_weights(name)
    if entry.kind != "codec":
        raise UserError(f"zoo model '{name}' is a {entry.kind}, not a codec")
    model = VQVAE.from_config(entry.arch_config)
    model.load_state_dict(state)
    return VQVAECodec(model.eval(), name=name, **options)

"""The VQ-VAE family as codec ``vqvae``: GOS-VAE, VQ-VAE, GOS-VAE*, GOS-VAE† (any trained
:class:`~gosvae.models.VQVAE`).

Transmitter: encoder + quantizer → index map (H/r, W/r); the map is cut into slices of
``rows_per_slice`` index rows, each entropy-coded on its own (``coder``: range / Huffman with the
model's index prior, or fixed-length) with a small header: one packet per slice. Receiver: lost or
undecodable slices are concealed (``concealment``), then the decoder rebuilds the image.

``model`` is a zoo name (``gosvae zoo``, ``GOSVAE_ZOO_PATH`` included) or the path of an exported
model (a folder written by ``gosvae train CONFIG --export-zoo DIR``, or its ``NAME.json``). The
entry's JSON is read when the codec is built (so a scenario is checked without loading weights);
the weights are loaded on first use.

Example
-------
>>> codec = build_codec("vqvae", model="gos-vae-star-r4", coder="range")    # doctest: +SKIP
>>> streams = codec.encode(images)                # images (B, 3, 256, 512) float in [0, 1]
>>> out = codec.decode([s.packets for s in streams], image_size=(256, 512))
>>> out.images.shape, codec.describe()["scheme"]
(torch.Size([B, 3, 256, 512]), 'GOS-VAE*')
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
import torch
from pydantic import Field, PositiveInt

from gosvae.codecs.base import Bitstream, Codec, CodecParams, DecodedBatch, ReceivedPackets
from gosvae.errors import UserError
from gosvae.registry import register_codec

__all__ = ["VQVAECodec", "VQVAEParams", "load_codec"]


class VQVAEParams(CodecParams):
    """Parameters of the ``vqvae`` codec."""

    model: str = Field(description="zoo name, or folder / NAME.json of an exported model")
    coder: Literal["range", "huffman", "fixed"] = Field("range", description="index coder (fixed: ceil(log2 K) bits per index)")
    rows_per_slice: PositiveInt = Field(4, description="index rows per packet")
    concealment: Literal["most-probable", "copy-above"] = Field("most-probable", description="index rows of lost slices")
    batch_size: PositiveInt = Field(16, description="images per encoder/decoder pass inside one call")


@register_codec("vqvae", description="VQ-VAE / GOS-VAE: index map, row slices, entropy-coded with the index prior")
class VQVAECodec(Codec):
    """A trained VQ-VAE (or GOS-VAE) with source coding of its index maps.

    Parameters
    ----------
    model : VQVAE, optional, positional only
        An in-memory model (training, benchmarks); without it the model named by ``params.model``
        is loaded (lazily) from the zoo or its folder.
    name : str | None
        With an in-memory model: its name (the slice headers carry its 16-bit hash).
    **params
        :class:`VQVAEParams`: ``model``, ``coder``, ``rows_per_slice``, ``concealment``,
        ``batch_size``.

    Example
    -------
    >>> codec = VQVAECodec(model="tiny-codec", coder="huffman")       # doctest: +SKIP
    >>> codec.size_multiple()                                         # the ratio r
    4
    """

    Params = VQVAEParams
    codec_name = "vqvae"
    params: VQVAEParams

    def __init__(self, model: Any = None, /, *, name: str | None = None, **params: Any) -> None:
        from gosvae.source_coding import short_model_id

        if model is not None:
            params.setdefault("model", name or "in-memory")
        super().__init__(**params)
        if model is not None:
            self.entry = None
            self.name = name or self.params.model
            self._model = model.eval()
            self._arch = dict(model.config)
        else:
            from gosvae.zoo import resolve_entry

            self.entry = resolve_entry(self.params.model, kind="codec")
            self.name = self.entry.name
            self._model = None
            self._arch = dict(self.entry.arch_config)
        self.model_id = short_model_id(self.name)
        self._prior: np.ndarray | None = None

    # --- compatibility attributes of the former gosvae.codec.VQVAECodec -----------------------
    @property
    def coder(self) -> str:
        return self.params.coder

    @property
    def rows_per_slice(self) -> int:
        return self.params.rows_per_slice

    @property
    def concealment(self) -> str:
        return self.params.concealment

    @property
    def batch_size(self) -> int:
        return self.params.batch_size

    @property
    def model(self) -> torch.nn.Module:
        """The VQVAE, loaded on first use."""
        if self._model is None:
            from gosvae.models import VQVAE
            from gosvae.zoo import build_entry_model

            self._model = build_entry_model(self.entry, VQVAE)
        return self._model

    @property
    def prior(self) -> np.ndarray:
        if self._prior is None:
            self._prior = self.model.quantizer.index_prior.double().cpu().numpy()
        return self._prior

    @property
    def ratio(self) -> int:
        return int(self._arch.get("ratio", 1))

    @property
    def codebook_size(self) -> int:
        from gosvae.models.vqvae import DEFAULT_CODEBOOK_SIZE

        size = self._arch.get("codebook_size")
        return int(size if size is not None else DEFAULT_CODEBOOK_SIZE[self._arch.get("arch", "shallow")])

    # --- contract --------------------------------------------------------------------------------
    @classmethod
    def default_label(cls, params: VQVAEParams) -> str:  # type: ignore[override]
        """``MODEL/CODER`` (the folder name for a model given by path)."""
        from pathlib import Path

        from gosvae.zoo import is_model_path

        model = Path(params.model).stem if is_model_path(params.model) else params.model
        return f"{model}/{params.coder}"

    def describe(self) -> dict[str, Any]:
        scheme = (self.entry.extra.get("scheme") if self.entry is not None else None) or "VQ-VAE"
        return {
            "codec": "vqvae",
            "scheme": scheme,
            "model": self.params.model,
            "ratio": self.ratio,
            "codebook_size": self.codebook_size,
            "coder": self.params.coder,
            "rows_per_slice": self.params.rows_per_slice,
            "concealment": self.params.concealment,
            "rate_control": "none",
        }

    def size_multiple(self) -> int:
        return self.ratio

    def num_parameters(self) -> int | None:
        return sum(p.numel() for p in self.model.parameters())

    @torch.no_grad()
    def encode_indices(self, images: torch.Tensor) -> torch.Tensor:
        """Transmitter's model half: images (B, 3, H, W) → indices (B, H/r, W/r) int64."""
        return torch.cat([self.model.encode(chunk) for chunk in images.split(self.batch_size)])

    def encode(self, images: torch.Tensor, *, byte_budgets: Sequence[int] | None = None) -> list[Bitstream]:
        """Images (B, 3, H, W) in [0, 1] → one :class:`Bitstream` (one packet per slice) per image.
        ``byte_budgets`` is ignored (no rate knob: ``describe()['rate_control'] == 'none'``)."""
        from gosvae.source_coding import encode_index_map

        indices = self.encode_indices(images).cpu().numpy()
        return [
            Bitstream(encode_index_map(index_map, prior=self.prior, coder=self.coder,
                                       rows_per_slice=self.rows_per_slice, model_id=self.model_id))
            for index_map in indices
        ]

    def decode_indices(self, received: Sequence[ReceivedPackets], *, image_size: tuple[int, int]) -> list:
        """Receiver's source decoding: per image, a :class:`~gosvae.source_coding.DecodedIndices`."""
        from gosvae.source_coding import decode_index_map

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
        """Received packets → (B, 3, H, W) images; an image with every slice lost is ``failed``."""
        details = self.decode_indices(received, image_size=image_size)
        indices = torch.from_numpy(np.stack([d.indices for d in details])).long()
        concealed = [float(d.concealed_rows.mean()) for d in details]
        return DecodedBatch(
            images=self.decode_from_indices(indices),
            concealed_fraction=concealed,
            failed=[c >= 1.0 for c in concealed],
            details=details,
        )


def load_codec(name: str, **options: Any) -> VQVAECodec:
    """A ``vqvae`` codec of the zoo model (or model folder) ``name`` with source-coding ``options``
    (:class:`VQVAEParams`); kept for the former ``gosvae.codec.load_codec``."""
    from gosvae.codecs import build_codec

    codec = build_codec("vqvae", model=name, **options)
    if not isinstance(codec, VQVAECodec):  # pragma: no cover - the registry maps vqvae here
        raise UserError(f"codec 'vqvae' is not the built-in VQ-VAE codec: {type(codec).__name__}")
    return codec

"""The Ballé et al. 2017 autoencoder with a factorized entropy model as codec ``factorized-ae``.

Transmitter: ``g_a`` → latent ``y`` (M, H/r, W/r) → rounded → clamped into each channel's coded
support → cut into slices of ``rows_per_slice`` latent rows (all M channels of those rows); each
slice is range-coded on its own with constriction (channel after channel, each channel with the
categorical model of its learned density, :meth:`FactorizedDensity.integer_tables`) behind the
13-byte :class:`~gosvae.source_coding.header.SliceHeader` of the VQ codec: one packet per slice,
so a lost packet loses only its rows. Receiver: a packet that is missing, whose header does not
fit the expected map or model, or whose payload is not the canonical encoding of the symbols it
decodes to is dropped; its latent rows are concealed with each channel's mode (the most probable
integer, usually 0), then ``g_s`` rebuilds the full image. Decoding never raises.

The coding tables are derived from the weights when the codec is first used (deterministic on a
given machine; transmitter and receiver share the model). Latent values outside a channel's
support (mass < 1e-9) are clamped to its ends: the only loss besides rounding.

Example
-------
>>> codec = build_codec("factorized-ae", model="runs/zoo/fae-mid")        # doctest: +SKIP
>>> streams = codec.encode(images)                 # images (B, 3, H, W) in [0, 1], H, W multiples of r
>>> out = codec.decode([s.packets for s in streams], image_size=images.shape[-2:])
>>> out.images.shape                               # (B, 3, H, W)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import constriction
import numpy as np
import torch
from pydantic import Field, PositiveInt

from gosvae.codecs.base import Bitstream, Codec, CodecParams, DecodedBatch, ReceivedPackets
from gosvae.errors import UserError
from gosvae.registry import register_codec

__all__ = ["FactorizedAECodec", "FactorizedAEParams", "LatentTables", "decode_latent_slice", "encode_latent_slice"]


class FactorizedAEParams(CodecParams):
    """Parameters of the ``factorized-ae`` codec."""

    model: str = Field(description="zoo name, or folder / NAME.json of an exported factorized-ae model")
    rows_per_slice: PositiveInt = Field(2, description="latent rows per packet")
    batch_size: PositiveInt = Field(16, description="images per transform pass inside one call")


@dataclass(frozen=True)
class LatentTables:
    """Integer coding tables of the M latent channels.

    Attributes
    ----------
    low : np.ndarray, (M,), int64
        Smallest coded integer of each channel.
    sizes : np.ndarray, (M,), int64
        Number of coded integers of each channel (its support is ``low .. low + size - 1``).
    mode : np.ndarray, (M,), int64
        Most probable integer of each channel (the concealment value).
    models : list
        One constriction ``Categorical`` per channel (symbol ``k`` is the integer ``low + k``).
    """

    low: np.ndarray
    sizes: np.ndarray
    mode: np.ndarray
    models: list

    @classmethod
    def from_pmf(cls, low: torch.Tensor, pmf: torch.Tensor) -> "LatentTables":
        """From :meth:`~gosvae.models.factorized_ae.FactorizedDensity.integer_tables`."""
        p = pmf.double().cpu().numpy()
        sizes = np.array([int(np.flatnonzero(row > 0).max()) + 1 for row in p], dtype=np.int64)
        models = [constriction.stream.model.Categorical(row[:n] / row[:n].sum(), perfect=False) for row, n in zip(p, sizes)]
        low_np = low.cpu().numpy().astype(np.int64)
        return cls(low=low_np, sizes=sizes, mode=low_np + p.argmax(axis=1), models=models)


def encode_latent_slice(symbols: np.ndarray, tables: LatentTables) -> bytes:
    """Range-code latent rows: (M, rows, w) int symbols (``integer - low``) → payload bytes."""
    encoder = constriction.stream.queue.RangeEncoder()
    for c, model in enumerate(tables.models):
        encoder.encode(np.ascontiguousarray(symbols[c]).reshape(-1).astype(np.int32), model)
    return encoder.get_compressed().astype(">u4").tobytes().rstrip(b"\x00")


def decode_latent_slice(payload: bytes, tables: LatentTables, *, rows: int, width: int) -> np.ndarray | None:
    """Payload → (M, rows, w) int64 symbols, or ``None`` if it is not a canonical encoding."""
    padded = payload + bytes(-len(payload) % 4)
    try:
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(padded, dtype=">u4").astype(np.uint32))
        symbols = np.stack([np.asarray(decoder.decode(model, rows * width), dtype=np.int64) for model in tables.models])
    except BaseException as exc:  # constriction raises ValueError, or a Rust panic (BaseException)
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        return None
    symbols = symbols.reshape(len(tables.models), rows, width)
    if (symbols < 0).any() or (symbols >= tables.sizes[:, None, None]).any():
        return None
    return symbols if encode_latent_slice(symbols, tables) == payload else None


@register_codec("factorized-ae", description="Ballé 2017 autoencoder, factorized entropy model, range-coded row slices")
class FactorizedAECodec(Codec):
    """A trained :class:`~gosvae.models.factorized_ae.FactorizedAE` with sliced range coding.

    Parameters
    ----------
    model : FactorizedAE, optional, positional only
        An in-memory model (training, tests); without it ``params.model`` is loaded lazily from
        the zoo or its folder.
    name : str | None
        With an in-memory model: its name (the slice headers carry its 16-bit hash).
    **params
        :class:`FactorizedAEParams`: ``model``, ``rows_per_slice``, ``batch_size``.

    Example
    -------
    >>> from gosvae.models.factorized_ae import FactorizedAE
    >>> codec = FactorizedAECodec(FactorizedAE(channels=8, latent_channels=8, ratio=4), name="tiny")
    >>> codec.size_multiple()
    4
    """

    Params = FactorizedAEParams
    codec_name = "factorized-ae"
    params: FactorizedAEParams

    def __init__(self, model: Any = None, /, *, name: str | None = None, **params: Any) -> None:
        from gosvae.source_coding import short_model_id

        if model is not None:
            params.setdefault("model", name or "in-memory")
        super().__init__(**params)
        if model is not None:
            self.entry, self.name, self._model = None, name or self.params.model, model.eval()
            self._arch = dict(model.config)
        else:
            from gosvae.zoo import resolve_entry

            self.entry = resolve_entry(self.params.model, kind="codec")
            if self.entry.arch != "factorized-ae":
                raise UserError(f"model '{self.params.model}' is a '{self.entry.arch}' codec, not a factorized-ae model")
            self.name, self._model, self._arch = self.entry.name, None, dict(self.entry.arch_config)
        self.model_id = short_model_id(self.name)
        self._tables: LatentTables | None = None

    @property
    def model(self) -> torch.nn.Module:
        """The FactorizedAE, loaded on first use."""
        if self._model is None:
            from gosvae.models.factorized_ae import FactorizedAE
            from gosvae.zoo import build_entry_model

            self._model = build_entry_model(self.entry, FactorizedAE)
        return self._model

    @property
    def tables(self) -> LatentTables:
        """The per-channel coding tables, derived from the density model on first use."""
        if self._tables is None:
            low, pmf = _tables_of(self.model)
            self._tables = LatentTables.from_pmf(low, pmf)
        return self._tables

    @property
    def ratio(self) -> int:
        return int(self._arch.get("ratio", 16))

    def size_multiple(self) -> int:
        return self.ratio

    def num_parameters(self) -> int | None:
        return sum(p.numel() for p in self.model.parameters())

    def describe(self) -> dict[str, Any]:
        scheme = (self.entry.extra.get("scheme") if self.entry is not None else None) or "Factorized AE (Ballé 2017)"
        return {"codec": "factorized-ae", "scheme": scheme, "model": self.params.model, "ratio": self.ratio,
                "latent_channels": int(self._arch.get("latent_channels", 0)), "coder": "range",
                "rows_per_slice": self.params.rows_per_slice, "concealment": "channel-mode", "rate_control": "none"}

    @classmethod
    def default_label(cls, params: FactorizedAEParams) -> str:  # type: ignore[override]
        from pathlib import Path

        from gosvae.zoo import is_model_path

        return f"factorized-ae/{Path(params.model).stem if is_model_path(params.model) else params.model}"

    # --- model halves ----------------------------------------------------------------------------
    @torch.no_grad()
    def encode_latents(self, images: torch.Tensor) -> np.ndarray:
        """Images (B, 3, H, W) → clamped integer latents (B, M, H/r, W/r) int64 (what is coded)."""
        device = next(self.model.parameters()).device
        y = torch.cat([self.model.analysis(chunk.to(device)).cpu() for chunk in images.float().split(self.params.batch_size)])
        q = torch.round(y).numpy().astype(np.int64)
        t = self.tables
        return np.clip(q, t.low[None, :, None, None], (t.low + t.sizes - 1)[None, :, None, None])

    @torch.no_grad()
    def decode_latents(self, latents: np.ndarray) -> torch.Tensor:
        """Integer latents (B, M, h, w) → images (B, 3, h·r, w·r) float32 in [0, 1]."""
        device = next(self.model.parameters()).device
        y = torch.from_numpy(np.asarray(latents, dtype=np.float32))
        return torch.cat([self.model.synthesis(chunk.to(device)).clamp(0, 1).cpu() for chunk in y.split(self.params.batch_size)])

    # --- contract --------------------------------------------------------------------------------
    def encode(self, images: torch.Tensor, *, byte_budgets: Sequence[int] | None = None) -> list[Bitstream]:
        """Images (B, 3, H, W) in [0, 1] → one :class:`Bitstream` (one packet per latent-row slice)
        per image. ``byte_budgets`` is ignored (``describe()['rate_control'] == 'none'``)."""
        from gosvae.source_coding.header import CODER_IDS, MAX_PAYLOAD_BYTES, SliceHeader

        latents, t, step = self.encode_latents(images), self.tables, self.params.rows_per_slice
        streams = []
        for q in latents:
            packets = []
            for slice_id, first in enumerate(range(0, q.shape[1], step)):
                rows = q[:, first : first + step]
                payload = encode_latent_slice(rows - t.low[:, None, None], t)
                if len(payload) > MAX_PAYLOAD_BYTES:
                    raise UserError(f"slice {slice_id}: payload of {len(payload)} bytes is too large; lower rows_per_slice")
                header = SliceHeader(coder_id=CODER_IDS["range"], model_id=self.model_id, slice_id=slice_id,
                                     first_row=first, num_rows=rows.shape[1], payload_length=len(payload))
                packets.append(header.to_bytes() + payload)
            streams.append(Bitstream(packets))
        return streams

    def decode_one(self, packets: ReceivedPackets, *, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """One image's packets → (integer latent (M, h, w) int64, received rows (h,) bool); never raises."""
        from gosvae.source_coding.header import CODER_IDS, HEADER_SIZE, SliceHeaderError, parse_slice_header

        t, (height, width) = self.tables, shape
        latent = np.broadcast_to(t.mode[:, None, None], (len(t.models), height, width)).copy()
        received = np.zeros(height, dtype=bool)
        for packet in packets:
            if packet is None:
                continue
            data = bytes(memoryview(packet))
            try:
                header = parse_slice_header(data)
            except SliceHeaderError:
                continue
            if header.coder_id != CODER_IDS["range"] or header.problem(map_height=height, num_slices=len(packets), model_id=self.model_id):
                continue
            rows = slice(header.first_row, header.first_row + header.num_rows)
            if received[rows].any():
                continue
            symbols = decode_latent_slice(data[HEADER_SIZE:], t, rows=header.num_rows, width=width)
            if symbols is None:
                continue
            latent[:, rows] = symbols + t.low[:, None, None]
            received[rows] = True
        return latent, received

    def decode(self, received: Sequence[ReceivedPackets], *, image_size: tuple[int, int]) -> DecodedBatch:
        """Received packets → (B, 3, H, W) images; lost rows are concealed, all-lost images ``failed``."""
        shape = self.model.latent_shape(*image_size)
        results = [self.decode_one(list(packets), shape=shape) for packets in received]
        if not results:
            return DecodedBatch(images=torch.zeros(0, 3, *image_size), concealed_fraction=[])
        concealed = [float((~rows).mean()) for _, rows in results]
        return DecodedBatch(images=self.decode_latents(np.stack([lat for lat, _ in results])), concealed_fraction=concealed,
                            failed=[c >= 1.0 for c in concealed], details=[{"received_rows": rows} for _, rows in results])


def _tables_of(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The density's integer tables, computed on the CPU in float32 (same numbers on every call)."""
    density = model.density
    device = next(density.parameters()).device
    try:
        return density.cpu().integer_tables()
    finally:
        density.to(device)

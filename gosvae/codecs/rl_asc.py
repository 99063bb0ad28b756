"""RL-ASC (Huang et al., arXiv 2208.04094) as codec ``rl-asc``: semantic concepts, per-concept levels.

Transmitter: the teacher segments the image; its label map, downscaled by 8 (majority vote), is
``s_d``; the encoder's features at (H/8, W/8) are cut into one concept per class present; each
concept gets a quantisation level (``allocation``: the trained agent's choice, ``finest`` for
simplified RL-ASC, or one fixed level for all); the nearest centres are Huffman-coded (``coder:
huffman``, the paper; ``range`` uses the same tables with range coding). Packets
(:mod:`gosvae.codecs.rl_asc_packets`): first ``s_d`` and the level of every concept (Deflate),
then one packet per concept whose level sends bits.

Receiver: the generator rebuilds the image from the quantised concepts and ``s_d``.

- **A concept packet lost** (or damaged): that concept's features are those of the coarsest level
  (a single centre, 0), exactly what the agent chooses for a concept it drops: the generator still
  paints the class from ``s_d`` (its SPADE branch and the class's head), without the concept's
  texture. Concealed fraction: lost concept packets / all packets.
- **The semantic packet lost**: without ``s_d`` the receiver knows neither where the concepts are
  nor their levels, so nothing can be placed; the image is mid-grey and ``failed`` (concealed 1.0).
  The concept packets alone are useless, which is why the map goes first and is small.

Example
-------
>>> codec = build_codec("rl-asc", model="rl-asc-camvid-n4")             # doctest: +SKIP
>>> streams = codec.encode(images)              # images (B, 3, H, W) in [0, 1], H, W multiples of 8
>>> out = codec.decode([s.packets for s in streams], image_size=images.shape[-2:])
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Sequence, Union

import numpy as np
import torch
from pydantic import Field, PositiveInt

from gosvae.codecs.base import Bitstream, Codec, CodecParams, DecodedBatch, ReceivedPackets
from gosvae.codecs.rl_asc_packets import pack_concept, pack_semantic, parse_concept, unpack_semantic
from gosvae.errors import UserError
from gosvae.registry import register_codec

__all__ = ["RLASCCodec", "RLASCParams"]

_CODER_IDS = {"huffman": 1, "range": 2}


class RLASCParams(CodecParams):
    """Parameters of the ``rl-asc`` codec."""

    model: str = Field(description="zoo name, or folder / NAME.json of an exported rl-asc model")
    allocation: Optional[Union[Literal["agent", "finest"], int]] = Field(
        None, description="levels: 'agent' (RL-ASC), 'finest' (simplified RL-ASC), or one level for all; default: the model's")
    coder: Literal["huffman", "range"] = Field("huffman", description="entropy coder of the concepts (tables of the model)")
    teacher: Optional[str] = Field(None, description="teacher giving the semantic map; default: the one the model was trained with")
    batch_size: PositiveInt = Field(8, description="images per network pass inside one call")


@register_codec("rl-asc", description="RL-ASC: semantic concepts, RL-chosen quantisation levels, GAN decoder")
class RLASCCodec(Codec):
    """A trained :class:`~gosvae.models.rl_asc.RLASC` with its packet format.

    Parameters
    ----------
    model : RLASC, optional, positional only
        An in-memory model (training, tests); without it ``params.model`` is loaded lazily.
    teacher : Teacher, optional
        An in-memory teacher (with ``model``); otherwise ``params.teacher`` or the entry's.
    name : str | None
        With an in-memory model: its name (packets carry its 16-bit hash).
    """

    Params = RLASCParams
    codec_name = "rl-asc"
    params: RLASCParams

    def __init__(self, model: Any = None, /, *, teacher: Any = None, name: str | None = None,
                 default_allocation: str = "agent", **params: Any) -> None:
        from gosvae.source_coding import short_model_id

        if model is not None:
            params.setdefault("model", name or "in-memory")
        super().__init__(**params)
        if model is not None:
            self.entry, self.name, self._model, self._arch = None, name or self.params.model, model.eval(), dict(model.config)
            self._default_allocation, self._teacher_name = default_allocation, self.params.teacher
        else:
            from gosvae.zoo import resolve_entry

            self.entry = resolve_entry(self.params.model, kind="codec")
            if self.entry.arch != "rl-asc":
                raise UserError(f"model '{self.params.model}' is a '{self.entry.arch}' codec, not an rl-asc model")
            self.name, self._model, self._arch = self.entry.name, None, dict(self.entry.arch_config)
            self._default_allocation = str(self.entry.extra.get("allocation", "agent"))
            self._teacher_name = self.params.teacher or self.entry.extra.get("teacher")
        self._teacher = teacher
        self.model_id = short_model_id(self.name)
        allocation = self.allocation
        levels = len(self._arch.get("level_sizes", ()))
        if isinstance(allocation, int) and not 0 <= allocation < levels:
            raise UserError(f"allocation: level {allocation} does not exist (the model has levels 0..{levels - 1})")

    @property
    def allocation(self) -> Union[str, int]:
        return self.params.allocation if self.params.allocation is not None else self._default_allocation

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            from gosvae.models.rl_asc import RLASC
            from gosvae.zoo import build_entry_model

            self._model = build_entry_model(self.entry, RLASC)
        return self._model

    @property
    def teacher(self) -> torch.nn.Module:
        if self._teacher is None:
            if not self._teacher_name:
                raise UserError(f"rl-asc model '{self.name}': no teacher to segment the images; set params.teacher")
            from gosvae.teachers import load_teacher

            self._teacher = load_teacher(self._teacher_name)
            if self._teacher.num_classes != self._arch["num_classes"]:
                raise UserError(f"teacher '{self._teacher_name}' has {self._teacher.num_classes} classes, the rl-asc "
                                f"model '{self.name}' was trained for {self._arch['num_classes']}")
        return self._teacher

    def size_multiple(self) -> int:
        return 8

    def num_parameters(self) -> int | None:
        return sum(p.numel() for name, p in self.model.named_parameters())

    def describe(self) -> dict[str, Any]:
        scheme = "RL-ASC" if self.allocation == "agent" else "simplified RL-ASC" if self.allocation == "finest" else "RL-ASC (fixed level)"
        return {"codec": "rl-asc", "scheme": scheme, "model": self.params.model, "allocation": self.allocation,
                "concept_channels": int(self._arch.get("concept_channels", 0)), "coder": self.params.coder,
                "semantic_map": "deflate", "teacher": self._teacher_name or "in-memory",
                "concealment": "coarsest-level concept; lost map: failed", "rate_control": "none"}

    @classmethod
    def default_label(cls, params: RLASCParams) -> str:  # type: ignore[override]
        from pathlib import Path

        from gosvae.zoo import is_model_path

        name = Path(params.model).stem if is_model_path(params.model) else params.model
        return f"rl-asc/{name}" + (f"/{params.allocation}" if params.allocation is not None else "")

    # --- transmitter -----------------------------------------------------------------------------
    def _coders(self) -> list[Any]:
        from gosvae.source_coding.coders import build_coder

        counts = self.model.symbol_counts.detach().double().cpu().numpy()
        sizes = self.model.quantizer.level_sizes
        return [None if size == 1 else build_coder(self.params.coder, prior=counts[q, :size]) for q, size in enumerate(sizes)]

    @torch.no_grad()
    def analyse(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (B, 3, H, W) → (features (B, n, H/8, W/8), ``s_d`` (B, H/8, W/8), levels (B, m))."""
        model, parts = self.model, []
        for chunk in images.float().split(self.params.batch_size):
            labels_d = model.semantic_map(self.teacher.predict(chunk))
            features = model.encoder(chunk)
            if self.allocation == "agent":
                levels = model.agent.greedy_levels(features, labels_d)
            elif self.allocation == "finest":
                levels = model.finest_levels(len(chunk))
            else:
                levels = torch.full((len(chunk), model.num_classes), int(self.allocation), dtype=torch.int64)
            parts.append((features, labels_d, levels))
        return tuple(torch.cat([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]

    def encode(self, images: torch.Tensor, *, byte_budgets: Sequence[int] | None = None) -> list[Bitstream]:
        """Images (B, 3, H, W) in [0, 1], H and W multiples of 8 → one :class:`Bitstream` per image
        (semantic packet, then one packet per coded concept). ``byte_budgets`` is ignored."""
        if images.dim() != 4 or images.shape[-2] % 8 or images.shape[-1] % 8:
            raise UserError(f"rl-asc: images must be (B, 3, H, W) with H and W multiples of 8, got {tuple(images.shape)}")
        features, labels_d, levels = self.analyse(images)
        coders, quantizer = self._coders(), self.model.quantizer
        streams = []
        for f, s_d, lv in zip(features, labels_d, levels):
            s_np = s_d.cpu().numpy().astype(np.uint8)
            classes = np.unique(s_np).tolist()
            packets = [pack_semantic(s_np, {c: int(lv[c]) for c in classes}, model_id=self.model_id)]
            for c in classes:
                level = int(lv[c])
                if coders[level] is None:
                    continue
                symbols = quantizer.symbols(f[:, s_d == c], level).cpu().numpy().reshape(-1)
                payload = coders[level].encode(symbols)
                packets.append(pack_concept(class_id=c, level=level, coder_id=_CODER_IDS[self.params.coder],
                                            payload=payload, model_id=self.model_id))
            streams.append(Bitstream(packets))
        return streams

    # --- receiver --------------------------------------------------------------------------------
    def decode_one(self, packets: ReceivedPackets, *, shape: tuple[int, int], coders: list[Any]) -> tuple[torch.Tensor, torch.Tensor, float] | None:
        """One image's packets → (quantised features (n, h, w), ``s_d`` (h, w), concealed fraction),
        or ``None`` without a usable semantic packet. Never raises."""
        from gosvae.source_coding.coders import CorruptPayloadError

        model, n = self.model, self.model.concept_channels
        first = packets[0] if packets else None
        semantic = None if first is None else unpack_semantic(bytes(first), model_id=self.model_id, shape=shape,
                                                              num_classes=model.num_classes, num_levels=model.num_levels)
        if semantic is None:
            return None
        s_d = torch.from_numpy(semantic.labels_d.astype(np.int64))
        quantized = torch.zeros(n, *shape)
        expected = {c: lv for c, lv in semantic.levels.items() if coders[lv] is not None}
        received: set[int] = set()
        for packet in packets[1:]:
            if packet is None:
                continue
            concept = parse_concept(bytes(packet), model_id=self.model_id)
            if (concept is None or concept.class_id not in expected or concept.class_id in received
                    or concept.level != expected[concept.class_id] or concept.coder_id != _CODER_IDS[self.params.coder]):
                continue
            mask = s_d == concept.class_id
            count = n * int(mask.sum())
            try:
                symbols = coders[concept.level].decode(concept.payload, count=count)
            except (CorruptPayloadError, ValueError):
                continue
            values = model.quantizer.values(torch.from_numpy(symbols).view(n, -1), concept.level)
            quantized[:, mask] = values
            received.add(concept.class_id)
        lost = len(expected) - len(received)
        return quantized, s_d, lost / (1 + len(expected))

    @torch.no_grad()
    def decode(self, received: Sequence[ReceivedPackets], *, image_size: tuple[int, int]) -> DecodedBatch:
        """Received packets → (B, 3, H, W) images; concept packets lost → coarsest level; semantic
        packet lost → mid-grey image, ``failed``."""
        height, width = int(image_size[0]), int(image_size[1])
        if height % 8 or width % 8:
            raise UserError(f"rl-asc: image size must be a multiple of 8, got {height}x{width}")
        shape, coders = (height // 8, width // 8), self._coders()
        results = [self.decode_one(list(packets), shape=shape, coders=coders) for packets in received]
        images = torch.full((len(results), 3, height, width), 0.5)
        usable = [i for i, r in enumerate(results) if r is not None]
        for start in range(0, len(usable), self.params.batch_size):
            rows = usable[start:start + self.params.batch_size]
            quantized = torch.stack([results[i][0] for i in rows])
            s_d = torch.stack([results[i][1] for i in rows])
            images[rows] = self.model.decode(quantized, s_d).image.clamp(0, 1).cpu()
        concealed = [1.0 if r is None else float(r[2]) for r in results]
        return DecodedBatch(images=images, concealed_fraction=concealed, failed=[r is None for r in results],
                            details=[{"semantic_map": r is not None} for r in results])

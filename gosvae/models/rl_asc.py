"""RL-ASC (Huang, Gao, Tao, Du and Lu, arXiv 2208.04094): semantic concepts, per-concept quantisation levels.

The transmitter half of RL-ASC and the model that ties it to the generative decoder:

- **Semantic concepts.** The teacher's label map ``s`` (B, H, W) is downscaled by 8 to ``s_d``
  (majority vote in each 8×8 block, :func:`downscale_labels`). The encoder E (a 7×7 convolution and
  three stride-2 4×4 convolutions, each with instance norm and LeakyReLU(0.2), then a 1×1
  projection) maps ``x`` to ``n`` channels at (H/8, W/8): ``f``. The concept of class ``m`` is
  ``f ⊙ s_d(m)``, the features where ``s_d`` is ``m``.
- **Classification module** (:class:`ConceptClassifier`): each concept map is max-pooled to ``n``
  values, a shared linear layer and a softmax classify it; its cross entropy ``L_C`` keeps the
  concepts discriminative.
- **Quantisation** (:class:`LevelQuantizer`): each concept gets one of Q levels, a level being a
  set of scalar centres (by default 1, 2, 3, 4, 6 and 8 centres evenly spread over [-1, 1]; one
  centre sends nothing). The forward pass is the nearest centre; the backward pass is the soft
  quantiser ``Σ exp(-σ|f - l|) l / Σ exp(-σ|f - l|)``.
- **Decoder**: :class:`~gosvae.models.rl_asc_generator.RLASCGenerator` rebuilds the image from the
  quantised features and ``s_d`` (upsampled, nearest).

The Huffman tables of the levels (symbol frequencies, ``symbol_counts``) are buffers of the model,
estimated on the training data (:meth:`RLASC.fit_symbol_counts`), so transmitter and receiver share
them through the weights file.

Example
-------
>>> model = RLASC(num_classes=11, concept_channels=4, width=8)
>>> x, labels = torch.rand(2, 3, 64, 64), torch.randint(0, 11, (2, 64, 64))
>>> out = model(x, labels, levels=model.finest_levels(2))
>>> out.image.shape, out.features.shape
(torch.Size([2, 3, 64, 64]), torch.Size([2, 4, 8, 8]))
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gosvae.errors import UserError
from gosvae.models.rl_asc_agent import AllocationAgent
from gosvae.models.rl_asc_generator import RLASCGenerator, labels_onehot

__all__ = [
    "DEFAULT_LEVEL_SIZES",
    "DOWNSCALE",
    "ConceptClassifier",
    "ConceptEncoder",
    "LevelQuantizer",
    "RLASC",
    "RLASCOutput",
    "downscale_labels",
    "huffman_code_lengths",
    "upscale_labels",
]

DOWNSCALE = 8
"""The semantic map and the concept features are at (H/8, W/8)."""

DEFAULT_LEVEL_SIZES: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
"""Centres of the Q = 6 quantisation levels, coarsest first."""


def downscale_labels(labels: torch.Tensor, *, num_classes: int, factor: int = DOWNSCALE) -> torch.Tensor:
    """Majority vote of each ``factor``×``factor`` block: (B, H, W) int64 → (B, H/f, W/f) int64.

    Ties go to the lowest class id. H and W must be multiples of ``factor``.
    """
    if labels.dim() != 3 or labels.shape[-2] % factor or labels.shape[-1] % factor:
        raise UserError(f"labels must be (B, H, W) with H and W multiples of {factor}, got {tuple(labels.shape)}")
    counts = F.avg_pool2d(labels_onehot(labels, num_classes), factor)
    return counts.argmax(dim=1)


def upscale_labels(labels_d: torch.Tensor, *, factor: int = DOWNSCALE) -> torch.Tensor:
    """Nearest upsampling of a label map: (B, h, w) int64 → (B, h·f, w·f) int64."""
    return labels_d.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def huffman_code_lengths(counts: Sequence[float]) -> np.ndarray:
    """Code-word lengths in bits of a Huffman code for symbol frequencies ``counts`` (K,) > 0.

    constriction builds the same code for coding but does not expose its lengths, which the rate
    term of training needs; this is the textbook merge of the two least frequent subtrees (ties
    by insertion order). One symbol → length 0 (nothing is sent).
    """
    counts = [float(c) for c in counts]
    if len(counts) == 1:
        return np.zeros(1)
    heap = [(c, i, [i]) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    lengths = np.zeros(len(counts))
    order = len(counts)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        lengths[s1 + s2] += 1
        heapq.heappush(heap, (c1 + c2, order, s1 + s2))
        order += 1
    return lengths


class ConceptEncoder(nn.Module):
    """E: (B, 3, H, W) in [0, 1] → (B, n, H/8, W/8) concept features (conv + IN + LeakyReLU).

    Parameters
    ----------
    concept_channels : int
        ``n``, the channels sent per position (the paper's rate modes: 16 / 32 / 64).
    feature_channels : int
        ``N``, the channels before the 1×1 projection.
    width : int
        Channels of the first stage (doubled at each of the three stride-2 stages, capped at N).
    """

    def __init__(self, *, concept_channels: int, feature_channels: int = 64, width: int = 32) -> None:
        super().__init__()
        widths = [width, min(2 * width, feature_channels), min(4 * width, feature_channels), feature_channels]
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 7, padding=3), nn.InstanceNorm2d(widths[0], affine=True),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.InstanceNorm2d(c_out, affine=True),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.body = nn.Sequential(*layers)
        self.project = nn.Conv2d(feature_channels, concept_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.body(2.0 * x - 1.0))


class ConceptClassifier(nn.Module):
    """The classification module: max-pooled concept maps → class logits (shared linear layer).

    Input: ``features`` (B, n, h, w), ``labels_d`` (B, h, w) int64. Output: ``(logits (P, m),
    targets (P,) int64)``, one row per (image, class present in ``labels_d``).
    """

    def __init__(self, *, concept_channels: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.fc = nn.Linear(concept_channels, num_classes)

    def forward(self, features: torch.Tensor, labels_d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        onehot = labels_onehot(labels_d, self.num_classes)  # (B, m, h, w)
        present = onehot.flatten(2).amax(dim=2) > 0  # (B, m)
        pooled = (features.unsqueeze(1) * onehot.unsqueeze(2)).flatten(3).amax(dim=3)  # (B, m, n): f ⊙ s_d(m), max-pooled
        targets = torch.arange(self.num_classes, device=features.device).expand_as(present)[present]
        return self.fc(pooled[present]), targets


class LevelQuantizer(nn.Module):
    """Per-position scalar quantisation with one of Q levels (sets of centres), straight-through soft.

    Parameters
    ----------
    level_sizes : sequence of int
        Centres of each level, coarsest first; level ``q`` has ``level_sizes[q]`` centres evenly
        spread over ``[-bound, bound]`` (one centre: 0).
    sigma : float
        Softness of the backward pass (larger: closer to hard).
    """

    def __init__(self, *, level_sizes: Sequence[int] = DEFAULT_LEVEL_SIZES, bound: float = 1.0, sigma: float = 8.0) -> None:
        super().__init__()
        sizes = [int(s) for s in level_sizes]
        if not sizes or any(s < 1 or s > 255 for s in sizes):
            raise UserError(f"level_sizes must be 1..255 centres per level, got {list(level_sizes)}")
        self.level_sizes, self.bound, self.sigma = tuple(sizes), float(bound), float(sigma)
        self.centres = [torch.linspace(-bound, bound, s) if s > 1 else torch.zeros(1) for s in sizes]

    @property
    def num_levels(self) -> int:
        return len(self.level_sizes)

    def symbols(self, features: torch.Tensor, level: int) -> torch.Tensor:
        """Index of the nearest centre of ``level``: (…) float → (…) int64 in [0, level_sizes[level])."""
        centres = self.centres[level].to(features)
        return (features.unsqueeze(-1) - centres).abs().argmin(dim=-1)

    def values(self, symbols: torch.Tensor, level: int) -> torch.Tensor:
        """Centre values of ``symbols`` at ``level``: (…) int64 → (…) float32."""
        return self.centres[level][symbols]

    def forward(self, features: torch.Tensor, level_map: torch.Tensor) -> torch.Tensor:
        """``features`` (B, n, h, w), ``level_map`` (B, h, w) int64 → quantised features (B, n, h, w):
        the nearest centre of each position's level forward, the soft quantiser's gradient backward."""
        out = torch.zeros_like(features)
        for level in level_map.unique().tolist():
            centres = self.centres[level].to(features)
            mask = (level_map == level).unsqueeze(1)
            distance = (features.unsqueeze(-1) - centres).abs()
            hard = centres[distance.argmin(dim=-1)]
            soft = (torch.softmax(-self.sigma * distance, dim=-1) * centres).sum(dim=-1)
            out = torch.where(mask, soft + (hard - soft).detach(), out)
        return out


@dataclass
class RLASCOutput:
    """What :class:`RLASC` computes on a batch.

    Attributes: ``image`` (B, 3, H, W) in [0, 1]; ``features`` (B, n, h, w) before quantisation;
    ``quantized`` (B, n, h, w); ``labels_d`` (B, h, w) int64; ``level_map`` (B, h, w) int64;
    ``generator`` the :class:`~gosvae.models.rl_asc_generator.GeneratorOutput`.
    """

    image: torch.Tensor
    features: torch.Tensor
    quantized: torch.Tensor
    labels_d: torch.Tensor
    level_map: torch.Tensor
    generator: Any


class RLASC(nn.Module):
    """Encoder E, classification module, level quantiser, generative decoder and agent of RL-ASC.

    Parameters
    ----------
    num_classes : int
        ``m``, classes of the teacher that gives the semantic map.
    concept_channels : int
        ``n`` (rate mode).
    feature_channels, width : int
        Encoder widths (``N`` and the first stage); ``width`` is also the generator's base width.
    level_sizes : sequence of int
        Centres per quantisation level, coarsest first.
    local_blocks, global_blocks : int
        Residual blocks of the local generator, SPADE blocks of the global one.
    agent_hidden : int
        Width of the bit-allocation agent (:class:`~gosvae.models.rl_asc_agent.AllocationAgent`).
    """

    def __init__(self, *, num_classes: int, concept_channels: int, feature_channels: int = 64, width: int = 32,
                 level_sizes: Sequence[int] = DEFAULT_LEVEL_SIZES, local_blocks: int = 5, global_blocks: int = 3,
                 agent_hidden: int = 64) -> None:
        super().__init__()
        if not 1 <= num_classes <= 255:
            raise UserError(f"num_classes must be 1..255, got {num_classes}")
        self.num_classes, self.concept_channels = int(num_classes), int(concept_channels)
        self._config = {"num_classes": int(num_classes), "concept_channels": int(concept_channels),
                        "feature_channels": int(feature_channels), "width": int(width),
                        "level_sizes": [int(s) for s in level_sizes], "local_blocks": int(local_blocks),
                        "global_blocks": int(global_blocks), "agent_hidden": int(agent_hidden)}
        self.encoder = ConceptEncoder(concept_channels=concept_channels, feature_channels=feature_channels, width=width)
        self.classifier = ConceptClassifier(concept_channels=concept_channels, num_classes=num_classes)
        self.quantizer = LevelQuantizer(level_sizes=level_sizes)
        self.generator = RLASCGenerator(concept_channels=concept_channels, num_classes=num_classes, width=width,
                                        local_blocks=local_blocks, global_blocks=global_blocks)
        self.agent = AllocationAgent(concept_channels=concept_channels, num_levels=self.quantizer.num_levels,
                                     num_classes=num_classes, hidden=agent_hidden)
        lmax = max(self.quantizer.level_sizes)
        self.register_buffer("symbol_counts", torch.ones(self.quantizer.num_levels, lmax))

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._config)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RLASC":
        return cls(**config)

    @property
    def num_levels(self) -> int:
        return self.quantizer.num_levels

    def finest_levels(self, batch: int) -> torch.Tensor:
        """(B, m) int64: every concept at the finest level (simplified RL-ASC)."""
        return torch.full((batch, self.num_classes), self.num_levels - 1, dtype=torch.int64)

    def level_map(self, labels_d: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """Per-position level: ``labels_d`` (B, h, w), ``levels`` (B, m) int64 → (B, h, w) int64."""
        return torch.gather(levels.to(labels_d.device), 1, labels_d.flatten(1)).view_as(labels_d)

    def semantic_map(self, labels: torch.Tensor) -> torch.Tensor:
        """The teacher's full-size labels (B, H, W) → ``s_d`` (B, H/8, W/8)."""
        return downscale_labels(labels, num_classes=self.num_classes)

    def decode(self, quantized: torch.Tensor, labels_d: torch.Tensor):
        """Quantised features (B, n, h, w) and ``s_d`` (B, h, w) → generator output (image (B, 3, 8h, 8w))."""
        return self.generator(quantized, upscale_labels(labels_d))

    def forward(self, x: torch.Tensor, labels: torch.Tensor, *, levels: torch.Tensor) -> RLASCOutput:
        """``x`` (B, 3, H, W) in [0, 1], the teacher's ``labels`` (B, H, W) on ``x``, per-class
        ``levels`` (B, m) int64 → :class:`RLASCOutput`."""
        labels_d = self.semantic_map(labels)
        features = self.encoder(x)
        level_map = self.level_map(labels_d, levels)
        quantized = self.quantizer(features, level_map)
        generated = self.decode(quantized, labels_d)
        return RLASCOutput(image=generated.image, features=features, quantized=quantized, labels_d=labels_d,
                           level_map=level_map, generator=generated)

    # --- rate ------------------------------------------------------------------------------------
    def code_lengths(self) -> list[np.ndarray]:
        """Huffman code lengths in bits per centre of each level (from ``symbol_counts``)."""
        counts = self.symbol_counts.detach().cpu().double().numpy()
        return [huffman_code_lengths(counts[q, :size]) for q, size in enumerate(self.quantizer.level_sizes)]

    @torch.no_grad()
    def concept_bits(self, features: torch.Tensor, labels_d: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """Huffman bits of every concept's payload: (B, m) float64 (0 for absent classes).

        ``features`` (B, n, h, w) before quantisation; ``levels`` (B, m).
        """
        lengths = [torch.from_numpy(length) for length in self.code_lengths()]
        bits = torch.zeros(labels_d.shape[0], self.num_classes, dtype=torch.float64)
        level_map = self.level_map(labels_d, levels)
        for level in level_map.unique().tolist():
            symbols = self.quantizer.symbols(features, level).cpu()  # (B, n, h, w)
            per_position = lengths[level][symbols].sum(dim=1)  # (B, h, w)
            where = (level_map == level).cpu()
            for b in range(labels_d.shape[0]):
                cls = labels_d[b].cpu()[where[b]]
                bits[b].index_add_(0, cls, per_position[b][where[b]])
        return bits

    @torch.no_grad()
    def fit_symbol_counts(self, features: torch.Tensor, *, prior_count: float = 1.0) -> None:
        """Set ``symbol_counts`` from features (any shape) quantised at every level, plus
        ``prior_count`` per centre so that every centre keeps a code word."""
        counts = torch.zeros_like(self.symbol_counts)
        for q, size in enumerate(self.quantizer.level_sizes):
            counts[q, :size] = torch.bincount(self.quantizer.symbols(features, q).flatten().cpu(), minlength=size)[:size].float()
            counts[q, :size] += prior_count
        self.symbol_counts.copy_(counts)

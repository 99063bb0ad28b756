"""Teachers for mask-classification models of ``transformers``: Mask2Former and OneFormer.

These models predict ``Q`` queries, each a class distribution over ``m`` classes plus "no
object" and a mask at a quarter of the input resolution. Semantic probabilities follow the
semantic inference of the original Mask2Former and OneFormer code: mask logits upsampled
bilinearly to the input size, then

    p(c | pixel) ∝ Σ_q softmax(class_logits_q)[c] · sigmoid(mask_logit_q(pixel)),   c < m,

divided by the per-pixel sum over ``c`` so that they sum to one (a positive per-pixel factor:
the arg-max is that of ``post_process_semantic_segmentation``). Upsampling all ``Q`` masks costs
``B·Q·H·W`` floats (about 200 MB per 512×1024 image for ``Q = 100``); :meth:`logits` works at the
mask resolution and is 16 times cheaper.

Example
-------
>>> class_logits = torch.randn(2, 10, 6)       # B=2, Q=10 queries, m=5 classes + no-object
>>> mask_logits = torch.randn(2, 10, 16, 16)   # masks at H/4
>>> semantic_probabilities_from_queries(class_logits, mask_logits, size=(64, 64)).shape
torch.Size([2, 5, 64, 64])
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Sequence

import torch
from torch.nn import functional as F

from gosvae.teachers.hf_common import HFTeacher

if TYPE_CHECKING:
    from transformers import PreTrainedModel

SEMANTIC_TASK_TOKEN_IDS: tuple[int, ...] = (49406, 518, 10549, 533, 29119, 1550, 49407)
"""CLIP token ids of "the task is semantic" (start, the, task, is, seman, tic, end).

``OneFormerProcessor`` tokenizes the task prompt with the checkpoint's CLIP tokenizer, padded
to ``task_seq_len`` and multiplied by the attention mask, so padding positions are 0. The ids
are written out here so that no tokenizer (and no hub download) is needed."""


def semantic_probabilities_from_queries(
    class_queries_logits: torch.Tensor,
    masks_queries_logits: torch.Tensor,
    *,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Per-pixel semantic class probabilities from mask-classification query outputs.

    Input
    -----
    class_queries_logits : (B, Q, m + 1) float
        Class logits of each query; the last class is "no object" and is dropped.
    masks_queries_logits : (B, Q, h, w) float
        Mask logits of each query.
    size : (H, W) or None
        Size to which the mask logits are upsampled (bilinear, ``align_corners=False``) before
        the sigmoid; ``None`` keeps ``(h, w)``.

    Output
    ------
    (B, m, H, W) float, non-negative, sums to 1 over dim 1.
    """
    if size is not None and tuple(masks_queries_logits.shape[-2:]) != tuple(size):
        masks_queries_logits = F.interpolate(masks_queries_logits, size=size, mode="bilinear", align_corners=False)
    class_probabilities = class_queries_logits.softmax(dim=-1)[..., :-1]
    scores = torch.einsum("bqc,bqhw->bchw", class_probabilities, masks_queries_logits.sigmoid())
    # The sum only vanishes if every mask underflows to 0; the floor then keeps the result finite.
    return scores / scores.sum(dim=1, keepdim=True).clamp_min(torch.finfo(scores.dtype).tiny)


class MaskClassificationTeacher(HFTeacher):
    """Base of teachers for query-based mask-classification models.

    Subclasses implement :meth:`query_logits`. :meth:`logits` returns the logarithm of the
    semantic probabilities at the mask resolution (H/4, W/4): valid logits (their softmax gives
    those probabilities back) for divergences computed cheaply at that resolution.
    :meth:`features` returns the backbone (pixel-level encoder) feature maps.
    """

    def query_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits (B, Q, m + 1) and mask logits (B, Q, h, w) of the queries, for ``x`` in [0, 1]."""
        raise NotImplementedError

    def class_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class probabilities.

        Input: ``x`` (B, 3, H, W) float in [0, 1].
        Output: (B, m, H, W), dtype of the model, non-negative, sums to 1 over dim 1.
        """
        class_logits, mask_logits = self.query_logits(x)
        return semantic_probabilities_from_queries(class_logits, mask_logits, size=tuple(x.shape[-2:]))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Log semantic probabilities (B, m, h, w) at the mask resolution, for ``x`` (B, 3, H, W) in [0, 1]."""
        class_logits, mask_logits = self.query_logits(x)
        probabilities = semantic_probabilities_from_queries(class_logits, mask_logits)
        return probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny).log()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone feature maps, each (B, C_i, H_i, W_i) (strides 4, 8, 16, 32 for Swin)."""
        backbone = self.model.model.pixel_level_module.encoder
        return list(backbone(self.pixel_values(x)).feature_maps)


class Mask2FormerTeacher(MaskClassificationTeacher):
    """A ``Mask2FormerForUniversalSegmentation`` checkpoint as a frozen semantic teacher."""

    model_type = "mask2former"
    hf_model_class = "Mask2FormerForUniversalSegmentation"

    def query_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.model(pixel_values=self.pixel_values(x))
        return output.class_queries_logits, output.masks_queries_logits


class OneFormerTeacher(MaskClassificationTeacher):
    """A ``OneFormerForUniversalSegmentation`` checkpoint as a frozen teacher, on the semantic task.

    The task prompt "the task is semantic" is fed as token ids (:data:`SEMANTIC_TASK_TOKEN_IDS`
    zero-padded to ``config.task_seq_len``). OneFormer switches its dropout on with
    ``config.is_training`` rather than with ``.train()``; checkpoints are loaded with
    ``is_training=False`` so that the teacher is deterministic.
    """

    model_type = "oneformer"
    hf_model_class = "OneFormerForUniversalSegmentation"
    config_overrides = MappingProxyType({"is_training": False})

    def __init__(self, model: "PreTrainedModel", *, mean: Sequence[float], std: Sequence[float]) -> None:
        if getattr(model.config, "is_training", False):
            raise ValueError(
                "OneFormer config: is_training is true (dropout always on); build the model with is_training=False"
            )
        super().__init__(model, mean=mean, std=std)
        sequence_length = int(model.config.task_seq_len)
        if sequence_length < len(SEMANTIC_TASK_TOKEN_IDS):
            raise ValueError(f"OneFormer config: task_seq_len {sequence_length} is shorter than the task prompt")
        task_inputs = torch.zeros(1, sequence_length, dtype=torch.int64)
        task_inputs[0, : len(SEMANTIC_TASK_TOKEN_IDS)] = torch.tensor(SEMANTIC_TASK_TOKEN_IDS)
        self.register_buffer("task_inputs", task_inputs, persistent=False)

    def query_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pixel_values = self.pixel_values(x)
        task_inputs = self.task_inputs.expand(pixel_values.shape[0], -1)
        output = self.model(pixel_values=pixel_values, task_inputs=task_inputs)
        return output.class_queries_logits, output.masks_queries_logits

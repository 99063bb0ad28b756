"""Teachers for per-pixel classification models of ``transformers``: SegFormer and UperNet.

Both heads predict class logits at a quarter of the input resolution; the teacher upsamples them
bilinearly to the input size (``align_corners=False``, as ``transformers`` does in the models and
in ``post_process_semantic_segmentation``) and applies a softmax over classes.

Example
-------
>>> from transformers import SegformerConfig, SegformerForSemanticSegmentation   # doctest: +SKIP
>>> model = SegformerForSemanticSegmentation(SegformerConfig(num_labels=5))       # doctest: +SKIP
>>> teacher = SegformerTeacher(model, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))  # doctest: +SKIP
>>> teacher(torch.rand(2, 3, 64, 96)).shape                                        # doctest: +SKIP
torch.Size([2, 5, 64, 96])
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from gosvae.teachers.hf_common import HFTeacher


class PixelClassificationTeacher(HFTeacher):
    """Base of teachers whose model outputs per-pixel class logits at a reduced resolution.

    Subclasses implement :meth:`logits`; class probabilities are the softmax over classes of the
    logits upsampled bilinearly to the input size.
    """

    def class_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class probabilities.

        Input: ``x`` (B, 3, H, W) float in [0, 1].
        Output: (B, m, H, W), dtype of the model, non-negative, sums to 1 over dim 1.
        """
        low_resolution_logits = self.logits(x)
        logits = F.interpolate(low_resolution_logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits.softmax(dim=1)


class SegformerTeacher(PixelClassificationTeacher):
    """A ``SegformerForSemanticSegmentation`` checkpoint as a frozen teacher.

    :meth:`logits` gives the decode head's output at ``(H/4, W/4)`` (rounded up); :meth:`features`
    the four encoder stages, ``(B, C_i, H/2^(i+2), W/2^(i+2))``.
    """

    model_type = "segformer"
    hf_model_class = "SegformerForSemanticSegmentation"

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, m, ceil(H/4), ceil(W/4)) from ``x`` (B, 3, H, W) in [0, 1]."""
        return self.model(pixel_values=self.pixel_values(x)).logits

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's hidden states, one (B, C_i, H_i, W_i) map per stage (strides 4, 8, 16, 32)."""
        encoder_output = self.model.segformer(pixel_values=self.pixel_values(x), output_hidden_states=True)
        return list(encoder_output.hidden_states)


class UperNetTeacher(PixelClassificationTeacher):
    """A ``UperNetForSemanticSegmentation`` checkpoint (ConvNeXt, Swin, ... backbone) as a teacher.

    ``transformers``' forward upsamples the decode head's logits to the input size and also runs
    the auxiliary (training-only) head; this teacher calls the backbone and the decode head
    directly, so :meth:`logits` stays at the head's resolution (stride 4) and nothing is wasted.
    :meth:`features` gives the backbone feature maps (``config.backbone_config.out_features``).
    """

    model_type = "upernet"
    hf_model_class = "UperNetForSemanticSegmentation"

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, m, h, w) at the decode head's resolution (stride 4) from ``x`` (B, 3, H, W)."""
        feature_maps = self.model.backbone(self.pixel_values(x)).feature_maps
        return self.model.decode_head(feature_maps)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone feature maps, each (B, C_i, H_i, W_i)."""
        return list(self.model.backbone(self.pixel_values(x)).feature_maps)

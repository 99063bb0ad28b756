"""Tiny random ``transformers`` segmentation checkpoints and reference computations for the teacher
adapter tests (test_hf_teachers.py): SegFormer, UperNet, Mask2Former and OneFormer models with their
image processors, transformers' own pre- and post-processing, and a numpy version of the
mask-classification semantic probabilities.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # read when huggingface_hub is imported: before transformers

from pathlib import Path
from typing import Callable

import numpy as np
import scipy.special
import torch
import transformers
from PIL import Image
from torch import nn

__all__ = [
    "BATCH", "BUILDERS", "CLASS_NAMES", "HEIGHT", "KINDS", "NUM_LABELS", "SEMANTIC_TASK_IDS", "WIDTH",
    "assert_same_decisions", "hf_model", "hf_pixel_values", "hf_processor", "hf_semantic_scores",
    "numpy_semantic_probabilities", "oneformer_semantic_outputs", "random_images", "save_checkpoint",
    "tiny_oneformer", "tiny_segformer",
]

NUM_LABELS = 5
CLASS_NAMES = ["road", "car", "sky", "person", "tree"]
BATCH, HEIGHT, WIDTH = 2, 64, 96  # multiples of 32, non-square to catch H/W swaps
# The task prompt "the task is semantic" as CLIP token ids (what OneFormerProcessor gives).
SEMANTIC_TASK_IDS = [49406, 518, 10549, 533, 29119, 1550, 49407]
KINDS = ["segformer", "upernet", "mask2former", "oneformer"]


# ---------------------------------------------------------------- tiny checkpoints


def label_maps() -> dict:
    return {"id2label": dict(enumerate(CLASS_NAMES)), "label2id": {n: i for i, n in enumerate(CLASS_NAMES)}}


def tiny_swin() -> transformers.SwinConfig:
    return transformers.SwinConfig(
        image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4,
        drop_path_rate=0.5, hidden_dropout_prob=0.5, out_features=["stage1", "stage2", "stage3", "stage4"],
    )


def tiny_segformer() -> tuple[nn.Module, object]:
    config = transformers.SegformerConfig(
        depths=[1, 1, 1, 1], sr_ratios=[8, 4, 2, 1], hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 2, 2],
        decoder_hidden_size=16, hidden_dropout_prob=0.5, classifier_dropout_prob=0.5, drop_path_rate=0.5,
        **label_maps(),
    )
    processor = transformers.SegformerImageProcessorPil(image_mean=[0.3, 0.5, 0.7], image_std=[0.2, 0.25, 0.3])
    return transformers.SegformerForSemanticSegmentation(config), processor


def tiny_upernet() -> tuple[nn.Module, object]:
    backbone = transformers.ConvNextConfig(
        hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], drop_path_rate=0.5,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = transformers.UperNetConfig(
        backbone_config=backbone, hidden_size=16, auxiliary_in_channels=24, auxiliary_channels=8, **label_maps()
    )
    # rescale_factor 2/255 then mean = std = 1: pixels mapped to [-1, 1] (k = 255 * rescale_factor = 2).
    processor = transformers.SegformerImageProcessorPil(
        rescale_factor=2 / 255, image_mean=[1.0, 1.0, 1.0], image_std=[1.0, 1.0, 1.0]
    )
    return transformers.UperNetForSemanticSegmentation(config), processor


def tiny_mask2former() -> tuple[nn.Module, object]:
    config = transformers.Mask2FormerConfig(
        backbone_config=tiny_swin(), num_queries=6, hidden_dim=32, mask_feature_size=32, feature_size=32,
        encoder_feedforward_dim=32, dim_feedforward=32, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
        dropout=0.5, **label_maps(),
    )
    processor = transformers.Mask2FormerImageProcessorPil(image_mean=[0.4, 0.45, 0.5], image_std=[0.3, 0.2, 0.1])
    return transformers.Mask2FormerForUniversalSegmentation(config), processor


def tiny_oneformer(*, is_training: bool = False) -> tuple[nn.Module, object]:
    config = transformers.OneFormerConfig(
        backbone_config=tiny_swin(), num_queries=6, hidden_dim=32, conv_dim=32, mask_dim=32,
        encoder_feedforward_dim=32, dim_feedforward=32, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
        text_encoder_width=64, text_encoder_num_layers=1, text_encoder_proj_layers=1, query_dec_layers=1,
        dropout=0.5, is_training=is_training, **label_maps(),
    )
    # Detectron2-style statistics in 0..255 without rescaling (k = 255).
    processor = transformers.OneFormerImageProcessorPil(
        do_rescale=False, image_mean=[120.0, 110.0, 100.0], image_std=[60.0, 55.0, 50.0]
    )
    return transformers.OneFormerForUniversalSegmentation(config), processor


BUILDERS: dict[str, Callable[[], tuple[nn.Module, object]]] = {
    "segformer": tiny_segformer, "upernet": tiny_upernet, "mask2former": tiny_mask2former, "oneformer": tiny_oneformer,
}


def save_checkpoint(folder: Path, model: nn.Module, processor: object) -> Path:
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def random_images(seed: int = 0, *, height: int = HEIGHT, width: int = WIDTH) -> tuple[torch.Tensor, list[Image.Image]]:
    """Random 8-bit RGB images, as a (B, 3, H, W) float tensor in [0, 1] and as PIL images."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(BATCH, height, width, 3), dtype=np.uint8)
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    return x, [Image.fromarray(p) for p in pixels]


def hf_model(kind: str, folder: Path) -> nn.Module:
    """The checkpoint loaded by transformers alone, independently of the teacher."""
    model_class = {
        "segformer": transformers.SegformerForSemanticSegmentation,
        "upernet": transformers.UperNetForSemanticSegmentation,
        "mask2former": transformers.Mask2FormerForUniversalSegmentation,
        "oneformer": transformers.OneFormerForUniversalSegmentation,
    }[kind]
    return model_class.from_pretrained(folder, local_files_only=True).eval()


def hf_processor(kind: str, folder: Path):
    processor_class = {
        "segformer": transformers.SegformerImageProcessorPil,
        "upernet": transformers.SegformerImageProcessorPil,  # UperNet checkpoints use SegFormer's processor
        "mask2former": transformers.Mask2FormerImageProcessorPil,
        "oneformer": transformers.OneFormerImageProcessorPil,
    }[kind]
    return processor_class.from_pretrained(folder)


def hf_pixel_values(processor, pil_images: list[Image.Image], **options) -> torch.Tensor:
    """The processor's model input for the images at their own size (no resizing)."""
    return processor(images=pil_images, do_resize=False, return_tensors="pt", **options)["pixel_values"]


def oneformer_semantic_outputs(model: nn.Module, pixel_values: torch.Tensor):
    """OneFormer's outputs for the semantic task, its prompt zero-padded as OneFormerProcessor does."""
    task_inputs = torch.zeros(pixel_values.shape[0], model.config.task_seq_len, dtype=torch.int64)
    task_inputs[:, : len(SEMANTIC_TASK_IDS)] = torch.tensor(SEMANTIC_TASK_IDS)
    return model(pixel_values=pixel_values, task_inputs=task_inputs)


def hf_semantic_scores(processor, outputs, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' post-processing: labels (B, H, W) and its per-class scores (B, m, H, W)."""
    results = processor.post_process_semantic_segmentation(
        outputs, target_sizes=[size] * BATCH, return_segmentation_scores=True
    )
    labels = torch.stack([r["segmentation"] for r in results])
    scores = torch.stack([r["segmentation_scores"] for r in results])
    return labels, scores


def assert_same_decisions(probabilities: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor) -> None:
    """Our arg-max equals transformers' wherever its top two scores are not a float tie."""
    top_two = scores.topk(2, dim=1).values
    decided = (top_two[:, 0] - top_two[:, 1]) > 1e-4 * top_two[:, 0].abs().clamp_min(1e-3)
    assert decided.float().mean() > 0.9, "the test model's classes are too close to call"
    assert torch.equal(probabilities.argmax(dim=1)[decided], labels[decided])


def numpy_semantic_probabilities(class_logits: np.ndarray, mask_logits: np.ndarray) -> np.ndarray:
    """Σ_q softmax(class)[q, :-1] · sigmoid(mask_q), normalised over classes, in float64."""
    class_probabilities = scipy.special.softmax(class_logits.astype(np.float64), axis=-1)[..., :-1]
    scores = np.einsum("bqc,bqhw->bchw", class_probabilities, scipy.special.expit(mask_logits.astype(np.float64)))
    return scores / scores.sum(axis=1, keepdims=True)

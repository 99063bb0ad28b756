"""Tests of the Hugging Face ``transformers`` teacher adapters (gosvae/teachers/hf*.py).

Tiny random SegFormer, UperNet, Mask2Former and OneFormer models are saved with their image
processor's ``preprocessor_config.json`` into temporary folders, loaded through
:func:`load_hf_teacher`, and checked against ``transformers`` itself (its image processors and
``post_process_semantic_segmentation``) and against numpy/scipy computations.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # read when huggingface_hub is imported: before transformers

import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import scipy.special
import torch
import transformers
from PIL import Image
from torch import nn

from gosvae.errors import ConfigError, MissingWeightsError, UserError
from gosvae.teachers.base import Teacher
from gosvae.teachers.hf import load_hf_teacher
from gosvae.teachers.hf_common import normalisation_from_preprocessor_config
from gosvae.teachers.hf_mask_classification import OneFormerTeacher, semantic_probabilities_from_queries

NUM_LABELS = 5
CLASS_NAMES = ["road", "car", "sky", "person", "tree"]
BATCH, HEIGHT, WIDTH = 2, 64, 96  # multiples of 32, non-square to catch H/W swaps
# The task prompt "the task is semantic" as CLIP token ids (what OneFormerProcessor gives).
SEMANTIC_TASK_IDS = [49406, 518, 10549, 533, 29119, 1550, 49407]
KINDS = ["segformer", "upernet", "mask2former", "oneformer"]


# ---------------------------------------------------------------- tiny checkpoints


def _label_maps() -> dict:
    return {"id2label": dict(enumerate(CLASS_NAMES)), "label2id": {n: i for i, n in enumerate(CLASS_NAMES)}}


def _tiny_swin() -> transformers.SwinConfig:
    return transformers.SwinConfig(
        image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4,
        drop_path_rate=0.5, hidden_dropout_prob=0.5, out_features=["stage1", "stage2", "stage3", "stage4"],
    )


def _segformer() -> tuple[nn.Module, object]:
    config = transformers.SegformerConfig(
        depths=[1, 1, 1, 1], sr_ratios=[8, 4, 2, 1], hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 2, 2],
        decoder_hidden_size=16, hidden_dropout_prob=0.5, classifier_dropout_prob=0.5, drop_path_rate=0.5,
        **_label_maps(),
    )
    processor = transformers.SegformerImageProcessorPil(image_mean=[0.3, 0.5, 0.7], image_std=[0.2, 0.25, 0.3])
    return transformers.SegformerForSemanticSegmentation(config), processor


def _upernet() -> tuple[nn.Module, object]:
    backbone = transformers.ConvNextConfig(
        hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], drop_path_rate=0.5,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    config = transformers.UperNetConfig(
        backbone_config=backbone, hidden_size=16, auxiliary_in_channels=24, auxiliary_channels=8, **_label_maps()
    )
    # rescale_factor 2/255 then mean = std = 1: pixels mapped to [-1, 1] (k = 255 * rescale_factor = 2).
    processor = transformers.SegformerImageProcessorPil(
        rescale_factor=2 / 255, image_mean=[1.0, 1.0, 1.0], image_std=[1.0, 1.0, 1.0]
    )
    return transformers.UperNetForSemanticSegmentation(config), processor


def _mask2former() -> tuple[nn.Module, object]:
    config = transformers.Mask2FormerConfig(
        backbone_config=_tiny_swin(), num_queries=6, hidden_dim=32, mask_feature_size=32, feature_size=32,
        encoder_feedforward_dim=32, dim_feedforward=32, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
        dropout=0.5, **_label_maps(),
    )
    processor = transformers.Mask2FormerImageProcessorPil(image_mean=[0.4, 0.45, 0.5], image_std=[0.3, 0.2, 0.1])
    return transformers.Mask2FormerForUniversalSegmentation(config), processor


def _oneformer(*, is_training: bool = False) -> tuple[nn.Module, object]:
    config = transformers.OneFormerConfig(
        backbone_config=_tiny_swin(), num_queries=6, hidden_dim=32, conv_dim=32, mask_dim=32,
        encoder_feedforward_dim=32, dim_feedforward=32, encoder_layers=1, decoder_layers=2, num_attention_heads=2,
        text_encoder_width=64, text_encoder_num_layers=1, text_encoder_proj_layers=1, query_dec_layers=1,
        dropout=0.5, is_training=is_training, **_label_maps(),
    )
    # Detectron2-style statistics in 0..255 without rescaling (k = 255).
    processor = transformers.OneFormerImageProcessorPil(
        do_rescale=False, image_mean=[120.0, 110.0, 100.0], image_std=[60.0, 55.0, 50.0]
    )
    return transformers.OneFormerForUniversalSegmentation(config), processor


BUILDERS: dict[str, Callable[[], tuple[nn.Module, object]]] = {
    "segformer": _segformer, "upernet": _upernet, "mask2former": _mask2former, "oneformer": _oneformer,
}


def _save(folder: Path, model: nn.Module, processor: object) -> Path:
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folders = {}
    for index, name in enumerate(KINDS):
        torch.manual_seed(index)
        folders[name] = _save(tmp_path_factory.mktemp(name), *BUILDERS[name]())
    return folders


@pytest.fixture(scope="module")
def teachers(checkpoints) -> dict[str, Teacher]:
    return {name: load_hf_teacher(folder) for name, folder in checkpoints.items()}


def _images(seed: int = 0, *, height: int = HEIGHT, width: int = WIDTH) -> tuple[torch.Tensor, list[Image.Image]]:
    """Random 8-bit RGB images, as a (B, 3, H, W) float tensor in [0, 1] and as PIL images."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(BATCH, height, width, 3), dtype=np.uint8)
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    return x, [Image.fromarray(p) for p in pixels]


def _hf_model(kind: str, folder: Path) -> nn.Module:
    """The checkpoint loaded by transformers alone, independently of the teacher."""
    model_class = {
        "segformer": transformers.SegformerForSemanticSegmentation,
        "upernet": transformers.UperNetForSemanticSegmentation,
        "mask2former": transformers.Mask2FormerForUniversalSegmentation,
        "oneformer": transformers.OneFormerForUniversalSegmentation,
    }[kind]
    return model_class.from_pretrained(folder, local_files_only=True).eval()


def _hf_processor(kind: str, folder: Path):
    processor_class = {
        "segformer": transformers.SegformerImageProcessorPil,
        "upernet": transformers.SegformerImageProcessorPil,  # UperNet checkpoints use SegFormer's processor
        "mask2former": transformers.Mask2FormerImageProcessorPil,
        "oneformer": transformers.OneFormerImageProcessorPil,
    }[kind]
    return processor_class.from_pretrained(folder)


def _hf_pixel_values(processor, pil_images: list[Image.Image], **options) -> torch.Tensor:
    """The processor's model input for the images at their own size (no resizing)."""
    return processor(images=pil_images, do_resize=False, return_tensors="pt", **options)["pixel_values"]


def _oneformer_semantic_outputs(model: nn.Module, pixel_values: torch.Tensor):
    """OneFormer's outputs for the semantic task, its prompt zero-padded as OneFormerProcessor does."""
    task_inputs = torch.zeros(pixel_values.shape[0], model.config.task_seq_len, dtype=torch.int64)
    task_inputs[:, : len(SEMANTIC_TASK_IDS)] = torch.tensor(SEMANTIC_TASK_IDS)
    return model(pixel_values=pixel_values, task_inputs=task_inputs)


def _hf_semantic_scores(processor, outputs, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' post-processing: labels (B, H, W) and its per-class scores (B, m, H, W)."""
    results = processor.post_process_semantic_segmentation(
        outputs, target_sizes=[size] * BATCH, return_segmentation_scores=True
    )
    labels = torch.stack([r["segmentation"] for r in results])
    scores = torch.stack([r["segmentation_scores"] for r in results])
    return labels, scores


def _assert_same_decisions(probabilities: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor) -> None:
    """Our arg-max equals transformers' wherever its top two scores are not a float tie."""
    top_two = scores.topk(2, dim=1).values
    decided = (top_two[:, 0] - top_two[:, 1]) > 1e-4 * top_two[:, 0].abs().clamp_min(1e-3)
    assert decided.float().mean() > 0.9, "the test model's classes are too close to call"
    assert torch.equal(probabilities.argmax(dim=1)[decided], labels[decided])


def _numpy_semantic_probabilities(class_logits: np.ndarray, mask_logits: np.ndarray) -> np.ndarray:
    """Σ_q softmax(class)[q, :-1] · sigmoid(mask_q), normalised over classes, in float64."""
    class_probabilities = scipy.special.softmax(class_logits.astype(np.float64), axis=-1)[..., :-1]
    scores = np.einsum("bqc,bqhw->bchw", class_probabilities, scipy.special.expit(mask_logits.astype(np.float64)))
    return scores / scores.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    "config",
    [
        {"do_rescale": True, "rescale_factor": 1 / 255, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.2, 0.2, 0.2]},
        {"do_rescale": False, "image_mean": [123.675, 116.28, 103.53], "image_std": [58.395, 57.12, 57.375]},
        {"rescale_factor": 2 / 255, "image_mean": [1.0, 1.0, 1.0], "image_std": [1.0, 1.0, 1.0]},  # default do_rescale
        {"image_mean": 0.5, "image_std": 0.25},  # scalars, default rescaling
        {"do_normalize": False},
        {"do_normalize": False, "do_rescale": False},
    ],
)
def test_normalisation_reproduces_the_processor_formula(config):
    # The processor: p = 255 x; p *= rescale_factor if do_rescale; (p - mean) / std if do_normalize.
    x = np.random.default_rng(1).random((3, 4, 5))
    scale = config.get("rescale_factor", 1 / 255) if config.get("do_rescale", True) else 1.0
    expected = 255.0 * x * scale
    if config.get("do_normalize", True):
        image_mean = np.broadcast_to(np.asarray(config["image_mean"], dtype=np.float64), (3,))
        image_std = np.broadcast_to(np.asarray(config["image_std"], dtype=np.float64), (3,))
        expected = (expected - image_mean[:, None, None]) / image_std[:, None, None]

    mean, std = normalisation_from_preprocessor_config(config)
    actual = (x - np.asarray(mean)[:, None, None]) / np.asarray(std)[:, None, None]
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def test_normalisation_keeps_the_statistics_for_the_usual_rescale_factor():
    config = {"do_rescale": True, "rescale_factor": 1 / 255, "image_mean": [0.1, 0.2, 0.3], "image_std": [0.4, 0.5, 0.6]}
    mean, std = normalisation_from_preprocessor_config(config)
    np.testing.assert_allclose(mean, [0.1, 0.2, 0.3], rtol=1e-15)
    np.testing.assert_allclose(std, [0.4, 0.5, 0.6], rtol=1e-15)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"image_std": [1, 1, 1]}, "image_mean"),
        ({"image_mean": [0, 0, 0]}, "image_std"),
        ({"image_mean": [0, 0], "image_std": [1, 1, 1]}, "image_mean"),
        ({"image_mean": [0, 0, 0], "image_std": [1, 0, 1]}, "image_std"),
        ({"image_mean": [0, "a", 0], "image_std": [1, 1, 1]}, "image_mean"),
    ],
)
def test_malformed_statistics_are_config_errors_naming_file_and_field(config, field):
    with pytest.raises(ConfigError, match=rf"my/preprocessor_config\.json: field '{field}'"):
        normalisation_from_preprocessor_config(config, source="my/preprocessor_config.json")


def test_statistics_in_0_255_with_rescaling_warn():
    config = {"do_rescale": True, "image_mean": [123.675, 116.28, 103.53], "image_std": [58.395, 57.12, 57.375]}
    with pytest.warns(UserWarning, match="image_mean"):
        normalisation_from_preprocessor_config(config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normalisation_from_preprocessor_config({**config, "do_rescale": False})


def test_teacher_normalisation_matches_the_saved_processor(kind, checkpoints, teachers):
    folder, teacher = checkpoints[kind], teachers[kind]
    x, pil_images = _images(2)
    # The image processor of transformers on the same 8-bit images, without resizing.
    processor = _hf_processor(kind, folder)
    torch.testing.assert_close(teacher.normalize(x), _hf_pixel_values(processor, pil_images), rtol=1e-5, atol=1e-5)
    # And by hand from the JSON file.
    saved = json.loads((folder / "preprocessor_config.json").read_text())
    scale = saved["rescale_factor"] if saved["do_rescale"] else 1.0
    image_mean = np.asarray(saved["image_mean"])[None, :, None, None]
    image_std = np.asarray(saved["image_std"])[None, :, None, None]
    manual = (255.0 * scale * x.double().numpy() - image_mean) / image_std
    np.testing.assert_allclose(teacher.normalize(x).numpy(), manual, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- the teacher contract


def test_probabilities_have_the_input_size_and_sum_to_one(kind, teachers):
    teacher = teachers[kind]
    x, _ = _images(3)
    with torch.no_grad():
        probabilities = teacher(x)
    assert probabilities.shape == (BATCH, NUM_LABELS, HEIGHT, WIDTH)
    assert probabilities.dtype == torch.float32
    assert torch.all(probabilities >= 0)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(BATCH, HEIGHT, WIDTH), rtol=0, atol=1e-5)
    assert teacher.num_classes == NUM_LABELS
    assert teacher.class_names == CLASS_NAMES
    labels = teacher.predict(x)
    assert labels.shape == (BATCH, HEIGHT, WIDTH) and labels.dtype == torch.int64
    assert torch.equal(labels, probabilities.argmax(dim=1))


def test_gradient_reaches_the_input_but_no_parameter(kind, teachers):
    teacher = teachers[kind]
    x = _images(4)[0].requires_grad_(True)
    weights = torch.randn(BATCH, NUM_LABELS, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0))
    (teacher(x) * weights).sum().backward()  # a plain sum would be constant (probabilities sum to 1)
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_teacher_stays_in_eval_mode_inside_a_training_parent(kind, checkpoints):
    teacher = load_hf_teacher(checkpoints[kind])  # a fresh one: this test switches modes
    x, _ = _images(5)
    # The configs have 0.5 dropout / drop-path: in training mode, two calls would differ.
    nn.Module.train(teacher, True)
    with torch.no_grad():
        assert not torch.equal(teacher(x), teacher(x)), "the test model has no randomness in training mode"
    teacher.freeze()

    parent = nn.ModuleDict({"teacher": teacher, "head": nn.Linear(2, 2)})
    parent.train()
    assert parent["head"].training
    assert not any(module.training for module in teacher.modules())
    with torch.no_grad():
        assert torch.equal(teacher(x), teacher(x))


def test_teacher_follows_a_dtype_change(checkpoints, teachers):
    teacher = load_hf_teacher(checkpoints["segformer"]).to(torch.float64)
    x, _ = _images(11)
    with torch.no_grad():
        probabilities = teacher(x)  # float32 images into a float64 model
        reference = teachers["segformer"](x)
    assert probabilities.dtype == torch.float64
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(BATCH, HEIGHT, WIDTH, dtype=torch.float64))
    torch.testing.assert_close(probabilities.float(), reference, rtol=1e-4, atol=1e-5)


def test_features_are_the_backbone_maps(kind, teachers):
    teacher = teachers[kind]
    x, _ = _images(6)
    with torch.no_grad():
        features = teacher.features(x)
    config = teacher.model.config
    channels = {
        "segformer": lambda: config.hidden_sizes,
        "upernet": lambda: config.backbone_config.hidden_sizes,
        "mask2former": lambda: [config.backbone_config.embed_dim * 2**i for i in range(4)],
        "oneformer": lambda: [config.backbone_config.embed_dim * 2**i for i in range(4)],
    }[kind]()
    assert [tuple(f.shape) for f in features] == [
        (BATCH, c, HEIGHT // 2 ** (i + 2), WIDTH // 2 ** (i + 2)) for i, c in enumerate(channels)
    ]


# ---------------------------------------------------------------- agreement with transformers


@pytest.mark.parametrize("kind", ["segformer", "upernet"])
def test_pixel_classification_matches_transformers(kind, checkpoints, teachers):
    folder, teacher = checkpoints[kind], teachers[kind]
    x, pil_images = _images(7)
    processor, model = _hf_processor(kind, folder), _hf_model(kind, folder)
    with torch.no_grad():
        outputs = model(pixel_values=_hf_pixel_values(processor, pil_images))
        labels, scores = _hf_semantic_scores(processor, outputs, (HEIGHT, WIDTH))
        probabilities, logits = teacher(x), teacher.logits(x)
    assert logits.shape == (BATCH, NUM_LABELS, HEIGHT // 4, WIDTH // 4)  # low resolution
    torch.testing.assert_close(probabilities, scores.softmax(dim=1), rtol=1e-4, atol=1e-5)
    _assert_same_decisions(probabilities, labels, scores)


def test_mask2former_matches_transformers(checkpoints, teachers):
    # transformers' Mask2Former post-processing upsamples the masks to 384 x 384 before combining
    # them; at a 384 x 384 input this is the original semantic inference, so the two must agree.
    folder, teacher = checkpoints["mask2former"], teachers["mask2former"]
    size = (384, 384)
    x, pil_images = _images(8, height=size[0], width=size[1])
    processor, model = _hf_processor("mask2former", folder), _hf_model("mask2former", folder)
    with torch.no_grad():
        outputs = model(pixel_values=_hf_pixel_values(processor, pil_images))
        labels, scores = _hf_semantic_scores(processor, outputs, size)
        probabilities, logits = teacher(x), teacher.logits(x)
    torch.testing.assert_close(probabilities, scores / scores.sum(dim=1, keepdim=True), rtol=1e-4, atol=1e-5)
    _assert_same_decisions(probabilities, labels, scores)
    # logits(): log-probabilities at the mask resolution, from the model's own query outputs.
    expected = _numpy_semantic_probabilities(outputs.class_queries_logits.numpy(), outputs.masks_queries_logits.numpy())
    assert logits.shape == (BATCH, NUM_LABELS, size[0] // 4, size[1] // 4)
    np.testing.assert_allclose(logits.softmax(dim=1).numpy(), expected, rtol=1e-4, atol=1e-6)


def test_oneformer_matches_transformers(checkpoints, teachers):
    folder, teacher = checkpoints["oneformer"], teachers["oneformer"]
    x, pil_images = _images(9)
    processor, model = _hf_processor("oneformer", folder), _hf_model("oneformer", folder)
    mask_size = (HEIGHT // 4, WIDTH // 4)
    with torch.no_grad():
        pixel_values = _hf_pixel_values(processor, pil_images, task_inputs=["semantic"] * BATCH)
        outputs = _oneformer_semantic_outputs(model, pixel_values)
        # transformers combines the queries at the mask resolution, then upsamples the scores.
        labels_low, scores_low = _hf_semantic_scores(processor, outputs, mask_size)
        labels, _ = _hf_semantic_scores(processor, outputs, (HEIGHT, WIDTH))
        probabilities, logits = teacher(x), teacher.logits(x)
    low_resolution = logits.softmax(dim=1)
    torch.testing.assert_close(low_resolution, scores_low / scores_low.sum(dim=1, keepdim=True), rtol=1e-4, atol=1e-5)
    _assert_same_decisions(low_resolution, labels_low, scores_low)
    # At the input size the teacher upsamples the mask logits first (the original OneFormer
    # inference); the two bilinear orders differ only near class boundaries.
    assert (probabilities.argmax(dim=1) == labels).float().mean() > 0.98
    expected = _numpy_semantic_probabilities(outputs.class_queries_logits.numpy(), outputs.masks_queries_logits.numpy())
    np.testing.assert_allclose(low_resolution.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_semantic_probabilities_from_queries_against_numpy():
    generator = torch.Generator().manual_seed(0)
    class_logits = torch.randn(2, 7, NUM_LABELS + 1, generator=generator) * 3
    mask_logits = torch.randn(2, 7, 6, 10, generator=generator) * 3
    probabilities = semantic_probabilities_from_queries(class_logits, mask_logits)
    expected = _numpy_semantic_probabilities(class_logits.numpy(), mask_logits.numpy())
    np.testing.assert_allclose(probabilities.numpy(), expected, rtol=1e-5, atol=1e-7)
    upsampled = semantic_probabilities_from_queries(class_logits, mask_logits, size=(12, 20))
    assert upsampled.shape == (2, NUM_LABELS, 12, 20)
    torch.testing.assert_close(upsampled.sum(dim=1), torch.ones(2, 12, 20))


def test_oneformer_saved_in_training_configuration_is_deterministic(tmp_path):
    torch.manual_seed(10)
    folder = _save(tmp_path, *_oneformer(is_training=True))
    teacher = load_hf_teacher(folder)
    x, _ = _images(10)
    with torch.no_grad():
        assert torch.equal(teacher(x), teacher(x))
    model = transformers.OneFormerForUniversalSegmentation.from_pretrained(folder)
    with pytest.raises(ValueError, match="is_training"):
        OneFormerTeacher(model, mean=(0.0,) * 3, std=(1.0,) * 3)


# ---------------------------------------------------------------- loading errors


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'nowhere'}: no such folder")):
        load_hf_teacher(tmp_path / "nowhere")


def test_folder_without_config_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"config\.json: missing.*OneFormerForUniversalSegmentation \(oneformer\)"):
        load_hf_teacher(tmp_path)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_type": "bert", "architectures": ["BertModel"]}, r"architectures \['BertModel'\] not supported"),
        ({"model_type": "bert"}, r"model_type 'bert' not supported"),
        ({"model_type": "segformer", "architectures": ["SegformerForImageClassification"]}, "not supported"),
    ],
)
def test_unsupported_models_are_user_errors_listing_the_supported(tmp_path, config, message):
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match=message) as raised:
        load_hf_teacher(tmp_path)
    for supported in ("segformer", "upernet", "mask2former", "oneformer"):
        assert f"({supported})" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_preprocessor_config_is_a_user_error(tmp_path, checkpoints):
    shutil.copy(checkpoints["segformer"] / "config.json", tmp_path / "config.json")
    with pytest.raises(UserError, match=r"no preprocessor_config\.json"):
        load_hf_teacher(tmp_path)


def test_processor_config_of_transformers_5_is_read(tmp_path, checkpoints, teachers):
    source = checkpoints["segformer"]
    shutil.copytree(source, tmp_path, dirs_exist_ok=True)
    image_processor = json.loads((tmp_path / "preprocessor_config.json").read_text())
    (tmp_path / "preprocessor_config.json").unlink()
    (tmp_path / "processor_config.json").write_text(json.dumps({"image_processor": image_processor}))
    teacher = load_hf_teacher(tmp_path)
    torch.testing.assert_close(teacher.mean, teachers["segformer"].mean)
    torch.testing.assert_close(teacher.std, teachers["segformer"].std)


def test_missing_weights_are_missing_weights_errors(tmp_path, checkpoints):
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy(checkpoints["segformer"] / name, tmp_path / name)
    with pytest.raises(MissingWeightsError, match=re.escape(str(tmp_path))):
        load_hf_teacher(tmp_path)


def test_backbone_only_weights_are_refused(tmp_path):
    # An encoder-only checkpoint whose config claims the segmentation class: the head would be random.
    torch.manual_seed(11)
    model, processor = _segformer()
    _save(tmp_path, model.segformer, processor)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "architectures": ["SegformerForSemanticSegmentation"]}))
    with pytest.raises(MissingWeightsError, match=r"lack \d+ parameters of SegformerForSemanticSegmentation"):
        load_hf_teacher(tmp_path)

"""Tests of the Hugging Face ``transformers`` teacher adapters (gosvae/teachers/hf*.py).

Tiny random SegFormer, UperNet, Mask2Former and OneFormer models are saved with their image
processor's ``preprocessor_config.json`` into temporary folders, loaded through
:func:`load_hf_teacher`, and checked against ``transformers`` itself (its image processors and
``post_process_semantic_segmentation``) and against numpy/scipy computations. The checkpoints and
the reference computations are in hf_tiny_checkpoints.py; the normalisation formula has its own
tests in test_hf_normalisation.py.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # read when huggingface_hub is imported: before transformers

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.special
import torch
import transformers
from torch import nn

from gosvae.errors import MissingWeightsError, UserError
from gosvae.teachers.base import Teacher
from gosvae.teachers.hf import load_hf_teacher
from gosvae.teachers.hf_mask_classification import OneFormerTeacher, semantic_probabilities_from_queries
from hf_tiny_checkpoints import (
    BATCH,
    BUILDERS,
    CLASS_NAMES,
    HEIGHT,
    KINDS,
    NUM_LABELS,
    WIDTH,
    assert_same_decisions,
    hf_model,
    hf_pixel_values,
    hf_processor,
    hf_semantic_scores,
    numpy_semantic_probabilities,
    oneformer_semantic_outputs,
    random_images,
    save_checkpoint,
    tiny_oneformer,
    tiny_segformer,
)


@pytest.fixture(scope="module", params=KINDS)
def kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folders = {}
    for index, name in enumerate(KINDS):
        torch.manual_seed(index)
        folders[name] = save_checkpoint(tmp_path_factory.mktemp(name), *BUILDERS[name]())
    return folders


@pytest.fixture(scope="module")
def teachers(checkpoints) -> dict[str, Teacher]:
    return {name: load_hf_teacher(folder) for name, folder in checkpoints.items()}


def test_teacher_normalisation_matches_the_saved_processor(kind, checkpoints, teachers):
    folder, teacher = checkpoints[kind], teachers[kind]
    x, pil_images = random_images(2)
    # The image processor of transformers on the same 8-bit images, without resizing.
    processor = hf_processor(kind, folder)
    torch.testing.assert_close(teacher.normalize(x), hf_pixel_values(processor, pil_images), rtol=1e-5, atol=1e-5)
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
    x, _ = random_images(3)
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
    x = random_images(4)[0].requires_grad_(True)
    weights = torch.randn(BATCH, NUM_LABELS, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0))
    (teacher(x) * weights).sum().backward()  # a plain sum would be constant (probabilities sum to 1)
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_teacher_stays_in_eval_mode_inside_a_training_parent(kind, checkpoints):
    teacher = load_hf_teacher(checkpoints[kind])  # a fresh one: this test switches modes
    x, _ = random_images(5)
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
    x, _ = random_images(11)
    with torch.no_grad():
        probabilities = teacher(x)  # float32 images into a float64 model
        reference = teachers["segformer"](x)
    assert probabilities.dtype == torch.float64
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(BATCH, HEIGHT, WIDTH, dtype=torch.float64))
    torch.testing.assert_close(probabilities.float(), reference, rtol=1e-4, atol=1e-5)


def test_features_are_the_backbone_maps(kind, teachers):
    teacher = teachers[kind]
    x, _ = random_images(6)
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
    x, pil_images = random_images(7)
    processor, model = hf_processor(kind, folder), hf_model(kind, folder)
    with torch.no_grad():
        outputs = model(pixel_values=hf_pixel_values(processor, pil_images))
        labels, scores = hf_semantic_scores(processor, outputs, (HEIGHT, WIDTH))
        probabilities, logits = teacher(x), teacher.logits(x)
    assert logits.shape == (BATCH, NUM_LABELS, HEIGHT // 4, WIDTH // 4)  # low resolution
    torch.testing.assert_close(probabilities, scores.softmax(dim=1), rtol=1e-4, atol=1e-5)
    assert_same_decisions(probabilities, labels, scores)


def test_mask2former_matches_transformers(checkpoints, teachers):
    # transformers' Mask2Former post-processing upsamples the masks to 384 x 384 before combining
    # them; at a 384 x 384 input this is the original semantic inference, so the two must agree.
    folder, teacher = checkpoints["mask2former"], teachers["mask2former"]
    size = (384, 384)
    x, pil_images = random_images(8, height=size[0], width=size[1])
    processor, model = hf_processor("mask2former", folder), hf_model("mask2former", folder)
    with torch.no_grad():
        outputs = model(pixel_values=hf_pixel_values(processor, pil_images))
        labels, scores = hf_semantic_scores(processor, outputs, size)
        probabilities, logits = teacher(x), teacher.logits(x)
    torch.testing.assert_close(probabilities, scores / scores.sum(dim=1, keepdim=True), rtol=1e-4, atol=1e-5)
    assert_same_decisions(probabilities, labels, scores)
    # logits(): log-probabilities at the mask resolution, from the model's own query outputs.
    expected = numpy_semantic_probabilities(outputs.class_queries_logits.numpy(), outputs.masks_queries_logits.numpy())
    assert logits.shape == (BATCH, NUM_LABELS, size[0] // 4, size[1] // 4)
    np.testing.assert_allclose(logits.softmax(dim=1).numpy(), expected, rtol=1e-4, atol=1e-6)


def test_oneformer_matches_transformers(checkpoints, teachers):
    folder, teacher = checkpoints["oneformer"], teachers["oneformer"]
    x, pil_images = random_images(9)
    processor, model = hf_processor("oneformer", folder), hf_model("oneformer", folder)
    mask_size = (HEIGHT // 4, WIDTH // 4)
    with torch.no_grad():
        pixel_values = hf_pixel_values(processor, pil_images, task_inputs=["semantic"] * BATCH)
        outputs = oneformer_semantic_outputs(model, pixel_values)
        # transformers combines the queries at the mask resolution, then upsamples the scores.
        labels_low, scores_low = hf_semantic_scores(processor, outputs, mask_size)
        labels, _ = hf_semantic_scores(processor, outputs, (HEIGHT, WIDTH))
        probabilities, logits = teacher(x), teacher.logits(x)
    low_resolution = logits.softmax(dim=1)
    torch.testing.assert_close(low_resolution, scores_low / scores_low.sum(dim=1, keepdim=True), rtol=1e-4, atol=1e-5)
    assert_same_decisions(low_resolution, labels_low, scores_low)
    # At the input size the teacher upsamples the mask logits first (the original OneFormer
    # inference); the two bilinear orders differ only near class boundaries.
    assert (probabilities.argmax(dim=1) == labels).float().mean() > 0.98
    expected = numpy_semantic_probabilities(outputs.class_queries_logits.numpy(), outputs.masks_queries_logits.numpy())
    np.testing.assert_allclose(low_resolution.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_semantic_probabilities_from_queries_against_numpy():
    generator = torch.Generator().manual_seed(0)
    class_logits = torch.randn(2, 7, NUM_LABELS + 1, generator=generator) * 3
    mask_logits = torch.randn(2, 7, 6, 10, generator=generator) * 3
    probabilities = semantic_probabilities_from_queries(class_logits, mask_logits)
    expected = numpy_semantic_probabilities(class_logits.numpy(), mask_logits.numpy())
    np.testing.assert_allclose(probabilities.numpy(), expected, rtol=1e-5, atol=1e-7)
    upsampled = semantic_probabilities_from_queries(class_logits, mask_logits, size=(12, 20))
    assert upsampled.shape == (2, NUM_LABELS, 12, 20)
    torch.testing.assert_close(upsampled.sum(dim=1), torch.ones(2, 12, 20))


def test_oneformer_saved_in_training_configuration_is_deterministic(tmp_path):
    torch.manual_seed(10)
    folder = save_checkpoint(tmp_path, *tiny_oneformer(is_training=True))
    teacher = load_hf_teacher(folder)
    x, _ = random_images(10)
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
    model, processor = tiny_segformer()
    save_checkpoint(tmp_path, model.segformer, processor)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "architectures": ["SegformerForSemanticSegmentation"]}))
    with pytest.raises(MissingWeightsError, match=r"lack \d+ parameters of SegformerForSemanticSegmentation"):
        load_hf_teacher(tmp_path)

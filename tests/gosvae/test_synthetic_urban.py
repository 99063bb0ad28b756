"""Tests of the procedural ``synthetic-urban`` dataset (renderer, geometry, textures, torch dataset)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gosvae.datasets.base import CITYSCAPES_CLASSES, IGNORE_INDEX
from gosvae.datasets.synthetic_urban import CITYSCAPES_COLORS, SyntheticUrban, colorize_labels, render_scene
from gosvae.datasets.synthetic_urban.camera import REFERENCE_HEIGHT, Camera
from gosvae.datasets.synthetic_urban.labels import TrainId
from gosvae.datasets.synthetic_urban.render import rasterize
from gosvae.datasets.synthetic_urban.roadside import draw_traffic_light
from gosvae.datasets.synthetic_urban.scene import build_scene
from gosvae.datasets.synthetic_urban.shapes import NO_LABEL, ShapeList
from gosvae.datasets.synthetic_urban.textures import Material, value_noise
from gosvae.errors import UserError
from gosvae.registry import DATASETS

SMALL = {"height": 64, "width": 128}


# ------------------------------------------------------------------------------------------------
# render_scene: determinism, splits, shapes, label values, class coverage, resolution independence
# ------------------------------------------------------------------------------------------------
def test_render_is_deterministic():
    first = render_scene(seed=3, split="train", index=5, **SMALL)
    second = render_scene(seed=3, split="train", index=5, **SMALL)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize("other", [{"index": 6}, {"split": "val"}, {"seed": 4}])
def test_render_changes_with_index_split_and_seed(other):
    args = {"seed": 3, "split": "train", "index": 5, **SMALL}
    image, label = render_scene(**args)
    other_image, other_label = render_scene(**{**args, **other})
    assert not np.array_equal(image, other_image)
    assert not np.array_equal(label, other_label)


def test_splits_never_share_a_scene():
    seen: dict[bytes, str] = {}
    for split in ("train", "val", "test"):
        for index in range(8):
            image, label = render_scene(seed=0, split=split, index=index, height=32, width=64)
            key = label.tobytes()
            assert key not in seen, f"{split}[{index}] has the same label map as {seen[key]}"
            seen[key] = f"{split}[{index}]"


def test_render_shapes_dtypes_and_label_values():
    image, label = render_scene(seed=0, split="val", index=0, height=48, width=80)
    assert image.shape == (48, 80, 3) and image.dtype == np.uint8
    assert label.shape == (48, 80) and label.dtype == np.uint8
    assert set(np.unique(label).tolist()) <= set(range(19)) | {IGNORE_INDEX}
    assert image.std() > 10.0  # a picture, not a flat frame


def test_many_classes_appear_over_a_few_dozen_low_resolution_scenes():
    present: set[int] = set()
    for index in range(32):
        _, label = render_scene(seed=0, split="val", index=index, height=32, width=64)
        present |= set(np.unique(label).tolist())
    present.discard(IGNORE_INDEX)
    assert len(present) >= 14, sorted(CITYSCAPES_CLASSES[i] for i in present)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_label_map_is_resolution_independent(index):
    _, low = render_scene(seed=1, split="test", index=index, height=128, width=256)
    _, high = render_scene(seed=1, split="test", index=index, height=256, width=512)
    downsampled = np.asarray(Image.fromarray(high).resize((256, 128), Image.Resampling.NEAREST))
    agreement = float((downsampled == low).mean())
    assert agreement > 0.9, agreement


@pytest.mark.parametrize("bad", [{"split": "training"}, {"index": -1}, {"seed": -2}, {"height": 0}, {"index": 1.5}])
def test_render_rejects_bad_arguments_with_a_user_error(bad):
    args = {"seed": 0, "split": "train", "index": 0, **SMALL, **bad}
    with pytest.raises(UserError, match=next(iter(bad))):
        render_scene(**args)


# ------------------------------------------------------------------------------------------------
# Geometry and rasterisation
# ------------------------------------------------------------------------------------------------
def test_ground_lines_meet_at_the_vanishing_point():
    camera = Camera(focal=1.3, horizon=0.42, center_u=0.95, height=1.5, lateral=1.2)
    z = np.array([5.0, 20.0, 80.0])
    for x in (-6.0, 0.0, 4.5):
        u, v = camera.project(x, 0.0, z).T
        # Points of a straight ground line are collinear with the vanishing point (center_u, horizon).
        cross = (u - camera.center_u) * (v[0] - camera.horizon) - (v - camera.horizon) * (u[0] - camera.center_u)
        np.testing.assert_allclose(cross, 0.0, atol=1e-12)
    far = camera.project(3.0, 0.0, 1e9)[0]
    np.testing.assert_allclose(far, [camera.center_u, camera.horizon], atol=1e-8)
    # Pinhole size: an object of h metres at depth z spans focal * h / z image heights.
    top, bottom = camera.project(0.0, np.array([1.8, 0.0]), 12.0)
    assert bottom[1] - top[1] == pytest.approx(1.3 * 1.8 / 12.0)


def test_rasterized_labels_cover_exactly_the_painted_pixels():
    shapes = ShapeList(haze=7)
    shapes.polygon([(0.2, 0.1), (1.1, 0.3), (0.6, 0.9)], (200, 10, 10), label=TrainId.CAR, material=Material.PAINT)
    shapes.ellipse((1.5, 0.5), (0.3, 0.2), (10, 200, 10), label=TrainId.PERSON, material=Material.FABRIC)
    background = np.zeros((50, 100, 3), dtype=np.uint8)
    colour, label, material, haze = rasterize(list(shapes), background=background)
    red, green = (np.all(colour == c, axis=-1) for c in ((200, 10, 10), (10, 200, 10)))
    assert red.sum() > 100 and green.sum() > 100
    np.testing.assert_array_equal(label == TrainId.CAR, red)
    np.testing.assert_array_equal(label == TrainId.PERSON, green)
    np.testing.assert_array_equal(label[~(red | green)], TrainId.SKY)
    np.testing.assert_array_equal(material[red], Material.PAINT)
    np.testing.assert_array_equal(haze[red | green], 7)

    # A colour-only detail (e.g. a shadow) paints the image and leaves the labels as they were.
    shapes.polygon([(0.5, 0.3), (0.9, 0.3), (0.7, 0.6)], (10, 10, 200), label=NO_LABEL, material=Material.FLAT)
    colour_with_detail, label_with_detail, _, _ = rasterize(list(shapes), background=background)
    blue = np.all(colour_with_detail == (10, 10, 200), axis=-1)
    assert blue.sum() > 10 and np.all(red[blue])
    np.testing.assert_array_equal(label_with_detail, label)


def test_small_objects_respect_the_minimum_sizes_at_the_reference_resolution():
    camera = Camera(focal=1.3, horizon=0.45, center_u=1.0, height=1.5, lateral=1.7)
    near, far = ShapeList(), ShapeList()
    draw_traffic_light(near, camera, np.random.default_rng(0), x=7.0, z=10.0, arm=0.0)
    draw_traffic_light(far, camera, np.random.default_rng(0), x=7.0, z=28.0, arm=0.0)
    assert TrainId.TRAFFIC_LIGHT in {s.label for s in near}
    # At 28 m the 0.36 m box spans 4.3 px < 5 px: left out, while the pole (>= 2 px, widened to 3) remains.
    assert {s.label for s in far} == {TrainId.POLE}
    for index in range(6):
        scene = build_scene(np.random.default_rng(index))
        for shape in scene.shapes:
            if shape.label == TrainId.POLE:
                extent = (shape.points.max(0) - shape.points.min(0)) * REFERENCE_HEIGHT
                assert extent.max() >= 3.0 - 1e-9


def test_value_noise_is_the_same_pattern_at_every_resolution():
    low = value_noise(np.random.default_rng(5), (8, 16), height=32, width=64)
    high = value_noise(np.random.default_rng(5), (8, 16), height=128, width=256)
    pooled = high.reshape(32, 4, 64, 4).mean(axis=(1, 3))
    assert np.corrcoef(low.ravel(), pooled.ravel())[0, 1] > 0.95


def test_colorize_labels_uses_the_cityscapes_palette():
    labels = np.array([[0, 13, 18, IGNORE_INDEX]], dtype=np.uint8)
    colours = colorize_labels(labels)
    np.testing.assert_array_equal(colours[0, :3], CITYSCAPES_COLORS[[0, 13, 18]])
    np.testing.assert_array_equal(colours[0, 3], [0, 0, 0])
    assert [tuple(c) for c in CITYSCAPES_COLORS[[0, 10]]] == [(128, 64, 128), (70, 130, 180)]


# ------------------------------------------------------------------------------------------------
# The torch dataset
# ------------------------------------------------------------------------------------------------
def test_dataset_is_registered_and_describes_its_classes():
    assert DATASETS.get("synthetic-urban") is SyntheticUrban
    dataset = SyntheticUrban(split="test", size=None)
    assert (len(dataset), dataset.size) == (100, (256, 512))
    assert dataset.num_classes == 19 and tuple(dataset.class_names) == CITYSCAPES_CLASSES
    assert dataset.ignore_index == IGNORE_INDEX
    assert len(SyntheticUrban(split="train")) == 2000 and len(SyntheticUrban(split="val", num_images=7)) == 7


def test_dataset_item_matches_the_render():
    dataset = SyntheticUrban(split="val", num_images=3, size=(40, 72), seed=2)
    image, label = dataset[1]
    assert image.shape == (3, 40, 72) and image.dtype == torch.float32
    assert label.shape == (40, 72) and label.dtype == torch.int64
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    raw_image, raw_label = render_scene(seed=2, split="val", index=1, height=40, width=72)
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), raw_image / 255.0, atol=1e-7)
    np.testing.assert_array_equal(label.numpy(), raw_label)
    np.testing.assert_array_equal(dataset[-2][1].numpy(), raw_label)
    with pytest.raises(IndexError):
        dataset[3]


def _find_window(full: np.ndarray, window: np.ndarray) -> list[tuple[int, int]]:
    """All (top, left) offsets where ``window`` (h, w, 3) occurs in ``full`` (H, W, 3)."""
    h, w = window.shape[:2]
    return [
        (top, left)
        for top in range(full.shape[0] - h + 1)
        for left in range(full.shape[1] - w + 1)
        if np.array_equal(full[top : top + h, left : left + w], window)
    ]


def test_crop_and_flip_keep_image_and_label_aligned():
    dataset = SyntheticUrban(split="train", num_images=6, size=(32, 64), crop=(20, 24), hflip=True, seed=1)
    flips = 0
    for index in range(6):
        image, label = dataset[index]
        pixels = np.round(image.permute(1, 2, 0).numpy() * 255.0).astype(np.uint8)
        full_image, full_label = render_scene(seed=1, split="train", index=index, height=32, width=64)
        matches = [(False, at) for at in _find_window(full_image, pixels)]
        matches += [(True, at) for at in _find_window(full_image[:, ::-1], pixels)]
        assert len(matches) == 1, f"item {index}: crop found {len(matches)} times"
        flipped, (top, left) = matches[0]
        source = full_label[:, ::-1] if flipped else full_label
        np.testing.assert_array_equal(label.numpy(), source[top : top + 20, left : left + 24])
        flips += flipped
    assert 0 < flips < 6  # both outcomes occur over six items


def test_augmentation_is_fixed_per_epoch_and_changes_between_epochs():
    dataset = SyntheticUrban(split="train", num_images=4, size=(32, 64), crop=(16, 16), hflip=True)
    epoch0 = [dataset[i][1] for i in range(4)]
    assert all(torch.equal(a, dataset[i][1]) for i, a in enumerate(epoch0))
    dataset.epoch = 1
    epoch1 = [dataset[i][1] for i in range(4)]
    assert any(not torch.equal(a, b) for a, b in zip(epoch0, epoch1))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"split": "dev"}, "split"),
        ({"size": (64, 0)}, "size"),
        ({"crop": (64, 200), "size": (64, 128)}, "crop"),
        ({"num_images": -1}, "num_images"),
        ({"seed": -1}, "seed"),
    ],
)
def test_dataset_rejects_bad_options_naming_the_field(kwargs, field):
    with pytest.raises(UserError, match=field):
        SyntheticUrban(**kwargs)

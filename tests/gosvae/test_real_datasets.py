"""Tests of the CamVid, Cityscapes and ADE20K loaders and of their shared transforms.

Each test builds a tiny tree of 8 x 12 PNGs in the dataset's layout under ``tmp_path``. Images
encode the pixel position in their red channel (value y * 12 + x), so where a pixel of a cropped
or flipped item came from can be read off its value; expected values come from numpy, Pillow or
the official tables written out here, never from the loaders.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gosvae.datasets.ade20k import ADE20K
from gosvae.datasets.camvid import CamVid
from gosvae.datasets.cityscapes import Cityscapes
from gosvae.datasets.transforms import augmentation_generator, random_crop_pair
from gosvae.errors import DatasetLayoutError, UserError
from gosvae.registry import DATASETS

H, W = 8, 12
REAL_CAMVID = Path("/work/shared/datasets/camvid")

# cityscapesScripts/helpers/labels.py: (name, id, trainId), written out in full.
CITYSCAPES_OFFICIAL = [
    ("unlabeled", 0, 255), ("ego vehicle", 1, 255), ("rectification border", 2, 255),
    ("out of roi", 3, 255), ("static", 4, 255), ("dynamic", 5, 255), ("ground", 6, 255),
    ("road", 7, 0), ("sidewalk", 8, 1), ("parking", 9, 255), ("rail track", 10, 255),
    ("building", 11, 2), ("wall", 12, 3), ("fence", 13, 4), ("guard rail", 14, 255),
    ("bridge", 15, 255), ("tunnel", 16, 255), ("pole", 17, 5), ("polegroup", 18, 255),
    ("traffic light", 19, 6), ("traffic sign", 20, 7), ("vegetation", 21, 8), ("terrain", 22, 9),
    ("sky", 23, 10), ("person", 24, 11), ("rider", 25, 12), ("car", 26, 13), ("truck", 27, 14),
    ("bus", 28, 15), ("caravan", 29, 255), ("trailer", 30, 255), ("train", 31, 16),
    ("motorcycle", 32, 17), ("bicycle", 33, 18),
]


# ------------------------------------------------------------------------------------------------
# Fixture trees
# ------------------------------------------------------------------------------------------------
def _position_image(item: int) -> np.ndarray:
    """(H, W, 3) uint8: red = y * W + x (unique per pixel), green = item, blue = 255 - red."""
    red = np.arange(H * W, dtype=np.uint8).reshape(H, W)
    return np.stack([red, np.full_like(red, item), 255 - red], axis=-1)


def _random_label(item: int, high: int) -> np.ndarray:
    return np.random.default_rng(1000 + item).integers(0, high, size=(H, W), dtype=np.uint8)


def _save(path: Path, array: np.ndarray, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)


def _make_camvid(root: Path, *, counts=None, list_file: bool = True, prefix: str = "") -> dict:
    """SegNet CamVid tree; returns {split: [(stem, image array, raw label array), ...]}."""
    content = {}
    for split, count in (counts or {"train": 3, "val": 2}).items():
        lines, content[split] = [], []
        for i in range(count):
            stem = f"0001TP_{i:06d}"
            image, label = _position_image(i), _random_label(i, 12)  # raw values 0..11
            _save(root / split / f"{stem}.png", image)
            _save(root / f"{split}annot" / f"{stem}.png", label)
            lines.append(f"{prefix}{split}/{stem}.png {prefix}{split}annot/{stem}.png")
            content[split].append((stem, image, label))
        if list_file:
            (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return content


def _make_cityscapes(root: Path, *, split: str = "train") -> dict:
    """Cityscapes tree with two cities; each label holds ids 0..33 (and 0 again) in shuffled places."""
    content = {}
    for item, (city, frame) in enumerate([("aachen", 19), ("aachen", 20), ("bochum", 7)]):
        stem = f"{city}_{item:06d}_{frame:06d}"
        image = _position_image(item)
        ids = np.random.default_rng(item).permutation(np.arange(H * W) % 34)
        label = ids.astype(np.uint8).reshape(H, W)
        _save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", image)
        _save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", label)
        content[stem] = (image, label)
    return content


def _make_ade(root: Path, *, split_folder: str = "validation") -> dict:
    """ADEChallengeData2016 tree under root; labels hold annotations 0..150; one grey JPEG."""
    base = root / "ADEChallengeData2016"
    content = {}
    for item in range(3):
        stem = f"ADE_{'val' if split_folder == 'validation' else 'train'}_{item + 1:08d}"
        image = _position_image(item) if item != 2 else _position_image(item)[..., 0]  # grey JPEG
        label = np.random.default_rng(item).integers(0, 151, size=(H, W), dtype=np.uint8)
        label.flat[:4] = (0, 5, 150, 1)
        _save(base / "images" / split_folder / f"{stem}.jpg", image, quality=95)
        _save(base / "annotations" / split_folder / f"{stem}.png", label)
        content[stem] = label
    return content


# ------------------------------------------------------------------------------------------------
# CamVid
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("list_file, prefix", [(True, ""), (True, "/SegNet/CamVid/"), (False, "")])
def test_camvid_items_and_label_mapping(tmp_path, list_file, prefix):
    content = _make_camvid(tmp_path, list_file=list_file, prefix=prefix)
    for split in ("train", "val"):
        dataset = CamVid(root=tmp_path, split=split)
        assert len(dataset) == len(content[split])
        for i, (_, image, raw) in enumerate(content[split]):
            x, y = dataset[i]
            assert x.shape == (3, H, W) and x.dtype == torch.float32
            assert y.shape == (H, W) and y.dtype == torch.int64
            np.testing.assert_allclose(x.permute(1, 2, 0).numpy(), image / 255.0, atol=1e-7)
            expected = np.where(raw == 11, 255, raw)
            np.testing.assert_array_equal(y.numpy(), expected)
    assert dataset.num_classes == 11 and len(dataset.class_names) == 11
    assert dataset.class_names[0] == "Sky" and dataset.class_names[10] == "Bicyclist"
    assert dataset.ignore_index == 255


def test_camvid_list_file_order_is_item_order(tmp_path):
    content = _make_camvid(tmp_path, counts={"train": 3})
    lines = (tmp_path / "train.txt").read_text().splitlines()
    (tmp_path / "train.txt").write_text("\n".join(reversed(lines)) + "\n\n")  # trailing blank line
    dataset = CamVid(root=tmp_path, split="train")
    firsts = [int(dataset[i][0][1, 0, 0] * 255 + 0.5) for i in range(len(dataset))]  # green = item
    assert firsts == [2, 1, 0]
    assert [p[0].stem for p in dataset.pairs] == [content["train"][k][0] for k in (2, 1, 0)]


def test_datasets_are_registered():
    assert DATASETS.get("camvid") is CamVid
    assert DATASETS.get("cityscapes") is Cityscapes
    assert DATASETS.get("ade20k") is ADE20K


# ------------------------------------------------------------------------------------------------
# Cityscapes and ADE20K
# ------------------------------------------------------------------------------------------------
def test_cityscapes_maps_label_ids_with_the_official_table(tmp_path):
    content = _make_cityscapes(tmp_path, split="val")
    dataset = Cityscapes(root=tmp_path, split="val")
    assert len(dataset) == 3 and dataset.num_classes == 19
    train_id = np.full(256, 255)
    for name, label_id, tid in CITYSCAPES_OFFICIAL:
        train_id[label_id] = tid
        if tid != 255:
            assert dataset.class_names[tid] == name
    for i, pair in enumerate(dataset.pairs):
        stem = pair[0].name[: -len("_leftImg8bit.png")]
        image, raw = content[stem]
        x, y = dataset[i]
        np.testing.assert_allclose(x.permute(1, 2, 0).numpy(), image / 255.0, atol=1e-7)
        np.testing.assert_array_equal(y.numpy(), train_id[raw])
        assert y[raw == 26].eq(13).all() and y[raw == 0].eq(255).all() and y[raw == 33].eq(18).all()
    assert sorted({p[0].parent.name for p in dataset.pairs}) == ["aachen", "bochum"]


@pytest.mark.parametrize("inside", [False, True])
@pytest.mark.parametrize("split", ["val", "validation"])
def test_ade20k_roots_and_label_shift(tmp_path, inside, split):
    content = _make_ade(tmp_path)
    root = tmp_path / "ADEChallengeData2016" if inside else tmp_path
    dataset = ADE20K(root=root, split=split)
    assert len(dataset) == 3 and dataset.num_classes == 150 and len(set(dataset.class_names)) == 150
    names = dataset.class_names
    assert (names[0], names[12], names[149]) == ("wall", "person", "flag")
    for i, (image_path, _) in enumerate(dataset.pairs):
        raw = content[image_path.stem]
        x, y = dataset[i]
        decoded = np.asarray(Image.open(image_path).convert("RGB"), dtype=np.float32) / 255.0
        np.testing.assert_allclose(x.permute(1, 2, 0).numpy(), decoded, atol=1e-7)
        np.testing.assert_array_equal(y.numpy(), np.where(raw == 0, 255, raw.astype(np.int64) - 1))
        assert y.view(-1)[:4].tolist() == [255, 4, 149, 0]
    grey, _ = dataset[2]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])


# ------------------------------------------------------------------------------------------------
# Resize, crop, flip
# ------------------------------------------------------------------------------------------------
def test_resize_matches_pillow_bilinear_and_nearest(tmp_path):
    content = _make_camvid(tmp_path, counts={"train": 1})
    _, image, raw = content["train"][0]
    rgb = np.random.default_rng(5).integers(0, 256, size=(H, W, 3), dtype=np.uint8)  # not smooth
    _save(tmp_path / "train" / "0001TP_000000.png", rgb)
    for size in [(5, 7), (16, 20), (8, 5)]:
        x, y = CamVid(root=tmp_path, split="train", size=size)[0]
        assert x.shape == (3, *size) and y.shape == size
        pil_size = (size[1], size[0])
        channels = [Image.fromarray(rgb[..., c].astype(np.float32) / 255.0) for c in range(3)]
        expected_image = np.stack([np.asarray(c.resize(pil_size, Image.BILINEAR)) for c in channels])
        np.testing.assert_allclose(x.numpy(), expected_image, atol=1e-5)
        mapped = Image.fromarray(np.where(raw == 11, 255, raw).astype(np.uint8))
        expected_label = np.asarray(mapped.resize(pil_size, Image.NEAREST))
        np.testing.assert_array_equal(y.numpy(), expected_label)


def _origin(x: torch.Tensor) -> tuple[int, int]:
    """(y, x) in the file of the pixel now at (0, 0), read from the red channel."""
    value = int(round(float(x[0, 0, 0]) * 255))
    return divmod(value, W)


def test_crop_and_flip_keep_image_and_label_aligned(tmp_path):
    _make_camvid(tmp_path, counts={"train": 3})
    full = CamVid(root=tmp_path, split="train")
    augmented = CamVid(root=tmp_path, split="train", crop=(5, 7), hflip=True, seed=3)
    seen_flips = set()
    for epoch in range(8):
        augmented.epoch = epoch
        for i in range(len(full)):
            x_full, y_full = full[i]
            x, y = augmented[i]
            assert x.shape == (3, 5, 7) and y.shape == (5, 7)
            # The red channel grows left to right unless the crop was mirrored.
            flipped = bool(x[0, 0, 0] > x[0, 0, -1])
            seen_flips.add(flipped)
            if flipped:
                x, y = x.flip(-1), y.flip(-1)  # flipping twice gives back the crop
            top, left = _origin(x)
            assert torch.equal(x, x_full[:, top : top + 5, left : left + 7])
            assert torch.equal(y, y_full[top : top + 5, left : left + 7])
    assert seen_flips == {False, True}


def test_flip_only_is_exact_mirror(tmp_path):
    _make_camvid(tmp_path, counts={"train": 4})
    full = CamVid(root=tmp_path, split="train")
    flipping = CamVid(root=tmp_path, split="train", hflip=True)
    outcomes = set()
    for epoch in range(3):
        flipping.epoch = epoch
        for i in range(len(full)):
            (x, y), (x_full, y_full) = flipping[i], full[i]
            mirrored = torch.equal(x, x_full.flip(-1)) and torch.equal(y, y_full.flip(-1))
            assert mirrored or (torch.equal(x, x_full) and torch.equal(y, y_full))
            assert torch.equal(x.flip(-1).flip(-1), x)
            outcomes.add(mirrored)
    assert outcomes == {False, True}


def test_crop_larger_than_image_pads_with_ignore(tmp_path):
    _make_camvid(tmp_path, counts={"train": 1})
    x_full, y_full = CamVid(root=tmp_path, split="train")[0]
    x, y = CamVid(root=tmp_path, split="train", crop=(H + 2, W + 3))[0]
    assert x.shape == (3, H + 2, W + 3)
    assert torch.equal(x[:, :H, :W], x_full) and torch.equal(y[:H, :W], y_full)
    assert y[H:].eq(255).all() and y[:, W:].eq(255).all()
    assert x[:, H:].eq(0).all() and x[:, :, W:].eq(0).all()


def test_random_crop_offsets_are_uniform():
    image, label = torch.zeros(3, 4, 6), torch.arange(24).view(4, 6)
    generator = torch.Generator().manual_seed(0)
    corners = [
        int(random_crop_pair(image, label, crop=(2, 3), generator=generator)[1][0, 0])
        for _ in range(3000)
    ]
    counts = np.bincount(corners, minlength=24)
    valid = [r * 6 + c for r in range(3) for c in range(4)]  # 3 x 4 possible offsets
    assert counts[valid].min() > 0 and counts.sum() == counts[valid].sum()
    expected = 3000 / len(valid)
    chi2 = ((counts[valid] - expected) ** 2 / expected).sum()
    assert chi2 < 31.3  # 99.9% quantile of chi-square with 11 degrees of freedom


# ------------------------------------------------------------------------------------------------
# Determinism per (seed, epoch, index)
# ------------------------------------------------------------------------------------------------
def _snapshot(dataset) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [dataset[i] for i in range(len(dataset))]


def _same(a, b) -> bool:
    return all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))


def test_augmentation_is_a_function_of_seed_epoch_and_index(tmp_path):
    _make_camvid(tmp_path, counts={"train": 6})
    options = dict(root=tmp_path, split="train", crop=(4, 6), hflip=True)
    dataset = CamVid(**options, seed=7)
    first = _snapshot(dataset)
    assert _same(first, _snapshot(dataset))                           # reading again
    assert _same(first, _snapshot(CamVid(**options, seed=7)))         # a new instance
    assert _same(first, _snapshot(pickle.loads(pickle.dumps(dataset))))  # a worker's copy
    assert torch.equal(dataset[4][0], first[4][0]) and torch.equal(dataset[-2][0], first[4][0])
    dataset.epoch = 1
    second = _snapshot(dataset)
    assert not _same(first, second)
    dataset.epoch = 0
    assert _same(first, _snapshot(dataset))
    assert not _same(first, _snapshot(CamVid(**options, seed=8)))


def test_augmentation_generator_streams_differ():
    draws = {
        key: torch.rand(4, generator=augmentation_generator(seed=key[0], epoch=key[1], index=key[2]))
        for key in [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)]
    }
    again = augmentation_generator(seed=0, epoch=0, index=1)
    assert torch.equal(draws[(0, 0, 1)], torch.rand(4, generator=again))
    values = list(draws.values())
    assert all(not torch.equal(a, b) for k, a in enumerate(values) for b in values[k + 1 :])


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------
def _error(cls, **kwargs) -> str:
    with pytest.raises(DatasetLayoutError) as info:
        dataset = cls(**kwargs)
        for i in range(len(dataset)):
            dataset[i]
    message = str(info.value)
    assert "\n" not in message
    return message


def test_camvid_layout_errors(tmp_path):
    missing = tmp_path / "nowhere"
    message = _error(CamVid, root=missing)
    assert str(missing) in message and "does not exist" in message and "SegNet CamVid layout" in message

    _make_camvid(tmp_path)
    message = _error(CamVid, root=tmp_path, split="tset")
    assert "'tset'" in message and "'train', 'val', 'test'" in message and str(tmp_path) in message

    shutil.rmtree(tmp_path / "valannot")
    message = _error(CamVid, root=tmp_path, split="val")
    assert message.startswith(f"{tmp_path}: no 'valannot' folder; expected the SegNet CamVid layout")

    (tmp_path / "trainannot" / "0001TP_000001.png").unlink()
    message = _error(CamVid, root=tmp_path, split="train")
    assert "train.txt line 2" in message and "0001TP_000001.png" in message and "no label" in message
    (tmp_path / "train.txt").unlink()
    message = _error(CamVid, root=tmp_path, split="train")
    assert "0001TP_000001.png" in message and "trainannot" in message and "no label" in message


def test_camvid_malformed_list_and_bad_label_files(tmp_path):
    _make_camvid(tmp_path, counts={"train": 2})
    (tmp_path / "train.txt").write_text("train/0001TP_000000.png\n")
    assert "train.txt line 1: expected 'IMAGE LABEL'" in _error(CamVid, root=tmp_path)

    (tmp_path / "train.txt").unlink()
    colour = tmp_path / "trainannot" / "0001TP_000000.png"
    _save(colour, np.zeros((H, W, 3), dtype=np.uint8))
    message = _error(CamVid, root=tmp_path)
    assert str(colour) in message and "mode RGB" in message

    _save(colour, np.zeros((H, W + 1), dtype=np.uint8))
    message = _error(CamVid, root=tmp_path)
    assert str(colour) in message and "(8, 12)" in message and "(8, 13)" in message


def test_cityscapes_layout_errors(tmp_path):
    _make_cityscapes(tmp_path)
    message = _error(Cityscapes, root=tmp_path, split="val")
    assert "no 'leftImg8bit/val' folder" in message and "Cityscapes layout" in message
    assert "'trainval'" in _error(Cityscapes, root=tmp_path, split="trainval")
    label = tmp_path / "gtFine/train/bochum/bochum_000002_000007_gtFine_labelIds.png"
    label.unlink()
    message = _error(Cityscapes, root=tmp_path, split="train")
    assert "bochum_000002_000007_leftImg8bit.png" in message and label.name in message
    shutil.rmtree(tmp_path / "gtFine")
    assert "no 'gtFine/train' folder" in _error(Cityscapes, root=tmp_path, split="train")


def test_ade20k_layout_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    message = _error(ADE20K, root=tmp_path / "empty", split="val")
    assert "no 'ADEChallengeData2016' folder" in message and "SceneParsing layout" in message
    _make_ade(tmp_path)
    assert "'test'" in _error(ADE20K, root=tmp_path, split="test")
    assert "no 'images/training' folder" in _error(ADE20K, root=tmp_path, split="train")
    (tmp_path / "ADEChallengeData2016/annotations/validation/ADE_val_00000002.png").unlink()
    message = _error(ADE20K, root=tmp_path, split="val")
    assert "ADE_val_00000002.jpg" in message and "annotations/validation/ADE_val_00000002.png" in message


@pytest.mark.parametrize(
    "options",
    [{"size": (0, 4)}, {"crop": (4,)}, {"crop": (4.0, 4)}, {"crop": 4}, {"seed": -1}, {"size": (True, 4)}],
)
def test_bad_options_are_user_errors(tmp_path, options):
    _make_camvid(tmp_path, counts={"train": 1})
    with pytest.raises(UserError) as info:
        CamVid(root=tmp_path, split="train", **options)
    assert not isinstance(info.value, DatasetLayoutError)
    assert next(iter(options)) in str(info.value)


# ------------------------------------------------------------------------------------------------
# The real CamVid copy of this workplace
# ------------------------------------------------------------------------------------------------
@pytest.mark.camvid
@pytest.mark.skipif(not REAL_CAMVID.is_dir(), reason=f"no CamVid copy at {REAL_CAMVID}")
def test_real_camvid():
    train, val = CamVid(root=REAL_CAMVID, split="train"), CamVid(root=REAL_CAMVID, split="val")
    assert (len(train), len(val)) == (367, 101)
    image, label = train[0]
    assert image.shape == (3, 360, 480) and label.shape == (360, 480)
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    present = set()
    for i in range(20):
        _, label = val[i]
        values = set(torch.unique(label).tolist())
        assert values <= set(range(11)) | {255}
        present |= values
    assert present >= set(range(11)) and 255 in present

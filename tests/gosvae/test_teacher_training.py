"""The in-repo teacher (contract), its training loop (loss falls, resume is exact) and the zoo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gosvae.errors import UserError
from gosvae.teachers import UrbanUNet, load_teacher
from gosvae.training.checkpoint import lr_lambda
from gosvae.training.config import TeacherTrainingConfig
from gosvae.training.data import MaterializedData
from gosvae.training.teacher import class_weights, train_teacher
from gosvae.zoo import get_entry, load_zoo_weights, save_zoo_entry


def _tiny_teacher() -> UrbanUNet:
    return UrbanUNet(num_classes=5, widths=(4, 4, 8, 8)).freeze()


def test_urban_unet_contract_shapes_sums_gradients_and_frozen():
    teacher = _tiny_teacher()
    x = torch.rand(2, 3, 32, 64, requires_grad=True)
    probs = teacher(x)
    assert probs.shape == (2, 5, 32, 64)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 32, 64))
    assert (probs >= 0).all()
    probs[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()
    assert all(not p.requires_grad for p in teacher.parameters())
    assert [f.shape[1] for f in teacher.features(x)] == [4, 4, 8, 8]


def test_teacher_stays_in_eval_mode_inside_a_training_parent():
    teacher = _tiny_teacher()
    parent = nn.ModuleDict({"teacher": teacher, "head": nn.Linear(2, 2)})
    parent.train()
    assert not teacher.training
    x = torch.rand(3, 3, 32, 32)
    torch.testing.assert_close(teacher(x), teacher(x))  # batch-norm statistics are not updated


def test_urban_unet_rejects_bad_sizes_with_one_line():
    with pytest.raises(UserError, match=r"multiples of 16, got \(30, 64\)"):
        _tiny_teacher()(torch.rand(1, 3, 30, 64))


def test_class_weights_sqrt_inverse_frequency():
    labels = torch.tensor([[0, 0, 0, 0, 1, 255]], dtype=torch.uint8).reshape(1, 2, 3)
    w = class_weights(labels, num_classes=3)
    # frequencies 0.8 and 0.2 → 1/sqrt: 1.118, 2.236 → normalised to mean 1 over present classes
    raw = torch.tensor([0.8**-0.5, 0.2**-0.5])
    torch.testing.assert_close(w[:2], (raw / raw.mean()).float())
    assert w[2] == 0


def test_lr_schedule_warmup_then_cosine_to_one_percent():
    f = lr_lambda(warmup_steps=10, total_steps=110, schedule="cosine")
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(60) == pytest.approx(0.505) and f(110) == pytest.approx(0.01)


def test_random_batch_crops_flips_keep_image_and_label_aligned():
    n, h, w = 3, 8, 12
    labels = torch.arange(n * h * w, dtype=torch.int64).reshape(n, h, w) % 200
    images = torch.stack([labels.to(torch.uint8)] * 3, dim=1)  # image encodes its own label
    data = MaterializedData(images, labels.to(torch.uint8))
    g = torch.Generator().manual_seed(1)
    x, y = data.random_batch(batch_size=16, crop=(4, 6), hflip=True, generator=g)
    assert x.shape == (16, 3, 4, 6) and y.shape == (16, 4, 6) and y.dtype == torch.int64
    torch.testing.assert_close((x[:, 0] * 255).round().long(), y)


def _tiny_config(tmp_path, *, steps: int) -> TeacherTrainingConfig:
    return TeacherTrainingConfig.model_validate(
        {
            "task": "teacher",
            "name": "tiny-teacher",
            "arch": "urban-unet",
            "arch_config": {"num_classes": 19, "widths": [8, 8, 16, 16]},
            "data": {
                "train": {"name": "synthetic-urban", "split": "train", "num_images": 6, "size": [64, 128]},
                "val": {"name": "synthetic-urban", "split": "val", "num_images": 2, "size": [64, 128]},
                "crop": [32, 64],
                "cache_dir": str(tmp_path / "cache"),
            },
            "optim": {"steps": steps, "batch_size": 4, "lr": 0.01, "warmup_steps": 0, "schedule": "constant"},
            "run": {"out_dir": str(tmp_path / "run"), "num_threads": 1, "log_every": 5, "checkpoint_every": 5},
        }
    )


def test_rendering_the_training_data_leaves_the_global_rng_alone(tmp_path):
    """A run that renders its data must initialise its model as one that finds the cache does."""
    from gosvae.datasets import build_dataset

    dataset = build_dataset(name="synthetic-urban", split="train", num_images=3, size=(16, 32), seed=0)
    torch.manual_seed(7)
    expected = torch.rand(4)
    torch.manual_seed(7)
    rendered = MaterializedData.from_dataset(dataset, cache_file=tmp_path / "c.npz", num_workers=1)
    assert torch.equal(torch.rand(4), expected)
    torch.manual_seed(7)
    cached = MaterializedData.from_dataset(dataset, cache_file=tmp_path / "c.npz", num_workers=1)
    assert torch.equal(torch.rand(4), expected)
    assert torch.equal(rendered.images, cached.images) and torch.equal(rendered.labels, cached.labels)


def test_runs_rendering_one_cache_at_once_each_write_a_complete_file(tmp_path, monkeypatch):
    """Runs started side by side render the same split together: no rename may fail or tear."""
    import threading

    from gosvae.datasets import build_dataset

    dataset = build_dataset(name="synthetic-urban", split="train", num_images=2, size=(16, 32), seed=0)
    cache = tmp_path / "c.npz"
    real_replace, written = Path.replace, threading.Barrier(3)

    def replace_together(self, target):  # every writer has written before the first renames
        written.wait(timeout=30)
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", replace_together)
    results, errors = [], []

    def render():
        try:
            results.append(MaterializedData.from_dataset(dataset, cache_file=cache, num_workers=0))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=render) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # no temporary file left behind
    with np.load(cache) as z:
        assert np.array_equal(z["images"], results[0].images.numpy())
        assert np.array_equal(z["labels"], results[0].labels.numpy())


def test_tiny_teacher_training_lowers_loss_resumes_exactly_and_exports(tmp_path, monkeypatch):
    import gosvae.zoo as zoo

    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path / "zoo")
    config = _tiny_config(tmp_path, steps=20)
    train_teacher(config, config_path="tiny.yaml", command="gosvae train tiny.yaml", export_zoo=True)
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    losses = [float(r.split(",")[1]) for r in rows[1:]]
    assert len(losses) == 4 and losses[-1] < losses[0]

    # Interrupted after 10 steps and resumed: the same weights as the uninterrupted 20-step run.
    full = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model"]
    config2 = _tiny_config(tmp_path / "second", steps=10)
    train_teacher(config2, config_path="tiny.yaml", command="c")
    config2.optim.steps = 20
    # the schedule is constant, so stopping at 10 then asking for 20 continues the same run
    train_teacher(config2, config_path="tiny.yaml", command="c", resume=True)
    resumed = torch.load(tmp_path / "second" / "run" / "checkpoint.pt", weights_only=True)["model"]
    for key in full:
        torch.testing.assert_close(resumed[key], full[key], msg=key)

    entry = get_entry("tiny-teacher")
    assert entry.kind == "teacher" and entry.steps == 20 and entry.command == "gosvae train tiny.yaml"
    assert 0.0 <= entry.quality["miou"] <= 1.0
    teacher = load_teacher("tiny-teacher")
    assert not teacher.training and teacher.num_classes == 19
    final = json.loads((tmp_path / "run" / "final.json").read_text())
    assert final["miou"] == pytest.approx(entry.quality["miou"], abs=1e-4)


def test_zoo_roundtrip_and_unknown_names(tmp_path, monkeypatch):
    import gosvae.zoo as zoo

    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    teacher = _tiny_teacher()
    save_zoo_entry(
        state_dict=teacher.state_dict(),
        metadata={"name": "t", "kind": "teacher", "arch": "urban-unet", "arch_config": teacher.config,
                  "config": "c.yaml", "command": "cmd", "data": {}, "steps": 1, "quality": {"miou": 0.5}},
        directory=tmp_path,
    )
    _, state = load_zoo_weights("t")
    for key, value in teacher.state_dict().items():
        torch.testing.assert_close(state[key], value)
    with pytest.raises(UserError, match=r"no model 'nope' in the zoo \(available: t\)"):
        get_entry("nope")
    with pytest.raises(UserError, match="unknown teacher 'nope'"):
        load_teacher("nope")
    with pytest.raises(UserError, match="does not exist"):
        load_teacher("./no/such/folder")


def test_scaled_batches_keep_image_and_label_aligned_and_resize_to_the_crop():
    n, h, w = 2, 32, 48
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    blocks = (rows // 8 + cols // 8) % 5  # 8x8 blocks of one label each
    labels = torch.stack([blocks, (blocks + 2) % 5]).to(torch.uint8)
    images = torch.stack([labels * 50] * 3, dim=1)  # each label value has its own grey level
    data = MaterializedData(images, labels)
    g = torch.Generator().manual_seed(3)
    x, y = data.random_batch(batch_size=12, crop=(8, 12), hflip=True, generator=g, scale_range=(0.8, 2.0))
    assert x.shape == (12, 3, 8, 12) and y.shape == (12, 8, 12)
    assert set(y.unique().tolist()) <= set(range(5))
    # nearest-neighbour labels sample the same source pixels as the image wherever the image is
    # flat (its 3x3 neighbourhood holds one grey level: away from block edges)
    grey = (x[:, 0:1] * 255).round()
    spread = F.max_pool2d(grey, 3, stride=1, padding=1) + F.max_pool2d(-grey, 3, stride=1, padding=1)
    flat = (spread[:, 0] == 0) & (grey[:, 0] % 50 == 0)
    assert flat.float().mean() > 0.3
    torch.testing.assert_close(((x[:, 0] * 255).round() / 50).long()[flat], y[flat])


def test_scale_one_without_jitter_is_a_plain_crop_and_jitter_stays_in_range():
    images = torch.randint(0, 256, (3, 3, 10, 14), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    data = MaterializedData(images, torch.zeros(3, 10, 14, dtype=torch.uint8))
    x, _ = data.random_batch(batch_size=4, crop=(10, 14), hflip=False, generator=torch.Generator().manual_seed(1),
                             scale_range=(1.0, 1.0))
    for item in x:  # every item is one of the whole images, unchanged
        assert any(torch.equal((item * 255).round().to(torch.uint8), img) for img in images)
    jittered, _ = data.random_batch(batch_size=4, crop=(10, 14), hflip=False, generator=torch.Generator().manual_seed(1),
                                    scale_range=(1.0, 1.0), color_jitter=0.5)
    assert jittered.min() >= 0 and jittered.max() <= 1 and not torch.equal(jittered, x)

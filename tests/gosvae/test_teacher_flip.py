"""The flip test of ``urban-unet`` (``test_time_flip``): the output is the mean of the class
probabilities of the image and of its mirror image flipped back, checked against the same weights
run twice by hand; the trainer trains single-view and exports the option."""

from __future__ import annotations

import pytest
import torch

from gosvae.teachers import UrbanUNet, load_teacher
from gosvae.training.config import TeacherTrainingConfig
from gosvae.training.teacher import train_teacher


def _pair(seed: int = 0) -> tuple[UrbanUNet, UrbanUNet]:
    """A single-view net with non-trivial batch-norm statistics and the same weights with the flip test."""
    torch.manual_seed(seed)
    single = UrbanUNet(num_classes=5, widths=(4, 4, 8, 8), logit_bias=[0.3, -0.2, 0.0, 0.1, -0.4])
    g = torch.Generator().manual_seed(seed + 1)
    for m in single.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    flipped = UrbanUNet.from_config({**single.config, "test_time_flip": True})
    flipped.load_state_dict(single.state_dict())
    return single.freeze(), flipped.freeze()


def test_flip_test_is_the_mean_of_both_views():
    single, flipped = _pair()
    x = torch.rand(2, 3, 32, 48)
    by_hand = 0.5 * (torch.softmax(single.logits(x), 1) + torch.softmax(single.logits(x.flip(-1)), 1).flip(-1))
    probs = flipped(x)
    torch.testing.assert_close(probs, by_hand, rtol=0, atol=1e-6)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 32, 48), rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.softmax(flipped.logits(x), 1), probs, rtol=0, atol=1e-5)
    torch.testing.assert_close(flipped.single_view_logits(x), single.logits(x), rtol=0, atol=0)


def test_flip_test_makes_the_teacher_mirror_equivariant():
    single, flipped = _pair(3)
    x = torch.rand(1, 3, 32, 64)
    torch.testing.assert_close(flipped(x.flip(-1)), flipped(x).flip(-1), rtol=0, atol=1e-6)
    assert (single(x.flip(-1)) - single(x).flip(-1)).abs().max() > 1e-3  # a single view is not


def test_flip_test_is_differentiable_in_the_input_and_survives_the_config():
    _, flipped = _pair()
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    flipped(x)[:, 1].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in flipped.parameters())
    rebuilt = UrbanUNet.from_config(flipped.config)
    assert rebuilt.test_time_flip and rebuilt.config["test_time_flip"] is True
    assert UrbanUNet(num_classes=5).config["test_time_flip"] is False


def test_trainer_exports_the_flip_test_and_scores_with_it(tmp_path, monkeypatch, tiny_teacher_training):
    import gosvae.zoo as zoo
    from gosvae.metrics.segmentation import confusion_matrix, mean_iou
    from gosvae.training.teacher import materialize

    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path / "zoo")
    raw = tiny_teacher_training(loss={}, num_train=2)
    raw["arch_config"]["test_time_flip"] = True
    raw["data"]["val"]["num_images"] = 2
    config = TeacherTrainingConfig.model_validate(raw)
    calls = {"single": 0}
    original = UrbanUNet.single_view_logits

    def counting(self, x):
        calls["single"] += int(torch.is_grad_enabled())
        return original(self, x)

    monkeypatch.setattr(UrbanUNet, "single_view_logits", counting)
    train_teacher(config, config_path="tiny.yaml", command="c", export_zoo=True)
    assert calls["single"] == config.optim.steps  # one single-view pass per training step
    entry = zoo.get_entry("tiny")
    assert entry.arch_config["test_time_flip"] is True
    teacher = load_teacher("tiny")
    assert teacher.test_time_flip
    val, _ = materialize(config.data.val, cache_dir=config.data.cache_dir, desc="v")
    total = sum(confusion_matrix(teacher.predict(images), labels, num_classes=19) for images, labels in val.batches(batch_size=1))
    assert entry.quality["miou"] == pytest.approx(float(mean_iou(total)), abs=1e-4)

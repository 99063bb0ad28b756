"""Lovász-softmax loss: equal to mean (1 - IoU) on hard predictions (hand-counted IoU), equal to the
integral form of the Lovász extension (numerical integration with numpy), ignore pixels left out,
and wired into teacher training by ``loss.lovasz_weight``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from gosvae.training.config import TeacherTrainingConfig
from gosvae.training.lovasz import lovasz_softmax


def test_hard_predictions_give_mean_jaccard_loss_over_present_classes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(2, 6, 7))
    labels[labels == 3] = 2  # class 3 absent from the ground truth ...
    prediction = labels.copy()
    flip = rng.random(labels.shape) < 0.3
    prediction[flip] = rng.integers(0, 5, size=flip.sum())  # ... and classes 3, 4 predicted anyway
    probs = F.one_hot(torch.from_numpy(prediction), 5).permute(0, 3, 1, 2).double()
    expected = []
    for c in np.unique(labels):
        intersection = np.sum((labels == c) & (prediction == c))
        union = np.sum((labels == c) | (prediction == c))
        expected.append(1.0 - intersection / union)
    loss = lovasz_softmax(probs, torch.from_numpy(labels))
    assert loss.item() == pytest.approx(np.mean(expected), abs=1e-12)
    assert lovasz_softmax(F.one_hot(torch.from_numpy(labels), 5).permute(0, 3, 1, 2).double(), torch.from_numpy(labels)).item() == 0.0


def _jaccard_set_loss(mispredicted: np.ndarray, foreground: np.ndarray) -> float:
    """Berman et al.'s Delta_J: |M| / |foreground ∪ M| for the set M of mispredicted pixels."""
    union = np.sum(foreground | mispredicted)
    return float(np.sum(mispredicted) / union) if union else 0.0


def test_soft_predictions_match_the_integral_form_of_the_lovasz_extension():
    """Lovász extension of a set function f with f(∅) = 0 at errors e: ∫_0^1 f({i: e_i > t}) dt."""
    torch.manual_seed(1)
    probs = torch.softmax(torch.randn(1, 3, 4, 5, dtype=torch.float64) * 2, dim=1)
    labels = torch.randint(0, 3, (1, 4, 5))
    p = probs[0].permute(1, 2, 0).reshape(-1, 3).numpy()
    y = labels.reshape(-1).numpy()
    thresholds = (np.arange(200000) + 0.5) / 200000  # midpoint rule
    per_class = []
    for c in np.unique(y):
        foreground = y == c
        errors = np.abs(foreground.astype(float) - p[:, c])
        # f(M_t) is piecewise constant in t: integrate exactly between the sorted error values
        # and check against the midpoint rule as well.
        grid = np.array([_jaccard_set_loss(errors > t, foreground) for t in thresholds[::1000]])
        levels = np.concatenate([[0.0], np.sort(errors)])
        exact = sum(
            (hi - lo) * _jaccard_set_loss(errors > (lo + hi) / 2, foreground) for lo, hi in zip(levels[:-1], levels[1:])
        )
        assert grid.mean() == pytest.approx(exact, abs=0.01)
        per_class.append(exact)
    assert lovasz_softmax(probs, labels).item() == pytest.approx(np.mean(per_class), abs=1e-10)


def test_ignored_pixels_do_not_count_and_gradient_reaches_the_scores():
    torch.manual_seed(2)
    logits = torch.randn(2, 4, 8, 8, requires_grad=True)
    labels = torch.randint(0, 4, (2, 8, 8))
    labels[:, :3] = 255
    loss = lovasz_softmax(torch.softmax(logits, 1), labels)
    loss.backward()
    assert 0 < loss.item() < 1
    assert logits.grad[:, :, :3].abs().max() == 0 and logits.grad[:, :, 3:].abs().max() > 0
    other = logits.detach().clone()
    other[:, :, :3] = torch.randn(2, 4, 3, 8)
    assert lovasz_softmax(torch.softmax(other, 1), labels).item() == pytest.approx(loss.item(), abs=1e-6)
    assert lovasz_softmax(torch.softmax(other, 1), torch.full_like(labels, 255)).item() == 0.0


def test_teacher_training_adds_the_lovasz_term_on_prior_corrected_scores(monkeypatch, tiny_teacher_training):
    import gosvae.training.teacher as teacher_training
    from gosvae.teachers import UrbanUNet

    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    scores: list[torch.Tensor] = []
    real_logits = UrbanUNet.single_view_logits  # what the trainer calls

    def recording_logits(self, x):
        out = real_logits(self, x)
        scores.append(out.detach())
        return out

    def recording_lovasz(probs, labels, *, ignore_index):
        seen.append((probs.detach(), labels))
        return lovasz_softmax(probs, labels, ignore_index=ignore_index)

    monkeypatch.setattr(UrbanUNet, "single_view_logits", recording_logits)
    monkeypatch.setattr(teacher_training, "lovasz_softmax", recording_lovasz)
    config = TeacherTrainingConfig.model_validate(
        tiny_teacher_training(loss={"class_weighting": "sqrt-inverse", "prior_correction": True, "lovasz_weight": 0.5})
    )
    teacher_training.train_teacher(config, config_path="tiny.yaml", command="c")
    assert len(seen) == 2  # one call per training step
    data, _ = teacher_training.materialize(config.data.train, cache_dir=config.data.cache_dir, desc="t")
    bias = teacher_training.prior_correction_bias(teacher_training.class_weights(data.labels, num_classes=19))
    probs, _ = seen[0]
    expected = torch.softmax(scores[0] + bias.view(1, -1, 1, 1), dim=1)  # the first logits call is step 1's
    torch.testing.assert_close(probs, expected)


def test_negative_lovasz_weight_is_refused(tiny_teacher_training):
    with pytest.raises(ValidationError, match="lovasz_weight"):
        TeacherTrainingConfig.model_validate(tiny_teacher_training(loss={"lovasz_weight": -1.0}))

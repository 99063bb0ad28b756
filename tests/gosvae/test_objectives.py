"""Tests of gosvae.objectives against direct numpy computations with a tiny dummy teacher."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gosvae.errors import UserError
from gosvae.models import VQVAE
from gosvae.objectives import OBJECTIVE_TERMS, build_objective
from gosvae.teachers.base import Teacher


class TinyTeacher(Teacher):
    """1x1 convolutions and a softmax; logits at half resolution, as real teachers often are."""

    num_classes = 3
    class_names = ["a", "b", "c"]

    def __init__(self) -> None:
        super().__init__(mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.4))
        self.embed = nn.Conv2d(3, 5, 1)
        self.head = nn.Conv2d(5, 3, 1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        hidden = torch.relu(self.embed(self.normalize(x)))
        return [hidden, F.avg_pool2d(hidden, 2)]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[1])  # (B, 3, H/2, W/2)

    def class_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        upsampled = F.interpolate(self.logits(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return torch.softmax(upsampled, dim=1)


class MeanAbsoluteLPIPS(nn.Module):
    """Stand-in for gosvae.perceptual.LPIPS: (B,) per-image mean absolute difference."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).abs().mean(dim=(1, 2, 3))


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().double().numpy()


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.mean(np.sum(p * np.log(p / q), axis=1)))


def _js(p: np.ndarray, q: np.ndarray) -> float:
    m = 0.5 * (p + q)
    return 0.5 * _kl(p, m) + 0.5 * _kl(q, m)


def _cross_entropy(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.mean(-np.sum(p * np.log(q), axis=1)))


def _feature_distance(fx: list[torch.Tensor], fy: list[torch.Tensor]) -> float:
    values = []
    for a, b in zip(map(_np, fx), map(_np, fy)):
        a = a / (np.sqrt((a**2).sum(axis=1, keepdims=True)) + 1e-10)
        b = b / (np.sqrt((b**2).sum(axis=1, keepdims=True)) + 1e-10)
        values.append(np.mean(((a - b) ** 2).sum(axis=1)))
    return float(np.mean(values))


@pytest.fixture
def teacher() -> TinyTeacher:
    """In float64, so that the comparisons test the formulas, not float32 rounding."""
    teacher = TinyTeacher().double()
    with torch.no_grad():
        teacher.head.weight.mul_(4.0)  # confident enough for divergences of order 0.1
    return teacher


@pytest.fixture
def batch() -> tuple[torch.Tensor, SimpleNamespace]:
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    output = SimpleNamespace(
        x_hat=(x + 0.3 * torch.randn_like(x)).clamp(0, 1),
        codebook_loss=torch.tensor(0.7, dtype=torch.float64),
        commitment_loss=torch.tensor(0.05, dtype=torch.float64),
    )
    return x, output


def _teacher_distributions(teacher: Teacher, x: torch.Tensor, x_hat: torch.Tensor, resolution: str):
    if resolution == "logits":
        return _softmax(_np(teacher.logits(x))), _softmax(_np(teacher.logits(x_hat)))
    return _np(teacher(x)), _np(teacher(x_hat))


def test_mse_objective_is_pixel_mse_plus_vq_terms(batch) -> None:
    x, out = batch
    terms = build_objective("mse")(x, out)
    assert list(terms) == ["mse", "codebook", "commitment", "total"]
    mse = np.mean((_np(out.x_hat) - _np(x)) ** 2)
    np.testing.assert_allclose(terms["mse"].item(), mse, rtol=1e-6)
    np.testing.assert_allclose(terms["total"].item(), mse + 0.7 + 0.05, rtol=1e-6)


@pytest.mark.parametrize("resolution", ["logits", "full"])
def test_gos_objective_is_features_plus_js_plus_vq(teacher, batch, resolution: str) -> None:
    x, out = batch
    objective = build_objective("gos", teacher=teacher, js_resolution=resolution,
                                weights={"js": 2.0, "perceptual": 0.5})
    terms = objective(x, out)
    p, q = _teacher_distributions(teacher, x, out.x_hat, resolution)
    js = _js(p, q)
    perceptual = _feature_distance(teacher.features(x), teacher.features(out.x_hat))
    assert list(terms) == ["perceptual", "js", "codebook", "commitment", "total"]
    np.testing.assert_allclose(terms["js"].item(), js, rtol=1e-5)
    np.testing.assert_allclose(terms["perceptual"].item(), perceptual, rtol=1e-5)
    np.testing.assert_allclose(terms["total"].item(), 0.5 * perceptual + 2.0 * js + 0.75, rtol=1e-5)


def test_js_resolution_changes_what_is_compared(teacher, batch) -> None:
    x, out = batch
    at_logits = build_objective("gos", teacher=teacher, perceptual="none")(x, out)["js"].item()
    at_full = build_objective("gos", teacher=teacher, perceptual="none", js_resolution="full")(x, out)["js"].item()
    assert at_logits != pytest.approx(at_full, rel=1e-3)


@pytest.mark.parametrize("resolution", ["logits", "full"])
def test_ce_objective_soft_and_hard_targets(teacher, batch, resolution: str) -> None:
    x, out = batch
    p, q = _teacher_distributions(teacher, x, out.x_hat, resolution)
    soft = build_objective("ce", teacher=teacher, js_resolution=resolution)(x, out)
    np.testing.assert_allclose(soft["ce"].item(), _cross_entropy(p, q), rtol=1e-5)
    hard = build_objective("ce", teacher=teacher, js_resolution=resolution, ce_target="hard")(x, out)
    one_hot = np.moveaxis(np.eye(3)[p.argmax(axis=1)], -1, 1)
    np.testing.assert_allclose(hard["ce"].item(), _cross_entropy(one_hot, q), rtol=1e-5)
    np.testing.assert_allclose(hard["total"].item(), _cross_entropy(one_hot, q) + 0.75, rtol=1e-5)


def test_mse_kld_objective_uses_kl_of_teacher_on_x_against_x_hat(teacher, batch) -> None:
    x, out = batch
    terms = build_objective("mse+kld", teacher=teacher)(x, out)
    p, q = _teacher_distributions(teacher, x, out.x_hat, "logits")
    np.testing.assert_allclose(terms["kld"].item(), _kl(p, q), rtol=1e-5)  # D_KL(S || Ŝ) ...
    assert abs(_kl(p, q) - _kl(q, p)) > 1e-3 * _kl(p, q)  # ... which is not D_KL(Ŝ || S)
    mse = np.mean((_np(out.x_hat) - _np(x)) ** 2)
    np.testing.assert_allclose(terms["total"].item(), mse + _kl(p, q) + 0.75, rtol=1e-5)


def test_lpips_objective_and_kld_with_lpips_perceptual(teacher, batch) -> None:
    x, out = batch
    lpips_value = float(np.mean(np.abs(_np(x) - _np(out.x_hat))))
    terms = build_objective("lpips", lpips=MeanAbsoluteLPIPS(), weights={"perceptual": 3.0})(x, out)
    assert list(terms) == ["perceptual", "codebook", "commitment", "total"]
    np.testing.assert_allclose(terms["total"].item(), 3.0 * lpips_value + 0.75, rtol=1e-6)

    terms = build_objective("kld+perceptual", teacher=teacher, perceptual="lpips", lpips=MeanAbsoluteLPIPS())(x, out)
    p, q = _teacher_distributions(teacher, x, out.x_hat, "logits")
    np.testing.assert_allclose(terms["perceptual"].item(), lpips_value, rtol=1e-6)
    np.testing.assert_allclose(terms["kld"].item(), _kl(p, q), rtol=1e-5)


def test_ce_with_the_perceptual_term_adds_it_to_the_cross_entropy(teacher, batch) -> None:
    x, out = batch
    with_perceptual = build_objective("ce+perceptual", teacher=teacher, perceptual="lpips", lpips=MeanAbsoluteLPIPS())(x, out)
    alone = build_objective("ce", teacher=teacher)(x, out)
    lpips_value = float(np.mean(np.abs(_np(x) - _np(out.x_hat))))
    np.testing.assert_allclose(with_perceptual["ce"].item(), alone["ce"].item(), rtol=1e-6)
    np.testing.assert_allclose(with_perceptual["perceptual"].item(), lpips_value, rtol=1e-6)
    np.testing.assert_allclose(with_perceptual["total"].item(), alone["total"].item() + lpips_value, rtol=1e-5)


def test_perceptual_none_drops_the_term_and_zero_weights_are_skipped(teacher, batch) -> None:
    x, out = batch
    assert list(build_objective("gos", teacher=teacher, perceptual="none")(x, out)) == [
        "js", "codebook", "commitment", "total"]
    terms = build_objective("gos", teacher=teacher, weights={"perceptual": 0.0})(x, out)
    assert "perceptual" not in terms
    # Only "mse" and "lpips" objectives work without a teacher.
    assert build_objective("lpips", lpips=MeanAbsoluteLPIPS()).teacher is None


def test_gradients_reach_the_codec_but_never_the_teacher() -> None:
    teacher = TinyTeacher().requires_grad_(True)  # the objective must freeze it
    model = VQVAE(arch="shallow", ratio=2, codebook_size=8, embedding_dim=4,
                  encoder_channels=[6], decoder_channels=[6])
    objective = build_objective("gos", teacher=teacher)
    x = torch.rand(2, 3, 8, 8)
    objective(x, model(x))["total"].backward()
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0), name
    objective.train()
    assert not objective.training and not teacher.training


def test_a_few_adam_steps_lower_the_pixel_objective() -> None:
    torch.manual_seed(3)
    model = VQVAE(arch="shallow", ratio=2, codebook_size=16, embedding_dim=8,
                  encoder_channels=[16], decoder_channels=[16])
    objective = build_objective("mse")
    images = torch.rand(2, 3, 16, 16)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        total = objective(images, model(images))["total"]
        total.backward()
        optimizer.step()
        losses.append(total.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_every_named_objective_builds_with_the_right_terms(teacher) -> None:
    for name, expected in OBJECTIVE_TERMS.items():
        objective = build_objective(name, teacher=teacher, lpips=MeanAbsoluteLPIPS())
        assert tuple(objective.weights) == expected


def test_factory_user_errors(teacher) -> None:
    with pytest.raises(UserError, match=r"unknown objective 'l1' \(known: "):
        build_objective("l1")
    for name in ("gos", "ce", "mse+kld", "kld+perceptual", "ce+perceptual"):
        with pytest.raises(UserError, match=re.escape(f"objective '{name}' needs a teacher")):
            build_objective(name)
    with pytest.raises(UserError, match=r"objective 'lpips' needs an LPIPS module"):
        build_objective("lpips", teacher=teacher)
    with pytest.raises(UserError, match=r"perceptual='lpips' needs an LPIPS module"):
        build_objective("gos", teacher=teacher, perceptual="lpips")
    with pytest.raises(UserError, match=r"objective 'mse' has no loss term 'js'"):
        build_objective("mse", weights={"js": 1.0})
    with pytest.raises(UserError, match=r"finite number >= 0, got -1"):
        build_objective("mse", weights={"mse": -1})
    with pytest.raises(UserError, match=r"perceptual must be one of"):
        build_objective("gos", teacher=teacher, perceptual="vgg")
    with pytest.raises(UserError, match=r"js_resolution must be one of"):
        build_objective("gos", teacher=teacher, js_resolution="half")
    with pytest.raises(UserError, match=r"must be a gosvae.teachers.Teacher"):
        build_objective("ce", teacher=nn.Conv2d(3, 3, 1))
    with pytest.raises(UserError, match=r"at least one loss term"):
        build_objective("mse", weights={"mse": 0, "codebook": 0, "commitment": 0})

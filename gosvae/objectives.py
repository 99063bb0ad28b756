r"""Training objectives of VQ-VAE and GOS-VAE (Chao et al.), as weighted sums of named terms.

Every objective is an :class:`Objective` called as ``objective(x, output)`` with the images ``x``
and the :class:`~gosvae.models.VQVAEOutput` of the model on them; it returns a dict of scalar
tensors: each term **unweighted**, plus ``"total"`` = sum of weight x term, the value to minimise.
``S = teacher(x)`` is computed without gradient, ``Ŝ = teacher(x̂)`` with gradient to ``x̂`` (and so
to the codec), never to the teacher, whose parameters are frozen.

========================  ==================================================================
name                      terms (default weight 1 each)
========================  ==================================================================
``"mse"``   (eq. 4, L_v)  ``mse`` = mean (x - x̂)^2, ``codebook``, ``commitment``
``"gos"``   (eq. 5, L_s)  ``perceptual``, ``js`` = D_JS(S‖Ŝ), ``codebook``, ``commitment``
``"ce"``    (eq. 6)       ``ce`` = H(S, Ŝ), ``codebook``, ``commitment``
``"mse+kld"`` (eq. 7)     ``mse``, ``kld`` = D_KL(S‖Ŝ), ``codebook``, ``commitment``
``"lpips"`` (eq. 8)       ``perceptual`` (always LPIPS), ``codebook``, ``commitment``
``"kld+perceptual"``      ``kld``, ``perceptual``, ``codebook``, ``commitment``
``"ce+perceptual"``       ``ce``, ``perceptual``, ``codebook``, ``commitment`` (Table IV ablation)
========================  ==================================================================

- ``codebook`` = ||sg[z] - e||^2 and ``commitment`` = beta ||z - sg[e]||^2 come from the model
  (``commitment`` already carries beta = 0.25), so weight 1 on both is eq. 4 exactly.
- Divergences and cross entropy are in nats, averaged over pixels (:mod:`gosvae.metrics.divergences`).
  ``js_resolution="logits"`` (default) compares ``softmax(teacher.logits(.))``, at the teacher's
  own output resolution (H/4 for SegFormer: about 30x cheaper than full resolution);
  ``"full"`` compares ``teacher(.)`` at (H, W).
- ``ce`` (eq. 6): the paper writes H(S, Ŝ) between the two teacher outputs, so by default the
  target is the soft distribution S (``ce_target="soft"``); ``ce_target="hard"`` uses the arg-max
  labels of S instead (classic pseudo-label distillation).
- ``perceptual``: ``"lpips"`` uses the LPIPS module given (``lpips(x, x̂) -> (B,)``, images in
  [0, 1]), averaged over the batch (:func:`load_objective_lpips` loads it from the weight files
  of ``$GOSVAE_VGG16_WEIGHTS`` and ``$GOSVAE_LPIPS_WEIGHTS`` when the objective uses it); ``"teacher-features"`` compares the teacher's
  ``features(x)`` and ``features(x̂)`` the way LPIPS compares VGG features, without learned
  heads: each map is divided by its Euclidean norm over channels at every pixel, the squared
  differences are summed over channels, averaged over pixels and images, then averaged over
  layers (each layer lies in [0, 4]); ``"none"`` drops the term ("gos" then becomes JS + VQ).

Example
-------
>>> from gosvae.models import VQVAE
>>> model, x = VQVAE(arch="shallow", ratio=4), torch.rand(2, 3, 32, 64)
>>> losses = build_objective("mse")(x, model(x))
>>> list(losses)
['mse', 'codebook', 'commitment', 'total']
>>> losses["total"].backward()
>>> gos = build_objective("gos", teacher=teacher, weights={"js": 2.0})  # doctest: +SKIP
>>> list(gos(x, model(x)))                                             # doctest: +SKIP
['perceptual', 'js', 'codebook', 'commitment', 'total']
"""

from __future__ import annotations

import math
import numbers
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gosvae.errors import UserError
from gosvae.metrics.divergences import (
    cross_entropy,
    cross_entropy_from_logits,
    js_divergence,
    js_divergence_from_logits,
    kl_divergence,
    kl_divergence_from_logits,
)
from gosvae.models.vqvae import VQVAEOutput
from gosvae.teachers.base import Teacher

__all__ = [
    "OBJECTIVE_TERMS",
    "PERCEPTUAL_KINDS",
    "Objective",
    "build_objective",
    "load_objective_lpips",
    "teacher_feature_distance",
    "uses_lpips",
]

OBJECTIVE_TERMS: dict[str, tuple[str, ...]] = {
    "mse": ("mse", "codebook", "commitment"),
    "gos": ("perceptual", "js", "codebook", "commitment"),
    "ce": ("ce", "codebook", "commitment"),
    "mse+kld": ("mse", "kld", "codebook", "commitment"),
    "lpips": ("perceptual", "codebook", "commitment"),
    "kld+perceptual": ("kld", "perceptual", "codebook", "commitment"),
    "ce+perceptual": ("ce", "perceptual", "codebook", "commitment"),
}
"""The terms of each named objective, in the order they are reported."""

PERCEPTUAL_KINDS: tuple[str, ...] = ("lpips", "teacher-features", "none")
JS_RESOLUTIONS: tuple[str, ...] = ("logits", "full")
CE_TARGETS: tuple[str, ...] = ("soft", "hard")
_TEACHER_TERMS = frozenset({"js", "kld", "ce"})
_FEATURE_NORM_EPS = 1e-10  # as LPIPS's normalize_tensor


def teacher_feature_distance(features_x: list[torch.Tensor], features_y: list[torch.Tensor]) -> torch.Tensor:
    """LPIPS-style distance between two lists of feature maps, without learned heads.

    Input: two lists of L maps, map ``l`` of shape (B, C_l, H_l, W_l) in both. Output: scalar,
    ``mean_l mean_{b,h,w} sum_c (f̂x - f̂y)^2`` where ``f̂`` is ``f`` divided by its Euclidean norm
    over channels (+1e-10) at each pixel; each layer's value is in [0, 4].
    """
    if len(features_x) != len(features_y) or not features_x:
        raise UserError(
            f"teacher features: expected two equally long non-empty lists, got {len(features_x)} and {len(features_y)}"
        )
    per_layer = []
    for fx, fy in zip(features_x, features_y):
        if fx.shape != fy.shape:
            raise UserError(f"teacher features: layer shapes differ, {tuple(fx.shape)} and {tuple(fy.shape)}")
        # vector_norm (not sqrt(sum(f^2))) gives a zero, not NaN, gradient at an all-zero ReLU vector.
        ux = fx / (torch.linalg.vector_norm(fx, dim=1, keepdim=True) + _FEATURE_NORM_EPS)
        uy = fy / (torch.linalg.vector_norm(fy, dim=1, keepdim=True) + _FEATURE_NORM_EPS)
        per_layer.append((ux - uy).square().sum(dim=1).mean())
    return torch.stack(per_layer).mean()


class Objective(nn.Module):
    """Weighted sum of named loss terms for training a :class:`~gosvae.models.VQVAE`.

    Use :func:`build_objective` to get the paper's objectives by name.

    Parameters
    ----------
    weights : Mapping[str, float]
        Term name -> weight, for terms among "mse", "js", "kld", "ce", "perceptual", "codebook",
        "commitment". A term of weight 0 is neither computed nor reported.
    teacher : Teacher | None
        Frozen segmentation teacher; needed by "js", "kld", "ce" and teacher-feature perceptual
        terms. It is frozen here (``teacher.freeze()``) if it was not.
    perceptual : str
        "lpips", "teacher-features" or "none": what the "perceptual" term measures.
    lpips : nn.Module | None
        LPIPS metric ``lpips(x, y) -> (B,)`` on [0, 1] images (e.g. :class:`gosvae.perceptual.LPIPS`);
        its parameters are frozen here.
    js_resolution : str
        "logits" (softmax of ``teacher.logits``) or "full" (``teacher(.)`` at image resolution);
        used by every teacher-output term.
    ce_target : str
        "soft" (H(S, Ŝ)) or "hard" (cross entropy against the arg-max labels of S).

    Input
    -----
    x : torch.Tensor
        (B, 3, H, W) float in [0, 1]: the images.
    output : VQVAEOutput
        The model's output on ``x`` (uses ``x_hat``, ``codebook_loss``, ``commitment_loss``).

    Output
    ------
    dict[str, torch.Tensor]
        Scalar tensors: each term (unweighted) in the order of ``weights``, then ``"total"``.
    """

    def __init__(
        self,
        *,
        weights: Mapping[str, float],
        teacher: Teacher | None = None,
        perceptual: str = "none",
        lpips: nn.Module | None = None,
        js_resolution: str = "logits",
        ce_target: str = "soft",
    ) -> None:
        super().__init__()
        _check_choice("perceptual", perceptual, PERCEPTUAL_KINDS)
        _check_choice("js_resolution", js_resolution, JS_RESOLUTIONS)
        _check_choice("ce_target", ce_target, CE_TARGETS)
        known = {"mse", "perceptual", "codebook", "commitment"} | _TEACHER_TERMS
        for term, weight in weights.items():
            if term not in known:
                raise UserError(f"unknown loss term {term!r} (known: {sorted(known)})")
            if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight) or weight < 0:
                raise UserError(f"weight of loss term {term!r} must be a finite number >= 0, got {weight!r}")
        self.weights = {term: float(weight) for term, weight in weights.items() if weight > 0}
        if not self.weights:
            raise UserError(f"an objective needs at least one loss term of weight > 0, got {dict(weights)}")
        self.perceptual_kind = perceptual
        self.js_resolution = js_resolution
        self.ce_target = ce_target

        if "perceptual" in self.weights:
            if perceptual == "none":
                raise UserError("loss term 'perceptual' has a weight but perceptual='none'")
            if perceptual == "lpips" and lpips is None:
                raise UserError("perceptual='lpips' needs an LPIPS module (lpips=gosvae.perceptual.load_lpips(...))")
        needs_teacher = bool(_TEACHER_TERMS & set(self.weights)) or (
            "perceptual" in self.weights and perceptual == "teacher-features"
        )
        if needs_teacher and teacher is None:
            raise UserError(f"loss terms {sorted(self.weights)} need a teacher (teacher=...), got none")
        if teacher is not None and not isinstance(teacher, Teacher):
            raise UserError(f"teacher must be a gosvae.teachers.Teacher, got {type(teacher).__name__}")
        self.teacher = teacher.freeze() if (needs_teacher and teacher is not None) else None
        self.lpips = lpips.requires_grad_(False).eval() if (
            "perceptual" in self.weights and perceptual == "lpips"
        ) else None

    def train(self, mode: bool = True) -> "Objective":  # noqa: ARG002 - torch signature
        """An objective has nothing to train: it and its teacher/LPIPS stay in eval mode."""
        return super().train(False)

    # ----------------------------------------------------------------------------------------
    def _teacher_outputs(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, m, h, w) at the teacher's resolution, or probabilities (B, m, H, W)."""
        assert self.teacher is not None
        return self.teacher.logits(images) if self.js_resolution == "logits" else self.teacher(images)

    def _divergence_terms(self, x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = _TEACHER_TERMS & set(self.weights)
        if not wanted:
            return {}
        with torch.no_grad():
            target = self._teacher_outputs(x)  # S: no gradient
        student = self._teacher_outputs(x_hat)  # Ŝ: gradient to x_hat
        on_logits = self.js_resolution == "logits"
        terms: dict[str, torch.Tensor] = {}
        if "js" in wanted:
            terms["js"] = (js_divergence_from_logits if on_logits else js_divergence)(target, student)
        if "kld" in wanted:
            terms["kld"] = (kl_divergence_from_logits if on_logits else kl_divergence)(target, student)
        if "ce" in wanted:
            if self.ce_target == "soft":
                terms["ce"] = (cross_entropy_from_logits if on_logits else cross_entropy)(target, student)
            elif on_logits:
                terms["ce"] = F.cross_entropy(student, target.argmax(dim=1))
            else:
                labels = F.one_hot(target.argmax(dim=1), target.shape[1]).permute(0, 3, 1, 2)
                terms["ce"] = cross_entropy(labels.to(student.dtype), student)
        return terms

    def _perceptual_term(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        if self.perceptual_kind == "lpips":
            assert self.lpips is not None
            return self.lpips(x, x_hat).mean()
        assert self.teacher is not None
        with torch.no_grad():
            features_x = self.teacher.features(x)
        return teacher_feature_distance(features_x, self.teacher.features(x_hat))

    def forward(self, x: torch.Tensor, output: VQVAEOutput) -> dict[str, torch.Tensor]:
        x_hat = output.x_hat
        if x_hat.shape != x.shape:
            raise UserError(f"x_hat {tuple(x_hat.shape)} and x {tuple(x.shape)} must have the same shape")
        computed = self._divergence_terms(x, x_hat)
        if "mse" in self.weights:
            computed["mse"] = F.mse_loss(x_hat, x)
        if "perceptual" in self.weights:
            computed["perceptual"] = self._perceptual_term(x, x_hat)
        if "codebook" in self.weights:
            computed["codebook"] = output.codebook_loss
        if "commitment" in self.weights:
            computed["commitment"] = output.commitment_loss
        terms = {name: computed[name] for name in self.weights}
        terms["total"] = sum(self.weights[name] * value for name, value in terms.items())
        return terms

    def extra_repr(self) -> str:
        return (
            f"weights={self.weights}, perceptual={self.perceptual_kind!r}, "
            f"js_resolution={self.js_resolution!r}, ce_target={self.ce_target!r}"
        )


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"{option} must be one of {list(choices)}, got {value!r}")


def build_objective(
    name: str,
    *,
    teacher: Teacher | None = None,
    perceptual: str = "teacher-features",
    lpips: nn.Module | None = None,
    weights: Mapping[str, float] | None = None,
    js_resolution: str = "logits",
    ce_target: str = "soft",
) -> Objective:
    """The paper's objective ``name`` (see the module table), with optional weight overrides.

    Parameters
    ----------
    name : str
        "mse", "gos", "ce", "mse+kld", "lpips", "kld+perceptual" or "ce+perceptual".
    teacher : Teacher | None
        Required by every name but "mse" and "lpips" (and by ``perceptual="teacher-features"``).
    perceptual : str
        Perceptual term of "gos", "kld+perceptual" and "ce+perceptual": "lpips", "teacher-features" or "none"
        (drops it). Ignored by the other names; "lpips" always uses the LPIPS module.
    lpips : nn.Module | None
        LPIPS metric, required by "lpips" and by ``perceptual="lpips"``.
    weights : Mapping[str, float] | None
        Overrides of the default weights (1), keyed by term name, e.g. ``{"js": 2.0,
        "perceptual": 0.5}``; only terms of ``name`` are accepted.
    js_resolution, ce_target : str
        See :class:`Objective`.

    Output
    ------
    Objective
        Called as ``objective(x, model_output) -> dict`` of scalar terms and ``"total"``.
    """
    if name not in OBJECTIVE_TERMS:
        raise UserError(f"unknown objective {name!r} (known: {list(OBJECTIVE_TERMS)})")
    _check_choice("perceptual", perceptual, PERCEPTUAL_KINDS)
    terms = OBJECTIVE_TERMS[name]
    if name == "lpips":
        if lpips is None:
            raise UserError("objective 'lpips' needs an LPIPS module (lpips=gosvae.perceptual.load_lpips(...))")
        perceptual = "lpips"
    elif "perceptual" not in terms:
        perceptual = "none"
    elif perceptual == "none":
        terms = tuple(term for term in terms if term != "perceptual")
    merged = {term: 1.0 for term in terms}
    for term, weight in (weights or {}).items():
        if term not in merged:
            raise UserError(f"objective {name!r} has no loss term {term!r} (its terms: {list(terms)})")
        merged[term] = weight
    active = {term for term, weight in merged.items() if weight != 0}
    needs_teacher = bool(_TEACHER_TERMS & active) or ("perceptual" in active and perceptual == "teacher-features")
    if needs_teacher and teacher is None:
        what = "teacher features" if perceptual == "teacher-features" else "the teacher's outputs"
        raise UserError(f"objective {name!r} needs a teacher (teacher=...) for {what}, got none")
    return Objective(
        weights=merged,
        teacher=teacher,
        perceptual=perceptual,
        lpips=lpips,
        js_resolution=js_resolution,
        ce_target=ce_target,
    )


def uses_lpips(name: str, *, perceptual: str = "teacher-features", weights: Mapping[str, float] | None = None) -> bool:
    """Whether :func:`build_objective` with these arguments needs an LPIPS module.

    Output: ``True`` for ``"lpips"``, and for an objective with a ``perceptual`` term of weight > 0
    (default 1) when ``perceptual="lpips"``; ``False`` otherwise (unknown names included: building
    the objective reports those).
    """
    if name == "lpips":
        return True
    weight = (weights or {}).get("perceptual", 1.0)
    has_term = "perceptual" in OBJECTIVE_TERMS.get(name, ())
    return has_term and perceptual == "lpips" and isinstance(weight, numbers.Real) and not isinstance(weight, bool) and weight > 0


def load_objective_lpips(
    name: str,
    *,
    perceptual: str = "teacher-features",
    weights: Mapping[str, float] | None = None,
    vgg16_weights: str | None = None,
    lpips_weights: str | None = None,
) -> nn.Module | None:
    """The LPIPS module that ``build_objective(name, perceptual=..., weights=...)`` needs, or ``None``.

    Inputs: the objective's ``name``, ``perceptual`` and ``weights`` (as for :func:`build_objective`),
    and the two weight files (default: ``$GOSVAE_VGG16_WEIGHTS`` and ``$GOSVAE_LPIPS_WEIGHTS``,
    :func:`gosvae.perceptual.resolve_lpips_weight_paths`).

    Output: a frozen :class:`gosvae.perceptual.LPIPS` on the CPU when :func:`uses_lpips`, else
    ``None`` (nothing is read). Raises :class:`~gosvae.errors.MissingWeightsError` (one line naming
    the variable, the path and the download URL) when a file is not set or absent.
    """
    if not uses_lpips(name, perceptual=perceptual, weights=weights):
        return None
    from gosvae.perceptual import load_lpips, resolve_lpips_weight_paths

    paths = resolve_lpips_weight_paths(vgg16_weights=vgg16_weights, lpips_weights=lpips_weights)
    return load_lpips(vgg16_weights=paths.vgg16_weights, lpips_weights=paths.lpips_weights)

r"""Divergences between per-pixel class distributions, usable as training losses and as metrics.

Every function compares two maps of distributions ``p, q`` of shape ``(B, m, H, W)`` (class
dimension 1; any number of trailing spatial dimensions works the same way), computes one value per
pixel and reduces them:

- ``reduction="none"``: the per-pixel map ``(B, H, W)`` (excluded pixels hold 0);
- ``reduction="mean"`` (default): the average over the pixels not excluded, all images together
  (0 when every pixel is excluded, so such a batch contributes no gradient instead of NaN);
- ``reduction="sum"``: the sum over the pixels not excluded.

``ignore_mask`` (``(B, H, W)`` bool, ``True`` = excluded) removes pixels, e.g. ``labels == 255``.
All logarithms are natural, so :math:`0 \le \mathrm{JS} \le \ln 2`.

Two families:

- on probabilities (:func:`kl_divergence`, :func:`js_divergence`, :func:`cross_entropy`): the
  arguments of the logarithms are clamped to ``eps`` so that values and gradients stay finite
  when probabilities are exactly 0 or 1 (a one-hot distribution, a saturated softmax). Terms
  with ``p = 0`` vanish as they should; a term with ``p > 0`` and ``q = 0`` (where KL and cross
  entropy are infinite) is capped at about ``p * ln(1/eps)``.
- on logits or log-probabilities (``*_from_logits``): ``log_softmax`` over dim 1 gives the log-
  probabilities, so no ``eps`` is needed; log-probabilities of ``-inf`` (probability exactly 0)
  are accepted.

Example
-------
>>> teacher_probs = torch.softmax(torch.randn(2, 19, 8, 16), dim=1)
>>> student_logits = torch.randn(2, 19, 8, 16, requires_grad=True)
>>> student_probs = torch.softmax(student_logits, dim=1)
>>> loss = js_divergence(teacher_probs, student_probs, ignore_mask=labels == 255)  # doctest: +SKIP
>>> loss = js_divergence_from_logits(teacher.logits(x), student_logits)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Literal

import torch

__all__ = [
    "Reduction",
    "kl_divergence",
    "js_divergence",
    "cross_entropy",
    "kl_divergence_from_logits",
    "js_divergence_from_logits",
    "cross_entropy_from_logits",
]

Reduction = Literal["mean", "sum", "none"]

_REDUCTIONS = ("mean", "sum", "none")

# Log-probabilities below this are raised to it before use. exp(-1e4) is exactly 0 in every
# floating dtype, so no value changes; what it buys is that -inf (probability 0) never meets
# another infinity in a difference or in the backward pass of logaddexp (which gives NaN).
_LOG_PROBABILITY_FLOOR = -1.0e4


def _check_distributions(p: torch.Tensor, q: torch.Tensor, *, names: tuple[str, str]) -> None:
    if p.shape != q.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {tuple(p.shape)} and {tuple(q.shape)}"
        )
    if p.dim() < 2:
        raise ValueError(f"{names[0]} must be (B, m, H, W) with classes on dim 1, got shape {tuple(p.shape)}")
    if not (p.is_floating_point() and q.is_floating_point()):
        raise TypeError(f"{names[0]} and {names[1]} must be floating point, got {p.dtype} and {q.dtype}")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(per_pixel: torch.Tensor, *, reduction: str, ignore_mask: torch.Tensor | None) -> torch.Tensor:
    """Apply ``ignore_mask`` (True = excluded) and ``reduction`` to a per-pixel map (B, H, W)."""
    if ignore_mask is not None:
        if ignore_mask.dtype != torch.bool:
            raise TypeError(f"ignore_mask must be a bool tensor, got {ignore_mask.dtype}")
        if ignore_mask.shape != per_pixel.shape:
            raise ValueError(
                f"ignore_mask must have the per-pixel shape {tuple(per_pixel.shape)}, got {tuple(ignore_mask.shape)}"
            )
        # where, not a product: 0 * inf would turn an excluded pixel into NaN.
        per_pixel = torch.where(ignore_mask, torch.zeros((), dtype=per_pixel.dtype, device=per_pixel.device), per_pixel)
    if reduction == "none":
        return per_pixel
    total = per_pixel.sum()
    if reduction == "sum":
        return total
    if ignore_mask is None:
        return total / per_pixel.numel() if per_pixel.numel() else total
    return total / (~ignore_mask).sum().clamp_min(1).to(per_pixel.dtype)


def _safe_log(probabilities: torch.Tensor, eps: float) -> torch.Tensor:
    """``log(max(p, eps))``; the floor never goes below the dtype's smallest normal number."""
    return probabilities.clamp_min(max(eps, torch.finfo(probabilities.dtype).tiny)).log()


def _log_probabilities(logits: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits, dim=1).clamp_min(_LOG_PROBABILITY_FLOOR)


def _check_eps(eps: float) -> None:
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must be in (0, 1), got {eps}")


def kl_divergence(
    p: torch.Tensor,
    q: torch.Tensor,
    *,
    reduction: Reduction = "mean",
    ignore_mask: torch.Tensor | None = None,
    eps: float = 1e-12,
) -> torch.Tensor:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(p \| q) = \sum_c p_c \ln(p_c / q_c)` per pixel.

    Parameters
    ----------
    reduction : "mean" | "sum" | "none"
        See the module documentation.
    ignore_mask : [B, H, W], torch.bool, optional
        ``True`` at pixels to exclude.
    eps : float
        Floor of the arguments of the logarithms (default 1e-12).

    Input
    -----
    p, q : [B, m, H, W], floating point
        Distributions over dim 1 (non-negative, summing to 1).

    Output
    ------
    : [B, H, W] if ``reduction="none"``, else [], dtype of the inputs
        Divergence in nats, >= 0.

    Example
    -------
    >>> p = torch.tensor([0.5, 0.5]).view(1, 2, 1, 1); q = torch.tensor([0.9, 0.1]).view(1, 2, 1, 1)
    >>> kl_divergence(p, q)  # 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1)
    tensor(0.5108)
    """
    _check_distributions(p, q, names=("p", "q"))
    _check_reduction(reduction)
    _check_eps(eps)
    per_pixel = (p * (_safe_log(p, eps) - _safe_log(q, eps))).sum(dim=1)
    return _reduce(per_pixel, reduction=reduction, ignore_mask=ignore_mask)


def js_divergence(
    p: torch.Tensor,
    q: torch.Tensor,
    *,
    reduction: Reduction = "mean",
    ignore_mask: torch.Tensor | None = None,
    eps: float = 1e-12,
) -> torch.Tensor:
    r"""Jensen-Shannon divergence :math:`\tfrac12 \mathrm{KL}(p\|M) + \tfrac12 \mathrm{KL}(q\|M)`, :math:`M = (p+q)/2`.

    Symmetric in ``p`` and ``q``, between 0 (equal distributions) and :math:`\ln 2` (disjoint
    supports), up to rounding. Its square root is ``scipy.spatial.distance.jensenshannon``.

    Parameters
    ----------
    reduction : "mean" | "sum" | "none"
        See the module documentation.
    ignore_mask : [B, H, W], torch.bool, optional
        ``True`` at pixels to exclude.
    eps : float
        Floor of the arguments of the logarithms (default 1e-12).

    Input
    -----
    p, q : [B, m, H, W], floating point
        Distributions over dim 1.

    Output
    ------
    : [B, H, W] if ``reduction="none"``, else [], dtype of the inputs
        Divergence in nats.

    Example
    -------
    >>> p = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    >>> js_divergence(p, p.flip(1))  # disjoint supports: ln 2
    tensor(0.6931)
    """
    _check_distributions(p, q, names=("p", "q"))
    _check_reduction(reduction)
    _check_eps(eps)
    log_mixture = _safe_log(0.5 * (p + q), eps)
    per_pixel = 0.5 * (p * (_safe_log(p, eps) - log_mixture) + q * (_safe_log(q, eps) - log_mixture)).sum(dim=1)
    return _reduce(per_pixel, reduction=reduction, ignore_mask=ignore_mask)


def cross_entropy(
    p: torch.Tensor,
    q: torch.Tensor,
    *,
    reduction: Reduction = "mean",
    ignore_mask: torch.Tensor | None = None,
    eps: float = 1e-12,
) -> torch.Tensor:
    r"""Cross entropy :math:`H(p, q) = -\sum_c p_c \ln q_c` per pixel (= entropy of p + KL(p‖q)).

    Parameters
    ----------
    reduction : "mean" | "sum" | "none"
        See the module documentation.
    ignore_mask : [B, H, W], torch.bool, optional
        ``True`` at pixels to exclude.
    eps : float
        Floor of the argument of the logarithm (default 1e-12).

    Input
    -----
    p : [B, m, H, W], floating point
        Target distributions over dim 1 (e.g. a teacher's probabilities, or one-hot labels).
    q : [B, m, H, W], floating point
        Predicted distributions over dim 1.

    Output
    ------
    : [B, H, W] if ``reduction="none"``, else [], dtype of the inputs
        Cross entropy in nats.

    Example
    -------
    >>> p = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1); q = torch.tensor([0.25, 0.75]).view(1, 2, 1, 1)
    >>> cross_entropy(p, q)  # -ln 0.25
    tensor(1.3863)
    """
    _check_distributions(p, q, names=("p", "q"))
    _check_reduction(reduction)
    _check_eps(eps)
    per_pixel = -(p * _safe_log(q, eps)).sum(dim=1)
    return _reduce(per_pixel, reduction=reduction, ignore_mask=ignore_mask)


def kl_divergence_from_logits(
    logits_p: torch.Tensor,
    logits_q: torch.Tensor,
    *,
    reduction: Reduction = "mean",
    ignore_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r""":func:`kl_divergence` of ``softmax(logits_p)`` and ``softmax(logits_q)`` over dim 1.

    Input
    -----
    logits_p, logits_q : [B, m, H, W], floating point
        Unnormalised class scores or log-probabilities (``-inf`` allowed for probability 0).

    Output
    ------
    : [B, H, W] if ``reduction="none"``, else [], dtype of the inputs
        Divergence in nats. Where ``p > 0`` and ``q = 0`` it is large but finite.

    Example
    -------
    >>> kl_divergence_from_logits(torch.zeros(1, 2, 1, 1), torch.tensor([0.0, math.log(9)]).view(1, 2, 1, 1))
    tensor(0.5108)
    """
    _check_distributions(logits_p, logits_q, names=("logits_p", "logits_q"))
    _check_reduction(reduction)
    log_p, log_q = _log_probabilities(logits_p), _log_probabilities(logits_q)
    per_pixel = (log_p.exp() * (log_p - log_q)).sum(dim=1)
    return _reduce(per_pixel, reduction=reduction, ignore_mask=ignore_mask)


def js_divergence_from_logits(
    logits_p: torch.Tensor,
    logits_q: torch.Tensor,
    *,
    reduction: Reduction = "mean",
    ignore_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r""":func:`js_divergence` of ``softmax(logits_p)`` and ``softmax(logits_q)`` over dim 1.

    The mixture's logarithm is computed as ``logaddexp(log p, log q) - ln 2``, exact without any
    ``eps``.

    Input
    -----
    logits_p, logits_q : [B, m, H, W], floating point
        Unnormalised class scores or log-probabilities (``-inf`` allowed for probability 0).

    Output
    ------
    : [B, H, W] if ``reduction="none"``, else [], dtype of the inputs
        Divergence in nats, in [0, ln 2].

    Example
    -------
    >>> js_divergence_from_logits(torch.randn(2, 19, 8, 8), torch.randn(2, 19, 8, 8)).shape
    torch.Size([])
    """
    _check_distributions(logits_p, logits_q, names=("logits_p", "logits_q"))
    _check_reduction(reduction)
    log_p, log_q = _log_probabilities(logits_p), _log_probabilities(logits_q)
    log_mixture = torch.logaddexp(log_p, log_q) - math.log(2.0)
    per_pixel = 0.5 * (log_p.exp() * (log_p - log_mixture) + log_q.exp() * (log_q - log_mixture)).sum(dim=1)
    return _reduce(per_pixel, reduction=reduction, ignore_mask=ignore_mask)


def cross_entropy_from_logits(
    logits_p: torch.Tensor,
    logits_q: torch.Tensor,
    *,
    reduction: Reduction = "mean",
    ignore_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r""":func:`cross_entropy` of ``softmax(logits_p)`` (target) and ``softmax(logits_q)`` over dim 1.

    Input
    -----
    logits_p : [B, m, H, W], floating point
        Target class scores or log-probabilities (``-inf`` allowed).
    logits_q : [B, m, H, W], floating point
        Predicted class scores or log-probabilities.

    Output
    ------
    : [B, H, W] if ``reduction="none"``, else [], dtype of the inputs
        Cross entropy in nats.

    Example
    -------
    >>> cross_entropy_from_logits(torch.tensor([0.0, -math.inf]).view(1, 2, 1, 1), torch.zeros(1, 2, 1, 1))
    tensor(0.6931)
    """
    _check_distributions(logits_p, logits_q, names=("logits_p", "logits_q"))
    _check_reduction(reduction)
    log_p, log_q = _log_probabilities(logits_p), _log_probabilities(logits_q)
    per_pixel = -(log_p.exp() * log_q).sum(dim=1)
    return _reduce(per_pixel, reduction=reduction, ignore_mask=ignore_mask)

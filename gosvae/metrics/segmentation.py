"""Semantic-segmentation scores: confusion matrices, IoU, mIoU, pixel accuracy, confidence intervals.

Conventions follow the Cityscapes evaluation scripts:

- the confusion matrix has **rows = ground truth, columns = prediction**;
- pixels whose ground truth equals ``ignore_index`` (255, :data:`gosvae.datasets.base.IGNORE_INDEX`)
  are left out, whatever was predicted there;
- a class absent from both the prediction and the ground truth has an undefined IoU (NaN) and is
  left out of the mean IoU; a class present in only one of them has IoU 0 and counts.

The mean IoU of a dataset is computed from the confusion matrix accumulated over all its pixels
(:class:`SegmentationMeter`); the per-image mIoU values it also collects serve for confidence
intervals (:func:`mean_confidence_interval`).

Example
-------
>>> meter = SegmentationMeter(num_classes=19)
>>> for images, labels in loader:                      # doctest: +SKIP
...     meter.update(teacher.predict(codec(images)), labels)
>>> meter.mean_iou(), mean_confidence_interval(meter.per_image_miou)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Literal, Sequence

import numpy as np
import torch
from scipy import stats

from gosvae.datasets.base import IGNORE_INDEX
from gosvae.errors import UserError

__all__ = [
    "confusion_matrix",
    "iou_per_class",
    "mean_iou",
    "pixel_accuracy",
    "SegmentationMeter",
    "segmentation_scores",
    "mean_confidence_interval",
]


def _check_label_maps(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.dim() not in (2, 3):
        raise ValueError(f"label maps must be (H, W) or (B, H, W), got shape {tuple(pred.shape)}")
    for name, labels in (("pred", pred), ("target", target)):
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise TypeError(
                f"{name} must hold integer class ids, got dtype {labels.dtype}"
                + (" (take .argmax(dim=1) of class scores first)" if name == "pred" else "")
            )


def _check_class_range(name: str, labels: torch.Tensor, num_classes: int) -> None:
    """Raise if ``labels`` (already restricted to labelled pixels) leave ``[0, num_classes)``."""
    if labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise UserError(
            f"{name} holds class id {bad} at a labelled pixel; expected ids in [0, {num_classes})"
            " or the ignore index (check num_classes and the dataset's label encoding)"
        )


def _confusion_counts(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    num_classes: int,
    ignore_index: int | None,
    per_image: bool,
) -> torch.Tensor:
    """Confusion counts (B, m, m) when ``per_image`` else (m, m), int64, on the inputs' device."""
    _check_label_maps(pred, target)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if pred.dim() == 2:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    num_images = pred.shape[0]
    pred = pred.reshape(num_images, -1).long()
    target = target.reshape(num_images, -1).long()

    labelled = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    pred_labelled, target_labelled = pred[labelled], target[labelled]
    _check_class_range("target", target_labelled, num_classes)
    _check_class_range("pred", pred_labelled, num_classes)

    # One bincount over a flat index (image, true class, predicted class): the standard
    # scatter-free way to count pairs, exact in int64 and linear in the number of pixels.
    flat = target_labelled * num_classes + pred_labelled
    bins = num_classes * num_classes
    if per_image:
        image_index = torch.arange(num_images, device=pred.device).unsqueeze(1).expand_as(target)
        flat = image_index[labelled] * bins + flat
        return torch.bincount(flat, minlength=num_images * bins).view(num_images, num_classes, num_classes)
    return torch.bincount(flat, minlength=bins).view(num_classes, num_classes)


def confusion_matrix(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    num_classes: int,
    ignore_index: int | None = IGNORE_INDEX,
) -> torch.Tensor:
    r"""Pixel confusion matrix between predicted and ground-truth label maps.

    Parameters
    ----------
    num_classes : int
        ``m``, the number of classes; labelled pixels must hold ids in ``[0, m)``.
    ignore_index : int | None
        Ground-truth value of pixels left out (default 255); ``None`` counts every pixel.

    Input
    -----
    pred : [B, H, W] or [H, W], integer dtype
        Predicted class ids.
    target : same shape as ``pred``, integer dtype
        Ground-truth class ids or ``ignore_index``.

    Output
    ------
    : [m, m], torch.int64
        ``C[i, j]`` = number of labelled pixels of true class ``i`` predicted as ``j``, summed
        over the batch; on the inputs' device.

    Raises :class:`~gosvae.errors.UserError` if a labelled pixel holds an id outside ``[0, m)``.

    Example
    -------
    >>> confusion_matrix(torch.tensor([[0, 1], [1, 1]]), torch.tensor([[0, 0], [1, 255]]), num_classes=2)
    tensor([[1, 1],
            [0, 1]])
    """
    return _confusion_counts(pred, target, num_classes=num_classes, ignore_index=ignore_index, per_image=False)


def _check_confusion(confusion: torch.Tensor) -> None:
    if confusion.dim() < 2 or confusion.shape[-1] != confusion.shape[-2]:
        raise ValueError(f"a confusion matrix must be square (..., m, m), got shape {tuple(confusion.shape)}")


def iou_per_class(confusion: torch.Tensor) -> torch.Tensor:
    r"""Intersection over union of each class, :math:`C_{ii} / (\sum_j C_{ij} + \sum_j C_{ji} - C_{ii})`.

    Input
    -----
    confusion : [..., m, m], any real dtype
        Confusion matrices (rows = ground truth), e.g. from :func:`confusion_matrix`.

    Output
    ------
    : [..., m], torch.float64
        IoU per class; NaN for a class absent from both prediction and ground truth.

    Example
    -------
    >>> iou_per_class(torch.tensor([[3, 1, 0], [0, 2, 0], [0, 0, 0]]))
    tensor([0.7500, 0.6667,    nan], dtype=torch.float64)
    """
    _check_confusion(confusion)
    counts = confusion.to(torch.float64)
    true_positives = counts.diagonal(dim1=-2, dim2=-1)
    union = counts.sum(dim=-1) + counts.sum(dim=-2) - true_positives
    return true_positives / union  # 0 / 0 = NaN marks classes absent from both


def mean_iou(confusion: torch.Tensor) -> float:
    """Mean IoU over the classes present in prediction or ground truth (NaN-mean of :func:`iou_per_class`).

    Input
    -----
    confusion : [m, m]
        A confusion matrix (rows = ground truth).

    Output
    ------
    : float
        Mean IoU in [0, 1]; NaN if the matrix is all zeros (no labelled pixel).

    Example
    -------
    >>> mean_iou(torch.tensor([[3, 1, 0], [0, 2, 0], [0, 0, 0]]))  # doctest: +ELLIPSIS
    0.708333333333333...

    (class 2 is absent from both maps and left out: ``(3/4 + 2/3) / 2``.)
    """
    if confusion.dim() != 2:
        raise ValueError(f"mean_iou expects one (m, m) confusion matrix, got shape {tuple(confusion.shape)}")
    return float(torch.nanmean(iou_per_class(confusion)))


def pixel_accuracy(confusion: torch.Tensor) -> float:
    """Fraction of labelled pixels predicted correctly, ``trace(C) / sum(C)``.

    Input
    -----
    confusion : [m, m]
        A confusion matrix.

    Output
    ------
    : float
        Accuracy in [0, 1]; NaN if the matrix is all zeros.

    Example
    -------
    >>> pixel_accuracy(torch.tensor([[3, 1], [0, 2]]))
    0.8333333333333334
    """
    _check_confusion(confusion)
    if confusion.dim() != 2:
        raise ValueError(f"pixel_accuracy expects one (m, m) confusion matrix, got shape {tuple(confusion.shape)}")
    counts = confusion.to(torch.float64)
    return float(counts.trace() / counts.sum())


class SegmentationMeter:
    """Streaming segmentation scores over a whole evaluation set.

    Accumulates one confusion matrix over every pixel seen (for the dataset mIoU, pixel accuracy
    and per-class IoU) and, optionally, the mIoU of each image on its own (for confidence
    intervals with :func:`mean_confidence_interval`).

    Parameters
    ----------
    num_classes : int
        ``m``, the number of classes.
    ignore_index : int | None
        Ground-truth value of pixels left out (default 255).
    track_per_image : bool
        Collect the per-image mIoU values (default ``True``).

    Example
    -------
    >>> meter = SegmentationMeter(num_classes=3)
    >>> meter.update(torch.tensor([[[0, 1], [2, 2]]]), torch.tensor([[[0, 1], [2, 255]]]))
    >>> meter.mean_iou(), meter.pixel_accuracy(), meter.per_image_miou
    (1.0, 1.0, [1.0])
    """

    def __init__(
        self, *, num_classes: int, ignore_index: int | None = IGNORE_INDEX, track_per_image: bool = True
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.track_per_image = track_per_image
        self._confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
        self._per_image_miou: list[float] = []

    def reset(self) -> None:
        """Forget everything seen so far."""
        self._confusion.zero_()
        self._per_image_miou.clear()

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: ``pred`` and ``target`` are (B, H, W) or (H, W) integer class-id maps.

        An image without any labelled pixel adds NaN to :attr:`per_image_miou`.
        """
        counts = _confusion_counts(
            pred, target, num_classes=self.num_classes, ignore_index=self.ignore_index, per_image=self.track_per_image
        )
        if self.track_per_image:
            self._per_image_miou.extend(torch.nanmean(iou_per_class(counts), dim=-1).tolist())
            counts = counts.sum(dim=0)
        self._confusion += counts.cpu()

    @property
    def confusion(self) -> torch.Tensor:
        """Accumulated confusion matrix (m, m) int64 on CPU (a copy; rows = ground truth)."""
        return self._confusion.clone()

    @property
    def per_image_miou(self) -> list[float]:
        """mIoU of each image seen, in order (a copy); NaN for an image without labelled pixels.

        Each value averages the IoU over the classes present in that image's prediction or ground
        truth, so their mean generally differs from the dataset :meth:`mean_iou`.
        """
        return list(self._per_image_miou)

    def per_class_iou(self) -> torch.Tensor:
        """IoU of each class over all pixels seen, (m,) float64, NaN for classes never seen."""
        return iou_per_class(self._confusion)

    def mean_iou(self) -> float:
        """Dataset mIoU: NaN-mean over classes of the IoU from the accumulated confusion matrix."""
        return mean_iou(self._confusion)

    def pixel_accuracy(self) -> float:
        """Fraction of all labelled pixels seen that were predicted correctly."""
        return pixel_accuracy(self._confusion)


def segmentation_scores(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    num_classes: int,
    ignore_index: int | None = IGNORE_INDEX,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Dataset mIoU and pixel accuracy (one confusion matrix over every pixel) of predicted label maps.

    The one computation of a teacher's mIoU on clean (original) images: the teacher row of
    ``gosvae eval`` and of simulation results, and the val mIoU of teacher training.

    Input
    -----
    batches : iterable of ``(pred, target)``
        (B, H, W) or (H, W) integer class-id maps: the predictions and the ground truth (``pred``
        is moved to ``target``'s device).
    class_names : optional
        With names, ``per_class_iou`` maps each name to its IoU rounded to 4 decimals (None when
        the class is absent from both prediction and ground truth).

    Output
    ------
    : dict
        ``miou_gt`` and ``pixel_accuracy`` (floats, NaN without labelled pixels), and
        ``per_class_iou`` with ``class_names``.
    """
    meter = SegmentationMeter(num_classes=num_classes, ignore_index=ignore_index, track_per_image=False)
    for pred, target in batches:
        meter.update(pred.to(target.device), target)
    scores: dict[str, Any] = {"miou_gt": float(meter.mean_iou()), "pixel_accuracy": float(meter.pixel_accuracy())}
    if class_names is not None:
        scores["per_class_iou"] = {
            name: (None if math.isnan(v) else round(float(v), 4))
            for name, v in zip(class_names, meter.per_class_iou().tolist())
        }
    return scores


def mean_confidence_interval(
    values: Sequence[float] | np.ndarray | torch.Tensor,
    *,
    level: float = 0.95,
    nan_policy: Literal["raise", "omit"] = "raise",
) -> tuple[float, float]:
    r"""Sample mean and half-width of its Student-t confidence interval.

    The interval is ``mean ± t_{(1+level)/2, n-1} · s / sqrt(n)`` with ``s`` the sample standard
    deviation (``ddof=1``), i.e. ``scipy.stats.t.interval(level, n - 1, mean, sem)``.

    Parameters
    ----------
    level : float
        Confidence level in (0, 1), default 0.95.
    nan_policy : "raise" | "omit"
        What to do with NaN values (e.g. images without labelled pixels): raise a ``ValueError``
        (default) or leave them out.

    Input
    -----
    values : [n], sequence, numpy array or tensor of floats
        One score per independent sample (e.g. :attr:`SegmentationMeter.per_image_miou`).

    Output
    ------
    (mean, half_width) : tuple[float, float]
        ``half_width`` is NaN when ``n == 1`` (the t interval is undefined with one sample).

    Example
    -------
    >>> mean_confidence_interval([0.61, 0.58, 0.66, 0.63])  # doctest: +ELLIPSIS
    (0.62, 0.05...)
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if nan_policy not in ("raise", "omit"):
        raise ValueError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    samples = np.asarray(values, dtype=np.float64).ravel()
    nan = np.isnan(samples)
    if nan.any():
        if nan_policy == "raise":
            raise ValueError(
                f"{int(nan.sum())} of {samples.size} values are NaN; pass nan_policy='omit' to leave them out"
            )
        samples = samples[~nan]
    if samples.size == 0:
        raise ValueError("mean_confidence_interval needs at least one value")
    mean = float(samples.mean())
    if samples.size == 1:
        return mean, math.nan
    standard_error = float(samples.std(ddof=1)) / math.sqrt(samples.size)
    return mean, float(stats.t.ppf(0.5 + level / 2.0, df=samples.size - 1)) * standard_error

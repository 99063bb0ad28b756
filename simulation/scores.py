"""Per-image scores of received images and their aggregation into one result row.

Each image keeps its own confusion matrices (against the ground truth and against the teacher's
labels of the original image), so the scores of a sweep point can mix freshly decoded images with
the clean-channel scores of images whose packets all arrived intact, and the dataset mIoU is still
computed Cityscapes style from one confusion matrix summed over all images.

Example
-------
>>> scores = score_images(x_hat, labels=labels, teacher_labels=t_labels, reference=images,
...                       teacher=teacher, concealed=[0.0] * len(x_hat))      # doctest: +SKIP
>>> aggregate_scores(scores)["miou_gt"]                                        # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from gosvae.datasets import IGNORE_INDEX
from gosvae.metrics import confusion_matrix, mean_confidence_interval, mean_iou, mse, pixel_accuracy, psnr

__all__ = ["ImageScores", "aggregate_scores", "score_images"]


@dataclass(frozen=True)
class ImageScores:
    """Scores of one received image.

    Attributes
    ----------
    confusion_gt : torch.Tensor
        (m, m) int64: teacher(x̂) against the ground truth (rows = ground truth).
    confusion_teacher : torch.Tensor
        (m, m) int64: teacher(x̂) against teacher(x) on the original image.
    miou_gt : float
        mIoU of this image alone (NaN without labelled pixels).
    mse, psnr_db : float
        Pixel fidelity of x̂ against x (PSNR ``inf`` for identical images).
    concealed_fraction : float
        Fraction of the transmitted units concealed by the source decoder.
    failed : bool
        The codec could decode nothing usable (``DecodedBatch.failed``): a fallback image.
    """

    confusion_gt: torch.Tensor
    confusion_teacher: torch.Tensor
    miou_gt: float
    mse: float
    psnr_db: float
    concealed_fraction: float
    failed: bool = False


@torch.no_grad()
def score_images(
    x_hat: torch.Tensor,
    *,
    reference: torch.Tensor,
    labels: torch.Tensor,
    teacher_labels: torch.Tensor,
    teacher: torch.nn.Module | None = None,
    concealed: Sequence[float],
    num_classes: int,
    device: str | torch.device = "cpu",
    failed: Sequence[bool] | None = None,
    predictions: torch.Tensor | None = None,
) -> list[ImageScores]:
    """Segment received images with the teacher (or take its given labels) and score each one.

    Input
    -----
    x_hat : (B, 3, H, W) float in [0, 1]
        Received (decoded) images.
    reference : (B, 3, H, W) float in [0, 1]
        Original images.
    labels : (B, H, W) int64
        Ground truth (255 = ignore).
    teacher_labels : (B, H, W) int64
        Teacher's labels of the original images.
    teacher : Teacher | None
        Frozen segmentation model (``.predict``); not needed with ``predictions``.
    concealed : sequence of B floats
        Concealed fraction of each image.
    num_classes : int
        ``m``.
    device : str | torch.device
        Device of the teacher (the scores are computed on the CPU).
    failed : sequence of B bools | None
        Decode failures of each image (``None``: none).
    predictions : (B, H, W) int64 | None
        The teacher's labels of ``x_hat`` when already computed (then ``teacher`` is not run).

    Output
    ------
    list of B :class:`ImageScores`
    """
    if predictions is not None:
        pred = predictions.cpu()
    elif teacher is not None:
        pred = teacher.predict(x_hat.to(device)).cpu()
    else:
        raise ValueError("score_images: give the teacher or its predictions")
    x_hat, reference = x_hat.cpu(), reference.cpu()
    errors = mse(x_hat, reference)
    peaks = psnr(x_hat, reference)
    out = []
    for i in range(x_hat.shape[0]):
        vs_gt = confusion_matrix(pred[i], labels[i], num_classes=num_classes, ignore_index=IGNORE_INDEX).cpu()
        vs_teacher = confusion_matrix(pred[i], teacher_labels[i], num_classes=num_classes, ignore_index=None).cpu()
        per_image = mean_iou(vs_gt) if int(vs_gt.sum()) else math.nan
        out.append(ImageScores(vs_gt, vs_teacher, per_image, float(errors[i]), float(peaks[i]), float(concealed[i]),
                               bool(failed[i]) if failed is not None else False))
    return out


def aggregate_scores(scores: Sequence[ImageScores]) -> dict[str, float]:
    """One row of scores over a set of images.

    Output keys: ``miou_gt`` (mIoU of the confusion matrix summed over the images),
    ``miou_gt_ci_low`` / ``miou_gt_ci_high`` (``miou_gt`` ± the half-width of the 95 % Student-t
    interval of the per-image mIoU values, clipped to [0, 1] where mIoU lives; NaN with one
    image), ``miou_gt_image_mean`` (mean of the per-image values), ``miou_teacher`` (against the
    teacher's labels of the original images), ``pixel_accuracy``, ``mse``, ``psnr_db`` (mean of per-image values), ``concealed_fraction`` and ``decode_failure_rate``
    (fraction of images the codec could not decode at all).
    """
    confusion_gt = torch.stack([s.confusion_gt for s in scores]).sum(dim=0)
    confusion_teacher = torch.stack([s.confusion_teacher for s in scores]).sum(dim=0)
    miou = mean_iou(confusion_gt)
    per_image = np.array([s.miou_gt for s in scores], dtype=np.float64)
    finite = per_image[~np.isnan(per_image)]
    if finite.size:
        image_mean, half_width = mean_confidence_interval(finite)
    else:
        image_mean, half_width = math.nan, math.nan
    return {
        "miou_gt": miou,
        "miou_gt_ci_low": float(np.clip(miou - half_width, 0.0, 1.0)),  # NaN stays NaN
        "miou_gt_ci_high": float(np.clip(miou + half_width, 0.0, 1.0)),
        "miou_gt_image_mean": image_mean,
        "miou_teacher": mean_iou(confusion_teacher),
        "pixel_accuracy": pixel_accuracy(confusion_gt),
        "mse": float(np.mean([s.mse for s in scores])),
        "psnr_db": float(np.mean([s.psnr_db for s in scores])),
        "concealed_fraction": float(np.mean([s.concealed_fraction for s in scores])),
        "decode_failure_rate": float(np.mean([s.failed for s in scores])),
    }

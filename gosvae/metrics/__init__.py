"""Scores of the simulator: segmentation quality, image fidelity, divergences between class maps.

- :mod:`~gosvae.metrics.segmentation`: confusion matrix, per-class IoU, mIoU (Cityscapes
  conventions), pixel accuracy, a streaming :class:`SegmentationMeter`, Student-t confidence
  intervals;
- :mod:`~gosvae.metrics.image_quality`: per-image MSE and PSNR;
- :mod:`~gosvae.metrics.divergences`: per-pixel KL, Jensen-Shannon and cross entropy between
  class distributions, on probabilities or on logits (differentiable; also training losses).

Example
-------
>>> from gosvae.metrics import SegmentationMeter, psnr, js_divergence
"""

from gosvae.metrics.divergences import (
    Reduction,
    cross_entropy,
    cross_entropy_from_logits,
    js_divergence,
    js_divergence_from_logits,
    kl_divergence,
    kl_divergence_from_logits,
)
from gosvae.metrics.image_quality import mse, psnr
from gosvae.metrics.segmentation import (
    SegmentationMeter,
    confusion_matrix,
    iou_per_class,
    mean_confidence_interval,
    mean_iou,
    pixel_accuracy,
)

__all__ = [
    "Reduction",
    "SegmentationMeter",
    "confusion_matrix",
    "cross_entropy",
    "cross_entropy_from_logits",
    "iou_per_class",
    "js_divergence",
    "js_divergence_from_logits",
    "kl_divergence",
    "kl_divergence_from_logits",
    "mean_confidence_interval",
    "mean_iou",
    "mse",
    "pixel_accuracy",
    "psnr",
]

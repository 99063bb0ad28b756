"""Lovász-softmax loss: a convex surrogate of the mean Jaccard (IoU) loss over classes.

Berman, Rannen Triki and Blaschko, "The Lovász-Softmax loss: A tractable surrogate for the
optimization of the intersection-over-union measure in neural networks", CVPR 2018. For each
class ``c`` present in the ground truth the pixel errors ``e_i = |[y_i = c] - p_i(c)|`` are sorted
in decreasing order and weighted by the discrete derivative of the Jaccard loss along that order
(the Lovász extension); the loss is the mean over those classes. With one-hot probabilities (hard
predictions) it equals ``mean_c (1 - IoU_c)`` exactly, computed over the whole batch, which is
what mIoU measures. Written here because the library that ships it (segmentation-models-pytorch)
depends on torchvision, which does not work with this project's CPU torch.

Example
-------
>>> probs = torch.softmax(torch.randn(2, 5, 8, 8), dim=1)
>>> labels = torch.randint(0, 5, (2, 8, 8))
>>> lovasz_softmax(probs, labels).shape
torch.Size([])
"""

from __future__ import annotations

import torch

__all__ = ["lovasz_softmax"]


def _jaccard_gradient(foreground_sorted: torch.Tensor) -> torch.Tensor:
    """Discrete derivative of the Jaccard loss along the sorted errors, per row: (C, P) → (C, P)."""
    total = foreground_sorted.sum(1, keepdim=True)
    intersection = total - foreground_sorted.cumsum(1)
    union = total + (1.0 - foreground_sorted).cumsum(1)
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], dim=1)


def lovasz_softmax(probs: torch.Tensor, labels: torch.Tensor, *, ignore_index: int = 255) -> torch.Tensor:
    """Lovász-softmax loss of class probabilities against labels, over the whole batch.

    Parameters
    ----------
    probs : torch.Tensor
        (B, m, H, W) float, class probabilities (summing to 1 over dim 1).
    labels : torch.Tensor
        (B, H, W) int64 class ids; ``ignore_index`` pixels are left out.

    Returns
    -------
    torch.Tensor
        Scalar float: the mean over the classes present in ``labels`` (0 when none is).
    """
    num_classes = probs.shape[1]
    flat_labels = labels.reshape(-1)
    keep = flat_labels != ignore_index
    flat_labels = flat_labels[keep]
    present = torch.unique(flat_labels)
    if present.numel() == 0:
        return probs.sum() * 0.0
    class_probs = probs.transpose(0, 1).reshape(num_classes, -1)[present][:, keep]  # (C, P)
    foreground = (present.unsqueeze(1) == flat_labels.unsqueeze(0)).to(class_probs.dtype)
    errors = (foreground - class_probs).abs()
    # One sort of all present classes' rows at once (the cost of this loss is in the sort).
    errors_sorted, order = torch.sort(errors, dim=1, descending=True)
    gradient = _jaccard_gradient(torch.gather(foreground, 1, order))
    return (errors_sorted * gradient).sum(1).mean()

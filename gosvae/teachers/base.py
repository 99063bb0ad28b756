"""The teacher contract: a frozen segmentation model giving per-pixel class probabilities.

A teacher maps images ``x`` of shape ``(B, 3, H, W)``, float in ``[0, 1]``, to per-pixel class
probabilities ``(B, m, H, W)`` that sum to one over ``m``. It is differentiable in ``x`` (the codec
is trained through it) and frozen: its parameters never require gradients and it always stays in
eval mode, even when a parent module calls ``.train()``. Input normalisation happens inside, in
torch, so callers always pass ``[0, 1]`` images.

Subclasses implement :meth:`Teacher.class_probabilities`; they may override :meth:`features` (the
internal feature maps used by the ``teacher-features`` perceptual loss) and :meth:`logits`.

Example
-------
>>> teacher = load_teacher("urban-unet")          # doctest: +SKIP
>>> probs = teacher(torch.rand(2, 3, 64, 128))     # (2, 19, 64, 128), sums to 1 over dim 1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

if TYPE_CHECKING:
    from gosvae.labels import LabelSpace


class Teacher(nn.Module):
    """Base class of frozen segmentation teachers.

    Attributes
    ----------
    num_classes : int
        ``m``, the number of classes of the probability maps.
    class_names : list[str]
        Names of the ``m`` classes, in order.
    """

    num_classes: int
    class_names: list[str]

    def __init__(self, *, mean: Sequence[float] = (0.0, 0.0, 0.0), std: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @property
    def label_space(self) -> "LabelSpace":
        """The :class:`~gosvae.labels.LabelSpace` of the teacher's outputs (from its class names)."""
        from gosvae.labels import label_space_of

        return label_space_of(self.class_names)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` with the checkpoint's statistics; ``x`` in ``[0, 1]``."""
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def freeze(self) -> "Teacher":
        """Put the teacher in eval mode for good and stop gradients into its parameters."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self.train(False)

    def train(self, mode: bool = True) -> "Teacher":  # noqa: D401 - torch signature
        """Teachers stay in eval mode (dropout, drop-path and batch-norm statistics frozen)."""
        return super().train(False)

    def class_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class probabilities.

        Input: ``x`` (B, 3, H, W) float in [0, 1]. Output: (B, m, H, W) float, sums to 1 over dim 1.
        """
        raise NotImplementedError

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised class scores (B, m, h, w), possibly at a lower resolution than ``x``.

        The default returns ``log`` of :meth:`class_probabilities` (valid for any teacher).
        """
        return torch.log(self.class_probabilities(x).clamp_min(1e-12))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Internal feature maps, each (B, C_i, H_i, W_i), for feature-matching perceptual losses."""
        raise NotImplementedError(f"{type(self).__name__} does not expose feature maps")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.class_probabilities(x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Arg-max labels (B, H, W) int64."""
        return self.class_probabilities(x).argmax(dim=1)

"""Fast label inference of frozen teachers (``simulate``'s receiver): same labels, less work.

:func:`inference_teacher` returns a teacher whose :meth:`~Teacher.predict` gives the labels of
``teacher.predict`` up to float32 rounding (a pixel whose two best classes are within ~1e-6 of each
other may flip), faster on a CPU:

- ``urban-unet`` (:class:`FastUrbanUNet`): every batch norm folded into the convolution before it,
  weights and activations in channels-last (NHWC) layout, residual additions and ReLUs in place,
  the 1×1 classifier as one matrix product on the NHWC features, and the flip test's two views as
  one batch whose probabilities are added (the mean's factor ½ does not change an arg-max);
- a teacher seen through a label mapping (:class:`~gosvae.labels.MappedTeacher`): the mapping
  around the fast version of the teacher inside;
- any other teacher: itself (its ``predict`` already runs without gradients).

:func:`predict_labels` runs ``predict`` under ``torch.inference_mode``.

The fast teacher is for inference only (no gradients, no training); the teacher it was built from
is left as it was.

Example
-------
>>> teacher = load_teacher("urban-unet-xlf8k-cpu")                     # doctest: +SKIP
>>> fast = inference_teacher(teacher)
>>> x = torch.rand(1, 3, 256, 512)
>>> (predict_labels(fast, x) != teacher.predict(x)).sum()            # 0, or a handful of ties
tensor(0)
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from gosvae.errors import UserError
from gosvae.teachers.base import Teacher
from gosvae.teachers.urban_unet import UrbanUNet, _DecoderStage, _ResidualBlock

if TYPE_CHECKING:  # pragma: no cover
    from gosvae.teachers.quantized import Int8Calibration

__all__ = ["FastUrbanUNet", "folded_copy", "inference_teacher", "predict_labels"]


def inference_teacher(teacher: Teacher, *, int8: "Int8Calibration | None" = None) -> Teacher:
    """A teacher computing ``teacher``'s labels faster (see the module docstring); ``teacher`` is not modified.

    Input: a frozen :class:`Teacher`; ``int8``: the calibration of its int8 copy
    (:class:`~gosvae.teachers.quantized.QuantizedUrbanUNet`, labels within the calibration's
    measured tolerance instead of float32 rounding). Output: a frozen :class:`Teacher` with the
    same ``num_classes``, ``class_names`` and label space, on the same device. Raises
    :class:`UserError` when ``int8`` is given for a teacher that is not an ``urban-unet``.
    """
    from gosvae.labels.scoring import MappedTeacher

    if isinstance(teacher, MappedTeacher):
        inner = inference_teacher(teacher.teacher, int8=int8)
        return teacher if inner is teacher.teacher else MappedTeacher(inner, teacher.mapping).freeze()
    if int8 is not None:
        from gosvae.teachers.quantized import QuantizedUrbanUNet

        if isinstance(teacher, QuantizedUrbanUNet):
            return teacher
        if not isinstance(teacher, UrbanUNet):
            raise UserError(f"int8 teacher: only urban-unet teachers have an int8 copy, not {type(teacher).__name__}")
        return QuantizedUrbanUNet(teacher, int8)
    if isinstance(teacher, FastUrbanUNet):
        return teacher
    if isinstance(teacher, UrbanUNet):
        return FastUrbanUNet(teacher)
    return teacher


def predict_labels(teacher: Teacher, x: torch.Tensor) -> torch.Tensor:
    """``teacher.predict(x)`` under ``torch.inference_mode``: (B, 3, H, W) float in [0, 1] → (B, H, W) int64."""
    with torch.inference_mode():
        return teacher.predict(x)


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    return fuse_conv_bn_eval(conv.eval(), bn.eval())


def _fold_sequential(seq: nn.Sequential) -> None:
    """Fold every ``Conv2d`` followed by ``BatchNorm2d`` of ``seq`` (recursively), in place; ReLUs in place."""
    names = list(seq._modules)
    for name, nxt in zip(names, names[1:] + [None]):
        module = seq._modules[name]
        if isinstance(module, nn.Conv2d) and nxt is not None and isinstance(seq._modules[nxt], nn.BatchNorm2d):
            seq._modules[name] = _fold(module, seq._modules[nxt])
            seq._modules[nxt] = nn.Identity()
        elif isinstance(module, nn.ReLU):
            module.inplace = True
        elif isinstance(module, _ResidualBlock):
            seq._modules[name] = _FoldedResidual(module)
        elif isinstance(module, _DecoderStage):
            _fold_sequential(module.fuse)
            _fold_sequential(module.refine)
        elif isinstance(module, nn.Sequential):
            _fold_sequential(module)


def folded_copy(source: UrbanUNet) -> UrbanUNet:
    """A copy of ``source`` with every batch norm folded into its convolution (an ``nn.Identity``
    in its place), residual blocks as :class:`_FoldedResidual`, ReLUs in place; ``source`` is left as it was."""
    net = copy.deepcopy(source)
    for part in (net.enc0, net.enc1, net.enc2, net.enc3, net.head, net.head_refine):
        _fold_sequential(part)
    for stage in (net.dec2, net.dec1, net.dec0):
        _fold_sequential(stage.fuse)
        _fold_sequential(stage.refine)
    return net


class _FoldedResidual(nn.Module):
    """A folded :class:`_ResidualBlock`: ``relu_(body(x) += x)``, the same sum as ``relu(x + body(x))``."""

    def __init__(self, block: _ResidualBlock) -> None:
        super().__init__()
        self.body = copy.deepcopy(block.body)
        _fold_sequential(self.body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        out += x
        return out.relu_()


class FastUrbanUNet(Teacher):
    """An inference copy of an :class:`UrbanUNet` (batch norms folded, NHWC; see the module docstring).

    Parameters
    ----------
    source : UrbanUNet
        The frozen teacher to copy (left unchanged).

    Input / output of :meth:`predict`: ``x`` (B, 3, H, W) float in [0, 1] → labels (B, H, W) int64;
    :meth:`class_probabilities`: (B, m, H, W) float32 as the source's, to float32 rounding.
    """

    def __init__(self, source: UrbanUNet) -> None:
        super().__init__(mean=source.mean.flatten().tolist(), std=source.std.flatten().tolist())
        net = folded_copy(source)
        self.net = net.to(memory_format=torch.channels_last)
        classifier = net.head[1]
        # (C, m) weight and (m,) bias of the 1x1 classifier, logit bias included: one matmul on NHWC features
        self.register_buffer("classifier_weight", classifier.weight.detach().flatten(1).t().contiguous(), persistent=False)
        bias = classifier.bias.detach() if classifier.bias is not None else torch.zeros(classifier.out_channels)
        self.register_buffer("classifier_bias", bias + source.logit_bias.flatten(), persistent=False)
        self.num_classes = source.num_classes
        self.class_names = list(source.class_names)
        self.test_time_flip = source.test_time_flip
        self.freeze()

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Full-resolution features before the classifier, (B, C, H, W) in channels-last memory."""
        net = self.net
        net._check(x)
        x = x.contiguous(memory_format=torch.channels_last)
        f0, f1, f2, f3 = net._encode(x)
        d = net.dec0(net.dec1(net.dec2(f3, f2), f1), f0)
        d = F.interpolate(d, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return net.head_refine(net.head[0](torch.cat([d, x], dim=1)))

    def _nhwc_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, m) class probabilities; with the flip test the *sum* of both views' (twice the mean)."""
        views = torch.cat([x, x.flip(-1)]) if self.test_time_flip else x
        hidden = self._hidden(views).permute(0, 2, 3, 1)  # (B', H, W, C), contiguous for channels-last
        scores = torch.addmm(self.classifier_bias, hidden.reshape(-1, hidden.shape[-1]), self.classifier_weight)
        probs = torch.softmax(scores.view(*hidden.shape[:-1], -1), dim=-1)
        if not self.test_time_flip:
            return probs
        direct, mirrored = probs.chunk(2)
        return direct.add_(mirrored.flip(2))

    def class_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m, H, W) float32 probabilities (the flip test's mean of both views)."""
        probs = self._nhwc_probabilities(x).permute(0, 3, 1, 2)
        return probs * 0.5 if self.test_time_flip else probs

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Arg-max labels (B, H, W) int64."""
        return self._nhwc_probabilities(x).argmax(dim=-1)

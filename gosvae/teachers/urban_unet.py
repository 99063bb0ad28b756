"""``urban-unet``: the project's small, CPU-fast segmentation teacher.

A compact U-Net: four stride-2 encoder stages (H/2 … H/16), a decoder with skip connections back to
H/2, and a full-resolution head that sees the upsampled features next to the input image, so thin
objects (poles, traffic lights, signs) keep their edges. About 0.35 M parameters; the shipped
weights are trained on ``synthetic-urban`` by ``gosvae train configs/teacher_urban_unet.yaml``.

Input: ``x`` (B, 3, H, W) float in [0, 1], H and W divisible by 16.
Output: class probabilities (B, num_classes, H, W) float32, summing to 1 over dim 1.

Example
-------
>>> teacher = UrbanUNet(num_classes=19).freeze()
>>> teacher(torch.rand(1, 3, 64, 128)).shape
torch.Size([1, 19, 64, 128])
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gosvae.datasets.base import CITYSCAPES_CLASSES
from gosvae.errors import UserError
from gosvae.teachers.base import Teacher


def _conv_bn_relu(cin: int, cout: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _DecoderStage(nn.Module):
    """Upsample the coarse map ×2, concatenate the skip, fuse with one 3×3 conv."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.fuse = _conv_bn_relu(cin + cskip, cout)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([up, skip], dim=1))


class UrbanUNet(Teacher):
    """Small U-Net segmentation teacher (see module docstring).

    Parameters
    ----------
    num_classes : int
        Number of output classes ``m``.
    widths : sequence of 4 ints
        Channels of the encoder stages at H/2, H/4, H/8, H/16.
    class_names : sequence of str, optional
        Names of the classes (default: the 19 Cityscapes classes when ``num_classes == 19``).
    """

    downsampling = 16

    def __init__(
        self,
        *,
        num_classes: int = 19,
        widths: Sequence[int] = (16, 32, 64, 96),
        class_names: Sequence[str] | None = None,
    ) -> None:
        # Images are fed in [0, 1]; a fixed ImageNet-like normalisation centres them.
        super().__init__(mean=(0.45, 0.45, 0.45), std=(0.25, 0.25, 0.25))
        if len(widths) != 4:
            raise UserError(f"urban-unet: widths must have 4 entries, got {list(widths)}")
        w0, w1, w2, w3 = widths
        self.num_classes = num_classes
        if class_names is None:
            class_names = CITYSCAPES_CLASSES if num_classes == 19 else [f"class{i}" for i in range(num_classes)]
        self.class_names = list(class_names)
        self.config = {"num_classes": num_classes, "widths": list(widths), "class_names": self.class_names}
        self.enc0 = nn.Sequential(_conv_bn_relu(3, w0, stride=2), _conv_bn_relu(w0, w0))
        self.enc1 = nn.Sequential(_conv_bn_relu(w0, w1, stride=2), _conv_bn_relu(w1, w1))
        self.enc2 = nn.Sequential(_conv_bn_relu(w1, w2, stride=2), _conv_bn_relu(w2, w2))
        self.enc3 = nn.Sequential(
            _conv_bn_relu(w2, w3, stride=2), _conv_bn_relu(w3, w3, dilation=2), _conv_bn_relu(w3, w3)
        )
        self.dec2 = _DecoderStage(w3, w2, w2)
        self.dec1 = _DecoderStage(w2, w1, w1)
        self.dec0 = _DecoderStage(w1, w0, w0)
        self.head = nn.Sequential(_conv_bn_relu(w0 + 3, w0), nn.Conv2d(w0, num_classes, 1))

    @classmethod
    def from_config(cls, config: dict) -> "UrbanUNet":
        return cls(num_classes=config["num_classes"], widths=config["widths"], class_names=config.get("class_names"))

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise UserError(f"urban-unet: expected images (B, 3, H, W), got shape {tuple(x.shape)}")
        if x.shape[-2] % self.downsampling or x.shape[-1] % self.downsampling:
            raise UserError(
                f"urban-unet: image height and width must be multiples of {self.downsampling}, got {tuple(x.shape[-2:])}"
            )

    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        f0 = self.enc0(self.normalize(x))
        f1 = self.enc1(f0)
        f2 = self.enc2(f1)
        f3 = self.enc3(f2)
        return [f0, f1, f2, f3]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Full-resolution class scores (B, m, H, W) float32."""
        self._check(x)
        f0, f1, f2, f3 = self._encode(x)
        d = self.dec0(self.dec1(self.dec2(f3, f2), f1), f0)
        d = F.interpolate(d, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([d, x], dim=1))

    def class_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder feature maps at H/2, H/4, H/8, H/16 (channels = ``widths``)."""
        self._check(x)
        return self._encode(x)

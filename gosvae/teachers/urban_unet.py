"""``urban-unet``: the project's small, CPU-fast segmentation teacher.

A compact U-Net: four stride-2 encoder stages (H/2 … H/16), a decoder with skip connections back to
H/2, and a full-resolution head that sees the upsampled features next to the input image, so thin
objects (poles, traffic lights, signs) keep their edges. With the default widths it has 0.42 M
parameters; the shipped weights are trained on ``synthetic-urban`` by
``gosvae train configs/teacher_urban_unet.yaml``.

Depth can be added after any encoder or decoder stage as residual blocks (``encoder_res_blocks``,
``decoder_res_blocks``), and at full resolution inside the head (``head_res_blocks``, so the net
can place outlines from the image's own pixels); each block's last batch norm starts at zero, so a
deeper net starts as exactly the function of the shallower one and can be trained on from its
weights (see :func:`load_grown_state`). ``logit_bias`` (one value per class, added to the scores) stores the
prior correction of a class-weighted training: weighting class ``c`` by ``w_c`` in the
cross-entropy makes the net estimate ``p(c|x) w_c`` up to normalisation, and a bias of
``-log w_c`` turns that back into ``p(c|x)`` (logit adjustment, Menon et al., ICLR 2021).
``test_time_flip`` makes the teacher's output the average of its probabilities on the image and on
its mirror image (flipped back), the flip test of semantic-segmentation benchmarks: the scenes are
mirror-symmetric in distribution, so the two views err differently and their mean is more often
right, at twice the compute. Training always uses the single view (:meth:`UrbanUNet.single_view_logits`),
and :meth:`UrbanUNet.features` (the perceptual loss) are those of the image alone.

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


class _ResidualBlock(nn.Module):
    """``x + BN(conv(ReLU(BN(conv(x)))))`` then ReLU; the last BN's scale starts at 0 (identity block)."""

    def __init__(self, channels: int, *, dilation: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn_relu(channels, channels, dilation=dilation),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        nn.init.zeros_(self.body[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def _res_blocks(channels: int, count: int, *, dilation: int = 1) -> nn.Module:
    return nn.Sequential(*[_ResidualBlock(channels, dilation=dilation) for _ in range(count)])


class _DecoderStage(nn.Module):
    """Upsample the coarse map ×2, concatenate the skip, fuse with one 3×3 conv."""

    def __init__(self, cin: int, cskip: int, cout: int, *, res_blocks: int = 0) -> None:
        super().__init__()
        self.fuse = _conv_bn_relu(cin + cskip, cout)
        self.refine = _res_blocks(cout, res_blocks)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.refine(self.fuse(torch.cat([up, skip], dim=1)))


class UrbanUNet(Teacher):
    """Small U-Net segmentation teacher (see module docstring).

    Parameters
    ----------
    num_classes : int
        Number of output classes ``m``.
    widths : sequence of 4 ints
        Channels of the encoder stages at H/2, H/4, H/8, H/16.
    encoder_res_blocks : sequence of 4 ints
        Residual blocks appended to each encoder stage (H/2 … H/16; dilation 2 at H/16).
    decoder_res_blocks : sequence of 3 ints
        Residual blocks after each decoder fusion (H/8, H/4, H/2).
    head_res_blocks : int
        Residual blocks at full resolution between the head's fusion conv and its classifier.
    logit_bias : sequence of ``num_classes`` floats, optional
        Added to the class scores (prior correction, see the module docstring); default zeros.
    class_names : sequence of str, optional
        Names of the classes (default: the 19 Cityscapes classes when ``num_classes == 19``).
    test_time_flip : bool
        Average the class probabilities over the image and its horizontal mirror (module docstring).
    """

    downsampling = 16

    def __init__(
        self,
        *,
        num_classes: int = 19,
        widths: Sequence[int] = (16, 32, 64, 96),
        encoder_res_blocks: Sequence[int] = (0, 0, 0, 0),
        decoder_res_blocks: Sequence[int] = (0, 0, 0),
        head_res_blocks: int = 0,
        logit_bias: Sequence[float] | None = None,
        class_names: Sequence[str] | None = None,
        test_time_flip: bool = False,
    ) -> None:
        # Images are fed in [0, 1]; a fixed ImageNet-like normalisation centres them.
        super().__init__(mean=(0.45, 0.45, 0.45), std=(0.25, 0.25, 0.25))
        if len(widths) != 4:
            raise UserError(f"urban-unet: widths must have 4 entries, got {list(widths)}")
        if len(encoder_res_blocks) != 4 or len(decoder_res_blocks) != 3:
            raise UserError(
                "urban-unet: encoder_res_blocks needs 4 entries and decoder_res_blocks 3, got "
                f"{list(encoder_res_blocks)} and {list(decoder_res_blocks)}"
            )
        if logit_bias is not None and len(logit_bias) != num_classes:
            raise UserError(f"urban-unet: logit_bias needs {num_classes} entries, got {len(logit_bias)}")
        w0, w1, w2, w3 = widths
        e0, e1, e2, e3 = (int(n) for n in encoder_res_blocks)
        d2, d1, d0 = (int(n) for n in decoder_res_blocks)
        self.num_classes = num_classes
        if class_names is None:
            class_names = CITYSCAPES_CLASSES if num_classes == 19 else [f"class{i}" for i in range(num_classes)]
        self.class_names = list(class_names)
        self.config = {
            "num_classes": num_classes,
            "widths": list(widths),
            "encoder_res_blocks": [e0, e1, e2, e3],
            "decoder_res_blocks": [d2, d1, d0],
            "head_res_blocks": int(head_res_blocks),
            "logit_bias": None if logit_bias is None else [float(b) for b in logit_bias],
            "class_names": self.class_names,
            "test_time_flip": bool(test_time_flip),
        }
        self.test_time_flip = bool(test_time_flip)
        bias = torch.zeros(num_classes) if logit_bias is None else torch.tensor([float(b) for b in logit_bias])
        self.register_buffer("logit_bias", bias.view(1, num_classes, 1, 1), persistent=False)
        self.enc0 = nn.Sequential(_conv_bn_relu(3, w0, stride=2), _conv_bn_relu(w0, w0), _res_blocks(w0, e0))
        self.enc1 = nn.Sequential(_conv_bn_relu(w0, w1, stride=2), _conv_bn_relu(w1, w1), _res_blocks(w1, e1))
        self.enc2 = nn.Sequential(_conv_bn_relu(w1, w2, stride=2), _conv_bn_relu(w2, w2), _res_blocks(w2, e2))
        self.enc3 = nn.Sequential(
            _conv_bn_relu(w2, w3, stride=2),
            _conv_bn_relu(w3, w3, dilation=2),
            _conv_bn_relu(w3, w3),
            _res_blocks(w3, e3, dilation=2),
        )
        self.dec2 = _DecoderStage(w3, w2, w2, res_blocks=d2)
        self.dec1 = _DecoderStage(w2, w1, w1, res_blocks=d1)
        self.dec0 = _DecoderStage(w1, w0, w0, res_blocks=d0)
        # head[0] fuses the upsampled decoder map with the image, head[1] classifies; the optional
        # full-resolution blocks sit between them (a separate module, so older weights still load).
        self.head = nn.Sequential(_conv_bn_relu(w0 + 3, w0), nn.Conv2d(w0, num_classes, 1))
        self.head_refine = _res_blocks(w0, int(head_res_blocks))

    @classmethod
    def from_config(cls, config: dict) -> "UrbanUNet":
        return cls(
            num_classes=config["num_classes"],
            widths=config["widths"],
            encoder_res_blocks=config.get("encoder_res_blocks", (0, 0, 0, 0)),
            decoder_res_blocks=config.get("decoder_res_blocks", (0, 0, 0)),
            head_res_blocks=config.get("head_res_blocks", 0),
            logit_bias=config.get("logit_bias"),
            class_names=config.get("class_names"),
            test_time_flip=config.get("test_time_flip", False),
        )

    def set_logit_bias(self, bias: torch.Tensor) -> None:
        """Store ``bias`` (num_classes,) as the class-score offset (kept in :attr:`config`)."""
        bias = torch.as_tensor(bias, dtype=torch.float32).flatten()
        if bias.numel() != self.num_classes:
            raise UserError(f"urban-unet: logit_bias needs {self.num_classes} entries, got {bias.numel()}")
        self.logit_bias = bias.view(1, -1, 1, 1).to(self.logit_bias.device)
        self.config["logit_bias"] = [round(float(b), 6) for b in bias]

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

    def single_view_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Full-resolution class scores (B, m, H, W) float32 of ``x`` alone (no flip test)."""
        self._check(x)
        f0, f1, f2, f3 = self._encode(x)
        d = self.dec0(self.dec1(self.dec2(f3, f2), f1), f0)
        d = F.interpolate(d, size=x.shape[-2:], mode="bilinear", align_corners=False)
        hidden = self.head_refine(self.head[0](torch.cat([d, x], dim=1)))
        return self.head[1](hidden) + self.logit_bias.to(x.dtype)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Full-resolution class scores (B, m, H, W) float32; with ``test_time_flip``, the log of
        the flip-averaged probabilities (so ``softmax(logits(x)) == class_probabilities(x)``)."""
        if not self.test_time_flip:
            return self.single_view_logits(x)
        return torch.log(self.class_probabilities(x).clamp_min(1e-12))

    def class_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m, H, W) float32 probabilities; with ``test_time_flip`` the mean of the two views."""
        if not self.test_time_flip:
            return torch.softmax(self.single_view_logits(x), dim=1)
        both = torch.softmax(self.single_view_logits(torch.cat([x, x.flip(-1)])), dim=1)
        direct, mirrored = both.chunk(2)
        return 0.5 * (direct + mirrored.flip(-1))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder feature maps at H/2, H/4, H/8, H/16 (channels = ``widths``)."""
        self._check(x)
        return self._encode(x)


def load_grown_state(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load ``state`` of a shallower net into ``model``, leaving its extra residual blocks as built.

    Every key of ``state`` must exist in ``model`` with the same shape; keys of ``model`` missing
    from ``state`` are allowed only inside residual blocks (which start as identities, so the grown
    net computes what the shallower one did). Returns the names of the keys left at their initial
    values. Raises :class:`UserError` on any other mismatch.
    """
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in state if k in own and own[k].shape != state[k].shape]
    missing = [k for k in own if k not in state]
    not_residual = [k for k in missing if not _in_residual_block(model, k)]
    if unexpected or mismatched or not_residual:
        problems = unexpected[:3] + mismatched[:3] + not_residual[:3]
        raise UserError(f"init_from: weights do not fit the architecture (e.g. {', '.join(problems)})")
    model.load_state_dict(state, strict=False)
    return missing


def _in_residual_block(model: nn.Module, key: str) -> bool:
    parts = key.split(".")
    module: nn.Module = model
    for part in parts[:-1]:
        module = getattr(module, part)
        if isinstance(module, _ResidualBlock):
            return True
    return False

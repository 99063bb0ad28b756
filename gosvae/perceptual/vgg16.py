"""The VGG16 convolutional trunk used by LPIPS, rebuilt with plain ``torch.nn``.

torchvision cannot be imported with the CPU torch this project pins (its compiled operators fail to
register), so the ``features`` part of ``torchvision.models.vgg16`` is rebuilt here layer by layer.
The module indices are those of torchvision, so torchvision's ImageNet checkpoint
(``vgg16-397923af.pth``, keys ``features.0.weight`` … ``features.28.bias`` plus ``classifier.*``)
loads into it once the ``classifier.*`` keys are dropped (:meth:`VGG16Trunk.load_torchvision_state_dict`
does that and checks every key and shape).

Example
-------
>>> trunk = VGG16Trunk()
>>> taps = trunk(torch.randn(2, 3, 64, 64))
>>> [tuple(t.shape) for t in taps]
[(2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16), (2, 512, 8, 8), (2, 512, 4, 4)]
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from gosvae.errors import UserError

# torchvision's VGG16 configuration "D": output channels of each 3x3 convolution, "M" a 2x2 max-pool.
_VGG16_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
)

VGG16_TAP_NAMES: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
"""Names of the feature maps returned by :class:`VGG16Trunk`, in order."""

VGG16_TAP_CHANNELS: tuple[int, ...] = (64, 128, 256, 512, 512)
"""Channels of the feature maps returned by :class:`VGG16Trunk`, in order."""

VGG16_MIN_SIZE = 16
"""Smallest image height/width: ``relu5_3`` is computed after four 2x2 max-pools."""


def _build_features() -> tuple[nn.Sequential, tuple[int, ...]]:
    """torchvision's ``vgg16().features`` without its final max-pool, and the indices of the taps.

    The taps are the ReLUs right before each max-pool and the last ReLU (``relu5_3``); the final
    max-pool (torchvision index 30) is not needed by LPIPS and has no parameters, so leaving it out
    changes no checkpoint key.
    """
    layers: list[nn.Module] = []
    tap_indices: list[int] = []
    in_channels = 3
    for item in _VGG16_LAYOUT:
        if item == "M":
            tap_indices.append(len(layers) - 1)
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1))
            layers.append(nn.ReLU(inplace=False))
            in_channels = int(item)
    tap_indices.append(len(layers) - 1)
    return nn.Sequential(*layers), tuple(tap_indices)


def check_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    *,
    expected_shapes: Mapping[str, torch.Size],
    source: str,
    expected_what: str,
) -> None:
    """Raise a one-line :class:`~gosvae.errors.UserError` unless keys and shapes match exactly.

    ``load_state_dict(strict=True)`` would also refuse a mismatch, but with a multi-line
    ``RuntimeError`` that does not say which file was wrong; users see this message instead.

    Input
    -----
    state_dict : Mapping[str, torch.Tensor]
        What was read.
    expected_shapes : Mapping[str, torch.Size]
        Every key that must be present, with its shape; no other key is allowed.
    source : str
        Where ``state_dict`` came from (a file path), named first in the message.
    expected_what : str
        What the file should be, e.g. ``"torchvision's VGG16 ImageNet checkpoint"``.

    Example
    -------
    >>> check_state_dict({"w": torch.zeros(2)}, expected_shapes={"w": torch.Size([3])},
    ...                  source="/x.pth", expected_what="a test file")
    Traceback (most recent call last):
    ...
    gosvae.errors.UserError: /x.pth: 'w' has shape (2,), expected (3,) (expected a test file)
    """
    missing = [key for key in expected_shapes if key not in state_dict]
    if missing:
        raise UserError(
            f"{source}: missing key{'s' if len(missing) > 1 else ''} {_key_list(missing)} "
            f"(expected {expected_what}; found keys {_key_list(list(state_dict))})"
        )
    unexpected = [key for key in state_dict if key not in expected_shapes]
    if unexpected:
        raise UserError(
            f"{source}: unexpected key{'s' if len(unexpected) > 1 else ''} {_key_list(unexpected)} "
            f"(expected {expected_what})"
        )
    for key, shape in expected_shapes.items():
        value = state_dict[key]
        if not isinstance(value, torch.Tensor):
            raise UserError(
                f"{source}: {key!r} is a {type(value).__name__}, expected a tensor (expected {expected_what})"
            )
        if value.shape != shape:
            raise UserError(
                f"{source}: {key!r} has shape {tuple(value.shape)}, expected {tuple(shape)} (expected {expected_what})"
            )


def _key_list(keys: list[str], *, limit: int = 4) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(repr(key) for key in keys[:limit]) + more


class VGG16Trunk(nn.Module):
    """Convolutional part of VGG16 returning the five LPIPS feature taps.

    Layers and module indices are those of torchvision's ``vgg16().features`` (13 convolutions at
    indices 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), so its ImageNet checkpoint loads with
    :meth:`load_torchvision_state_dict`. Parameters are randomly initialised (torch defaults) until
    a checkpoint is loaded.

    Input
    -----
    x : torch.Tensor
        (B, 3, H, W) float, already normalised as the checkpoint expects (LPIPS applies its own
        scaling layer before the trunk); ``H, W >= 16``.

    Output
    ------
    list[torch.Tensor]
        The feature maps ``relu1_2, relu2_2, relu3_3, relu4_3, relu5_3`` of shapes
        (B, 64, H, W), (B, 128, H/2, W/2), (B, 256, H/4, W/4), (B, 512, H/8, W/8),
        (B, 512, H/16, W/16) (floor division), same dtype as ``x``.

    Example
    -------
    >>> trunk = VGG16Trunk()
    >>> trunk.load_torchvision_state_dict(torch.load("vgg16-397923af.pth", weights_only=True))  # doctest: +SKIP
    >>> relu5_3 = trunk(torch.randn(1, 3, 32, 32))[-1]    # (1, 512, 2, 2)
    """

    def __init__(self) -> None:
        super().__init__()
        self.features, self.tap_indices = _build_features()
        self.tap_names = VGG16_TAP_NAMES
        self.tap_channels = VGG16_TAP_CHANNELS

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG16Trunk expects images of shape (B, 3, H, W), got {tuple(x.shape)}")
        if min(x.shape[-2:]) < VGG16_MIN_SIZE:
            raise ValueError(
                f"VGG16Trunk needs images of at least {VGG16_MIN_SIZE}x{VGG16_MIN_SIZE} pixels "
                f"(four 2x2 max-pools before relu5_3), got {tuple(x.shape[-2:])}"
            )
        taps: list[torch.Tensor] = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.tap_indices:
                taps.append(x)
        return taps

    def torchvision_state_dict_shapes(self) -> dict[str, torch.Size]:
        """Keys and shapes this trunk takes from torchvision's VGG16 checkpoint (``features.*``)."""
        return {f"features.{key}": value.shape for key, value in self.features.state_dict().items()}

    def load_torchvision_state_dict(
        self, state_dict: Mapping[str, torch.Tensor], *, source: str = "state dict"
    ) -> None:
        """Copy torchvision VGG16 weights into the trunk.

        Input
        -----
        state_dict : Mapping[str, torch.Tensor]
            A state dict of ``torchvision.models.vgg16`` (``features.*`` and ``classifier.*``
            keys) or of its ``features`` only; the ``classifier.*`` keys are ignored.
        source : str
            Where it came from, named in error messages.

        Raises
        ------
        UserError
            A ``features.*`` key is missing, unexpected or of the wrong shape (one-line message).
        """
        features = {key: value for key, value in state_dict.items() if not key.startswith("classifier.")}
        check_state_dict(
            features,
            expected_shapes=self.torchvision_state_dict_shapes(),
            source=source,
            expected_what="torchvision's VGG16 ImageNet state dict (features.0 ... features.28)",
        )
        prefix = "features."
        self.features.load_state_dict({key[len(prefix):]: value for key, value in features.items()}, strict=True)

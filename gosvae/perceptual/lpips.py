"""LPIPS v0.1 with the VGG16 trunk (Zhang et al., "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018), implemented in the project.

The ``lpips`` package imports torchvision, which does not import with the CPU torch this project
pins, so the network is rebuilt here; it reads the same two weight files as the reference
implementation and computes the same distance:

``d(x, y) = sum_l mean_{h,w} sum_c w_{l,c} (xhat_{l,c,h,w} - yhat_{l,c,h,w})^2``

where ``xhat_l`` is the VGG16 tap ``l`` (relu1_2 … relu5_3) of the scaled image, divided by its
Euclidean norm over channels (plus ``1e-10``), and ``w_l >= 0`` are the learned 1x1 linear heads.

Weights are never downloaded: the user passes the two files (or sets ``GOSVAE_VGG16_WEIGHTS`` and
``GOSVAE_LPIPS_WEIGHTS``), both read with ``torch.load(..., weights_only=True)`` or safetensors.

Example
-------
>>> metric = load_lpips(vgg16_weights="vgg16-397923af.pth", lpips_weights="vgg.pth")  # doctest: +SKIP
>>> metric(torch.rand(4, 3, 64, 64), torch.rand(4, 3, 64, 64)).shape                   # doctest: +SKIP
torch.Size([4])
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gosvae.errors import MissingWeightsError, UserError
from gosvae.perceptual.vgg16 import VGG16_TAP_CHANNELS, VGG16Trunk, check_state_dict

VGG16_WEIGHTS_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
LPIPS_VGG_WEIGHTS_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth"
VGG16_WEIGHTS_ENV = "GOSVAE_VGG16_WEIGHTS"
LPIPS_WEIGHTS_ENV = "GOSVAE_LPIPS_WEIGHTS"

# Constants of the reference implementation (lpips/lpips.py, ScalingLayer and normalize_tensor).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
LPIPS_NORM_EPS = 1e-10

_VGG16_WHAT = "the VGG16 ImageNet weights"
_LPIPS_WHAT = "the LPIPS v0.1 VGG linear heads"


class _LinearHead(nn.Module):
    """1x1 convolution from ``C`` channels to one, without bias, stored as ``model.1.weight``.

    The reference ``NetLinLayer`` is ``Sequential(Dropout(), Conv2d)``; its dropout never acts in
    eval mode, so index 0 is an identity here and the checkpoint keys stay ``linK.model.1.weight``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))
        # Until real heads are loaded: equal weights 1/C, i.e. the channel mean (a valid, non-negative head).
        nn.init.constant_(self.model[1].weight, 1.0 / channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _unit_normalize(features: torch.Tensor, *, eps: float = LPIPS_NORM_EPS) -> torch.Tensor:
    """``features / (||features||_2 over channels + eps)``, written as the reference ``normalize_tensor``.

    ``eps`` keeps an all-zero feature vector (common after a ReLU) at zero instead of ``0/0``; the
    ``sqrt`` gradient at zero never reaches the input because the ReLU before each tap masks it.
    """
    return features / (torch.sqrt(torch.sum(features**2, dim=1, keepdim=True)) + eps)


class LPIPS(nn.Module):
    """LPIPS v0.1 perceptual distance with the VGG16 trunk; frozen and always in eval mode.

    A freshly built instance has random VGG16 weights and equal heads (``1/C``): use
    :func:`load_lpips` for the published metric. The module is differentiable in both inputs (it
    can serve as a perceptual loss) but its own parameters never require gradients, and
    ``.train()`` keeps it in eval mode.

    State-dict keys: ``trunk.features.<i>.{weight,bias}`` (torchvision VGG16 indices) and
    ``lin0.model.1.weight`` … ``lin4.model.1.weight`` (the LPIPS ``vgg.pth`` keys).

    Input
    -----
    x : torch.Tensor
        (B, 3, H, W) float images in [0, 1], ``H, W >= 16``.
    y : torch.Tensor
        Same shape, dtype and device as ``x``.
    keepdim : bool, keyword-only
        Return (B, 1, 1, 1) instead of (B,) (the reference implementation's shape).

    Output
    ------
    torch.Tensor
        (B,) (or (B, 1, 1, 1)) distances, same dtype as ``x``; ``d(x, x) = 0``, ``d(x, y) = d(y, x)``,
        ``d >= 0``.

    Example
    -------
    >>> metric = LPIPS()
    >>> x = torch.rand(2, 3, 32, 32)
    >>> metric(x, x).tolist()
    [0.0, 0.0]
    >>> metric(x, torch.rand(2, 3, 32, 32)).shape
    torch.Size([2])
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.trunk = VGG16Trunk()
        self.lin0, self.lin1, self.lin2, self.lin3, self.lin4 = (_LinearHead(c) for c in VGG16_TAP_CHANNELS)
        # float64 so that a float64 metric uses the exact constants; cast to the input dtype in _scale.
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT, dtype=torch.float64).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE, dtype=torch.float64).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.train(False)

    @property
    def heads(self) -> tuple[nn.Conv2d, ...]:
        """The five 1x1 convolutions (weights (1, C, 1, 1)), for relu1_2 … relu5_3 in order."""
        return tuple(head.model[1] for head in (self.lin0, self.lin1, self.lin2, self.lin3, self.lin4))

    def train(self, mode: bool = True) -> "LPIPS":  # noqa: ARG002 - torch signature
        """LPIPS stays in eval mode whatever ``mode`` is (it is a fixed metric)."""
        return super().train(False)

    def head_state_dict_shapes(self) -> dict[str, torch.Size]:
        """Keys and shapes of the LPIPS ``vgg.pth`` file: ``linK.model.1.weight`` → (1, C_K, 1, 1)."""
        return {f"lin{k}.model.1.weight": head.weight.shape for k, head in enumerate(self.heads)}

    def load_head_state_dict(self, state_dict: Mapping[str, torch.Tensor], *, source: str = "state dict") -> None:
        """Copy the LPIPS v0.1 linear heads (the content of ``vgg.pth``) into the module.

        Input
        -----
        state_dict : Mapping[str, torch.Tensor]
            Exactly the keys ``lin0.model.1.weight`` … ``lin4.model.1.weight``, shapes (1, C, 1, 1)
            with C = 64, 128, 256, 512, 512, all entries non-negative.
        source : str
            Where it came from, named in error messages.

        Raises
        ------
        UserError
            A key is missing or unexpected, a shape is wrong, or a weight is negative or not finite.
        """
        expected = self.head_state_dict_shapes()
        what = f"{_LPIPS_WHAT} (vgg.pth)"
        check_state_dict(state_dict, expected_shapes=expected, source=source, expected_what=what)
        for key in expected:
            weight = state_dict[key]
            if not bool(torch.isfinite(weight).all()) or float(weight.min()) < 0:
                raise UserError(
                    f"{source}: {key!r} has a negative or non-finite weight (min {float(weight.min()):.3g}); "
                    f"LPIPS heads are non-negative (expected {_LPIPS_WHAT}, vgg.pth)"
                )
        with torch.no_grad():
            for key, head in zip(expected, self.heads):
                head.weight.copy_(state_dict[key])

    def layer_distances(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Contribution of each VGG tap to the distance.

        Input: ``x``, ``y`` (B, 3, H, W) float in [0, 1]. Output: (B, 5), same dtype as ``x``,
        columns relu1_2 … relu5_3; :meth:`forward` is its sum over dim 1.
        """
        if x.shape != y.shape:
            raise ValueError(f"LPIPS compares images of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
        taps_x = self.trunk(self._scale(x))
        taps_y = self.trunk(self._scale(y))
        per_layer = [
            head((_unit_normalize(fx) - _unit_normalize(fy)).square()).mean(dim=(2, 3))
            for head, fx, fy in zip(self.heads, taps_x, taps_y)
        ]
        return torch.cat(per_layer, dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor, *, keepdim: bool = False) -> torch.Tensor:
        distance = self.layer_distances(x, y).sum(dim=1)
        return distance.view(-1, 1, 1, 1) if keepdim else distance

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] → [-1, 1] → the reference ``ScalingLayer`` (ImageNet statistics in [-1, 1] units)."""
        return (2.0 * x - 1.0 - self.shift.to(x.dtype)) / self.scale.to(x.dtype)


def _require_file(path: Path, *, what: str, url: str, env_var: str) -> None:
    """Raise :class:`MissingWeightsError` (path, download URL, how to pass it) unless ``path`` is a file."""
    if not path.is_file():
        problem = "is not a file" if path.exists() else "not found"
        raise MissingWeightsError(
            f"LPIPS needs {what}: {path} {problem} (download {url} on a machine with network access "
            f"and pass its path or set {env_var})"
        )


def _read_state_dict(path: Path, *, what: str) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` or PyTorch (``weights_only``) state dict on the CPU, with one-line errors."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state_dict = load_file(path, device="cpu")
        else:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
    # torch.load and safetensors raise many unrelated exception types for a damaged or foreign file.
    except Exception as error:  # noqa: BLE001
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: cannot be read as a state dict of {what} ({reason})") from error
    if not isinstance(state_dict, Mapping):
        raise UserError(f"{path}: holds a {type(state_dict).__name__}, expected a state dict of {what}")
    return dict(state_dict)


def load_lpips(*, vgg16_weights: str | Path, lpips_weights: str | Path) -> LPIPS:
    """Build the published LPIPS v0.1 "vgg" metric from its two weight files.

    Parameters
    ----------
    vgg16_weights : str | Path
        torchvision's VGG16 ImageNet checkpoint, ``vgg16-397923af.pth`` (or a ``.safetensors``
        with the same keys); ``classifier.*`` keys are ignored.
    lpips_weights : str | Path
        The LPIPS v0.1 heads, ``lpips/weights/v0.1/vgg.pth`` of the reference repository (or a
        ``.safetensors`` with the same keys).

    Output
    ------
    LPIPS
        On the CPU in float32, frozen, in eval mode; move it with ``.to(device)``.

    Raises
    ------
    MissingWeightsError
        A file does not exist (the message names the path and the download URL).
    UserError
        A file cannot be read or does not hold the expected keys, shapes or values.

    Example
    -------
    >>> paths = resolve_lpips_weight_paths()                                  # doctest: +SKIP
    >>> metric = load_lpips(vgg16_weights=paths.vgg16_weights, lpips_weights=paths.lpips_weights)  # doctest: +SKIP
    """
    vgg16_path, lpips_path = Path(vgg16_weights).expanduser(), Path(lpips_weights).expanduser()
    # Both files are checked before the 528 MB VGG16 checkpoint is read.
    _require_file(vgg16_path, what=_VGG16_WHAT, url=VGG16_WEIGHTS_URL, env_var=VGG16_WEIGHTS_ENV)
    _require_file(lpips_path, what=_LPIPS_WHAT, url=LPIPS_VGG_WEIGHTS_URL, env_var=LPIPS_WEIGHTS_ENV)
    metric = LPIPS()
    metric.load_head_state_dict(_read_state_dict(lpips_path, what=_LPIPS_WHAT), source=str(lpips_path))
    metric.trunk.load_torchvision_state_dict(_read_state_dict(vgg16_path, what=_VGG16_WHAT), source=str(vgg16_path))
    return metric


@dataclass(frozen=True)
class LPIPSWeightPaths:
    """Where the two LPIPS weight files are expected (they may not exist)."""

    vgg16_weights: Path
    lpips_weights: Path


def resolve_lpips_weight_paths(
    *, vgg16_weights: str | Path | None = None, lpips_weights: str | Path | None = None
) -> LPIPSWeightPaths:
    """Paths of the LPIPS weight files: the arguments given, else ``$GOSVAE_VGG16_WEIGHTS`` and
    ``$GOSVAE_LPIPS_WEIGHTS`` (read at call time).

    Output
    ------
    LPIPSWeightPaths
        Both paths (``~`` expanded); whether the files exist is not checked here.

    Raises
    ------
    MissingWeightsError
        A path is neither given nor set in its environment variable (the message names the
        variable and the download URL).

    Example
    -------
    >>> os.environ["GOSVAE_VGG16_WEIGHTS"] = "/w/vgg16-397923af.pth"     # doctest: +SKIP
    >>> resolve_lpips_weight_paths(lpips_weights="/w/vgg.pth").vgg16_weights  # doctest: +SKIP
    PosixPath('/w/vgg16-397923af.pth')
    """
    resolved: list[Path] = []
    for given, env_var, what, url, argument in (
        (vgg16_weights, VGG16_WEIGHTS_ENV, _VGG16_WHAT, VGG16_WEIGHTS_URL, "vgg16_weights"),
        (lpips_weights, LPIPS_WEIGHTS_ENV, _LPIPS_WHAT, LPIPS_VGG_WEIGHTS_URL, "lpips_weights"),
    ):
        value = given if given is not None else os.environ.get(env_var, "")
        if not str(value):
            raise MissingWeightsError(
                f"LPIPS needs {what}: no path given ({argument}) and {env_var} is not set (download {url} "
                f"on a machine with network access and set {env_var} to its path)"
            )
        resolved.append(Path(value).expanduser())
    return LPIPSWeightPaths(vgg16_weights=resolved[0], lpips_weights=resolved[1])


def lpips_weights_available(
    *, vgg16_weights: str | Path | None = None, lpips_weights: str | Path | None = None
) -> bool:
    """Whether both LPIPS weight files exist, at the paths given or from the environment variables.

    Output: ``True`` when both paths resolve (see :func:`resolve_lpips_weight_paths`) to existing
    files; the files are not opened.

    Example
    -------
    >>> lpips_weights_available(vgg16_weights="/nowhere/vgg16.pth", lpips_weights="/nowhere/vgg.pth")
    False
    """
    try:
        paths = resolve_lpips_weight_paths(vgg16_weights=vgg16_weights, lpips_weights=lpips_weights)
    except MissingWeightsError:
        return False
    return paths.vgg16_weights.is_file() and paths.lpips_weights.is_file()

"""Int8 inference of ``urban-unet`` teachers (``teacher_precision: int8`` in a scenario).

:class:`QuantizedUrbanUNet` labels images as :class:`~gosvae.teachers.inference.FastUrbanUNet`
does (batch norms folded, channels-last, the flip test's views in one batch, a float32 1×1
classifier on the NHWC features), with every 3×3 convolution, residual addition, upsampling and
concatenation in 8-bit integers on PyTorch's oneDNN quantized engine:

- weights: int8, one symmetric scale per output channel, taken from the float weights when the
  teacher is built (nothing is stored);
- activations: uint8 on 7 bits (0…127, PyTorch's ``reduce_range``). CPUs without VNNI multiply
  uint8 by int8 with an instruction that adds pairs of products into int16 and saturates; with
  7-bit activations two products never overflow, so every x86 CPU computes the same integers;
- activation scales: calibrated once on training images (:func:`calibrate_int8`, histogram
  observers) and shipped in the teacher's zoo entry (``int8_calibration``: one scale and zero
  point per activation, 57 pairs for the default teacher), so building the int8 copy takes no
  data and well under a second.

On the project's 2-core AVX2 CPU this is 1.9× faster than the float32 fast copy for
``urban-unet-xlf8k-cpu`` (312 vs 582 ms per 256×512 image with the flip test, one thread); the
calibration records the mIoU it gives on the validation scenes next to float32's
(``gosvae calibrate-int8``; ``docs/speed.md``). Building it sets PyTorch's quantized engine
(``torch.backends.quantized.engine``) to oneDNN for the process.

PyTorch marks ``torch.ao.quantization`` (FX graph mode, used here to build the int8 graph)
deprecated in favour of torchao's PT2E flow, which needs ``torch.compile``'s C++ toolchain at run
time; where the module or the oneDNN engine is missing, :func:`int8_unavailable_reason` says so and
``simulate`` labels in float32 instead.

Example
-------
>>> teacher = load_teacher("urban-unet-xlf8k-cpu")                          # doctest: +SKIP
>>> calibration = zoo_int8_calibration("urban-unet-xlf8k-cpu")
>>> int8 = QuantizedUrbanUNet(teacher, calibration)
>>> int8.predict(torch.rand(1, 3, 256, 512)).shape
torch.Size([1, 256, 512])
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from gosvae.errors import UserError
from gosvae.teachers.inference import FastUrbanUNet, _FoldedResidual, folded_copy
from gosvae.teachers.urban_unet import UrbanUNet

__all__ = [
    "ENGINE", "Int8Calibration", "QuantizedUrbanUNet", "calibrate_int8", "int8_unavailable_reason", "zoo_int8_calibration",
]

#: PyTorch's quantized engine the int8 teacher runs on.
ENGINE = "onednn"
#: Largest activation code (7-bit activations, see the module docstring).
ACTIVATION_QMAX = 127
#: The zoo entry field holding a teacher's :class:`Int8Calibration`.
ZOO_FIELD = "int8_calibration"
_MAX_QPARAMS = 4096


def int8_unavailable_reason() -> str | None:
    """Why int8 teachers cannot run in this PyTorch (``None``: they can)."""
    try:
        import torch.ao.quantization.quantize_fx  # noqa: F401
    except ImportError:
        return f"this PyTorch ({torch.__version__}) has no torch.ao.quantization"
    if ENGINE not in torch.backends.quantized.supported_engines:
        return f"this PyTorch build has no '{ENGINE}' quantized engine (it has {torch.backends.quantized.supported_engines})"
    return None


@dataclass(frozen=True)
class Int8Calibration:
    """Activation quantization parameters of an int8 teacher, and how they were obtained.

    ``qparams``: name in the int8 graph → ``(scale, zero_point)``; ``data``: the calibration
    images (dataset, split, count, size); ``quality``: what the calibration measured (mIoU of
    float32 and int8 on validation scenes, labels changed).
    """

    qparams: dict[str, tuple[float, int]]
    data: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    command: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"engine": ENGINE, "command": self.command, "data": self.data, "quality": self.quality,
                "qparams": {k: [float(s), int(z)] for k, (s, z) in sorted(self.qparams.items())}}

    @classmethod
    def from_json(cls, value: Any, *, where: str) -> "Int8Calibration":
        """Check and read ``value`` (a zoo entry's ``int8_calibration``); a one-line :class:`UserError` naming ``where``."""
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected an object, got {type(value).__name__}")
        if value.get("engine") != ENGINE:
            raise UserError(f"{where}.engine: expected {ENGINE!r}, got {str(value.get('engine'))[:40]!r}")
        raw = value.get("qparams")
        if not isinstance(raw, dict) or not 0 < len(raw) <= _MAX_QPARAMS:
            raise UserError(f"{where}.qparams: expected an object of 1 to {_MAX_QPARAMS} entries")
        qparams: dict[str, tuple[float, int]] = {}
        for name, pair in raw.items():
            ok = (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (int, float)) and not isinstance(pair[0], bool)
                  and isinstance(pair[1], int) and not isinstance(pair[1], bool))
            if not ok or not (math.isfinite(pair[0]) and 1e-12 < pair[0] < 1e6) or not 0 <= pair[1] <= ACTIVATION_QMAX:
                raise UserError(f"{where}.qparams.{str(name)[:80]}: expected [scale in (1e-12, 1e6), zero point in "
                                f"[0, {ACTIVATION_QMAX}]], got {str(pair)[:60]}")
            qparams[str(name)] = (float(pair[0]), int(pair[1]))
        data, quality = value.get("data", {}), value.get("quality", {})
        return cls(qparams, data=data if isinstance(data, dict) else {}, quality=quality if isinstance(quality, dict) else {},
                   command=str(value.get("command", ""))[:500])


def zoo_int8_calibration(name: str) -> Int8Calibration:
    """The int8 calibration shipped in zoo teacher ``name``'s entry; a one-line :class:`UserError` if it has none."""
    from gosvae import zoo

    entry = zoo.get_entry(name)
    value = entry.extra.get(ZOO_FIELD)
    if entry.kind != "teacher" or entry.arch != "urban-unet" or value is None:
        have = [e.name for e in zoo.list_entries(kind="teacher") if ZOO_FIELD in e.extra]
        raise UserError(f"teacher '{name}' has no int8 calibration in the zoo (teachers with one: "
                        f"{', '.join(have) or 'none'}); use teacher_precision: float32 or `gosvae calibrate-int8`")
    return Int8Calibration.from_json(value, where=f"zoo entry {name}: {ZOO_FIELD}")


# ---------------------------------------------------------------------------------------------
# the float graph that is quantized
# ---------------------------------------------------------------------------------------------
class _Residual(nn.Module):
    """``relu(x + body(x))`` written out of place, so FX fuses it into one quantized add-relu."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


def _traceable(module: nn.Module) -> nn.Module:
    """``module`` with the ``nn.Identity`` left by folding removed (so conv + ReLU fuse) and residuals as :class:`_Residual`."""
    if isinstance(module, _FoldedResidual):
        return _Residual(_traceable(module.body))
    if isinstance(module, nn.Sequential):
        return nn.Sequential(*[_traceable(m) for m in module if not isinstance(m, nn.Identity)])
    return module


def _up2(x: torch.Tensor) -> torch.Tensor:
    # The float teacher upsamples to the skip's size, always exactly twice (H, W are multiples of 16).
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class _HiddenGraph(nn.Module):
    """The folded teacher up to its full-resolution features: (normalized image, image) → (B, C, H, W)."""

    def __init__(self, folded: UrbanUNet) -> None:
        super().__init__()
        self.enc0, self.enc1, self.enc2, self.enc3 = (_traceable(m) for m in (folded.enc0, folded.enc1, folded.enc2, folded.enc3))
        self.dec2_fuse, self.dec2_refine = _traceable(folded.dec2.fuse), _traceable(folded.dec2.refine)
        self.dec1_fuse, self.dec1_refine = _traceable(folded.dec1.fuse), _traceable(folded.dec1.refine)
        self.dec0_fuse, self.dec0_refine = _traceable(folded.dec0.fuse), _traceable(folded.dec0.refine)
        self.head_fuse, self.head_refine = _traceable(folded.head[0]), _traceable(folded.head_refine)

    def forward(self, normalized: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        f0 = self.enc0(normalized)
        f1 = self.enc1(f0)
        f2 = self.enc2(f1)
        f3 = self.enc3(f2)
        d = self.dec2_refine(self.dec2_fuse(torch.cat([_up2(f3), f2], dim=1)))
        d = self.dec1_refine(self.dec1_fuse(torch.cat([_up2(d), f1], dim=1)))
        d = self.dec0_refine(self.dec0_fuse(torch.cat([_up2(d), f0], dim=1)))
        return self.head_refine(self.head_fuse(torch.cat([_up2(d), image], dim=1)))


def _qconfig_mapping(*, calibrating: bool) -> Any:
    from torch.ao.quantization import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver, QConfig, QConfigMapping

    activation = (HistogramObserver if calibrating else MinMaxObserver).with_args(dtype=torch.quint8, quant_min=0, quant_max=ACTIVATION_QMAX)
    weight = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    return QConfigMapping().set_global(QConfig(activation=activation, weight=weight))


def _prepared(source: UrbanUNet, *, calibrating: bool) -> torch.fx.GraphModule:
    """The folded graph of ``source`` with observers (FX graph mode)."""
    from torch.ao.quantization.quantize_fx import prepare_fx

    reason = int8_unavailable_reason()
    if reason is not None:
        raise UserError(f"int8 teacher: {reason}; use teacher_precision: float32")
    torch.backends.quantized.engine = ENGINE
    example = (torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return prepare_fx(_HiddenGraph(folded_copy(source)).eval(), _qconfig_mapping(calibrating=calibrating), example)


#: How a converted graph's state dict names an activation's parameters: a quantized module's output
#: (``NAME.scale``, ``NAME.zero_point``) or a buffer of the graph (``NAME_scale_0``, ``NAME_zero_point_0``).
_QPARAM_KEY = re.compile(r"(?P<name>.+?)(?P<sep>\.|_)scale(?P<suffix>(_0)?)")


def _qparam_slots(graph: torch.fx.GraphModule) -> dict[str, tuple[str, str]]:
    """Every activation of a converted graph: name → (state-dict key of its scale, of its zero point)."""
    state = graph.state_dict()
    slots = {}
    for key in state:
        match = _QPARAM_KEY.fullmatch(key)
        zero_point = match and f"{match['name']}{match['sep']}zero_point{match['suffix']}"
        if match and zero_point in state and state[key].numel() == 1:
            slots[match["name"]] = (key, zero_point)
    return slots


def _activation_qparams(graph: torch.fx.GraphModule) -> dict[str, tuple[float, int]]:
    """Every activation (scale, zero point) of a converted graph, by name (:func:`_qparam_slots`)."""
    state = graph.state_dict()
    return {name: (float(state[scale]), int(state[zero_point])) for name, (scale, zero_point) in _qparam_slots(graph).items()}


def _convert(prepared: torch.fx.GraphModule) -> torch.fx.GraphModule:
    from torch.ao.quantization.quantize_fx import convert_fx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return convert_fx(prepared)


def _set_activation_qparams(graph: torch.fx.GraphModule, qparams: dict[str, tuple[float, int]], *, where: str) -> None:
    """Write ``qparams`` (as from :func:`_activation_qparams`) into ``graph``; every name must match."""
    slots = _qparam_slots(graph)
    missing, unknown = sorted(set(slots) - set(qparams)), sorted(set(qparams) - set(slots))
    if missing or unknown:
        sample = ", ".join((missing or unknown)[:3])
        raise UserError(f"{where}: the int8 calibration does not fit this network ({len(missing)} missing, "
                        f"{len(unknown)} unknown names, e.g. {sample}); calibrate again with `gosvae calibrate-int8`")
    for name, (scale, zero_point) in qparams.items():
        scale_key, zero_point_key = slots[name]
        if scale_key.endswith(".scale"):  # a quantized module's output parameters (plain attributes)
            module = graph.get_submodule(name)
            module.scale, module.zero_point = float(scale), int(zero_point)
        else:  # buffers of the graph (quantize / add-relu outputs)
            getattr(graph, scale_key).fill_(scale)
            getattr(graph, zero_point_key).fill_(zero_point)


def calibrate_int8(teacher: UrbanUNet, images: Iterable[torch.Tensor], *, data: dict[str, Any] | None = None,
                   command: str = "") -> Int8Calibration:
    """Calibrate the activation ranges of ``teacher``'s int8 graph on ``images``.

    Input: a frozen :class:`UrbanUNet`; ``images``: tensors (B, 3, H, W) float in [0, 1] (H, W
    multiples of 16), each seen with its mirror image when the teacher uses the flip test.
    Output: an :class:`Int8Calibration` (``data``, ``command`` recorded as given, ``quality`` empty).
    """
    prepared = _prepared(teacher, calibrating=True)
    with torch.inference_mode():
        for x in images:
            teacher._check(x)
            views = torch.cat([x, x.flip(-1)]) if teacher.test_time_flip else x
            prepared(teacher.normalize(views), views)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*", category=UserWarning)
        qparams = _activation_qparams(_convert(prepared))
    return Int8Calibration(qparams, data=dict(data or {}), command=command)


class QuantizedUrbanUNet(FastUrbanUNet):
    """The int8 inference copy of an :class:`UrbanUNet` (see the module docstring); for labels only.

    Parameters
    ----------
    source : UrbanUNet
        The frozen float teacher (left unchanged).
    calibration : Int8Calibration
        Its activation quantization parameters (:func:`calibrate_int8`, :func:`zoo_int8_calibration`).

    Input / output of :meth:`predict`: ``x`` (B, 3, H, W) float in [0, 1] → labels (B, H, W) int64;
    :meth:`class_probabilities`: (B, m, H, W) float32. Raises :class:`UserError` (one line) when the
    calibration does not fit the network or the int8 engine is missing.
    """

    def __init__(self, source: UrbanUNet, calibration: Int8Calibration) -> None:
        super().__init__(source)
        prepared = _prepared(source, calibrating=False)
        with torch.inference_mode():  # observers need one pass before conversion; its values are replaced
            prepared(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
        with warnings.catch_warnings():
            # PyTorch warns (once) that its quantized tensor types are deprecated (see the module docstring)
            warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*", category=UserWarning)
            self.graph = _convert(prepared)
            self.graph(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))
        _set_activation_qparams(self.graph, calibration.qparams, where="int8 teacher")
        self.calibration = calibration

    def _hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Full-resolution features (B, C, H, W) float32 in channels-last memory, computed in int8."""
        self.net._check(x)
        x = x.contiguous(memory_format=torch.channels_last)
        hidden = self.graph(self.normalize(x), x)
        return hidden.dequantize().contiguous(memory_format=torch.channels_last)

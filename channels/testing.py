"""Conformance kit for channel models: call :func:`check_channel_model` from your own tests.

It checks the rules of :mod:`channels.base` on a model and raises ``AssertionError`` listing every
failed check with its measured figures. The checks (names in :data:`CHECKS`):

- ``shapes``: ``y``, ``h`` are (B, N) with the dtype and device of ``x``; ``no`` is real, of the
  matching real dtype, on that device, broadcastable to ``y``, finite, >= 0; ``x`` is untouched.
- ``noise_forms``: ``no`` as a float, a 0-d tensor, (B,) or (B, 1) gives the same output.
- ``input_validation``: a real or 1-D input and a negative ``no`` raise ``ValueError``/``TypeError``.
- ``reproducibility``: the same generator seed gives identical outputs, another seed other ones.
- ``global_rng``: the global torch, CUDA, numpy, Python and Sionna generators are neither advanced
  nor read (the output does not change with ``torch.manual_seed``).
- ``unit_power``: ``E|h|^2 = 1`` within ``power_tolerance_db`` (0.5 dB).
- ``noise_calibration``: at every SNR of ``snr_db_values`` the noise ``y - h x`` has power ``no``
  (the SNR is right), also with one ``no`` per row; the returned ``no`` is the variance of the
  noise actually added (``E[|y - h x|^2 / no_returned] = 1``); the noise is circular; at
  ``no = 0``, ``y = h x``.
- ``independence``: rows of ``h``, ``|h|^2`` and the noise are distinct and uncorrelated.

Statistical checks pass when the measured value lies within its tolerance of its target
(``tolerance_db``, 0.2 dB, for the noise; ``power_tolerance_db`` for ``E|h|^2``) and the
measurement resolves that tolerance: ``z`` standard errors (from the spread of the row means,
rows being independent) at most the tolerance; otherwise the check fails asking for more rows or
symbols. Structural checks run on a small (<= 8, <= 256) input.

Models whose ``h`` is not the true gain (an estimate, or ones after the model's own equalisation,
as the OFDM models with LS estimation) pass ``perfect_csi=False``: the true gain and the raw noise
are then not observable, so ``unit_power``, the requested-SNR part of ``noise_calibration`` and
the ``y = h x`` identity are skipped, and the returned ``no`` must still describe the residual
``y - h x`` (estimation error included), which is what the link's equaliser relies on.

Example
-------
>>> from channels import RayleighChannel
>>> from channels.testing import check_channel_model
>>> report = check_channel_model(lambda: RayleighChannel(fading="fast"), batch=32, num_symbols=1024)
>>> report.passed
True

With pytest, one test per check::

    @pytest.mark.parametrize("check", CHECKS)
    def test_conformance(check):
        check_channel_model(MyChannel, checks=[check])
"""

from __future__ import annotations

import copy
import math
import random
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from channels.base import ChannelModel, ChannelOutput

__all__ = ["CHECKS", "CheckResult", "ConformanceReport", "check_channel_model"]

CHECKS = ("shapes", "noise_forms", "input_validation", "reproducibility", "global_rng", "unit_power",
          "noise_calibration", "independence")
_STRUCTURAL = {"shapes", "noise_forms", "input_validation", "reproducibility", "global_rng"}


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check on one (device, dtype): ``name``, ``where``, ``passed``, ``message``."""

    name: str
    where: str
    passed: bool
    message: str


@dataclass
class ConformanceReport:
    """All check results of one model; ``str(report)`` is a readable table."""

    model: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        lines = [f"conformance of {self.model}:"]
        lines += [f"  {'PASS' if r.passed else 'FAIL'} {r.name} [{r.where}]: {r.message}" for r in self.results]
        return "\n".join(lines)


class _Failed(Exception):
    """A check's finding (becomes a failed :class:`CheckResult`)."""


@dataclass
class _Setup:
    model: ChannelModel
    device: torch.device
    dtype: torch.dtype
    shape: tuple[int, int]  # (B, N) of the statistical checks
    snr_db_values: tuple[float, ...]
    tolerance_db: float
    power_tolerance_db: float
    power_batch: int
    perfect_csi: bool
    seed: int
    z: float

    @property
    def small(self) -> tuple[int, int]:
        return min(self.shape[0], 8), min(self.shape[1], 256)

    @property
    def real_dtype(self) -> torch.dtype:
        return torch.empty((), dtype=self.dtype).real.dtype

    def symbols(self, shape: tuple[int, int], offset: int = 0) -> torch.Tensor:
        """Random unit-energy QPSK symbols (|x| = 1) from the kit's own generator."""
        g = torch.Generator().manual_seed(10_000 + self.seed + offset)
        bits = torch.randint(0, 2, (*shape, 2), generator=g).to(torch.float64)
        x = torch.complex(1 - 2 * bits[..., 0], 1 - 2 * bits[..., 1]) / math.sqrt(2)
        return x.to(device=self.device, dtype=self.dtype)

    def run(self, x: torch.Tensor, no: float | torch.Tensor, offset: int = 0) -> ChannelOutput:
        out = self.model(x.clone(), no=no, generator=torch.Generator().manual_seed(self.seed + offset))
        if not isinstance(out, ChannelOutput):
            raise _Failed(f"forward returned {type(out).__name__}, not channels.base.ChannelOutput")
        return out

    def noise(self, no: float | torch.Tensor, offset: int = 0) -> tuple[torch.Tensor, ChannelOutput, torch.Tensor]:
        """Residual ``y - h x`` (complex128, CPU), the output and ``x`` of one full-size call."""
        x = self.symbols(self.shape, offset)
        out = self.run(x, no, offset)
        return (out.y - out.h * x).to(torch.complex128).cpu(), out, x

    def within(self, what: str, row_values: torch.Tensor, target: float, tolerance_db: float | None = None) -> str:
        """Mean of ``row_values`` (one independent value per row) within ``tolerance_db`` (default
        ``self.tolerance_db``) of ``target`` and resolved; returns the figures or raises ``_Failed``."""
        tolerance_db = self.tolerance_db if tolerance_db is None else tolerance_db
        values = row_values.double().cpu()
        mean = float(values.mean())
        se = float(values.std()) / math.sqrt(len(values)) if len(values) > 1 else math.inf
        if not mean > 0:
            raise _Failed(f"{what} = {mean:.4g}, expected {target:.4g}")
        error_db, se_db = 10 * math.log10(mean / target), 10 / math.log(10) * se / mean
        figures = f"{what} = {mean:.4g}, target {target:.4g} ({error_db:+.3f} dB, standard error {se_db:.3f} dB)"
        if self.z * se_db > tolerance_db:
            raise _Failed(f"{figures}: too noisy to resolve {tolerance_db} dB, use more symbols or rows")
        if abs(error_db) > tolerance_db:
            raise _Failed(f"{figures}: off by more than {tolerance_db} dB")
        return figures


def _check_shapes(s: _Setup) -> str:
    x = s.symbols(s.small)
    original = x.clone()
    out = s.model(x, no=0.1, generator=torch.Generator().manual_seed(s.seed))
    if not isinstance(out, ChannelOutput):
        raise _Failed(f"forward returned {type(out).__name__}, not channels.base.ChannelOutput")
    problems = []
    for name in ("y", "h"):
        t = getattr(out, name)
        if not isinstance(t, torch.Tensor):
            problems.append(f"{name} is {type(t).__name__}, not a tensor")
        elif tuple(t.shape) != tuple(x.shape) or t.dtype != x.dtype or t.device != x.device:
            problems.append(f"{name} is {tuple(t.shape)} {t.dtype} on {t.device}, expected {tuple(x.shape)} "
                            f"{x.dtype} on {x.device}")
        elif not bool(torch.isfinite(t).all()):
            problems.append(f"{name} has non-finite values")
    no = out.no
    if not isinstance(no, torch.Tensor) or no.is_complex() or no.dtype != x.real.dtype or no.device != x.device:
        desc = f"{no.dtype} on {no.device}" if isinstance(no, torch.Tensor) else type(no).__name__
        problems.append(f"no is {desc}, expected a {x.real.dtype} tensor on {x.device}")
    else:
        try:
            torch.broadcast_shapes(no.shape, x.shape)
        except RuntimeError:
            problems.append(f"no of shape {tuple(no.shape)} does not broadcast to {tuple(x.shape)}")
        if not bool((torch.isfinite(no) & (no >= 0)).all()):
            problems.append("no has negative or non-finite values")
    if not torch.equal(x, original):
        problems.append("the input x was modified in place")
    if problems:
        raise _Failed("; ".join(problems))
    return f"y, h {x.dtype} like x, no {tuple(out.no.shape)} {out.no.dtype}"


def _check_noise_forms(s: _Setup) -> str:
    x, value = s.symbols(s.small), 0.3
    batch = x.shape[0]
    forms = {"0-d tensor": torch.tensor(value, dtype=s.real_dtype, device=s.device),
             "(B,)": torch.full((batch,), value, dtype=s.real_dtype, device=s.device),
             "(B, 1)": torch.full((batch, 1), value, dtype=s.real_dtype, device=s.device)}
    reference = s.run(x, value).y
    different = [n for n, no in forms.items() if not torch.allclose(s.run(x, no).y, reference, rtol=1e-5, atol=1e-6)]
    if different:
        raise _Failed(f"no given as {', '.join(different)} gives another output than the float {value}")
    return "float, 0-d, (B,) and (B, 1) noise variances give the same output"


def _check_input_validation(s: _Setup) -> str:
    x = s.symbols(s.small)
    accepted = []
    for name, inp, no in [("a real (B, N) input", x.real.contiguous(), 0.1), ("a 1-D input", x[0], 0.1),
                          ("no = -1", x, -1.0)]:
        try:
            s.model(inp, no=no, generator=torch.Generator().manual_seed(s.seed))
        except (ValueError, TypeError):
            continue
        accepted.append(name)
    if accepted:
        raise _Failed(f"accepted {', '.join(accepted)} without ValueError/TypeError")
    return "real input, 1-D input and negative no are rejected"


def _check_reproducibility(s: _Setup) -> str:
    x = s.symbols(s.small)
    first, second, other = s.run(x, 0.5), s.run(x, 0.5), s.run(x, 0.5, offset=1)
    problems = [f"{n} differs between two calls with the same seed" for n in ("y", "h", "no")
                if not torch.equal(getattr(first, n), getattr(second, n))]
    if torch.equal(first.y, other.y):
        problems.append("y is the same for two different seeds")
    if _is_random(first.h) and torch.equal(first.h, other.h):
        problems.append("h varies across rows but is the same for two different seeds (not drawn from the generator?)")
    if problems:
        raise _Failed("; ".join(problems))
    return "same seed: identical y, h, no; another seed: another y" + (" and h" if _is_random(first.h) else "")


def _rng_states() -> dict[str, Any]:
    np_state = np.random.get_state()
    states: dict[str, Any] = {"torch": torch.random.get_rng_state(), "python random": random.getstate(),
                              "numpy": (np_state[1].tobytes(), *np_state[2:])}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch.cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    config = getattr(sys.modules.get("sionna.phy"), "config", None)
    if config is not None:  # Sionna creates its generators lazily: creating one counts as using it
        for device, generator in dict(getattr(config, "_torch_rngs", None) or {}).items():
            states[f"sionna torch rng ({device})"] = generator.get_state()
        np_rng, py_rng = getattr(config, "_np_rng", None), getattr(config, "_py_rng", None)
        states["sionna numpy rng"] = None if np_rng is None else repr(np_rng.bit_generator.state)
        states["sionna python rng"] = None if py_rng is None else py_rng.getstate()
    return states


def _same(a: Any, b: Any) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) else a == b


def _check_global_rng(s: _Setup) -> str:
    x = s.symbols(s.small)
    saved = torch.random.get_rng_state()
    saved_cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    try:
        torch.manual_seed(1)
        before = _rng_states()
        first = s.run(x, 0.5)
        after = _rng_states()
        torch.manual_seed(2)
        second = s.run(x, 0.5)
    finally:
        torch.random.set_rng_state(saved)
        if saved_cuda is not None:
            torch.cuda.set_rng_state_all(saved_cuda)
    used = [name for name in after if name not in before or not _same(before[name], after[name])]
    problems = [f"advanced the global RNG: {', '.join(used)}"] if used else []
    if not (torch.equal(first.y, second.y) and torch.equal(first.h, second.h)):
        problems.append("output changes with torch.manual_seed (draws from the global torch RNG)")
    if problems:
        raise _Failed("; ".join(problems))
    return "global torch/numpy/python/Sionna RNG states untouched; output independent of torch.manual_seed"


def _check_unit_power(s: _Setup) -> str:
    if not s.perfect_csi:
        return "skipped: the true gain is not observable with perfect_csi=False"
    power = s.run(s.symbols((s.power_batch, s.shape[1])), 0.1).h.to(torch.complex128).abs().square()
    return s.within("E|h|^2", power.mean(dim=1), 1.0, s.power_tolerance_db)


def _check_noise_calibration(s: _Setup) -> str:
    figures = []
    for k, snr_db in enumerate(s.snr_db_values):
        no = 10 ** (-snr_db / 10)
        n, out, x = s.noise(no, offset=k)
        power = n.abs().square()
        reported = torch.broadcast_to(out.no.double().cpu(), n.shape)
        text = s.within(f"E[|y - h x|^2 / returned no] at {snr_db:g} dB", (power / reported).mean(dim=1), 1.0)
        if s.perfect_csi:
            signal = float((out.h * x).to(torch.complex128).abs().square().mean())
            text = s.within(f"noise power at {snr_db:g} dB", power.mean(dim=1), no)
            text += f", measured SNR {10 * math.log10(signal / float(power.mean())):.2f} dB"
        pseudo = n.square().mean(dim=1) / power.mean()
        spread = float((pseudo - pseudo.mean()).abs().square().mean().sqrt()) / math.sqrt(len(pseudo))
        if abs(complex(pseudo.mean())) > s.z * spread + 1e-12:
            raise _Failed(f"noise at {snr_db:g} dB is not circular: E[n^2] / E|n|^2 = {complex(pseudo.mean()):.3g}")
        figures.append(text)
    values = torch.tensor([10 ** (-v / 10) for v in s.snr_db_values], dtype=torch.float64)
    per_row = values[torch.arange(s.shape[0]) % len(values)]
    n, out, _ = s.noise(per_row.to(device=s.device, dtype=s.real_dtype), offset=len(values))
    target = per_row[:, None] if s.perfect_csi else torch.broadcast_to(out.no.double().cpu(), n.shape)
    s.within("noise power / no with one no per row", (n.abs().square() / target).mean(dim=1), 1.0)
    if s.perfect_csi:
        x = s.symbols(s.shape)
        out = s.run(x, 0.0)
        gap = float((out.y - out.h * x).abs().max())
        if gap > 100 * torch.finfo(s.real_dtype).eps * max(1.0, float(out.h.abs().max())):
            raise _Failed(f"at no = 0, y differs from h x by up to {gap:.3g} (an estimated h needs perfect_csi=False)")
    return "; ".join(figures) + "; one no per row ok"


def _is_random(t: torch.Tensor) -> bool:
    return bool((t != t[:1]).any())


def _row_correlation(values: torch.Tensor, mean: torch.Tensor | None) -> tuple[complex, float]:
    """Mean correlation coefficient of adjacent rows, and its standard error.

    ``mean`` (None: zero mean) is a column mean estimated from an independent call: it removes a
    deterministic mean (a line-of-sight gain) but not a random component common to the rows, and
    adds a known bias 1/(B+1). Without it, values are reduced to their phase ``z / |z|`` first, so
    that heavy tails (noise after equalisation) cannot dominate.
    """
    centred = values - mean if mean is not None else values / values.abs().clamp_min(1e-300)
    unit = centred / centred.abs().square().sum(dim=1, keepdim=True).sqrt().clamp_min(1e-300)
    c = (unit[1:] * unit[:-1].conj()).sum(dim=1)
    spread = float((c - c.mean()).abs().square().mean().sqrt()) / math.sqrt(len(c))
    return complex(c.mean()) - (1 / (len(values) + 1) if mean is not None else 0.0), spread


def _check_independence(s: _Setup) -> str:
    if s.shape[0] < 8:
        raise _Failed("needs batch >= 8 to measure correlation across rows")
    n, out, _ = s.noise(1.0)
    quantities: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {"noise": (n, None)}
    if bool((out.h != out.h.reshape(-1)[0]).any()):  # a random (not constant) gain
        h = out.h.to(torch.complex128).cpu()
        h_other = s.noise(1.0, offset=1)[1].h.to(torch.complex128).cpu()
        quantities["h"] = (h, h_other.mean(dim=0, keepdim=True))
        quantities["|h|^2"] = (h.abs().square().to(torch.complex128),
                               h_other.abs().square().mean(dim=0, keepdim=True).to(torch.complex128))
    figures = []
    for name, (values, mean) in quantities.items():
        if len(torch.unique(torch.view_as_real(values).reshape(len(values), -1), dim=0)) < len(values):
            raise _Failed(f"some rows of {name} are identical")
        corr, spread = _row_correlation(values, mean)
        if abs(corr) > s.z * spread:
            raise _Failed(f"adjacent rows of {name} are correlated: {abs(corr):.3f} (standard error {spread:.3f})")
        figures.append(f"{name} {abs(corr):.3f}")
    return "row correlation " + ", ".join(figures)


_CHECK_FUNCTIONS: dict[str, Callable[[_Setup], str]] = {
    "shapes": _check_shapes, "noise_forms": _check_noise_forms, "input_validation": _check_input_validation,
    "reproducibility": _check_reproducibility, "global_rng": _check_global_rng, "unit_power": _check_unit_power,
    "noise_calibration": _check_noise_calibration, "independence": _check_independence,
}


def check_channel_model(
    model: ChannelModel | Callable[[], ChannelModel],
    *,
    batch: int = 64,
    num_symbols: int = 2048,
    snr_db_values: Sequence[float] = (0.0, 10.0, 20.0),
    tolerance_db: float = 0.2,
    power_tolerance_db: float = 0.5,
    power_batch: int | None = None,
    devices: Sequence[str | torch.device] = ("cpu",),
    dtypes: Sequence[torch.dtype] = (torch.complex64, torch.complex128),
    perfect_csi: bool = True,
    checks: Collection[str] | None = None,
    seed: int = 0,
    z: float = 5.0,
    raise_on_failure: bool = True,
) -> ConformanceReport:
    """Run the conformance checks on a channel model (see the module docstring for the list).

    Input
    -----
    model : ChannelModel | callable
        A model (checked on a copy, never moved), or a factory called once per device (a class
        whose parameters all have defaults, a ``lambda``).
    batch, num_symbols : int
        Shape (B, N) of the statistical checks' inputs (B >= 8 for ``independence``).
    snr_db_values : sequence of float
        Es/N0 values of the noise calibration (``no = 10^(-snr/10)``, unit-energy symbols).
    tolerance_db : float
        Largest error allowed on the noise power (the SNR) and on the returned ``no``.
    power_tolerance_db : float
        Largest error allowed on ``E|h|^2`` (fading gains need many rows to resolve it finely).
    power_batch : int | None
        Rows of the ``unit_power`` input (``None``: ``batch``); slow fading needs many.
    devices, dtypes
        Devices (must be available) and complex dtypes. Structural checks run on every pair,
        statistical ones on the first device with every dtype.
    perfect_csi : bool
        ``True`` when ``h`` is the true gain (``y = h x + n``); ``False`` when it is not.
    checks : collection of str | None
        Names from :data:`CHECKS` to run; ``None`` runs all.
    seed : int
        Base seed of the generators given to the model.
    z : float
        Standard errors allowed in the statistical checks.
    raise_on_failure : bool
        Raise ``AssertionError`` listing the failures (default), or just return the report.

    Output
    ------
    ConformanceReport
        Every check's result with its measured figures.
    """
    names = tuple(CHECKS if checks is None else checks)
    unknown = sorted(set(names) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown conformance checks {unknown} (known: {', '.join(CHECKS)})")
    if not devices or not dtypes or any(d not in (torch.complex64, torch.complex128) for d in dtypes):
        raise ValueError(f"devices must not be empty and dtypes must be torch.complex64 or torch.complex128, "
                         f"got devices {list(devices)} and dtypes {list(dtypes)}")
    if batch < 2 or num_symbols < 2:
        raise ValueError(f"batch and num_symbols must be >= 2, got {batch} and {num_symbols}")
    report: ConformanceReport | None = None
    for device_index, device in enumerate(torch.device(d) for d in devices):
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device '{device}' is not available")
        instance = copy.deepcopy(model) if isinstance(model, ChannelModel) else model()
        if not isinstance(instance, ChannelModel):
            raise TypeError(f"the factory returned {type(instance).__name__}, not a channels.base.ChannelModel")
        instance = instance.to(device)
        report = report or ConformanceReport(model=repr(instance))
        for dtype in dtypes:
            setup = _Setup(instance, device, dtype, (batch, num_symbols), tuple(float(v) for v in snr_db_values),
                           tolerance_db, power_tolerance_db, power_batch or batch, perfect_csi, seed, z)
            where = f"{device}, {str(dtype).removeprefix('torch.')}"
            for name in names:
                if device_index > 0 and name not in _STRUCTURAL:
                    continue
                try:
                    report.results.append(CheckResult(name, where, True, _CHECK_FUNCTIONS[name](setup)))
                except _Failed as exc:
                    report.results.append(CheckResult(name, where, False, str(exc)))
                except Exception as exc:  # noqa: BLE001 - a crash is a failed check, reported with the others
                    report.results.append(CheckResult(name, where, False, f"raised {type(exc).__name__}: {exc}"))
    assert report is not None
    if raise_on_failure and not report.passed:
        failures = report.failures
        lines = [f"{report.model} failed {len(failures)} conformance check(s):"]
        lines += [f"  {r.name} [{r.where}]: {r.message}" for r in failures]
        raise AssertionError("\n".join(lines))
    return report

"""Conformance kit for channel models: call :func:`check_channel_model` from your own tests.

It checks the rules of :mod:`channels.base` on a model and raises ``AssertionError`` listing every
check that failed, with the measured figures. The checks (names in :data:`CHECKS`):

- ``shapes``: ``y`` and ``h`` are (B, N) with the dtype and device of ``x``; ``no`` is real, of the
  matching real dtype, on that device, broadcastable to ``y``, finite and >= 0; ``x`` is untouched.
- ``noise_forms``: ``no`` given as a float, a 0-d tensor, (B,) or (B, 1) gives the same output.
- ``input_validation``: a real or 1-D input and a negative ``no`` raise ``ValueError``/``TypeError``.
- ``reproducibility``: the same generator seed gives identical outputs, another seed other outputs.
- ``global_rng``: the global torch, CUDA, numpy, Python and Sionna generators are neither advanced
  nor read (outputs do not change with ``torch.manual_seed``).
- ``unit_power``: ``E|h|^2 = 1`` (with ``perfect_csi=False``: ``E|y|^2 = E|x|^2`` at ``no = 0``).
- ``noise_calibration``: at every SNR the noise power equals ``no`` (SNR within ``tolerance_db``),
  also with one ``no`` per row; noise is circular; with ``perfect_csi``, ``y = h x`` at ``no = 0``
  and the returned ``no`` is the variance of the noise actually added.
- ``independence``: rows of ``h``, ``|h|^2`` and the noise are distinct and uncorrelated.

Measured quantities must lie within ``tolerance_db`` (0.2 dB) of the target and the measurement
must resolve it: ``z`` standard errors (estimated from the spread of the row means, rows being
independent) at most ``tolerance_db``; otherwise the check fails asking for more symbols. The
noise is measured as ``y - h x`` when ``perfect_csi`` (``h`` is the true gain), else as ``y`` for
``x = 0``, so models returning an estimated ``h`` (OFDM with LS estimation) pass
``perfect_csi=False``.

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
    """A check's finding (turned into a failed :class:`CheckResult`)."""


@dataclass
class _Setup:
    model: ChannelModel
    device: torch.device
    dtype: torch.dtype
    batch: int
    num_symbols: int
    snr_db_values: tuple[float, ...]
    tolerance_db: float
    perfect_csi: bool
    seed: int
    z: float

    def symbols(self, seed_offset: int = 0) -> torch.Tensor:
        """(B, N) random unit-energy QPSK symbols (|x| = 1), from the kit's own generator."""
        g = torch.Generator().manual_seed(10_000 + self.seed + seed_offset)
        bits = torch.randint(0, 2, (self.batch, self.num_symbols, 2), generator=g).to(torch.float64)
        x = torch.complex(1 - 2 * bits[..., 0], 1 - 2 * bits[..., 1]) / math.sqrt(2)
        return x.to(device=self.device, dtype=self.dtype)

    def run(self, x: torch.Tensor, no: float | torch.Tensor, seed_offset: int = 0) -> ChannelOutput:
        out = self.model(x, no=no, generator=torch.Generator().manual_seed(self.seed + seed_offset))
        if not isinstance(out, ChannelOutput):
            raise _Failed(f"forward returned {type(out).__name__}, not channels.base.ChannelOutput")
        return out

    def noise(self, no: float | torch.Tensor, seed_offset: int = 0) -> tuple[torch.Tensor, ChannelOutput]:
        """The noise of one call: ``y - h x`` (perfect CSI) or ``y`` for ``x = 0``."""
        if self.perfect_csi:
            x = self.symbols(seed_offset)
            out = self.run(x, no, seed_offset)
            return (out.y - out.h * x).to(torch.complex128), out
        out = self.run(torch.zeros(self.batch, self.num_symbols, dtype=self.dtype, device=self.device), no, seed_offset)
        return out.y.to(torch.complex128), out

    def within(self, what: str, row_values: torch.Tensor, target: float) -> str:
        """Check that the mean of ``row_values`` (one independent value per row) is ``target`` within
        ``tolerance_db``, with a resolving measurement; returns the figures, raises ``_Failed``."""
        values = row_values.double().cpu()
        mean = float(values.mean())
        se = float(values.std()) / math.sqrt(len(values)) if len(values) > 1 else math.inf
        if not mean > 0:
            raise _Failed(f"{what} = {mean:.4g}, expected {target:.4g}")
        error_db, se_db = 10 * math.log10(mean / target), 10 / math.log(10) * se / mean
        figures = f"{what} = {mean:.4g}, target {target:.4g} ({error_db:+.3f} dB, standard error {se_db:.3f} dB)"
        if abs(error_db) > self.tolerance_db:
            raise _Failed(f"{figures}: off by more than {self.tolerance_db} dB")
        if self.z * se_db > self.tolerance_db:
            raise _Failed(f"{figures}: too noisy to resolve {self.tolerance_db} dB, use more symbols or rows")
        return figures


def _check_shapes(s: _Setup) -> str:
    x = s.symbols()
    original = x.clone()
    out = s.run(x, 0.1)
    problems = []
    for name in ("y", "h"):
        t = getattr(out, name)
        if not isinstance(t, torch.Tensor):
            problems.append(f"{name} is {type(t).__name__}, not a tensor")
            continue
        if tuple(t.shape) != tuple(x.shape) or t.dtype != x.dtype or t.device != x.device:
            problems.append(f"{name} is {tuple(t.shape)} {t.dtype} on {t.device}, expected {tuple(x.shape)} {x.dtype} "
                            f"on {x.device}")
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
    return f"y, h {tuple(x.shape)} {x.dtype}, no {tuple(out.no.shape)} {out.no.dtype}"


def _check_noise_forms(s: _Setup) -> str:
    x, value = s.symbols(), 0.3
    real = x.real.dtype
    forms = {"float": value, "0-d tensor": torch.tensor(value, dtype=real, device=s.device),
             "(B,)": torch.full((s.batch,), value, dtype=real, device=s.device),
             "(B, 1)": torch.full((s.batch, 1), value, dtype=real, device=s.device)}
    reference = s.run(x, value).y
    different = [name for name, no in forms.items() if not torch.allclose(s.run(x, no).y, reference, rtol=1e-5, atol=1e-6)]
    if different:
        raise _Failed(f"no given as {', '.join(different)} changes the output (float no gives another)")
    return "float, 0-d, (B,) and (B, 1) noise variances give the same output"


def _check_input_validation(s: _Setup) -> str:
    x = s.symbols()
    cases = {"a real (B, N) input": (x.real.contiguous(), 0.1), "a 1-D input": (x[0], 0.1), "no = -1": (x, -1.0)}
    accepted = []
    for name, (inp, no) in cases.items():
        try:
            s.model(inp, no=no, generator=torch.Generator().manual_seed(s.seed))
        except (ValueError, TypeError):
            continue
        accepted.append(name)
    if accepted:
        raise _Failed(f"accepted {', '.join(accepted)} without ValueError/TypeError")
    return "real input, 1-D input and negative no are rejected"


def _check_reproducibility(s: _Setup) -> str:
    x = s.symbols()
    first, second, other = s.run(x, 0.5), s.run(x, 0.5), s.run(x, 0.5, seed_offset=1)
    problems = [f"{n} differs between two calls with the same seed" for n in ("y", "h", "no")
                if not torch.equal(getattr(first, n), getattr(second, n))]
    if torch.equal(first.y, other.y):
        problems.append("y is the same for two different seeds")
    if _is_random(first.h) and torch.equal(first.h, other.h):
        problems.append("h varies across rows but is the same for two different seeds (not drawn from the generator?)")
    if problems:
        raise _Failed("; ".join(problems))
    return "same seed: identical y, h, no; another seed: other y" + (" and h" if _is_random(first.h) else "")


def _rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.random.get_rng_state(), "python random": random.getstate()}
    np_state = np.random.get_state()
    states["numpy"] = (np_state[1].tobytes(), *np_state[2:])
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch.cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    sionna_phy = sys.modules.get("sionna.phy")
    config = getattr(sionna_phy, "config", None)
    if config is not None:  # Sionna's generators are created lazily: creating one counts as using it
        for device, generator in dict(getattr(config, "_torch_rngs", {}) or {}).items():
            states[f"sionna torch rng ({device})"] = generator.get_state()
        np_rng, py_rng = getattr(config, "_np_rng", None), getattr(config, "_py_rng", None)
        states["sionna numpy rng"] = None if np_rng is None else repr(np_rng.bit_generator.state)
        states["sionna python rng"] = None if py_rng is None else py_rng.getstate()
    return states


def _same_state(a: Any, b: Any) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) else a == b


def _check_global_rng(s: _Setup) -> str:
    x = s.symbols()
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
    used = [name for name in after if name not in before or not _same_state(before[name], after[name])]
    problems = [f"advanced the global RNG: {', '.join(used)}"] if used else []
    if not (torch.equal(first.y, second.y) and torch.equal(first.h, second.h)):
        problems.append("output changes with torch.manual_seed (draws from the global torch RNG)")
    if problems:
        raise _Failed("; ".join(problems))
    return "global torch/numpy/python/Sionna RNG states untouched; output independent of torch.manual_seed"


def _check_unit_power(s: _Setup) -> str:
    if s.perfect_csi:
        power = s.run(s.symbols(), 0.1).h.to(torch.complex128).abs().square()
        return s.within("E|h|^2", power.mean(dim=1), 1.0)
    x = s.symbols()  # |x| = 1, so |y|^2 at no = 0 is the power gain of the true channel
    power = s.run(x, 0.0).y.to(torch.complex128).abs().square()
    return s.within("E|y|^2 / E|x|^2 at no = 0", power.mean(dim=1), 1.0)


def _check_noise_calibration(s: _Setup) -> str:
    figures = []
    for k, snr_db in enumerate(s.snr_db_values):
        no = 10 ** (-snr_db / 10)
        n, out = s.noise(no, seed_offset=k)
        power = n.abs().square()
        text = s.within(f"noise power at {snr_db:g} dB", power.mean(dim=1), no)
        if s.perfect_csi:
            signal = float((out.h * s.symbols(k)).to(torch.complex128).abs().square().mean())
            text += f", measured SNR {10 * math.log10(signal / float(power.mean())):.2f} dB"
            reported = torch.broadcast_to(out.no, n.shape).double().cpu()
            s.within(f"E[|n|^2 / returned no] at {snr_db:g} dB", (power.cpu() / reported).mean(dim=1), 1.0)
        pseudo = (n.square().mean(dim=1) / power.mean()).cpu()
        spread = float((pseudo - pseudo.mean()).abs().square().mean().sqrt()) / math.sqrt(len(pseudo))
        if abs(complex(pseudo.mean())) > s.z * spread + 1e-12:
            raise _Failed(f"noise at {snr_db:g} dB is not circular: E[n^2] / E|n|^2 = {complex(pseudo.mean()):.3g}")
        figures.append(text)
    values = torch.tensor([10 ** (-v / 10) for v in s.snr_db_values], dtype=torch.float64)
    groups = torch.arange(s.batch) % len(values)
    real_dtype = torch.empty((), dtype=s.dtype).real.dtype
    n, _ = s.noise(values[groups].to(device=s.device, dtype=real_dtype), seed_offset=len(values))
    power = n.abs().square().mean(dim=1).cpu()
    for k, snr_db in enumerate(s.snr_db_values):
        s.within(f"noise power of the rows at {snr_db:g} dB (one no per row)", power[groups == k], float(values[k]))
    if s.perfect_csi:
        x = s.symbols()
        out = s.run(x, 0.0)
        gap = float((out.y - out.h * x).abs().max())
        if gap > 100 * torch.finfo(x.real.dtype).eps * max(1.0, float(out.h.abs().max())):
            raise _Failed(f"at no = 0, y differs from h x by up to {gap:.3g} (perfect_csi=False for an estimated h?)")
    return "; ".join(figures) + "; per-row no ok"


def _is_random(t: torch.Tensor) -> bool:
    return bool((t != t[:1]).any())


def _row_correlation(values: torch.Tensor) -> tuple[complex, float]:
    """Mean correlation coefficient of adjacent rows after removing the column means, and its standard error."""
    centred = values - values.mean(dim=0, keepdim=True)
    unit = centred / centred.abs().square().sum(dim=1, keepdim=True).sqrt().clamp_min(1e-300)
    c = (unit[1:] * unit[:-1].conj()).sum(dim=1)
    bias = -1 / (len(values) - 1)  # centring makes the rows sum to zero
    spread = float((c - c.mean()).abs().square().mean().sqrt()) / math.sqrt(len(c))
    return complex(c.mean()) - bias, spread


def _check_independence(s: _Setup) -> str:
    if s.batch < 8:
        raise _Failed("needs batch >= 8 to measure correlation across rows")
    n, out = s.noise(1.0)
    quantities = {"noise": n}
    if _is_random(out.h):
        h = out.h.to(torch.complex128)
        quantities.update({"h": h, "|h|^2": h.abs().square().to(torch.complex128)})
    figures = []
    for name, values in quantities.items():
        values = values.cpu()
        if len(torch.unique(torch.view_as_real(values).reshape(len(values), -1), dim=0)) < len(values):
            raise _Failed(f"some rows of {name} are identical")
        corr, spread = _row_correlation(values)
        if abs(corr) > s.z * spread:
            raise _Failed(f"adjacent rows of {name} are correlated: {abs(corr):.3f} (standard error {spread:.3f})")
        figures.append(f"{name} {abs(corr):.3f}")
    return "row correlation " + ", ".join(figures)


_CHECK_FUNCTIONS: dict[str, Callable[[_Setup], str]] = {
    "shapes": _check_shapes, "noise_forms": _check_noise_forms, "input_validation": _check_input_validation,
    "reproducibility": _check_reproducibility, "global_rng": _check_global_rng, "unit_power": _check_unit_power,
    "noise_calibration": _check_noise_calibration, "independence": _check_independence,
}
_EVERY_DTYPE_AND_DEVICE = {"shapes", "reproducibility", "global_rng"}


def check_channel_model(
    model: ChannelModel | Callable[[], ChannelModel],
    *,
    batch: int = 64,
    num_symbols: int = 2048,
    snr_db_values: Sequence[float] = (0.0, 10.0, 20.0),
    tolerance_db: float = 0.2,
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
        A model, or a factory (a class whose parameters all have defaults, a ``lambda``) called
        once per device. A model instance is copied, never moved.
    batch, num_symbols : int
        Shape (B, N) of the test inputs (B >= 8 for ``independence``).
    snr_db_values : sequence of float
        Es/N0 values of the noise calibration (``no = 10^(-snr/10)`` for unit-energy symbols).
    tolerance_db : float
        Largest error allowed on the noise power (the SNR) and on ``E|h|^2``.
    devices, dtypes
        Devices (must be available) and complex dtypes to run on. The statistical checks run on
        the first device for every dtype; ``shapes``, ``reproducibility`` and ``global_rng`` on all.
    perfect_csi : bool
        ``True`` when ``h`` is the true gain (``y = h x + n``); ``False`` when it is an estimate.
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
    if not devices or not dtypes:
        raise ValueError("devices and dtypes must not be empty")
    bad_dtypes = [d for d in dtypes if d not in (torch.complex64, torch.complex128)]
    if bad_dtypes:
        raise ValueError(f"dtypes must be torch.complex64 or torch.complex128, got {bad_dtypes}")
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
            setup = _Setup(instance, device, dtype, batch, num_symbols, tuple(float(v) for v in snr_db_values),
                           tolerance_db, perfect_csi, seed, z)
            for name in names:
                if device_index > 0 and name not in _EVERY_DTYPE_AND_DEVICE:
                    continue
                where = f"{device}, {str(dtype).removeprefix('torch.')}"
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

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

Models whose ``h`` is not the true gain (an estimate, or ones after the model's own equalisation;
the built-in models all return the true gain, estimation being the link's) pass ``perfect_csi=False``: the true gain and the raw noise
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
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import torch

from channels.base import ChannelModel
from channels.testing._setup import _Failed, _Setup
from channels.testing._statistical import _check_independence, _check_noise_calibration, _check_unit_power
from channels.testing._structural import (
    _check_global_rng,
    _check_input_validation,
    _check_noise_forms,
    _check_reproducibility,
    _check_shapes,
)

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

"""Bjøntegaard deltas: average rate saving at equal quality (BD-rate) and average quality gain at
equal rate (BD-quality: BD-PSNR, BD-mIoU, ...) between two rate-quality curves.

Method (VCEG-M33, Bjøntegaard 2001; pchip variant as in JVET-common-test-condition tools):

- BD-rate: interpolate ``log(rate)`` as a function of quality for both curves (cubic least-squares
  polynomial or piecewise cubic Hermite, ``pchip``), integrate both over the overlapping quality
  interval, average the difference ``Δ`` and report ``(exp(Δ) - 1) * 100`` percent: negative means
  curve b needs fewer bits than curve a for the same quality.
- BD-quality: interpolate quality as a function of ``log(rate)``, integrate over the overlapping
  log-rate interval, report the average ``quality_b - quality_a`` (positive: b is better).

Why not the ``bjontegaard`` package (PyPI, BSD-3, numpy/scipy/matplotlib): it computes the same
thing, but it has no explicit integration range (we need e.g. "only rates below 0.15 bpp"), it
imports ``matplotlib.pyplot`` on import, it asserts on unsorted input and it returns NaN with a
warning instead of an error on non-overlapping curves. The computation below is a few lines of
numpy/scipy (``numpy.polyfit`` + exact polynomial integration, ``scipy.interpolate.PchipInterpolator``
+ its exact ``integrate``) and is checked against an independent numerical integration in the tests.

Example
-------
>>> round(bd_rate([0.1, 0.2, 0.4, 0.8], [30, 33, 36, 39], [0.05, 0.1, 0.2, 0.4], [30, 33, 36, 39]), 6)
-50.0
>>> round(bd_quality([0.1, 0.2, 0.4, 0.8], [30, 33, 36, 39], [0.1, 0.2, 0.4, 0.8], [31, 34, 37, 40]), 6)
1.0
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

from gosvae.errors import UserError

__all__ = ["bd_quality", "bd_rate"]

Method = Literal["cubic", "pchip"]


def _curve(rate: Sequence[float], quality: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, dtype=np.float64).reshape(-1)
    q = np.asarray(quality, dtype=np.float64).reshape(-1)
    if r.shape != q.shape:
        raise UserError(f"BD: curve {name} has {r.size} rates but {q.size} quality values")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise UserError(f"BD: curve {name} contains NaN or infinite values")
    if np.any(r <= 0):
        raise UserError(f"BD: curve {name} has non-positive rates (the log-rate domain needs rate > 0)")
    return np.log(r), q


def _fit(x: np.ndarray, y: np.ndarray, method: str, what: str):
    """Return ``integral(lo, hi)`` of the interpolant y(x)."""
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    minimum = 4 if method == "cubic" else 2
    if np.unique(x).size != x.size:
        raise UserError(f"BD: curve {what} has repeated values on the integration axis")
    if x.size < minimum:
        raise UserError(f"BD: method '{method}' needs at least {minimum} points per curve, curve {what} has {x.size}")
    if method == "cubic":
        # Least-squares cubic (exact interpolation for 4 points), integrated exactly.
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        return lambda lo, hi: float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))
    if method == "pchip":
        spline = PchipInterpolator(x, y, extrapolate=False)
        return lambda lo, hi: float(spline.integrate(lo, hi))
    raise UserError(f"BD: unknown method '{method}' (expected 'cubic' or 'pchip')")


def _interval(xa: np.ndarray, xb: np.ndarray, bounds, what: str) -> tuple[float, float]:
    lo = max(xa.min(), xb.min())
    hi = min(xa.max(), xb.max())
    if bounds is not None:
        b_lo, b_hi = bounds
        lo = lo if b_lo is None else max(lo, b_lo)
        hi = hi if b_hi is None else min(hi, b_hi)
    if not hi > lo:
        raise UserError(f"BD: the curves do not overlap in {what} (within the requested range)")
    return float(lo), float(hi)


def bd_rate(
    rate_a: Sequence[float],
    quality_a: Sequence[float],
    rate_b: Sequence[float],
    quality_b: Sequence[float],
    *,
    method: Method = "cubic",
    quality_range: tuple[float | None, float | None] | None = None,
) -> float:
    """Average rate difference of curve b against curve a at equal quality, in percent.

    Input
    -----
    rate_a, quality_a, rate_b, quality_b : sequences of float
        Points of both curves (any order; rates > 0, any unit: bpp, bytes).
    method : "cubic" | "pchip"
        Interpolation of log-rate over quality (cubic needs ≥ 4 points per curve, pchip ≥ 2).
    quality_range : (lo, hi) or None
        Optional integration bounds on the quality axis (``None`` for either end keeps the
        overlap's bound); always clipped to the overlap of both curves (no extrapolation).

    Output
    ------
    float
        BD-rate in percent; ``-30`` means b needs 30 % fewer bits for the same quality.

    Raises
    ------
    UserError
        Mismatched lengths, NaNs, non-positive rates, too few points, no overlap.
    """
    la, qa = _curve(rate_a, quality_a, "a")
    lb, qb = _curve(rate_b, quality_b, "b")
    lo, hi = _interval(qa, qb, quality_range, "quality")
    int_a = _fit(qa, la, method, "a")(lo, hi)
    int_b = _fit(qb, lb, method, "b")(lo, hi)
    return float((np.exp((int_b - int_a) / (hi - lo)) - 1.0) * 100.0)


def bd_quality(
    rate_a: Sequence[float],
    quality_a: Sequence[float],
    rate_b: Sequence[float],
    quality_b: Sequence[float],
    *,
    method: Method = "cubic",
    rate_range: tuple[float | None, float | None] | None = None,
) -> float:
    """Average quality difference ``b - a`` at equal rate (BD-PSNR, BD-mIoU, ...).

    Input
    -----
    rate_a, quality_a, rate_b, quality_b : sequences of float
        Points of both curves (any order; rates > 0).
    method : "cubic" | "pchip"
        Interpolation of quality over log-rate.
    rate_range : (lo, hi) or None
        Optional integration bounds **in rate units** (e.g. ``(None, 0.15)``: only rates below
        0.15 bpp); clipped to the overlap of both curves.

    Output
    ------
    float
        Mean quality gain of b over a, in the quality's unit (dB, mIoU points, ...).
    """
    la, qa = _curve(rate_a, quality_a, "a")
    lb, qb = _curve(rate_b, quality_b, "b")
    bounds = None
    if rate_range is not None:
        r_lo, r_hi = rate_range
        for v in (r_lo, r_hi):
            if v is not None and not (np.isfinite(v) and v > 0):
                raise UserError(f"BD: rate_range bounds must be positive, got {rate_range}")
        bounds = (None if r_lo is None else float(np.log(r_lo)), None if r_hi is None else float(np.log(r_hi)))
    lo, hi = _interval(la, lb, bounds, "rate")
    int_a = _fit(la, qa, method, "a")(lo, hi)
    int_b = _fit(lb, qb, method, "b")(lo, hi)
    return float((int_b - int_a) / (hi - lo))

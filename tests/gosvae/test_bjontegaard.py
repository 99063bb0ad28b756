"""BD-rate / BD-quality: exact hand-computed cases and an independent numerical integration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.interpolate import PchipInterpolator

from gosvae.errors import UserError
from gosvae.metrics.bjontegaard import bd_quality, bd_rate

RATES = np.array([0.05, 0.1, 0.2, 0.4, 0.8])
PSNR = np.array([27.1, 30.4, 33.2, 35.6, 37.5])


@pytest.mark.parametrize("method", ["cubic", "pchip"])
@pytest.mark.parametrize("k", [0.5, 0.8, 1.25, 2.0])
def test_rate_factor_gives_exact_bd_rate(method, k):
    assert bd_rate(RATES, PSNR, k * RATES, PSNR, method=method) == pytest.approx((k - 1) * 100, abs=1e-9)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
@pytest.mark.parametrize("d", [-1.5, 0.0, 0.7, 3.0])
def test_quality_offset_gives_exact_bd_quality(method, d):
    assert bd_quality(RATES, PSNR, RATES, PSNR + d, method=method) == pytest.approx(d, abs=1e-9)


def test_order_of_points_does_not_matter():
    perm = [3, 0, 4, 1, 2]
    a = bd_rate(RATES, PSNR, RATES * 0.9, PSNR + 0.3)
    assert bd_rate(RATES[perm], PSNR[perm], RATES * 0.9, PSNR + 0.3) == pytest.approx(a, abs=1e-12)


def test_explicit_rate_range_restricts_the_average():
    # gain g(l) = 1 + 0.5 l with l = ln(rate): linear, so both interpolants are exact and the
    # average over [l1, l2] is g((l1 + l2) / 2).
    la = np.log(RATES)
    qa = 30 + 4 * la
    qb = qa + 1 + 0.5 * la
    for method in ("cubic", "pchip"):
        full = bd_quality(RATES, qa, RATES, qb, method=method)
        assert full == pytest.approx(1 + 0.5 * (la[0] + la[-1]) / 2, abs=1e-9)
        low = bd_quality(RATES, qa, RATES, qb, method=method, rate_range=(None, 0.15))
        assert low == pytest.approx(1 + 0.5 * (la[0] + np.log(0.15)) / 2, abs=1e-9)


def test_explicit_quality_range_for_bd_rate():
    assert bd_rate(RATES, PSNR, 0.5 * RATES, PSNR, quality_range=(30.0, 33.0)) == pytest.approx(-50.0, abs=1e-9)


def _independent_bd_rate(ra, qa, rb, qb, method):
    """VCEG-M33 style in log10, integrated numerically with scipy.integrate.quad."""
    lo, hi = max(min(qa), min(qb)), min(max(qa), max(qb))
    if method == "cubic":
        fa = np.poly1d(np.polyfit(qa, np.log10(ra), 3))
        fb = np.poly1d(np.polyfit(qb, np.log10(rb), 3))
    else:
        ia, ib = np.argsort(qa), np.argsort(qb)
        fa = PchipInterpolator(np.asarray(qa)[ia], np.log10(ra)[ia])
        fb = PchipInterpolator(np.asarray(qb)[ib], np.log10(rb)[ib])
    diff = quad(lambda q: float(fb(q) - fa(q)), lo, hi, limit=200)[0] / (hi - lo)
    return (10 ** diff - 1) * 100


def _independent_bd_quality(ra, qa, rb, qb, method):
    la, lb = np.log10(ra), np.log10(rb)
    lo, hi = max(la.min(), lb.min()), min(la.max(), lb.max())
    if method == "cubic":
        fa, fb = np.poly1d(np.polyfit(la, qa, 3)), np.poly1d(np.polyfit(lb, qb, 3))
    else:
        fa, fb = PchipInterpolator(la, qa), PchipInterpolator(lb, qb)
    return quad(lambda x: float(fb(x) - fa(x)), lo, hi, limit=200)[0] / (hi - lo)


CURVE_B = (np.array([0.04, 0.09, 0.17, 0.36, 0.7]), np.array([27.9, 31.0, 33.4, 36.1, 37.8]))


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_against_independent_numerical_integration(method):
    rb, qb = CURVE_B
    assert bd_rate(RATES, PSNR, rb, qb, method=method) == pytest.approx(
        _independent_bd_rate(RATES, PSNR, rb, qb, method), abs=1e-6)
    assert bd_quality(RATES, PSNR, rb, qb, method=method) == pytest.approx(
        _independent_bd_quality(RATES, PSNR, rb, qb, method), abs=1e-6)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_against_bjontegaard_package_when_installed(method):
    bjontegaard = pytest.importorskip("bjontegaard")
    rb, qb = CURVE_B
    ref_rate = bjontegaard.bd_rate(RATES, PSNR, rb, qb, method=method, min_overlap=0)
    ref_psnr = bjontegaard.bd_psnr(RATES, PSNR, rb, qb, method=method, min_overlap=0)
    assert bd_rate(RATES, PSNR, rb, qb, method=method) == pytest.approx(ref_rate, abs=1e-6)
    assert bd_quality(RATES, PSNR, rb, qb, method=method) == pytest.approx(ref_psnr, abs=1e-6)


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((RATES[:3], PSNR[:3], RATES[:3], PSNR[:3]), {"method": "cubic"}),  # < 4 points
        ((RATES, PSNR, RATES * 100, PSNR + 20), {}),  # no overlap
        ((RATES * 0, PSNR, RATES, PSNR), {}),  # non-positive rates
        ((RATES, np.r_[PSNR[:4], np.nan], RATES, PSNR), {}),  # NaN
        ((RATES, PSNR[:4], RATES, PSNR), {}),  # length mismatch
        ((RATES, PSNR, RATES, PSNR), {"method": "linear"}),  # unknown method
    ],
)
def test_bad_input_raises_user_error(args, kwargs):
    with pytest.raises(UserError):
        bd_rate(*args, **kwargs)
    with pytest.raises(UserError):
        bd_quality(*args, **kwargs)


def test_range_outside_overlap_raises():
    with pytest.raises(UserError):
        bd_quality(RATES, PSNR, RATES, PSNR + 1, rate_range=(2.0, 3.0))

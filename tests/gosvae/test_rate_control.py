"""Bisection rate control against synthetic monotone (and not quite monotone) size functions."""

from __future__ import annotations

import math

import pytest

from gosvae.codecs.rate_control import bisect_quality
from gosvae.errors import UserError


def linear(q: float) -> bytes:
    return b"x" * int(10 * q)


def test_integer_largest_fitting_quality():
    res = bisect_quality(linear, target_bytes=455, quality_range=(1, 100))
    assert (res.quality, res.num_bytes, res.met, res.overshoot) == (45, 450, True, False)
    assert res.evaluations <= 2 + math.ceil(math.log2(99))


@pytest.mark.parametrize("target", [10, 11, 57, 333, 999, 1000])
def test_integer_matches_brute_force(target):
    res = bisect_quality(linear, target_bytes=target, quality_range=(1, 100))
    assert res.quality == max(q for q in range(1, 101) if 10 * q <= target)


def test_custom_size_of_for_packet_lists():
    res = bisect_quality(lambda q: [b"a" * int(q), b"b" * int(q)], target_bytes=101, quality_range=(0, 100),
                         size_of=lambda packets: sum(len(p) for p in packets))
    assert res.quality == 50 and res.num_bytes == 100 and res.met


def test_target_above_reach_returns_best_quality_as_a_miss():
    res = bisect_quality(linear, target_bytes=5000, quality_range=(1, 100))
    assert res.quality == 100 and res.num_bytes == 1000 and not res.met and not res.overshoot


def test_target_below_lowest_quality_returns_smallest_as_a_miss():
    res = bisect_quality(linear, target_bytes=5, quality_range=(1, 100))
    assert res.quality == 1 and res.num_bytes == 10 and res.overshoot and not res.met


def test_coarse_steps_give_nearest_below_and_a_miss():
    res = bisect_quality(lambda q: b"x" * (100 * int(q)), target_bytes=450, quality_range=(1, 10))
    assert res.num_bytes == 400 and not res.met  # 400 < 0.97 * 450, 500 > 450


def test_continuous_knob_within_tolerance():
    size = lambda q: b"x" * int(200 * math.exp(q / 10))  # noqa: E731
    res = bisect_quality(size, target_bytes=7777, quality_range=(15.0, 90.0), integer=False)
    assert res.met and 0.97 * 7777 <= res.num_bytes <= 7777
    assert res.evaluations <= 24


def test_non_monotone_never_overshoots():
    sizes = [10 * q + (37 if q % 7 == 0 else 0) for q in range(101)]
    res = bisect_quality(lambda q: b"x" * sizes[q], target_bytes=600, quality_range=(0, 100))
    assert res.num_bytes <= 600 and res.num_bytes == sizes[res.quality]


def test_bad_arguments():
    with pytest.raises(UserError):
        bisect_quality(linear, target_bytes=0, quality_range=(1, 100))
    with pytest.raises(UserError):
        bisect_quality(linear, target_bytes=10, quality_range=(5, 5))

"""Rate control by bisection on a codec's quality knob: the largest quality whose stream fits a byte target.

Format-agnostic: the caller gives ``encode_at(quality)`` (any payload: ``bytes``, a list of packets,
...) and how to measure it (``size_of``, default ``len``), the search range, and whether the knob
is an integer (JPEG, WebP, AVIF quality) or continuous (JPEG 2000 target PSNR in dB). The size is
assumed non-decreasing in quality; real encoders are only nearly monotone, so the answer is the
best *evaluated* quality that fits (largest payload ≤ target), never one that overshoots unless even
the lowest quality does.

Example
-------
>>> res = bisect_quality(lambda q: b"x" * (10 * q), target_bytes=455, quality_range=(1, 100))
>>> res.quality, res.num_bytes, res.met
(45, 450, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

from gosvae.errors import UserError

__all__ = ["RateControlResult", "bisect_quality"]

T = TypeVar("T")


@dataclass(frozen=True)
class RateControlResult(Generic[T]):
    """Outcome of one rate-controlled encode.

    Attributes
    ----------
    quality : float
        Chosen quality (an ``int`` for integer knobs).
    payload : T
        What ``encode_at(quality)`` returned.
    num_bytes : int
        ``size_of(payload)``: the achieved payload.
    target_bytes : int
        The target.
    met : bool
        ``(1 - tolerance) * target <= num_bytes <= target``; False is a *miss*: either the format
        cannot get close enough from below (the nearest size below is returned) or even the
        lowest quality overshoots (then the lowest quality is returned and ``overshoot`` is True).
    evaluations : int
        Number of calls to ``encode_at``.
    """

    quality: float
    payload: T
    num_bytes: int
    target_bytes: int
    met: bool
    evaluations: int

    @property
    def overshoot(self) -> bool:
        """True when the payload is larger than the target (even the lowest quality did not fit)."""
        return self.num_bytes > self.target_bytes


def bisect_quality(
    encode_at: Callable[[float], T],
    *,
    target_bytes: int,
    quality_range: tuple[float, float],
    integer: bool = True,
    size_of: Callable[[T], int] = len,  # type: ignore[assignment]
    tolerance: float = 0.03,
    max_evaluations: int = 24,
    min_step: float = 1e-3,
) -> RateControlResult[T]:
    """Find the largest quality in ``quality_range`` whose payload is at most ``target_bytes``.

    Input
    -----
    encode_at : callable
        ``quality -> payload``; deterministic; size non-decreasing in quality.
    target_bytes : int
        Byte target (> 0).
    quality_range : (lo, hi)
        Search interval, ``lo < hi``.
    integer : bool
        Integer knob: exact bisection to the largest fitting integer (≈ log2(hi - lo) + 2
        encodes). Continuous knob: bisection until the size is within ``tolerance`` below the
        target, the interval is narrower than ``min_step`` or ``max_evaluations`` is used up.
    size_of : callable
        Payload → bytes (``len`` by default; e.g. the sum of packet lengths).
    tolerance : float
        Relative tolerance below the target for ``met`` (3 %).

    Output
    ------
    :class:`RateControlResult`
    """
    lo, hi = quality_range
    if not lo < hi:
        raise UserError(f"rate control: quality range must have lo < hi, got {quality_range}")
    if target_bytes <= 0:
        raise UserError(f"rate control: target_bytes must be positive, got {target_bytes}")
    if integer:
        lo, hi = int(lo), int(hi)
    cache: dict[float, tuple[T, int]] = {}

    def evaluate(q: float) -> int:
        if q not in cache:
            payload = encode_at(q)
            cache[q] = (payload, int(size_of(payload)))
        return cache[q][1]

    def result(q: float) -> RateControlResult[T]:
        payload, size = cache[q]
        met = (1.0 - tolerance) * target_bytes <= size <= target_bytes
        return RateControlResult(q, payload, size, target_bytes, met, len(cache))

    def within(size: int) -> bool:
        return (1.0 - tolerance) * target_bytes <= size <= target_bytes

    if evaluate(hi) <= target_bytes:  # even the best quality fits
        return result(hi)
    if evaluate(lo) > target_bytes:  # even the worst quality overshoots: smallest possible
        return result(lo)
    # Invariant: size(lo) <= target < size(hi).
    while len(cache) < max_evaluations:
        if integer:
            if hi - lo <= 1:
                break
            mid: float = (lo + hi) // 2
        else:
            if hi - lo < min_step:
                break
            mid = 0.5 * (lo + hi)
        if evaluate(mid) <= target_bytes:
            lo = mid
            if not integer and within(cache[mid][1]):
                break
        else:
            hi = mid
    # Best evaluated fit: the largest payload not above the target (ties: the higher quality).
    fitting = [q for q, (_, s) in cache.items() if s <= target_bytes]
    best = max(fitting, key=lambda q: (cache[q][1], q))
    return result(best)

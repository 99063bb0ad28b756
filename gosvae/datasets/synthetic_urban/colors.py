"""Small colour helpers used by the scene builders (RGB tuples of ints in [0, 255]).

Example
-------
>>> hsv(0.0, 1.0, 1.0)
(255, 0, 0)
>>> mix((0, 0, 0), (200, 100, 50), 0.5)
(100, 50, 25)
"""

from __future__ import annotations

import colorsys
from typing import Sequence

import numpy as np

from gosvae.datasets.synthetic_urban.shapes import RGB

__all__ = ["hsv", "mix", "scale_rgb", "jitter", "pick"]


def hsv(hue_degrees: float, saturation: float, value: float) -> RGB:
    """RGB of a hue (degrees), saturation and value (both in [0, 1])."""
    r, g, b = colorsys.hsv_to_rgb((hue_degrees % 360.0) / 360.0, min(max(saturation, 0.0), 1.0), min(max(value, 0.0), 1.0))
    return (round(r * 255), round(g * 255), round(b * 255))


def mix(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    """``(1 - t) * a + t * b``, rounded and clipped to [0, 255]."""
    (ar, ag, ab), (br, bg, bb) = a, b
    s = 1.0 - t
    return (_byte(s * ar + t * br), _byte(s * ag + t * bg), _byte(s * ab + t * bb))


def scale_rgb(rgb: Sequence[float], factor: float) -> RGB:
    """Brighter (factor > 1) or darker (factor < 1) version of ``rgb``."""
    r, g, b = rgb
    return (_byte(r * factor), _byte(g * factor), _byte(b * factor))


def jitter(rgb: Sequence[float], rng: np.random.Generator, *, amount: float) -> RGB:
    """``rgb`` with a random brightness change and a smaller per-channel change (``amount`` in [0, 1])."""
    gain = 1.0 + amount * rng.uniform(-1.0, 1.0)
    pr, pg, pb = (1.0 + 0.35 * amount * rng.uniform(-1.0, 1.0, size=3)).tolist()
    r, g, b = rgb
    return (_byte(r * gain * pr), _byte(g * gain * pg), _byte(b * gain * pb))


def _byte(value: float) -> int:
    """``value`` rounded (half to even) and clipped to [0, 255]."""
    return int(min(max(round(value), 0), 255))


def pick(rng: np.random.Generator, palette: Sequence[RGB], *, amount: float = 0.1) -> RGB:
    """A jittered colour drawn uniformly from ``palette``."""
    return jitter(palette[int(rng.integers(len(palette)))], rng, amount=amount)

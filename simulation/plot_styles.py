"""Distinct colours and markers for any number of plot curves.

matplotlib's default cycle repeats its colours after ten curves; :func:`curve_styles` gives every
curve its own colour instead: ``tab10`` up to 10 curves, ``tab20`` up to 20, beyond that colours
sampled evenly from the continuous ``turbo`` map. Markers cycle through :data:`MARKERS` as well, so
neighbouring colours of a sampled map are told apart by their marker (line styles keep their meaning
in the plots: solid for the measured curve, dashed for clean-channel or raw values).

Example
-------
>>> [s.color for s in curve_styles(2)]
['#1f77b4', '#ff7f0e']
>>> len({s.color for s in curve_styles(25)}), curve_styles(25)[15].marker
(25, 'o')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

__all__ = ["MARKERS", "CurveStyle", "curve_colors", "curve_styles"]

#: Filled markers, cycled over the curves.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p", "d", "8", "H")


@dataclass(frozen=True)
class CurveStyle:
    """Colour (``#rrggbb``) and marker of one curve."""

    color: str
    marker: str


def curve_colors(count: int) -> list[str]:
    """``count`` distinct colours (``#rrggbb``): tab10 (≤ 10), tab20 (≤ 20), else sampled from turbo.

    Input: the number of curves (0 or more). Output: one colour per curve, all different up to
    256 curves (beyond that, far past a readable legend, neighbours may share a ``#rrggbb``).
    """
    if count <= 0:
        return []
    if count <= 10:
        return [to_hex(c) for c in colormaps["tab10"].colors[:count]]
    if count <= 20:
        return [to_hex(c) for c in colormaps["tab20"].colors[:count]]
    # interpolated between the entries of turbo's table (not looked up in it, which would repeat
    # colours beyond its 256 entries); its ends are nearly black and dark red: keep to the middle
    table = np.asarray(colormaps["turbo"](np.linspace(0.0, 1.0, 256)))[:, :3]
    grid, where = np.linspace(0.0, 1.0, len(table)), np.linspace(0.05, 0.95, count)
    rgb = np.stack([np.interp(where, grid, table[:, channel]) for channel in range(3)], axis=1)
    return [to_hex(color) for color in rgb]


def curve_styles(count: int) -> list[CurveStyle]:
    """A :class:`CurveStyle` per curve: distinct colours (:func:`curve_colors`), markers cycled."""
    return [CurveStyle(color, MARKERS[i % len(MARKERS)]) for i, color in enumerate(curve_colors(count))]

"""Flat drawing primitives in layout units, and sprites: local metric drawings placed in the scene.

A scene is a list of :class:`Shape` in painter's order (far to near). Each carries the colour it
paints, the class id it writes into the label map (or :data:`NO_LABEL` for colour-only details
such as shadows), a surface material (selects the noise texture) and a haze amount (aerial
perspective). The renderer rasterises the same geometry into the colour image and the label map,
so labels are exact by construction.

Example
-------
>>> shapes = ShapeList(haze=40)
>>> person = Sprite(shapes, anchor=(1.0, 0.8), scale=0.1)   # feet at (1.0, 0.8), 0.1 unit per m
>>> person.rect(-0.2, 0.0, 0.2, 1.7, (90, 60, 40), label=11, material=14)
>>> shapes[0].points.round(2).tolist()
[[0.98, 0.8], [1.02, 0.8], [1.02, 0.63], [0.98, 0.63]]
"""

from __future__ import annotations

import functools
from typing import Iterator, NamedTuple, Sequence

import numpy as np

__all__ = ["NO_LABEL", "RGB", "Shape", "ShapeList", "Sprite", "circle_angles", "ring_points", "thick_line"]

NO_LABEL: int = -1
"""Label of colour-only shapes: they paint the image and leave the label map as it is."""

RGB = tuple[int, int, int]


class Shape(NamedTuple):
    """One filled primitive (a named tuple: scenes hold thousands, and tuples are cheap to make).

    Attributes
    ----------
    kind : str
        ``"polygon"`` (``points`` are the vertices) or ``"ellipse"`` (``points`` are the two
        corners of the bounding box).
    points : np.ndarray
        (K, 2) float64 ``(u, v)`` layout coordinates.
    rgb : tuple[int, int, int]
        Fill colour before texture and lighting.
    label : int
        Train id written into the label map, or :data:`NO_LABEL`.
    material : int
        Texture id (:class:`~gosvae.datasets.synthetic_urban.textures.Material`).
    haze : int
        Aerial perspective in [0, 255] (0 = no haze).
    """

    kind: str
    points: np.ndarray
    rgb: RGB
    label: int
    material: int
    haze: int


class ShapeList:
    """An ordered list of shapes (painter's order) sharing a haze value set by the caller."""

    def __init__(self, *, haze: int = 0) -> None:
        self.shapes: list[Shape] = []
        self.haze = int(haze)

    def polygon(self, points: np.ndarray | Sequence, rgb: RGB, *, label: int, material: int) -> None:
        """Append a polygon; ``points`` (K, 2) layout coordinates, K >= 3."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self.shapes.append(Shape("polygon", pts, _rgb(rgb), int(label), int(material), self.haze))

    def polygons(self, corners: np.ndarray, rgb: RGB | list[RGB], *, label: int, material: int) -> None:
        """Append one polygon per row of ``corners`` (N, K, 2) layout coordinates.

        ``rgb`` is one colour for all of them, or a list of N colours (one per polygon). The same as
        N calls of :meth:`polygon`, with the per-call overhead paid once.
        """
        corners = np.asarray(corners, dtype=np.float64)
        colours = [_rgb(colour) for colour in rgb] if isinstance(rgb, list) else [_rgb(rgb)] * len(corners)
        if len(colours) != len(corners):
            raise ValueError(f"{len(corners)} polygons but {len(colours)} colours")
        label, material, haze = int(label), int(material), self.haze
        self.shapes.extend([Shape("polygon", points, colour, label, material, haze) for points, colour in zip(corners, colours)])

    def ellipse(self, center: Sequence[float], radii: Sequence[float], rgb: RGB, *, label: int, material: int) -> None:
        """Append an axis-aligned ellipse given its centre and (horizontal, vertical) radii."""
        (cu, cv), (ru, rv) = center, radii
        box = np.array([[cu - abs(ru), cv - abs(rv)], [cu + abs(ru), cv + abs(rv)]], dtype=np.float64)
        self.shapes.append(Shape("ellipse", box, _rgb(rgb), int(label), int(material), self.haze))

    def extend(self, other: "ShapeList") -> None:
        self.shapes.extend(other.shapes)

    def __iter__(self) -> Iterator[Shape]:
        return iter(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, index: int) -> Shape:
        return self.shapes[index]


class Sprite:
    """Draws an upright object in its own metric frame, placed at one depth of the scene.

    Local coordinates are metres with ``x`` to the right and ``y`` up from the anchor, the object's
    ground point. ``mirror`` flips ``x`` (an object facing the other way).

    Parameters
    ----------
    out : ShapeList
        Where the shapes go.
    anchor : tuple[float, float]
        Layout coordinates ``(u, v)`` of the local origin.
    scale : float
        Layout units per metre (``Camera.scale(z)``).
    mirror : bool
        Mirror the drawing left-right.
    """

    def __init__(self, out: ShapeList, *, anchor: Sequence[float], scale: float, mirror: bool = False) -> None:
        self.out = out
        self.anchor = (float(anchor[0]), float(anchor[1]))
        self.scale = float(scale)
        self.sign = -1.0 if mirror else 1.0
        # u = anchor_u + (sign * scale) * x and v = anchor_v - scale * y as one multiply-add (the
        # same float64 results); the placement is fixed once the sprite is made.
        self._gain = np.array([self.sign * self.scale, -self.scale])
        self._offset = np.array(self.anchor)

    def to_layout(self, points: np.ndarray | Sequence) -> np.ndarray:
        """(K, 2) local metres → (K, 2) layout coordinates."""
        return np.asarray(points, dtype=np.float64).reshape(-1, 2) * self._gain + self._offset

    def polygon(self, points: np.ndarray | Sequence, rgb: RGB, *, label: int, material: int) -> None:
        self.out.polygon(self.to_layout(points), rgb, label=label, material=material)

    def rect(self, x0: float, y0: float, x1: float, y1: float, rgb: RGB, *, label: int, material: int) -> None:
        """Axis-aligned rectangle between local corners (x0, y0) and (x1, y1)."""
        self.polygon(np.array([x0, y0, x1, y0, x1, y1, x0, y1], dtype=np.float64), rgb, label=label, material=material)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, rgb: RGB, *, label: int, material: int) -> None:
        (center,) = self.to_layout([(cx, cy)])
        self.out.ellipse(center, (rx * self.scale, ry * self.scale), rgb, label=label, material=material)

    def line(
        self, p0: Sequence[float], p1: Sequence[float], width: float, rgb: RGB, *, label: int, material: int
    ) -> None:
        """A straight bar of ``width`` metres from ``p0`` to ``p1`` (local metres)."""
        self.polygon(thick_line(p0, p1, width), rgb, label=label, material=material)

    def metres_for_pixels(self, pixels: float, *, reference_height: int) -> float:
        """Metres that span ``pixels`` at the reference resolution (used to thicken thin parts)."""
        return pixels / (reference_height * self.scale)


def thick_line(p0: Sequence[float], p1: Sequence[float], width: float) -> np.ndarray:
    """(4, 2) corners of a bar of ``width`` around the segment ``p0``-``p1`` (any 2-D units)."""
    a, b = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    direction = b - a
    length = float(np.hypot(*direction))
    if length == 0.0:
        direction, length = np.array([1.0, 0.0]), 1.0
    normal = np.array([-direction[1], direction[0]]) / length * (width / 2.0)
    return np.stack([a + normal, b + normal, b - normal, a - normal])


@functools.lru_cache(maxsize=None)
def circle_angles(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``angles = np.linspace(0, 2 pi, count, endpoint=False)`` with their cosines and sines.

    Output: three read-only (count,) float64 arrays, computed once per ``count`` (outlines of
    wheels and foliage reuse them thousands of times).
    """
    angles = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    arrays = (angles, np.cos(angles), np.sin(angles))
    for array in arrays:
        array.flags.writeable = False
    return arrays


def ring_points(center: Sequence[float], radii: Sequence[float] | np.ndarray, *, count: int, phase: float = 0.0) -> np.ndarray:
    """(count, 2) points around ``center``; ``radii`` a pair (ellipse) or ``count`` radii (blob)."""
    angles = phase + np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    radii = np.asarray(radii, dtype=np.float64)
    if radii.shape == (2,):
        ru, rv = radii
    else:
        ru = rv = radii
    return np.stack([center[0] + ru * np.cos(angles), center[1] + rv * np.sin(angles)], axis=-1)


def _rgb(rgb: Sequence[float]) -> RGB:
    if type(rgb) is tuple and len(rgb) == 3:
        r, g, b = rgb
        if type(r) is int and type(g) is int and type(b) is int and 0 <= r <= 255 and 0 <= g <= 255 and 0 <= b <= 255:
            return rgb  # type: ignore[return-value]  # already clean: the common case
    r, g, b = (int(min(max(round(float(c)), 0), 255)) for c in rgb)
    return (r, g, b)

"""The street camera: projects points of the street frame (metres) onto the layout plane.

Scenes are laid out in *layout units*, independent of the output resolution: ``v`` runs down the
image from 0 (top) to 1 (bottom) and ``u`` runs right from 0 to :data:`LAYOUT_ASPECT`, both in
image heights, so circles stay round. The renderer scales them to (H, W) pixels, which is why
128x256 and 512x1024 renders show the same scene.

The street frame has ``x`` to the right of the street centreline, ``y`` up from the road surface and
``z`` forward along the street, all in metres. The street may bend: its centreline is offset
sideways by ``curvature * z**2`` up to ``curve_end`` metres ahead and runs straight on after that.

Example
-------
>>> camera = Camera(focal=1.3, horizon=0.45, center_u=1.0, height=1.5, lateral=1.75)
>>> camera.project(1.75, 1.5, 10.0).tolist()     # a point at eye height straight ahead
[[1.0, 0.45]]
>>> round(camera.reference_pixels(1.8, 10.0), 1)  # a 1.8 m wide car 10 m ahead, at 256x512
59.9
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["Camera", "LAYOUT_ASPECT", "REFERENCE_HEIGHT", "NEAREST_DEPTH", "geometric_samples"]

LAYOUT_ASPECT: float = 2.0
"""Width / height of the layout plane (the default 256x512 output)."""

REFERENCE_HEIGHT: int = 256
"""Output height (pixels) at which minimum object sizes are stated, e.g. 'poles >= 3 px wide'.

Size decisions (skip an object, thicken a part) are taken at this reference resolution, never at
the requested one, so every resolution shows the same objects."""

NEAREST_DEPTH: float = 0.8
"""Depth (m) at which geometry is clipped; the bottom image row is about 2.5 m ahead."""


def geometric_samples(start: float, stop: float, count: int) -> np.ndarray:
    """``np.geomspace(start, stop, count)`` (float64), with a fast path for the two end points.

    ``np.geomspace`` sets both end points exactly, so with ``count == 2`` it returns
    ``[start, stop]`` bit for bit; building that array directly is some 30 times faster. Longer
    sequences are cached (many ground strips run from the nearest to the farthest depth); the
    output may therefore be read-only.
    """
    if count == 2:
        if start == 0 or stop == 0:
            raise ValueError("Geometric sequence cannot include zero")
        return np.array([start, stop], dtype=np.float64)
    return _cached_geomspace(float(start), float(stop), int(count))


@functools.lru_cache(maxsize=256)
def _cached_geomspace(start: float, stop: float, count: int) -> np.ndarray:
    samples = np.geomspace(start, stop, count)
    samples.flags.writeable = False
    return samples


@dataclass(frozen=True)
class Camera:
    """A pinhole camera looking along the street.

    Parameters
    ----------
    focal : float
        Focal length in image heights (1.3 gives a 42 degree vertical field of view).
    horizon : float
        ``v`` of the horizon line.
    center_u : float
        ``u`` of the vanishing point of a straight street.
    height : float
        Camera height above the road (m).
    lateral : float
        Camera position across the street (m, street frame ``x``).
    curvature : float
        Bend of the street (1/m); the centreline is offset by ``curvature * z**2``.
    curve_end : float
        Depth (m) after which the street runs straight on.
    """

    focal: float
    horizon: float
    center_u: float
    height: float
    lateral: float
    curvature: float = 0.0
    curve_end: float = 80.0

    def street_offset(self, z: np.ndarray | float) -> np.ndarray:
        """Sideways offset (m) of the street centreline at depth ``z`` (m); same shape as ``z``."""
        z = np.asarray(z, dtype=np.float64)
        if self.curvature == 0.0:
            return np.zeros_like(z)
        bend = np.minimum(z, self.curve_end)
        return self.curvature * (bend * bend + 2.0 * self.curve_end * np.maximum(z - self.curve_end, 0.0))

    def project(self, x: np.ndarray | float, y: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
        """Layout coordinates of street-frame points.

        Input: ``x``, ``y``, ``z`` broadcastable arrays or floats (m); depths are clipped at
        :data:`NEAREST_DEPTH`.
        Output: (N, 2) float64 ``(u, v)``, N the broadcast size.
        """
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and isinstance(z, (int, float)):
            return self._project_point(x, y, z)
        z = np.maximum(np.asarray(z, dtype=np.float64), NEAREST_DEPTH)
        lateral = np.asarray(x, dtype=np.float64) - self.lateral
        if self.curvature != 0.0:
            lateral = lateral + self.street_offset(z)
        u = self.center_u + self.focal * lateral / z
        v = self.horizon + self.focal * (self.height - np.asarray(y, dtype=np.float64)) / z
        out = np.empty(np.broadcast(u, v).shape + (2,), dtype=np.float64)
        out[..., 0] = u
        out[..., 1] = v
        return out.reshape(-1, 2)

    def _project_point(self, x: float, y: float, z: float) -> np.ndarray:
        """:meth:`project` of one point given as Python numbers: the same float64 arithmetic, in Python."""
        z = max(z, NEAREST_DEPTH)
        lateral = x - self.lateral
        if self.curvature != 0.0:
            bend = min(z, self.curve_end)
            lateral = lateral + self.curvature * (bend * bend + 2.0 * self.curve_end * max(z - self.curve_end, 0.0))
        return np.array([[self.center_u + self.focal * lateral / z, self.horizon + self.focal * (self.height - y) / z]])

    def scale(self, z: float) -> float:
        """Layout units per metre for an upright object at depth ``z`` (m)."""
        return self.focal / max(z, NEAREST_DEPTH)

    def reference_pixels(self, size: float, z: float) -> float:
        """Pixels spanned at :data:`REFERENCE_HEIGHT` by ``size`` metres facing the camera at depth ``z``."""
        return REFERENCE_HEIGHT * self.scale(z) * size

    def visible_side(self, x_center: float, z: float, half_width: float) -> int:
        """Which long side of a box centred at ``x_center`` (m) the camera sees at depth ``z``.

        Output: -1 for the left side (``x_center - half_width``), +1 for the right side, 0 for none.
        """
        dx = x_center + float(self.street_offset(z)) - self.lateral
        if dx > half_width:
            return -1
        if dx < -half_width:
            return 1
        return 0

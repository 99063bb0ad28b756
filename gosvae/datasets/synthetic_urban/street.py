"""The street plan (lanes, kerbs, sidewalks, building lines, crossings) and the ground it paints.

:func:`sample_street_plan` draws the cross-section of a street; :func:`draw_ground` paints every
ground surface: the land behind the building lines, road, kerbs, sidewalks, grass verges, the
median, lane marks, zebra crossings, tram rails and asphalt patches. Lane marks, rails and patches
are road pixels with their own colour and material.

Example
-------
>>> rng = np.random.default_rng(3)
>>> plan = sample_street_plan(rng)
>>> plan.road_left < 0.0 < plan.road_right and plan.building_left < plan.road_left
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gosvae.datasets.synthetic_urban.camera import Camera, NEAREST_DEPTH, geometric_samples
from gosvae.datasets.synthetic_urban.colors import jitter, mix, pick, scale_rgb
from gosvae.datasets.synthetic_urban.labels import TrainId
from gosvae.datasets.synthetic_urban.shapes import RGB, ShapeList
from gosvae.datasets.synthetic_urban.textures import Material

__all__ = ["StreetPlan", "sample_street_plan", "draw_ground", "ground_strip", "FAR_DEPTH", "GROUND_HAZE"]

FAR_DEPTH: float = 3000.0
"""Depth (m) where ground surfaces end: less than a tenth of a pixel below the horizon."""

GROUND_HAZE: int = 255
"""Haze value meaning 'compute from the depth of the ground plane at this row' (see render.py)."""

KERB_HEIGHT: float = 0.15

_ASPHALT = [(78, 78, 80), (92, 90, 88), (70, 72, 78), (100, 100, 102), (84, 80, 76)]
_PAVING = [(150, 150, 148), (170, 164, 150), (160, 120, 110), (135, 138, 140), (182, 178, 170)]
_GRASS = [(96, 140, 60), (120, 150, 70), (140, 150, 80), (110, 130, 58)]
_DIRT = [(140, 118, 86), (124, 108, 84)]


@dataclass(frozen=True)
class StreetPlan:
    """Cross-section and crossings of a street (metres, street frame).

    Attributes
    ----------
    lanes_right, lanes_left : int
        Lanes in the camera's direction (right of the centre line) and oncoming lanes (left).
    lane_width : float
    median : float
        Width of a raised grass median between the two directions (0: none).
    road_left, road_right : float
        ``x`` of the kerbs.
    building_left, building_right : float
        ``x`` of the building lines (outer edges of the sidewalks).
    verge_left, verge_right : float
        Width of grass verges between kerb and footpath (0: none).
    outer_left, outer_right : str
        Land behind the building lines: ``"grass"``, ``"dirt"`` or ``"paving"``.
    tram_x : float | None
        ``x`` of a tram track's centre, or ``None``.
    crossing : tuple[float, float] | None
        Depth range (m) of a cross street, or ``None``.
    """

    lanes_right: int
    lanes_left: int
    lane_width: float
    median: float
    road_left: float
    road_right: float
    building_left: float
    building_right: float
    verge_left: float
    verge_right: float
    outer_left: str
    outer_right: str
    tram_x: float | None
    crossing: tuple[float, float] | None

    def lane_center(self, index: int) -> float:
        """``x`` of lane ``index``: 0, 1, ... to the right of the centre, -1, -2, ... oncoming."""
        offset = self.median / 2.0
        if index >= 0:
            return offset + (index + 0.5) * self.lane_width
        return -offset + (index + 0.5) * self.lane_width

    def in_crossing(self, z0: float, z1: float, *, margin: float = 0.0) -> bool:
        """Whether the depth range [z0, z1] overlaps the cross street (widened by ``margin``)."""
        return self.crossing is not None and z1 > self.crossing[0] - margin and z0 < self.crossing[1] + margin


def sample_street_plan(rng: np.random.Generator) -> StreetPlan:
    """A random street cross-section: 1-3 lanes each way (or one-way), sidewalks 2-6 m."""
    lane_width = rng.uniform(2.9, 3.6)
    lanes_right = int(rng.choice([1, 1, 2, 2, 3]))
    lanes_left = int(rng.choice([0, 1, 1, 2, 2, 3]))
    median = rng.uniform(2.0, 6.0) if lanes_left >= 2 and rng.random() < 0.35 else 0.0
    road_right = median / 2.0 + lanes_right * lane_width
    road_left = -median / 2.0 - lanes_left * lane_width if lanes_left else -median / 2.0 - rng.uniform(0.6, 2.5)
    sidewalk_left, sidewalk_right = rng.uniform(2.0, 6.0, size=2)
    verge_left = rng.uniform(1.0, 2.0) if rng.random() < 0.25 else 0.0
    verge_right = rng.uniform(1.0, 2.0) if rng.random() < 0.25 else 0.0
    outer = ["grass", "grass", "grass", "dirt", "paving"]
    tram_x = None
    if median == 0.0 and lanes_left >= 1 and rng.random() < 0.35:
        tram_x = float(rng.choice([-0.5, 0.5])) * lane_width
    crossing = None
    if rng.random() < 0.5:
        z0 = rng.uniform(14.0, 42.0)
        crossing = (z0, z0 + rng.uniform(9.0, 16.0))
    return StreetPlan(
        lanes_right=lanes_right,
        lanes_left=lanes_left,
        lane_width=float(lane_width),
        median=float(median),
        road_left=float(road_left),
        road_right=float(road_right),
        building_left=float(road_left - sidewalk_left - verge_left),
        building_right=float(road_right + sidewalk_right + verge_right),
        verge_left=float(verge_left),
        verge_right=float(verge_right),
        outer_left=str(rng.choice(outer)),
        outer_right=str(rng.choice(outer)),
        tram_x=tram_x,
        crossing=None if crossing is None else (float(crossing[0]), float(crossing[1])),
    )


def ground_strip(camera: Camera, x0: float, x1: float, z0: float, z1: float, *, y: float = 0.0) -> np.ndarray:
    """Polygon (K, 2) of the ground band ``x0 <= x <= x1``, ``z0 <= z <= z1`` at height ``y``.

    A bending street needs its edges sampled along the depth; a straight one needs only ends.
    """
    count = 2 if camera.curvature == 0.0 else 14
    z = geometric_samples(max(z0, NEAREST_DEPTH), z1, count)
    return camera.project(np.repeat([x0, x1], count), y, np.concatenate([z, z[::-1]]))  # near to far on x0, back on x1


def vertical_strip(camera: Camera, x: float, y0: float, y1: float, z0: float, z1: float) -> np.ndarray:
    """Polygon (K, 2) of the vertical band at ``x`` between heights ``y0``, ``y1`` and depths ``z0``, ``z1``."""
    count = 2 if camera.curvature == 0.0 else 10
    z = geometric_samples(max(z0, NEAREST_DEPTH), z1, count)
    return camera.project(x, np.repeat([y0, y1], count), np.concatenate([z, z[::-1]]))


@dataclass(frozen=True)
class GroundColours:
    asphalt: RGB
    paving: RGB
    kerb: RGB
    grass: RGB
    dirt: RGB
    marking: RGB
    yellow_marking: RGB


def sample_ground_colours(rng: np.random.Generator) -> GroundColours:
    return GroundColours(
        asphalt=pick(rng, _ASPHALT, amount=0.12),
        paving=pick(rng, _PAVING, amount=0.1),
        kerb=jitter((176, 174, 170), rng, amount=0.08),
        grass=pick(rng, _GRASS, amount=0.1),
        dirt=pick(rng, _DIRT, amount=0.1),
        marking=jitter((226, 226, 220), rng, amount=0.06),
        yellow_marking=jitter((222, 180, 48), rng, amount=0.06),
    )


def draw_ground(plan: StreetPlan, camera: Camera, rng: np.random.Generator) -> ShapeList:
    """All ground surfaces of the street, far-to-near independent (they never overlap wrongly).

    Output: a :class:`ShapeList` whose shapes use :data:`GROUND_HAZE`.
    """
    colours = sample_ground_colours(rng)
    out = ShapeList(haze=GROUND_HAZE)
    near, far = NEAREST_DEPTH, FAR_DEPTH
    k = KERB_HEIGHT

    # Land behind the building lines (seen through gaps), then road, kerbs, sidewalks.
    for side, x0, x1 in (("left", -500.0, 0.0), ("right", 0.0, 500.0)):
        kind = plan.outer_left if side == "left" else plan.outer_right
        _outer_surface(out, kind, colours, ground_strip(camera, x0, x1, near, far, y=k))
    out.polygon(ground_strip(camera, plan.road_left, plan.road_right, near, far), colours.asphalt,
                label=TrainId.ROAD, material=Material.ASPHALT)
    kerb_face = scale_rgb(colours.kerb, 0.85)
    for x in (plan.road_left, plan.road_right):
        out.polygon(vertical_strip(camera, x, 0.0, k, near, far), kerb_face, label=TrainId.SIDEWALK, material=Material.CONCRETE)
    out.polygon(ground_strip(camera, plan.building_left, plan.road_left, near, far, y=k), colours.paving,
                label=TrainId.SIDEWALK, material=Material.PAVING)
    out.polygon(ground_strip(camera, plan.road_right, plan.building_right, near, far, y=k), colours.paving,
                label=TrainId.SIDEWALK, material=Material.PAVING)
    # A light kerb stone along each road edge, then grass verges behind it.
    for x, sign in ((plan.road_left, -1.0), (plan.road_right, 1.0)):
        out.polygon(ground_strip(camera, min(x, x + sign * 0.3), max(x, x + sign * 0.3), near, far, y=k),
                    colours.kerb, label=TrainId.SIDEWALK, material=Material.CONCRETE)
    if plan.verge_left > 0:
        x = plan.road_left - 0.3
        out.polygon(ground_strip(camera, x - plan.verge_left, x, near, far, y=k), colours.grass,
                    label=TrainId.TERRAIN, material=Material.GRASS)
    if plan.verge_right > 0:
        x = plan.road_right + 0.3
        out.polygon(ground_strip(camera, x, x + plan.verge_right, near, far, y=k), colours.grass,
                    label=TrainId.TERRAIN, material=Material.GRASS)
    if plan.median > 0:
        half = plan.median / 2.0
        for x in (-half, half):
            out.polygon(vertical_strip(camera, x, 0.0, k, near, far), kerb_face, label=TrainId.SIDEWALK, material=Material.CONCRETE)
        out.polygon(ground_strip(camera, -half, half, near, far, y=k), colours.kerb, label=TrainId.SIDEWALK, material=Material.CONCRETE)
        out.polygon(ground_strip(camera, -half + 0.35, half - 0.35, near, far, y=k), colours.grass,
                    label=TrainId.TERRAIN, material=Material.GRASS)

    _draw_patches(out, plan, camera, colours, rng)
    _draw_lane_marks(out, plan, camera, colours, rng)
    if plan.tram_x is not None:
        _draw_rails(out, plan.tram_x, camera, colours)
    if plan.crossing is not None:
        _draw_crossing(out, plan, camera, colours, rng)
    return out


def _outer_surface(out: ShapeList, kind: str, colours: GroundColours, polygon: np.ndarray) -> None:
    if kind == "paving":
        out.polygon(polygon, colours.paving, label=TrainId.SIDEWALK, material=Material.PAVING)
    elif kind == "dirt":
        out.polygon(polygon, colours.dirt, label=TrainId.TERRAIN, material=Material.DIRT)
    else:
        out.polygon(polygon, colours.grass, label=TrainId.TERRAIN, material=Material.GRASS)


def _draw_patches(out: ShapeList, plan: StreetPlan, camera: Camera, colours: GroundColours, rng: np.random.Generator) -> None:
    """Repaired asphalt: slightly different grey rectangles on the road."""
    for _ in range(int(rng.integers(0, 4))):
        z0 = rng.uniform(3.0, 40.0)
        x0 = rng.uniform(plan.road_left, plan.road_right - 1.0)
        patch = jitter(colours.asphalt, rng, amount=0.18)
        out.polygon(ground_strip(camera, x0, min(x0 + rng.uniform(0.8, 3.0), plan.road_right), z0, z0 + rng.uniform(1.0, 6.0)),
                    patch, label=TrainId.ROAD, material=Material.ASPHALT)


def _dashes(camera: Camera, x: float, width: float, z_start: float, z_end: float, dash: float, gap: float,
            plan: StreetPlan) -> list[np.ndarray]:
    polygons = []
    z = z_start
    while z < z_end:
        if not plan.in_crossing(z, z + dash, margin=5.0):
            polygons.append(ground_strip(camera, x - width / 2, x + width / 2, z, z + dash))
        z += dash + gap
    return polygons


def _draw_lane_marks(out: ShapeList, plan: StreetPlan, camera: Camera, colours: GroundColours, rng: np.random.Generator) -> None:
    """Dashed lane dividers, solid edge lines and the centre line (solid, double yellow or dashed)."""
    width = rng.uniform(0.12, 0.2)
    dash, gap = rng.uniform(2.5, 4.0), rng.uniform(4.0, 8.0)
    phase = rng.uniform(0.0, dash + gap)
    z_end = 140.0
    dividers = [plan.median / 2.0 + i * plan.lane_width for i in range(1, plan.lanes_right)]
    dividers += [-plan.median / 2.0 - i * plan.lane_width for i in range(1, plan.lanes_left)]
    for x in dividers:
        for polygon in _dashes(camera, x, width, phase, z_end, dash, gap, plan):
            out.polygon(polygon, colours.marking, label=TrainId.ROAD, material=Material.MARKING)
    solid_segments = _solid_segments(plan, z_end)
    if rng.random() < 0.7:
        for x in (plan.road_left + 0.35, plan.road_right - 0.35):
            for z0, z1 in solid_segments:
                out.polygon(ground_strip(camera, x - width / 2, x + width / 2, z0, z1), colours.marking,
                            label=TrainId.ROAD, material=Material.MARKING)
    if plan.lanes_left and plan.median == 0.0 and plan.tram_x is None:
        style = rng.choice(["double-yellow", "solid", "dashed"])
        if style == "dashed":
            for polygon in _dashes(camera, 0.0, width, phase, z_end, dash, gap, plan):
                out.polygon(polygon, colours.marking, label=TrainId.ROAD, material=Material.MARKING)
        else:
            offsets = (-0.12, 0.12) if style == "double-yellow" else (0.0,)
            colour = colours.yellow_marking if style == "double-yellow" else colours.marking
            for dx in offsets:
                for z0, z1 in solid_segments:
                    out.polygon(ground_strip(camera, dx - width / 2, dx + width / 2, z0, z1), colour,
                                label=TrainId.ROAD, material=Material.MARKING)


def _solid_segments(plan: StreetPlan, z_end: float) -> list[tuple[float, float]]:
    if plan.crossing is None:
        return [(NEAREST_DEPTH, z_end)]
    return [(NEAREST_DEPTH, plan.crossing[0] - 5.0), (plan.crossing[1] + 1.0, z_end)]


def _draw_rails(out: ShapeList, x_center: float, camera: Camera, colours: GroundColours) -> None:
    """A tram track: a lighter concrete bed and two steel rails, all road pixels."""
    bed = mix(colours.asphalt, (150, 150, 150), 0.35)
    out.polygon(ground_strip(camera, x_center - 1.3, x_center + 1.3, NEAREST_DEPTH, 400.0), bed,
                label=TrainId.ROAD, material=Material.CONCRETE)
    for dx in (-0.72, 0.72):
        out.polygon(ground_strip(camera, x_center + dx - 0.06, x_center + dx + 0.06, NEAREST_DEPTH, 400.0),
                    (120, 118, 116), label=TrainId.ROAD, material=Material.METAL)


def _draw_crossing(out: ShapeList, plan: StreetPlan, camera: Camera, colours: GroundColours, rng: np.random.Generator) -> None:
    """The cross street, its far kerb, a zebra crossing and a stop line before it."""
    z0, z1 = plan.crossing  # type: ignore[misc]
    out.polygon(ground_strip(camera, -500.0, 500.0, z0, z1), colours.asphalt, label=TrainId.ROAD, material=Material.ASPHALT)
    kerb_face = scale_rgb(colours.kerb, 0.85)
    for x0, x1 in ((-500.0, plan.road_left), (plan.road_right, 500.0)):
        face = np.concatenate([camera.project(np.array([x0, x1]), 0.0, z1), camera.project(np.array([x1, x0]), KERB_HEIGHT, z1)])
        out.polygon(face, kerb_face, label=TrainId.SIDEWALK, material=Material.CONCRETE)
    stripe, spacing = rng.uniform(0.45, 0.6), rng.uniform(0.45, 0.7)
    length = rng.uniform(3.0, 4.5)
    zebra_z1 = z0 - 0.6
    x = plan.road_left + 0.4
    while x + stripe < plan.road_right - 0.2:
        out.polygon(ground_strip(camera, x, x + stripe, zebra_z1 - length, zebra_z1), colours.marking,
                    label=TrainId.ROAD, material=Material.MARKING)
        x += stripe + spacing
    stop_z = zebra_z1 - length - 1.2
    out.polygon(ground_strip(camera, plan.median / 2.0 + 0.1, plan.road_right - 0.3, stop_z - 0.35, stop_z),
                colours.marking, label=TrainId.ROAD, material=Material.MARKING)

"""Random street scenes: where every building, tree, pole, sign, vehicle and person goes.

:func:`build_scene` draws one scene from a random generator and returns it as shapes in painter's
order, ready for :mod:`~gosvae.datasets.synthetic_urban.render`. Nothing here depends on the output
resolution: the same generator state gives the same scene at every size.

Painter's order comes in four layers, each sorted far to near by the depth of an item's nearest
point: (1) the distant skyline and tree line, (2) the ground, (3) everything standing on the
building lines (buildings, walls, fences, hedges, trees behind them), (4) everything standing in
front of the building lines (street trees, poles, lights, signs, vehicles, people). Items of layer
4 are always closer to the camera's line of sight than the building lines, so they may cover
layer 3 but never the reverse.

Example
-------
>>> scene = build_scene(np.random.default_rng(7))
>>> scene.district in DISTRICTS and len(scene.shapes) > 100
True
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gosvae.datasets.synthetic_urban.buildings import DISTRICTS, draw_building, draw_skyline, sample_building_style
from gosvae.datasets.synthetic_urban.camera import Camera
from gosvae.datasets.synthetic_urban.colors import pick
from gosvae.datasets.synthetic_urban.labels import TrainId
from gosvae.datasets.synthetic_urban.people import draw_pedestrian, draw_two_wheeler
from gosvae.datasets.synthetic_urban.photometry import Look, haze_amount, sample_look
from gosvae.datasets.synthetic_urban.roadside import (
    draw_fence, draw_hedge, draw_sign, draw_street_lamp, draw_traffic_light, draw_tree, draw_wall,
)
from gosvae.datasets.synthetic_urban.shapes import Shape, ShapeList
from gosvae.datasets.synthetic_urban.street import KERB_HEIGHT, StreetPlan, draw_ground, sample_street_plan
from gosvae.datasets.synthetic_urban.textures import Material
from gosvae.datasets.synthetic_urban.vehicles import draw_crossing_vehicle, draw_vehicle, sample_vehicle

__all__ = ["Scene", "build_scene"]

_FAR_TREES = [(54, 80, 44), (70, 90, 50), (46, 66, 46)]


@dataclass(frozen=True)
class Scene:
    """One laid-out scene: its camera, street plan, look, district and shapes in painter's order."""

    camera: Camera
    plan: StreetPlan
    look: Look
    district: str
    shapes: list[Shape]


class _Items:
    """Drawable items of one layer, each a ShapeList tagged with the depth of its nearest point."""

    def __init__(self, look: Look) -> None:
        self.look = look
        self.items: list[tuple[float, int, ShapeList]] = []

    def new(self, z: float) -> ShapeList:
        """A fresh ShapeList for an item at depth ``z`` (its haze follows from the depth)."""
        shapes = ShapeList(haze=int(round(254 * float(haze_amount(max(z, 0.0), visibility=self.look.visibility)))))
        self.items.append((z, len(self.items), shapes))
        return shapes

    def far_to_near(self) -> list[Shape]:
        ordered = sorted(self.items, key=lambda item: (-item[0], item[1]))
        return [shape for _, _, shapes in ordered for shape in shapes]


def build_scene(rng: np.random.Generator) -> Scene:
    """Lay out a random street scene (see module doc). Output: a :class:`Scene`."""
    look = sample_look(rng)
    district = str(rng.choice(DISTRICTS, p=[0.35, 0.45, 0.2]))
    plan = sample_street_plan(rng)
    camera = _sample_camera(rng, plan)

    far = ShapeList(haze=int(round(254 * float(haze_amount(400.0, visibility=look.visibility)))))
    if rng.random() < {"downtown": 0.8, "residential": 0.4, "industrial": 0.35}[district]:
        draw_skyline(far, camera, rng, depth=rng.uniform(350.0, 700.0), tint=look.sky.horizon_rgb)
    if rng.random() < 0.55:
        _draw_tree_line(far, camera, rng, depth=rng.uniform(250.0, 400.0))
    ground = draw_ground(plan, camera, rng)

    building_line = _Items(look)
    street = _Items(look)
    z_end = rng.uniform(120.0, 220.0)
    for side in (-1, 1):
        _building_row(building_line, camera, plan, rng, look, side=side, district=district, z_end=z_end)
    _street_furniture(street, camera, plan, rng, district=district)
    _traffic(street, camera, plan, rng, district=district)
    _people(street, camera, plan, rng, district=district)
    shapes = far.shapes + ground.shapes + building_line.far_to_near() + street.far_to_near()
    return Scene(camera=camera, plan=plan, look=look, district=district, shapes=shapes)


def _sample_camera(rng: np.random.Generator, plan: StreetPlan) -> Camera:
    lane = int(rng.integers(plan.lanes_right))
    return Camera(
        focal=rng.uniform(1.15, 1.45),
        horizon=rng.uniform(0.38, 0.5),
        center_u=1.0 + rng.uniform(-0.1, 0.1),
        height=rng.uniform(1.3, 1.7),
        lateral=plan.lane_center(lane) + rng.uniform(-0.35, 0.35),
        curvature=0.0 if rng.random() < 0.5 else rng.uniform(-0.0012, 0.0012),
        curve_end=rng.uniform(40.0, 90.0),
    )


def _draw_tree_line(out: ShapeList, camera: Camera, rng: np.random.Generator, *, depth: float) -> None:
    """A band of distant woods along the horizon with a bumpy top (vegetation)."""
    x = np.linspace(-1.5 * depth, 1.5 * depth, 120)
    top = depth * rng.uniform(0.02, 0.05) * (1.0 + 0.35 * np.sin(x / depth * rng.uniform(8, 20)) + rng.uniform(-0.25, 0.25, x.size))
    outline = np.concatenate([camera.project(x, top, depth), camera.project(x[::-1], 0.0, depth)])
    out.polygon(outline, pick(rng, _FAR_TREES, amount=0.1), label=TrainId.VEGETATION, material=Material.FOLIAGE)


def _segments_avoiding_crossing(plan: StreetPlan, z0: float, z1: float, *, margin: float) -> list[tuple[float, float]]:
    if plan.crossing is None:
        parts = [(z0, z1)]
    else:
        c0, c1 = plan.crossing[0] - margin, plan.crossing[1] + margin
        parts = [(z0, min(z1, c0)), (max(z0, c1), z1)]
    return [(a, b) for a, b in parts if b - a > 1.0]


def _building_row(items: _Items, camera: Camera, plan: StreetPlan, rng: np.random.Generator, look: Look, *, side: int,
                  district: str, z_end: float) -> None:
    """Buildings along one side, with gaps holding walls, fences, hedges and trees."""
    line_x = plan.building_left if side < 0 else plan.building_right
    light = (look.facade_light[0] if side < 0 else look.facade_light[1], look.end_face_light)
    park = rng.random() < {"downtown": 0.04, "residential": 0.15, "industrial": 0.1}[district]
    gap_probability = 1.0 if park else {"downtown": 0.15, "residential": 0.35, "industrial": 0.45}[district]
    z = rng.uniform(-8.0, 2.0)
    while z < z_end:
        is_gap = rng.random() < gap_probability
        if is_gap:
            length = rng.uniform(30.0, 80.0) if park else rng.uniform(4.0, 18.0)
        else:
            length = rng.uniform(15.0, 45.0) if district == "downtown" else rng.uniform(8.0, 30.0)
        for z0, z1 in _segments_avoiding_crossing(plan, max(z, 1.0), z + length, margin=0.5):
            if is_gap:
                _gap(items, camera, rng, side=side, line_x=line_x, z0=z0, z1=z1, district=district)
            else:
                style = sample_building_style(rng, district=district)
                style = replace(style, lit_fraction=max(style.lit_fraction, look.lit_windows))
                draw_building(items.new(max(z0, 0.0)), camera, side=side, line_x=line_x, z0=z0, z1=z1, style=style,
                              light=light, rng=rng, base=KERB_HEIGHT)
        z += length


def _gap(items: _Items, camera: Camera, rng: np.random.Generator, *, side: int, line_x: float, z0: float, z1: float,
         district: str) -> None:
    """What stands between two buildings: trees behind, then a wall, fence, hedge or nothing in front."""
    for _ in range(int(rng.poisson((z1 - z0) / 7.0 * (0.4 if district == "industrial" else 1.0)))):
        zt = rng.uniform(z0, z1)
        draw_tree(items.new(zt), camera, rng, x=line_x + side * rng.uniform(2.0, 12.0), z=zt, scale=rng.uniform(1.0, 1.5))
    kind = rng.choice(["wall", "fence", "hedge", "open"], p=[0.28, 0.28, 0.22, 0.22])
    if kind == "wall":
        draw_wall(items.new(z0), camera, rng, x=line_x, z0=z0, z1=z1, height=rng.uniform(1.0, 2.6))
    elif kind == "fence":
        draw_fence(items.new(z0), camera, rng, x=line_x, z0=z0, z1=z1, height=rng.uniform(1.0, 2.0))
    elif kind == "hedge":
        draw_hedge(items.new(z0), camera, rng, x=line_x, z0=z0, z1=z1, height=rng.uniform(0.8, 1.8))


def _kerb_x(plan: StreetPlan, side: int, offset: float) -> float:
    """``x`` at ``offset`` metres behind the kerb on ``side`` (-1 left, +1 right)."""
    return (plan.road_left - offset) if side < 0 else (plan.road_right + offset)


def _street_furniture(items: _Items, camera: Camera, plan: StreetPlan, rng: np.random.Generator, *, district: str) -> None:
    """Street trees, lamp posts, traffic lights at the crossing, and traffic signs."""
    tree_probability = {"downtown": 0.45, "residential": 0.7, "industrial": 0.25}[district]
    for side in (-1, 1):
        verge = plan.verge_left if side < 0 else plan.verge_right
        if rng.random() < tree_probability:
            spacing = rng.uniform(7.0, 14.0)
            offset = 0.3 + verge / 2 if verge > 0 else rng.uniform(0.8, 1.3)
            for z in np.arange(rng.uniform(2.0, 8.0), 100.0, spacing):
                if not plan.in_crossing(z - 3.0, z + 3.0):
                    draw_tree(items.new(z), camera, rng, x=_kerb_x(plan, side, offset), z=z)
        if rng.random() < 0.75:
            for z in np.arange(rng.uniform(3.0, 15.0), 120.0, rng.uniform(18.0, 35.0)):
                if not plan.in_crossing(z - 1.0, z + 1.0):
                    draw_street_lamp(items.new(z), camera, rng, x=_kerb_x(plan, side, 0.5), z=z, toward_road=-side)
    if plan.median > 0 and rng.random() < 0.6:
        for z in np.arange(rng.uniform(3.0, 10.0), 100.0, rng.uniform(8.0, 14.0)):
            draw_tree(items.new(z), camera, rng, x=0.0, z=z)
    if plan.crossing is not None:
        c0, c1 = plan.crossing
        road_width = plan.road_right - plan.road_left
        for side in (-1, 1):
            arm = -side * rng.uniform(0.3, 0.6) * road_width if rng.random() < 0.5 else 0.0
            draw_traffic_light(items.new(c0 - 1.5), camera, rng, x=_kerb_x(plan, side, 0.6), z=c0 - 1.5, arm=arm)
            if rng.random() < 0.6:
                draw_traffic_light(items.new(c1 + 1.0), camera, rng, x=_kerb_x(plan, side, 0.6), z=c1 + 1.0, arm=0.0)
    elif rng.random() < 0.35:  # a pedestrian light away from junctions
        z = rng.uniform(8.0, 30.0)
        for side in (-1, 1):
            draw_traffic_light(items.new(z), camera, rng, x=_kerb_x(plan, side, 0.6), z=z, arm=0.0)
    for _ in range(int(rng.integers(0, 5))):
        z, side = rng.uniform(5.0, 45.0), int(rng.choice([-1, 1]))
        if not plan.in_crossing(z - 1.0, z + 1.0):
            draw_sign(items.new(z), camera, rng, x=_kerb_x(plan, side, rng.uniform(0.4, 0.8)), z=z)


def _free(occupied: list[tuple[float, float]], z0: float, z1: float, *, gap: float) -> bool:
    return all(z1 + gap <= a or z0 >= b + gap for a, b in occupied)


def _traffic(items: _Items, camera: Camera, plan: StreetPlan, rng: np.random.Generator, *, district: str) -> None:
    """Vehicles: a tram on its track, cars, trucks and buses in the lanes, parked cars, cross traffic."""
    occupied: dict[int, list[tuple[float, float]]] = {}
    lanes = list(range(plan.lanes_right)) + [-(i + 1) for i in range(plan.lanes_left)]
    if plan.tram_x is not None and rng.random() < 0.9:
        tram = sample_vehicle(rng, kind="tram")
        lane = 0 if plan.tram_x > 0 else -1
        z = rng.uniform(8.0, 45.0)
        draw_vehicle(items.new(z), camera, tram, x=plan.tram_x, z=z, oncoming=plan.tram_x < 0)
        occupied.setdefault(lane, []).append((z, z + tram.length))
    cross_traffic = plan.crossing is not None and rng.random() < 0.6
    if cross_traffic:
        c0, c1 = plan.crossing  # type: ignore[misc]
        for lane_z in (c0 + 0.25 * (c1 - c0), c0 + 0.6 * (c1 - c0)):
            if rng.random() < 0.7:
                vehicle = sample_vehicle(rng, kind=str(rng.choice(["car", "car", "truck", "bus"])))
                # Stay between the building lines: beyond them the corner buildings would hide it.
                low, high = plan.building_left + vehicle.length / 2, plan.building_right - vehicle.length / 2
                if low < high:
                    draw_crossing_vehicle(items.new(lane_z), camera, vehicle, x=rng.uniform(low, high), z=lane_z,
                                          facing=1 if lane_z < (c0 + c1) / 2 else -1)
        for lane in lanes:
            occupied.setdefault(lane, []).append((c0 - 1.0, c1))
    density = {"downtown": 1.4, "residential": 0.8, "industrial": 0.9}[district] * rng.uniform(0.5, 1.5)
    kinds, weights = ["car", "truck", "bus"], [0.78, 0.11, 0.11] if district != "industrial" else [0.62, 0.3, 0.08]
    camera_lane = int(np.argmin([abs(plan.lane_center(lane) - camera.lateral) for lane in range(plan.lanes_right)]))
    parking = plan.lanes_right >= 2 and rng.random() < 0.4
    for lane in lanes:
        is_parking = parking and lane == plan.lanes_right - 1
        z = rng.uniform(9.0, 20.0) if lane == camera_lane else rng.uniform(3.0, 15.0)
        while z < 95.0:
            kind = "car" if is_parking else str(rng.choice(kinds, p=weights))
            vehicle = sample_vehicle(rng, kind=kind)
            if _free(occupied.setdefault(lane, []), z, z + vehicle.length, gap=1.0):
                x = plan.road_right - 1.1 if is_parking else plan.lane_center(lane) + rng.uniform(-0.3, 0.3)
                draw_vehicle(items.new(z), camera, vehicle, x=x, z=z, oncoming=lane < 0)
                occupied[lane].append((z, z + vehicle.length))
            z += vehicle.length + (rng.uniform(1.0, 3.0) if is_parking else rng.exponential(18.0) / density + 2.0)


def _people(items: _Items, camera: Camera, plan: StreetPlan, rng: np.random.Generator, *, district: str) -> None:
    """Pedestrians on the sidewalks and the zebra crossing, riders, parked bicycles and motorcycles."""
    mean = {"downtown": 7.0, "residential": 3.0, "industrial": 1.5}[district]
    for _ in range(int(rng.poisson(mean))):
        side = int(rng.choice([-1, 1]))
        verge = plan.verge_left if side < 0 else plan.verge_right
        inner, outer = abs(_kerb_x(plan, side, 0.5 + verge)), abs(plan.building_left if side < 0 else plan.building_right) - 0.4
        x = side * rng.uniform(min(inner, outer), max(inner, outer))
        z = rng.uniform(3.5, 35.0)
        if not plan.in_crossing(z - 0.5, z + 0.5):
            draw_pedestrian(items.new(z), camera, rng, x=x, z=z, view=str(rng.choice(["front", "back"])))
    if plan.crossing is not None:
        zebra_z = plan.crossing[0] - rng.uniform(1.5, 3.5)
        for _ in range(int(rng.integers(0, 5))):
            z = zebra_z + rng.uniform(-0.8, 0.8)
            draw_pedestrian(items.new(z), camera, rng, x=rng.uniform(plan.road_left, plan.road_right), z=z, view="side")
    for _ in range(int(rng.poisson(1.2))):
        kind = "bicycle" if rng.random() < 0.6 else "motorcycle"
        if plan.crossing is not None and rng.random() < 0.5:
            z = rng.uniform(plan.crossing[0] + 1.0, plan.crossing[1] - 1.0)
            x, base = rng.uniform(plan.building_left + 1.2, plan.building_right - 1.2), 0.0
        else:
            z = rng.uniform(5.0, 35.0)
            x, base = (plan.road_right - 0.8, 0.0) if rng.random() < 0.7 else (_kerb_x(plan, 1, 1.5), KERB_HEIGHT)
        draw_two_wheeler(items.new(z), camera, rng, x=x, z=z, kind=kind, ridden=True, facing=int(rng.choice([-1, 1])), base=base)
    for _ in range(int(rng.poisson(0.7))):
        side = int(rng.choice([-1, 1]))
        kind = "bicycle" if rng.random() < 0.65 else "motorcycle"
        z = rng.uniform(4.0, 30.0)
        if not plan.in_crossing(z - 1.0, z + 1.0):
            draw_two_wheeler(items.new(z), camera, rng, x=_kerb_x(plan, side, rng.uniform(0.8, 1.6)), z=z, kind=kind, ridden=False,
                             facing=int(rng.choice([-1, 1])))

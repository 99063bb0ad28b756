"""Road vehicles as boxes in perspective: cars, trucks, buses and trams (train class).

A vehicle is a box ``width x height x length`` standing on the road with its near face at depth
``z``. The camera sees that face (the rear of a vehicle driving away, the front of an oncoming one)
and, unless the vehicle is straight ahead, one long side in perspective. Each kind has its own
silhouette, size range and colour range so a segmenter can tell them apart: cars are small with a
cabin, trucks a tall cargo box with a lower cab, buses long tall boxes with a window band, trams
very long with a rounded front and a pantograph. A dark shadow is painted on the road underneath.

Example
-------
>>> rng = np.random.default_rng(0)
>>> camera = Camera(focal=1.3, horizon=0.45, center_u=1.0, height=1.5, lateral=1.7)
>>> out = ShapeList()
>>> car = sample_vehicle(rng, kind="car")
>>> draw_vehicle(out, camera, car, x=5.0, z=12.0, oncoming=False)
>>> sorted({shape.label for shape in out})
[-1, 13]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gosvae.datasets.synthetic_urban.camera import REFERENCE_HEIGHT, Camera
from gosvae.datasets.synthetic_urban.colors import hsv, jitter, mix, pick, scale_rgb
from gosvae.datasets.synthetic_urban.labels import TrainId
from gosvae.datasets.synthetic_urban.shapes import NO_LABEL, RGB, ShapeList, Sprite, circle_angles
from gosvae.datasets.synthetic_urban.textures import Material

__all__ = ["Vehicle", "VEHICLE_KINDS", "sample_vehicle", "draw_vehicle", "draw_crossing_vehicle"]

VEHICLE_KINDS = ("car", "truck", "bus", "tram")

_CAR_PAINT = [(235, 235, 235), (30, 30, 34), (170, 172, 176), (110, 112, 116), (150, 30, 30), (30, 50, 120),
              (20, 30, 60), (40, 80, 60), (190, 170, 130), (200, 170, 40), (90, 30, 40), (60, 110, 160)]
_TRUCK_BOX = [(238, 238, 236), (200, 202, 204), (40, 70, 140), (170, 40, 30), (30, 100, 60), (220, 180, 40)]
_TRUCK_CAB = [(240, 240, 240), (200, 40, 30), (30, 60, 140), (230, 180, 30), (60, 60, 64)]
_BUS_LIVERY = [(220, 40, 30), (240, 190, 20), (30, 90, 180), (30, 140, 70), (240, 240, 235), (240, 120, 20)]
_TRAM_LIVERY = [((240, 240, 236), (200, 30, 40)), ((250, 210, 40), (60, 60, 60)), ((235, 238, 240), (30, 80, 170)),
                ((40, 140, 80), (235, 235, 230)), ((190, 196, 200), (40, 90, 160))]
_GLASS = (44, 52, 62)
_TYRE = (26, 26, 28)

# Side silhouettes as (fraction of length from the rear, fraction of height).
_CAR_PROFILES = {
    "sedan": [(0, 0.22), (0, 0.62), (0.03, 0.66), (0.22, 0.68), (0.33, 1.0), (0.68, 1.0), (0.82, 0.68), (1.0, 0.6), (1.0, 0.22)],
    "hatchback": [(0, 0.22), (0, 0.9), (0.06, 1.0), (0.62, 1.0), (0.8, 0.66), (1.0, 0.58), (1.0, 0.22)],
    "van": [(0, 0.18), (0, 0.98), (0.03, 1.0), (0.8, 1.0), (0.94, 0.6), (1.0, 0.55), (1.0, 0.18)],
}
_CAR_WINDOWS = {
    "sedan": [(0.25, 0.7), (0.35, 0.95), (0.66, 0.95), (0.78, 0.7)],
    "hatchback": [(0.05, 0.68), (0.08, 0.95), (0.6, 0.95), (0.76, 0.68)],
    "van": [(0.05, 0.62), (0.05, 0.94), (0.79, 0.94), (0.9, 0.62)],
}


@dataclass(frozen=True)
class Vehicle:
    """Size (m), colours and style of one vehicle; ``kind`` in :data:`VEHICLE_KINDS`."""

    kind: str
    label: int
    width: float
    height: float
    length: float
    paint: RGB
    trim: RGB
    style: str
    cab_height: float = 0.0


def sample_vehicle(rng: np.random.Generator, *, kind: str) -> Vehicle:
    """A random vehicle of ``kind`` (car, truck, bus or tram)."""
    if kind == "car":
        style = str(rng.choice(["sedan", "hatchback", "van"], p=[0.5, 0.35, 0.15]))
        height = {"sedan": rng.uniform(1.35, 1.5), "hatchback": rng.uniform(1.45, 1.7), "van": rng.uniform(1.8, 2.1)}[style]
        paint = pick(rng, _CAR_PAINT, amount=0.1)
        if rng.random() < 0.25:  # any other colour
            paint = hsv(rng.uniform(0, 360), rng.uniform(0.3, 0.9), rng.uniform(0.25, 0.9))
        return Vehicle("car", TrainId.CAR, rng.uniform(1.7, 1.95), height,
                       rng.uniform(4.0, 4.9) if style != "van" else rng.uniform(4.8, 5.4), paint, (40, 40, 42), style)
    if kind == "truck":
        return Vehicle("truck", TrainId.TRUCK, rng.uniform(2.4, 2.55), rng.uniform(3.3, 4.0), rng.uniform(7.0, 11.0),
                       pick(rng, _TRUCK_BOX, amount=0.08), pick(rng, _TRUCK_CAB, amount=0.08), "box",
                       cab_height=rng.uniform(2.8, 3.1))
    if kind == "bus":
        return Vehicle("bus", TrainId.BUS, 2.55, rng.uniform(3.0, 3.3), rng.uniform(11.0, 15.0),
                       pick(rng, _BUS_LIVERY, amount=0.08), jitter((40, 40, 44), rng, amount=0.1), "city")
    if kind == "tram":
        body, stripe = _TRAM_LIVERY[int(rng.integers(len(_TRAM_LIVERY)))]
        return Vehicle("tram", TrainId.TRAIN, 2.65, rng.uniform(3.4, 3.6), rng.uniform(24.0, 32.0),
                       jitter(body, rng, amount=0.06), jitter(stripe, rng, amount=0.06), "tram")
    raise ValueError(f"unknown vehicle kind {kind!r}; expected one of {VEHICLE_KINDS}")


class _Side:
    """Draws on a vehicle's long side given as (fraction of length from the rear, height in m)."""

    def __init__(self, vehicle: Vehicle) -> None:
        self.vehicle = vehicle

    def points(self, fractions: np.ndarray, heights: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def polygon(self, out: ShapeList, profile: list, rgb: RGB, *, material: int) -> None:
        frac, height = np.asarray(profile, dtype=np.float64).T
        out.polygon(self.points(frac, height), rgb, label=self.vehicle.label, material=material)

    def box(self, out: ShapeList, f0: float, f1: float, y0: float, y1: float, rgb: RGB, *, material: int) -> None:
        self.polygon(out, [(f0, y0), (f1, y0), (f1, y1), (f0, y1)], rgb, material=material)

    def wheel(self, out: ShapeList, fraction: float, radius: float) -> None:
        _, cos, sin = circle_angles(12)
        offset = radius * cos / self.vehicle.length
        out.polygon(self.points(fraction + offset, radius + radius * sin), _TYRE, label=self.vehicle.label,
                    material=Material.RUBBER)
        out.polygon(self.points(fraction + 0.5 * offset, radius + 0.5 * radius * sin), (120, 120, 124),
                    label=self.vehicle.label, material=Material.METAL)


class _PerspectiveSide(_Side):
    """The long side of a vehicle driving along the street, in perspective."""

    def __init__(self, camera: Camera, vehicle: Vehicle, *, x: float, z: float, oncoming: bool, side: int) -> None:
        super().__init__(vehicle)
        self.camera = camera
        self.plane_x = x + side * vehicle.width / 2
        self.z, self.oncoming = z, oncoming

    def points(self, fractions: np.ndarray, heights: np.ndarray) -> np.ndarray:
        f = np.asarray(fractions, dtype=np.float64)
        if self.oncoming:  # the profile runs rear → front; an oncoming vehicle shows its front first
            f = 1.0 - f
        return self.camera.project(self.plane_x, np.asarray(heights, dtype=np.float64), self.z + f * self.vehicle.length)


class _FlatSide(_Side):
    """The long side of a vehicle crossing the view, facing the camera at one depth."""

    def __init__(self, sprite: Sprite, vehicle: Vehicle) -> None:
        super().__init__(vehicle)
        self.sprite = sprite

    def points(self, fractions: np.ndarray, heights: np.ndarray) -> np.ndarray:
        f = np.asarray(fractions, dtype=np.float64)
        h = np.broadcast_to(np.asarray(heights, dtype=np.float64), f.shape)
        return self.sprite.to_layout(np.stack([(0.5 - f) * self.vehicle.length, h], axis=-1))


def draw_vehicle(out: ShapeList, camera: Camera, vehicle: Vehicle, *, x: float, z: float, oncoming: bool) -> None:
    """Draw ``vehicle`` centred at ``x`` (m) with its near face at depth ``z`` (m).

    Vehicles narrower or lower than 3 px at the reference resolution are left out.
    """
    if min(vehicle.width, vehicle.height) * camera.scale(z) * REFERENCE_HEIGHT < 3.0:
        return
    half = vehicle.width / 2
    footprint = np.concatenate([camera.project(np.array([x - 1.08 * half, x + 1.08 * half]), 0.0, z - 0.2),
                                camera.project(np.array([x + 1.08 * half, x - 1.08 * half]), 0.0, z + vehicle.length)])
    out.polygon(footprint, (22, 22, 24), label=NO_LABEL, material=Material.FLAT)
    side = camera.visible_side(x, z, half)
    if side != 0:
        _SIDE_DRAWERS[vehicle.kind](out, _PerspectiveSide(camera, vehicle, x=x, z=z, oncoming=oncoming, side=side))
    face = Sprite(out, anchor=camera.project(x, 0.0, z)[0], scale=camera.scale(z))
    if vehicle.kind == "truck" and oncoming:  # the cargo box shows above and behind the cab
        box = Sprite(out, anchor=camera.project(x, 0.0, z + 2.4)[0], scale=camera.scale(z + 2.4))
        box.rect(-half, 1.0, half, vehicle.height, vehicle.paint, label=vehicle.label, material=Material.PAINT)
    _FACE_DRAWERS[vehicle.kind](face, vehicle, oncoming)


def draw_crossing_vehicle(out: ShapeList, camera: Camera, vehicle: Vehicle, *, x: float, z: float, facing: int) -> None:
    """Draw ``vehicle`` driving across the view (in a cross street), its long side facing the camera.

    ``x`` is its centre (m), ``z`` the depth of its visible side, ``facing`` -1 (driving left) or +1.
    """
    scale = camera.scale(z)
    if min(vehicle.width, vehicle.height) * scale * REFERENCE_HEIGHT < 3.0:
        return
    half = vehicle.length / 2
    shadow = np.concatenate([camera.project(np.array([x - half, x + half]), 0.0, z),
                             camera.project(np.array([x + half, x - half]), 0.0, z + vehicle.width)])
    out.polygon(shadow, (22, 22, 24), label=NO_LABEL, material=Material.FLAT)
    sprite = Sprite(out, anchor=camera.project(x, 0.0, z)[0], scale=scale, mirror=facing > 0)
    _SIDE_DRAWERS[vehicle.kind](out, _FlatSide(sprite, vehicle))


# ------------------------------------------------------------------------------------------------
# Long sides
# ------------------------------------------------------------------------------------------------
def _car_side(out: ShapeList, side: _Side) -> None:
    v = side.vehicle
    side.polygon(out, [(f, y * v.height) for f, y in _CAR_PROFILES[v.style]], scale_rgb(v.paint, 0.88), material=Material.PAINT)
    side.polygon(out, [(f, y * v.height) for f, y in _CAR_WINDOWS[v.style]], _GLASS, material=Material.GLASS)
    side.box(out, 0.0, 1.0, 0.22 * v.height, 0.3 * v.height, v.trim, material=Material.RUBBER)
    radius = 0.32
    for fraction in (0.17, 0.82):
        side.wheel(out, fraction, radius)


def _truck_side(out: ShapeList, side: _Side) -> None:
    v = side.vehicle
    cab_start = 1.0 - 2.3 / v.length
    side.box(out, 0.0, 1.0, 0.55, 1.0, (40, 40, 42), material=Material.METAL)  # chassis
    side.box(out, 0.0, cab_start - 0.01, 1.0, v.height, scale_rgb(v.paint, 0.9), material=Material.PAINT)
    side.box(out, 0.02, cab_start - 0.03, v.height - 0.25, v.height - 0.12, scale_rgb(v.paint, 0.75), material=Material.PAINT)
    side.polygon(out, [(cab_start, 0.5), (cab_start, v.cab_height), (0.97, v.cab_height), (1.0, v.cab_height - 0.5), (1.0, 0.5)],
                 scale_rgb(v.trim, 0.9), material=Material.PAINT)
    side.box(out, cab_start + 0.3 * (1 - cab_start), 0.98, v.cab_height - 1.0, v.cab_height - 0.25, _GLASS, material=Material.GLASS)
    for fraction in (0.12, 0.12 + 1.2 / v.length, 1.0 - 1.6 / v.length):
        side.wheel(out, fraction, 0.5)


def _bus_side(out: ShapeList, side: _Side) -> None:
    v = side.vehicle
    side.box(out, 0.0, 1.0, 0.3, v.height, scale_rgb(v.paint, 0.9), material=Material.PAINT)
    side.box(out, 0.0, 1.0, 1.25, v.height - 0.3, _GLASS, material=Material.GLASS)
    pillar = scale_rgb(v.trim, 0.9)
    for f in np.arange(0.08, 0.97, 1.4 / v.length):
        side.box(out, f, f + 0.12 / v.length, 1.25, v.height - 0.3, pillar, material=Material.METAL)
    for f in (0.4, 0.85):  # doors
        side.box(out, f, f + 1.2 / v.length, 0.35, v.height - 0.35, mix(_GLASS, v.trim, 0.3), material=Material.GLASS)
    for fraction in (0.18, 0.8):
        side.wheel(out, fraction, 0.5)


def _tram_side(out: ShapeList, side: _Side) -> None:
    v = side.vehicle
    side.box(out, 0.0, 1.0, 0.35, v.height, scale_rgb(v.paint, 0.92), material=Material.PAINT)
    side.box(out, 0.0, 1.0, 0.35, 0.8, scale_rgb(v.trim, 0.9), material=Material.PAINT)
    side.box(out, 0.01, 0.99, 1.35, v.height - 0.45, _GLASS, material=Material.GLASS)
    for f in np.arange(0.05, 0.97, 2.2 / v.length):
        side.box(out, f, f + 0.2 / v.length, 1.35, v.height - 0.45, scale_rgb(v.paint, 0.85), material=Material.PAINT)
    for f in (0.15, 0.5, 0.82):
        side.box(out, f, f + 1.3 / v.length, 0.4, v.height - 0.4, mix(_GLASS, v.trim, 0.25), material=Material.GLASS)
    for f in (0.08, 0.92):  # bogies
        side.box(out, f - 1.2 / v.length, f + 1.2 / v.length, 0.0, 0.5, (36, 36, 38), material=Material.METAL)


_SIDE_DRAWERS = {"car": _car_side, "truck": _truck_side, "bus": _bus_side, "tram": _tram_side}


# ------------------------------------------------------------------------------------------------
# Near faces (rear of a vehicle driving away, front of an oncoming one)
# ------------------------------------------------------------------------------------------------
def _car_face(s: Sprite, v: Vehicle, front: bool) -> None:
    w, h, label = v.width / 2, v.height, v.label
    s.rect(-w * 0.92, 0.0, -w * 0.55, 0.3 * h, _TYRE, label=label, material=Material.RUBBER)
    s.rect(w * 0.55, 0.0, w * 0.92, 0.3 * h, _TYRE, label=label, material=Material.RUBBER)
    top_body = 0.62 * h if v.style != "van" else 0.55 * h
    s.rect(-w, 0.18 * h, w, top_body, v.paint, label=label, material=Material.PAINT)
    roof = 0.72 * w if v.style != "van" else 0.9 * w
    s.polygon([(-0.9 * w, top_body), (0.9 * w, top_body), (roof, h), (-roof, h)], v.paint, label=label, material=Material.PAINT)
    glass_bottom = top_body + 0.04 * h
    s.polygon([(-0.8 * w, glass_bottom), (0.8 * w, glass_bottom), (roof * 0.92, 0.94 * h), (-roof * 0.92, 0.94 * h)],
              _GLASS if not front else mix(_GLASS, (120, 140, 160), 0.25), label=label, material=Material.GLASS)
    s.rect(-w, 0.16 * h, w, 0.28 * h, v.trim, label=label, material=Material.RUBBER)  # bumper
    lamp = (250, 246, 220) if front else (200, 20, 24)
    for sign in (-1, 1):
        s.rect(sign * 0.62 * w, top_body - 0.14 * h, sign * 0.95 * w, top_body - 0.05 * h, lamp, label=label,
               material=Material.LAMP)
    if front:
        s.rect(-0.45 * w, 0.3 * h, 0.45 * w, 0.4 * h, (30, 30, 32), label=label, material=Material.METAL)  # grille
    s.rect(-0.2 * w, 0.3 * h, 0.2 * w, 0.38 * h, (236, 236, 230), label=label, material=Material.PAINT)  # plate


def _truck_face(s: Sprite, v: Vehicle, front: bool) -> None:
    w, h, label = v.width / 2, v.height, v.label
    for sign in (-1, 1):
        s.rect(sign * 0.92 * w, 0.0, sign * 0.45 * w, 1.0, _TYRE, label=label, material=Material.RUBBER)
    if front:
        ch = v.cab_height
        s.rect(-0.96 * w, 0.45, 0.96 * w, ch, v.trim, label=label, material=Material.PAINT)
        s.rect(-0.86 * w, ch * 0.6, 0.86 * w, ch * 0.93, _GLASS, label=label, material=Material.GLASS)
        s.rect(-0.6 * w, 0.75, 0.6 * w, 1.35, (34, 34, 36), label=label, material=Material.METAL)
        for sign in (-1, 1):
            s.rect(sign * 0.65 * w, 0.6, sign * 0.9 * w, 0.8, (250, 246, 220), label=label, material=Material.LAMP)
        s.rect(-0.98 * w, 0.4, 0.98 * w, 0.62, (50, 50, 52), label=label, material=Material.METAL)
        return
    s.rect(-w * 0.95, 0.45, w * 0.95, 1.0, (38, 38, 40), label=label, material=Material.METAL)  # underride bar, chassis
    s.rect(-w, 1.0, w, h, v.paint, label=label, material=Material.PAINT)
    s.rect(-0.02, 1.05, 0.02, h - 0.05, scale_rgb(v.paint, 0.6), label=label, material=Material.PAINT)  # door seam
    for sign in (-1, 1):
        s.rect(sign * 0.5 * w, 1.3, sign * 0.54 * w, h - 0.3, scale_rgb(v.paint, 0.7), label=label, material=Material.METAL)
        s.rect(sign * 0.7 * w, 0.6, sign * 0.92 * w, 0.78, (200, 20, 24), label=label, material=Material.LAMP)


def _bus_face(s: Sprite, v: Vehicle, front: bool) -> None:
    w, h, label = v.width / 2, v.height, v.label
    for sign in (-1, 1):
        s.rect(sign * 0.9 * w, 0.0, sign * 0.55 * w, 0.45, _TYRE, label=label, material=Material.RUBBER)
    s.rect(-w, 0.3, w, h, v.paint, label=label, material=Material.PAINT)
    if front:
        s.rect(-0.92 * w, 1.0, 0.92 * w, h - 0.45, mix(_GLASS, (110, 130, 150), 0.2), label=label, material=Material.GLASS)
        s.rect(-0.8 * w, h - 0.4, 0.8 * w, h - 0.1, (20, 20, 20), label=label, material=Material.FLAT)  # destination sign
        s.rect(-0.6 * w, h - 0.33, 0.3 * w, h - 0.17, (255, 150, 20), label=label, material=Material.LAMP)
        lamp = (250, 246, 220)
    else:
        s.rect(-0.85 * w, 1.7, 0.85 * w, h - 0.3, _GLASS, label=label, material=Material.GLASS)
        s.rect(-0.7 * w, 0.5, 0.7 * w, 1.2, scale_rgb(v.paint, 0.75), label=label, material=Material.METAL)  # engine lid
        lamp = (200, 20, 24)
    s.rect(-w, 0.3, w, 0.5, v.trim, label=label, material=Material.RUBBER)
    for sign in (-1, 1):
        s.rect(sign * 0.7 * w, 0.6, sign * 0.95 * w, 0.85, lamp, label=label, material=Material.LAMP)


def _tram_face(s: Sprite, v: Vehicle, front: bool) -> None:
    w, h, label = v.width / 2, v.height, v.label
    s.rect(-0.9 * w, 0.0, 0.9 * w, 0.45, (36, 36, 38), label=label, material=Material.METAL)
    s.polygon([(-w, 0.35), (w, 0.35), (w, h - 0.45), (0.82 * w, h), (-0.82 * w, h), (-w, h - 0.45)], v.paint, label=label,
              material=Material.PAINT)
    s.rect(-w, 0.35, w, 0.9, v.trim, label=label, material=Material.PAINT)
    s.polygon([(-0.9 * w, 1.3), (0.9 * w, 1.3), (0.85 * w, h - 0.4), (-0.85 * w, h - 0.4)], mix(_GLASS, (100, 120, 140), 0.2),
              label=label, material=Material.GLASS)
    for sign in (-1, 1):
        s.ellipse(sign * 0.7 * w, 1.05, 0.12, 0.12, (250, 246, 220) if front else (200, 20, 24), label=label, material=Material.LAMP)
    # Pantograph on the roof (train pixels), kept at least 3 px thick at 256x512.
    bar = s.metres_for_pixels(3.0, reference_height=REFERENCE_HEIGHT)
    s.line((-0.5, h), (0.0, h + 0.9), max(0.06, bar), (50, 50, 54), label=label, material=Material.METAL)
    s.line((0.0, h + 0.9), (0.5, h + 1.5), max(0.06, bar), (50, 50, 54), label=label, material=Material.METAL)
    s.rect(-0.6, h + 1.45, 0.6, h + 1.45 + max(0.08, bar), (50, 50, 54), label=label, material=Material.METAL)


_FACE_DRAWERS = {"car": _car_face, "truck": _truck_face, "bus": _bus_face, "tram": _tram_face}



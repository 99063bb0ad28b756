"""People and two-wheelers: pedestrians, cyclists and motorcyclists, parked bicycles and motorcycles.

Pedestrians are drawn from the front or back (standing, walking along the sidewalk) or from the
side (walking across the street). Riders are people seated on a two-wheeler seen from the side; the
person's pixels are ``rider`` and the machine's are ``bicycle`` or ``motorcycle``. Wheels are drawn
as filled discs (tyre, rim and spokes, all vehicle pixels) so that a wheel is one learnable blob
rather than a ring of one-pixel spokes over the background.

Example
-------
>>> rng = np.random.default_rng(0)
>>> camera = Camera(focal=1.3, horizon=0.45, center_u=1.0, height=1.5, lateral=1.7)
>>> out = ShapeList()
>>> draw_two_wheeler(out, camera, rng, x=6.0, z=10.0, kind="bicycle", ridden=True, facing=1)
>>> sorted({shape.label for shape in out})
[-1, 12, 18]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gosvae.datasets.synthetic_urban.camera import REFERENCE_HEIGHT, Camera
from gosvae.datasets.synthetic_urban.colors import hsv, jitter, pick, scale_rgb
from gosvae.datasets.synthetic_urban.labels import TrainId
from gosvae.datasets.synthetic_urban.shapes import NO_LABEL, RGB, ShapeList, Sprite
from gosvae.datasets.synthetic_urban.street import KERB_HEIGHT
from gosvae.datasets.synthetic_urban.textures import Material

__all__ = ["Outfit", "sample_outfit", "draw_pedestrian", "draw_two_wheeler"]

_SKIN = [(240, 200, 170), (224, 172, 130), (190, 140, 100), (140, 96, 66), (96, 64, 44)]
_HAIR = [(30, 24, 20), (70, 50, 30), (120, 90, 50), (200, 170, 110), (150, 150, 150), (90, 40, 20)]
_TROUSERS = [(40, 50, 80), (30, 30, 34), (90, 90, 96), (150, 130, 100), (60, 70, 50), (120, 40, 50)]
_FRAME = [(200, 30, 30), (30, 30, 34), (220, 220, 220), (30, 90, 170), (40, 120, 60), (230, 170, 20), (120, 120, 126)]
_MOTO = [(200, 20, 20), (20, 20, 24), (30, 60, 150), (230, 230, 230), (240, 150, 20), (40, 110, 40)]
_TYRE = (24, 24, 26)


@dataclass(frozen=True)
class Outfit:
    """Colours and build of one person (metres)."""

    height: float
    skin: RGB
    hair: RGB
    top: RGB
    bottom: RGB
    shoes: RGB
    long_coat: bool
    bag: RGB | None
    helmet: RGB | None


def sample_outfit(rng: np.random.Generator, *, helmet: bool = False) -> Outfit:
    top = hsv(rng.uniform(0, 360), rng.uniform(0.1, 0.8), rng.uniform(0.2, 0.9))
    return Outfit(
        height=rng.uniform(1.55, 1.95),
        skin=pick(rng, _SKIN, amount=0.08),
        hair=pick(rng, _HAIR, amount=0.1),
        top=top,
        bottom=pick(rng, _TROUSERS, amount=0.15),
        shoes=jitter((40, 36, 34), rng, amount=0.3),
        long_coat=bool(rng.random() < 0.2),
        bag=hsv(rng.uniform(0, 360), rng.uniform(0.2, 0.7), rng.uniform(0.2, 0.6)) if rng.random() < 0.3 else None,
        helmet=hsv(rng.uniform(0, 360), rng.uniform(0.0, 0.8), rng.uniform(0.1, 0.9)) if helmet else None,
    )


def _ground_shadow(out: ShapeList, camera: Camera, *, x: float, z: float, half_width: float, base: float) -> None:
    centre = camera.project(x, base, z)[0]
    scale = camera.scale(z)
    out.ellipse(centre, (half_width * scale, 0.1 * scale), (34, 34, 36), label=NO_LABEL, material=Material.FLAT)


def _head(s: Sprite, outfit: Outfit, *, cx: float, cy: float, label: int, back: bool) -> None:
    r = 0.11 * outfit.height / 1.75
    s.rect(cx - 0.45 * r, cy - 1.6 * r, cx + 0.45 * r, cy - 0.6 * r, outfit.skin, label=label, material=Material.SKIN)  # neck
    s.ellipse(cx, cy, r, 1.18 * r, outfit.skin, label=label, material=Material.SKIN)
    if outfit.helmet is not None:
        s.polygon([(cx - 1.15 * r, cy - 0.1 * r), (cx + 1.15 * r, cy - 0.1 * r), (cx + 0.9 * r, cy + 1.0 * r), (cx, cy + 1.35 * r),
                   (cx - 0.9 * r, cy + 1.0 * r)], outfit.helmet, label=label, material=Material.PAINT)
    elif back:
        s.ellipse(cx, cy + 0.1 * r, 1.05 * r, 1.15 * r, outfit.hair, label=label, material=Material.FABRIC)
    else:
        s.polygon([(cx - 1.05 * r, cy + 0.1 * r), (cx - 0.8 * r, cy + 1.0 * r), (cx, cy + 1.25 * r), (cx + 0.8 * r, cy + 1.0 * r),
                   (cx + 1.05 * r, cy + 0.1 * r), (cx, cy + 0.55 * r)], outfit.hair, label=label, material=Material.FABRIC)


def draw_pedestrian(out: ShapeList, camera: Camera, rng: np.random.Generator, *, x: float, z: float, view: str,
                    outfit: Outfit | None = None, base: float = KERB_HEIGHT) -> None:
    """A pedestrian standing at ``(x, z)``; ``view`` is ``"front"``, ``"back"`` or ``"side"``.

    People narrower than 3 px at the reference resolution are left out.
    """
    outfit = outfit or sample_outfit(rng)
    h = outfit.height
    if 0.25 * h * camera.scale(z) * REFERENCE_HEIGHT < 3.0:
        return
    label = TrainId.PERSON
    _ground_shadow(out, camera, x=x, z=z, half_width=0.3, base=base)
    s = Sprite(out, anchor=camera.project(x, base, z)[0], scale=camera.scale(z), mirror=bool(rng.random() < 0.5))
    hip, shoulder = 0.5 * h, 0.82 * h
    if view == "side":
        stride = rng.uniform(0.1, 0.3)
        for foot, colour in ((-stride, scale_rgb(outfit.bottom, 0.8)), (stride, outfit.bottom)):
            s.polygon([(-0.08, hip), (0.08, hip), (foot + 0.06, 0.06), (foot - 0.07, 0.06)], colour, label=label, material=Material.FABRIC)
            s.rect(foot - 0.08, 0.0, foot + 0.13, 0.07, outfit.shoes, label=label, material=Material.RUBBER)
        s.polygon([(-0.13, hip - 0.03), (0.12, hip - 0.03), (0.11, shoulder), (-0.1, shoulder)], outfit.top, label=label,
                  material=Material.FABRIC)
        if outfit.bag is not None:
            s.rect(-0.22, hip + 0.12, -0.1, shoulder - 0.05, outfit.bag, label=label, material=Material.FABRIC)
        s.line((0.0, shoulder - 0.03), (rng.uniform(-0.15, 0.15), hip + 0.02), 0.09, scale_rgb(outfit.top, 0.85), label=label,
               material=Material.FABRIC)
        _head(s, outfit, cx=0.02, cy=0.93 * h, label=label, back=False)
        return
    back = view == "back"
    half_hip, half_shoulder = 0.17 * h / 1.75, 0.22 * h / 1.75
    s.rect(-half_hip - 0.01, 0.0, -0.01, 0.06, outfit.shoes, label=label, material=Material.RUBBER)
    s.rect(0.01, 0.0, half_hip + 0.01, 0.06, outfit.shoes, label=label, material=Material.RUBBER)
    legs_top = hip + 0.02
    s.polygon([(-half_hip, 0.05), (half_hip, 0.05), (half_hip + 0.01, legs_top), (-half_hip - 0.01, legs_top)], outfit.bottom,
              label=label, material=Material.FABRIC)
    s.rect(-0.012, 0.05, 0.012, hip - 0.12, scale_rgb(outfit.bottom, 0.7), label=label, material=Material.FABRIC)  # seam
    coat_bottom = 0.3 * h if outfit.long_coat else hip - 0.04
    s.polygon([(-half_hip - 0.03, coat_bottom), (half_hip + 0.03, coat_bottom), (half_shoulder, shoulder), (-half_shoulder, shoulder)],
              outfit.top, label=label, material=Material.FABRIC)
    sleeve = scale_rgb(outfit.top, 0.85)
    for sign in (-1, 1):
        s.polygon([(sign * half_shoulder, shoulder), (sign * (half_shoulder + 0.09), shoulder - 0.04),
                   (sign * (half_hip + 0.1), hip - 0.02), (sign * (half_hip + 0.02), hip)], sleeve, label=label,
                  material=Material.FABRIC)
        s.ellipse(sign * (half_hip + 0.07), hip - 0.06, 0.045, 0.06, outfit.skin, label=label, material=Material.SKIN)
    if outfit.bag is not None and back:
        s.rect(-0.14, hip + 0.1, 0.14, shoulder - 0.06, outfit.bag, label=label, material=Material.FABRIC)
    _head(s, outfit, cx=0.0, cy=0.93 * h, label=label, back=back)


def _wheel(s: Sprite, cx: float, cy: float, r: float, *, tyre: float, label: int) -> None:
    s.ellipse(cx, cy, r, r, _TYRE, label=label, material=Material.RUBBER)
    s.ellipse(cx, cy, r - tyre, r - tyre, (70, 70, 74), label=label, material=Material.METAL)
    spoke = max(0.02, r * 0.06)
    for angle in np.linspace(0.0, np.pi, 4, endpoint=False):
        dx, dy = (r - tyre) * np.cos(angle), (r - tyre) * np.sin(angle)
        s.line((cx - dx, cy - dy), (cx + dx, cy + dy), spoke, (150, 150, 154), label=label, material=Material.METAL)
    s.ellipse(cx, cy, r * 0.15, r * 0.15, (160, 160, 164), label=label, material=Material.METAL)


def draw_two_wheeler(out: ShapeList, camera: Camera, rng: np.random.Generator, *, x: float, z: float, kind: str,
                     ridden: bool, facing: int, base: float = KERB_HEIGHT) -> None:
    """A bicycle or motorcycle seen from the side, pointing left (``facing=-1``) or right (+1),
    with a rider on it when ``ridden``. Left out when its wheels would be under 3 px at 256x512."""
    scale = camera.scale(z)
    if 0.6 * scale * REFERENCE_HEIGHT < 3.0:
        return
    s = Sprite(out, anchor=camera.project(x, base, z)[0], scale=scale, mirror=facing < 0)
    tube = max(0.06, s.metres_for_pixels(2.5, reference_height=REFERENCE_HEIGHT))
    _ground_shadow(out, camera, x=x, z=z, half_width=0.9 if kind == "bicycle" else 1.1, base=base)
    if kind == "bicycle":
        label, r = TrainId.BICYCLE, 0.34
        frame = pick(rng, _FRAME, amount=0.1)
        rear, front = (-0.52, r), (0.52, r)
        bb, seat, head, bar = (-0.02, 0.3), (-0.2, 0.86), (0.38, 0.82), (0.34, 1.0)
        _wheel(s, *rear, r, tyre=max(0.05, tube * 0.8), label=label)
        _wheel(s, *front, r, tyre=max(0.05, tube * 0.8), label=label)
        for a, b in ((bb, seat), (seat, head), (bb, head), (bb, rear), (seat, rear), (head, front), (head, bar)):
            s.line(a, b, tube, frame, label=label, material=Material.PAINT)
        s.rect(seat[0] - 0.12, seat[1], seat[0] + 0.08, seat[1] + max(0.05, tube), (30, 30, 30), label=label, material=Material.FABRIC)
        s.line((bar[0] - 0.05, bar[1]), (bar[0] + 0.1, bar[1] + 0.03), tube, (40, 40, 40), label=label, material=Material.METAL)
        hip, knee, foot, shoulder, hand = (-0.2, 0.92), (0.12, 0.68), (0.02, 0.22), (0.14, 1.48), (0.36, 1.02)
    else:
        label, r = TrainId.MOTORCYCLE, 0.31
        body = pick(rng, _MOTO, amount=0.1)
        rear, front = (-0.72, r), (0.72, r)
        _wheel(s, *rear, r, tyre=0.1, label=label)
        _wheel(s, *front, r, tyre=0.1, label=label)
        s.polygon([(-0.55, 0.35), (0.3, 0.3), (0.55, 0.55), (0.45, 0.95), (0.05, 0.95), (-0.3, 0.82), (-0.75, 0.8), (-0.78, 0.65)],
                  body, label=label, material=Material.PAINT)
        s.polygon([(-0.3, 0.3), (0.2, 0.3), (0.2, 0.6), (-0.3, 0.6)], (60, 60, 64), label=label, material=Material.METAL)  # engine
        s.line((-0.2, 0.32), (-0.85, 0.42), 0.1, (170, 170, 176), label=label, material=Material.METAL)  # exhaust
        s.polygon([(-0.6, 0.82), (0.0, 0.92), (0.0, 1.0), (-0.62, 0.92)], (30, 30, 32), label=label, material=Material.FABRIC)
        s.line((0.45, 0.9), front, max(0.08, tube), (120, 120, 126), label=label, material=Material.METAL)  # fork
        s.line((0.38, 1.1), (0.55, 1.12), max(0.05, tube), (40, 40, 40), label=label, material=Material.METAL)
        hip, knee, foot, shoulder, hand = (-0.3, 0.98), (0.15, 0.86), (0.05, 0.45), (-0.05, 1.58), (0.42, 1.1)
    if not ridden:
        return
    outfit = sample_outfit(rng, helmet=(kind == "motorcycle") or rng.random() < 0.75)
    rider = TrainId.RIDER
    limb = 0.13
    s.line(hip, knee, limb + 0.02, outfit.bottom, label=rider, material=Material.FABRIC)
    s.line(knee, foot, limb, outfit.bottom, label=rider, material=Material.FABRIC)
    s.rect(foot[0] - 0.06, foot[1] - 0.04, foot[0] + 0.14, foot[1] + 0.05, outfit.shoes, label=rider, material=Material.RUBBER)
    torso = np.array([hip, shoulder])
    normal = np.array([-(shoulder[1] - hip[1]), shoulder[0] - hip[0]])
    normal = normal / np.hypot(*normal) * 0.15
    s.polygon([torso[0] - normal, torso[0] + normal * 0.9, torso[1] + normal * 0.8, torso[1] - normal * 0.8], outfit.top,
              label=rider, material=Material.FABRIC)
    if outfit.bag is not None:
        s.polygon([torso[0] - normal * 2.0 + (0.0, 0.1), torso[0] - normal * 0.8 + (0.0, 0.1), torso[1] - normal * 0.8 - (0.0, 0.1),
                   torso[1] - normal * 1.8 - (0.0, 0.1)], outfit.bag, label=rider, material=Material.FABRIC)
    s.line(shoulder, hand, 0.1, scale_rgb(outfit.top, 0.85), label=rider, material=Material.FABRIC)
    s.ellipse(hand[0], hand[1], 0.05, 0.05, outfit.skin, label=rider, material=Material.SKIN)
    _head(s, outfit, cx=shoulder[0] + 0.08, cy=shoulder[1] + 0.18, label=rider, back=False)




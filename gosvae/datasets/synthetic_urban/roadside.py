"""Street furniture and greenery: trees, hedges, walls, fences, street lamps, traffic lights, signs.

Upright objects are drawn as :class:`Sprite` s facing the camera at one depth; objects that run
along the street (walls, fences, hedges) are vertical bands on the plane ``x = const``. Size rules
are taken at the reference resolution (256x512): poles are skipped below 2 px and widened to at
least 3 px, light boxes and sign plates are skipped below 5 px.

Example
-------
>>> rng = np.random.default_rng(1)
>>> camera = Camera(focal=1.3, horizon=0.45, center_u=1.0, height=1.5, lateral=1.7)
>>> out = ShapeList()
>>> draw_traffic_light(out, camera, rng, x=7.0, z=12.0, arm=0.0)
>>> sorted({shape.label for shape in out})
[5, 6]
"""

from __future__ import annotations

import functools

import numpy as np

from gosvae.datasets.synthetic_urban.camera import REFERENCE_HEIGHT, Camera
from gosvae.datasets.synthetic_urban.colors import jitter, mix, pick, scale_rgb
from gosvae.datasets.synthetic_urban.labels import TrainId
from gosvae.datasets.synthetic_urban.shapes import RGB, ShapeList, Sprite, circle_angles, ring_points
from gosvae.datasets.synthetic_urban.street import KERB_HEIGHT, vertical_strip
from gosvae.datasets.synthetic_urban.textures import Material

__all__ = [
    "draw_tree", "draw_hedge", "draw_wall", "draw_fence", "draw_street_lamp", "draw_traffic_light",
    "draw_sign", "MIN_POLE_PIXELS", "MIN_SMALL_OBJECT_PIXELS",
]

MIN_POLE_PIXELS: float = 3.0
"""Minimum pole width (px at 256x512)."""

MIN_SMALL_OBJECT_PIXELS: float = 5.0
"""Minimum width and height of traffic-light boxes and sign plates (px at 256x512)."""

_POLE = [(120, 122, 126), (90, 92, 96), (60, 70, 62), (150, 150, 146), (50, 52, 56)]
_FOLIAGE = [(60, 100, 40), (46, 84, 36), (80, 110, 46), (54, 90, 56), (70, 96, 30), (96, 116, 50)]
_CONCRETE_WALL = [(168, 166, 160), (150, 148, 144), (186, 180, 170), (136, 134, 132), (176, 168, 150)]
_FENCE_METAL = [(70, 90, 70), (60, 62, 66), (120, 124, 126), (40, 44, 50)]
_FENCE_WOOD = [(140, 110, 80), (120, 90, 62), (160, 130, 96)]


def _sprite(out: ShapeList, camera: Camera, x: float, z: float, *, base: float = KERB_HEIGHT, mirror: bool = False) -> Sprite:
    return Sprite(out, anchor=camera.project(x, base, z)[0], scale=camera.scale(z), mirror=mirror)


def _pole_width(sprite: Sprite, natural: float) -> float | None:
    """Pole width in metres widened to :data:`MIN_POLE_PIXELS`, or ``None`` if the pole is too far."""
    pixels = natural * sprite.scale * REFERENCE_HEIGHT
    if pixels < 2.0:
        return None
    return max(natural, sprite.metres_for_pixels(MIN_POLE_PIXELS, reference_height=REFERENCE_HEIGHT))


def _big_enough(sprite: Sprite, width: float, height: float) -> bool:
    return min(width, height) * sprite.scale * REFERENCE_HEIGHT >= MIN_SMALL_OBJECT_PIXELS


# ------------------------------------------------------------------------------------------------
# Vegetation
# ------------------------------------------------------------------------------------------------
_HARMONICS = np.arange(2, 7)


@functools.lru_cache(maxsize=None)
def _harmonic_angles(count: int) -> np.ndarray:
    """(harmonics, count) angles of the outline harmonics of :func:`_blob` (read-only, cached)."""
    angles = _HARMONICS[:, None] * circle_angles(count)[0]
    angles.flags.writeable = False
    return angles


def _blob(rng: np.random.Generator, center: tuple[float, float], radius: float, *, squash: float, count: int = 28) -> np.ndarray:
    """A noisy round outline: radius modulated by a few random harmonics plus per-vertex jitter."""
    cos, sin = circle_angles(count)[1:]
    amplitudes = rng.uniform(0.0, 0.09, size=_HARMONICS.size)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=_HARMONICS.size)
    r = radius * (1.0 + (amplitudes[:, None] * np.cos(_harmonic_angles(count) + phases[:, None])).sum(0)
                  + rng.uniform(-0.06, 0.06, size=count))
    return np.stack([center[0] + r * cos, center[1] + squash * r * sin], axis=-1)


def draw_tree(out: ShapeList, camera: Camera, rng: np.random.Generator, *, x: float, z: float,
              base: float = KERB_HEIGHT, scale: float = 1.0) -> None:
    """A street tree: trunk and a noisy canopy (both vegetation), or a conifer."""
    sprite = _sprite(out, camera, x, z, base=base)
    foliage = pick(rng, _FOLIAGE, amount=0.15)
    trunk_rgb = jitter((86, 70, 56), rng, amount=0.15)
    if rng.random() < 0.2:  # conifer: stacked noisy triangles
        height = rng.uniform(5.0, 11.0) * scale
        width = height * rng.uniform(0.3, 0.45)
        sprite.rect(-0.15, 0.0, 0.15, 1.2, trunk_rgb, label=TrainId.VEGETATION, material=Material.BARK)
        for level in range(4):
            y0 = 0.8 + level * (height - 0.8) / 4.5
            half = width / 2 * (1.0 - level / 5.0)
            jag = rng.uniform(-0.1, 0.1, size=3) * half
            sprite.polygon([(-half + jag[0], y0), (half + jag[1], y0), (jag[2], y0 + height / 2.2)],
                           scale_rgb(foliage, 0.8 + 0.06 * level), label=TrainId.VEGETATION, material=Material.FOLIAGE)
        return
    radius = rng.uniform(1.4, 3.4) * scale
    trunk_height = rng.uniform(1.8, 3.4) * scale
    trunk = max(rng.uniform(0.18, 0.4) * scale, sprite.metres_for_pixels(3.0, reference_height=REFERENCE_HEIGHT))
    centre = (rng.uniform(-0.3, 0.3), trunk_height + radius * 0.8)
    sprite.polygon([(-trunk * 0.6, 0.0), (trunk * 0.6, 0.0), (trunk * 0.4, centre[1]), (-trunk * 0.4, centre[1])],
                   trunk_rgb, label=TrainId.VEGETATION, material=Material.BARK)
    sprite.polygon(_blob(rng, centre, radius, squash=rng.uniform(0.85, 1.2)), scale_rgb(foliage, 0.8),
                   label=TrainId.VEGETATION, material=Material.FOLIAGE)
    for _ in range(int(rng.integers(1, 4))):  # lighter clumps lit from above
        offset = (rng.uniform(-0.5, 0.5) * radius, rng.uniform(0.0, 0.5) * radius)
        sprite.polygon(_blob(rng, (centre[0] + offset[0], centre[1] + offset[1]), radius * rng.uniform(0.35, 0.55), squash=1.0),
                       scale_rgb(foliage, rng.uniform(1.0, 1.25)), label=TrainId.VEGETATION, material=Material.FOLIAGE)


def draw_hedge(out: ShapeList, camera: Camera, rng: np.random.Generator, *, x: float, z0: float, z1: float,
               height: float, base: float = KERB_HEIGHT) -> None:
    """A clipped hedge along the street: a band with a bumpy top, and its near end."""
    colour = scale_rgb(pick(rng, _FOLIAGE, amount=0.15), 0.8)
    z = np.geomspace(z0, z1, 24)
    top = base + height * (1.0 + rng.uniform(-0.08, 0.08, size=z.size))
    outline = np.concatenate([camera.project(x, base, z), camera.project(x, top[::-1], z[::-1])])
    out.polygon(outline, colour, label=TrainId.VEGETATION, material=Material.FOLIAGE)
    sprite = _sprite(out, camera, x, z0, base=base)
    depth = 0.8 if x < 0 else -0.8  # the hedge extends away from the street
    sprite.rect(min(0.0, -depth), 0.0, max(0.0, -depth), top[0] - base, scale_rgb(colour, 0.85),
                label=TrainId.VEGETATION, material=Material.FOLIAGE)


# ------------------------------------------------------------------------------------------------
# Walls and fences along the street
# ------------------------------------------------------------------------------------------------
def draw_wall(out: ShapeList, camera: Camera, rng: np.random.Generator, *, x: float, z0: float, z1: float,
              height: float, base: float = KERB_HEIGHT) -> None:
    """A free-standing concrete or stone wall: no windows, a coping on top, panel joints."""
    colour = pick(rng, _CONCRETE_WALL, amount=0.1)
    out.polygon(vertical_strip(camera, x, base, base + height, z0, z1), colour, label=TrainId.WALL, material=Material.CONCRETE)
    out.polygon(vertical_strip(camera, x, base + height - 0.18, base + height, z0, z1), scale_rgb(colour, 0.75),
                label=TrainId.WALL, material=Material.CONCRETE)
    panel = rng.uniform(2.0, 4.0)
    joint = scale_rgb(colour, 0.82)
    for zj in np.arange(z0 + panel, z1, panel):
        corners = camera.project(x, np.array([base, base, base + height, base + height]), np.array([zj, zj + 0.08, zj + 0.08, zj]))
        if np.ptp(corners[:, 0]) * REFERENCE_HEIGHT >= 0.7:
            out.polygon(corners, joint, label=TrainId.WALL, material=Material.CONCRETE)
    sprite = _sprite(out, camera, x, z0, base=base)
    thickness = 0.3 if x < 0 else -0.3
    sprite.rect(min(0.0, -thickness), 0.0, max(0.0, -thickness), height, scale_rgb(colour, 0.9),
                label=TrainId.WALL, material=Material.CONCRETE)


def draw_fence(out: ShapeList, camera: Camera, rng: np.random.Generator, *, x: float, z0: float, z1: float,
               height: float, base: float = KERB_HEIGHT) -> None:
    """A fence along the street: a panel crossed by a lattice (mesh, bars or boards) between posts.

    The panel is drawn opaque (fence pixels throughout) in a dark see-through tint, so the fence
    reads as a lattice without one-pixel holes that no segmenter could learn.
    """
    style = rng.choice(["mesh", "bars", "boards"])
    frame = pick(rng, _FENCE_WOOD if style == "boards" else _FENCE_METAL, amount=0.1)
    panel = mix(frame, (40, 46, 40), 0.55) if style != "boards" else scale_rgb(frame, 0.8)
    material = Material.WOOD if style == "boards" else Material.METAL
    top = base + height
    out.polygon(vertical_strip(camera, x, base, top, z0, z1), panel, label=TrainId.FENCE, material=material)
    # Lattice bars as (y_start, z_start, y_end, z_end), clipped to the fence's depth range.
    if style == "mesh":
        zs = np.arange(z0 - height, z1, 0.45)
        bars = np.concatenate([np.stack([np.full_like(zs, base), zs, np.full_like(zs, top), zs + height], axis=1),
                               np.stack([np.full_like(zs, top), zs, np.full_like(zs, base), zs + height], axis=1)])
        ta = np.clip((z0 - bars[:, 1]) / height, 0.0, 1.0)
        tb = np.clip((z1 - bars[:, 1]) / height, 0.0, 1.0)
        bars = bars[tb - ta > 1e-3]
        ta, tb = ta[tb - ta > 1e-3], tb[tb - ta > 1e-3]
        ya, za, yb, zb = bars.T
        bars = np.stack([ya + ta * (yb - ya), za + ta * (zb - za), ya + tb * (yb - ya), za + tb * (zb - za)], axis=1)
    elif style == "bars":
        zs = np.arange(z0, z1, 0.3)
        bars = np.stack([np.full_like(zs, base), zs, np.full_like(zs, top), zs], axis=1)
    else:
        bars = np.zeros((0, 4))
    zp = np.arange(z0, z1 + 1e-6, rng.uniform(2.0, 3.0))
    posts = np.stack([np.full_like(zp, base), zp, np.full_like(zp, top + 0.05), zp], axis=1)
    rails = [(top - 0.08), (base + 0.1)]
    for ya in rails:
        out.polygon(vertical_strip(camera, x, ya - 0.06, ya + 0.06, z0, z1), frame, label=TrainId.FENCE, material=material)
    for segments, colour, thickness in ((bars, frame, 0.05), (posts, scale_rgb(frame, 0.85), 0.12)):
        if len(segments) == 0:
            continue
        ya, za, yb, zb = segments.T
        y = np.stack([ya, yb, yb, ya], axis=1).ravel()
        z = np.stack([za, zb, zb + thickness, za + thickness], axis=1).ravel()
        corners = camera.project(x, y, z).reshape(-1, 4, 2)
        corners = _widen(corners[np.ptp(corners[:, :, 1], axis=1) * REFERENCE_HEIGHT >= 2.0])
        for polygon in corners:
            out.polygon(polygon, colour, label=TrainId.FENCE, material=material)


def _widen(corners: np.ndarray, *, min_pixels: float = 1.0) -> np.ndarray:
    """Widen thin projected bars (N, 4, 2) horizontally to span at least ``min_pixels`` at 256x512."""
    centre = corners[:, :, 0].mean(axis=1, keepdims=True)
    width = np.ptp(corners[:, :, 0], axis=1, keepdims=True) * REFERENCE_HEIGHT
    factor = np.maximum(min_pixels / np.maximum(width, 1e-6), 1.0)
    widened = corners.copy()
    offset = (corners[:, :, 0] - centre) * factor
    half = min_pixels / (2 * REFERENCE_HEIGHT)
    # Vertical bars have two corners on each side of the centre: push them at least half apart.
    offset = np.where(offset < 0, np.minimum(offset, -half), np.maximum(offset, half))
    widened[:, :, 0] = np.where(width < min_pixels, centre + offset, corners[:, :, 0])
    return widened


# ------------------------------------------------------------------------------------------------
# Poles, lights and signs
# ------------------------------------------------------------------------------------------------
def draw_street_lamp(out: ShapeList, camera: Camera, rng: np.random.Generator, *, x: float, z: float, toward_road: int) -> None:
    """A lamp post (pole pixels, lamp head included) with an arm reaching over the road."""
    sprite = _sprite(out, camera, x, z)
    width = _pole_width(sprite, rng.uniform(0.16, 0.28))
    if width is None:
        return
    colour = pick(rng, _POLE, amount=0.1)
    height = rng.uniform(6.0, 9.0)
    sprite.polygon([(-width * 0.65, 0.0), (width * 0.65, 0.0), (width * 0.45, height), (-width * 0.45, height)], colour,
                   label=TrainId.POLE, material=Material.METAL)
    arm = rng.uniform(0.8, 2.4) * toward_road
    sprite.line((0.0, height - 0.1), (arm, height + 0.25), width * 0.8, colour, label=TrainId.POLE, material=Material.METAL)
    head = max(0.25, width)
    sprite.rect(arm - 0.35, height + 0.25 - head, arm + 0.35, height + 0.3, scale_rgb(colour, 0.8),
                label=TrainId.POLE, material=Material.METAL)


def draw_traffic_light(out: ShapeList, camera: Camera, rng: np.random.Generator, *, x: float, z: float, arm: float) -> None:
    """A traffic-light post: pole (pole pixels) with one light box on it, and a second box hanging
    from a mast arm of ``arm`` metres over the road (0 for none). Boxes below 5 px are left out."""
    sprite = _sprite(out, camera, x, z)
    width = _pole_width(sprite, rng.uniform(0.18, 0.26))
    if width is None:
        return
    colour = pick(rng, _POLE, amount=0.1)
    height = rng.uniform(3.2, 4.2) if arm == 0.0 else rng.uniform(5.5, 6.5)
    sprite.rect(-width / 2, 0.0, width / 2, height, colour, label=TrainId.POLE, material=Material.METAL)
    housing = pick(rng, [(30, 32, 34), (46, 48, 44), (200, 160, 20)], amount=0.1)
    state = int(rng.integers(3))
    _light_box(sprite, x_center=0.0, top=min(height, 4.0) + 0.05, housing=housing, state=state)
    if arm != 0.0:
        sprite.line((0.0, height - 0.2), (arm, height - 0.2), max(width * 0.7, sprite.metres_for_pixels(3.0, reference_height=REFERENCE_HEIGHT)),
                    colour, label=TrainId.POLE, material=Material.METAL)
        _light_box(sprite, x_center=arm * rng.uniform(0.6, 0.95), top=height - 0.2, housing=housing, state=state)


def _light_box(sprite: Sprite, *, x_center: float, top: float, housing: RGB, state: int) -> None:
    """A three-lamp box hanging from ``top``; lamp ``state`` (0 red, 1 amber, 2 green) is lit."""
    box_w, box_h = 0.36, 0.95
    if not _big_enough(sprite, box_w, box_h):
        return
    x0 = x_center - box_w / 2
    sprite.rect(x0 - 0.05, top - box_h - 0.05, x0 + box_w + 0.05, top + 0.05, scale_rgb(housing, 0.7),
                label=TrainId.TRAFFIC_LIGHT, material=Material.METAL)
    sprite.rect(x0, top - box_h, x0 + box_w, top, housing, label=TrainId.TRAFFIC_LIGHT, material=Material.METAL)
    lamps = ((230, 40, 30), (240, 170, 20), (40, 220, 90))
    for i, lit_colour in enumerate(lamps):
        cy = top - (i + 0.5) * box_h / 3
        colour = lit_colour if i == state else scale_rgb(lit_colour, 0.25)
        sprite.ellipse(x0 + box_w / 2, cy, box_w * 0.34, box_w * 0.34, colour, label=TrainId.TRAFFIC_LIGHT,
                       material=Material.LAMP if i == state else Material.FLAT)


def draw_sign(out: ShapeList, camera: Camera, rng: np.random.Generator, *, x: float, z: float) -> None:
    """A traffic sign on its own post: the plate (traffic-sign pixels) and the post (pole pixels)."""
    sprite = _sprite(out, camera, x, z)
    size = rng.uniform(0.6, 0.9)
    width = _pole_width(sprite, rng.uniform(0.07, 0.1) * 1.8)
    if width is None or not _big_enough(sprite, size, size):
        return
    post_height = rng.uniform(2.0, 2.8)
    sprite.rect(-width / 2, 0.0, width / 2, post_height, pick(rng, _POLE, amount=0.1), label=TrainId.POLE, material=Material.METAL)
    cy = post_height + size / 2
    kind = rng.choice(["prohibitory", "mandatory", "warning", "priority", "info", "stop"])
    red, white, blue = jitter((200, 30, 36), rng, amount=0.08), jitter((236, 236, 232), rng, amount=0.04), jitter((30, 80, 170), rng, amount=0.08)
    label, material = TrainId.TRAFFIC_SIGN, Material.PAINT
    r = size / 2
    if kind == "prohibitory":
        sprite.ellipse(0.0, cy, r, r, red, label=label, material=material)
        sprite.ellipse(0.0, cy, r * 0.72, r * 0.72, white, label=label, material=material)
        sprite.rect(-r * 0.45, cy - r * 0.12, r * 0.45, cy + r * 0.12, (30, 30, 30), label=label, material=material)
    elif kind == "mandatory":
        sprite.ellipse(0.0, cy, r, r, blue, label=label, material=material)
        sprite.polygon([(-0.1 * r, cy - 0.55 * r), (0.1 * r, cy - 0.55 * r), (0.1 * r, cy + 0.1 * r), (0.35 * r, cy + 0.1 * r),
                        (0.0, cy + 0.6 * r), (-0.35 * r, cy + 0.1 * r), (-0.1 * r, cy + 0.1 * r)], white, label=label, material=material)
    elif kind == "warning":
        tri = np.array([(-r, cy - 0.8 * r), (r, cy - 0.8 * r), (0.0, cy + 0.95 * r)])
        sprite.polygon(tri, red, label=label, material=material)
        centroid = tri.mean(0)
        sprite.polygon(centroid + 0.62 * (tri - centroid), white, label=label, material=material)
    elif kind == "priority":
        diamond = np.array([(0.0, cy - r), (r, cy), (0.0, cy + r), (-r, cy)])
        sprite.polygon(diamond, white, label=label, material=material)
        sprite.polygon(np.array([0.0, cy]) + 0.68 * (diamond - np.array([0.0, cy])), jitter((236, 190, 20), rng, amount=0.05),
                       label=label, material=material)
    elif kind == "stop":
        octagon = ring_points((0.0, cy), (r, r), count=8, phase=np.pi / 8)
        sprite.polygon(octagon, red, label=label, material=material)
        sprite.rect(-0.6 * r, cy - 0.12 * r, 0.6 * r, cy + 0.12 * r, white, label=label, material=material)
    else:
        plate = blue if rng.random() < 0.5 else jitter((30, 120, 60), rng, amount=0.08)
        sprite.rect(-1.2 * r, cy - 0.6 * r, 1.2 * r, cy + 0.6 * r, white, label=label, material=material)
        sprite.rect(-1.1 * r, cy - 0.5 * r, 1.1 * r, cy + 0.5 * r, plate, label=label, material=material)
        for row in (0.2, -0.15):
            sprite.rect(-0.8 * r, cy + row * r, 0.6 * r, cy + (row + 0.12) * r, white, label=label, material=material)

"""Buildings: facades along the street with window grids, front faces, and the distant skyline.

A building stands on one side of the street between two depths. The camera sees its long facade
(parallel to the street) and its near end face; both get window grids drawn as building pixels in
glass colours, a cornice, and on some a ground floor of shop windows. Districts set the style:
``downtown`` (tall, glass and stone), ``residential`` (plaster and brick, 2-6 floors),
``industrial`` (low concrete or metal sheds, few windows).

Example
-------
>>> rng = np.random.default_rng(0)
>>> camera = Camera(focal=1.3, horizon=0.45, center_u=1.0, height=1.5, lateral=1.7)
>>> out = ShapeList()
>>> draw_building(out, camera, side=-1, line_x=-9.0, z0=8.0, z1=30.0,
...               style=sample_building_style(rng, district="residential"), light=(1.0, 0.8), rng=rng)
>>> {shape.label for shape in out} == {int(TrainId.BUILDING)}
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gosvae.datasets.synthetic_urban.camera import LAYOUT_ASPECT, REFERENCE_HEIGHT, Camera, geometric_samples
from gosvae.datasets.synthetic_urban.colors import hsv, jitter, mix, pick, scale_rgb
from gosvae.datasets.synthetic_urban.labels import TrainId
from gosvae.datasets.synthetic_urban.shapes import RGB, ShapeList
from gosvae.datasets.synthetic_urban.textures import Material

__all__ = ["BuildingStyle", "sample_building_style", "draw_building", "draw_skyline", "DISTRICTS"]

DISTRICTS = ("downtown", "residential", "industrial")

_PLASTER = [(222, 208, 180), (236, 228, 210), (200, 180, 150), (230, 200, 160), (190, 200, 205), (215, 190, 190),
            (180, 190, 170), (240, 236, 226), (205, 160, 120)]
_BRICK = [(150, 70, 50), (170, 95, 70), (130, 60, 45), (160, 120, 95), (120, 80, 60)]
_STONE = [(170, 166, 160), (140, 138, 136), (190, 182, 168), (110, 112, 116), (200, 196, 190)]
_GLASS_WALL = [(90, 110, 130), (70, 90, 100), (110, 130, 140), (60, 70, 80)]
_SHED = [(160, 164, 168), (120, 130, 140), (170, 160, 140), (100, 120, 130), (150, 110, 90)]
_GLASS = [(50, 60, 72), (70, 84, 100), (40, 44, 52), (90, 104, 120), (60, 70, 66)]


@dataclass(frozen=True)
class BuildingStyle:
    """Appearance and size of one building (metres); ``kind`` is stone, glass, plaster, brick or shed."""

    kind: str
    height: float
    depth: float
    setback: float
    wall_rgb: RGB
    wall_material: int
    cornice_rgb: RGB
    glass_rgb: RGB
    frame_rgb: RGB | None
    floor_height: float
    ground_floor_height: float
    column_spacing: float
    window_width: float
    window_height_fraction: float
    shops: bool
    lit_fraction: float


def sample_building_style(rng: np.random.Generator, *, district: str) -> BuildingStyle:
    """A random building of a district (see module doc)."""
    if district == "downtown":
        height = rng.uniform(14.0, 45.0)
        kind = rng.choice(["stone", "glass", "plaster", "brick"], p=[0.35, 0.25, 0.25, 0.15])
    elif district == "industrial":
        height = rng.uniform(5.0, 12.0)
        kind = rng.choice(["shed", "brick", "stone"], p=[0.6, 0.2, 0.2])
    else:
        height = rng.uniform(6.0, 20.0)
        kind = rng.choice(["plaster", "brick", "stone"], p=[0.55, 0.3, 0.15])
    palette, material = {
        "stone": (_STONE, Material.CONCRETE),
        "glass": (_GLASS_WALL, Material.GLASS),
        "plaster": (_PLASTER, Material.PLASTER),
        "brick": (_BRICK, Material.BRICK),
        "shed": (_SHED, Material.METAL),
    }[str(kind)]
    wall = pick(rng, palette, amount=0.12)
    if kind == "plaster" and rng.random() < 0.3:
        wall = hsv(rng.uniform(0, 360), rng.uniform(0.15, 0.4), rng.uniform(0.6, 0.9))
    floor_height = rng.uniform(2.9, 3.8)
    glass = pick(rng, _GLASS, amount=0.15)
    frame = None
    if kind != "glass" and rng.random() < 0.6:
        frame = mix(wall, (250, 250, 250) if rng.random() < 0.6 else (40, 40, 40), rng.uniform(0.4, 0.8))
    shed = kind == "shed"
    return BuildingStyle(
        kind=str(kind),
        height=height,
        depth=rng.uniform(8.0, 20.0),
        setback=rng.uniform(0.0, 1.5) if rng.random() < 0.3 else 0.0,
        wall_rgb=wall,
        wall_material=int(material),
        cornice_rgb=scale_rgb(wall, rng.uniform(0.65, 1.2)),
        glass_rgb=glass,
        frame_rgb=frame,
        floor_height=floor_height,
        ground_floor_height=rng.uniform(3.5, 5.0),
        column_spacing=rng.uniform(1.3, 2.0) if kind == "glass" else rng.uniform(2.2, 4.2),
        window_width=rng.uniform(0.9, 1.6) if not shed else rng.uniform(1.8, 3.6),
        window_height_fraction=rng.uniform(0.75, 0.9) if kind == "glass" else rng.uniform(0.4, 0.6),
        shops=bool(district != "industrial" and rng.random() < 0.6),
        lit_fraction=rng.uniform(0.0, 0.15),
    )


def _plane_points(camera: Camera, *, along_z: bool, plane: float, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Project points of a vertical plane: ``x = plane`` (``t`` is depth) or ``z = plane`` (``t`` is x)."""
    return camera.project(plane, y, t) if along_z else camera.project(t, y, plane)


def _rectangles(camera: Camera, *, along_z: bool, plane: float, t0: np.ndarray, t1: np.ndarray,
                y0: np.ndarray, y1: np.ndarray, min_pixels: float) -> np.ndarray:
    """(N, 4, 2) projected corners of rectangles on a vertical plane, dropping the invisible ones.

    Rectangles narrower or shorter than ``min_pixels`` at the reference resolution, or entirely
    outside the frame, are dropped (a resolution-independent decision).
    """
    if t0.size == 0:
        return np.zeros((0, 4, 2))
    t = np.array([t0, t1, t1, t0]).T.ravel()  # corner by corner, rectangle after rectangle
    y = np.array([y0, y0, y1, y1]).T.ravel()
    corners = _plane_points(camera, along_z=along_z, plane=plane, t=t, y=y).reshape(-1, 4, 2)
    # Element-wise minima and maxima of the corners: numpy reductions over a short middle axis are slow.
    a, b, c, d = corners.transpose(1, 0, 2)
    low, high = np.minimum(np.minimum(a, b), np.minimum(c, d)), np.maximum(np.maximum(a, b), np.maximum(c, d))
    size = (high - low) * REFERENCE_HEIGHT
    keep = (np.minimum(size[:, 0], size[:, 1]) >= min_pixels) & (high[:, 0] > 0) & (low[:, 0] < LAYOUT_ASPECT) \
        & (high[:, 1] > 0) & (low[:, 1] < 1)
    return corners[keep]


def _window_grid(style: BuildingStyle, t_start: float, t_end: float) -> tuple[np.ndarray, ...]:
    """Window rectangles (t0, t1, y0, y1) over the facade span [t_start, t_end].

    Floors start above the shops (or the loading doors of a shed), else about 1 m above ground; a
    shed has a single ribbon of windows under its roof.
    """
    span = t_end - t_start
    columns = int(span // style.column_spacing)
    if style.kind == "shed":
        first, floors, height = style.height - 2.2, 1, 1.1
    else:
        first = style.ground_floor_height if style.shops else 0.9
        floors = int((style.height - first - 0.7) // style.floor_height)
        height = style.window_height_fraction * style.floor_height
    if columns < 1 or floors < 1:
        return (np.zeros(0),) * 4
    margin = (span - columns * style.column_spacing) / 2.0
    centres_t = t_start + margin + (np.arange(columns) + 0.5) * style.column_spacing
    bottoms = first + np.arange(floors) * style.floor_height + 0.3 * (style.floor_height - height)
    # Floor by floor, column by column (what np.meshgrid gives, without its overhead).
    ct = np.repeat(centres_t[None, :], floors, axis=0).ravel()
    by = np.repeat(bottoms, columns)
    half = min(style.window_width, 0.9 * style.column_spacing) / 2.0
    return ct - half, ct + half, by, by + height


def _draw_face(out: ShapeList, camera: Camera, rng: np.random.Generator, *, style: BuildingStyle, along_z: bool,
               plane: float, t0: float, t1: float, base: float, light: float) -> None:
    """One flat face of a building between ``t0`` and ``t1`` along its plane, with windows."""
    wall = scale_rgb(style.wall_rgb, light)
    count = 2 if (camera.curvature == 0.0 or not along_z) else 10
    # Across the street two samples suffice: exactly the end points, as np.linspace(t0, t1, 2) gives.
    t = geometric_samples(t0, t1, count) if along_z else np.array([t0, t1], dtype=np.float64)
    # The wall (base to roof) and the cornice band under the roof, projected together.
    edges = np.repeat([base, style.height, style.height - 0.5, style.height], count)
    bands = _plane_points(camera, along_z=along_z, plane=plane, t=np.concatenate([t, t[::-1], t, t[::-1]]), y=edges)
    out.polygon(bands[: 2 * count], wall, label=TrainId.BUILDING, material=style.wall_material)
    out.polygon(bands[2 * count :], scale_rgb(style.cornice_rgb, light), label=TrainId.BUILDING, material=Material.CONCRETE)

    lo, hi = min(t0, t1), max(t0, t1)
    wt0, wt1, wy0, wy1 = _window_grid(style, lo, hi)
    if style.frame_rgb is not None and wt0.size:
        pad = 0.12
        frames = _rectangles(camera, along_z=along_z, plane=plane, t0=wt0 - pad, t1=wt1 + pad, y0=wy0 - pad, y1=wy1 + pad,
                             min_pixels=3.0)
        out.polygons(frames, scale_rgb(style.frame_rgb, light), label=TrainId.BUILDING, material=Material.PAINT)
    windows = _rectangles(camera, along_z=along_z, plane=plane, t0=wt0, t1=wt1, y0=wy0, y1=wy1, min_pixels=1.0)
    lit = rng.random(len(windows)) < style.lit_fraction
    shades = rng.uniform(0.8, 1.25, size=len(windows)) * (0.6 + 0.4 * light)
    colours = np.clip(np.round(np.asarray(style.glass_rgb, dtype=np.float64) * shades[:, None]), 0, 255).astype(np.int64)
    colours[lit] = (230, 200, 140)
    out.polygons(windows, [tuple(colour) for colour in colours.tolist()], label=TrainId.BUILDING, material=Material.GLASS)
    if style.kind == "shed":
        _draw_loading_doors(out, camera, rng, style=style, along_z=along_z, plane=plane, lo=lo, hi=hi, base=base, light=light)
    elif style.shops:
        _draw_shop_front(out, camera, rng, style=style, along_z=along_z, plane=plane, lo=lo, hi=hi, base=base, light=light)


def _draw_shop_front(out: ShapeList, camera: Camera, rng: np.random.Generator, *, style: BuildingStyle, along_z: bool,
                     plane: float, lo: float, hi: float, base: float, light: float) -> None:
    """Large shop windows and doors on the ground floor, sometimes under a coloured awning."""
    spacing = rng.uniform(3.0, 6.0)
    count = int((hi - lo) // spacing)
    if count < 1:
        return
    starts = lo + (hi - lo - count * spacing) / 2.0 + np.arange(count) * spacing
    t0, t1 = starts + 0.4, starts + spacing - 0.4
    y0 = np.full(count, base + rng.uniform(0.3, 0.7))
    y1 = np.full(count, base + style.ground_floor_height - rng.uniform(0.6, 1.0))
    glass = scale_rgb(mix(style.glass_rgb, (30, 30, 34), 0.5), 0.6 + 0.4 * light)
    shop_windows = _rectangles(camera, along_z=along_z, plane=plane, t0=t0, t1=t1, y0=y0, y1=y1, min_pixels=1.0)
    out.polygons(shop_windows, [jitter(glass, rng, amount=0.15) for _ in shop_windows], label=TrainId.BUILDING,
                 material=Material.GLASS)
    if rng.random() < 0.4:
        awning = scale_rgb(hsv(rng.uniform(0, 360), rng.uniform(0.4, 0.8), rng.uniform(0.4, 0.8)), light)
        top = base + style.ground_floor_height - 0.3
        awnings = _rectangles(camera, along_z=along_z, plane=plane, t0=t0 - 0.2, t1=t1 + 0.2,
                              y0=np.full(count, top - 0.8), y1=np.full(count, top), min_pixels=1.0)
        out.polygons(awnings, awning, label=TrainId.BUILDING, material=Material.FABRIC)


def _draw_loading_doors(out: ShapeList, camera: Camera, rng: np.random.Generator, *, style: BuildingStyle, along_z: bool,
                        plane: float, lo: float, hi: float, base: float, light: float) -> None:
    """Roll-up doors of an industrial shed: tall light or dark panels with a darker frame."""
    spacing = rng.uniform(6.0, 10.0)
    count = int((hi - lo) // spacing)
    if count < 1:
        return
    centres = lo + (hi - lo - count * spacing) / 2.0 + (np.arange(count) + 0.5) * spacing
    half = rng.uniform(1.6, 2.2)
    top = base + min(rng.uniform(3.5, 4.5), style.height - 2.6)
    door = scale_rgb(mix(style.wall_rgb, (200, 200, 196) if rng.random() < 0.5 else (70, 74, 80), 0.6), light)
    frame = scale_rgb(style.wall_rgb, 0.6 * light)
    for pad, colour in ((0.2, frame), (0.0, door)):
        doors = _rectangles(camera, along_z=along_z, plane=plane, t0=centres - half - pad, t1=centres + half + pad,
                            y0=np.full(count, base), y1=np.full(count, top + pad), min_pixels=1.0)
        out.polygons(doors, colour, label=TrainId.BUILDING, material=Material.METAL)


def draw_building(out: ShapeList, camera: Camera, *, side: int, line_x: float, z0: float, z1: float,
                  style: BuildingStyle, light: tuple[float, float], rng: np.random.Generator,
                  base: float = 0.15) -> None:
    """Draw a building standing on ``side`` (-1 left, +1 right) of the street.

    Parameters
    ----------
    out : ShapeList
        Receives the shapes (end face first, then the facade).
    camera : Camera
    side : int
        -1 for the left side of the street, +1 for the right.
    line_x : float
        ``x`` of the building line (m); the facade stands ``style.setback`` behind it.
    z0, z1 : float
        Depth range (m) of the facade, ``z0 < z1``.
    style : BuildingStyle
    light : tuple[float, float]
        Brightness of (the street facade, the end face).
    rng : np.random.Generator
        For per-window variations.
    base : float
        Height of the ground the building stands on (the sidewalk level).
    """
    z0 = max(z0, 1.0)  # a building reaching behind the camera is cut at 1 m ahead
    if z1 <= z0:
        return
    facade_x = line_x + side * style.setback
    back_x = facade_x + side * style.depth
    # The end face towards the camera (x runs away from the street), then the long facade.
    _draw_face(out, camera, rng, style=style, along_z=False, plane=z0, t0=facade_x, t1=back_x, base=base, light=light[1])
    _draw_face(out, camera, rng, style=style, along_z=True, plane=facade_x, t0=z0, t1=z1, base=base, light=light[0])


def draw_skyline(out: ShapeList, camera: Camera, rng: np.random.Generator, *, depth: float, tint: RGB) -> None:
    """Distant buildings seen face-on at ``depth`` metres: hazy blocks with faint window rows."""
    x = -depth * 1.2
    x_end = depth * 1.2
    while x < x_end:
        width = rng.uniform(0.04, 0.12) * depth
        height = rng.uniform(0.03, 0.25) * depth
        if rng.random() < 0.75:
            colour = mix(pick(rng, _STONE + _PLASTER, amount=0.1), tint, 0.45)
            corners = camera.project(np.array([x, x + width, x + width, x]), np.array([0, 0, height, height]), depth)
            out.polygon(corners, colour, label=TrainId.BUILDING, material=Material.CONCRETE)
            rows = _rectangles(camera, along_z=False, plane=depth, t0=np.full(int(height // 4), x + 0.1 * width),
                               t1=np.full(int(height // 4), x + 0.9 * width), y0=np.arange(int(height // 4)) * 4.0 + 2.0,
                               y1=np.arange(int(height // 4)) * 4.0 + 3.4, min_pixels=1.0)
            out.polygons(rows, scale_rgb(colour, 0.8), label=TrainId.BUILDING, material=Material.GLASS)
        x += width + rng.uniform(0.0, 0.05) * depth

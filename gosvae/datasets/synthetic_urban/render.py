"""Rendering: shapes → exact label map and photographic image, at any resolution.

:func:`render_scene` is the public entry point: it seeds the scene from ``(seed, split, index)``,
lays it out (:mod:`~gosvae.datasets.synthetic_urban.scene`), rasterises the shapes with Pillow
into a colour image and a semantic image (label, material and haze channels) with the same
geometry, then textures, hazes and develops the colours with numpy. No anti-aliasing is used, so
every pixel of the label map names exactly what is painted there.

Three independent random streams are spawned from the item's seed sequence: the layout, the noise
lattices (both independent of the output size) and the per-pixel sensor noise.

Example
-------
>>> image, label = render_scene(seed=0, split="val", index=3, height=64, width=128)
>>> image.shape, image.dtype, label.shape, label.dtype
((64, 128, 3), dtype('uint8'), (64, 128), dtype('uint8'))
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from gosvae.datasets.synthetic_urban.camera import LAYOUT_ASPECT
from gosvae.datasets.synthetic_urban.labels import TrainId
from gosvae.datasets.synthetic_urban.photometry import develop, haze_amount
from gosvae.datasets.synthetic_urban.scene import Scene, build_scene
from gosvae.datasets.synthetic_urban.shapes import NO_LABEL, Shape
from gosvae.datasets.synthetic_urban.street import GROUND_HAZE
from gosvae.datasets.synthetic_urban.textures import Material, NoiseFields, apply_materials, sky_background
from gosvae.errors import UserError

__all__ = ["SPLIT_CODES", "render_scene", "rasterize", "scene_seed_sequence"]

SPLIT_CODES: dict[str, int] = {"train": 0x5EED_0001, "val": 0x5EED_0002, "test": 0x5EED_0003}
"""Distinct seed-sequence entries per split, so no scene is shared between splits."""


def scene_seed_sequence(*, seed: int, split: str, index: int) -> np.random.SeedSequence:
    """``SeedSequence([seed, split code, index])`` after checking the arguments.

    Raises :class:`UserError` for an unknown split or a negative or non-integer seed or index.
    """
    if split not in SPLIT_CODES:
        raise UserError(f"synthetic-urban: unknown split {split!r}; expected one of {', '.join(map(repr, SPLIT_CODES))}")
    for name, value in (("seed", seed), ("index", index)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise UserError(f"synthetic-urban: {name} must be a non-negative integer, got {value!r}")
    return np.random.SeedSequence([int(seed), SPLIT_CODES[split], int(index)])


def rasterize(shapes: list[Shape], *, background: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paint shapes in order over a background with Pillow, no anti-aliasing.

    Input: ``shapes`` in painter's order (layout coordinates); ``background`` (H, W, 3) uint8.
    Output: ``colour`` (H, W, 3) uint8 flat colours; ``label`` (H, W) uint8 train ids (sky where
    nothing is drawn); ``material`` (H, W) uint8; ``haze`` (H, W) uint8 (255 = ground haze).
    """
    height, width = background.shape[:2]
    colour = Image.fromarray(background, mode="RGB")
    # One RGB image carries label, material and haze, so each shape costs one extra fill.
    semantic = Image.new("RGB", (width, height), (int(TrainId.SKY), int(Material.SKY), 0))
    draw_colour, draw_semantic = ImageDraw.Draw(colour), ImageDraw.Draw(semantic)
    if not shapes:
        semantic_array = np.asarray(semantic)
        return np.asarray(colour), semantic_array[..., 0].copy(), semantic_array[..., 1].copy(), semantic_array[..., 2].copy()
    # Scale and bound all vertices at once; per-shape numpy calls would dominate the cost.
    counts = np.fromiter((len(shape.points) for shape in shapes), dtype=np.int64, count=len(shapes))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    points = np.concatenate([shape.points for shape in shapes]) * np.array([width / LAYOUT_ASPECT, height])
    low = np.minimum.reduceat(points, starts, axis=0)
    high = np.maximum.reduceat(points, starts, axis=0)
    visible = ~((high < 0).any(axis=1) | (low[:, 0] > width) | (low[:, 1] > height))
    # One flat list [u0, v0, u1, v1, ...] sliced per shape (Pillow takes flat coordinate lists):
    # thousands of small (u, v) lists would cost more to create, and to garbage-collect, than to draw.
    coordinates = points.ravel().tolist()
    ends = (2 * (starts + counts)).tolist()
    for index, (shape, start, end, is_visible) in enumerate(zip(shapes, (2 * starts).tolist(), ends, visible.tolist())):
        if not is_visible:
            continue  # entirely outside the frame
        labelled = shape.label != NO_LABEL
        if shape.kind == "ellipse":
            box = low[index].tolist() + high[index].tolist()
            draw_colour.ellipse(box, fill=shape.rgb)
            if labelled:
                draw_semantic.ellipse(box, fill=(shape.label, shape.material, shape.haze))
        else:
            polygon = coordinates[start:end]
            draw_colour.polygon(polygon, fill=shape.rgb)
            if labelled:
                draw_semantic.polygon(polygon, fill=(shape.label, shape.material, shape.haze))
    semantic_array = np.asarray(semantic)
    return np.asarray(colour), semantic_array[..., 0].copy(), semantic_array[..., 1].copy(), semantic_array[..., 2].copy()


def _haze_map(haze_bytes: np.ndarray, scene: Scene) -> np.ndarray:
    """(H, W) float32 haze: per shape, or from the depth of the ground plane for ground pixels."""
    height = haze_bytes.shape[0]
    v = (np.arange(height, dtype=np.float64) + 0.5) / height
    below = np.maximum(v - scene.camera.horizon, 1e-4)
    ground_depth = scene.camera.focal * scene.camera.height / below
    ground = haze_amount(ground_depth, visibility=scene.look.visibility).astype(np.float32)
    per_shape = haze_bytes.astype(np.float32) / 254.0
    return np.where(haze_bytes == GROUND_HAZE, ground[:, None], per_shape)


def render_scene(*, seed: int, split: str, index: int, height: int = 256, width: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Render scene ``index`` of ``split`` for ``seed``.

    Parameters
    ----------
    seed : int
        Dataset seed (>= 0).
    split : str
        ``"train"``, ``"val"`` or ``"test"``; splits never share a scene.
    index : int
        Scene number within the split (>= 0).
    height, width : int
        Output size in pixels; the scene is the same at every size (laid out for a 1:2 frame).

    Returns
    -------
    image : np.ndarray
        (height, width, 3) uint8 RGB.
    label : np.ndarray
        (height, width) uint8 Cityscapes train ids 0..18, exact for every pixel.
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UserError(f"synthetic-urban: {name} must be a positive integer, got {value!r}")
    layout_seq, texture_seq, sensor_seq = scene_seed_sequence(seed=seed, split=split, index=index).spawn(3)
    scene = build_scene(np.random.default_rng(layout_seq))
    noise = NoiseFields.generate(np.random.default_rng(texture_seq), height=int(height), width=int(width))
    sky = sky_background(scene.look.sky, horizon=scene.camera.horizon, noise=noise)
    background = (np.clip(sky, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    flat, label, material, haze = rasterize(scene.shapes, background=background)
    colour = flat.astype(np.float32) * np.float32(1.0 / 255.0)
    textured = apply_materials(colour, material, noise)
    image = develop(textured, haze=_haze_map(haze, scene), look=scene.look, rng=np.random.default_rng(sensor_seq))
    return image, label

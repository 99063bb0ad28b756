"""Surface textures: materials, resolution-independent noise fields, and the sky background.

Every drawn shape carries a :class:`Material`. After rasterisation the flat colours are modulated
per pixel by a weighted sum of a few noise fields, with weights looked up from the material map
(:func:`apply_materials`): foliage gets strong fine grain, asphalt mild grain, brick horizontal
streaks, wood vertical streaks, paint almost none. This is vectorised numpy over whole images, so it
costs the same whether a scene has ten shapes or a thousand.

The noise fields are random grids of a fixed size per field, upsampled bicubically to the output
size by Pillow (:func:`value_noise`): the same seed gives the same pattern at any resolution, only
sharper. (No library offers seeded value noise on a fixed lattice at an arbitrary output size; the
two lines here do it with Pillow's resampler.)

Example
-------
>>> rng = np.random.default_rng(0)
>>> fields = NoiseFields.generate(rng, height=64, width=128)
>>> colour = np.full((64, 128, 3), 0.5, dtype=np.float32)
>>> material = np.full((64, 128), Material.FOLIAGE, dtype=np.uint8)
>>> textured = apply_materials(colour, material, fields)
>>> textured.shape, bool(textured.std() > 0.01)
((64, 128, 3), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from PIL import Image

__all__ = ["Material", "NoiseFields", "value_noise", "apply_materials", "sky_background", "SkyStyle"]


class Material(IntEnum):
    """Surface kinds; each selects noise amplitudes in :data:`_LUMINANCE_AMPLITUDE`."""

    SKY = 0
    FLAT = 1
    ASPHALT = 2
    PAVING = 3
    PLASTER = 4
    BRICK = 5
    CONCRETE = 6
    GLASS = 7
    FOLIAGE = 8
    GRASS = 9
    DIRT = 10
    PAINT = 11
    METAL = 12
    RUBBER = 13
    FABRIC = 14
    SKIN = 15
    WOOD = 16
    MARKING = 17
    LAMP = 18
    BARK = 19


# Grid sizes (rows, columns) of the noise lattices; the layout plane is 1 x 2 (see camera.py).
_FIELD_GRIDS: tuple[tuple[int, int], ...] = (
    (5, 10),      # coarse blotches
    (20, 40),     # medium
    (112, 224),   # fine grain (about 2 px at 256x512)
    (128, 12),    # horizontal streaks (courses of brick, siding)
    (10, 192),    # vertical streaks (boards, panels)
)

# Luminance gain per material and field: pixel *= 1 + sum_k amplitude[k] * field_k.
_LUMINANCE_AMPLITUDE = np.zeros((len(Material), len(_FIELD_GRIDS)), dtype=np.float32)
for _material, _amplitudes in {
    Material.FLAT: (0.03, 0.03, 0.02, 0.0, 0.0),
    Material.ASPHALT: (0.07, 0.06, 0.10, 0.0, 0.0),
    Material.PAVING: (0.06, 0.05, 0.08, 0.05, 0.0),
    Material.PLASTER: (0.04, 0.04, 0.05, 0.0, 0.0),
    Material.BRICK: (0.05, 0.06, 0.09, 0.16, 0.0),
    Material.CONCRETE: (0.04, 0.06, 0.07, 0.0, 0.05),
    Material.GLASS: (0.12, 0.10, 0.02, 0.0, 0.05),
    Material.FOLIAGE: (0.12, 0.18, 0.38, 0.0, 0.0),
    Material.GRASS: (0.08, 0.10, 0.16, 0.06, 0.0),
    Material.DIRT: (0.10, 0.12, 0.14, 0.0, 0.0),
    Material.PAINT: (0.03, 0.02, 0.015, 0.0, 0.0),
    Material.METAL: (0.03, 0.03, 0.02, 0.0, 0.08),
    Material.RUBBER: (0.03, 0.03, 0.04, 0.0, 0.0),
    Material.FABRIC: (0.04, 0.05, 0.06, 0.0, 0.0),
    Material.SKIN: (0.02, 0.02, 0.02, 0.0, 0.0),
    Material.WOOD: (0.05, 0.05, 0.06, 0.0, 0.16),
    Material.MARKING: (0.06, 0.10, 0.14, 0.0, 0.0),
    Material.BARK: (0.05, 0.08, 0.16, 0.0, 0.12),
}.items():
    _LUMINANCE_AMPLITUDE[_material] = _amplitudes

# Colour shift per material, driven by the medium field: pixel_c *= 1 + chroma[c] * field_1.
_CHROMA = np.zeros((len(Material), 3), dtype=np.float32)
_CHROMA[Material.FOLIAGE] = (0.16, 0.06, -0.10)
_CHROMA[Material.GRASS] = (0.08, 0.03, -0.05)
_CHROMA[Material.DIRT] = (0.06, 0.02, -0.05)
_CHROMA[Material.BRICK] = (0.05, -0.02, -0.04)

# The same tables transposed (one contiguous row per field or channel) for fast ``np.take`` lookups.
_LUMINANCE_BY_FIELD = np.ascontiguousarray(_LUMINANCE_AMPLITUDE.T)
_CHROMA_BY_CHANNEL = np.ascontiguousarray(_CHROMA.T)


def _interleave(channels: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Stack per-channel planes into one (H, W, C) array (planes broadcastable to ``shape``).

    Per-channel work on (H, W) planes runs long contiguous loops; broadcasting against a trailing
    axis of 3 runs numpy's inner loop three elements at a time and is several times slower.
    """
    return np.stack([np.broadcast_to(channel, shape) for channel in channels], axis=-1)


def value_noise(rng: np.random.Generator, grid: tuple[int, int], *, height: int, width: int) -> np.ndarray:
    """Smooth noise: a standard-normal ``grid`` upsampled bicubically to (height, width).

    Output: (height, width) float32, zero mean, roughly unit peak amplitude. The random numbers
    drawn depend only on ``grid``, so one seed gives one pattern at every resolution.
    """
    lattice = rng.standard_normal(grid).astype(np.float32)
    image = Image.fromarray(lattice, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32)


@dataclass(frozen=True)
class NoiseFields:
    """The noise fields of one image.

    Attributes
    ----------
    fields : np.ndarray
        (K, H, W) float32, one per lattice of ``_FIELD_GRIDS``: coarse, medium, fine, horizontal
        streaks, vertical streaks.
    """

    fields: np.ndarray

    @classmethod
    def generate(cls, rng: np.random.Generator, *, height: int, width: int) -> "NoiseFields":
        stacked = np.stack([value_noise(rng, grid, height=height, width=width) for grid in _FIELD_GRIDS])
        return cls(stacked)

    @property
    def coarse(self) -> np.ndarray:
        return self.fields[0]

    @property
    def medium(self) -> np.ndarray:
        return self.fields[1]

    @property
    def fine(self) -> np.ndarray:
        return self.fields[2]


def apply_materials(colour: np.ndarray, material: np.ndarray, noise: NoiseFields) -> np.ndarray:
    """Texture flat colours by material.

    Input: ``colour`` (H, W, 3) float32 in [0, 1]; ``material`` (H, W) uint8 :class:`Material` ids;
    ``noise`` fields of the same (H, W).
    Output: (H, W, 3) float32, not clipped.
    """
    gain = np.ones(material.shape, dtype=np.float32)
    for amplitude, field in zip(_LUMINANCE_BY_FIELD, noise.fields):
        gain += np.take(amplitude, material) * field
    chroma = []
    for shift in _CHROMA_BY_CHANNEL:  # per channel: (1 + chroma * medium) * gain
        plane = np.take(shift, material) * noise.medium
        plane += 1.0
        plane *= gain
        chroma.append(plane)
    return colour * _interleave(chroma, material.shape)


@dataclass(frozen=True)
class SkyStyle:
    """Colours and clouds of the sky: a vertical gradient plus noise-shaped clouds.

    ``cloud_cover`` in [0, 1] (0 = clear); ``cloud_rgb`` the lit cloud colour.
    """

    zenith_rgb: tuple[float, float, float]
    horizon_rgb: tuple[float, float, float]
    cloud_rgb: tuple[float, float, float]
    cloud_cover: float


def sky_background(style: SkyStyle, *, horizon: float, noise: NoiseFields) -> np.ndarray:
    """The sky painted over the whole frame, to be covered by the scene.

    Input: ``style``; ``horizon`` the layout ``v`` of the horizon; ``noise`` of the output size.
    Output: (H, W, 3) float32 in [0, 1].
    """
    height, width = noise.coarse.shape
    v = (np.arange(height, dtype=np.float32) + 0.5) / height
    t = np.clip(v / max(horizon, 1e-3), 0.0, 1.0) ** 1.6
    zenith = np.asarray(style.zenith_rgb, dtype=np.float32) / 255.0
    low = np.asarray(style.horizon_rgb, dtype=np.float32) / 255.0
    gradient = zenith[None, :] * (1.0 - t[:, None]) + low[None, :] * t[:, None]  # (H, 3)
    channels = [gradient[:, c, None] for c in range(3)]  # (H, 1) each, broadcast along the rows
    if style.cloud_cover > 0.0:
        density = 0.65 * noise.coarse + 0.35 * noise.medium
        threshold = 1.0 - 1.6 * style.cloud_cover
        alpha = np.clip((density - threshold) * 1.5, 0.0, 1.0)
        alpha *= np.clip(1.3 - t, 0.0, 1.0)[:, None]  # thinner towards the horizon
        shade = 0.88 + 0.08 * noise.medium + 0.04 * noise.fine
        cloud_rgb = np.asarray(style.cloud_rgb, dtype=np.float32) / 255.0
        channels = [sky + alpha * (cloud_rgb[c] * shade - sky) for c, sky in enumerate(channels)]
    return _interleave(channels, (height, width))

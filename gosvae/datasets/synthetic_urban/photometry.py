"""Scene lighting and the camera's rendering of it: weather, haze, exposure, white balance, noise.

:func:`sample_look` draws the photometric look of a scene (sunny, overcast or dusk; sun side;
visibility; exposure; colour balance; sensor noise). :func:`develop` turns the textured linear
colours into the final 8-bit image: aerial perspective towards the horizon colour, exposure and
white balance, vignetting, a tone curve and mild Gaussian sensor noise.

Example
-------
>>> rng = np.random.default_rng(0)
>>> look = sample_look(rng)
>>> colour = np.full((4, 8, 3), 0.5, dtype=np.float32)
>>> image = develop(colour, haze=np.zeros((4, 8), np.float32), look=look, rng=rng)
>>> image.dtype, image.shape
(dtype('uint8'), (4, 8, 3))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from gosvae.datasets.synthetic_urban.colors import hsv, jitter, mix
from gosvae.datasets.synthetic_urban.textures import SkyStyle

__all__ = ["Look", "sample_look", "develop", "haze_amount"]


@dataclass(frozen=True)
class Look:
    """Photometric parameters of one scene.

    Attributes
    ----------
    weather : str
        ``"sunny"``, ``"overcast"`` or ``"dusk"``.
    sky : SkyStyle
    facade_light : tuple[float, float]
        Brightness of building faces along the (left, right) side of the street.
    end_face_light : float
        Brightness of faces turned towards the camera.
    visibility : float
        Distance (m) at which haze reaches 63 %.
    haze_rgb : tuple[float, float, float]
    exposure : float
    white_balance : tuple[float, float, float]
    gamma : float
    vignette : float
        Relative darkening at the corners.
    noise_sigma : float
        Standard deviation of the sensor noise (fraction of full scale).
    lit_windows : float
        Fraction of lit windows (more at dusk).
    """

    weather: str
    sky: SkyStyle
    facade_light: tuple[float, float]
    end_face_light: float
    visibility: float
    haze_rgb: tuple[float, float, float]
    exposure: float
    white_balance: tuple[float, float, float]
    gamma: float
    vignette: float
    noise_sigma: float
    lit_windows: float


def sample_look(rng: np.random.Generator) -> Look:
    """A random look: 60 % sunny, 28 % overcast, 12 % dusk."""
    weather = str(rng.choice(["sunny", "overcast", "dusk"], p=[0.6, 0.28, 0.12]))
    if weather == "sunny":
        zenith = hsv(rng.uniform(205, 225), rng.uniform(0.45, 0.7), rng.uniform(0.7, 0.92))
        horizon = mix(zenith, (240, 244, 248), rng.uniform(0.55, 0.8))
        sky = SkyStyle(zenith, horizon, (250, 250, 250), float(rng.choice([0.0, rng.uniform(0.1, 0.6)])))
        sunny = rng.uniform(0.95, 1.1)
        shaded = rng.uniform(0.6, 0.8)
        facade = (sunny, shaded) if rng.random() < 0.5 else (shaded, sunny)
        visibility, exposure, lit = rng.uniform(600, 2000), rng.uniform(0.95, 1.12), 0.02
    elif weather == "overcast":
        grey = rng.uniform(150, 205)
        zenith = jitter((grey - 15, grey - 8, grey), rng, amount=0.05)
        horizon = jitter((grey + 15, grey + 18, grey + 22), rng, amount=0.04)
        sky = SkyStyle(zenith, horizon, (grey + 20, grey + 20, grey + 22), rng.uniform(0.5, 1.0))
        facade = (rng.uniform(0.8, 0.95), rng.uniform(0.8, 0.95))
        visibility, exposure, lit = rng.uniform(250, 800), rng.uniform(0.9, 1.05), 0.05
    else:
        zenith = hsv(rng.uniform(215, 235), rng.uniform(0.5, 0.7), rng.uniform(0.35, 0.55))
        horizon = hsv(rng.uniform(15, 40), rng.uniform(0.35, 0.6), rng.uniform(0.8, 0.95))
        sky = SkyStyle(zenith, horizon, mix(horizon, (120, 100, 120), 0.4), rng.uniform(0.0, 0.5))
        facade = (rng.uniform(0.7, 0.85), rng.uniform(0.7, 0.85))
        visibility, exposure, lit = rng.uniform(400, 1200), rng.uniform(0.75, 0.9), 0.3
    return Look(
        weather=weather,
        sky=sky,
        facade_light=facade,
        end_face_light=float(rng.uniform(0.8, 0.95)),
        visibility=visibility,
        haze_rgb=tuple(float(c) for c in sky.horizon_rgb),
        exposure=exposure,
        white_balance=tuple(float(c) for c in rng.uniform(0.94, 1.06, size=3)),
        gamma=float(rng.uniform(0.9, 1.1)),
        vignette=float(rng.uniform(0.0, 0.25)),
        noise_sigma=float(rng.uniform(0.004, 0.014)),
        lit_windows=lit,
    )


def haze_amount(depth: np.ndarray | float, *, visibility: float) -> np.ndarray:
    """Aerial perspective ``1 - exp(-depth / visibility)`` in [0, 1] (same shape as ``depth``)."""
    return 1.0 - np.exp(-np.asarray(depth, dtype=np.float64) / visibility)


def develop(colour: np.ndarray, *, haze: np.ndarray, look: Look, rng: np.random.Generator) -> np.ndarray:
    """Final image from textured colours.

    Input: ``colour`` (H, W, 3) float32 (linear-ish, about [0, 1]); ``haze`` (H, W) float32 in
    [0, 1]; ``look``; ``rng`` for the sensor noise.
    Output: (H, W, 3) uint8 RGB.
    """
    height, width = haze.shape
    # Work on (H, 3W) rows: per-channel constants become one tiled row and per-pixel values are
    # repeated per channel, so every numpy loop runs over whole rows (element-wise the same maths).
    haze_rgb = np.tile(np.asarray(look.haze_rgb, dtype=np.float32) / 255.0, width)
    out = colour.reshape(height, 3 * width) - haze_rgb  # a new array; the rest works in place on it
    out *= _per_channel(1.0 - haze)
    out += haze_rgb
    gain = np.tile(look.exposure * np.asarray(look.white_balance, dtype=np.float32) * 255.0, width)
    if look.vignette > 0.0:
        falloff = 1.0 - look.vignette * 0.5 * _radius_squared(height, width)
        out *= _per_channel(falloff) * gain
    else:
        out *= gain
    noise = rng.standard_normal((height, width, 3), dtype=np.float32).reshape(out.shape)
    noise *= np.float32(255.0 * look.noise_sigma)
    out += noise
    out += 0.5
    np.clip(out, 0.0, 255.0, out=out)
    pixels = out.astype(np.uint8)
    # Tone curve as a 256-entry lookup table: cheaper than a power over every pixel.
    curve = np.clip(255.0 * (np.arange(256) / 255.0) ** look.gamma + 0.5, 0, 255).astype(np.uint8)
    return np.take(curve, pixels).reshape(height, width, 3)


def _per_channel(plane: np.ndarray) -> np.ndarray:
    """(H, W) values repeated for the three channels of a pixel: (H, 3W), same dtype."""
    return np.stack([plane, plane, plane], axis=-1).reshape(plane.shape[0], -1)


@functools.lru_cache(maxsize=8)
def _radius_squared(height: int, width: int) -> np.ndarray:
    """(H, W) float32 squared distance from the image centre, corners at 2 (read-only, cached)."""
    yy = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    radius = xx * xx + yy * yy
    radius.flags.writeable = False
    return radius

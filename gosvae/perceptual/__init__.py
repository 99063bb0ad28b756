"""Perceptual image distances: LPIPS v0.1 (VGG16) implemented without torchvision.

Example
-------
>>> from gosvae.perceptual import load_lpips, resolve_lpips_weight_paths
>>> paths = resolve_lpips_weight_paths()          # from GOSVAE_VGG16_WEIGHTS / GOSVAE_LPIPS_WEIGHTS  # doctest: +SKIP
>>> metric = load_lpips(vgg16_weights=paths.vgg16_weights, lpips_weights=paths.lpips_weights)  # doctest: +SKIP
>>> metric(x, x_hat)                              # (B,) distances                             # doctest: +SKIP
"""

from gosvae.perceptual.lpips import (
    LPIPS,
    LPIPS_VGG_WEIGHTS_URL,
    LPIPS_WEIGHTS_ENV,
    VGG16_WEIGHTS_ENV,
    VGG16_WEIGHTS_URL,
    LPIPSWeightPaths,
    load_lpips,
    lpips_weights_available,
    resolve_lpips_weight_paths,
)
from gosvae.perceptual.vgg16 import VGG16_TAP_CHANNELS, VGG16_TAP_NAMES, VGG16Trunk

__all__ = [
    "LPIPS",
    "LPIPS_VGG_WEIGHTS_URL",
    "LPIPS_WEIGHTS_ENV",
    "LPIPSWeightPaths",
    "VGG16_TAP_CHANNELS",
    "VGG16_TAP_NAMES",
    "VGG16_WEIGHTS_ENV",
    "VGG16_WEIGHTS_URL",
    "VGG16Trunk",
    "load_lpips",
    "lpips_weights_available",
    "resolve_lpips_weight_paths",
]

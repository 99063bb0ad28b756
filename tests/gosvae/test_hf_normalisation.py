"""The normalisation read from a ``preprocessor_config.json`` (gosvae/teachers/hf_common.py) against
the image processors' formula: p = 255 x, times ``rescale_factor`` if ``do_rescale``, then
(p - mean) / std if ``do_normalize``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gosvae.errors import ConfigError
from gosvae.teachers.hf_common import normalisation_from_preprocessor_config


@pytest.mark.parametrize(
    "config",
    [
        {"do_rescale": True, "rescale_factor": 1 / 255, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.2, 0.2, 0.2]},
        {"do_rescale": False, "image_mean": [123.675, 116.28, 103.53], "image_std": [58.395, 57.12, 57.375]},
        {"rescale_factor": 2 / 255, "image_mean": [1.0, 1.0, 1.0], "image_std": [1.0, 1.0, 1.0]},  # default do_rescale
        {"image_mean": 0.5, "image_std": 0.25},  # scalars, default rescaling
        {"do_normalize": False},
        {"do_normalize": False, "do_rescale": False},
    ],
)
def test_normalisation_reproduces_the_processor_formula(config):
    # The processor: p = 255 x; p *= rescale_factor if do_rescale; (p - mean) / std if do_normalize.
    x = np.random.default_rng(1).random((3, 4, 5))
    scale = config.get("rescale_factor", 1 / 255) if config.get("do_rescale", True) else 1.0
    expected = 255.0 * x * scale
    if config.get("do_normalize", True):
        image_mean = np.broadcast_to(np.asarray(config["image_mean"], dtype=np.float64), (3,))
        image_std = np.broadcast_to(np.asarray(config["image_std"], dtype=np.float64), (3,))
        expected = (expected - image_mean[:, None, None]) / image_std[:, None, None]

    mean, std = normalisation_from_preprocessor_config(config)
    actual = (x - np.asarray(mean)[:, None, None]) / np.asarray(std)[:, None, None]
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def test_normalisation_keeps_the_statistics_for_the_usual_rescale_factor():
    config = {"do_rescale": True, "rescale_factor": 1 / 255, "image_mean": [0.1, 0.2, 0.3], "image_std": [0.4, 0.5, 0.6]}
    mean, std = normalisation_from_preprocessor_config(config)
    np.testing.assert_allclose(mean, [0.1, 0.2, 0.3], rtol=1e-15)
    np.testing.assert_allclose(std, [0.4, 0.5, 0.6], rtol=1e-15)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"image_std": [1, 1, 1]}, "image_mean"),
        ({"image_mean": [0, 0, 0]}, "image_std"),
        ({"image_mean": [0, 0], "image_std": [1, 1, 1]}, "image_mean"),
        ({"image_mean": [0, 0, 0], "image_std": [1, 0, 1]}, "image_std"),
        ({"image_mean": [0, "a", 0], "image_std": [1, 1, 1]}, "image_mean"),
    ],
)
def test_malformed_statistics_are_config_errors_naming_file_and_field(config, field):
    with pytest.raises(ConfigError, match=rf"my/preprocessor_config\.json: field '{field}'"):
        normalisation_from_preprocessor_config(config, source="my/preprocessor_config.json")


def test_statistics_in_0_255_with_rescaling_warn():
    config = {"do_rescale": True, "image_mean": [123.675, 116.28, 103.53], "image_std": [58.395, 57.12, 57.375]}
    with pytest.warns(UserWarning, match="image_mean"):
        normalisation_from_preprocessor_config(config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normalisation_from_preprocessor_config({**config, "do_rescale": False})

"""Shared parts of the Hugging Face ``transformers`` teacher adapters.

- :func:`normalisation_from_preprocessor_config` turns a checkpoint's ``preprocessor_config.json``
  into the ``mean``/``std`` that :meth:`Teacher.normalize` applies to images in ``[0, 1]``;
- :func:`read_preprocessor_config` finds that file in a checkpoint folder;
- :class:`HFTeacher` holds a ``transformers`` model, its class names, and turns ``[0, 1]``
  images into the ``pixel_values`` the model expects.

Why the normalisation is rewritten here rather than calling the image processor: the processors
work on PIL images or numpy arrays (their torch backend needs torchvision) and are not
differentiable, while the codec is trained through the teacher. Only the affine part of the
processor (rescale, then normalise) is reproduced; resizing and padding are the caller's business.

Example
-------
>>> mean, std = normalisation_from_preprocessor_config(
...     {"do_rescale": True, "rescale_factor": 1 / 255, "image_mean": [0.5] * 3, "image_std": [0.25] * 3})
>>> mean, std
((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

import torch

from gosvae.errors import ConfigError, UserError
from gosvae.teachers.base import Teacher

if TYPE_CHECKING:  # transformers is imported lazily: it takes seconds to import
    from transformers import PretrainedConfig, PreTrainedModel

PREPROCESSOR_CONFIG_NAME = "preprocessor_config.json"
PROCESSOR_CONFIG_NAME = "processor_config.json"  # transformers >= 5 nests the image processor here

# Defaults of the image processors of the supported models (``BaseImageProcessor`` attributes).
_DEFAULT_DO_RESCALE = True
_DEFAULT_RESCALE_FACTOR = 1.0 / 255.0
_DEFAULT_DO_NORMALIZE = True


def _three_floats(value: Any, *, field: str, source: str) -> tuple[float, float, float]:
    """A per-channel statistic as three floats (a single number applies to every channel)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * 3
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ConfigError(f"{source}: field '{field}' must be 3 numbers (one per RGB channel), found {value!r}")
    try:
        floats = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: field '{field}' must be 3 numbers, found {value!r}") from None
    if not all(math.isfinite(v) for v in floats):
        raise ConfigError(f"{source}: field '{field}' must be finite, found {value!r}")
    return floats  # type: ignore[return-value]


def normalisation_from_preprocessor_config(
    config: Mapping[str, Any], *, source: str = PREPROCESSOR_CONFIG_NAME
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """``mean``/``std`` such that ``(x - mean) / std`` equals the image processor's output.

    A ``transformers`` image processor takes 8-bit pixels ``p = 255 x`` and returns
    ``(s p - image_mean) / image_std``, where ``s = rescale_factor`` if ``do_rescale`` else 1
    (and ``image_mean = 0``, ``image_std = 1`` if not ``do_normalize``). For ``x`` in ``[0, 1]``
    this is ``(x - image_mean / k) / (image_std / k)`` with ``k = 255 s``: with the usual
    ``rescale_factor = 1/255``, ``k = 1`` and the file's statistics apply unchanged; without
    rescaling (statistics given in 0..255, as in Detectron2 exports), ``k = 255``.

    Input
    -----
    config : Mapping[str, Any]
        The parsed ``preprocessor_config.json`` (fields ``do_rescale``, ``rescale_factor``,
        ``do_normalize``, ``image_mean``, ``image_std``; missing flags take the processors'
        defaults, ``True``, ``1/255`` and ``True``).
    source : str
        Name of the file, used in error messages.

    Output
    ------
    (mean, std) : tuple of two ``(float, float, float)``
        Per-channel statistics for images in ``[0, 1]``.

    Raises :class:`ConfigError` naming ``source`` and the field when a statistic is missing or
    malformed, or ``std`` is not positive.

    Example
    -------
    >>> normalisation_from_preprocessor_config(
    ...     {"do_rescale": False, "image_mean": [127.5] * 3, "image_std": [51.0] * 3})
    ((0.5, 0.5, 0.5), (0.2, 0.2, 0.2))
    """
    do_rescale = bool(config.get("do_rescale", _DEFAULT_DO_RESCALE))
    do_normalize = bool(config.get("do_normalize", _DEFAULT_DO_NORMALIZE))
    rescale_factor = float(config.get("rescale_factor", _DEFAULT_RESCALE_FACTOR)) if do_rescale else 1.0
    if not rescale_factor > 0:
        raise ConfigError(f"{source}: field 'rescale_factor' must be positive, found {rescale_factor!r}")
    if do_normalize:
        for field in ("image_mean", "image_std"):
            if config.get(field) is None:
                raise ConfigError(f"{source}: field '{field}' is missing (expected 3 numbers, one per RGB channel)")
        mean = _three_floats(config["image_mean"], field="image_mean", source=source)
        std = _three_floats(config["image_std"], field="image_std", source=source)
        if min(std) <= 0:
            raise ConfigError(f"{source}: field 'image_std' must be positive, found {list(std)}")
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    pixel_scale = 255.0 * rescale_factor  # k: the processor's pixel value for x = 1
    if do_normalize and max(abs(m) for m in mean) > 2.0 * pixel_scale:
        warnings.warn(
            f"{source}: image_mean {list(mean)} is far outside the rescaled pixel range [0, {pixel_scale:g}]"
            " (statistics in 0..255 with do_rescale true?); the teacher reproduces the processor as written",
            stacklevel=2,
        )
    scaled_mean = tuple(m / pixel_scale for m in mean)
    scaled_std = tuple(s / pixel_scale for s in std)
    return scaled_mean, scaled_std  # type: ignore[return-value]


def read_preprocessor_config(folder: Path) -> tuple[dict[str, Any], Path]:
    """The image-processor settings saved with a checkpoint, and the file they came from.

    Reads ``folder/preprocessor_config.json``, or else the ``image_processor`` entry of
    ``folder/processor_config.json`` (the layout written by ``ProcessorMixin.save_pretrained``
    in ``transformers`` 5). Raises :class:`UserError` when neither exists or the JSON is broken.
    """
    candidates = (folder / PREPROCESSOR_CONFIG_NAME, folder / PROCESSOR_CONFIG_NAME)
    for path in candidates:
        if not path.is_file():
            continue
        data = read_json_object(path)
        if path.name == PROCESSOR_CONFIG_NAME:
            data = data.get("image_processor")
            if not isinstance(data, dict):
                continue
        return data, path
    raise UserError(
        f"{folder}: no {PREPROCESSOR_CONFIG_NAME} (expected the image-processor settings saved with the"
        " checkpoint; they give the input normalisation)"
    )


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object stored in ``path``; :class:`ConfigError` naming the file if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def class_names_from_config(config: "PretrainedConfig") -> list[str]:
    """``config.id2label`` as a list ordered by class id (``LABEL_i`` where an id has no name)."""
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    return [id2label.get(i, f"LABEL_{i}") for i in range(int(config.num_labels))]


class HFTeacher(Teacher):
    """A frozen ``transformers`` segmentation model behind the :class:`Teacher` contract.

    Subclasses implement :meth:`class_probabilities` and :meth:`logits` for one model family.
    The wrapped model is frozen at construction (no parameter requires gradients, eval mode for
    good), but gradients still flow to the input images.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        The segmentation model, already built or loaded (``num_labels`` classes).
    mean, std : sequence of 3 floats
        Normalisation for images in ``[0, 1]``, see :func:`normalisation_from_preprocessor_config`.
    """

    model_type: ClassVar[str]
    """``model_type`` written in the checkpoint's ``config.json``."""
    hf_model_class: ClassVar[str]
    """Name of the ``transformers`` class that loads the checkpoint."""
    config_overrides: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    """Config attributes forced when loading (passed to ``from_pretrained``)."""

    def __init__(self, model: "PreTrainedModel", *, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__(mean=mean, std=std)
        self.model = model
        self.num_classes = int(model.config.num_labels)
        self.class_names = class_names_from_config(model.config)
        self.freeze()

    def pixel_values(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised model input (B, 3, H, W) in the model's dtype, from ``x`` (B, 3, H, W) in [0, 1]."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"{type(self).__name__}: expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        model_dtype = next(self.model.parameters()).dtype
        return self.normalize(x).to(model_dtype)

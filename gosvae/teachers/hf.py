"""Load a Hugging Face ``transformers`` segmentation checkpoint from a local folder as a teacher.

Supported models (``architectures`` / ``model_type`` of ``config.json``):

- ``SegformerForSemanticSegmentation`` (``segformer``) → :class:`SegformerTeacher`
- ``UperNetForSemanticSegmentation`` (``upernet``) → :class:`UperNetTeacher`
- ``Mask2FormerForUniversalSegmentation`` (``mask2former``) → :class:`Mask2FormerTeacher`
- ``OneFormerForUniversalSegmentation`` (``oneformer``) → :class:`OneFormerTeacher`

The folder is what ``save_pretrained`` writes (``config.json``, the weights) plus the image
processor's ``preprocessor_config.json``, whose rescale/normalisation settings become the
teacher's input normalisation. Nothing is downloaded (``local_files_only=True``); the model is
loaded in float32 (``teacher.to(...)`` changes device and dtype).

Image resizing is the caller's business: the teacher segments the images at the size it is
given, whereas the checkpoint's image processor would first resize them (e.g. shortest edge 512
or 1024) and, for Mask2Former/OneFormer, pad them to a multiple of 32. For the accuracy reported
with a checkpoint, resize the images to the resolution it was trained at (sizes that are
multiples of 32 suit every supported backbone).

Example
-------
>>> teacher = load_hf_teacher("/models/segformer-b0-cityscapes")   # doctest: +SKIP
>>> probabilities = teacher(torch.rand(2, 3, 512, 1024))            # doctest: +SKIP
>>> probabilities.shape, teacher.class_names[:3]                    # doctest: +SKIP
(torch.Size([2, 19, 512, 1024]), ['road', 'sidewalk', 'building'])
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from gosvae.errors import MissingWeightsError, UserError
from gosvae.teachers.hf_common import (
    HFTeacher,
    normalisation_from_preprocessor_config,
    read_json_object,
    read_preprocessor_config,
)
from gosvae.teachers.hf_mask_classification import Mask2FormerTeacher, OneFormerTeacher
from gosvae.teachers.hf_segformer import SegformerTeacher, UperNetTeacher

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = [
    "HF_TEACHER_CLASSES",
    "Mask2FormerTeacher",
    "OneFormerTeacher",
    "SegformerTeacher",
    "UperNetTeacher",
    "load_hf_teacher",
]

HF_TEACHER_CLASSES: tuple[type[HFTeacher], ...] = (
    SegformerTeacher,
    UperNetTeacher,
    Mask2FormerTeacher,
    OneFormerTeacher,
)
"""Teacher adapters, each for one ``transformers`` model class."""

_SUPPORTED = ", ".join(f"{t.hf_model_class} ({t.model_type})" for t in HF_TEACHER_CLASSES)


def load_hf_teacher(path: str | Path) -> HFTeacher:
    """A frozen teacher from a local ``transformers`` checkpoint folder.

    Input
    -----
    path : str or Path
        Folder holding ``config.json``, the weights (``model.safetensors`` or
        ``pytorch_model.bin``) and ``preprocessor_config.json``.

    Output
    ------
    :class:`HFTeacher`
        ``teacher(x)`` maps ``x`` (B, 3, H, W) float in [0, 1] to class probabilities
        (B, m, H, W), with ``m = config.num_labels`` and ``teacher.class_names`` from
        ``config.id2label``. Frozen: eval mode for good, no parameter requires gradients.

    Raises :class:`UserError` (missing folder or file, unsupported model) or
    :class:`MissingWeightsError` (no weights, or weights of another model class) with a
    one-line message naming the path.

    Example
    -------
    >>> teacher = load_hf_teacher("~/models/oneformer_cityscapes_swin_large")   # doctest: +SKIP
    >>> teacher.predict(torch.rand(1, 3, 512, 1024)).shape                      # doctest: +SKIP
    torch.Size([1, 512, 1024])
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder (expected a transformers checkpoint of {_SUPPORTED})")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UserError(f"{config_path}: missing (expected the model config of a checkpoint of {_SUPPORTED})")
    teacher_class = _teacher_class_for(read_json_object(config_path), source=config_path)
    preprocessor_config, preprocessor_path = read_preprocessor_config(folder)
    mean, std = normalisation_from_preprocessor_config(preprocessor_config, source=str(preprocessor_path))
    model = _load_model(teacher_class, folder)
    return teacher_class(model, mean=mean, std=std)


def _teacher_class_for(config: Mapping[str, Any], *, source: Path) -> type[HFTeacher]:
    """The adapter for a ``config.json``: by ``architectures`` when given, else by ``model_type``."""
    by_model_class = {t.hf_model_class: t for t in HF_TEACHER_CLASSES}
    architectures = config.get("architectures") or []
    for architecture in architectures:
        if architecture in by_model_class:
            return by_model_class[architecture]
    if architectures:
        raise UserError(f"{source}: architectures {list(architectures)} not supported (supported: {_SUPPORTED})")
    by_model_type = {t.model_type: t for t in HF_TEACHER_CLASSES}
    model_type = config.get("model_type")
    if model_type not in by_model_type:
        raise UserError(f"{source}: model_type {model_type!r} not supported (supported: {_SUPPORTED})")
    return by_model_type[model_type]


def _load_model(teacher_class: type[HFTeacher], folder: Path) -> "PreTrainedModel":
    """The checkpoint's model in float32, refusing checkpoints whose weights do not all load."""
    import transformers  # lazily: importing transformers takes seconds

    model_class = getattr(transformers, teacher_class.hf_model_class)
    try:
        model, loading_info = model_class.from_pretrained(
            folder, local_files_only=True, output_loading_info=True, **teacher_class.config_overrides
        )
    except ImportError as exc:  # e.g. scipy for Mask2Former/OneFormer
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{folder}: {teacher_class.hf_model_class} needs a package that is not installed ({first_line})"
        ) from None
    except OSError as exc:  # no or unreadable weights file
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MissingWeightsError(
            f"{folder}: cannot load {teacher_class.hf_model_class} weights ({first_line})"
        ) from None
    missing_keys = sorted(loading_info.get("missing_keys") or [])
    if missing_keys:
        raise MissingWeightsError(
            f"{folder}: the weights lack {len(missing_keys)} parameters of {teacher_class.hf_model_class}"
            f" (e.g. '{missing_keys[0]}'); expected a checkpoint of that class, not of its backbone"
        )
    return model.float().eval()

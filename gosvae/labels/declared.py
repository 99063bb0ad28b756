"""Label spaces read from declarations alone (zoo entries, dataset classes), before any work.

Scenarios and ``gosvae eval`` check that the teacher's classes reach the dataset's (identity,
shipped or named mapping) before they load images or weights.

Example
-------
>>> check_declared_spaces(teacher="urban-unet", dataset="camvid").describe()      # doctest: +SKIP
'cityscapes-19 → camvid-11 (cityscapes-19_to_camvid-11)'
"""

from __future__ import annotations

from pathlib import Path

from gosvae.datasets.base import CITYSCAPES_CLASSES
from gosvae.labels.mapping import LabelMapping, resolve_mapping
from gosvae.labels.spaces import LabelSpace, label_space_of

__all__ = ["check_declared_spaces", "declared_dataset_space", "declared_teacher_space", "entry_class_names"]


def entry_class_names(arch_config: dict) -> list[str]:
    """Class names of a zoo teacher from its ``arch_config`` (19 classes without names: Cityscapes)."""
    names = arch_config.get("class_names")
    if names is None:
        count = int(arch_config.get("num_classes", len(CITYSCAPES_CLASSES)))
        names = CITYSCAPES_CLASSES if count == len(CITYSCAPES_CLASSES) else [f"class{i}" for i in range(count)]
    return list(names)


def declared_teacher_space(spec: str) -> LabelSpace | None:
    """The label space of a zoo teacher (``None`` for a local model folder: known once loaded)."""
    from gosvae.zoo import get_entry

    if Path(spec).is_dir():
        return None
    entry = get_entry(spec)
    return label_space_of(entry_class_names(entry.arch_config))


def declared_dataset_space(name: str) -> LabelSpace | None:
    """The label space a registered dataset declares (``None`` if it declares no classes)."""
    import gosvae.datasets  # noqa: F401 - registers the built-in datasets
    from gosvae.registry import DATASETS

    names = getattr(DATASETS.get(name), "class_names", None)
    return label_space_of(names) if names else None


def check_declared_spaces(*, teacher: str, dataset: str, mapping: str | None = None) -> LabelMapping | None:
    """The mapping scores will use, from declarations; :class:`~gosvae.errors.UserError` (one line)
    if the spaces differ and no mapping is shipped or named. ``None`` when a space is not declared."""
    teacher_space, dataset_space = declared_teacher_space(teacher), declared_dataset_space(dataset)
    if teacher_space is None or dataset_space is None:
        return None
    return resolve_mapping(teacher_space, dataset_space, mapping=mapping)

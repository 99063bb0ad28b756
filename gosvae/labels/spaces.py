"""Label spaces: the class list a dataset's labels or a teacher's outputs are written in.

Every dataset and every teacher declares a :class:`LabelSpace`: a name, the ordered class names
(class id = position) and the ignore id. Two spaces are the same only if their names and class
lists agree; scores are computed in the dataset's space (see :mod:`gosvae.labels.mapping`).

Example
-------
>>> space = label_space_of(["Sky", "Building"])
>>> space.name, space.num_classes
('custom-2', 2)
>>> KNOWN_SPACES["camvid-11"].class_names[:2]
('Sky', 'Building')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from gosvae.datasets.ade20k import ADE20K_CLASSES
from gosvae.datasets.base import CITYSCAPES_CLASSES, IGNORE_INDEX
from gosvae.datasets.camvid import CAMVID_CLASSES

__all__ = ["LabelSpace", "KNOWN_SPACES", "dataset_class_names", "label_space_of"]


@dataclass(frozen=True)
class LabelSpace:
    """An ordered list of classes.

    Attributes
    ----------
    name : str
        Identifier used in mapping files and result files (``"cityscapes-19"``, ``"camvid-11"``).
    class_names : tuple[str, ...]
        Class ``i`` is ``class_names[i]``.
    ignore_index : int
        Label value excluded from scoring (255 throughout the project).
    """

    name: str
    class_names: tuple[str, ...]
    ignore_index: int = IGNORE_INDEX

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def index(self, class_name: str) -> int:
        """Id of ``class_name``; ``KeyError`` naming the space if it has no such class."""
        try:
            return self.class_names.index(class_name)
        except ValueError:
            raise KeyError(f"label space {self.name} has no class {class_name!r}") from None


KNOWN_SPACES: dict[str, LabelSpace] = {
    space.name: space
    for space in (
        LabelSpace("cityscapes-19", tuple(CITYSCAPES_CLASSES)),
        LabelSpace("camvid-11", tuple(CAMVID_CLASSES)),
        LabelSpace("ade20k-150", tuple(ADE20K_CLASSES)),
    )
}
"""The label spaces of the shipped datasets, by name."""


def label_space_of(class_names: Sequence[str], *, name: str | None = None) -> LabelSpace:
    """The label space of a model or dataset with these ``class_names``.

    A declared ``name`` of a known space must come with exactly its classes (``ValueError``
    otherwise). Without a name, a class list equal to a known space's is that space; any other
    list is a space of its own, ``custom-<m>``, equal only to the same list.
    """
    names = tuple(str(c) for c in class_names)
    if name is not None:
        known = KNOWN_SPACES.get(name)
        if known is not None and known.class_names != names:
            raise ValueError(f"label space {name} has classes {list(known.class_names)[:4]}…, not {list(names)[:4]}…")
        return known or LabelSpace(name, names)
    for space in KNOWN_SPACES.values():
        if space.class_names == names:
            return space
    return LabelSpace(f"custom-{len(names)}", names)


def dataset_class_names(dataset: object) -> list[str]:
    """The ``class_names`` a dataset declares (looking through ``torch.utils.data.Subset`` wrappers)."""
    while not hasattr(dataset, "class_names") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    names = getattr(dataset, "class_names", None)
    if not names:
        raise ValueError(f"dataset {type(dataset).__name__} declares no class_names (its label space)")
    return list(names)

"""A teacher seen through a label mapping, so scores are always computed in the dataset's space.

:func:`scoring_teacher` wraps a teacher whose label space differs from the dataset's: its class
probabilities are summed into the dataset's classes (:meth:`LabelMapping.map_probabilities`) and
its labels are the arg-max of those, always ids of the dataset's space. With equal spaces the
teacher is returned as it is. The result carries the mapping, so result files can state the space
their mIoU was computed in.

Example
-------
>>> teacher = load_teacher("urban-unet-xlf8k-cpu")                      # doctest: +SKIP
>>> scorer, mapping = scoring_teacher(teacher, dataset_space=KNOWN_SPACES["camvid-11"])  # doctest: +SKIP
>>> scorer.predict(x).max() < 11, mapping.describe()                    # doctest: +SKIP
(tensor(True), 'cityscapes-19 → camvid-11 (cityscapes-19_to_camvid-11)')
"""

from __future__ import annotations

from pathlib import Path

import torch

from gosvae.labels.mapping import LabelMapping, resolve_mapping
from gosvae.labels.spaces import LabelSpace
from gosvae.teachers.base import Teacher

__all__ = ["MappedTeacher", "scoring_teacher"]


class MappedTeacher(Teacher):
    """``teacher`` with outputs in ``mapping.target``'s classes.

    Input: ``x`` (B, 3, H, W) float in [0, 1]. Output of ``class_probabilities``: (B, m_target, H, W),
    the sum of the teacher's probabilities over the source classes mapped to each target class
    (mass of unmapped classes is dropped, so a pixel's values may sum to less than one).
    """

    def __init__(self, teacher: Teacher, mapping: LabelMapping) -> None:
        super().__init__()
        self.teacher = teacher
        self.mapping = mapping
        self.num_classes = mapping.target.num_classes
        self.class_names = list(mapping.target.class_names)

    @property
    def label_space(self) -> LabelSpace:
        return self.mapping.target

    def class_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.mapping.map_probabilities(self.teacher.class_probabilities(x))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.teacher.features(x)


def scoring_teacher(
    teacher: Teacher, *, dataset_space: LabelSpace, mapping: str | Path | None = None
) -> tuple[Teacher, LabelMapping]:
    """The teacher to score with in ``dataset_space``, and the mapping used.

    ``mapping`` names a mapping file or shipped mapping (see :func:`resolve_mapping`); without it
    the identity (equal spaces) or the shipped mapping of the pair is used, else a one-line
    :class:`~gosvae.errors.UserError` is raised.
    """
    resolved = resolve_mapping(teacher.label_space, dataset_space, mapping=mapping)
    if resolved.name == "identity":
        return teacher, resolved
    return MappedTeacher(teacher, resolved), resolved

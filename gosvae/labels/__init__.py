"""Label spaces and the mappings between them (see :mod:`gosvae.labels.spaces`,
:mod:`gosvae.labels.mapping`)."""

from gosvae.labels.declared import check_declared_spaces
from gosvae.labels.mapping import LabelMapping, identity_mapping, load_mapping, resolve_mapping
from gosvae.labels.scoring import MappedTeacher, scoring_teacher
from gosvae.labels.spaces import KNOWN_SPACES, LabelSpace, dataset_class_names, label_space_of

__all__ = [
    "check_declared_spaces",
    "KNOWN_SPACES", "LabelMapping", "LabelSpace", "MappedTeacher", "scoring_teacher", "dataset_class_names", "identity_mapping", "label_space_of", "load_mapping", "resolve_mapping",
]

"""Label spaces and the mappings between them (see :mod:`gosvae.labels.spaces`,
:mod:`gosvae.labels.mapping`)."""

from gosvae.labels.mapping import LabelMapping, identity_mapping, load_mapping, resolve_mapping
from gosvae.labels.scoring import MappedTeacher, scoring_teacher
from gosvae.labels.spaces import KNOWN_SPACES, LabelSpace, label_space_of

__all__ = [
    "KNOWN_SPACES", "LabelMapping", "LabelSpace", "MappedTeacher", "scoring_teacher", "identity_mapping", "label_space_of", "load_mapping", "resolve_mapping",
]

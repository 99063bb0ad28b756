"""Mappings between label spaces, so a teacher is never scored in another space's ids.

A :class:`LabelMapping` sends every class of a ``source`` space (a teacher's outputs) to one class
of a ``target`` space (a dataset's labels) or to nothing. It is declared in a YAML file::

    source: cityscapes-19
    target: camvid-11
    classes: {road: Road, sidewalk: Pavement, wall: Building, …}   # every source class, or null

:func:`resolve_mapping` picks the mapping a score uses: the identity when the two spaces are the
same, a mapping file the user names, else the mapping shipped for that pair; otherwise it raises a
one-line :class:`~gosvae.errors.UserError`. Predictions are mapped id by id
(:meth:`LabelMapping.map_labels`); a source class mapped to nothing becomes
:attr:`LabelMapping.unmapped_id` (= target ``num_classes``), a prediction that matches no
ground-truth class.

Example
-------
>>> from gosvae.labels.spaces import KNOWN_SPACES
>>> m = resolve_mapping(KNOWN_SPACES["cityscapes-19"], KNOWN_SPACES["camvid-11"])
>>> m.name
'cityscapes-19_to_camvid-11'
>>> m.map_labels(torch.tensor([[0, 3, 13]])).tolist()     # road, wall, car
[[3, 1, 8]]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from gosvae.errors import UserError
from gosvae.labels.spaces import LabelSpace

__all__ = ["LabelMapping", "identity_mapping", "load_mapping", "resolve_mapping", "SHIPPED_MAPPINGS_DIR"]

SHIPPED_MAPPINGS_DIR = Path(__file__).parent / "mappings"
_MAX_MAPPING_BYTES = 1 << 20  # a mapping file is a few KB; refuse anything absurd before parsing


@dataclass(frozen=True)
class LabelMapping:
    """Class ``i`` of ``source`` → class ``table[i]`` of ``target`` (``-1``: no class).

    Attributes
    ----------
    name : str
        ``"identity"`` or the mapping file's stem.
    source, target : LabelSpace
    table : tuple[int, ...]
        One target id (or ``-1``) per source class.
    """

    name: str
    source: LabelSpace
    target: LabelSpace
    table: tuple[int, ...]

    @property
    def unmapped_id(self) -> int:
        """The id unmapped source classes take: one past the target's classes."""
        return self.target.num_classes

    def lookup(self, *, device: torch.device | str = "cpu") -> torch.Tensor:
        """(source num_classes,) int64 table of target ids, unmapped classes at :attr:`unmapped_id`."""
        table = torch.tensor(self.table, dtype=torch.int64, device=device)
        return torch.where(table < 0, torch.full_like(table, self.unmapped_id), table)

    def map_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Source-space class ids (any shape, int) → target-space ids (same shape, int64)."""
        return self.lookup(device=labels.device)[labels.long()]

    def map_probabilities(self, probabilities: torch.Tensor) -> torch.Tensor:
        """(B, m_source, H, W) probabilities → (B, m_target, H, W): each target class gets the sum
        over the source classes mapped to it (mass of unmapped classes is dropped)."""
        matrix = torch.zeros(self.source.num_classes, self.target.num_classes, dtype=probabilities.dtype, device=probabilities.device)
        for i, j in enumerate(self.table):
            if j >= 0:
                matrix[i, j] = 1.0
        return torch.einsum("bshw,st->bthw", probabilities, matrix)

    def describe(self) -> str:
        """One line for result files: ``cityscapes-19 → camvid-11 (cityscapes-19_to_camvid-11)``."""
        return f"{self.source.name} → {self.target.name} ({self.name})"


def identity_mapping(space: LabelSpace) -> LabelMapping:
    """The mapping of a space onto itself."""
    return LabelMapping("identity", space, space, tuple(range(space.num_classes)))


def load_mapping(path: str | Path, *, source: LabelSpace, target: LabelSpace) -> LabelMapping:
    """Read and check a mapping file for ``source`` → ``target`` (:class:`UserError` on any problem).

    The file must name both spaces, list every source class exactly once, and map each to a
    target class or ``null``.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"label mapping {path}: file not found")
    if path.stat().st_size > _MAX_MAPPING_BYTES:
        raise UserError(f"label mapping {path}: {path.stat().st_size} bytes, more than a mapping file can need")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"label mapping {path}: not valid YAML ({type(exc).__name__})") from None
    if not isinstance(data, dict) or set(data) != {"source", "target", "classes"}:
        raise UserError(f"label mapping {path}: expected exactly the keys source, target, classes")
    for key, space in (("source", source), ("target", target)):
        if data[key] != space.name:
            raise UserError(f"label mapping {path}: {key} is {data[key]!r}, expected {space.name!r}")
    classes = data["classes"]
    if not isinstance(classes, dict):
        raise UserError(f"label mapping {path}: 'classes' must map each {source.name} class to a {target.name} class")
    missing = [c for c in source.class_names if c not in classes]
    unknown = [str(c) for c in classes if c not in source.class_names]
    if missing or unknown:
        what = f"misses {missing[:3]}" if missing else f"names unknown {source.name} classes {unknown[:3]}"
        raise UserError(f"label mapping {path}: 'classes' {what}")
    table = []
    for name in source.class_names:
        goal = classes[name]
        if goal is None:
            table.append(-1)
        elif goal in target.class_names:
            table.append(target.class_names.index(goal))
        else:
            raise UserError(f"label mapping {path}: classes.{name}: {goal!r} is not a {target.name} class")
    return LabelMapping(path.stem, source, target, tuple(table))


def resolve_mapping(source: LabelSpace, target: LabelSpace, *, mapping: str | Path | None = None) -> LabelMapping:
    """The mapping that scores ``source``-space predictions against ``target``-space labels.

    ``mapping``: a file path, a shipped mapping's name (``cityscapes-19_to_camvid-11``) or
    ``"identity"``. Without it: the identity for equal spaces, else the mapping shipped for the
    pair; no such mapping → :class:`UserError` naming both spaces.
    """
    if mapping is not None:
        if str(mapping) == "identity":
            if source != target:
                raise UserError(f"label mapping 'identity': the teacher's space {source.name} is not the dataset's {target.name}")
            return identity_mapping(source)
        shipped = SHIPPED_MAPPINGS_DIR / f"{mapping}.yaml"
        path = shipped if "/" not in str(mapping) and shipped.is_file() else Path(mapping)
        return load_mapping(path, source=source, target=target)
    if source == target:
        return identity_mapping(source)
    shipped = SHIPPED_MAPPINGS_DIR / f"{source.name}_to_{target.name}.yaml"
    if shipped.is_file():
        return load_mapping(shipped, source=source, target=target)
    raise UserError(
        f"the teacher predicts {source.name} classes but the dataset is labelled in {target.name}, and no "
        f"mapping is shipped for them: name a mapping file (scenario label_mapping, gosvae eval --label-mapping)"
    )


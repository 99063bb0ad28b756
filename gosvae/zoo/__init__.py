"""The model zoo: pretrained teachers and codecs shipped with the package.

Each entry is a pair of files in this folder: ``NAME.safetensors`` (weights) and ``NAME.json``
(metadata). The JSON records what is needed to rebuild and to trust the model:

- ``name``, ``kind`` (``"teacher"`` or ``"codec"``), ``arch`` (registry name) and ``arch_config``;
- ``config`` (the committed training config file), ``command`` (the exact command that made it),
  ``data`` (dataset, split, size), ``steps``;
- ``quality``: the measured evaluation (e.g. clean-image mIoU on the synthetic val split).

Extra zoo folders (e.g. models a user trained, or tiny models in tests) are searched first when
the environment variable ``GOSVAE_ZOO_PATH`` lists them (``os.pathsep``-separated).

Example
-------
>>> from gosvae.zoo import list_entries, load_zoo_weights
>>> [e.name for e in list_entries()]             # doctest: +SKIP
['urban-unet', ...]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from gosvae.errors import UserError

ZOO_DIR: Path = Path(__file__).resolve().parent


def zoo_dirs() -> list[Path]:
    """Folders searched for entries: those in ``GOSVAE_ZOO_PATH`` first, then the package zoo."""
    extra = [Path(p) for p in os.environ.get("GOSVAE_ZOO_PATH", "").split(os.pathsep) if p]
    return [*extra, ZOO_DIR]


@dataclass(frozen=True)
class ZooEntry:
    """Metadata of one zoo model (see the module docstring for the fields)."""

    name: str
    kind: str
    arch: str
    arch_config: dict[str, Any]
    config: str
    command: str
    data: dict[str, Any]
    steps: int
    quality: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    directory: Path = ZOO_DIR

    @property
    def weights_path(self) -> Path:
        return self.directory / f"{self.name}.safetensors"


def _read_entry(path: Path) -> ZooEntry:
    meta = json.loads(path.read_text())
    known = {k: meta.pop(k) for k in list(meta) if k in ZooEntry.__dataclass_fields__ and k not in ("extra", "directory")}
    return ZooEntry(**known, extra=meta, directory=path.parent)


def list_entries(*, kind: str | None = None) -> list[ZooEntry]:
    """All zoo entries (optionally only ``kind``), sorted by name; earlier folders shadow later ones."""
    found: dict[str, Path] = {}
    for directory in zoo_dirs():
        for path in sorted(directory.glob("*.json")):
            found.setdefault(path.stem, path)
    entries = [_read_entry(found[name]) for name in sorted(found)]
    return [e for e in entries if kind is None or e.kind == kind]


def get_entry(name: str) -> ZooEntry:
    """The entry called ``name``; a one-line :class:`UserError` listing the zoo if unknown."""
    for directory in zoo_dirs():
        path = directory / f"{name}.json"
        if path.is_file():
            return _read_entry(path)
    known = ", ".join(e.name for e in list_entries()) or "empty"
    raise UserError(f"no model '{name}' in the zoo (available: {known}); see `gosvae zoo`")


def load_zoo_weights(name: str) -> tuple[ZooEntry, dict[str, torch.Tensor]]:
    """The entry and its state dict (safetensors: loading never executes code).

    Weights stored in float16 (see :func:`half_precision_state`) come back as float32.
    """
    entry = get_entry(name)
    if not entry.weights_path.is_file():
        raise UserError(f"zoo entry '{name}': weights file {entry.weights_path} is missing")
    state = load_file(str(entry.weights_path))
    return entry, {k: v.float() if v.dtype == torch.float16 else v for k, v in state.items()}


def half_precision_state(
    state_dict: dict[str, torch.Tensor], *, keep_float32: tuple[str, ...] = ("index_prior",)
) -> dict[str, torch.Tensor]:
    """A copy of ``state_dict`` with floating tensors rounded to float16 (halves the zoo files).

    Tensors whose name ends with one of ``keep_float32`` (the entropy-coding prior, whose small
    probabilities float16 would flush) stay float32; integer tensors are unchanged. Load the
    rounded weights back into the model before evaluating, so the recorded quality is that of
    the shipped file.
    """
    return {
        k: v.detach().to(torch.float16) if v.is_floating_point() and not k.endswith(keep_float32) else v.detach().clone()
        for k, v in state_dict.items()
    }


def save_zoo_entry(
    *, state_dict: dict[str, torch.Tensor], metadata: dict[str, Any], directory: Path | None = None
) -> Path:
    """Write ``NAME.safetensors`` and ``NAME.json`` (``metadata['name']``) into ``directory``.

    Returns the path of the JSON file.
    """
    directory = Path(directory) if directory is not None else ZOO_DIR
    directory.mkdir(parents=True, exist_ok=True)
    name = metadata["name"]
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    save_file(tensors, str(directory / f"{name}.safetensors"))
    json_path = directory / f"{name}.json"
    json_path.write_text(json.dumps(metadata, indent=2, sort_keys=False) + "\n")
    return json_path

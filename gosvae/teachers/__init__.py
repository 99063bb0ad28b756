"""Frozen segmentation teachers: the contract, the in-repo ``urban-unet`` and transformers adapters.

``load_teacher(spec)`` accepts a zoo name (``"urban-unet"``), a registered teacher name, or a local
folder holding a transformers checkpoint (``config.json`` + weights + ``preprocessor_config.json``).
The returned teacher is frozen and in eval mode.

Example
-------
>>> teacher = load_teacher("urban-unet")                  # doctest: +SKIP
>>> probs = teacher(torch.rand(1, 3, 256, 512))          # (1, 19, 256, 512)
"""

from __future__ import annotations

from pathlib import Path

from gosvae import DEFAULT_TEACHER
from gosvae.errors import UserError
from gosvae.registry import TEACHERS, register_teacher
from gosvae.teachers.base import Teacher
from gosvae.teachers.urban_unet import UrbanUNet

register_teacher("urban-unet", description="small CPU-fast U-Net (in-repo), zoo weights for synthetic-urban")(UrbanUNet)

__all__ = ["DEFAULT_TEACHER", "Teacher", "UrbanUNet", "load_teacher", "build_teacher"]


def build_teacher(arch: str, arch_config: dict) -> Teacher:
    """A teacher of registered architecture ``arch`` with random weights, from its config."""
    cls = TEACHERS.get(arch)
    return cls.from_config(arch_config)


def load_teacher(spec: str | Path) -> Teacher:
    """Load a frozen teacher from a zoo name or a local transformers folder (see module doc)."""
    from gosvae import zoo

    path = Path(spec)
    if path.is_dir():
        from gosvae.teachers.hf import load_hf_teacher

        return load_hf_teacher(path)
    if any((directory / f"{spec}.json").is_file() for directory in zoo.zoo_dirs()):
        entry, state = zoo.load_zoo_weights(str(spec))
        if entry.kind != "teacher":
            raise UserError(f"zoo model '{spec}' is a {entry.kind}, not a teacher")
        teacher = build_teacher(entry.arch, entry.arch_config)
        teacher.load_state_dict(state)
        return teacher.freeze()
    if any(sep in str(spec) for sep in ("/", "\\")) or str(spec).startswith("."):
        raise UserError(f"teacher folder {spec} does not exist")
    names = [e.name for e in zoo.list_entries(kind="teacher")]
    raise UserError(f"unknown teacher '{spec}': give a zoo teacher ({', '.join(names) or 'none yet'}) or a local folder")

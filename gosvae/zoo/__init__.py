"""The model zoo: pretrained teachers and codecs shipped with the package.

Each entry is a pair of files in this folder: ``NAME.safetensors`` (weights) and ``NAME.json``
(metadata). The JSON records what is needed to rebuild and to trust the model:

- ``name``, ``kind`` (``"teacher"`` or ``"codec"``), ``arch`` (registry name: ``"vqvae"`` for the
  VQ-VAE family, VQ-GAN included, ``"factorized-ae"`` for the Ballé 2017 baseline, a teacher
  architecture) and ``arch_config``;
- ``config`` (the committed training config file), ``command`` (the exact command that made it),
  ``data`` (dataset, split, size), ``steps``;
- ``quality``: the measured evaluation (e.g. clean-image mIoU on the synthetic val split);
- ``weights_sha256``: the SHA-256 of ``NAME.safetensors``, written by :func:`save_zoo_entry`.

Entries are checked when read and loaded (:mod:`gosvae.zoo.integrity`): a malformed JSON, a
weights file whose hash differs from ``weights_sha256``, or tensors that do not fit the model the
entry describes are one-line :class:`~gosvae.errors.UserError` s, never a silently wrong model.
Entries written before hashes existed (no ``weights_sha256``) load as before.

Extra zoo folders (e.g. models a user trained, or tiny models in tests) are searched first when
the environment variable ``GOSVAE_ZOO_PATH`` lists them (``os.pathsep``-separated). A model can
also be named by its path (:func:`resolve_entry`): a folder holding one entry (as written by
``gosvae train --export-zoo DIR``) or an entry's ``NAME.json``.

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
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gosvae.errors import UserError
from gosvae.zoo.integrity import (
    ENTRY_NAME_PATTERN,
    HASH_FIELD,
    check_entry_meta,
    check_state_dict,
    sha256_file,
    verify_weights,
)

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
    weights_sha256: str | None = None

    @property
    def weights_path(self) -> Path:
        return self.directory / f"{self.name}.safetensors"


def _read_entry(path: Path) -> ZooEntry:
    """The entry of ``NAME.json`` at ``path``, checked (:func:`~gosvae.zoo.integrity.check_entry_meta`)."""
    meta = check_entry_meta(path)
    known = {k: meta.pop(k) for k in list(meta) if k in ZooEntry.__dataclass_fields__ and k not in ("extra", "directory")}
    if known.get("quality") is None:
        known.pop("quality", None)
    return ZooEntry(**known, extra=meta, directory=path.parent)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False where the name cannot exist (too long, ...)."""
    try:
        return path.is_file()
    except OSError:
        return False


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
    if isinstance(name, str) and ENTRY_NAME_PATTERN.fullmatch(name):
        for directory in zoo_dirs():
            path = directory / f"{name}.json"
            if _is_file(path):
                return _read_entry(path)
    known = ", ".join(e.name for e in list_entries()) or "empty"
    raise UserError(f"no model '{str(name)[:120]}' in the zoo (available: {known}); see `gosvae zoo`")


def is_model_path(spec: str) -> bool:
    """True when ``spec`` names a file or folder (a path separator, a leading '.', or it exists)
    rather than a zoo name."""
    if any(sep in spec for sep in ("/", "\\")) or spec.startswith("."):
        return True
    try:
        return Path(spec).exists()
    except OSError:  # e.g. a name too long for the file system: not a zoo name either
        return True


def resolve_entry(spec: str, *, kind: str | None = None) -> ZooEntry:
    """The entry named by ``spec``: a zoo name, a folder holding entries, or an entry's JSON file.

    A folder must hold exactly one entry (of ``kind`` when given), e.g. the output of
    ``gosvae train CONFIG --export-zoo DIR``. Raises a one-line :class:`UserError` otherwise.

    Example
    -------
    >>> resolve_entry("runs/my-codec", kind="codec").name      # doctest: +SKIP
    'my-codec'
    """
    if not is_model_path(spec):
        entry = get_entry(spec)
    else:
        path = Path(spec)
        try:
            is_dir, is_json = path.is_dir(), path.is_file() and path.suffix == ".json"
        except OSError as exc:
            raise UserError(f"model '{spec[:120]}': not a usable path ({exc.strerror or exc})") from None
        if is_dir:
            candidates = [_read_entry(p) for p in sorted(path.glob("*.json"))]
            candidates = [e for e in candidates if kind is None or e.kind == kind]
            if len(candidates) != 1:
                what = f"{kind} " if kind else ""
                found = ", ".join(e.name for e in candidates) or "none"
                raise UserError(f"model folder '{spec}': expected exactly one {what}entry (NAME.json + NAME.safetensors), found {found}")
            entry = candidates[0]
        elif is_json:
            entry = _read_entry(path)
        else:
            raise UserError(f"model '{spec[:120]}': no such folder or entry JSON file")
    if kind is not None and entry.kind != kind:
        where = "model" if is_model_path(spec) else "zoo model"
        raise UserError(f"{where} '{spec}' is a {entry.kind}, not a {kind}")
    return entry


def load_entry_weights(entry: ZooEntry) -> dict[str, torch.Tensor]:
    """The state dict of ``entry`` (float16 tensors come back as float32), checked: the file's
    SHA-256 against the entry's ``weights_sha256`` (when recorded), the tensors against the model
    the entry describes. One-line :class:`UserError` otherwise."""
    verify_weights(entry)
    try:
        state = load_file(str(entry.weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise UserError(f"zoo entry '{entry.name}': {entry.weights_path} is not a readable safetensors file ({text})") from None
    check_state_dict(entry, state)
    return {k: v.float() if v.dtype == torch.float16 else v for k, v in state.items()}


def build_entry_model(entry: ZooEntry, builder: Any) -> torch.nn.Module:
    """The model of a codec or teacher entry in eval mode: ``builder.from_config(arch_config)`` with
    the entry's checked weights (:func:`load_entry_weights`) loaded."""
    model = builder.from_config(entry.arch_config)
    model.load_state_dict(load_entry_weights(entry))
    return model.eval()


def load_zoo_weights(name: str) -> tuple[ZooEntry, dict[str, torch.Tensor]]:
    """The entry and its state dict (safetensors: loading never executes code), checked as in
    :func:`load_entry_weights`.

    ``name`` is a zoo name or a path (see :func:`resolve_entry`). Weights stored in float16 (see
    :func:`half_precision_state`) come back as float32.
    """
    entry = resolve_entry(name) if is_model_path(name) else get_entry(name)
    return entry, load_entry_weights(entry)


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

    The JSON is ``metadata`` plus ``weights_sha256``, the SHA-256 of the weights file just written
    (a value given in ``metadata`` is replaced). Each file is written under a temporary name and
    then renamed, so a reader never sees half a file. Returns the path of the JSON file.
    """
    directory = Path(directory) if directory is not None else ZOO_DIR
    directory.mkdir(parents=True, exist_ok=True)
    name = metadata["name"]
    if not isinstance(name, str) or not ENTRY_NAME_PATTERN.fullmatch(name):
        raise UserError(f"zoo entry name {str(name)[:120]!r}: expected a plain name (letters, digits, '.', '_', '-')")
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    weights_path = directory / f"{name}.safetensors"
    temporary = weights_path.with_name(f".{name}.safetensors.tmp")
    save_file(tensors, str(temporary))
    digest = sha256_file(temporary)
    os.replace(temporary, weights_path)
    meta = {k: v for k, v in metadata.items() if k != HASH_FIELD} | {HASH_FIELD: digest}
    json_path = directory / f"{name}.json"
    temporary = json_path.with_name(f".{name}.json.tmp")
    temporary.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
    os.replace(temporary, json_path)
    return json_path


def add_weights_hash(json_path: Path) -> str:
    """Record the SHA-256 of an entry's weights in its JSON (an entry written before hashes existed,
    or by a process still running older code); an entry that has one keeps it. Returns the hash.

    Example: ``for p in ZOO_DIR.glob("*.json"): add_weights_hash(p)``.
    """
    json_path = Path(json_path)
    entry = _read_entry(json_path)
    if entry.weights_sha256 is not None:
        return entry.weights_sha256
    meta = json.loads(json_path.read_text())
    meta[HASH_FIELD] = sha256_file(entry.weights_path)
    temporary = json_path.with_name(f".{json_path.name}.tmp")
    temporary.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
    os.replace(temporary, json_path)
    return meta[HASH_FIELD]

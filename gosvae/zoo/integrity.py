"""Checks that keep a damaged or forged zoo entry from loading silently.

A zoo entry is untrusted until checked: its JSON may be hand-edited, truncated or made by someone
else, and its weights file may be damaged on disk. Three checks, each failing with one line
(:class:`~gosvae.errors.UserError`) that names the entry and the problem:

- :func:`check_entry_meta` (when the JSON is read): bounded size, valid JSON, the required fields
  with their types, a plain ``name`` equal to the file name, bounded numbers in ``arch_config``
  (``codebook_size`` in ``[2, 65536]``, any integer within ``±2**20``), and a well-formed
  ``weights_sha256`` when present;
- :func:`verify_weights` (before the weights are read): the SHA-256 of the weights file equals the
  entry's ``weights_sha256`` (entries written before hashes existed have none and load as they
  always did);
- :func:`check_state_dict` (after): the tensors are exactly those of the model the entry's
  ``arch`` and ``arch_config`` describe, with the same shapes (the model is built on the ``meta``
  device, so nothing is allocated).

Example
-------
>>> meta = check_entry_meta(Path("gosvae/zoo/vq-vae-r4.json"))         # doctest: +SKIP
>>> sha256_file(Path("gosvae/zoo/vq-vae-r4.safetensors"))[:12]         # doctest: +SKIP
'3f0c9a1e2b7d'
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch

from gosvae.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from gosvae.zoo import ZooEntry

__all__ = [
    "ENTRY_NAME_PATTERN", "HASH_FIELD", "MAX_CODEBOOK_SIZE", "MAX_CONFIG_INT", "MAX_ENTRY_JSON_BYTES",
    "check_entry_meta", "check_state_dict", "sha256_file", "verify_weights",
]

#: What a zoo entry's name (and so its file names) must look like.
ENTRY_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: The entry field holding the SHA-256 (hex) of ``NAME.safetensors``.
HASH_FIELD = "weights_sha256"
#: Largest entry JSON read (bytes).
MAX_ENTRY_JSON_BYTES = 1 << 20
#: Largest codebook an entry may declare.
MAX_CODEBOOK_SIZE = 65536
#: Largest magnitude of any integer in ``arch_config``.
MAX_CONFIG_INT = 1 << 20
_MAX_DEPTH = 8
_MAX_ITEMS = 4096
_REQUIRED: dict[str, tuple[type, ...]] = {
    "name": (str,), "kind": (str,), "arch": (str,), "arch_config": (dict,), "config": (str,), "command": (str,),
    "data": (dict,), "steps": (int,),
}
_OPTIONAL: dict[str, tuple[type, ...]] = {"quality": (dict,), HASH_FIELD: (str,)}
_KINDS = ("teacher", "codec")


def _problem(path: Path, message: str) -> UserError:
    return UserError(f"zoo entry {path}: {message}")


def check_entry_meta(path: Path) -> dict[str, Any]:
    """Read and check the entry JSON at ``path``.

    Output: the JSON object (a dict). Raises a one-line :class:`UserError` naming the file: too
    large, unreadable, not JSON, not an object, a required field missing or of the wrong type, a
    name that is not plain or differs from the file name, an unknown ``kind``, ``arch_config``
    values out of bounds, a malformed ``weights_sha256``.
    """
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_ENTRY_JSON_BYTES + 1)
    except OSError as exc:
        raise _problem(path, f"cannot read it ({exc.strerror or exc})") from None
    if len(raw) > MAX_ENTRY_JSON_BYTES:
        raise _problem(path, f"larger than {MAX_ENTRY_JSON_BYTES} bytes, not a zoo entry")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _problem(path, f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _problem(path, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise _problem(path, "JSON nested too deeply") from None
    if not isinstance(meta, dict):
        raise _problem(path, f"expected a JSON object of entry fields, got {type(meta).__name__}")
    for key, types in (_REQUIRED | _OPTIONAL).items():
        if key not in meta:
            if key in _REQUIRED:
                raise _problem(path, f"required field {key!r} is missing")
            continue
        value = meta[key]
        if key == "quality" and value is None:
            continue
        if not isinstance(value, types) or isinstance(value, bool):
            raise _problem(path, f"{key}: expected {types[0].__name__}, got {type(value).__name__}")
    name = meta["name"]
    if not ENTRY_NAME_PATTERN.fullmatch(name):
        raise _problem(path, f"name: {name[:120]!r} is not a plain name (letters, digits, '.', '_', '-')")
    if name != path.stem:
        raise _problem(path, f"name: {name!r} differs from the file name {path.name!r} (NAME.json + NAME.safetensors)")
    if meta["kind"] not in _KINDS:
        raise _problem(path, f"kind: expected 'teacher' or 'codec', got {meta['kind'][:60]!r}")
    if meta["steps"] < 0:
        raise _problem(path, f"steps: expected an integer >= 0, got {meta['steps']}")
    digest = meta.get(HASH_FIELD)
    if digest is not None and not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise _problem(path, f"{HASH_FIELD}: expected 64 lowercase hex digits, got {digest[:80]!r}")
    _check_config(meta["arch_config"], path=path, where="arch_config", depth=0)
    size = meta["arch_config"].get("codebook_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= MAX_CODEBOOK_SIZE):
        raise _problem(path, f"arch_config.codebook_size: expected an integer in [2, {MAX_CODEBOOK_SIZE}], got {str(size)[:40]}")
    return meta


def _check_config(value: Any, *, path: Path, where: str, depth: int) -> None:
    """Bounded nesting, list lengths and integers in ``arch_config``."""
    if depth > _MAX_DEPTH:
        raise _problem(path, f"{where}: nested more than {_MAX_DEPTH} levels")
    if isinstance(value, dict):
        if len(value) > _MAX_ITEMS:
            raise _problem(path, f"{where}: more than {_MAX_ITEMS} fields")
        for key, item in value.items():
            _check_config(item, path=path, where=f"{where}.{key}", depth=depth + 1)
    elif isinstance(value, list):
        if len(value) > _MAX_ITEMS:
            raise _problem(path, f"{where}: more than {_MAX_ITEMS} items")
        for i, item in enumerate(value):
            _check_config(item, path=path, where=f"{where}[{i}]", depth=depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CONFIG_INT:
        raise _problem(path, f"{where}: {str(value)[:40]} is out of bounds (|value| <= {MAX_CONFIG_INT})")
    elif isinstance(value, float) and not math.isfinite(value):
        raise _problem(path, f"{where}: must be a finite number, got {value}")
    elif isinstance(value, str) and len(value) > 1024:
        raise _problem(path, f"{where}: a string of {len(value)} characters (at most 1024)")


def sha256_file(path: Path) -> str:
    """SHA-256 of the file's bytes, as 64 lowercase hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights(entry: "ZooEntry") -> None:
    """One-line :class:`UserError` unless the weights file exists and (when the entry records one)
    matches the entry's SHA-256."""
    path = entry.weights_path
    if not path.is_file():
        raise UserError(f"zoo entry '{entry.name}': weights file {path} is missing")
    expected = entry.weights_sha256
    if expected is None:
        return
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise UserError(f"zoo entry '{entry.name}': cannot read {path} ({exc.strerror or exc})") from None
    if actual != expected:
        raise UserError(f"zoo entry '{entry.name}': weights file {path} is damaged or was replaced: its SHA-256 "
                        f"{actual[:16]}... differs from the entry's {expected[:16]}... (restore or re-export it)")


def _expected_model(entry: "ZooEntry") -> torch.nn.Module | None:
    """The model the entry describes, built on the meta device; None for an architecture this
    module does not know (a plug-in)."""
    if entry.kind == "codec" and entry.arch == "vqvae":
        from gosvae.models import VQVAE as builder
    elif entry.kind == "codec" and entry.arch == "factorized-ae":
        from gosvae.models.factorized_ae import FactorizedAE as builder
    elif entry.kind == "codec" and entry.arch == "rl-asc":
        from gosvae.models.rl_asc import RLASC as builder
    elif entry.kind == "teacher":
        from gosvae.registry import TEACHERS
        import gosvae.teachers  # noqa: F401 - registers the built-in teachers

        if entry.arch not in TEACHERS:
            raise UserError(f"zoo entry '{entry.name}': arch: unknown teacher architecture {entry.arch[:60]!r} "
                            f"(known: {', '.join(TEACHERS.names())})")
        builder = TEACHERS.get(entry.arch)
    else:
        return None
    try:
        with torch.device("meta"):
            return builder.from_config(entry.arch_config)
    except Exception as exc:  # noqa: BLE001 - an untrusted config: any failure is the entry's
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserError(f"zoo entry '{entry.name}': arch_config does not describe a {entry.arch} model ({text})") from None


def check_state_dict(entry: "ZooEntry", state: Mapping[str, torch.Tensor]) -> None:
    """One-line :class:`UserError` unless ``state`` holds exactly the tensors, with the shapes, of
    the model described by ``entry`` (missing, unexpected or mis-shaped tensors)."""
    model = _expected_model(entry)
    if model is None:
        return
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state]
    if missing:
        raise UserError(f"zoo entry '{entry.name}': the weights lack {len(missing)} tensor(s) of the model its "
                        f"arch_config describes (e.g. '{missing[0]}')")
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        raise UserError(f"zoo entry '{entry.name}': the weights hold {len(unexpected)} tensor(s) the model does not "
                        f"have (e.g. '{unexpected[0][:100]}')")
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            raise UserError(f"zoo entry '{entry.name}': tensor '{key}' has shape {list(state[key].shape)}, the model "
                            f"its arch_config describes needs {list(shape)}")

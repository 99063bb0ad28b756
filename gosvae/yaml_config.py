"""Reading YAML configuration files into pydantic models with one-line errors.

Every configuration (training configs, scenarios) is read with ``yaml.safe_load`` and validated by a
pydantic model. Any problem becomes a :class:`~gosvae.errors.ConfigError` whose message is one line
naming the file, the dotted field path and what was expected, e.g.
``configs/x.yaml: optim.lr: must be greater than 0, got -1``.

Example
-------
>>> cfg = load_yaml_model("configs/teacher_urban_unet.yaml", TeacherTrainingConfig)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from gosvae.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line for the first error of ``exc``: ``SOURCE: field.path: message, got VALUE``."""
    err = exc.errors(include_url=False)[0]
    # Tagged unions and function validators add type names to the location; keep only field names.
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or "[" in p)))
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    message = message[0].lower() + message[1:] if message else message
    got = "" if err["type"] in ("missing",) else f", got {_short(err.get('input'))}"
    if err["type"] == "extra_forbidden":
        return f"{source}: {_field_path(loc)}: unknown field (check the spelling)"
    return f"{source}: {_field_path(loc)}: {message}{got}"


def read_yaml(path: str | Path) -> Any:
    """``yaml.safe_load`` of a file, with one-line errors for a missing file or bad YAML."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None


def validate_model(data: Any, model_cls: type[M], *, source: str) -> M:
    """Validate parsed YAML ``data`` against ``model_cls``; one-line :class:`ConfigError` otherwise."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields at the top level, got {type(data).__name__}")
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def load_yaml_model(path: str | Path, model_cls: type[M]) -> M:
    """Read and validate a YAML file into ``model_cls``."""
    return validate_model(read_yaml(path), model_cls, source=str(path))

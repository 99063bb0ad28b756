"""One-line messages for invalid settings: ``field.path: what was expected, got VALUE``.

The one formatter of pydantic errors in the project: scenario files (``simulate`` prints the first
problem, naming the file), channel-model and codec parameters, link settings. Pydantic reports a
list of errors with machine locations; each becomes the dotted field path (list items as ``[i]``)
and the expectation, with the offending value cut to a bounded length. Unknown fields list the
known ones when the model is given. :func:`first_problem` gives the first problem,
:func:`config_error` a :class:`~gosvae_core.errors.ConfigError` with all of them joined by ``; ``.

Example
-------
>>> from pydantic import BaseModel, ConfigDict, Field, ValidationError
>>> class Section(BaseModel):
...     model_config = ConfigDict(extra="forbid")
...     rate: float = Field(0.5, gt=0)
>>> try:
...     Section(rate=-1)
... except ValidationError as exc:
...     print(first_problem(exc, model=Section, where="link"))
link.rate: must be > 0, got -1
"""

from __future__ import annotations

from typing import Any, Sequence, get_args

from pydantic import BaseModel, ValidationError

from gosvae_core.errors import ConfigError, bounded_repr

__all__ = ["config_error", "describe", "field_path", "first_problem", "short_repr"]

_COMPARISONS = {
    "greater than or equal to": ">=",
    "less than or equal to": "<=",
    "greater than": ">",
    "less than": "<",
}

_PLAIN = {
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (one line), in time bounded by ``limit`` however
    large or nested ``value`` is (:func:`gosvae_core.errors.bounded_repr`)."""
    return bounded_repr(value, limit)


def field_path(parts: Sequence[Any], *, where: str = "") -> str:
    """``("codecs", 1, "name")`` → ``codecs[1].name`` (prefixed by ``where`` when given)."""
    text = where
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = str(part) if not isinstance(part, str) or len(part) <= 80 else part[:77] + "..."
            text += ("." if text else "") + name.replace("\n", " ")
    return text or "(top level)"


def _model_at(model: type[BaseModel] | None, loc: Sequence[Any]) -> type[BaseModel] | None:
    """The pydantic model class found by following ``loc`` from ``model`` (None if not a model)."""
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def describe(err: dict[str, Any], *, model: type[BaseModel] | None = None) -> str:
    """The expectation part of one pydantic error (``must be >= 1, got 0``)."""
    kind = err["type"]
    got = f", got {short_repr(err['input'])}" if "input" in err else ""
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        parent = _model_at(model, err["loc"][:-1]) if model is not None else None
        known = f" (known: {', '.join(parent.model_fields)})" if parent is not None else ""
        return f"unknown field{known}"
    if kind in ("too_short", "too_long"):
        ctx = err.get("ctx", {})
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"must have {word} {bound} item{'s' if bound != 1 else ''}{got}"
    if kind in _PLAIN:
        return _PLAIN[kind] + got
    message = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if message.startswith("Input should be "):
        message = "must be " + message.removeprefix("Input should be ")
    for words, symbol in _COMPARISONS.items():
        message = message.replace(words, symbol)
    message = message[:1].lower() + message[1:]
    return message + got


def first_problem(exc: ValidationError, *, model: type[BaseModel] | None = None, where: str = "") -> str:
    """``field.path: expectation, got VALUE`` for the first error of ``exc``.

    ``model`` is the validated class (to list the known fields of an unknown one); ``where``
    prefixes the path (e.g. ``channel.params``).
    """
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or "[" in p)))
    err = {**err, "loc": loc}
    return f"{field_path(loc, where=where)}: {describe(err, model=model)}"


def config_error(exc: ValidationError, *, where: str = "", model: type[BaseModel] | None = None) -> ConfigError:
    """Every problem of ``exc`` as one line: ``WHERE.FIELD: expectation, got VALUE; ...``.

    Example: ``channel.params.coherence_symbols: must be >= 1, got 0``.
    """
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or "[" in p)))
        problems.append(f"{field_path(loc, where=where)}: {describe({**err, 'loc': loc}, model=model)}")
    return ConfigError("; ".join(problems))

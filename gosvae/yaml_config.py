"""Reading YAML configuration files into pydantic models with one-line errors.

Every configuration (training configs, scenarios) is read by :func:`read_yaml` and validated by a
pydantic model. Any problem becomes a :class:`~gosvae.errors.ConfigError` whose message is one line
naming the file, the dotted field path and what was expected, e.g.
``configs/x.yaml: optim.lr: must be greater than 0, got -1``.

A configuration file may come from anyone, so reading it is bounded before anything else looks
at it: at most :data:`MAX_YAML_BYTES` bytes of UTF-8 text; YAML's safe subset (plain data, no
Python objects); at most :data:`MAX_YAML_NODES` values once aliases are expanded (an alias bomb
of 9 levels of 10 aliases, a few hundred bytes, would otherwise stand for 10⁹ values), no
recursive alias, at most :data:`MAX_YAML_DEPTH` levels of nesting; and each key at most once per
mapping (YAML lets the last duplicate win silently; here it is an error).

Example
-------
>>> cfg = load_yaml_model("configs/teacher_urban_unet.yaml", TeacherTrainingConfig)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gosvae.errors import ConfigError, bounded_repr

__all__ = [
    "MAX_YAML_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "format_validation_error", "load_yaml_model",
    "parse_yaml", "read_yaml", "validate_model",
]

M = TypeVar("M", bound=BaseModel)

#: Largest configuration file read (bytes).
MAX_YAML_BYTES: int = 1 << 20
#: Most values (scalars, lists, mappings) a file may stand for once its aliases are expanded.
MAX_YAML_NODES: int = 100_000
#: Deepest nesting of lists and mappings.
MAX_YAML_DEPTH: int = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _field_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _short(value: Any, limit: int = 60) -> str:
    return bounded_repr(value, limit)


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


def _cut(path: str, limit: int = 120) -> str:
    """A field path for a message: one line, at most ``limit`` characters, ``(top level)`` if empty."""
    path = path.replace("\n", " ") or "(top level)"
    return path if len(path) <= limit else path[: limit - 3] + "..."


class _Walk:
    """One pass over a composed YAML node graph: expanded size, depth, cycles, duplicate keys."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sizes: dict[int, int] = {}  # expanded size of each node already walked (aliases share nodes)
        self.active: set[int] = set()

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {message}")

    def size(self, node: Node, path: str, depth: int) -> int:
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.active:
            raise self.fail(f"{_cut(path)}: a recursive alias (a value that contains itself)")
        if depth > MAX_YAML_DEPTH:
            raise self.fail(f"{_cut(path)}: nested more than {MAX_YAML_DEPTH} levels")
        self.active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                total += self.size(item, f"{path}[{i}]", depth + 1)
                self._check_total(total)
        elif isinstance(node, MappingNode):
            self._check_duplicates(node, path)
            for key_node, value_node in node.value:
                name = key_node.value if isinstance(key_node, ScalarNode) else "?"
                total += self.size(key_node, path, depth + 1)
                total += self.size(value_node, f"{path}.{name}" if path else str(name), depth + 1)
                self._check_total(total)
        self.active.discard(key)
        self.sizes[key] = total
        return total

    def _check_total(self, total: int) -> None:
        if total > MAX_YAML_NODES:
            raise self.fail(f"stands for more than {MAX_YAML_NODES} values once its aliases (*name) are expanded "
                            "(an alias bomb?); write the values out or use fewer aliases")

    def _check_duplicates(self, node: MappingNode, path: str) -> None:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue  # merge keys (<<) may repeat what they merge; complex keys are left to YAML
            ident, line = (key_node.tag, key_node.value), key_node.start_mark.line + 1
            if ident in seen:
                where = _cut(f"{path}.{key_node.value}" if path else key_node.value)
                raise self.fail(f"{where}: duplicate key (line {line}, first at line {seen[ident]}); "
                                "each key may appear once in a mapping")
            seen[ident] = line


def _flow_depth(text: str, *, limit: int) -> int:
    """The deepest nesting of flow collections (``[ ]``, ``{ }``) outside quotes and comments,
    counted until it passes ``limit``; a quick scan that needs no YAML parser."""
    if text.count("[") + text.count("{") <= limit:
        return 0
    depth = deepest = 0
    quote, previous, i = "", "\n", 0
    while i < len(text):
        char = text[i]
        if quote == "'":
            if char == "'":
                if text.startswith("''", i):
                    i += 1
                else:
                    quote = ""
        elif quote == '"':
            if char == "\\":
                i += 1
            elif char == '"':
                quote = ""
        elif char == "#" and previous in " \t\r\n":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            char = "\n"
        elif char in "'\"" and previous in " \t\r\n[{,:-?":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        elif char in "]}":
            depth = max(0, depth - 1)
        previous = char
        i += 1
    return deepest


def parse_yaml(text: str, *, source: str) -> Any:
    """Parse YAML ``text`` (the safe subset) with the bounds of the module docstring.

    Input: ``text``; ``source`` names it in messages. Output: plain Python data (dict, list, str,
    int, float, bool, None, dates). Raises :class:`ConfigError` (one line) for invalid YAML, too
    many values after alias expansion, a recursive alias, too deep nesting or a duplicate key.
    """
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{source}: {len(text)} characters, more than the {MAX_YAML_BYTES} a configuration may have")
    if _flow_depth(text, limit=MAX_YAML_DEPTH) > MAX_YAML_DEPTH:  # PyYAML's scanner is quadratic in it
        raise ConfigError(f"{source}: nested more than {MAX_YAML_DEPTH} levels of [ ] or {{ }}")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _Walk(source).size(node, "", 0)
        return loader.construct_document(node)
    except ConfigError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        text = "an integer of more than 4300 digits" if "integer string conversion" in text else text[:120]
        raise ConfigError(f"{source}: invalid YAML value: {text}") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> Any:
    """Parse the YAML file at ``path`` (:func:`parse_yaml`), with one-line errors for a missing
    file, a folder, a file too large or not UTF-8."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, expected a YAML file")
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_YAML_BYTES} bytes, more than a configuration may have")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8") from None
    return parse_yaml(text, source=str(path))


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

"""Sweep axes, sweep points and their seeds.

The ``sweep:`` section of a scenario maps a field path to the values it takes; the axes combine as
a product, and the scenario's codecs are one more axis. Paths:

- ``snr_db`` (required): the SNR axis, in dB, as the link's ``snr_definition`` says;
- ``link.<field>`` (``link.modulation``, ``link.rate``, ``link.ldpc.iterations``, ...): any field of
  :class:`~simulation.link.LinkConfig`;
- ``channel.model`` and ``channel.params.<name>``: the channel model and its parameters.

Values are a list (``[qpsk, 16qam]``), a single value, or a range ``{start, stop, step}`` (stop
included when it falls on the grid). A list-valued parameter (a TDL ``speed_kmh`` range
``[min, max]``, ``num_guard_carriers``, ...) is swept as a list of lists, each inner list being one
value: ``channel.params.speed_kmh: [[0, 30], [0, 120]]`` (held as a :class:`ListValue`, shown
``[0, 30]`` in keys and tables, validated against the channel's ``Params`` like any other value).

:func:`parse_sweep` checks the section's shape and expands its ranges into :class:`SweepAxis`
values; :func:`expand_points` turns the axes of a validated scenario into points. Applying the
swept values to the scenario's link and channel to check them is the scenario's business
(:func:`simulation.scenario_checks.check_sweep`): this module imports nothing from the scenario side.

Every :class:`SweepPoint` has a stable key (``codec=vq-vae-r4;link.modulation=16qam;snr_db=4``)
and a random seed derived from the scenario seed and that key by SHA-256, so a point gives the
same result whenever it runs, alone or in any order.

Example
-------
>>> axes = parse_sweep({"snr_db": {"start": 0, "stop": 4, "step": 2}, "link.modulation": ["qpsk"]}, source="x.yaml")
>>> [p.key for p in expand_points(axes, ["vq-vae-r4"])]
['codec=vq-vae-r4;link.modulation=qpsk;snr_db=0', 'codec=vq-vae-r4;link.modulation=qpsk;snr_db=2', 'codec=vq-vae-r4;link.modulation=qpsk;snr_db=4']
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from pydantic import BaseModel

from gosvae.errors import ConfigError
from simulation.link.config import LinkConfig
from simulation.messages import short_repr

__all__ = [
    "ListValue",
    "SNR_PATH",
    "SweepAxis",
    "SweepPoint",
    "expand_points",
    "format_value",
    "parse_sweep",
    "point_seed",
    "resolve_channel",
    "resolve_link",
]

SNR_PATH = "snr_db"
MAX_VALUES_PER_AXIS = 10_000
#: Largest |snr_db| (dB): beyond it the noise power over- or underflows the link's float32 numbers.
MAX_ABS_SNR_DB = 100.0
_NOT_SWEPT = {
    "codecs": "cannot be swept: list one entry per codec setting under codecs (each with its own label)",
    "codec": "cannot be swept: list one entry per codec setting under codecs (each with its own label)",
    "dataset": "cannot be swept: all points share the same images (write one scenario per dataset)",
    "teacher": "cannot be swept: all points share the same teacher (write one scenario per teacher)",
    "seed": "cannot be swept: the seed of each point already derives from the scenario seed",
    "name": "cannot be swept",
    "description": "cannot be swept",
}
_SWEEPABLE = "sweepable: snr_db, link.<field>, channel.model, channel.params.<name>"


class ListValue(tuple):
    """One list-valued sweep value: a tuple (points stay hashable) whose text is the list's, ``[0, 30]``
    (keys, tables, ``results.csv``); JSON writes it as a list; :func:`plain_value` gives the list."""

    __slots__ = ()

    def __repr__(self) -> str:
        return format_value(self)

    __str__ = __repr__


def plain_value(value: Any) -> Any:
    """``value`` as a config model receives it from YAML: a :class:`ListValue` becomes a ``list``."""
    return list(value) if isinstance(value, ListValue) else value


@dataclass(frozen=True)
class SweepAxis:
    """One swept field: its dotted ``path`` and its ``values`` in order."""

    path: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SweepPoint:
    """One point of the sweep.

    Attributes
    ----------
    index : int
        Position in the sweep order (codec, other axes in file order, SNR innermost).
    codec : str
        Label of the codec curve.
    values : tuple[tuple[str, Any], ...]
        ``(path, value)`` of every swept field, in the file's axis order (``snr_db`` included).
    key : str
        Stable identifier: ``codec=LABEL`` then ``path=value`` sorted by path, joined by ``;``.
    """

    index: int
    codec: str
    values: tuple[tuple[str, Any], ...]
    key: str

    @property
    def snr_db(self) -> float:
        return float(dict(self.values)[SNR_PATH])

    @property
    def overrides(self) -> dict[str, Any]:
        """Swept fields other than ``snr_db`` (applied to the link and channel sections)."""
        return {path: value for path, value in self.values if path != SNR_PATH}

    def seed(self, scenario_seed: int) -> int:
        return point_seed(scenario_seed, self.key)

    def generator(self, scenario_seed: int) -> torch.Generator:
        """A CPU generator seeded from the scenario seed and :attr:`key`."""
        return torch.Generator().manual_seed(self.seed(scenario_seed))


def point_seed(scenario_seed: int, key: str) -> int:
    """63-bit seed from SHA-256 of ``"{scenario_seed}:{key}"`` (stable across runs and machines)."""
    digest = hashlib.sha256(f"{int(scenario_seed)}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def format_value(value: Any) -> str:
    """Canonical text of a swept value: ``4.0`` → ``4``, ``True`` → ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


# ---------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------
def parse_sweep(raw: Any, *, source: str) -> list[SweepAxis]:
    """Check the shape of a ``sweep:`` section and expand its ranges; :class:`ConfigError` otherwise."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: sweep: must be a mapping of field path -> values, got {short_repr(raw)}")
    if SNR_PATH not in raw:
        raise ConfigError(
            f"{source}: sweep.snr_db: required field is missing (the SNR axis in dB: a list like [0, 5, 10] "
            "or {start: 0, stop: 20, step: 2})"
        )
    axes = []
    for path, spec in raw.items():
        where = f"sweep.{path}"
        _check_path_syntax(str(path), source=source)
        values = _expand_values(spec, where=where, source=source)
        for i, value in enumerate(values):
            if isinstance(value, list) and path != SNR_PATH:
                values[i] = value = _list_value(value, where=f"{where}[{i}]", source=source)
            elif not _scalar(value) and path != SNR_PATH:
                raise ConfigError(f"{source}: {where}[{i}]: must be a number, string, boolean, null or (for a list-valued "
                                  f"parameter) a list of those, got {short_repr(value)}")
            if path == SNR_PATH and (not isinstance(value, (int, float)) or isinstance(value, bool) or not _finite(value)):
                raise ConfigError(f"{source}: {where}[{i}]: must be a finite number (dB), got {short_repr(value)}")
            if path == SNR_PATH and abs(value) > MAX_ABS_SNR_DB:
                raise ConfigError(f"{source}: {where}[{i}]: must lie within [-{MAX_ABS_SNR_DB:g}, {MAX_ABS_SNR_DB:g}] dB, "
                                  f"got {short_repr(value)}")
        seen: set[str] = set()
        for text in (format_value(v) for v in values):
            if text in seen:
                raise ConfigError(f"{source}: {where}: value {short_repr(text)[1:-1]} appears more than once")
            seen.add(text)
        axes.append(SweepAxis(str(path), tuple(values)))
    return axes


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _list_value(value: list[Any], *, where: str, source: str) -> ListValue:
    """A list-valued sweep value (items: numbers, strings, booleans or null) as a :class:`ListValue`."""
    if len(value) > MAX_VALUES_PER_AXIS:
        raise ConfigError(f"{source}: {where}: a list value has {len(value)} items, more than {MAX_VALUES_PER_AXIS}")
    for j, item in enumerate(value):
        if not _scalar(item):
            raise ConfigError(f"{source}: {where}[{j}]: the items of a list value must be numbers, strings, booleans "
                              f"or null, got {short_repr(item)}")
    return ListValue(value)


def _finite(value: int | float) -> bool:
    """A finite number that fits a float (``math.isfinite`` raises on a 400-digit integer)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_path_syntax(path: str, *, source: str) -> None:
    where = f"sweep.{path}"
    root = path.split(".")[0]
    if path == SNR_PATH:
        return
    if root in _NOT_SWEPT:
        raise ConfigError(f"{source}: {where}: {_NOT_SWEPT[root]}")
    if root == "link":
        _check_link_path(path.split(".")[1:], source=source)
        return
    if path == "channel.model" or (path.startswith("channel.params.") and path.count(".") == 2):
        return
    raise ConfigError(f"{source}: {where}: not a field that can be swept ({_SWEEPABLE})")


def _check_link_path(parts: list[str], *, source: str) -> None:
    model: type[BaseModel] = LinkConfig
    walked = "link"
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            raise ConfigError(f"{source}: sweep.{walked}.{part}: no such field ({walked} fields: {', '.join(model.model_fields)})")
        walked += f".{part}"
        annotation = field.annotation
        nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if nested and i == len(parts) - 1:
            raise ConfigError(
                f"{source}: sweep.{walked}: is a section; sweep one of its fields ({', '.join(walked + '.' + f for f in annotation.model_fields)})"
            )
        if not nested and i < len(parts) - 1:
            raise ConfigError(f"{source}: sweep.{walked}.{parts[i + 1]}: no such field ({walked} is a value, not a section)")
        if nested:
            model = annotation
    if not parts:
        raise ConfigError(f"{source}: sweep.link: is a section; sweep one of its fields (link.modulation, link.rate, ...)")


def _expand_values(spec: Any, *, where: str, source: str) -> list[Any]:
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{source}: {where}: must list at least one value, got []")
        if len(spec) > MAX_VALUES_PER_AXIS:
            raise ConfigError(f"{source}: {where}: lists {len(spec)} values, more than {MAX_VALUES_PER_AXIS}")
        return list(spec)
    if isinstance(spec, Mapping):
        return _expand_range(spec, where=where, source=source)
    if spec is None or isinstance(spec, (str, int, float, bool)):
        return [spec]
    raise ConfigError(f"{source}: {where}: must be a list of values or a range {{start, stop, step}}, got {short_repr(spec)}")


def _expand_range(spec: Mapping[str, Any], *, where: str, source: str) -> list[Any]:
    for key in spec:
        if key not in ("start", "stop", "step"):
            raise ConfigError(f"{source}: {where}.{key}: unknown field (known: start, stop, step)")
    numbers = {}
    for key in ("start", "stop", "step"):
        if key not in spec:
            raise ConfigError(f"{source}: {where}.{key}: required field is missing (a range needs start, stop and step)")
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise ConfigError(f"{source}: {where}.{key}: must be a finite number, got {short_repr(value)}")
        numbers[key] = value
    start, stop, step = numbers["start"], numbers["stop"], numbers["step"]
    if step <= 0:
        raise ConfigError(f"{source}: {where}.step: must be > 0, got {short_repr(step)}")
    if start > stop:
        raise ConfigError(f"{source}: {where}: start must be <= stop, got start {start} and stop {stop}")
    span = (stop - start) / step  # inf when stop - start overflows: too many values in any case
    count = math.floor(span + 1e-9) + 1 if math.isfinite(span) and span <= MAX_VALUES_PER_AXIS else None
    if count is None or count > MAX_VALUES_PER_AXIS:
        if count is None:  # (stop - start) / step is beyond what a float or the limit counts
            raise ConfigError(f"{source}: {where}: the range from {start:g} to {stop:g} by {step:g} has more than "
                              f"{MAX_VALUES_PER_AXIS} values")
        raise ConfigError(f"{source}: {where}: the range has {count} values, more than {MAX_VALUES_PER_AXIS}")
    integral = all(isinstance(v, int) for v in (start, step))
    return [start + i * step if integral else round(start + i * step, 9) for i in range(count)]


# ---------------------------------------------------------------------------------------------
# applying a point to the scenario
# ---------------------------------------------------------------------------------------------
def resolve_link(base: LinkConfig, overrides: Mapping[str, Any]) -> LinkConfig:
    """``base`` with the ``link.*`` overrides applied; raises pydantic ``ValidationError``."""
    data = base.model_dump()
    for path, value in overrides.items():
        if not path.startswith("link."):
            continue
        *parents, last = path.split(".")[1:]
        node = data
        for part in parents:
            node = node[part]
        node[last] = plain_value(value)
    return LinkConfig.model_validate(data)


def resolve_channel(model: str, params: Mapping[str, Any], overrides: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(model name, params) with the ``channel.*`` overrides applied (not validated)."""
    model = str(overrides.get("channel.model", model))
    params = dict(params)
    for path, value in overrides.items():
        if path.startswith("channel.params."):
            params[path.removeprefix("channel.params.")] = plain_value(value)
    return model, params


# ---------------------------------------------------------------------------------------------
# points
# ---------------------------------------------------------------------------------------------
def expand_points(axes: Sequence[SweepAxis], codecs: Sequence[str]) -> list[SweepPoint]:
    """All points: codecs outermost, other axes in the given order, ``snr_db`` innermost."""
    others = [axis for axis in axes if axis.path != SNR_PATH]
    snr = [axis for axis in axes if axis.path == SNR_PATH]
    ordered = others + snr
    points: list[SweepPoint] = []
    seen: set[str] = set()
    for codec in codecs:
        for combination in itertools.product(*(axis.values for axis in ordered)):
            by_path = dict(zip((axis.path for axis in ordered), combination))
            values = tuple((axis.path, by_path[axis.path]) for axis in axes)
            key = ";".join([f"codec={codec}", *(f"{path}={format_value(v)}" for path, v in sorted(values))])
            if key in seen:
                raise ConfigError(f"two sweep points share the key {key!r}; make codec labels and swept values distinct")
            seen.add(key)
            points.append(SweepPoint(len(points), codec, values, key))
    return points

"""Scenario checks that bound the work of a run and catch, before it starts, what would fail later.

:func:`~simulation.scenario.validate_scenario` calls these after the schema: every one answers in
milliseconds, whatever the file says, and raises a one-line
:class:`~gosvae.errors.ConfigError` naming the file and the field.

- :func:`checked_num_images` checks a ``--num-images`` override exactly as the file's
  ``dataset.num_images`` (a positive integer, at most :data:`MAX_NUM_IMAGES`);
- :func:`check_workload` counts the sweep points from the axis lengths (nothing is expanded):
  more than :data:`MAX_POINTS` points is refused; more than :data:`MAX_POINT_IMAGES` points × images
  is refused unless the run is explicitly allowed to be large (``allow_large``, the ``simulate``
  option ``--allow-large``);
- :func:`check_dataset_split` builds the dataset object (no image is read) and reports an unknown
  split under ``dataset.split``;
- :func:`check_teacher_folder` checks that a teacher given as a folder holds a checkpoint;
- :func:`check_sweep` applies every swept value (alone, then every combination) to the link and
  channel sections and re-validates them (:mod:`simulation.sweep` only parses and expands).

Example
-------
>>> checked_num_images(12)
12
>>> checked_num_images("0")                                   # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
ConfigError: --num-images: must be > 0, got 0
"""

from __future__ import annotations

import inspect
import itertools
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from pydantic import BaseModel, Field, PositiveInt, ValidationError

from gosvae.errors import ConfigError, UserError, bounded_repr
from simulation.link.config import LinkConfig
from simulation.messages import describe, first_problem, short_repr
from simulation.sweep import SNR_PATH, ListValue, SweepAxis, format_value, resolve_channel, resolve_link

if TYPE_CHECKING:  # pragma: no cover
    from simulation.scenario import CodecSection, DatasetSection, Scenario

__all__ = [
    "ALLOW_LARGE_OPTION", "MAX_IMAGE_PIXELS", "MAX_IMAGE_SIDE", "MAX_NUM_IMAGES", "MAX_POINTS", "MAX_POINT_IMAGES",
    "build_entry_codec", "check_channel", "check_dataset_root", "check_dataset_split", "check_label_spaces",
    "check_labels", "check_models", "check_rates", "check_sweep", "check_teacher_folder", "check_workload",
    "checked_num_images", "count_points", "receiver_problem",
]

#: Most images a scenario may name (``dataset.num_images``, ``--num-images``).
MAX_NUM_IMAGES: int = 1_000_000
#: Largest ``dataset.size`` side, pixels.
MAX_IMAGE_SIDE: int = 8192
#: Largest ``dataset.size`` area, pixels (4096 × 8192).
MAX_IMAGE_PIXELS: int = 1 << 25
#: Most sweep points a scenario may have (codecs × every axis), allowed or not.
MAX_POINTS: int = 100_000
#: Most points × images a run does unless told it may be large (a few hours on a laptop CPU).
MAX_POINT_IMAGES: int = 100_000
#: The ``simulate`` option that lifts :data:`MAX_POINT_IMAGES`.
ALLOW_LARGE_OPTION: str = "--allow-large"


class _NumImages(BaseModel):
    num_images: PositiveInt = Field(le=MAX_NUM_IMAGES)


def checked_num_images(value: Any, *, where: str = "--num-images") -> int:
    """``value`` (an int, or its text as given on a command line) checked like ``dataset.num_images``.

    Output: the number of images. Raises :class:`ConfigError` ``WHERE: must be ..., got VALUE``.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{where}: must be an integer, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.lstrip("+-").isdigit() and len(text) <= 40 else value
    try:
        return _NumImages(num_images=value).num_images
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe(exc.errors(include_url=False)[0])}") from None


def count_points(num_codecs: int, axes: Sequence[SweepAxis]) -> int:
    """Sweep points of ``num_codecs`` curves over ``axes``: the product of the axis lengths."""
    return num_codecs * math.prod(len(axis.values) for axis in axes)


def check_workload(scenario: "Scenario", axes: Sequence[SweepAxis], *, source: str, allow_large: bool = False) -> int:
    """Refuse sweeps too large to validate or to run unasked (see the module docstring).

    Input: the validated ``scenario`` (its ``dataset.num_images`` is the one that will run, an
    override applied) and its ``axes``. Output: the number of points. Raises :class:`ConfigError`.
    """
    codecs = len(scenario.codecs)
    points = count_points(codecs, axes)
    shape = " x ".join([f"{codecs} codec(s)", *(f"{len(a.values)} {a.path}" for a in axes)])
    if points > MAX_POINTS:
        raise ConfigError(f"{source}: sweep: {points} points ({shape}), more than the {MAX_POINTS} a scenario may have; "
                          "split it into several scenarios")
    images = scenario.dataset.num_images
    if points * images > MAX_POINT_IMAGES and not allow_large:
        raise ConfigError(
            f"{source}: sweep: {points} points x {images} images = {points * images} image transmissions, more than "
            f"{MAX_POINT_IMAGES} (hours of work); lower dataset.num_images or the sweep, or pass {ALLOW_LARGE_OPTION} "
            "to run it anyway"
        )
    return points


def check_dataset_split(dataset: "DatasetSection", *, source: str) -> None:
    """Build the dataset object (cheap: no image is read) to learn whether ``dataset.split`` exists.

    An unknown split is a :class:`ConfigError` at ``dataset.split``; other problems of a real
    dataset's folder (its layout) are left to the run, which names them.
    """
    from gosvae.datasets import build_dataset

    try:
        build_dataset(name=dataset.name, split=dataset.split, root=dataset.resolved_root, num_images=1,
                      size=tuple(dataset.size) if dataset.size else None, seed=dataset.seed)
    except UserError as exc:
        if re.search(r"\bunknown\b[^;]*\bsplit\b", str(exc)):  # the datasets' own wording for a bad split
            raise ConfigError(f"{source}: dataset.split: {exc}") from None


#: A transformers checkpoint folder holds these (weights: any of the patterns).
_CHECKPOINT_CONFIG = "config.json"
_CHECKPOINT_WEIGHTS = ("*.safetensors", "*.bin")
_CHECKPOINT_PREPROCESSOR = ("preprocessor_config.json", "processor_config.json")


def _is_dir(path: str) -> bool:
    """``Path(path).is_dir()``, False where the name cannot exist (too long, ...)."""
    try:
        return Path(path).expanduser().is_dir()
    except OSError:
        return False


def check_teacher_folder(teacher: str, *, source: str) -> None:
    """A ``teacher`` that is a folder must hold a transformers checkpoint: ``config.json``, weights
    (``*.safetensors`` or ``*.bin``) and ``preprocessor_config.json`` (or ``processor_config.json``).
    Nothing is loaded. Raises :class:`ConfigError` at ``teacher`` naming what is missing."""
    folder = Path(teacher).expanduser()
    try:
        if not folder.is_dir():
            return
        missing = []
        if not (folder / _CHECKPOINT_CONFIG).is_file():
            missing.append(_CHECKPOINT_CONFIG)
        if not any(any(folder.glob(pattern)) for pattern in _CHECKPOINT_WEIGHTS):
            missing.append("weights (model.safetensors or pytorch_model.bin)")
        if not any((folder / name).is_file() for name in _CHECKPOINT_PREPROCESSOR):
            missing.append(_CHECKPOINT_PREPROCESSOR[0])
    except OSError as exc:
        raise ConfigError(f"{source}: teacher: cannot read folder {bounded_repr(teacher, 120)} ({exc.strerror or exc})") from None
    if missing:
        raise ConfigError(f"{source}: teacher: folder {teacher} holds no model (missing {', '.join(missing)}); give a "
                          "zoo teacher or a transformers checkpoint folder")


# ---------------------------------------------------------------------------------------------
# checks of the sections (moved from simulation.scenario, which re-exports them)
# ---------------------------------------------------------------------------------------------
def check_rates(scenario: "Scenario", *, source: str) -> None:
    """``rate.match`` names another entry's label, and that entry has no ``match`` itself."""
    by_label = {c.curve_label: c for c in scenario.codecs}
    for i, codec in enumerate(scenario.codecs):
        target = codec.rate.match if codec.rate is not None else None
        if target is None:
            continue
        labels = ", ".join(repr(label) for label in by_label if label != codec.curve_label) or "none"
        if target == codec.curve_label:
            raise ConfigError(f"{source}: codecs[{i}].rate.match: an entry cannot match its own payload ({target!r})")
        if target not in by_label:
            raise ConfigError(f"{source}: codecs[{i}].rate.match: no codec entry labelled {target!r} (labels: {labels})")
        other = by_label[target].rate
        if other is not None and other.match is not None:
            raise ConfigError(f"{source}: codecs[{i}].rate.match: entry {target!r} itself uses rate.match; match an entry with its own rate")


def check_labels(scenario: "Scenario", *, source: str) -> None:
    seen: dict[str, int] = {}
    for i, codec in enumerate(scenario.codecs):
        label = codec.curve_label
        if any(ch in label for ch in ";=\n") or not label.strip():
            raise ConfigError(f"{source}: codecs[{i}].label: must be a non-empty name without ';', '=' or line breaks, got {short_repr(label)}")
        if label in seen:
            field = "label" if codec.label is not None else codec.field("model") if codec._shorthand else "label"
            raise ConfigError(
                f"{source}: codecs[{i}].{field}: curve label {short_repr(label)} is also used by codecs[{seen[label]}]; "
                "give each codec entry a distinct label"
            )
        seen[label] = i


def check_dataset_root(dataset: "DatasetSection", *, source: str) -> None:
    import gosvae.datasets  # noqa: F401 - registers the built-in datasets
    from gosvae.registry import DATASETS

    try:
        cls = DATASETS.get(dataset.name)
    except UserError as exc:
        raise ConfigError(f"{source}: dataset.name: {exc}") from None
    reads_files = "root" in inspect.signature(cls).parameters
    if reads_files and dataset.root is None:
        raise ConfigError(f"{source}: dataset.root: dataset '{dataset.name}' reads files: give its root folder")
    if reads_files:
        try:
            folder = dataset.resolved_root
        except UserError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        if not Path(folder).is_dir():
            setting = f" (from the setting {dataset.root}; set the environment variable it names)" if folder != dataset.root else ""
            raise ConfigError(f"{source}: dataset.root: folder {folder} does not exist{setting}")


def check_channel(scenario: "Scenario", *, source: str) -> None:
    from channels import channel_class

    try:
        cls = channel_class(scenario.channel.model)
    except UserError as exc:
        raise ConfigError(f"{source}: channel.model: {exc}") from None
    try:
        cls.Params(**scenario.channel.params)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {first_problem(exc, model=cls.Params, where='channel.params')}") from None
    problem = receiver_problem(scenario.link, scenario.channel.model, scenario.channel.params)
    if problem is not None:
        raise ConfigError(f"{source}: {problem}")


def receiver_problem(link: LinkConfig, model: str, params: dict[str, Any]) -> str | None:
    """Why ``link.receiver`` cannot work with channel ``model`` of (valid) ``params``, or None.

    Channel estimation needs a channel with an OFDM resource grid with pilots; perfect CSI works
    with every channel. The channel is built (milliseconds) only when estimation is asked for.
    """
    estimation = link.receiver.channel_estimation
    if estimation == "perfect":
        return None
    import torch

    from channels import build_channel

    grid = build_channel(model, params).resource_grid(device="cpu", dtype=torch.complex64)
    if grid is None:
        return (f"link.receiver.channel_estimation: {estimation!r} needs a channel with an OFDM resource grid "
                f"(tdl, cdl), not {model!r}; flat channels are equalised with their true gain")
    if int(grid.num_pilot_symbols) == 0:
        return f"link.receiver.channel_estimation: {estimation!r} needs pilots: set channel.params.pilot_pattern 'kronecker'"
    return None


def check_models(scenario: "Scenario", *, source: str) -> None:
    """The teacher exists, every codec builds (its model exists), image sizes fit them all."""
    import gosvae.teachers  # noqa: F401 - registers the built-in teachers
    from gosvae.registry import TEACHERS
    from gosvae.zoo import get_entry

    size = scenario.dataset.size
    teacher = scenario.teacher
    if not _is_dir(teacher):
        try:
            entry = get_entry(teacher)
        except UserError:
            if any(sep in teacher for sep in ("/", "\\")) or teacher.startswith("."):
                raise ConfigError(f"{source}: teacher: folder {teacher} does not exist") from None
            from gosvae.zoo import list_entries

            names = ", ".join(e.name for e in list_entries(kind="teacher")) or "none yet"
            raise ConfigError(
                f"{source}: teacher: unknown teacher {short_repr(teacher)}: give a zoo teacher ({names}) or a local folder"
            ) from None
        if entry.kind != "teacher":
            raise ConfigError(f"{source}: teacher: zoo model {short_repr(teacher)} is a {entry.kind}, not a teacher")
        check_label_spaces(scenario, source=source)
        if scenario.teacher_precision == "int8":
            from gosvae.teachers.quantized import zoo_int8_calibration

            try:
                zoo_int8_calibration(teacher)
            except UserError as exc:
                raise ConfigError(f"{source}: teacher_precision: {exc}") from None
        multiple = getattr(TEACHERS.get(entry.arch), "downsampling", 1) if entry.arch in TEACHERS else 1
        if size is not None and (size[0] % multiple or size[1] % multiple):
            raise ConfigError(
                f"{source}: dataset.size: teacher {short_repr(teacher)} needs height and width divisible by {multiple}, got {size}"
            )
    elif scenario.teacher_precision == "int8":
        raise ConfigError(f"{source}: teacher_precision: int8 needs a zoo teacher with an int8 calibration, not the "
                          f"folder {short_repr(teacher)}; use float32")
    for i, codec in enumerate(scenario.codecs):
        built = build_entry_codec(codec, index=i, source=source)
        multiple = built.size_multiple()
        if size is not None and (size[0] % multiple or size[1] % multiple):
            raise ConfigError(
                f"{source}: dataset.size: codec {codec.curve_label!r} needs height and width divisible "
                f"by {multiple}, got {short_repr(size)}"
            )


def check_label_spaces(scenario: "Scenario", *, source: str) -> None:
    """The teacher's classes reach the dataset's through the identity, a shipped or a named mapping."""
    from gosvae.labels import check_declared_spaces

    field = "label_mapping" if scenario.label_mapping is not None else "teacher"
    try:
        check_declared_spaces(teacher=scenario.teacher, dataset=scenario.dataset.name, mapping=scenario.label_mapping)
    except UserError as exc:
        raise ConfigError(f"{source}: {field}: {exc}") from None


def build_entry_codec(codec: "CodecSection", *, index: int, source: str) -> Any:
    """Build the codec of an entry (cheap: models load on first use); a one-line error naming the
    parameter whose value the codec's error quotes (e.g. an unknown ``model``)."""
    from gosvae.codecs import build_codec

    try:
        return build_codec(codec.codec, codec.params, where=f"codecs[{index}].params")
    except UserError as exc:
        message = str(exc)
        field = next((k for k, v in codec.params.items() if isinstance(v, str) and f"'{v}'" in message), None)
        where = f"codecs[{index}].{codec.field(field)}" if field else f"codecs[{index}]"
        raise ConfigError(f"{source}: {where}: {message}") from None


# ---------------------------------------------------------------------------------------------
# the sweep applied to the scenario (moved from simulation.sweep, which only parses and expands)
# ---------------------------------------------------------------------------------------------
def check_sweep(scenario: "Scenario", axes: Sequence[SweepAxis], *, source: str) -> None:
    """Apply every swept value (alone, then every combination) and re-validate link and channel."""
    from channels import channel_class

    swept = [axis for axis in axes if axis.path != SNR_PATH]
    models = {scenario.channel.model}
    for axis in swept:
        if axis.path == "channel.model":
            for value in axis.values:
                try:
                    channel_class(str(value))
                except UserError as exc:
                    raise ConfigError(f"{source}: sweep.channel.model: {exc}") from None
                models.add(str(value))
    for axis in swept:
        if axis.path.startswith("channel.params."):
            name = axis.path.removeprefix("channel.params.")
            if not any(name in channel_class(m).Params.model_fields for m in models):
                model = scenario.channel.model
                fields = ", ".join(channel_class(model).Params.model_fields)
                known = f"parameters: {fields}" if fields else "it has no parameters"
                raise ConfigError(f"{source}: sweep.{axis.path}: no such parameter of channel model '{model}' ({known})")
    for axis in swept:
        for value in axis.values:
            _check_overrides(scenario, {axis.path: value}, source=source, single=axis.path)
    if len(swept) > 1:
        for combination in itertools.product(*(axis.values for axis in swept)):
            _check_overrides(scenario, dict(zip((a.path for a in swept), combination)), source=source, single=None)


_LIST_HINT = " (a list-valued parameter is swept as a list of lists, e.g. [[0, 30], [0, 120]])"


def _check_overrides(scenario: "Scenario", overrides: dict[str, Any], *, source: str, single: str | None) -> None:
    from channels import channel_class

    problem = None
    try:
        link = resolve_link(scenario.link, overrides)
    except ValidationError as exc:
        problem = first_problem(exc, model=LinkConfig, where="link")
    if problem is None:
        model, params = resolve_channel(scenario.channel.model, scenario.channel.params, overrides)
        cls = channel_class(model)
        try:
            cls.Params(**params)
        except ValidationError as exc:
            problem = first_problem(exc, model=cls.Params, where="channel.params")
        else:
            problem = receiver_problem(link, model, params)
    if problem is None:
        return
    if single is not None:
        value = overrides[single]
        prefix = f"{single}: "
        wants_list = any(f"valid {kind}" in problem for kind in ("list", "tuple", "array"))
        hint = _LIST_HINT if wants_list and not isinstance(value, ListValue) else ""
        if problem.startswith(prefix):
            raise ConfigError(f"{source}: sweep.{problem}{hint}")
        path, _, expectation = problem.partition(": ")
        raise ConfigError(f"{source}: sweep.{single}: value {short_repr(value)} makes {path} invalid: {expectation}{hint}")
    combination = ", ".join(f"{path}={format_value(value)}" for path, value in overrides.items())
    raise ConfigError(f"{source}: sweep: the combination {combination} is invalid: {problem}")

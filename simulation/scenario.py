"""Scenario files: the images, teacher, codecs, link, channel and sweep of a ``simulate`` run.

A scenario is a YAML file (read with ``yaml.safe_load``) validated by :class:`Scenario`; every
section rejects unknown keys. :func:`load_scenario` checks everything before anything runs (the
zoo names exist, the channel model and its parameters, every swept value applied to the
scenario) and reports the first problem as one line naming the file, the field path and what was
expected, e.g. ``scenarios/x.yaml: link.rate: must be within [0.2, 0.925] for code 'ldpc', got 1.5``.

Format
------
.. code-block:: yaml

    name: urban_rayleigh            # output folder runs/simulate/<name>
    seed: 1234                      # every point's channel randomness derives from it
    dataset: {name: synthetic-urban, split: val, num_images: 16, size: [256, 512], root: null}
    teacher: urban-unet-xlf8k-cpu   # zoo name or local transformers folder (this is the default)
    codecs:                         # one curve each (simulate --list-codecs lists codecs and params)
      - codec: vqvae                # a registered codec (plug-ins included)
        params: {model: gos-vae-star-r4, coder: range, rows_per_slice: 4}   # checked by its Params
        label: gos-vae-star         # default: the codec's own ("<model>/<coder>" for vqvae)
      - {codec: jpeg, params: {quality: 30}, rate: {match: gos-vae-star}}   # per-image byte budgets
      - {name: vq-vae-r4}           # shorthand of {codec: vqvae, params: {model: vq-vae-r4}}
    link: {crc: CRC24A, code: ldpc, rate: 0.5, modulation: 16qam}   # simulation.link.LinkConfig
    channel: {model: rayleigh, params: {fading: block, coherence_symbols: 256}}
    sweep:
      snr_db: {start: 0, stop: 20, step: 2}     # or a list [0, 5, 10]
      link.modulation: [qpsk, 16qam]            # any link/channel field by dotted path

A codec entry's ``rate`` (``{bytes: N}``, ``{bpp: x}`` or ``{match: LABEL}``: the per-image
payloads of another entry, which must not use ``match`` itself) becomes per-image byte budgets
passed to ``encode``; codecs without a rate knob ignore it (their ``describe()`` says
``rate_control``). The shorthand ``{name, source_coder, rows_per_slice, concealment}`` means codec
``vqvae`` with ``params: {model, coder, rows_per_slice, concealment}``; its errors name the
shorthand fields.

Example
-------
>>> loaded = load_scenario("scenarios/awgn.yaml")          # doctest: +SKIP
>>> len(loaded.points), loaded.points[0].key                # doctest: +SKIP
(12, 'codec=gos-vae-star-r4/range;snr_db=0')
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from gosvae import DEFAULT_TEACHER
from gosvae.errors import ConfigError, UserError
from gosvae.yaml_config import read_yaml
from simulation.link.config import LinkConfig
from simulation.messages import first_problem, short_repr
from simulation.sweep import SweepAxis, SweepPoint, check_sweep, expand_points, parse_sweep

__all__ = [
    "ChannelSection",
    "CodecSection",
    "DatasetSection",
    "LoadedScenario",
    "RateTarget",
    "Scenario",
    "load_scenario",
    "validate_scenario",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class DatasetSection(_Section):
    """The images of the run: a registered dataset and its options (see ``gosvae.datasets``)."""

    name: str = "synthetic-urban"
    split: str = "val"
    num_images: PositiveInt = 16
    size: list[PositiveInt] | None = Field(None, description="[height, width]; null: the dataset's own")
    # A folder, or a setting such as ${CAMVID_ROOT:-../shared/datasets/camvid} read from the
    # environment when the run starts (the resolved scenario keeps the setting as written).
    root: str | None = None
    seed: int = Field(0, ge=0)

    @property
    def resolved_root(self) -> str | None:
        """``root`` with ``${VAR}`` / ``${VAR:-default}`` expanded (:func:`gosvae.datasets.roots.expand_root`)."""
        from gosvae.datasets.roots import expand_root

        return None if self.root is None else expand_root(self.root, field="dataset.root")

    @field_validator("size")
    @classmethod
    def _height_width(cls, size: list[int] | None) -> list[int] | None:
        if size is not None and len(size) != 2:
            raise ValueError("must be [height, width]")
        return size


class RateTarget(_Section):
    """A per-image byte budget for codecs with a rate knob (exactly one field).

    ``bytes``: N bytes per image; ``bpp``: bits per pixel (× H·W / 8 bytes); ``match``: the label of
    another codec entry whose per-image payloads become the budgets (it must not use ``match``).
    """

    bytes: PositiveInt | None = None
    bpp: PositiveFloat | None = None
    match: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "RateTarget":
        given = [k for k in ("bytes", "bpp", "match") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of bytes, bpp, match, got {given or 'none'}")
        return self


#: shorthand key of a ``vqvae`` entry → its parameter
SHORTHAND = {"name": "model", "source_coder": "coder", "rows_per_slice": "rows_per_slice", "concealment": "concealment"}


class CodecSection(_Section):
    """One codec curve: a registered codec (``simulate --list-codecs``), its parameters, a label and
    an optional rate target.

    The shorthand ``{name: ZOO_MODEL, source_coder, rows_per_slice, concealment}`` means codec
    ``vqvae`` with ``params: {model, coder, rows_per_slice, concealment}``.
    """

    codec: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    rate: RateTarget | None = None
    _shorthand: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _expand_shorthand(cls, data: Any, handler: Any) -> "CodecSection":
        shorthand = isinstance(data, dict) and any(k in data for k in SHORTHAND)
        if shorthand:
            if "codec" in data or "params" in data:
                extra = sorted(k for k in SHORTHAND if k in data)
                raise ValueError(f"mixes the shorthand fields {extra} with codec/params; write params: {{model: ..., coder: ...}}")
            params = {SHORTHAND[k]: v for k, v in data.items() if k in SHORTHAND}
            data = {"codec": "vqvae", "params": params, **{k: v for k, v in data.items() if k not in SHORTHAND}}
        section = handler(data)
        section._shorthand = shorthand
        return section

    def field(self, name: str) -> str:
        """Path of parameter ``name`` under this entry as the user wrote it (``params.coder`` or,
        in the shorthand, ``source_coder``)."""
        if self._shorthand:
            return {v: k for k, v in SHORTHAND.items()}.get(name, f"params.{name}")
        return f"params.{name}"

    @property
    def curve_label(self) -> str:
        """``label``, or the codec's default label (``MODEL/CODER`` for vqvae)."""
        if self.label is not None:
            return self.label
        from gosvae.codecs import codec_class

        cls = codec_class(self.codec)
        return cls.default_label(cls.Params(**self.params))


class ChannelSection(_Section):
    """A registered channel model (``simulate --list-channels``) and its parameters."""

    model: str = "awgn"
    params: dict[str, Any] = Field(default_factory=dict)


class Scenario(_Section):
    """A whole scenario file (see the module docstring)."""

    name: str
    description: str | None = None
    seed: int = Field(0, ge=0, le=2**63 - 1)
    dataset: DatasetSection = DatasetSection()
    teacher: str = DEFAULT_TEACHER
    # How the teacher's classes map onto the dataset's for scoring: a mapping file, a shipped
    # mapping name (cityscapes-19_to_camvid-11) or "identity"; null: the identity for equal label
    # spaces, else the mapping shipped for the pair (none → an error before anything runs).
    label_mapping: str | None = None
    codecs: list[CodecSection] = Field(min_length=1)
    link: LinkConfig = LinkConfig()
    channel: ChannelSection = ChannelSection()
    sweep: dict[str, Any]

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not name or not set(name) <= allowed or name[0] in ".-":
            raise ValueError("must be a plain name (letters, digits, '.', '_', '-'; it names the output folder)")
        return name


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario with its sweep.

    Attributes
    ----------
    scenario : Scenario
        The validated file (channel parameters checked against the model).
    axes : list[SweepAxis]
        Swept fields with their values (ranges expanded), in file order.
    source : str
        The file path as given (used in messages).
    """

    scenario: Scenario
    axes: list[SweepAxis]
    source: str

    @cached_property
    def points(self) -> list[SweepPoint]:
        """Every sweep point, codecs outermost and SNR innermost."""
        return expand_points(self.axes, [c.curve_label for c in self.scenario.codecs])

    @property
    def swept_paths(self) -> list[str]:
        """Swept field paths, ``snr_db`` first, then the file order."""
        paths = [a.path for a in self.axes]
        return ["snr_db"] + [p for p in paths if p != "snr_db"]

    def codec(self, label: str) -> CodecSection:
        return next(c for c in self.scenario.codecs if c.curve_label == label)

    def resolved(self) -> dict[str, Any]:
        """The scenario with every default filled in and the sweep expanded (plain YAML types)."""
        from channels import channel_class

        s = self.scenario
        params = channel_class(s.channel.model).Params(**s.channel.params).model_dump(mode="json")
        return {
            "name": s.name,
            "description": s.description,
            "seed": s.seed,
            "dataset": s.dataset.model_dump(mode="json"),
            "teacher": s.teacher,
            "codecs": [_resolved_codec(c) for c in s.codecs],
            "link": s.link.model_dump(mode="json"),
            "channel": {"model": s.channel.model, "params": params},
            "sweep": {a.path: list(a.values) for a in self.axes},
        }


def _resolved_codec(codec: CodecSection) -> dict[str, Any]:
    from gosvae.codecs import codec_class

    params = codec_class(codec.codec).Params(**codec.params).model_dump(mode="json")
    rate = codec.rate.model_dump(mode="json", exclude_none=True) if codec.rate is not None else None
    return {"codec": codec.codec, "params": params, "label": codec.curve_label, "rate": rate}


def load_scenario(path: str | Path, *, num_images: int | None = None, check_models: bool = True) -> LoadedScenario:
    """Read and fully validate a scenario file.

    Parameters
    ----------
    path : str | Path
        The YAML file.
    num_images : int | None
        Overrides ``dataset.num_images`` (the ``--num-images`` option).
    check_models : bool
        Check that the teacher and codecs exist in the zoo (or as a folder) and fit the image size.

    Output
    ------
    LoadedScenario

    Raises :class:`~gosvae.errors.ConfigError` (one line: file, field path, expectation).
    """
    source = str(path)
    data = read_yaml(path)
    if data is None:
        raise ConfigError(f"{source}: the file is empty; expected a scenario (name, codecs, sweep, ...)")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of scenario fields at the top level, got {type(data).__name__}")
    if num_images is not None:
        if num_images < 1:
            raise ConfigError(f"--num-images: must be >= 1, got {num_images}")
        dataset = data.get("dataset", {})
        if isinstance(dataset, dict):  # otherwise validation reports the section as it is
            data = {**data, "dataset": {**dataset, "num_images": num_images}}
    return validate_scenario(data, source=source, check_models=check_models)


def validate_scenario(data: dict[str, Any], *, source: str, check_models: bool = True) -> LoadedScenario:
    """Validate parsed scenario ``data`` (see :func:`load_scenario`)."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {first_problem(exc, model=Scenario)}") from None
    _check_codecs(scenario, source=source)
    _check_labels(scenario, source=source)
    _check_rates(scenario, source=source)
    _check_dataset(scenario.dataset, source=source)
    _check_channel(scenario, source=source)
    axes = parse_sweep(scenario.sweep, source=source)
    check_sweep(scenario, axes, source=source)
    if check_models:
        _check_models(scenario, source=source)
    loaded = LoadedScenario(scenario, axes, source)
    loaded.points  # noqa: B018 - key collisions raise here, before anything runs
    return loaded


def _check_codecs(scenario: Scenario, *, source: str) -> None:
    """Every entry names a registered codec and its params pass the codec's ``Params``."""
    from gosvae.codecs import codec_class

    for i, codec in enumerate(scenario.codecs):
        try:
            cls = codec_class(codec.codec)
        except UserError as exc:
            raise ConfigError(f"{source}: codecs[{i}].codec: {exc}") from None
        try:
            cls.Params(**codec.params)
        except ValidationError as exc:
            problem = first_problem(exc, model=cls.Params)
            field, _, rest = problem.partition(":")
            head, dot, tail = field.partition(".")
            raise ConfigError(f"{source}: codecs[{i}].{codec.field(head)}{dot}{tail}:{rest}") from None


def _check_rates(scenario: Scenario, *, source: str) -> None:
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


def _check_labels(scenario: Scenario, *, source: str) -> None:
    seen: dict[str, int] = {}
    for i, codec in enumerate(scenario.codecs):
        label = codec.curve_label
        if any(ch in label for ch in ";=\n") or not label.strip():
            raise ConfigError(f"{source}: codecs[{i}].label: must be a non-empty name without ';', '=' or line breaks, got {label!r}")
        if label in seen:
            field = "label" if codec.label is not None else codec.field("model") if codec._shorthand else "label"
            raise ConfigError(
                f"{source}: codecs[{i}].{field}: curve label {label!r} is also used by codecs[{seen[label]}]; "
                "give each codec entry a distinct label"
            )
        seen[label] = i


def _check_dataset(dataset: DatasetSection, *, source: str) -> None:
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


def _check_channel(scenario: Scenario, *, source: str) -> None:
    from channels import channel_class

    try:
        cls = channel_class(scenario.channel.model)
    except UserError as exc:
        raise ConfigError(f"{source}: channel.model: {exc}") from None
    try:
        cls.Params(**scenario.channel.params)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {first_problem(exc, model=cls.Params, where='channel.params')}") from None


def _check_models(scenario: Scenario, *, source: str) -> None:
    """The teacher exists, every codec builds (its model exists), image sizes fit them all."""
    import gosvae.teachers  # noqa: F401 - registers the built-in teachers
    from gosvae.registry import TEACHERS
    from gosvae.zoo import get_entry

    size = scenario.dataset.size
    teacher = scenario.teacher
    if not Path(teacher).is_dir():
        try:
            entry = get_entry(teacher)
        except UserError:
            if any(sep in teacher for sep in ("/", "\\")) or teacher.startswith("."):
                raise ConfigError(f"{source}: teacher: folder {teacher} does not exist") from None
            from gosvae.zoo import list_entries

            names = ", ".join(e.name for e in list_entries(kind="teacher")) or "none yet"
            raise ConfigError(
                f"{source}: teacher: unknown teacher {teacher!r}: give a zoo teacher ({names}) or a local folder"
            ) from None
        if entry.kind != "teacher":
            raise ConfigError(f"{source}: teacher: zoo model {teacher!r} is a {entry.kind}, not a teacher")
        _check_label_spaces(scenario, source=source)
        multiple = getattr(TEACHERS.get(entry.arch), "downsampling", 1) if entry.arch in TEACHERS else 1
        if size is not None and (size[0] % multiple or size[1] % multiple):
            raise ConfigError(
                f"{source}: dataset.size: teacher {teacher!r} needs height and width divisible by {multiple}, got {size}"
            )
    for i, codec in enumerate(scenario.codecs):
        built = _build_codec(codec, index=i, source=source)
        multiple = built.size_multiple()
        if size is not None and (size[0] % multiple or size[1] % multiple):
            raise ConfigError(
                f"{source}: dataset.size: codec {codec.curve_label!r} needs height and width divisible "
                f"by {multiple}, got {short_repr(size)}"
            )


def _check_label_spaces(scenario: Scenario, *, source: str) -> None:
    """The teacher's classes reach the dataset's through the identity, a shipped or a named mapping."""
    from gosvae.labels import check_declared_spaces

    field = "label_mapping" if scenario.label_mapping is not None else "teacher"
    try:
        check_declared_spaces(teacher=scenario.teacher, dataset=scenario.dataset.name, mapping=scenario.label_mapping)
    except UserError as exc:
        raise ConfigError(f"{source}: {field}: {exc}") from None


def _build_codec(codec: CodecSection, *, index: int, source: str) -> Any:
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

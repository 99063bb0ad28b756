"""Scenario files: the images, teacher, codecs, link, channel and sweep of a ``simulate`` run.

A scenario is a YAML file (read within bounds by :func:`gosvae.yaml_config.read_yaml`: size,
aliases, nesting, no duplicate key) validated by :class:`Scenario`; every section rejects unknown
keys. :func:`load_scenario` checks everything before anything runs (the zoo names exist, the
dataset split, the channel model and its parameters, the size of the sweep, every swept value
applied to the scenario: :mod:`simulation.scenario_checks`) and reports the
first problem as one line naming the file, the field path and what was expected, e.g.
``scenarios/x.yaml: link.rate: must be within [0.2, 0.925] for code 'ldpc', got 1.5``.

Format
------
.. code-block:: yaml

    name: urban_rayleigh            # output folder runs/simulate/<name>
    seed: 1234                      # every point's channel randomness derives from it
    dataset: {name: synthetic-urban, split: val, num_images: 16, size: [256, 512], root: null}
    teacher: urban-unet-xlf8k-cpu   # zoo name or local transformers folder (this is the default)
    teacher_precision: float32      # or int8: the teacher's int8 copy (zoo teachers with a calibration)
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
      # a list-valued parameter takes a list of lists: channel.params.speed_kmh: [[0, 30], [0, 120]]

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
from simulation.link.config import LinkConfig, ReceiverSettings
from simulation.messages import first_problem
from simulation.scenario_migrations import DEPRECATED_RECEIVER_PARAMS, move_receiver_params  # noqa: F401 - re-exported
from simulation.scenario_checks import (
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
    MAX_NUM_IMAGES,
    check_dataset_split,
    check_sweep,
    check_teacher_folder,
    check_workload,
    checked_num_images,
)
from simulation.scenario_checks import check_channel as _check_channel
from simulation.scenario_checks import check_dataset_root as _check_dataset
from simulation.scenario_checks import check_labels as _check_labels
from simulation.scenario_checks import check_models as _check_models  # noqa: F401 - tests import it from here
from simulation.scenario_checks import check_rates as _check_rates
from simulation.sweep import SweepAxis, SweepPoint, expand_points, parse_sweep, plain_value

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
    num_images: PositiveInt = Field(16, le=MAX_NUM_IMAGES)
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
        if size is not None and (max(size) > MAX_IMAGE_SIDE or size[0] * size[1] > MAX_IMAGE_PIXELS):
            raise ValueError(f"must be at most {MAX_IMAGE_SIDE} pixels per side and {MAX_IMAGE_PIXELS} pixels in all")
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
    # Arithmetic of the receiver's teacher: float32, or int8 (a zoo urban-unet teacher with an int8
    # calibration, on a CPU with PyTorch's oneDNN int8 kernels; elsewhere float32, with a note).
    teacher_precision: Literal["float32", "int8"] = "float32"
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
        """The scenario with every default filled in and the sweep expanded (plain YAML types).

        Two exceptions: ``link.receiver`` is left out while it is the default (perfect CSI), and
        ``teacher_precision`` while it is float32, so that the resolved scenario of a run from
        before those fields existed still matches on ``--resume``."""
        from channels import channel_class

        s = self.scenario
        params = channel_class(s.channel.model).Params(**s.channel.params).model_dump(mode="json")
        link = s.link.model_dump(mode="json")
        if s.link.receiver == ReceiverSettings():  # the default is left out, so runs from before it existed resume
            del link["receiver"]
        precision = {} if s.teacher_precision == "float32" else {"teacher_precision": s.teacher_precision}
        return {
            "name": s.name,
            "description": s.description,
            "seed": s.seed,
            "dataset": s.dataset.model_dump(mode="json"),
            "teacher": s.teacher,
            **precision,
            "codecs": [_resolved_codec(c) for c in s.codecs],
            "link": link,
            "channel": {"model": s.channel.model, "params": params},
            "sweep": {a.path: [plain_value(v) for v in a.values] for a in self.axes},
        }


def _resolved_codec(codec: CodecSection) -> dict[str, Any]:
    from gosvae.codecs import codec_class

    params = codec_class(codec.codec).Params(**codec.params).model_dump(mode="json")
    rate = codec.rate.model_dump(mode="json", exclude_none=True) if codec.rate is not None else None
    return {"codec": codec.codec, "params": params, "label": codec.curve_label, "rate": rate}


def load_scenario(
    path: str | Path, *, num_images: int | str | None = None, check_models: bool = True, allow_large: bool = False
) -> LoadedScenario:
    """Read and fully validate a scenario file.

    Parameters
    ----------
    path : str | Path
        The YAML file (read within the bounds of :func:`gosvae.yaml_config.read_yaml`).
    num_images : int | str | None
        Overrides ``dataset.num_images`` (the ``--num-images`` option), checked like the file's
        value; the file's own value is checked first all the same.
    check_models : bool
        Check that the teacher and codecs exist in the zoo (or as a folder) and fit the image size.
    allow_large : bool
        Run sweeps beyond :data:`~simulation.scenario_checks.MAX_POINT_IMAGES` points × images
        (the ``--allow-large`` option).

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
    return validate_scenario(data, source=source, check_models=check_models, num_images=num_images, allow_large=allow_large)


def validate_scenario(
    data: dict[str, Any],
    *,
    source: str,
    check_models: bool = True,
    num_images: int | str | None = None,
    allow_large: bool = False,
) -> LoadedScenario:
    """Validate parsed scenario ``data`` (see :func:`load_scenario`); every check runs before anything
    is built or rendered."""
    data = move_receiver_params(data, source=source)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {first_problem(exc, model=Scenario)}") from None
    if num_images is not None:  # checked like the file's value, which was checked above
        dataset = scenario.dataset.model_copy(update={"num_images": checked_num_images(num_images)})
        scenario = scenario.model_copy(update={"dataset": dataset})
    _check_codecs(scenario, source=source)
    _check_labels(scenario, source=source)
    _check_rates(scenario, source=source)
    _check_dataset(scenario.dataset, source=source)
    check_dataset_split(scenario.dataset, source=source)
    _check_channel(scenario, source=source)
    axes = parse_sweep(scenario.sweep, source=source)
    check_workload(scenario, axes, source=source, allow_large=allow_large)  # before any combination is tried
    check_sweep(scenario, axes, source=source)
    if check_models:
        check_teacher_folder(scenario.teacher, source=source)
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

"""Schemas of the training configuration files (``gosvae train CONFIG.yaml``).

A config names its ``task`` (``teacher`` or ``codec``); the common parts are the data, the optimiser
and the run settings. Unknown fields are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class DatasetSpec(StrictModel):
    """Which dataset to read: a registered name and its options."""

    name: str = "synthetic-urban"
    split: str = "train"
    root: Optional[str] = None
    num_images: Optional[PositiveInt] = None
    size: Optional[tuple[PositiveInt, PositiveInt]] = None
    seed: int = 0

    @field_validator("root")
    @classmethod
    def _expand_root(cls, value: Optional[str]) -> Optional[str]:
        """``${VAR:-default}`` in a root names the folder through the environment."""
        from gosvae.datasets.roots import expand_root

        return None if value is None else expand_root(value)


class DataConfig(StrictModel):
    train: DatasetSpec
    val: DatasetSpec
    crop: Optional[tuple[PositiveInt, PositiveInt]] = None
    hflip: bool = True
    # Scale augmentation (lo, hi): each crop covers crop/s pixels of the image, s uniform in [lo, hi].
    scale_range: Optional[tuple[float, float]] = None
    # Brightness, contrast and saturation factors uniform in [1 - c, 1 + c] (0: off).
    color_jitter: float = Field(0.0, ge=0, lt=1)
    cache_dir: Optional[str] = "runs/cache"


class OptimConfig(StrictModel):
    steps: PositiveInt
    batch_size: PositiveInt = 8
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(100, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    grad_clip: Optional[float] = Field(None, gt=0)


class RunConfig(StrictModel):
    out_dir: str
    seed: int = 0
    num_threads: PositiveInt = 2
    device: str = "cpu"  # "cpu", "cuda" or "cuda:N" (a runtime choice: `gosvae train --device`)
    log_every: PositiveInt = 25
    eval_every: PositiveInt = 1000
    checkpoint_every: PositiveInt = 200


class TeacherRunConfig(RunConfig):
    # Keep the teacher's weights and batches in channels-last (NHWC) memory: the same arithmetic,
    # measured 15 % faster per training step on this machine's CPU (oneDNN's NHWC convolutions).
    channels_last: bool = False


class TeacherLossConfig(StrictModel):
    class_weighting: Literal["none", "sqrt-inverse"] = "sqrt-inverse"
    # Undo the class weighting at inference: logits - log(weight) (the teacher then estimates p(c|x)).
    prior_correction: bool = False
    # Adds this weight times the Lovász-softmax loss (a surrogate of 1 - mIoU over the batch, on the
    # prior-corrected probabilities when prior_correction is on) to the cross-entropy.
    lovasz_weight: float = Field(0.0, ge=0)


class TeacherTrainingConfig(StrictModel):
    """``task: teacher``: supervised training of a segmentation teacher."""

    task: Literal["teacher"]
    name: str
    description: str = ""
    arch: str
    arch_config: dict[str, Any] = {}
    init_from: Optional[str] = None  # a run folder (its checkpoint.pt) or a zoo teacher to start from
    # Start the classifier of a teacher in another label space from init_from's classifier: each
    # class's weights are the mean of those of the source classes that this mapping sends to it
    # (a shipped mapping name such as cityscapes-19_to_camvid-11, or a mapping file).
    init_class_mapping: Optional[str] = None
    data: DataConfig
    optim: OptimConfig
    loss: TeacherLossConfig = TeacherLossConfig()
    run: TeacherRunConfig

    @model_validator(mode="after")
    def _crop_fits(self) -> "TeacherTrainingConfig":
        scale = self.data.scale_range
        if scale is not None and not (0 < scale[0] <= scale[1]):
            raise ValueError(f"data.scale_range {list(scale)}: expected 0 < lo <= hi")
        size = self.data.train.size
        if self.data.crop is not None and size is not None:
            if self.data.crop[0] > size[0] or self.data.crop[1] > size[1]:
                raise ValueError(f"data.crop {list(self.data.crop)} is larger than data.train.size {list(size)}")
        return self


def dataset_cache_file(spec: DatasetSpec, cache_dir: str | None) -> Path | None:
    """Where the materialised copy of a generated dataset is cached (``None``: real data, no cache)."""
    if cache_dir is None or spec.root is not None:
        return None
    size = "x".join(map(str, spec.size)) if spec.size else "native"
    return Path(cache_dir) / f"{spec.name}-{spec.split}-n{spec.num_images}-{size}-seed{spec.seed}.npz"

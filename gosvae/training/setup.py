"""The set-up every trainer (teacher, VQ-VAE codec, factorized AE, RL-ASC) starts with.

:func:`prepare_run` does, in this order: set the number of threads, check the device, create the
output folder and write its ``config.yaml``, seed torch's global RNG with ``run.seed``, create the
run's generator (seeded with ``run.seed`` too), optionally load a teacher (RL-ASC builds its model
from the teacher's classes, so it loads it here, before the data), and materialise the train and
val splits. The order is part of a run's identity: a resumed run replays the same random draws.

Example
-------
>>> setup = prepare_run(config, resume=False)                        # doctest: +SKIP
>>> if setup.starts_from(config.init_from):
...     model.load_state_dict(initial_weights(config.init_from))
>>> batch_data = setup.train_data.to(setup.device)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import yaml
from pydantic import BaseModel

from gosvae.datasets import build_dataset
from gosvae.errors import UserError
from gosvae.training.config import DatasetSpec, dataset_cache_file
from gosvae.training.data import MaterializedData
from gosvae.training.device import resolve_device

__all__ = ["RunSetup", "initial_weights", "materialize", "prepare_run", "train_data_metadata", "write_final"]


@dataclass
class RunSetup:
    """What :func:`prepare_run` made ready for a trainer."""

    device: torch.device
    out: Path  # the run folder (``run.out_dir``)
    generator: torch.Generator  # the run's generator: batches, noise, restarts; saved in checkpoints
    train_data: MaterializedData
    val_data: MaterializedData
    resume: bool
    teacher: Any = None  # the teacher loaded before the data (``prepare_run(teacher=...)``), else None

    @property
    def resuming(self) -> bool:
        """``resume`` asked and the run folder holds a checkpoint to resume from."""
        return self.resume and (self.out / "checkpoint.pt").is_file()

    def starts_from(self, init_from: Optional[str]) -> bool:
        """Whether the model is to be loaded from ``init_from``: given, and not resuming (the
        checkpoint then holds the weights)."""
        return bool(init_from) and not self.resuming


def prepare_run(config: BaseModel, *, resume: bool, teacher: Optional[str] = None) -> RunSetup:
    """The common set-up of a training run of ``config`` (any config with ``run`` and ``data``).

    With ``teacher`` (a zoo name or run folder) that teacher is loaded after seeding and before
    the data are materialised (RL-ASC's order), and returned as ``RunSetup.teacher``.
    """
    torch.set_num_threads(config.run.num_threads)
    device = resolve_device(config.run.device)
    out = Path(config.run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    torch.manual_seed(config.run.seed)
    generator = torch.Generator().manual_seed(config.run.seed)
    loaded_teacher = None
    if teacher is not None:
        from gosvae.teachers import load_teacher

        loaded_teacher = load_teacher(teacher)
    train_data, _ = materialize(config.data.train, cache_dir=config.data.cache_dir, desc="train split")
    val_data, _ = materialize(config.data.val, cache_dir=config.data.cache_dir, desc="val split")
    return RunSetup(device=device, out=out, generator=generator, train_data=train_data, val_data=val_data,
                    resume=resume, teacher=loaded_teacher)


def materialize(spec: DatasetSpec, *, cache_dir: str | None, desc: str) -> tuple[MaterializedData, Any]:
    """The dataset of ``spec`` (for its metadata) and all of its items in memory."""
    dataset = build_dataset(
        name=spec.name, split=spec.split, root=spec.root, num_images=spec.num_images, size=spec.size, seed=spec.seed
    )
    data = MaterializedData.from_dataset(dataset, cache_file=dataset_cache_file(spec, cache_dir), desc=desc)
    return data, dataset


def initial_weights(spec: str) -> dict[str, torch.Tensor]:
    """Weights to start from: a run folder (its ``checkpoint.pt``, weights only) or a zoo name."""
    path = Path(spec)
    if path.is_dir():
        checkpoint = path / "checkpoint.pt"
        if not checkpoint.is_file():
            raise UserError(f"init_from: {path} has no checkpoint.pt")
        return torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    from gosvae.zoo import load_zoo_weights

    return load_zoo_weights(spec)[1]


def write_final(setup: RunSetup, row: dict[str, Any], *, model: torch.nn.Module | None = None, json_default=None) -> None:
    """``final.json`` (the final evaluation ``row``) and, with ``model``, ``final_model.pt`` in the run folder."""
    (setup.out / "final.json").write_text(json.dumps(row, indent=2, default=json_default) + "\n")
    if model is not None:
        torch.save({"model": model.state_dict()}, setup.out / "final_model.pt")


def train_data_metadata(config: BaseModel) -> dict[str, Any]:
    """The ``data`` entry of an exported zoo entry's metadata: the training split and its augmentation."""
    return {"train": config.data.train.model_dump(), "crop": config.data.crop, "hflip": config.data.hflip}

"""Supervised training of a segmentation teacher (``task: teacher`` configs).

Cross-entropy on random crops of the materialised training split (optionally with class weights
``1/sqrt(frequency)`` so thin, rare classes such as poles and traffic lights count, and with
``prior_correction`` the trained net's scores offset by ``-log(weight)`` so that it estimates the
unweighted posterior again, see :mod:`gosvae.teachers.urban_unet`), optionally plus
``loss.lovasz_weight`` times the Lovász-softmax surrogate of 1 - mIoU (:mod:`gosvae.training.lovasz`),
AdamW with
warm-up and cosine decay, resumable checkpoints, a CSV log, and a final evaluation on the full val
images (confusion-matrix mIoU over the whole split). With ``export_zoo`` the trained weights and
their metadata go into the package zoo.

Example
-------
$ gosvae train configs/teacher_urban_unet.yaml --export-zoo
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from gosvae.datasets import IGNORE_INDEX
from gosvae.errors import UserError
from gosvae.teachers import Teacher, UrbanUNet, build_teacher
from gosvae.teachers.urban_unet import load_grown_state
from gosvae.training.config import TeacherTrainingConfig
from gosvae.training.data import MaterializedData
from gosvae.training.loop import build_optimizer, run_training_loop
from gosvae.training.lovasz import lovasz_softmax
# materialize and initial_weights live in gosvae.training.setup; imported from here by older code
from gosvae.training.setup import RunSetup, initial_weights, materialize, prepare_run, train_data_metadata, write_final

__all__ = ["class_weights", "evaluate_teacher", "initial_weights", "load_initial_weights", "map_classifier",
           "materialize", "prior_correction_bias", "train_teacher"]


def load_initial_weights(model: nn.Module, spec: str, *, class_mapping: str | None = None) -> None:
    """Start ``model`` from ``spec`` (see :func:`initial_weights`); an ``urban-unet`` may be a grown
    (deeper) version of the saved one, its extra residual blocks starting as identities. With
    ``class_mapping`` the saved classifier is in another label space and is mapped into the
    model's (:func:`map_classifier`)."""
    state = initial_weights(spec)
    if class_mapping is not None:
        state = map_classifier(state, model=model, source_classes=_saved_class_names(spec), mapping=class_mapping)
    if isinstance(model, UrbanUNet):
        load_grown_state(model, state)
    else:
        model.load_state_dict(state)


_CLASSIFIER_KEYS = ("head.1.weight", "head.1.bias")  # urban-unet's 1x1 classifier


def map_classifier(
    state: dict[str, torch.Tensor], *, model: nn.Module, source_classes: list[str], mapping: str
) -> dict[str, torch.Tensor]:
    """``state`` with its classifier rows moved into ``model``'s label space.

    Target class ``j`` gets the mean weight and bias of the source classes the mapping sends to
    ``j``; a target class no source class maps to keeps ``model``'s fresh initialisation.
    Input: an urban-unet state dict whose classifier has ``len(source_classes)`` rows.
    Output: a copy with ``model.num_classes`` rows.
    """
    from gosvae.labels import label_space_of, resolve_mapping

    if not isinstance(model, UrbanUNet):
        raise UserError("init_class_mapping: supported for urban-unet teachers")
    resolved = resolve_mapping(label_space_of(source_classes), model.label_space, mapping=mapping)
    own = model.state_dict()
    state = dict(state)
    for key in _CLASSIFIER_KEYS:
        source = state[key]
        if source.shape[0] != len(source_classes):
            raise UserError(f"init_class_mapping: saved classifier has {source.shape[0]} rows, not {len(source_classes)}")
        target = own[key].clone()
        for j in range(model.num_classes):
            rows = [i for i, t in enumerate(resolved.table) if t == j]
            if rows:
                target[j] = source[rows].mean(dim=0)
        state[key] = target
    return state


def _saved_class_names(spec: str) -> list[str]:
    """Class names of the teacher saved at ``spec`` (a run folder's config.yaml or a zoo entry)."""
    path = Path(spec)
    if path.is_dir():
        config = yaml.safe_load((path / "config.yaml").read_text())
        arch_config = config.get("arch_config", {})
    else:
        from gosvae.zoo import load_zoo_weights

        arch_config = load_zoo_weights(spec)[0].arch_config
    names = arch_config.get("class_names")
    if names is None:
        names = list(build_teacher("urban-unet", {"num_classes": arch_config["num_classes"]}).class_names)
    return list(names)


def class_weights(labels: torch.Tensor, *, num_classes: int) -> torch.Tensor:
    """``1/sqrt(frequency)`` per class, normalised to mean 1 over present classes; absent → 0.

    Input: labels (N, H, W) uint8/int64 with ignore 255. Output: (num_classes,) float32.
    """
    counts = torch.bincount(labels.flatten().long(), minlength=256)[:num_classes].double()
    freq = counts / counts.sum().clamp_min(1)
    weights = torch.where(freq > 0, freq.clamp_min(1e-12).rsqrt(), torch.zeros_like(freq))
    present = freq > 0
    weights[present] = weights[present] / weights[present].mean()
    return weights.float()


def prior_correction_bias(weights: torch.Tensor) -> torch.Tensor:
    """``-log(w_c)`` for classes with a weight, 0 for absent ones (weight 0): (m,) float32.

    A net trained with cross-entropy weighted by ``w_c`` estimates ``p(c|x) w_c`` (normalised);
    adding this bias to its scores estimates ``p(c|x)``.
    """
    return torch.where(weights > 0, -torch.log(weights.clamp_min(1e-12)), torch.zeros_like(weights)).float()


@torch.no_grad()
def evaluate_teacher(teacher: Teacher, data: MaterializedData, *, batch_size: int = 8) -> dict[str, Any]:
    """mIoU (confusion matrix over the whole set), pixel accuracy and per-class IoU of ``teacher``
    (:func:`gosvae.evaluation.evaluate_teacher_on_clean` in eval mode, on the teacher's device)."""
    from gosvae.evaluation import evaluate_teacher_on_clean

    was_training = teacher.training
    nn.Module.train(teacher, False)
    device = next(teacher.parameters()).device
    scores = evaluate_teacher_on_clean(teacher, data=data, batch_size=batch_size, device=device, per_class=True)
    nn.Module.train(teacher, was_training)
    return {
        "miou": scores["miou_gt"],
        "pixel_accuracy": scores["pixel_accuracy"],
        "per_class_iou": scores["per_class_iou"],
        "num_images": len(data),
    }


def train_teacher(
    config: TeacherTrainingConfig,
    *,
    config_path: str,
    command: str,
    resume: bool = False,
    export_zoo: bool = False,
    zoo_dir: Path | None = None,
) -> dict[str, Any]:
    """Run (or resume) the training described by ``config``; returns the final evaluation.

    With ``export_zoo`` the weights and metadata are written to ``zoo_dir`` (default: the package zoo).
    """
    setup = prepare_run(config, resume=resume)
    teacher = build_teacher_model(config, setup)
    loss = TeacherLoss.build(config, teacher=teacher, labels=setup.train_data.labels, device=setup.device)
    seconds = run_teacher_training(config, setup, teacher=teacher, loss=loss)
    result = evaluate_trained_teacher(setup, teacher=teacher, loss=loss, seconds=seconds)
    if export_zoo:
        export_teacher(config, teacher, result, config_path=config_path, command=command, zoo_dir=zoo_dir)
    return result


def build_teacher_model(config: TeacherTrainingConfig, setup: RunSetup) -> Teacher:
    """The teacher of ``config`` (started from ``init_from`` unless the run resumes), trainable, on
    ``setup.device`` in the run's memory format."""
    teacher = build_teacher(config.arch, config.arch_config)
    if setup.starts_from(config.init_from):
        load_initial_weights(teacher, config.init_from, class_mapping=config.init_class_mapping)
    teacher.to(setup.device)
    teacher.to(memory_format=_memory_format(config))
    return teacher


def _memory_format(config: TeacherTrainingConfig) -> torch.memory_format:
    return torch.channels_last if config.run.channels_last else torch.contiguous_format


@dataclass
class TeacherLoss:
    """The class weights of the cross-entropy (or None) and what the prior correction needs."""

    weights: torch.Tensor | None
    correct_prior: bool
    # Scores the Lovász term sees: those the teacher will give once the prior correction is stored.
    score_offset: torch.Tensor | float

    @classmethod
    def build(cls, config: TeacherTrainingConfig, *, teacher: Teacher, labels: torch.Tensor, device: torch.device) -> "TeacherLoss":
        weights = None
        if config.loss.class_weighting == "sqrt-inverse":
            weights = class_weights(labels, num_classes=teacher.num_classes).to(device)
        correct_prior = config.loss.prior_correction and weights is not None
        if correct_prior and not isinstance(teacher, UrbanUNet):
            raise UserError(f"loss.prior_correction: supported for urban-unet teachers, not {config.arch}")
        score_offset = prior_correction_bias(weights).view(1, -1, 1, 1) if correct_prior else 0.0
        return cls(weights=weights, correct_prior=correct_prior, score_offset=score_offset)

    def apply_prior_correction(self, teacher: Teacher) -> None:
        """Store the prior correction in ``teacher`` (its scores then estimate the unweighted posterior)."""
        teacher.set_logit_bias(prior_correction_bias(self.weights))


def run_teacher_training(config: TeacherTrainingConfig, setup: RunSetup, *, teacher: Teacher, loss: TeacherLoss) -> float:
    """Train ``teacher`` up to ``optim.steps`` (resumable, val mIoU every ``run.eval_every``); the seconds of this call."""
    batch_data = setup.train_data.to(setup.device)
    for p in teacher.parameters():
        p.requires_grad_(True)
    optimizer, scheduler = build_optimizer(teacher.parameters(), config.optim)

    def evaluate() -> dict[str, float]:
        """Val mIoU with the prior correction applied (training runs without it)."""
        if loss.correct_prior:
            loss.apply_prior_correction(teacher)
        try:
            return {"val_miou": evaluate_teacher(teacher, setup.val_data)["miou"]}
        finally:
            if loss.correct_prior:
                teacher.set_logit_bias(torch.zeros(teacher.num_classes, device=setup.device))

    return run_training_loop(
        name=config.name,
        model=teacher,
        optimizer=optimizer,
        scheduler=scheduler,
        generator=setup.generator,
        steps=config.optim.steps,
        run=config.run,
        train_step=teacher_train_step(config, teacher=teacher, loss=loss, batch_data=batch_data, optimizer=optimizer,
                                      generator=setup.generator),
        log_fields=["loss", "val_miou"],
        evaluate=evaluate,
        resume=setup.resume,
        # Teacher.train() pins eval mode; training the teacher itself is the one exception.
        set_train_mode=lambda: nn.Module.train(teacher, True),
    )


def teacher_train_step(
    config: TeacherTrainingConfig,
    *,
    teacher: Teacher,
    loss: TeacherLoss,
    batch_data: MaterializedData,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> Callable[[int], dict[str, float]]:
    """``train_step(step)`` for :func:`run_training_loop`: cross-entropy (+ Lovász) on one random batch."""
    memory_format = _memory_format(config)

    def train_step(step: int) -> dict[str, float]:  # noqa: ARG001 - the loop's signature
        images, labels = batch_data.random_batch(
            batch_size=config.optim.batch_size, crop=config.data.crop, hflip=config.data.hflip, generator=generator,
            scale_range=config.data.scale_range, color_jitter=config.data.color_jitter,
        )
        logits = teacher.single_view_logits(images.contiguous(memory_format=memory_format))
        value = F.cross_entropy(logits, labels, weight=loss.weights, ignore_index=IGNORE_INDEX)
        if config.loss.lovasz_weight > 0:
            probs = torch.softmax(logits + loss.score_offset, dim=1)
            value = value + config.loss.lovasz_weight * lovasz_softmax(probs, labels, ignore_index=IGNORE_INDEX)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        if config.optim.grad_clip:
            nn.utils.clip_grad_norm_(teacher.parameters(), config.optim.grad_clip)
        optimizer.step()
        return {"loss": value.item()}

    return train_step


def evaluate_trained_teacher(setup: RunSetup, *, teacher: Teacher, loss: TeacherLoss, seconds: float) -> dict[str, Any]:
    """Freeze ``teacher`` (prior correction stored), evaluate it on the val split, write ``final.json``."""
    teacher.freeze()
    if loss.correct_prior:
        loss.apply_prior_correction(teacher)
    result = evaluate_teacher(teacher, setup.val_data)
    result["train_seconds_this_run"] = round(seconds, 1)
    write_final(setup, result)
    return result


def export_teacher(
    config: TeacherTrainingConfig, teacher: Teacher, result: dict[str, Any], *, config_path: str, command: str,
    zoo_dir: Path | None,
) -> None:
    """The zoo entry of the trained ``teacher`` (weights and metadata, ``result`` as its quality) in ``zoo_dir``."""
    from gosvae.zoo import save_zoo_entry

    val = config.data.val
    save_zoo_entry(
        directory=zoo_dir,
        state_dict={k: v.cpu() for k, v in teacher.state_dict().items()},
        metadata={
            "name": config.name,
            "kind": "teacher",
            "arch": config.arch,
            "arch_config": teacher.config,
            "description": config.description,
            "config": config_path,
            "command": command,
            "data": train_data_metadata(config),
            "steps": config.optim.steps,
            "init_from": config.init_from,
            "init_class_mapping": config.init_class_mapping,
            "label_space": teacher.label_space.name,
            "parameters": sum(p.numel() for p in teacher.parameters()),
            "quality": {
                "dataset": f"{val.name}/{val.split}",
                "num_images": result["num_images"],
                "size": list(val.size) if val.size else None,
                "miou": round(result["miou"], 4),
                "pixel_accuracy": round(result["pixel_accuracy"], 4),
                "per_class_iou": result["per_class_iou"],
            },
        },
    )

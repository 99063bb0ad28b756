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

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from gosvae.datasets import IGNORE_INDEX, build_dataset
from gosvae.errors import UserError
from gosvae.metrics import SegmentationMeter
from gosvae.teachers import Teacher, UrbanUNet, build_teacher
from gosvae.teachers.urban_unet import load_grown_state
from gosvae.training.loop import build_optimizer, run_training_loop
from gosvae.training.config import DatasetSpec, TeacherTrainingConfig, dataset_cache_file
from gosvae.training.data import MaterializedData
from gosvae.training.lovasz import lovasz_softmax
from gosvae.training.device import resolve_device


def materialize(spec: DatasetSpec, *, cache_dir: str | None, desc: str) -> tuple[MaterializedData, Any]:
    """The dataset of ``spec`` (for its metadata) and all of its items in memory."""
    dataset = build_dataset(
        name=spec.name, split=spec.split, root=spec.root, num_images=spec.num_images, size=spec.size, seed=spec.seed
    )
    data = MaterializedData.from_dataset(dataset, cache_file=dataset_cache_file(spec, cache_dir), desc=desc)
    return data, dataset


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
    """mIoU (confusion matrix over the whole set), pixel accuracy and per-class IoU of ``teacher``."""
    meter = SegmentationMeter(num_classes=teacher.num_classes, ignore_index=IGNORE_INDEX)
    was_training = teacher.training
    nn.Module.train(teacher, False)
    device = next(teacher.parameters()).device
    for images, labels in data.batches(batch_size=batch_size):
        meter.update(teacher.predict(images.to(device)).cpu(), labels)
    nn.Module.train(teacher, was_training)
    ious = meter.per_class_iou()
    return {
        "miou": float(meter.mean_iou()),
        "pixel_accuracy": float(meter.pixel_accuracy()),
        "per_class_iou": {
            name: (None if torch.isnan(torch.as_tensor(v)) else round(float(v), 4))
            for name, v in zip(teacher.class_names, ious.tolist())
        },
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
    torch.set_num_threads(config.run.num_threads)
    device = resolve_device(config.run.device)
    out = Path(config.run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    torch.manual_seed(config.run.seed)
    generator = torch.Generator().manual_seed(config.run.seed)

    train_data, _ = materialize(config.data.train, cache_dir=config.data.cache_dir, desc="train split")
    val_data, _ = materialize(config.data.val, cache_dir=config.data.cache_dir, desc="val split")
    teacher = build_teacher(config.arch, config.arch_config)
    if config.init_from and not (resume and (out / "checkpoint.pt").is_file()):
        load_initial_weights(teacher, config.init_from, class_mapping=config.init_class_mapping)
    teacher.to(device)
    memory_format = torch.channels_last if config.run.channels_last else torch.contiguous_format
    teacher.to(memory_format=memory_format)
    batch_data = train_data.to(device)
    for p in teacher.parameters():
        p.requires_grad_(True)

    weights = None
    if config.loss.class_weighting == "sqrt-inverse":
        weights = class_weights(train_data.labels, num_classes=teacher.num_classes).to(device)
    optimizer, scheduler = build_optimizer(teacher.parameters(), config.optim)
    correct_prior = config.loss.prior_correction and weights is not None
    if correct_prior and not isinstance(teacher, UrbanUNet):
        raise UserError(f"loss.prior_correction: supported for urban-unet teachers, not {config.arch}")
    # Scores the Lovász term sees: those the teacher will give once the prior correction is stored.
    score_offset = prior_correction_bias(weights).view(1, -1, 1, 1) if correct_prior else 0.0

    def evaluate(*, corrected: bool) -> dict[str, Any]:
        """Val metrics; with ``corrected`` the prior correction applied (training runs without it)."""
        if corrected:
            teacher.set_logit_bias(prior_correction_bias(weights))
        try:
            return evaluate_teacher(teacher, val_data)
        finally:
            if corrected:
                teacher.set_logit_bias(torch.zeros(teacher.num_classes, device=device))

    def train_step(step: int) -> dict[str, float]:
        images, labels = batch_data.random_batch(
            batch_size=config.optim.batch_size, crop=config.data.crop, hflip=config.data.hflip, generator=generator,
            scale_range=config.data.scale_range, color_jitter=config.data.color_jitter,
        )
        logits = teacher.single_view_logits(images.contiguous(memory_format=memory_format))
        loss = F.cross_entropy(logits, labels, weight=weights, ignore_index=IGNORE_INDEX)
        if config.loss.lovasz_weight > 0:
            probs = torch.softmax(logits + score_offset, dim=1)
            loss = loss + config.loss.lovasz_weight * lovasz_softmax(probs, labels, ignore_index=IGNORE_INDEX)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.optim.grad_clip:
            nn.utils.clip_grad_norm_(teacher.parameters(), config.optim.grad_clip)
        optimizer.step()
        return {"loss": loss.item()}

    seconds = run_training_loop(
        name=config.name,
        model=teacher,
        optimizer=optimizer,
        scheduler=scheduler,
        generator=generator,
        steps=config.optim.steps,
        run=config.run,
        train_step=train_step,
        log_fields=["loss", "val_miou"],
        evaluate=lambda: {"val_miou": evaluate(corrected=correct_prior)["miou"]},
        resume=resume,
        # Teacher.train() pins eval mode; training the teacher itself is the one exception.
        set_train_mode=lambda: nn.Module.train(teacher, True),
    )

    teacher.freeze()
    if correct_prior:
        teacher.set_logit_bias(prior_correction_bias(weights))
    result = evaluate_teacher(teacher, val_data)
    result["train_seconds_this_run"] = round(seconds, 1)
    (out / "final.json").write_text(json.dumps(result, indent=2) + "\n")
    if export_zoo:
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
                "data": {"train": config.data.train.model_dump(), "crop": config.data.crop, "hflip": config.data.hflip},
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
    return result

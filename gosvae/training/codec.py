"""Training of VQ-VAE / GOS-VAE codecs (``task: codec`` configs).

Schemes of the paper (Table IV) are configs of this one command:

- VQ-VAE: ``objective.name: mse`` (L_v, eq. 4) from scratch;
- GOS-VAE: ``objective.name: gos`` (L_s, eq. 5) from scratch, with a frozen ``teacher``;
- GOS-VAE*: ``init_from: <a VQ-VAE zoo name or run folder>`` then ``gos``;
- GOS-VAE†: the same with ``model.arch: residual`` (K = 12000);
- VQ-GAN: any of these plus a ``gan:`` section (PatchGAN, hinge loss, perceptual term:
  :mod:`gosvae.training.gan`).

A config with ``model.arch: factorized-ae`` trains the Ballé 2017 baseline instead
(:mod:`gosvae.training.factorized_ae`).

Dead codes are restarted from encoder outputs every ``codebook.restart_dead_every`` steps. At the
end the index prior (empirical index distribution over the training images, Laplace-smoothed) is
stored in the model, and the codec is evaluated on the val split (payload, mIoU, PSNR, ...).

Example
-------
$ gosvae train configs/codecs/gos_vae_star_r4.yaml --export-zoo
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal, Optional

import torch
from pydantic import Field
from torch import nn

from gosvae.codecs.vqvae import VQVAECodec
from gosvae.errors import UserError
from gosvae.evaluation import count_parameters, evaluate_codec
from gosvae.models import VQVAE
from gosvae.objectives import build_objective, load_objective_lpips
from gosvae.teachers import DEFAULT_TEACHER, Teacher, load_teacher
from gosvae.training.config import DataConfig, OptimConfig, RunConfig, StrictModel
from gosvae.training.data import MaterializedData
from gosvae.training.gan import GAN_LOG_FIELDS, GanConfig, GanTraining
from gosvae.training.loop import build_optimizer, run_training_loop
from gosvae.training.setup import RunSetup, initial_weights, prepare_run, train_data_metadata, write_final
from gosvae.yaml_config import validate_model


class ObjectiveConfig(StrictModel):
    name: Literal["mse", "gos", "ce", "mse+kld", "lpips", "kld+perceptual", "ce+perceptual"]
    perceptual: Literal["teacher-features", "lpips", "none"] = "teacher-features"
    weights: dict[str, float] = {}
    js_resolution: Literal["logits", "full"] = "logits"
    ce_target: Literal["soft", "hard"] = "soft"


class CodebookConfig(StrictModel):
    restart_dead_every: int = Field(500, ge=0)  # 0: never
    dead_threshold: float = Field(1.0, ge=0)
    stop_restarts_after: float = Field(0.7, ge=0, le=1)  # fraction of the steps


class SourceCodingConfig(StrictModel):
    coder: Literal["range", "huffman", "fixed"] = "range"
    rows_per_slice: int = Field(4, ge=1)


class CodecTrainingConfig(StrictModel):
    """``task: codec``: training of a VQ-VAE family codec."""

    task: Literal["codec"]
    name: str
    description: str = ""
    scheme: str = ""
    model: dict[str, Any]
    init_from: Optional[str] = None
    teacher: Optional[str] = DEFAULT_TEACHER
    objective: ObjectiveConfig
    codebook: CodebookConfig = CodebookConfig()
    source_coding: SourceCodingConfig = SourceCodingConfig()
    gan: Optional[GanConfig] = None
    data: DataConfig
    optim: OptimConfig
    run: RunConfig


@torch.no_grad()
def index_counts(model: VQVAE, data: MaterializedData, *, batch_size: int = 16) -> torch.Tensor:
    """How often each codeword is chosen over all of ``data`` (full images): (K,) int64."""
    counts = torch.zeros(model.codebook_size, dtype=torch.int64)
    for images, _ in data.batches(batch_size=batch_size):
        counts += torch.bincount(model.encode(images).flatten(), minlength=model.codebook_size)
    return counts


def train_codec(
    config: CodecTrainingConfig,
    *,
    config_path: str,
    command: str,
    resume: bool = False,
    export_zoo: bool = False,
    zoo_dir: Path | None = None,
) -> dict[str, Any]:
    """Run (or resume) the codec training of ``config``; returns its final evaluation row.

    With ``export_zoo`` the weights are rounded to float16 (the zoo format) before the final
    evaluation, and written with their metadata to ``zoo_dir`` (default: the package zoo).
    """
    setup = prepare_run(config, resume=resume)
    model = build_codec_model(config, setup, config_path=config_path)
    teacher, objective, gan = build_codec_objective(config, model, config_path=config_path)
    seconds = run_codec_training(config, setup, model=model, objective=objective, gan=gan)
    row = evaluate_trained_codec(config, setup, model=model, teacher=teacher, seconds=seconds, export_zoo=export_zoo)
    if export_zoo:
        export_codec(config, model, row, config_path=config_path, command=command, zoo_dir=zoo_dir)
    return row


def build_codec_model(config: CodecTrainingConfig, setup: RunSetup, *, config_path: str) -> VQVAE:
    """The VQ-VAE of ``config.model``, started from ``init_from`` unless the run resumes."""
    try:
        model = VQVAE(**config.model)
    except TypeError as exc:
        raise UserError(f"{config_path}: model: {exc}") from None
    if setup.starts_from(config.init_from):
        weights = initial_weights(config.init_from)  # a VQ-GAN run's checkpoint also holds its discriminator
        model.load_state_dict({k: v for k, v in weights.items() if not k.startswith("discriminator.")})
    return model


def build_codec_objective(
    config: CodecTrainingConfig, model: VQVAE, *, config_path: str
) -> tuple[Teacher | None, nn.Module, GanTraining | None]:
    """The teacher (None when the objective does not use it), the objective and the GAN part (or None)."""
    # L_v ("mse") and the LPIPS-only objective train without the teacher; it is loaded for the
    # final evaluation only, so VQ-VAEs can be trained before the teacher exists.
    needs_teacher = config.objective.name not in ("mse", "lpips") or (config.gan is not None and config.gan.needs_teacher)
    if needs_teacher and not config.teacher:
        raise UserError(f"{config_path}: teacher: objective '{config.objective.name}' (or gan.perceptual) needs a teacher")
    teacher = load_teacher(config.teacher) if needs_teacher else None
    objective = build_objective(
        config.objective.name,
        teacher=teacher,
        perceptual=config.objective.perceptual,
        lpips=load_objective_lpips(config.objective.name, perceptual=config.objective.perceptual,
                                   weights=config.objective.weights or None),  # from $GOSVAE_*_WEIGHTS
        weights=config.objective.weights or None,
        js_resolution=config.objective.js_resolution,
        ce_target=config.objective.ce_target,
    )
    gan = GanTraining(config.gan, model=model, teacher=teacher) if config.gan is not None else None
    return teacher, objective, gan


def run_codec_training(
    config: CodecTrainingConfig, setup: RunSetup, *, model: VQVAE, objective: nn.Module, gan: GanTraining | None
) -> float:
    """Train on ``setup.device`` (steps up to ``optim.steps``, resumable); model and objective end on
    the CPU, the model in eval mode. Returns the seconds of this call."""
    model.to(setup.device)
    objective.to(setup.device)  # holds the teacher (and LPIPS) when the objective uses them
    batch_data = setup.train_data.to(setup.device)
    param_groups = [{"params": list(model.parameters())}] + ([gan.to(setup.device).param_group()] if gan is not None else [])
    optimizer, scheduler = build_optimizer(param_groups, config.optim)
    train_step = codec_train_step(config, model=model, objective=objective, gan=gan, batch_data=batch_data,
                                  optimizer=optimizer, generator=setup.generator)
    log_fields = [*objective.weights.keys(), "total", "perplexity", "restarted_codes", *(GAN_LOG_FIELDS if gan else [])]
    seconds = run_training_loop(
        name=config.name,
        model=gan.wrap(model) if gan is not None else model,  # the checkpoint holds the discriminator too
        optimizer=optimizer,
        scheduler=scheduler,
        generator=setup.generator,
        steps=config.optim.steps,
        run=config.run,
        train_step=train_step,
        log_fields=log_fields,
        resume=setup.resume,
    )
    # Index prior, entropy coding and evaluation run on the CPU (the coder is CPU code).
    model.cpu().eval()
    objective.cpu()
    return seconds


def codec_train_step(
    config: CodecTrainingConfig,
    *,
    model: VQVAE,
    objective: nn.Module,
    gan: GanTraining | None,
    batch_data: MaterializedData,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> Callable[[int], dict[str, float]]:
    """``train_step(step)`` for :func:`run_training_loop`: one optimisation step on a random batch
    (plus the discriminator's step with a GAN, and dead-code restarts every ``codebook.restart_dead_every``)."""
    restart_until = int(config.codebook.stop_restarts_after * config.optim.steps)

    def train_step(step: int) -> dict[str, float]:
        images, _ = batch_data.random_batch(
            batch_size=config.optim.batch_size, crop=config.data.crop, hflip=config.data.hflip, generator=generator
        )
        output = model(images)
        losses = objective(images, output)
        if gan is not None:
            losses = gan.generator_losses(step, images, output, losses)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        if config.optim.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        optimizer.step()
        row = {k: float(v.detach()) for k, v in losses.items()}
        if gan is not None:
            row.update(gan.discriminator_step(step, images, output.x_hat, optimizer))
        row["perplexity"] = float(output.perplexity)
        every = config.codebook.restart_dead_every
        if every and (step + 1) % every == 0 and step + 1 <= restart_until:
            with torch.no_grad():
                z = model.encoder(images).permute(0, 2, 3, 1).reshape(-1, model.quantizer.embedding_dim)
            restarted = model.quantizer.restart_dead_codes(z, generator=generator, threshold=config.codebook.dead_threshold)
            row["restarted_codes"] = float(len(restarted)) * every  # logged as a mean over the window
        return row

    return train_step


def evaluate_trained_codec(
    config: CodecTrainingConfig, setup: RunSetup, *, model: VQVAE, teacher: Teacher | None, seconds: float,
    export_zoo: bool,
) -> dict[str, Any]:
    """Index prior and val evaluation of the trained ``model`` (on the CPU; rounded to float16
    first with ``export_zoo``); writes ``final.json`` and ``final_model.pt``. Returns the row."""
    if export_zoo:
        from gosvae.zoo import half_precision_state

        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half_precision_state(model.state_dict()).items()})
    model.quantizer.set_index_prior(index_counts(model, setup.train_data))
    codec = VQVAECodec(model, name=config.name, coder=config.source_coding.coder, rows_per_slice=config.source_coding.rows_per_slice)
    eval_teacher = teacher if teacher is not None else load_teacher(config.teacher or DEFAULT_TEACHER)
    row = evaluate_codec(codec, teacher=eval_teacher, data=setup.val_data, label=config.name)
    if config.scheme:  # the codec built from bare weights has no zoo entry to name its scheme
        row["scheme"] = row["describe"]["scheme"] = config.scheme
    row["train_seconds_this_run"] = round(seconds, 1)
    row["codes_used_on_val"] = int((index_counts(model, setup.val_data) > 0).sum())
    write_final(setup, row, model=model)
    return row


def export_codec(
    config: CodecTrainingConfig, model: VQVAE, row: dict[str, Any], *, config_path: str, command: str,
    zoo_dir: Path | None,
) -> None:
    """The zoo entry (float16 weights and metadata, ``row`` as its quality) in ``zoo_dir``."""
    from gosvae.zoo import half_precision_state, save_zoo_entry

    save_zoo_entry(
        directory=zoo_dir,
        state_dict=half_precision_state(model.state_dict()),
        metadata={
            "name": config.name,
            "kind": "codec",
            "arch": "vqvae",
            "arch_config": model.config,
            "description": config.description,
            "scheme": config.scheme,
            "config": config_path,
            "command": command,
            "data": train_data_metadata(config),
            "steps": config.optim.steps,
            "init_from": config.init_from,
            "teacher": config.teacher,
            "objective": config.objective.model_dump(),
            **({"gan": config.gan.model_dump(mode="json")} if config.gan is not None else {}),
            "parameters": count_parameters(model),
            "quality": {"dataset": f"{config.data.val.name}/{config.data.val.split}", **row},
        },
    )


def train_codec_from_yaml(
    data: dict, *, config_path: str, command: str, resume: bool, export_zoo: bool, zoo_dir: Path | None = None
) -> int:
    """CLI entry: validate the parsed YAML and train (``zoo_dir``: ``--export-zoo DIR``); prints the final row.
    ``model.arch: factorized-ae`` goes to :func:`gosvae.training.factorized_ae.train_factorized_ae_from_yaml`,
    ``model.arch: rl-asc`` to :func:`gosvae.training.rl_asc.train_rl_asc_from_yaml`."""
    if isinstance(data, dict) and isinstance(data.get("model"), dict) and data["model"].get("arch") == "factorized-ae":
        from gosvae.training.factorized_ae import train_factorized_ae_from_yaml

        return train_factorized_ae_from_yaml(data, config_path=config_path, command=command, resume=resume,
                                             export_zoo=export_zoo, zoo_dir=zoo_dir)
    if isinstance(data, dict) and isinstance(data.get("model"), dict) and data["model"].get("arch") == "rl-asc":
        from gosvae.training.rl_asc import train_rl_asc_from_yaml

        return train_rl_asc_from_yaml(data, config_path=config_path, command=command, resume=resume,
                                      export_zoo=export_zoo, zoo_dir=zoo_dir)
    config = validate_model(data, CodecTrainingConfig, source=config_path)
    row = train_codec(config, config_path=config_path, command=command, resume=resume, export_zoo=export_zoo, zoo_dir=zoo_dir)
    print(
        f"{config.name}: payload {row['payload_kb']:.2f} KB ({row['bpp']:.3f} bpp), mIoU {row['miou_gt']:.4f}, "
        f"mIoU vs teacher {row['miou_teacher']:.4f}, PSNR {row['psnr_db']:.2f} dB"
    )
    return 0

"""Training of the Ballé et al. 2017 factorized autoencoder (``task: codec`` with
``model.arch: factorized-ae``), dispatched from :func:`gosvae.training.codec.train_codec_from_yaml`.

The loss is ``objective.lmbda · 255² · MSE + bpp`` (:func:`~gosvae.models.factorized_ae.rate_distortion_loss`,
CompressAI's convention: a larger ``lmbda`` gives a higher rate); latents get additive uniform
noise during training, drawn from the run's seeded generator so a resumed run is the same run. The
density model trains with the transforms (one optimiser); its coding tables are derived from it at
load time, so no auxiliary loss is needed. At the end the codec ``factorized-ae`` is evaluated on
the val split, and ``--export-zoo [DIR]`` writes an entry (``arch: factorized-ae``) that
``build_codec("factorized-ae", model=NAME_or_DIR)`` loads.

Config syntax
-------------
.. code-block:: yaml

    task: codec
    name: factorized-ae-synthetic-lmid
    model: {arch: factorized-ae, channels: 64, latent_channels: 96, ratio: 16}
    objective: {name: rate-distortion, lmbda: 0.0067}
    teacher: urban-unet            # for the final evaluation (mIoU) only
    source_coding: {rows_per_slice: 2}
    data: {...}                    # as every codec config
    optim: {...}
    run: {...}

Example
-------
$ gosvae train configs/codecs/baselines/factorized_ae_synthetic_lmid.yaml --export-zoo runs/zoo/fae-mid
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, PositiveInt
from torch import nn

from gosvae.teachers import DEFAULT_TEACHER, load_teacher
from gosvae.training.config import DataConfig, OptimConfig, RunConfig, StrictModel

__all__ = ["FactorizedAEModelConfig", "FactorizedAETrainingConfig", "train_factorized_ae", "train_factorized_ae_from_yaml"]


class FactorizedAEModelConfig(StrictModel):
    arch: Literal["factorized-ae"]
    channels: PositiveInt = 128
    latent_channels: PositiveInt = 192
    ratio: Literal[2, 4, 8, 16, 32] = 16


class RateDistortionConfig(StrictModel):
    name: Literal["rate-distortion"] = "rate-distortion"
    lmbda: float = Field(gt=0)  # loss = lmbda * 255^2 * MSE + bpp


class FactorizedAESourceCoding(StrictModel):
    rows_per_slice: PositiveInt = 2


class FactorizedAETrainingConfig(StrictModel):
    """``task: codec`` with ``model.arch: factorized-ae``."""

    task: Literal["codec"]
    name: str
    description: str = ""
    scheme: str = "Factorized AE (Ballé 2017)"
    model: FactorizedAEModelConfig
    init_from: Optional[str] = None
    teacher: Optional[str] = DEFAULT_TEACHER
    objective: RateDistortionConfig
    source_coding: FactorizedAESourceCoding = FactorizedAESourceCoding()
    data: DataConfig
    optim: OptimConfig
    run: RunConfig


def train_factorized_ae(
    config: FactorizedAETrainingConfig,
    *,
    config_path: str,
    command: str,
    resume: bool = False,
    export_zoo: bool = False,
    zoo_dir: Path | None = None,
) -> dict[str, Any]:
    """Run (or resume) the training of ``config``; returns its final evaluation row (as
    :func:`gosvae.training.codec.train_codec`; ``export_zoo`` rounds the weights to float16 first)."""
    from gosvae.codecs.factorized_ae import FactorizedAECodec
    from gosvae.evaluation import count_parameters, evaluate_codec
    from gosvae.models.factorized_ae import FactorizedAE, rate_distortion_loss
    from gosvae.training.loop import build_optimizer, run_training_loop
    from gosvae.training.setup import initial_weights, prepare_run, train_data_metadata, write_final

    setup = prepare_run(config, resume=resume)
    generator = setup.generator
    model = FactorizedAE.from_config(config.model.model_dump())
    if setup.starts_from(config.init_from):
        model.load_state_dict(initial_weights(config.init_from))
    model.to(setup.device)
    batch_data = setup.train_data.to(setup.device)
    optimizer, scheduler = build_optimizer(model.parameters(), config.optim)
    lmbda = config.objective.lmbda

    def train_step(step: int) -> dict[str, float]:  # noqa: ARG001 - the loop's signature
        images, _ = batch_data.random_batch(
            batch_size=config.optim.batch_size, crop=config.data.crop, hflip=config.data.hflip, generator=generator
        )
        losses = rate_distortion_loss(images, model(images, noise=True, generator=generator), lmbda=lmbda)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        if config.optim.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        optimizer.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    seconds = run_training_loop(
        name=config.name, model=model, optimizer=optimizer, scheduler=scheduler, generator=generator,
        steps=config.optim.steps, run=config.run, train_step=train_step, log_fields=["mse", "bpp", "total"], resume=resume,
    )
    model.cpu().eval()
    del batch_data
    if export_zoo:
        from gosvae.zoo import half_precision_state

        model.load_state_dict({k: v.float() for k, v in half_precision_state(model.state_dict()).items()})
    codec = FactorizedAECodec(model, name=config.name, rows_per_slice=config.source_coding.rows_per_slice)
    teacher = load_teacher(config.teacher or DEFAULT_TEACHER)
    row = evaluate_codec(codec, teacher=teacher, data=setup.val_data, label=config.name)
    row["train_seconds_this_run"] = round(seconds, 1)
    write_final(setup, row, model=model)
    if export_zoo:
        from gosvae.zoo import half_precision_state, save_zoo_entry

        save_zoo_entry(
            directory=zoo_dir,
            state_dict=half_precision_state(model.state_dict()),
            metadata={
                "name": config.name, "kind": "codec", "arch": "factorized-ae", "arch_config": model.config,
                "description": config.description, "scheme": config.scheme, "config": config_path, "command": command,
                "data": train_data_metadata(config),
                "steps": config.optim.steps, "init_from": config.init_from, "teacher": config.teacher,
                "objective": config.objective.model_dump(), "parameters": count_parameters(model),
                "quality": {"dataset": f"{config.data.val.name}/{config.data.val.split}", **row},
            },
        )
    return row


def train_factorized_ae_from_yaml(
    data: dict, *, config_path: str, command: str, resume: bool, export_zoo: bool, zoo_dir: Path | None = None
) -> int:
    """CLI entry (through ``train_codec_from_yaml``): validate, train, print the final row."""
    from gosvae.yaml_config import validate_model

    config = validate_model(data, FactorizedAETrainingConfig, source=config_path)
    row = train_factorized_ae(config, config_path=config_path, command=command, resume=resume, export_zoo=export_zoo, zoo_dir=zoo_dir)
    print(
        f"{config.name}: payload {row['payload_kb']:.2f} KB ({row['bpp']:.3f} bpp), mIoU {row['miou_gt']:.4f}, "
        f"mIoU vs teacher {row['miou_teacher']:.4f}, PSNR {row['psnr_db']:.2f} dB"
    )
    return 0

"""Training of RL-ASC (``task: codec`` with ``model.arch: rl-asc``), in the paper's three stages.

- **Stage I** (``stages.one`` steps): encoder, classification module and generator at the finest
  level, with the GAN (multi-scale patch discriminator on (image, s), hinge loss), perceptual
  (the teacher's features, LPIPS-style), semantic (cross entropy of the teacher on x̂ against its
  labels on x: our reading of the paper's eq. 4), classification (``L_C``) and L1 terms.
- **Stage II** (``stages.two`` steps): the agent alone, encoder and decoder frozen: one batched
  REINFORCE episode per step (:func:`~gosvae.models.rl_asc_agent.run_episode`), reward
  ``η ΔD - λ ΔR`` with D = perceptual + semantic loss per image and R the Huffman bits of the
  concepts per pixel; γ = ``agent.gamma``.
- **Stage III** (``stages.three`` steps): all together: each step trains encoder, generator and
  discriminator with the levels the agent samples, and every ``agent.update_every`` steps the agent
  gets one more episode.

``allocation: finest`` trains **simplified RL-ASC**: no stage II, stage III at the finest level
(the same encoder/decoder steps, no agent). The end of stage I is saved as ``OUT/stage1.pt``
(model and discriminator); ``init_from: OUT/stage1.pt`` with ``stages.one: 0`` continues from it,
so simplified RL-ASC can share RL-ASC's stage I. The Huffman tables (``symbol_counts``) are fitted on
training crops before stage II and again at the end. One optimiser holds three parameter groups
(codec, discriminator, agent); a group whose gradients are unset in a step is not updated, so the
stages share it and a resumed run is the same run (checkpoints hold everything, discriminator
included). ``--export-zoo`` writes the codec (``arch: rl-asc``, agent included, float16 except the
symbol counts) with its measured val quality.

Config syntax
-------------
.. code-block:: yaml

    task: codec
    name: rl-asc-camvid-n4
    model: {arch: rl-asc, concept_channels: 4, width: 32}
    teacher: camvid-unet
    allocation: agent              # or finest (simplified RL-ASC)
    stages: {one: 600, two: 150, three: 300}
    losses: {adversarial: 0.05, perceptual: 1.0, semantic: 0.5, classification: 0.1, l1: 1.0}
    agent: {eta: 1.0, lmbda: 2.0, gamma: 0.99, lr: 0.001, batch_size: 4, update_every: 4}
    data: {...}
    optim: {batch_size: 8, lr: 0.0005}
    run: {...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from gosvae.training.config import DataConfig, RunConfig, StrictModel

__all__ = ["RLASCTrainingConfig", "train_rl_asc", "train_rl_asc_from_yaml"]


class RLASCModelConfig(StrictModel):
    arch: Literal["rl-asc"]
    concept_channels: PositiveInt = 8
    feature_channels: PositiveInt = 64
    width: PositiveInt = 32
    level_sizes: list[PositiveInt] = [1, 2, 3, 4, 6, 8]
    local_blocks: PositiveInt = 5
    global_blocks: PositiveInt = 3
    agent_hidden: PositiveInt = 64


class RLASCStages(StrictModel):
    one: int = Field(ge=0)
    two: int = Field(0, ge=0)
    three: int = Field(0, ge=0)


class RLASCLosses(StrictModel):
    adversarial: float = Field(0.05, ge=0)
    perceptual: float = Field(1.0, ge=0)
    semantic: float = Field(0.5, ge=0)
    classification: float = Field(0.1, ge=0)
    l1: float = Field(1.0, ge=0)


class RLASCGan(StrictModel):
    disc_channels: PositiveInt = 32
    disc_layers: PositiveInt = 3
    scales: PositiveInt = 2
    disc_lr: float = Field(2e-4, gt=0)
    disc_betas: tuple[float, float] = (0.5, 0.9)


class RLASCAgentConfig(StrictModel):
    eta: float = Field(1.0, ge=0)
    lmbda: float = Field(1.0, ge=0)  # reward weight of the rate in bits per pixel
    gamma: float = Field(0.99, ge=0, le=1)
    lr: float = Field(1e-3, gt=0)
    entropy_weight: float = Field(0.01, ge=0)
    batch_size: PositiveInt = 4
    update_every: PositiveInt = 4


class RLASCOptim(StrictModel):
    batch_size: PositiveInt = 8
    lr: float = Field(5e-4, gt=0)
    warmup_steps: int = Field(50, ge=0)
    grad_clip: Optional[float] = Field(1.0, gt=0)


class RLASCTrainingConfig(StrictModel):
    """``task: codec`` with ``model.arch: rl-asc``."""

    task: Literal["codec"]
    name: str
    description: str = ""
    model: RLASCModelConfig
    init_from: Optional[str] = None
    teacher: str
    allocation: Literal["agent", "finest"] = "agent"
    coder: Literal["huffman", "range"] = "huffman"
    stages: RLASCStages
    losses: RLASCLosses = RLASCLosses()
    gan: RLASCGan = RLASCGan()
    agent: RLASCAgentConfig = RLASCAgentConfig()
    data: DataConfig
    optim: RLASCOptim = RLASCOptim()
    run: RunConfig


class _TrainingState(nn.Module):
    """What a checkpoint holds: the RL-ASC model (agent included) and the discriminator."""

    def __init__(self, model: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.model, self.discriminator = model, discriminator


def per_image_feature_distance(features_x: list[torch.Tensor], features_y: list[torch.Tensor]) -> torch.Tensor:
    """:func:`gosvae.objectives.teacher_feature_distance` per image: (B,)."""
    per_layer = []
    for fx, fy in zip(features_x, features_y):
        ux = fx / (torch.linalg.vector_norm(fx, dim=1, keepdim=True) + 1e-10)
        uy = fy / (torch.linalg.vector_norm(fy, dim=1, keepdim=True) + 1e-10)
        per_layer.append((ux - uy).square().sum(dim=1).flatten(1).mean(dim=1))
    return torch.stack(per_layer).mean(dim=0)


def mean_level(levels: torch.Tensor, labels_d: torch.Tensor) -> float:
    """Mean level over the concepts present: ``levels`` (B, m), ``labels_d`` (B, h, w)."""
    present = torch.stack([torch.bincount(s.flatten(), minlength=levels.shape[1]) > 0 for s in labels_d])
    return float(levels[present].float().mean())


class RLASCTrainer:
    """The three stages' steps on one RL-ASC model (see the module docstring)."""

    def __init__(self, config: RLASCTrainingConfig, *, model: nn.Module, teacher: nn.Module, train_data: Any,
                 generator: torch.Generator) -> None:
        from gosvae.models.rl_asc_generator import MultiScalePatchDiscriminator

        self.config, self.model, self.teacher, self.data, self.generator = config, model, teacher, train_data, generator
        gan = config.gan
        self.discriminator = MultiScalePatchDiscriminator(num_classes=model.num_classes, channels=gan.disc_channels,
                                                          layers=gan.disc_layers, scales=gan.scales)
        self.state = _TrainingState(model, self.discriminator)
        codec_params = [p for name, p in model.named_parameters() if not name.startswith("agent.")]
        self.optimizer = torch.optim.AdamW([
            {"params": codec_params, "lr": config.optim.lr, "weight_decay": 0.0},
            {"params": list(self.discriminator.parameters()), "lr": gan.disc_lr, "betas": tuple(gan.disc_betas), "weight_decay": 0.0},
            {"params": list(model.agent.parameters()), "lr": config.agent.lr, "weight_decay": 0.0},
        ])
        stages = config.stages
        self.boundaries = (stages.one, stages.one + (stages.two if config.allocation == "agent" else 0))
        self.total_steps = self.boundaries[1] + stages.three

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, _ = self.data.random_batch(batch_size=size, crop=self.config.data.crop, hflip=self.config.data.hflip,
                                           generator=self.generator)
        with torch.no_grad():
            labels = self.teacher.predict(images)
        return images, labels

    def distortion(self, images: torch.Tensor, x_hat: torch.Tensor, *, reference: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Per-image perceptual and semantic losses (B,) of ``x_hat`` against ``reference``'s teacher outputs."""
        perceptual = per_image_feature_distance(reference["features"], self.teacher.features(x_hat))
        logits = self.teacher.logits(x_hat)
        semantic = F.cross_entropy(logits, reference["targets"], reduction="none").flatten(1).mean(dim=1)
        return {"perceptual": perceptual, "semantic": semantic}

    @torch.no_grad()
    def reference(self, images: torch.Tensor) -> dict[str, Any]:
        return {"features": self.teacher.features(images), "targets": self.teacher.logits(images).argmax(dim=1)}

    @torch.no_grad()
    def fit_tables(self, *, batches: int = 8) -> None:
        """Huffman tables from the encoder's features on ``batches`` training batches."""
        features = [self.model.encoder(self.batch(self.config.optim.batch_size)[0]) for _ in range(batches)]
        self.model.fit_symbol_counts(torch.cat(features))

    def codec_step(self, levels_of) -> dict[str, float]:
        """One GAN step of encoder + generator + classifier, then one of the discriminator."""
        from gosvae.models.rl_asc import upscale_labels
        from gosvae.training.gan import hinge_d_loss, hinge_g_loss

        w = self.config.losses
        images, labels = self.batch(self.config.optim.batch_size)
        reference = self.reference(images)
        labels_d = self.model.semantic_map(labels)
        levels = levels_of(images, labels_d)
        out = self.model(images, labels, levels=levels)
        terms = {k: v.mean() for k, v in self.distortion(images, out.image, reference=reference).items()}
        logits, targets = self.model.classifier(out.features, out.labels_d)
        terms["classification"] = F.cross_entropy(logits, targets)
        terms["l1"] = (out.image - images).abs().mean()
        s_up = upscale_labels(out.labels_d)
        self.discriminator.requires_grad_(False)
        terms["adversarial"] = torch.stack([hinge_g_loss(d) for d in self.discriminator(out.image, s_up)]).mean()
        total = sum(getattr(w, name) * value for name, value in terms.items())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if self.config.optim.grad_clip:
            nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], self.config.optim.grad_clip)
        self.optimizer.step()
        self.discriminator.requires_grad_(True)
        real, fake = self.discriminator(images, s_up), self.discriminator(out.image.detach(), s_up)
        d_loss = torch.stack([hinge_d_loss(r, f) for r, f in zip(real, fake)]).mean()
        self.optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizer.step()
        logged = {k: float(v.detach()) for k, v in terms.items()}
        return {**logged, "total": float(total.detach()), "d_loss": float(d_loss.detach()),
                "mean_level": mean_level(levels, labels_d)}

    def agent_step(self) -> dict[str, float]:
        """One REINFORCE episode on a fresh batch and one update of the agent."""
        from gosvae.models.rl_asc_agent import reinforce_loss, run_episode

        a = self.config.agent
        images, labels = self.batch(a.batch_size)
        reference = self.reference(images)
        with torch.no_grad():
            features = self.model.encoder(images)
            labels_d = self.model.semantic_map(labels)
        pixels = images.shape[-2] * images.shape[-1]

        @torch.no_grad()
        def evaluate(levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            quantized = self.model.quantizer(features, self.model.level_map(labels_d, levels))
            x_hat = self.model.decode(quantized, labels_d).image
            terms = self.distortion(images, x_hat, reference=reference)
            distortion = self.config.losses.perceptual * terms["perceptual"] + self.config.losses.semantic * terms["semantic"]
            bpp = self.model.concept_bits(features, labels_d, levels).sum(dim=1).float() / pixels
            return distortion, bpp

        episode = run_episode(self.model.agent, features=features, labels_d=labels_d, evaluate=evaluate, eta=a.eta,
                              lmbda=a.lmbda, sample=True, generator=self.generator)
        loss = reinforce_loss(episode, gamma=a.gamma, entropy_weight=a.entropy_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"agent_loss": float(loss.detach()), "return": float(episode.rewards.sum(dim=1).mean()),
                "episode_bpp": float(episode.bpp[:, -1].mean()), "episode_distortion": float(episode.distortion[:, -1].mean()),
                "mean_level": mean_level(episode.levels, labels_d)}

    def agent_levels(self, images: torch.Tensor, labels_d: torch.Tensor) -> torch.Tensor:
        """Levels sampled from the agent for a codec step of stage III (no gradient)."""
        from gosvae.models.rl_asc_agent import concept_states

        with torch.no_grad():
            features = self.model.encoder(images)
            states = concept_states(features, labels_d, self.model.num_classes)
            levels = torch.zeros(images.shape[0], self.model.num_classes, dtype=torch.int64)
            if states.images.numel():
                probs = torch.softmax(self.model.agent(states.features, states.masks, states.steps), dim=1)
                levels[states.images, states.classes] = torch.multinomial(probs, 1, generator=self.generator).squeeze(1)
        return levels

    def step(self, step: int) -> dict[str, float]:
        """The step ``step`` of the whole schedule (stage by position)."""
        finest = lambda images, labels_d: self.model.finest_levels(images.shape[0])  # noqa: E731
        if step < self.boundaries[0]:
            return {"stage": 1.0, **self.codec_step(finest)}
        if step == self.boundaries[0] and step > 0:
            # the end of stage I: kept so that simplified RL-ASC can continue from it (init_from)
            torch.save({"state": self.state.state_dict()}, Path(self.config.run.out_dir) / "stage1.pt")
        if step == self.boundaries[0] and self.config.allocation == "agent":
            self.fit_tables()
        if step < self.boundaries[1]:
            return {"stage": 2.0, **self.agent_step()}
        if self.config.allocation == "finest":
            return {"stage": 3.0, **self.codec_step(finest)}
        row = {"stage": 3.0, **self.codec_step(self.agent_levels)}
        if (step - self.boundaries[1]) % self.config.agent.update_every == 0:
            row.update({k: v for k, v in self.agent_step().items() if k != "mean_level"})
        return row


LOG_FIELDS = ["stage", "total", "perceptual", "semantic", "classification", "l1", "adversarial", "d_loss", "mean_level",
              "agent_loss", "return", "episode_bpp", "episode_distortion"]


def train_rl_asc(config: RLASCTrainingConfig, *, config_path: str, command: str, resume: bool = False,
                 export_zoo: bool = False, zoo_dir: Path | None = None) -> dict[str, Any]:
    """Run (or resume) the three stages of ``config``; returns the final val evaluation row."""
    from gosvae.codecs.rl_asc import RLASCCodec
    from gosvae.evaluation import count_parameters, evaluate_codec
    from gosvae.models.rl_asc import RLASC
    from gosvae.training.checkpoint import lr_lambda
    from gosvae.training.loop import run_training_loop
    from gosvae.training.setup import initial_weights, prepare_run, train_data_metadata, write_final

    # RL-ASC's order: the teacher is loaded after seeding, before the data (its classes size the model)
    setup = prepare_run(config, resume=resume, teacher=config.teacher)
    teacher, generator = setup.teacher, setup.generator
    arch = {k: v for k, v in config.model.model_dump().items() if k != "arch"}
    model = RLASC.from_config({**arch, "num_classes": teacher.num_classes})
    trainer = RLASCTrainer(config, model=model, teacher=teacher, train_data=setup.train_data, generator=generator)
    if setup.starts_from(config.init_from):
        if config.init_from.endswith(".pt"):  # another run's stage1.pt: model and discriminator
            trainer.state.load_state_dict(torch.load(config.init_from, map_location="cpu", weights_only=True)["state"])
        else:
            model.load_state_dict(initial_weights(config.init_from))
    scheduler = torch.optim.lr_scheduler.LambdaLR(trainer.optimizer, lr_lambda(
        warmup_steps=config.optim.warmup_steps, total_steps=max(trainer.total_steps, 1), schedule="constant"))
    seconds = run_training_loop(
        name=config.name, model=trainer.state, optimizer=trainer.optimizer, scheduler=scheduler, generator=generator,
        steps=trainer.total_steps, run=config.run, train_step=trainer.step, log_fields=LOG_FIELDS, resume=resume,
    )
    trainer.fit_tables()
    model.eval()
    keep = ("symbol_counts",)
    if export_zoo:
        from gosvae.zoo import half_precision_state

        model.load_state_dict({k: v.float() for k, v in half_precision_state(model.state_dict(), keep_float32=keep).items()})
    codec = RLASCCodec(model, teacher=teacher, name=config.name, default_allocation=config.allocation, coder=config.coder)
    row = evaluate_codec(codec, teacher=teacher, data=setup.val_data, label=config.name)
    row["train_seconds_this_run"] = round(seconds, 1)
    write_final(setup, row, model=model, json_default=str)
    if export_zoo:
        from gosvae.zoo import half_precision_state, save_zoo_entry

        save_zoo_entry(directory=zoo_dir, state_dict=half_precision_state(model.state_dict(), keep_float32=keep), metadata={
            "name": config.name, "kind": "codec", "arch": "rl-asc", "arch_config": model.config,
            "description": config.description, "scheme": "RL-ASC" if config.allocation == "agent" else "simplified RL-ASC",
            "allocation": config.allocation, "teacher": config.teacher, "config": config_path, "command": command,
            "data": train_data_metadata(config),
            "steps": trainer.total_steps, "stages": config.stages.model_dump(), "init_from": config.init_from,
            "losses": config.losses.model_dump(), "agent": config.agent.model_dump(), "parameters": count_parameters(model),
            "quality": {"dataset": f"{config.data.val.name}/{config.data.val.split}", **{k: v for k, v in row.items() if k != "describe"}},
        })
    return row


def train_rl_asc_from_yaml(data: dict, *, config_path: str, command: str, resume: bool, export_zoo: bool,
                           zoo_dir: Path | None = None) -> int:
    """CLI entry (through ``train_codec_from_yaml``): validate, train, print the final row."""
    from gosvae.yaml_config import validate_model

    config = validate_model(data, RLASCTrainingConfig, source=config_path)
    row = train_rl_asc(config, config_path=config_path, command=command, resume=resume, export_zoo=export_zoo, zoo_dir=zoo_dir)
    print(f"{config.name}: payload {row['payload_kb']:.2f} KB ({row['bpp']:.3f} bpp), mIoU {row['miou_gt']:.4f}, "
          f"mIoU vs teacher {row['miou_teacher']:.4f}, PSNR {row['psnr_db']:.2f} dB")
    return 0

"""VQ-GAN training (Esser et al. 2021): a VQ-VAE + a PatchGAN discriminator with hinge loss and a
perceptual term; the optional ``gan:`` section of a ``task: codec`` config.

Each step (from ``start_step`` on) alternates two updates of the one AdamW optimiser, whose second
parameter group is the discriminator's (own ``disc_lr`` and ``disc_betas``):

1. generator: ``L_G = L_objective + perceptual_weight · L_perc + weight · λ · (-mean D(x̂))``, with
   ``λ`` the adaptive weight ``‖∇_last L_rec‖ / (‖∇_last L_adv‖ + 1e-4)`` on the decoder's last
   layer (clamped to [0, 1e4]) when ``adaptive_weight``, else 1; the discriminator is frozen.
2. discriminator: ``L_D = ½ (mean relu(1 - D(x)) + mean relu(1 + D(sg[x̂])))`` (hinge).

Before ``start_step`` only ``L_objective + perceptual_weight · L_perc`` trains (the discriminator
rests). The discriminator's weights live in the checkpoint next to the codec's (keys
``discriminator.*``, see :class:`WithDiscriminator`), its Adam moments in the optimiser state, so
``--resume`` continues the same run. The exported zoo entry is the VQ-VAE only (codec ``vqvae``).

Config syntax
-------------
.. code-block:: yaml

    gan: {weight: 0.1, start_step: 250, disc_lr: 0.0002, disc_betas: [0.5, 0.9], disc_channels: 64,
          disc_layers: 3, adaptive_weight: true, perceptual: teacher-features, perceptual_weight: 1.0}

Example
-------
>>> gan = GanTraining(GanConfig(weight=0.1, perceptual="none"), model=model)     # doctest: +SKIP
>>> optimizer = torch.optim.AdamW([{"params": model.parameters()}, gan.param_group()])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Literal, Optional

import torch
from pydantic import Field, PositiveInt
from torch import nn

from gosvae.errors import UserError
from gosvae.models.patch_discriminator import PatchDiscriminator
from gosvae.training.config import StrictModel

__all__ = ["GanConfig", "GanTraining", "WithDiscriminator", "adaptive_weight", "hinge_d_loss", "hinge_g_loss"]

GAN_LOG_FIELDS = ["gan_perceptual", "g_adv", "adv_weight", "d_loss", "d_real", "d_fake"]


class GanConfig(StrictModel):
    """The ``gan:`` section of a codec training config (see the module docstring)."""

    weight: float = Field(0.1, ge=0)
    start_step: int = Field(0, ge=0)
    disc_lr: float = Field(2e-4, gt=0)
    disc_betas: tuple[float, float] = (0.5, 0.9)
    disc_channels: PositiveInt = 64
    disc_layers: PositiveInt = 3
    adaptive_weight: bool = True
    perceptual: Literal["teacher-features", "lpips", "none"] = "teacher-features"
    perceptual_weight: float = Field(1.0, ge=0)
    lpips_vgg16_weights: Optional[str] = None  # default: $GOSVAE_VGG16_WEIGHTS
    lpips_weights: Optional[str] = None  # default: $GOSVAE_LPIPS_WEIGHTS

    @property
    def needs_teacher(self) -> bool:
        return self.perceptual == "teacher-features" and self.perceptual_weight > 0


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss ``½ (mean relu(1 - D(x)) + mean relu(1 + D(x̂)))``: scalar."""
    return 0.5 * (torch.relu(1.0 - real_logits).mean() + torch.relu(1.0 + fake_logits).mean())


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss ``-mean D(x̂)``: scalar."""
    return -fake_logits.mean()


def adaptive_weight(rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor) -> torch.Tensor:
    """VQ-GAN's balance ``‖∇ rec‖ / (‖∇ g‖ + 1e-4)`` on ``last_layer``, clamped to [0, 1e4], detached."""
    rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0.0, 1e4).detach()


class WithDiscriminator(nn.Module):
    """The codec's sub-modules plus ``discriminator``: one state dict for checkpoints, whose codec
    keys are those of the codec alone (drop ``discriminator.*`` to load it into the codec)."""

    def __init__(self, model: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        if any(True for _ in model.parameters(recurse=False)) or any(True for _ in model.buffers(recurse=False)):
            raise UserError("WithDiscriminator: the codec must keep its weights in sub-modules")
        for name, child in model.named_children():
            self.add_module(name, child)
        self.add_module("discriminator", discriminator)


def _last_decoder_weight(model: nn.Module) -> torch.Tensor:
    convs = [m for m in model.decoder.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    if not convs:
        raise UserError("gan.adaptive_weight: the decoder has no convolution to balance the gradients on")
    return convs[-1].weight


class GanTraining(nn.Module):
    """The discriminator, the perceptual term and the two GAN updates of one training step.

    Parameters
    ----------
    config : GanConfig
        The ``gan:`` section.
    model : nn.Module
        The VQ-VAE being trained (its ``decoder``'s last convolution balances the adaptive weight).
    teacher : Teacher | None
        For ``perceptual: teacher-features``.
    """

    def __init__(self, config: GanConfig, *, model: nn.Module, teacher=None) -> None:
        super().__init__()
        from gosvae.objectives import Objective

        self.config = config
        self.discriminator = PatchDiscriminator(channels=config.disc_channels, layers=config.disc_layers)
        # a tuple, so the decoder's weight is not registered as a parameter of this module
        self._last_layer = (_last_decoder_weight(model),) if config.adaptive_weight else ()
        self.perceptual: Optional[nn.Module] = None
        if config.perceptual != "none" and config.perceptual_weight > 0:
            lpips = None
            if config.perceptual == "lpips":
                from gosvae.perceptual import load_lpips, resolve_lpips_weight_paths

                paths = resolve_lpips_weight_paths(vgg16_weights=config.lpips_vgg16_weights, lpips_weights=config.lpips_weights)
                lpips = load_lpips(vgg16_weights=paths.vgg16_weights, lpips_weights=paths.lpips_weights)
            self.perceptual = Objective(weights={"perceptual": 1.0}, teacher=teacher, perceptual=config.perceptual, lpips=lpips)

    def param_group(self) -> dict:
        """The discriminator's parameter group of the shared optimiser."""
        return {"params": list(self.discriminator.parameters()), "lr": self.config.disc_lr,
                "betas": tuple(self.config.disc_betas), "weight_decay": 0.0}

    def wrap(self, model: nn.Module) -> WithDiscriminator:
        """The module whose state the training loop checkpoints (codec + discriminator)."""
        return WithDiscriminator(model, self.discriminator)

    def generator_losses(self, step: int, images: torch.Tensor, output, losses: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``losses`` of the objective plus the perceptual and adversarial terms; ``total`` updated."""
        terms = dict(losses)
        total = losses["total"]
        if self.perceptual is not None:
            terms["gan_perceptual"] = self.perceptual(images, output)["perceptual"]
            total = total + self.config.perceptual_weight * terms["gan_perceptual"]
        if step >= self.config.start_step and self.config.weight > 0:
            self.discriminator.requires_grad_(False)
            terms["g_adv"] = hinge_g_loss(self.discriminator(output.x_hat))
            scale = adaptive_weight(total, terms["g_adv"], self._last_layer[0]) if self._last_layer else torch.ones(())
            terms["adv_weight"] = scale
            total = total + self.config.weight * scale * terms["g_adv"]
        terms["total"] = total
        return terms

    def discriminator_step(self, step: int, images: torch.Tensor, x_hat: torch.Tensor, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        """One hinge-loss update of the discriminator on real ``images`` and detached ``x_hat``."""
        if step < self.config.start_step:
            return {}
        self.discriminator.requires_grad_(True)
        real, fake = self.discriminator(images), self.discriminator(x_hat.detach())
        loss = hinge_d_loss(real, fake)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"d_loss": float(loss.detach()), "d_real": float(real.detach().mean()), "d_fake": float(fake.detach().mean())}

"""The VQ-VAE / GOS-VAE image codec model: encoder, vector quantiser, decoder.

GOS-VAE and VQ-VAE share this network; they differ only in the objective they are trained with
(:mod:`gosvae.objectives`). The transmitter runs :meth:`VQVAE.encode` (image -> codebook indices
(B, H/r, W/r)), the receiver :meth:`VQVAE.decode` (indices -> image); training runs
:meth:`VQVAE.forward`, which also returns the vector-quantisation loss terms.

Example
-------
>>> model = VQVAE(arch="shallow", ratio=4, codebook_size=512, embedding_dim=64)
>>> x = torch.rand(2, 3, 64, 128)
>>> indices = model.encode(x)                       # (2, 16, 32) int64 in [0, 512)
>>> x_hat = model.decode(indices)                   # (2, 3, 64, 128) in [0, 1]
>>> same = VQVAE.from_config(model.config)          # same architecture (weights: load_state_dict)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from gosvae.errors import ConfigError, UserError
from gosvae.models import residual, shallow
from gosvae.models.quantizer import DEFAULT_BETA, VectorQuantizer

ARCHITECTURES: tuple[str, ...] = ("shallow", "residual")
DEFAULT_CODEBOOK_SIZE: dict[str, int] = {"shallow": 512, "residual": 12000}
"""The paper's codebook sizes: 512 for the light GOS-VAE, 12000 for VQ-VAE† / GOS-VAE†."""
_RESIDUAL_ONLY = ("residual_channels", "num_residual_blocks")


@dataclass
class VQVAEOutput:
    """What :meth:`VQVAE.forward` returns.

    Attributes
    ----------
    x_hat : torch.Tensor
        (B, 3, H, W) float in [0, 1]: the rebuilt image.
    indices : torch.Tensor
        (B, H/r, W/r) int64: the codebook indices (what is transmitted).
    codebook_loss : torch.Tensor
        Scalar ``||sg[z] - e||^2`` (mean over elements).
    commitment_loss : torch.Tensor
        Scalar ``beta ||z - sg[e]||^2`` (mean over elements), already weighted by ``beta``.
    perplexity : torch.Tensor
        Scalar: effective number of codes used in this batch (no gradient).
    """

    x_hat: torch.Tensor
    indices: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor
    perplexity: torch.Tensor


class VQVAE(nn.Module):
    """VQ-VAE image codec with a shallow or residual encoder/decoder.

    Parameters
    ----------
    arch : str
        "shallow" (light, about 0.70 M parameters at r=4, K=512) or "residual" (about 7.2 M at
        r=4, K=12000).
    ratio : int
        Compression ratio ``r``: downsampling per side, one of 2, 4, 8, 16, 32.
    codebook_size : int | None
        ``K``; ``None`` takes the paper's value for ``arch`` (:data:`DEFAULT_CODEBOOK_SIZE`).
    embedding_dim : int
        ``D``, size of a codeword.
    beta : float
        Commitment weight (0.25).
    activation : str
        "relu" or "gelu".
    encoder_channels, decoder_channels : Sequence[int] | None
        Stage widths (``log2(r)`` each, highest resolution first); ``None`` for the calibrated
        defaults of ``arch``.
    residual_channels, num_residual_blocks : int | None
        Residual-block width and count ("residual" only; ``None`` for the defaults).

    Input
    -----
    x : torch.Tensor
        (B, 3, H, W) float in [0, 1]; H and W divisible by ``ratio``.

    Output
    ------
    VQVAEOutput
        ``x_hat`` (B, 3, H, W), ``indices`` (B, H/r, W/r) int64 and the scalar VQ terms.
    """

    def __init__(
        self,
        *,
        arch: str = "shallow",
        ratio: int = 4,
        codebook_size: int | None = None,
        embedding_dim: int = 64,
        beta: float = DEFAULT_BETA,
        activation: str = "relu",
        encoder_channels: Sequence[int] | None = None,
        decoder_channels: Sequence[int] | None = None,
        residual_channels: int | None = None,
        num_residual_blocks: int | None = None,
    ) -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise UserError(f"arch must be one of {list(ARCHITECTURES)}, got {arch!r}")
        shallow.num_stages(ratio)  # validates the ratio
        codebook_size = DEFAULT_CODEBOOK_SIZE[arch] if codebook_size is None else int(codebook_size)
        self.arch = arch
        self.ratio = int(ratio)
        common = {"ratio": self.ratio, "embedding_dim": int(embedding_dim), "activation": activation}
        if arch == "shallow":
            given = [name for name, value in zip(_RESIDUAL_ONLY, (residual_channels, num_residual_blocks))
                     if value is not None]
            if given:
                raise UserError(f"option(s) {given} apply to arch 'residual' only, not 'shallow'")
            self.encoder = shallow.ShallowEncoder(channels=encoder_channels, **common)
            self.decoder = shallow.ShallowDecoder(channels=decoder_channels, **common)
            block_options: dict[str, int] = {}
        else:
            block_options = {
                "residual_channels": residual.DEFAULT_RESIDUAL_CHANNELS
                if residual_channels is None else int(residual_channels),
                "num_residual_blocks": residual.DEFAULT_NUM_RESIDUAL_BLOCKS
                if num_residual_blocks is None else int(num_residual_blocks),
            }
            self.encoder = residual.ResidualEncoder(channels=encoder_channels, **common, **block_options)
            self.decoder = residual.ResidualDecoder(channels=decoder_channels, **common, **block_options)
        self.quantizer = VectorQuantizer(codebook_size=codebook_size, embedding_dim=embedding_dim, beta=beta)
        self._config: dict[str, Any] = {
            "arch": arch,
            "ratio": self.ratio,
            "codebook_size": codebook_size,
            "embedding_dim": int(embedding_dim),
            "beta": float(beta),
            "activation": activation,
            "encoder_channels": list(self.encoder.channels),
            "decoder_channels": list(self.decoder.channels),
            **block_options,
        }

    # ----------------------------------------------------------------------------------------
    # configuration
    # ----------------------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """JSON-able dict of every constructor option (defaults resolved); rebuilds the model."""
        return {k: list(v) if isinstance(v, list) else v for k, v in self._config.items()}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "VQVAE":
        """Build a model (fresh weights) from :attr:`config`; :class:`ConfigError` on unknown keys."""
        known = ("arch", "ratio", "codebook_size", "embedding_dim", "beta", "activation",
                 "encoder_channels", "decoder_channels") + _RESIDUAL_ONLY
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise ConfigError(f"model config: unknown key(s) {unknown} (known: {list(known)})")
        return cls(**dict(config))

    @property
    def codebook_size(self) -> int:
        """``K``, the size of the index alphabet."""
        return self.quantizer.codebook_size

    def latent_shape(self, height: int, width: int) -> tuple[int, int]:
        """Shape (H/r, W/r) of the index map of an (H, W) image; :class:`UserError` if not divisible."""
        if height % self.ratio or width % self.ratio or height <= 0 or width <= 0:
            raise UserError(
                f"image size {height}x{width} is not divisible by the compression ratio {self.ratio} "
                f"(crop or pad height and width to multiples of {self.ratio})"
            )
        return height // self.ratio, width // self.ratio

    def _check_images(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3:
            raise UserError(f"images must be (B, 3, H, W), got {tuple(x.shape)}")
        self.latent_shape(x.shape[2], x.shape[3])

    # ----------------------------------------------------------------------------------------
    # transmitter / receiver / training
    # ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Transmitter: images (B, 3, H, W) in [0, 1] -> indices (B, H/r, W/r) int64 in [0, K).

        Runs without gradient and does not update the codebook usage counts.
        """
        self._check_images(x)
        z = self.encoder(x)
        return self.quantizer.nearest_codewords(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])).view(
            z.shape[0], z.shape[2], z.shape[3]
        )

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Receiver: indices (B, h, w) int in [0, K) -> images (B, 3, h*r, w*r) float in [0, 1]."""
        return self.decoder(self.quantizer.lookup(indices))

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        self._check_images(x)
        quantized = self.quantizer(self.encoder(x))
        return VQVAEOutput(
            x_hat=self.decoder(quantized.z_q),
            indices=quantized.indices,
            codebook_loss=quantized.codebook_loss,
            commitment_loss=quantized.commitment_loss,
            perplexity=quantized.perplexity,
        )

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, ratio={self.ratio}"

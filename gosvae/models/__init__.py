"""The VQ-VAE family of GOS-VAE: vector quantiser, shallow and residual encoders/decoders, model;
and the learned baselines: the Ballé 2017 factorized autoencoder (GDN) and VQ-GAN's PatchGAN
discriminator.

Example
-------
>>> import torch
>>> from gosvae.models import VQVAE
>>> model = VQVAE(arch="shallow", ratio=4)           # K = 512, D = 64, about 0.69 M parameters
>>> indices = model.encode(torch.rand(1, 3, 64, 128))  # (1, 16, 32) int64
"""

from gosvae.models.factorized_ae import FactorizedAE, FactorizedAEOutput, FactorizedDensity
from gosvae.models.gdn import GDN
from gosvae.models.patch_discriminator import PatchDiscriminator
from gosvae.models.quantizer import QuantizerOutput, VectorQuantizer, perplexity_from_counts
from gosvae.models.residual import ResidualBlock, ResidualDecoder, ResidualEncoder
from gosvae.models.shallow import SUPPORTED_RATIOS, ShallowDecoder, ShallowEncoder
from gosvae.models.vqvae import VQVAE, VQVAEOutput

__all__ = [
    "FactorizedAE",
    "FactorizedAEOutput",
    "FactorizedDensity",
    "GDN",
    "PatchDiscriminator",
    "SUPPORTED_RATIOS",
    "QuantizerOutput",
    "ResidualBlock",
    "ResidualDecoder",
    "ResidualEncoder",
    "ShallowDecoder",
    "ShallowEncoder",
    "VQVAE",
    "VQVAEOutput",
    "VectorQuantizer",
    "perplexity_from_counts",
]

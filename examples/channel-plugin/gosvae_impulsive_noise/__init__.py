"""gosvae-impulsive-noise: an example channel-model plugin for the gosvae-sim simulator.

It adds the model ``bernoulli-gaussian`` (impulsive noise) through the ``gosvae.channels`` entry
point declared in ``pyproject.toml``; once the package is installed, scenarios use it by name::

    channel: {model: bernoulli-gaussian, params: {probability: 0.05, impulse_ratio: 100}}
"""

from gosvae_impulsive_noise.bernoulli_gaussian import BernoulliGaussianChannel, BernoulliGaussianParams

__all__ = ["BernoulliGaussianChannel", "BernoulliGaussianParams"]
__version__ = "0.1.0"

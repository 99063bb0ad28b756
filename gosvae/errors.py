"""Errors raised for user mistakes: :mod:`gosvae_core.errors`, re-exported here for existing imports.

The definitions live in the shared package below ``gosvae``, ``channels`` and ``simulation``, so
the channel models do not depend on the codec side.
"""

from gosvae_core.errors import ConfigError, DatasetLayoutError, MissingWeightsError, UserError, bounded_repr

__all__ = ["ConfigError", "DatasetLayoutError", "MissingWeightsError", "UserError", "bounded_repr"]

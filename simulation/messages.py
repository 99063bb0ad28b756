"""One-line messages for scenario problems: :mod:`gosvae_core.messages`, re-exported here."""

from gosvae_core.messages import config_error, describe, field_path, first_problem, short_repr

__all__ = ["config_error", "describe", "field_path", "first_problem", "short_repr"]

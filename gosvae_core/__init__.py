"""Infrastructure shared by every package of the project, below all of them.

- :mod:`gosvae_core.errors`: :class:`~gosvae_core.errors.UserError` and its kinds (printed as one
  line, exit 2, by every command), :func:`~gosvae_core.errors.bounded_repr`;
- :mod:`gosvae_core.messages`: the one formatter of pydantic validation errors;
- :mod:`gosvae_core.registry`: the name → class :class:`~gosvae_core.registry.Registry` with
  entry-point plug-ins.

``channels`` (propagation), ``gosvae`` (source side) and ``simulation`` (link and experiments)
import these; this package imports none of them.
"""

"""Registry of channel models: the names written in scenarios (``channel: rayleigh``) to classes.

Built-in models register themselves on import of :mod:`channels`; a third-party package adds one
without touching this repository through the ``gosvae.channels`` entry-point group::

    [options.entry_points]
    gosvae.channels =
        my-model = my_package.channels:MyChannel

Example
-------
>>> from channels import build_channel
>>> channel = build_channel("rayleigh", {"fading": "block", "coherence_symbols": 128})
>>> build_channel("rayleigh", {"coherence_symbols": 0})   # doctest: +SKIP
ConfigError: channel.params.coherence_symbols: must be >= 1, got 0
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from channels.base import ChannelModel, config_error_from_validation
from gosvae_core.registry import Registry

__all__ = ["CHANNELS", "build_channel", "channel_class", "register_channel"]

CHANNELS = Registry("channel model", entry_point_group="gosvae.channels")

T = TypeVar("T")


def register_channel(name: str, *, description: str = "") -> Callable[[T], T]:
    """Class decorator registering a :class:`~channels.base.ChannelModel` subclass under ``name``.

    Raises ``TypeError`` at import time if the class does not follow the contract (not a
    ``ChannelModel`` subclass, or ``Params`` is not a pydantic model).
    """

    def decorator(cls: T) -> T:
        _check_model_class(name, cls)
        return CHANNELS.register(name, description=description)(cls)

    return decorator


def channel_class(name: str) -> type[ChannelModel]:
    """The class registered as ``name`` (plugins included); :class:`UserError` if unknown or invalid."""
    return CHANNELS.get_checked(name, _check_model_class)


def build_channel(name: str, params: Mapping[str, Any] | None = None, *, where: str = "channel.params") -> ChannelModel:
    """Validate ``params`` against the model's ``Params`` and build the model.

    Input: ``name`` a registered model name; ``params`` its parameters (``None`` for defaults);
    ``where`` the path of the parameters in the user's file, used in error messages.
    Output: the channel model, a :class:`~channels.base.ChannelModel`.
    Raises :class:`~gosvae_core.errors.ConfigError` naming the field for a bad parameter and
    :class:`~gosvae_core.errors.UserError` for an unknown name.
    """
    cls = channel_class(name)
    params = dict(params or {})
    try:
        cls.Params(**params)
    except ValidationError as exc:
        raise config_error_from_validation(exc, where=where) from None
    return cls(**params)


def _check_model_class(name: str, cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, ChannelModel)):
        raise TypeError(f"channel model '{name}' must be a subclass of channels.base.ChannelModel, got {cls!r}")
    params = getattr(cls, "Params", None)
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise TypeError(f"channel model '{name}': class attribute Params must be a pydantic model, got {params!r}")

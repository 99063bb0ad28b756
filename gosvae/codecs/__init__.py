"""Codecs as plug-ins: the contract, the registry lookup, and the built-in codecs.

Every codec subclasses :class:`~gosvae.codecs.base.Codec` (pydantic ``Params``, ``encode``,
``decode``, ``describe``, ``size_multiple``) and is registered by name in
:data:`gosvae.registry.CODECS`. Built-in codecs: ``vqvae`` (the VQ-VAE / GOS-VAE family, VQ-GAN
included), ``factorized-ae`` (Ballé 2017 autoencoder, factorized entropy model) and, when
:mod:`gosvae.codecs.pillow_codecs` imports, the byte codecs ``jpeg``, ``jpeg2000``, ``webp``,
``avif``. A third-party package adds one through the ``gosvae.codecs`` entry-point group::

    [project.entry-points."gosvae.codecs"]
    my-codec = "my_package:MyCodec"

A plug-in (or built-in module) that fails to import is listed as failed (``simulate
--list-codecs``) and does not break the other codecs. The conformance kit is
:func:`gosvae.codecs.testing.check_codec`.

Example
-------
>>> from gosvae.codecs import build_codec, parse_codec_spec
>>> name, params = parse_codec_spec("vqvae:model=gos-vae-star-r4,coder=huffman")
>>> name, params
('vqvae', {'model': 'gos-vae-star-r4', 'coder': 'huffman'})
>>> codec = build_codec(name, **params)                   # doctest: +SKIP
>>> build_codec("vqvae", model="gos-vae-star-r4", coder="arith")   # doctest: +SKIP
ConfigError: codec.params.coder: must be 'range', 'huffman' or 'fixed', got 'arith'
"""

from __future__ import annotations

import importlib.util
from typing import Any, Callable, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from gosvae.codecs.base import Bitstream, Codec, CodecParams, DecodedBatch, ReceivedPackets, params_error
from gosvae.errors import UserError
from gosvae.registry import CODECS, RegistryEntry

__all__ = [
    "CODECS",
    "Bitstream",
    "Codec",
    "CodecParams",
    "DecodedBatch",
    "ReceivedPackets",
    "build_codec",
    "codec_class",
    "parse_codec_spec",
    "register_codec",
    "validate_codec_params",
]

T = TypeVar("T")

#: Names registered by the built-in byte-codec module (listed as failed if it cannot be imported).
PILLOW_CODEC_NAMES = ("jpeg", "jpeg2000", "webp", "avif")


def register_codec(name: str, *, description: str = "") -> Callable[[T], T]:
    """Class decorator registering a :class:`Codec` subclass under ``name`` (sets ``codec_name``).

    Raises ``TypeError`` at import time if the class does not follow the contract.
    """

    def decorator(cls: T) -> T:
        _check_codec_class(name, cls)
        if not cls.__dict__.get("codec_name"):
            cls.codec_name = name  # type: ignore[attr-defined]
        return CODECS.register(name, description=description)(cls)

    return decorator


def codec_class(name: str) -> type[Codec]:
    """The class registered as ``name`` (plug-ins included); one-line :class:`UserError` if unknown,
    failed to load, or not a :class:`Codec`."""
    cls = CODECS.get(name)
    try:
        _check_codec_class(name, cls)
    except TypeError as exc:
        raise UserError(str(exc)) from None
    if not cls.__dict__.get("codec_name") and not getattr(cls, "codec_name", ""):
        cls.codec_name = name  # a plug-in registered through its entry point only
    return cls


def validate_codec_params(name: str, params: Mapping[str, Any] | None = None, *, where: str = "codec.params") -> CodecParams:
    """Validate ``params`` against codec ``name``'s ``Params`` (nothing is built).

    Output: the validated :class:`CodecParams`. Raises :class:`ConfigError` naming ``WHERE.FIELD``.
    """
    cls = codec_class(name)
    try:
        return cls.Params(**dict(params or {}))
    except ValidationError as exc:
        raise params_error(exc, where=where, model=cls.Params) from None


def build_codec(name: str, params: Mapping[str, Any] | None = None, *, where: str = "codec.params", **kwargs: Any) -> Codec:
    """Build codec ``name`` with ``params`` (a mapping and/or keywords), validated first.

    Input: ``name`` a registered codec (``simulate --list-codecs``); ``where`` the path of the
    parameters in the user's file, used in messages. Output: the :class:`Codec`.
    Raises :class:`ConfigError` (bad parameter, naming the field) or :class:`UserError` (unknown
    codec, missing model).
    """
    merged = {**dict(params or {}), **kwargs}
    validate_codec_params(name, merged, where=where)
    return codec_class(name)(**merged)


def parse_codec_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``NAME[:KEY=VALUE,KEY=VALUE...]`` → ``(NAME, {KEY: VALUE})``; values are YAML scalars
    (``quality=30`` gives an int, ``0.5`` a float, ``true`` a bool, ``model=vq-vae-r4`` a string). One-line :class:`UserError` if malformed."""
    name, _, rest = spec.partition(":")
    if not name.strip():
        raise UserError(f"codec spec {spec!r}: expected NAME[:KEY=VALUE,...], e.g. jpeg:quality=30")
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"codec spec {spec!r}: {item!r} is not KEY=VALUE")
        params[key.strip()] = _scalar(value.strip())
    return name.strip(), params


def _scalar(text: str) -> Any:
    """``30`` → 30, ``0.5`` → 0.5, ``true``/``false``/``null`` → bool/None, anything else the text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _check_codec_class(name: str, cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Codec)):
        raise TypeError(f"codec '{name}' must be a subclass of gosvae.codecs.base.Codec, got {cls!r}")
    params = getattr(cls, "Params", None)
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise TypeError(f"codec '{name}': class attribute Params must be a pydantic model, got {params!r}")


def _load_builtin_byte_codecs() -> None:
    """Import :mod:`gosvae.codecs.pillow_codecs` (it registers its codecs); if it exists but fails
    to import, list its codecs as failed instead of breaking the registry."""
    if importlib.util.find_spec("gosvae.codecs.pillow_codecs") is None:
        return
    try:
        importlib.import_module("gosvae.codecs.pillow_codecs")
    except ImportError as exc:
        for name in PILLOW_CODEC_NAMES:
            if name not in CODECS._entries:  # noqa: SLF001 - record the failure like a broken plug-in
                CODECS._entries[name] = RegistryEntry(name, None, f"failed to load: {exc}", "built-in")  # noqa: SLF001


def _load_builtin_module(module: str, names: tuple[str, ...]) -> None:
    """Import a built-in codec module (it registers ``names``); on ImportError list them as failed."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        for name in names:
            if name not in CODECS._entries:  # noqa: SLF001 - record the failure like a broken plug-in
                CODECS._entries[name] = RegistryEntry(name, None, f"failed to load: {exc}", "built-in")  # noqa: SLF001


import gosvae.codecs.vqvae  # noqa: E402,F401 - registers the vqvae codec

_load_builtin_byte_codecs()
_load_builtin_module("gosvae.codecs.factorized_ae", ("factorized-ae",))  # the learned baseline (Ballé 2017)
_load_builtin_module("gosvae.codecs.rl_asc", ("rl-asc",))  # RL-ASC (Huang et al. 2022), the second semantic codec

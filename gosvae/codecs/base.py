"""The codec contract: images in, packets out; received packets in, full-size images out.

Every codec of the project (the VQ-VAE family, the byte codecs JPEG / JPEG 2000 / WebP / AVIF, the
learned baselines, RL-ASC, third-party plug-ins) subclasses :class:`Codec`, so the link, the
sweeps, ``gosvae eval``, the result files and ``gosvae encode/decode`` never special-case one.

- A codec declares its parameters as a pydantic model in the class attribute ``Params``
  (``extra="forbid"``, so a typo is an error); the constructor takes them as keywords and validates
  them (``codec_cls.Params(**user_dict)`` checks a scenario entry before anything is built).
- ``encode(images, *, byte_budgets=None) -> list[Bitstream]``: one :class:`Bitstream` (packets,
  each ``bytes``) per image; the packets are exactly what the link carries and what the payload
  columns count. ``byte_budgets`` (one int per image or ``None``) is a rate target that codecs
  with a rate knob meet as closely as they can from below (others ignore it and say so in
  :meth:`Codec.describe`'s ``rate_control``).
- ``decode(received, *, image_size) -> DecodedBatch``: per image, the packets in the order sent,
  each ``bytes`` or ``None`` (lost). Decoding never raises on lost or damaged packets: it conceals
  and reports (:attr:`DecodedBatch.concealed_fraction`, :attr:`DecodedBatch.failed`), and always
  returns ``(B, 3, H, W)`` images for ``image_size = (H, W)``.
- Deterministic: the same images give the same packets, the same packets the same images; no
  global random state is read or changed.
- ``describe()``: the codec's identity for result files (``codec`` = registry name, ``scheme``,
  and what else tells curves apart: model, ratio, quality, coder).

The conformance kit :func:`gosvae.codecs.testing.check_codec` checks these rules for any codec.

Example
-------
>>> codec = build_codec("jpeg", quality=50)                          # doctest: +SKIP
>>> streams = codec.encode(images)                                   # images (B, 3, H, W) in [0, 1]
>>> [s.num_bytes for s in streams]                                   # payload per image
>>> out = codec.decode([s.packets for s in streams], image_size=images.shape[-2:])
>>> out.images.shape                                                 # (B, 3, H, W)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from gosvae.errors import ConfigError
from gosvae_core.messages import config_error

__all__ = ["Bitstream", "Codec", "CodecParams", "DecodedBatch", "ReceivedPackets", "params_error"]

ReceivedPackets = Sequence["bytes | None"]


class CodecParams(BaseModel):
    """Base of every codec's ``Params``: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), frozen=True)


@dataclass(frozen=True)
class Bitstream:
    """The packets of one encoded image, in transmission order."""

    packets: list[bytes]

    @property
    def num_bytes(self) -> int:
        """Total size of all packets (headers included) in bytes: the payload the link carries."""
        return sum(len(p) for p in self.packets)


@dataclass
class DecodedBatch:
    """What the receiver rebuilt.

    Attributes
    ----------
    images : torch.Tensor
        (B, 3, H, W) float32 in [0, 1], always the requested size.
    concealed_fraction : list[float]
        Per image, the fraction of the transmitted units (index rows, MCU rows, packets) that were
        lost or undecodable and concealed; 0.0 for a clean decode.
    failed : list[bool]
        Per image, True when nothing usable could be decoded and the image is a fallback (e.g.
        mid-grey); counted in the results as decode failures.
    details : list
        Codec-specific per-image decoding reports.
    """

    images: torch.Tensor
    concealed_fraction: list[float]
    failed: list[bool] = field(default_factory=list)
    details: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.failed:
            self.failed = [False] * len(self.concealed_fraction)


def params_error(exc: ValidationError, *, where: str, model: type[BaseModel] | None = None) -> ConfigError:
    """A pydantic error of a codec's ``Params`` as one line: ``WHERE.FIELD: problem, got VALUE``
    (:func:`gosvae_core.messages.config_error`, the project's one formatter).

    Example: ``codecs[0].params.quality: must be <= 100, got 300``; an unknown key lists the known ones.
    """
    return config_error(exc, where=where, model=model)


class Codec(ABC):
    """Base class of all codecs (see the module docstring for the contract).

    Subclasses set ``Params`` (a :class:`CodecParams` subclass) and implement :meth:`encode`,
    :meth:`decode` and :meth:`describe`. ``codec_name`` is set by the registry to the name the
    codec is registered under.
    """

    Params: ClassVar[type[CodecParams]] = CodecParams
    codec_name: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        try:
            self.params = self.Params(**params)
        except ValidationError as exc:
            raise params_error(exc, where=type(self).__name__, model=self.Params) from None

    @classmethod
    def default_label(cls, params: CodecParams) -> str:
        """Curve label of a scenario entry without ``label``: the codec name and its non-default
        parameters (``jpeg/quality-30``); must not contain ``;``, ``=`` or line breaks."""
        given = params.model_dump(mode="json", exclude_defaults=True)
        return "/".join([cls.codec_name or cls.__name__, *(f"{k}-{v}" for k, v in given.items())])

    def num_parameters(self) -> int | None:
        """Number of learned parameters (``gosvae eval``'s Params column); ``None`` for codecs without."""
        return None

    @abstractmethod
    def encode(self, images: torch.Tensor, *, byte_budgets: Sequence[int] | None = None) -> list[Bitstream]:
        """Input: images (B, 3, H, W) float in [0, 1]; optional per-image byte budgets.
        Output: one :class:`Bitstream` per image."""

    @abstractmethod
    def decode(self, received: Sequence[ReceivedPackets], *, image_size: tuple[int, int]) -> DecodedBatch:
        """Input: per image, the received packets (``bytes`` or ``None``), ``image_size`` (H, W).
        Output: :class:`DecodedBatch` with (B, 3, H, W) images."""

    def describe(self) -> dict[str, Any]:
        """Identity of this codec for result files: at least ``codec`` and ``scheme``; the default
        adds every parameter."""
        return {"codec": self.codec_name, "scheme": self.codec_name, **self.params.model_dump(mode="json")}

    def size_multiple(self) -> int:
        """Image height and width must be multiples of this (1 for byte codecs; r for a VQ-VAE)."""
        return 1

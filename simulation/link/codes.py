"""Registry of channel codes: the names written in scenarios (``link: {code: ldpc}``) to classes.

Every code is a :class:`ChannelCode` subclass with one interface, so the link never asks which
code it holds: the class states its limits (rates, block sizes) and builds itself from a
:class:`~simulation.link.config.LinkConfig`; an instance maps ``(G, k)`` information bits to
``(G, n)`` code bits and ``(G, n)`` LLRs back to ``(G, k)`` hard bits. The built-in codes
("ldpc", "polar", "none", :mod:`simulation.link.fec`) register themselves on import of
:mod:`simulation.link`; a third-party package adds one without touching this repository through
the ``gosvae.codes`` entry-point group::

    [project.entry-points."gosvae.codes"]
    repetition = my_package.codes:RepetitionCode

Example
-------
>>> @register_code("repetition")
... class RepetitionCode(ChannelCode):
...     '''Each bit sent three times, majority by LLR sum.'''
...     rate_limits = (1 / 3, 1 / 3)
...     default_rate = 1 / 3
...     def codeword_bits(self, k):
...         return self._whole_symbols(3 * k)
...     def encode(self, bits):
...         padding = self.codeword_bits(bits.shape[1]) - 3 * bits.shape[1]     # to whole symbols
...         return torch.nn.functional.pad(bits.repeat(1, 3), (0, padding))
...     def decode(self, llr, *, k):
...         return DecodeResult((llr[:, : 3 * k].reshape(-1, 3, k).sum(1) > 0).float())
>>> link = Link(LinkConfig(code="repetition"), build_channel("awgn"), device="cpu")   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

import torch

from gosvae_core.registry import Registry

if TYPE_CHECKING:
    from simulation.link.config import LinkConfig

__all__ = ["CODES", "ChannelCode", "DecodeResult", "build_code", "code_class", "register_code"]

CODES = Registry("channel code", entry_point_group="gosvae.codes")

T = TypeVar("T")


@dataclass(frozen=True)
class DecodeResult:
    """Output of :meth:`ChannelCode.decode`: ``bits`` (G, k) float 0/1 and the number of
    codewords that needed no decoding iteration (their hard decisions already were codewords)."""

    bits: torch.Tensor
    early_exits: int = 0


class ChannelCode:
    """Contract of a channel code: block-length rules plus batched encode/decode.

    Class attributes (the code's limits, read when a ``link:`` section is validated)
    ----------------
    rate_limits : tuple[float, float]
        Lowest and highest rate k/n accepted.
    default_rate : float
        Rate used when ``link.rate`` is left out.
    min_block_size : int
        Smallest ``k`` the code accepts.
    interleavable : bool
        Whether ``link.interleaver`` applies to its codewords (False for no code: the bits are
        sent as they are).

    Parameters
    ----------
    rate : float
        Code rate of each block.
    bits_per_symbol : int
        Bits per constellation symbol; ``n`` is rounded up to whole symbols.
    max_block_size : int | None
        Largest ``k`` the link puts in one block (None: no limit).
    device : str
        Device of the computation.
    """

    name: ClassVar[str] = ""  # set by register_code
    rate_limits: ClassVar[tuple[float, float]] = (0.0, 1.0)
    default_rate: ClassVar[float] = 0.5
    min_block_size: ClassVar[int] = 1
    interleavable: ClassVar[bool] = True

    def __init__(self, *, rate: float, bits_per_symbol: int, max_block_size: int | None, device: str) -> None:
        self.rate = rate
        self.bits_per_symbol = bits_per_symbol
        self.max_block_size = max_block_size
        self.device = device

    @classmethod
    def from_config(cls, config: LinkConfig, *, device: str) -> "ChannelCode":
        """The code that ``config`` asks for (rate, modulation, block size, the code's settings)."""
        return cls(**cls.config_options(config), device=device)

    @classmethod
    def config_options(cls, config: LinkConfig) -> dict[str, Any]:
        """The constructor keywords that ``config`` sets; a code with more settings extends them."""
        return {
            "rate": config.code_rate,
            "bits_per_symbol": config.bits_per_symbol,
            "max_block_size": config.max_block_size,
        }

    @classmethod
    def largest_block(cls, rate: float) -> int | None:
        """Largest ``k`` the code supports at ``rate`` (None: no limit)."""
        return None

    @classmethod
    def check_rate(cls, rate: float) -> None:
        """Raise ``ValueError`` (a one-line message for ``link.rate``) if ``rate`` does not fit."""
        low, high = cls.rate_limits
        if not low <= rate <= high:
            raise ValueError(f"must be within [{low}, {high}] for code '{cls.name}'")

    @classmethod
    def check_block_size(cls, block_size: int, *, rate: float) -> None:
        """Raise ``ValueError`` (a one-line message for ``link.block_size``) if it does not fit."""
        largest = cls.largest_block(rate)
        if largest is not None and block_size > largest:
            raise ValueError(f"must be <= {largest} for code '{cls.name}' at rate {rate}")
        if block_size < cls.min_block_size:
            raise ValueError(f"must be >= {cls.min_block_size} for code '{cls.name}'")

    def codeword_bits(self, k: int) -> int:
        """Code bits ``n`` out of the encoder for ``k`` information bits."""
        raise NotImplementedError

    def encode(self, bits: torch.Tensor) -> torch.Tensor:
        """(G, k) float 0/1 -> (G, n) float 0/1, ``n = codeword_bits(k)``."""
        raise NotImplementedError

    def decode(self, llr: torch.Tensor, *, k: int) -> DecodeResult:
        """(G, n) LLRs ``log P(b=1)/P(b=0)`` -> :class:`DecodeResult` with (G, k) hard bits."""
        raise NotImplementedError

    def _whole_symbols(self, bits: int) -> int:
        return -(-bits // self.bits_per_symbol) * self.bits_per_symbol


def register_code(name: str, *, description: str = "") -> Callable[[T], T]:
    """Class decorator registering a :class:`ChannelCode` subclass under ``name`` (sets ``name``)."""

    def decorator(cls: T) -> T:
        _check_code_class(name, cls)
        CODES.register(name, description=description)(cls)  # raises if the name is taken
        cls.name = name  # type: ignore[attr-defined]
        return cls

    return decorator


def code_class(name: str) -> type[ChannelCode]:
    """The class registered as ``name`` (plugins included); :class:`UserError` if unknown or invalid."""
    cls = CODES.get_checked(name, _check_code_class)
    if not cls.name:  # a plug-in registered through its entry point, not the decorator
        cls.name = name
    return cls


def build_code(config: LinkConfig, *, device: str) -> ChannelCode:
    """The :class:`ChannelCode` named by ``config.code``, built for its rate and modulation."""
    return code_class(config.code).from_config(config, device=device)


def _check_code_class(name: str, cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, ChannelCode)):
        raise TypeError(f"channel code '{name}' must be a subclass of simulation.link.codes.ChannelCode, got {cls!r}")

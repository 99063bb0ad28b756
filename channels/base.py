"""The channel-model contract: complex symbols in, received symbols and channel state out.

A channel model is a :class:`torch.nn.Module` whose :meth:`ChannelModel.forward` takes a batch of
transmitted complex symbols ``x`` of shape ``(B, N)``, a noise variance ``no`` per complex symbol
and a :class:`torch.Generator`, and returns a :class:`ChannelOutput` holding

- ``y`` (B, N), complex, same dtype and device as ``x``: the received symbols,
- ``h`` (B, N), complex: the true per-symbol complex gain, ``y = h * x + noise`` (what a receiver
  with perfect channel-state information knows),
- ``no``, real, broadcastable to ``y``: the noise variance per complex symbol actually added.

Rules every model follows (the tests in ``tests/channels`` check them for the built-in models):

- the average channel power gain is one, ``E|h|^2 = 1``, so the SNR axis means the same thing for
  every model;
- noise is circularly-symmetric complex Gaussian with variance ``no`` per complex symbol, that is
  ``no / 2`` per real dimension;
- every random number comes from the ``generator`` argument (never from the global torch RNG or
  Sionna's global RNG), so a run is reproducible from one seed and independent of other code;
- outputs follow the device and dtype of ``x`` (complex64 or complex128).

Models only propagate; channel estimation and equalisation are the receiver's, in the link. An
OFDM model declares its Sionna ``ResourceGrid`` through :meth:`ChannelModel.resource_grid`
(``None``, the default, for a model without one). Given a grid, the link frames its data symbols
on slots of it (pilots, guards, DC, Sionna's ``ResourceGridMapper``) and passes the model the REs
of whole slots, flattened slot by slot, OFDM symbol by OFDM symbol; ``y`` and ``h`` are then per
RE, and the link's receiver (perfect CSI or LS estimation on the pilots) takes the data REs back
out. A model with a grid follows the same rules RE by RE.

Each model declares its parameters as a pydantic model in the class attribute ``Params``; the
constructor takes those parameters as keywords and validates them, so a scenario can check a
channel section before building anything (``model_cls.Params(**user_dict)``).

Example
-------
>>> from channels import RayleighChannel
>>> channel = RayleighChannel(fading="block", coherence_symbols=64)
>>> x = torch.ones(2, 256, dtype=torch.complex64)
>>> out = channel(x, no=0.1, generator=torch.Generator().manual_seed(0))
>>> out.y.shape, out.h.shape
(torch.Size([2, 256]), torch.Size([2, 256]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from gosvae_core.errors import ConfigError
from gosvae_core.messages import config_error

if TYPE_CHECKING:  # Sionna is imported by the OFDM models only
    from sionna.phy.ofdm import ResourceGrid

__all__ = [
    "ChannelModel",
    "ChannelOutput",
    "NoParams",
    "complex_normal",
    "config_error_from_validation",
    "noise_variance_tensor",
]


class NoParams(BaseModel):
    """Parameters of a model that has none (unknown keys are rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ChannelOutput:
    """What a channel model returns.

    Attributes
    ----------
    y : torch.Tensor
        (B, N), complex, dtype and device of the input: received symbols.
    h : torch.Tensor
        (B, N), complex: per-symbol channel gain known to a receiver with perfect CSI.
    no : torch.Tensor
        Real, broadcastable to ``y`` (shape ``()``, ``(B, 1)`` or ``(B, N)``): noise variance per
        complex symbol.
    """

    y: torch.Tensor
    h: torch.Tensor
    no: torch.Tensor


class ChannelModel(nn.Module):
    """Base class of channel models (see the module docstring for the contract).

    Parameters
    ----------
    **params
        The model's parameters, validated against :attr:`Params`; a bad value raises
        :class:`~gosvae_core.errors.ConfigError` naming the field.

    Input
    -----
    x : torch.Tensor
        (B, N), complex64 or complex128: transmitted symbols (unit average energy for the SNR to
        mean Es/N0).
    no : float | torch.Tensor
        Noise variance per complex symbol: a float, a 0-d tensor, or one value per batch row,
        shape (B,) or (B, 1).
    generator : torch.Generator
        Source of all randomness of the call.

    Output
    ------
    ChannelOutput
        ``y`` (B, N), ``h`` (B, N) complex, and ``no`` broadcastable to ``y``.
    """

    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, **params: Any) -> None:
        super().__init__()
        try:
            self.params = self.Params(**params)
        except ValidationError as exc:
            raise config_error_from_validation(exc, where=f"{type(self).__name__}") from None

    def forward(self, x: torch.Tensor, *, no: float | torch.Tensor, generator: torch.Generator) -> ChannelOutput:
        raise NotImplementedError

    def resource_grid(self, *, device: torch.device | str, dtype: torch.dtype) -> "ResourceGrid | None":
        """The Sionna ``ResourceGrid`` of one slot, for an OFDM model; ``None`` (the default) otherwise.

        With a grid, ``x`` holds the REs of whole slots (see the module docstring), and the link
        frames, estimates and equalises. The grid's tensors live on ``device`` in the precision of
        the complex ``dtype``.
        """
        return None

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.params.model_dump().items())


def check_symbols(x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a complex (B, N) tensor."""
    if not isinstance(x, torch.Tensor) or not x.is_complex() or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        dtype = x.dtype if isinstance(x, torch.Tensor) else None
        raise ValueError(f"channel input must be a complex (B, N) tensor, got shape {shape} and dtype {dtype}")


def noise_variance_tensor(no: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Noise variance as a real tensor broadcastable to ``x`` (B, N).

    Input: ``no`` a float, a 0-d tensor, shape (B,), (B, 1) or (B, N); ``x`` (B, N) complex.
    Output: real tensor of the dtype matching ``x`` on its device, shape (), (B, 1) or (B, N).
    Raises ``ValueError`` for a negative variance or a shape that does not fit.
    """
    real_dtype = x.real.dtype
    no_t = torch.as_tensor(no, dtype=real_dtype, device=x.device)
    if no_t.dim() == 1:
        no_t = no_t.unsqueeze(-1)
    batch = x.shape[0]
    if no_t.dim() > 2 or (no_t.dim() == 2 and (no_t.shape[0] != batch or no_t.shape[1] not in (1, x.shape[1]))):
        raise ValueError(f"noise variance shape {tuple(no_t.shape)} does not fit symbols of shape {tuple(x.shape)}")
    if bool((no_t < 0).any()):
        raise ValueError("noise variance must be >= 0")
    return no_t


def complex_normal(
    shape: tuple[int, ...], *, generator: torch.Generator, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Draw circularly-symmetric complex Gaussian samples of unit variance, CN(0, 1).

    The real and imaginary parts are independent N(0, 1/2). The samples are drawn on the
    generator's device and moved to ``device``, so a CPU generator gives the same numbers whatever
    the device of the computation.

    Sionna's own ``complex_normal``/``AWGN`` draw from Sionna's process-global RNG; the channel
    contract requires a caller-owned generator, hence this small helper.

    Input: ``shape`` tuple, ``dtype`` complex64 or complex128. Output: tensor of ``shape``, ``dtype``.
    """
    real_dtype = torch.empty((), dtype=dtype).real.dtype
    parts = torch.randn((*shape, 2), generator=generator, dtype=real_dtype, device=generator.device)
    samples = torch.view_as_complex(parts) * (0.5**0.5)
    return samples.to(device=device, dtype=dtype)


def config_error_from_validation(exc: ValidationError, *, where: str) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into a one-line :class:`ConfigError`.

    Each problem reads ``<where>.<field>: <what was expected>, got <value>``, e.g.
    ``channel.params.coherence_symbols: must be >= 1, got 0``; several problems are joined by
    ``; ``. The project's one formatter, :func:`gosvae_core.messages.config_error`.
    """
    return config_error(exc, where=where)

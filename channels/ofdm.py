"""3GPP TR 38.901 TDL and CDL channels over OFDM (SISO, frequency domain): models ``tdl`` and ``cdl``.

The models only propagate. The receiver work is the link's (:mod:`simulation.link.ofdm`,
:mod:`simulation.link.estimation`), as in Sionna, where ``OFDMChannel``, ``ResourceGrid`` and
``LSChannelEstimator`` are separate blocks:

- **Resource grid.** A model declares its Sionna ``ResourceGrid`` through :meth:`resource_grid`:
  ``num_ofdm_symbols`` x ``fft_size`` resource elements (REs) per slot, with pilot, guard and DC
  REs as the parameters say (pilots: a fixed QPSK sequence, :func:`channels.ofdm_grid.build_resource_grid`).
  A link that finds a grid frames its data symbols on it (Sionna's ``ResourceGridMapper``, the
  last slot zero-padded) and hands the model whole slots.
- **Input.** ``x`` (B, N) is a stream of REs: consecutive slots, each flattened OFDM symbol by
  OFDM symbol (subcarriers upwards), ``num_ofdm_symbols * fft_size`` REs per slot. The model does
  not look at what the REs carry (data, pilots, zeros); an ``N`` that is not a whole number of
  slots is completed with zeros that are not returned.
- **Channel.** Every slot (of every row) gets an independent realisation of the Sionna ``TDL``
  or ``CDL`` model, turned into a frequency response ``H`` (num_ofdm_symbols, fft_size) by
  ``GenerateOFDMChannel`` (``cir_to_ofdm_channel``): the impulse response is sampled once per
  OFDM symbol, so ``H`` evolves within a slot with the Doppler of ``speed_kmh`` (no
  inter-carrier interference, no inter-symbol interference). The power-delay profiles are
  normalised, ``E|H|^2 = 1``. Consecutive slots are independent, as if they were spread in time
  or frequency (Sionna's usual one-realisation-per-example setup).
- **Output.** ``y = H x + n`` on every RE (pilots and padding included), ``n ~ CN(0, no)``; ``h``
  is the true ``H`` at every RE and ``no`` the variance as given, so the output follows the
  channel contract of :mod:`channels.base` RE by RE, like a flat-fading model.

Randomness: one 63-bit seed is drawn from the call's ``generator`` and seeds a private
``torch.Generator`` on the computing device, from which the Sionna TDL/CDL models draw (through
:class:`~channels.ofdm_grid.CallGenerator`); the noise comes from ``generator`` itself. Sionna's
and torch's global generators are neither read nor advanced, and the same seed gives the same
output. Slots are processed in chunks of about 2^18 REs, so memory stays bounded.

Pilot overhead: the link counts the pilot REs it sends (``LinkStats.pilot_uses``) and, for
Eb/N0, their energy (Sionna's ``ebnodb2no(..., resource_grid=...)`` convention); see
:meth:`simulation.link.Link.noise_variance`.

Example
-------
>>> channel = TDLChannel(model="C", delay_spread_ns=100, speed_kmh=30, fft_size=72)
>>> grid = channel.resource_grid(device="cpu", dtype=torch.complex64)
>>> grid.num_data_symbols, grid.num_pilot_symbols            # per slot: 12 x 72 and 2 x 72 REs
(864, 144)
>>> x = torch.ones(2, 3 * 14 * 72, dtype=torch.complex64)      # 3 slots per row
>>> out = channel(x, no=0.01, generator=torch.Generator().manual_seed(0))
>>> out.y.shape, out.h.shape                                  # y = h x + n per RE
(torch.Size([2, 3024]), torch.Size([2, 3024]))
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from sionna.phy.ofdm import ResourceGrid

from channels.base import ChannelModel, ChannelOutput, check_symbols, complex_normal, noise_variance_tensor
from channels.ofdm_grid import OFDMBlocks
from channels.ofdm_params import OFDMParams
from channels.registry import register_channel

__all__ = ["CDLChannel", "OFDMChannelModel", "TDLChannel"]

# Resource elements per processing chunk: about 80 MB of intermediates at complex64, and faster
# than larger chunks on CPU.
_RES_PER_CHUNK = 1 << 18


class OFDMChannelModel(ChannelModel):
    """SISO OFDM channel with a 3GPP TDL or CDL model (see the module docstring).

    Parameters
    ----------
    **params
        :class:`~channels.ofdm_params.OFDMParams`: model, delay_spread_ns, speed_kmh,
        carrier_frequency_hz, subcarrier_spacing_hz, fft_size, num_ofdm_symbols,
        cyclic_prefix_length, num_guard_carriers, dc_null, pilot_pattern,
        pilot_ofdm_symbol_indices.

    Input
    -----
    x : torch.Tensor
        (B, N), complex64 or complex128: REs of consecutive slots, each flattened
        (num_ofdm_symbols, fft_size) row-major; a partial last slot is completed with zeros.
    no : float | torch.Tensor
        Noise variance per complex symbol (per RE): scalar, (B,), (B, 1) or (B, N).
    generator : torch.Generator
        Source of the channel draws and the noise.

    Output
    ------
    ChannelOutput
        ``y`` (B, N) received REs, ``h`` (B, N) the true frequency response there, ``no`` as given.
    """

    Params = OFDMParams
    family: ClassVar[Literal["tdl", "cdl"]]

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._blocks: dict[tuple[str, str], OFDMBlocks] = {}

    def blocks(self, *, device: torch.device | str, dtype: torch.dtype) -> OFDMBlocks:
        """The Sionna blocks for ``device`` and complex ``dtype`` (built on first use, then kept)."""
        device = str(torch.device(device))
        device = "cuda:0" if device == "cuda" else device
        precision = "double" if dtype == torch.complex128 else "single"
        key = (device, precision)
        if key not in self._blocks:
            self._blocks[key] = OFDMBlocks(self.params, family=self.family, device=device, precision=precision)
        return self._blocks[key]

    def resource_grid(self, *, device: torch.device | str, dtype: torch.dtype) -> ResourceGrid:
        """The Sionna ``ResourceGrid`` of one slot (pilots included) for ``device`` and ``dtype``."""
        return self.blocks(device=device, dtype=dtype).grid

    def forward(self, x: torch.Tensor, *, no: float | torch.Tensor, generator: torch.Generator) -> ChannelOutput:
        check_symbols(x)
        no_t = noise_variance_tensor(no, x)
        batch, length = x.shape
        blocks = self.blocks(device=x.device, dtype=x.dtype)
        per_slot = blocks.grid_shape[0] * blocks.grid_shape[1]
        slots_per_row = -(-length // per_slot)
        num_slots = batch * slots_per_row

        seed = int(torch.randint(0, 2**63 - 1, (), generator=generator, device=generator.device))
        channel_rng = torch.Generator(device=x.device).manual_seed(seed)

        grids = _slots(x, slots_per_row * per_slot, per_slot).reshape(num_slots, *blocks.grid_shape)
        if no_t.dim() == 2 and no_t.shape[1] > 1:  # per-RE variances
            no_slots = _slots(no_t, slots_per_row * per_slot, per_slot).reshape(num_slots, *blocks.grid_shape)
        elif no_t.dim() == 2:
            no_slots = no_t.repeat_interleave(slots_per_row, dim=0).reshape(num_slots, 1, 1)
        else:
            no_slots = no_t
        y = torch.empty_like(grids)
        h = torch.empty_like(grids)
        step = max(1, _RES_PER_CHUNK // per_slot)
        for start in range(0, num_slots, step):
            part = slice(start, min(start + step, num_slots))
            count = part.stop - part.start
            no_part = no_slots[part] if no_slots.dim() else no_slots
            h[part] = blocks.frequency_response(count, generator=channel_rng).to(x.dtype)
            noise = complex_normal((count, *blocks.grid_shape), generator=generator, dtype=x.dtype, device=x.device)
            y[part] = h[part] * grids[part] + no_part.sqrt() * noise
        return ChannelOutput(y=_rows(y, batch, length), h=_rows(h, batch, length), no=no_t)


def _slots(values: torch.Tensor, padded_length: int, per_slot: int) -> torch.Tensor:
    """(B, N) -> (B * F, per_slot), rows zero-padded to ``padded_length = F * per_slot``."""
    if values.shape[1] == padded_length:
        return values.reshape(-1, per_slot)
    padded = values.new_zeros(values.shape[0], padded_length)
    padded[:, : values.shape[1]] = values
    return padded.reshape(-1, per_slot)


def _rows(slots: torch.Tensor, batch: int, length: int) -> torch.Tensor:
    """(B * F, ...) slots -> (B, length), padding dropped."""
    return slots.reshape(batch, slots.numel() // max(batch, 1))[:, :length]


@register_channel("tdl", description="3GPP TDL-A..E over OFDM (SISO); the link frames, estimates and equalises")
class TDLChannel(OFDMChannelModel):
    """3GPP TR 38.901 tapped-delay-line model over OFDM (see :class:`OFDMChannelModel`).

    Example
    -------
    >>> channel = TDLChannel(model="A", delay_spread_ns=30, speed_kmh=[3, 30], fft_size=24)
    >>> out = channel(torch.ones(1, 3000, dtype=torch.complex64), no=0.1, generator=torch.Generator().manual_seed(1))
    >>> out.h.shape                     # true frequency response at every RE
    torch.Size([1, 3000])
    """

    family = "tdl"


@register_channel("cdl", description="3GPP CDL-A..E over OFDM (SISO, omni antennas); the link frames, estimates and equalises")
class CDLChannel(OFDMChannelModel):
    """3GPP TR 38.901 clustered-delay-line model over OFDM (see :class:`OFDMChannelModel`).

    Both ends have one vertically polarised omnidirectional antenna (Sionna ``Antenna``), the
    link is a downlink, and the terminal moves in a random direction at ``speed_kmh``; with
    these antennas the average power gain is one, as for the TDL models.

    Example
    -------
    >>> channel = CDLChannel(model="D", delay_spread_ns=300, speed_kmh=3)
    >>> out = channel(torch.ones(1, 3000, dtype=torch.complex64), no=0.1, generator=torch.Generator().manual_seed(1))
    """

    family = "cdl"

"""3GPP TR 38.901 TDL and CDL channels over OFDM (SISO, frequency domain): models ``tdl`` and ``cdl``.

What a call does with the symbols ``x`` (B, N):

1. **Slots.** Each row fills OFDM slots: a Sionna ``ResourceGrid`` of ``num_ofdm_symbols`` x
   ``fft_size`` resource elements (REs) holds ``num_data_symbols`` data REs (those that are not
   pilot, guard or DC), filled by Sionna's ``ResourceGridMapper`` in its order (OFDM symbol by
   OFDM symbol, subcarriers upwards). A row takes ``F = ceil(N / num_data_symbols)`` slots; the
   last one is padded with zeros, dropped at the receiver.
2. **Channel.** Every slot (of every row) gets an independent realisation of the Sionna ``TDL``
   or ``CDL`` model, turned into a frequency response ``H`` (num_ofdm_symbols, fft_size) by
   ``GenerateOFDMChannel`` (``cir_to_ofdm_channel``): the impulse response is sampled once per
   OFDM symbol, so ``H`` evolves within a slot with the Doppler of ``speed_kmh`` (no
   inter-carrier interference, no inter-symbol interference). The power-delay profiles are
   normalised, ``E|H|^2 = 1``. Consecutive slots are independent, as if they were spread in time
   or frequency (Sionna's usual one-realisation-per-example setup).
3. **Noise.** ``Y = H X + n`` on every RE, pilots included, ``n ~ CN(0, no)``.
4. **Receiver**, set by ``channel_estimation``:

   - ``"perfect"``: the model returns ``y`` = the received data REs (B, N), ``h`` = the true
     ``H`` at those REs (B, N), and ``no`` as given. Then ``y = h x + noise`` symbol by symbol,
     exactly like a flat-fading model, and the link equalises with ``h`` (``y / h``,
     ``no / |h|^2``). ``E|h|^2 = 1``.
   - ``"ls"``: least-squares estimates on the pilots, interpolated over the grid (Sionna
     ``LSChannelEstimator``), then Sionna's OFDM ``LMMSEEqualizer`` or ``ZFEqualizer``, all
     inside the model. It returns ``y`` = the equalised symbols ``x_hat`` (B, N), an unbiased
     estimate of ``x``; ``h`` = ones, since after equalisation the receiver treats ``x_hat`` as
     ``x`` plus noise; and ``no`` = the equaliser's effective noise variance per symbol (B, N),
     estimation error included. The link's equalisation with ``h = 1`` then changes nothing.
     With one antenna both equalisers give ``x_hat = y / h_hat`` and
     ``no_eff = (no + err_var) / |h_hat|^2`` (for a scalar channel the unbiased LMMSE estimate
     is the ZF one); the option is kept for symmetry with Sionna. ``err_var = no * sum w^2`` is
     the exact variance of the interpolated estimate (weights ``w`` of the interpolation); Sionna's
     own ``err_var`` (``no * sum w``) overstates it between pilots and understates it where it
     extrapolates, which would mis-scale the LLRs by up to 1.2 dB. Interpolation error from the
     channel's change in time is not counted (small at 30 km/h; with ``linear_time_average`` at
     120 km/h ``|x_hat - x|^2 / no_eff`` averages 1.12 instead of 1).

Randomness: one 63-bit seed is drawn from the call's ``generator`` and seeds a private
``torch.Generator`` on the computing device, from which the Sionna TDL/CDL models draw (through
:class:`~channels.ofdm_grid.CallGenerator`); the noise comes from ``generator`` itself. Sionna's
and torch's global generators are neither read nor advanced, and the same seed gives the same
output. Slots are processed in chunks of about 2^18 REs, so memory stays bounded.

Pilots and padding are not channel uses: the link's ``channel_uses`` counts data symbols, and
``Es/N0`` is per data RE (pilots have the same unit energy).

Example
-------
>>> channel = TDLChannel(model="C", delay_spread_ns=100, speed_kmh=30, channel_estimation="ls")
>>> x = torch.ones(2, 5000, dtype=torch.complex64)
>>> out = channel(x, no=0.01, generator=torch.Generator().manual_seed(0))
>>> out.y.shape, out.no.shape
(torch.Size([2, 5000]), torch.Size([2, 5000]))
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch

from channels.base import ChannelModel, ChannelOutput, check_symbols, complex_normal, noise_variance_tensor
from channels.ofdm_grid import OFDMBlocks
from channels.ofdm_params import OFDMParams
from channels.registry import register_channel

__all__ = ["CDLChannel", "OFDMChannelModel", "TDLChannel"]

# Resource elements per processing chunk: about 80 MB of intermediates at complex64 (LS receiver),
# and faster than larger chunks on CPU.
_RES_PER_CHUNK = 1 << 18


class OFDMChannelModel(ChannelModel):
    """SISO OFDM channel with a 3GPP TDL or CDL model (see the module docstring).

    Parameters
    ----------
    **params
        :class:`~channels.ofdm_params.OFDMParams`: model, delay_spread_ns, speed_kmh,
        carrier_frequency_hz, subcarrier_spacing_hz, fft_size, num_ofdm_symbols,
        cyclic_prefix_length, num_guard_carriers, dc_null, pilot_pattern,
        pilot_ofdm_symbol_indices, channel_estimation, interpolation, equalizer.

    Input
    -----
    x : torch.Tensor
        (B, N), complex64 or complex128: transmitted data symbols.
    no : float | torch.Tensor
        Noise variance per complex symbol (per RE): scalar, (B,) or (B, 1); (B, N) only with
        perfect CSI.
    generator : torch.Generator
        Source of the channel draws and the noise.

    Output
    ------
    ChannelOutput
        Perfect CSI: ``y`` received data REs (B, N), ``h`` true frequency response there
        (B, N), ``no`` as given. LS: ``y`` equalised symbols (B, N), ``h`` ones (B, N), ``no``
        effective noise variance (B, N) real.
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

    @property
    def num_data_symbols(self) -> int:
        """Data REs per slot."""
        return self.blocks(device="cpu", dtype=torch.complex64).num_data_symbols

    def forward(self, x: torch.Tensor, *, no: float | torch.Tensor, generator: torch.Generator) -> ChannelOutput:
        check_symbols(x)
        no_t = noise_variance_tensor(no, x)
        ls = self.params.channel_estimation == "ls"
        batch, length = x.shape
        if ls and no_t.dim() == 2 and no_t.shape[1] > 1:
            if not bool((no_t == no_t[:, :1]).all()):
                raise ValueError("channel_estimation 'ls' needs one noise variance per row (scalar, (B,) or (B, 1))")
            no_t = no_t[:, :1]
        blocks = self.blocks(device=x.device, dtype=x.dtype)
        per_slot = blocks.num_data_symbols
        slots_per_row = -(-length // per_slot)
        num_slots = batch * slots_per_row

        seed = int(torch.randint(0, 2**63 - 1, (), generator=generator, device=generator.device))
        channel_rng = torch.Generator(device=x.device).manual_seed(seed)

        data = _slots(x, slots_per_row * per_slot, per_slot)  # (num_slots, per_slot)
        if no_t.dim() == 2 and no_t.shape[1] > 1:  # per-symbol variances (perfect CSI only)
            no_slots = _slots(no_t, slots_per_row * per_slot, per_slot)
        elif no_t.dim() == 2:
            no_slots = no_t.repeat_interleave(slots_per_row, dim=0)  # (num_slots, 1)
        else:
            no_slots = no_t
        y = torch.empty_like(data)
        h_or_no = torch.empty_like(data) if not ls else torch.empty(data.shape, dtype=no_t.dtype, device=x.device)
        step = max(1, _RES_PER_CHUNK // (blocks.grid_shape[0] * blocks.grid_shape[1]))
        for start in range(0, num_slots, step):
            part = slice(start, min(start + step, num_slots))
            count = part.stop - part.start
            no_part = no_slots[part] if no_slots.dim() == 2 else no_slots
            h_grid = blocks.frequency_response(count, generator=channel_rng).to(x.dtype)
            noise = complex_normal((count, *blocks.grid_shape), generator=generator, dtype=x.dtype, device=x.device)
            if no_part.dim() == 2 and no_part.shape[1] > 1:  # per data RE; pilots are not read
                noise_std = blocks.place(no_part.sqrt().to(x.dtype))
            else:
                noise_std = no_part.sqrt().reshape(-1, 1, 1) if no_part.dim() else no_part.sqrt()
            y_grid = h_grid * blocks.map(data[part]) + noise_std * noise
            if ls:
                no_rx = no_part.reshape(-1) if no_part.dim() else no_part  # () or (count,)
                y[part], h_or_no[part] = blocks.estimate_and_equalize(y_grid, no_rx)
            else:
                y[part], h_or_no[part] = blocks.data_of(y_grid), blocks.data_of(h_grid)
        y = _rows(y, batch, length)
        if ls:
            return ChannelOutput(y=y, h=torch.ones_like(y), no=_rows(h_or_no, batch, length))
        return ChannelOutput(y=y, h=_rows(h_or_no, batch, length), no=no_t)


def _slots(values: torch.Tensor, padded_length: int, per_slot: int) -> torch.Tensor:
    """(B, N) -> (B * F, per_slot), rows zero-padded to ``padded_length = F * per_slot``."""
    padded = values.new_zeros(values.shape[0], padded_length)
    padded[:, : values.shape[1]] = values
    return padded.reshape(-1, per_slot)


def _rows(slots: torch.Tensor, batch: int, length: int) -> torch.Tensor:
    """(B * F, per_slot) -> (B, length), padding dropped."""
    return slots.reshape(batch, slots.numel() // max(batch, 1))[:, :length]


@register_channel("tdl", description="3GPP TDL-A..E over OFDM (SISO), perfect CSI or LS estimation")
class TDLChannel(OFDMChannelModel):
    """3GPP TR 38.901 tapped-delay-line model over OFDM (see :class:`OFDMChannelModel`).

    Example
    -------
    >>> channel = TDLChannel(model="A", delay_spread_ns=30, speed_kmh=[3, 30])
    >>> out = channel(torch.ones(1, 3000, dtype=torch.complex64), no=0.1, generator=torch.Generator().manual_seed(1))
    >>> out.h.shape                     # true frequency response at the data REs
    torch.Size([1, 3000])
    """

    family = "tdl"


@register_channel("cdl", description="3GPP CDL-A..E over OFDM (SISO, omni antennas), perfect CSI or LS estimation")
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

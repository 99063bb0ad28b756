"""Framing of the link's data symbols on an OFDM resource grid, and back.

An OFDM channel model (:meth:`channels.base.ChannelModel.resource_grid` not ``None``) takes whole
slots of REs. :class:`OFDMFramer` puts the link's data symbols on them and takes the data REs
back out:

- **Slots.** A Sionna ``ResourceGrid`` of ``num_ofdm_symbols`` x ``fft_size`` REs holds
  ``num_data_symbols`` data REs (those that are not pilot, guard or DC), filled by Sionna's
  ``ResourceGridMapper`` in its order (OFDM symbol by OFDM symbol, subcarriers upwards); the
  pilots take their places. A row of ``N`` data symbols takes ``F = ceil(N / num_data_symbols)``
  slots; the data REs of the last one beyond ``N`` are zeros (padding), dropped by
  :meth:`OFDMFramer.data_of`. Guard and DC REs are zeros.
- **Layout on the channel.** The ``F`` slots of a row are flattened one after the other, each
  row-major (OFDM symbol, subcarrier): (B, F * num_ofdm_symbols * fft_size) REs, what the
  channel model propagates.

Example
-------
>>> from channels import TDLChannel
>>> grid = TDLChannel(fft_size=24).resource_grid(device="cpu", dtype=torch.complex64)
>>> framer = OFDMFramer(grid)
>>> x = torch.ones(1, 500, dtype=torch.complex64)            # 288 data REs per slot: 2 slots
>>> res = framer.frame(x)
>>> res.shape, framer.pilot_uses(x.shape)                    # 2 x 14 x 24 REs, 2 x 48 pilots
(torch.Size([1, 672]), 96)
>>> torch.equal(framer.data_of(res, length=500), x)
True
"""

from __future__ import annotations

import torch
from sionna.phy.ofdm import ResourceGrid, ResourceGridMapper

__all__ = ["OFDMFramer"]


class OFDMFramer:
    """Maps (B, N) data symbols onto slots of a Sionna ``ResourceGrid`` and takes them back out.

    Parameters
    ----------
    grid : ResourceGrid
        One transmitter, one stream; its device and precision are those of the framer (the
        channel model's :meth:`~channels.base.ChannelModel.resource_grid`).

    Attributes
    ----------
    grid_shape : (int, int)
        (num_ofdm_symbols, fft_size) of one slot.
    data_index, pilot_index : torch.Tensor
        int64 positions of the data REs (in mapping order) and of the pilot REs in a flattened slot.
    num_data_symbols, num_pilot_symbols : int
        Data and pilot REs per slot.
    cp_overhead : float
        ``cyclic_prefix_length / fft_size``: the energy of the cyclic prefix per RE.
    """

    def __init__(self, grid: ResourceGrid) -> None:
        if grid.num_tx != 1 or grid.num_streams_per_tx != 1:
            raise ValueError("OFDMFramer supports one transmitter with one stream (SISO)")
        self.grid = grid
        self.mapper = ResourceGridMapper(grid, precision=grid.precision, device=grid.device)
        self.grid_shape = (int(grid.num_ofdm_symbols), int(grid.fft_size))
        types = grid.build_type_grid()[0, 0].reshape(-1)  # 0 data, 1 pilot, 2 guard, 3 DC
        self.data_index = torch.nonzero(types == 0).reshape(-1).to(grid.device)
        self.pilot_index = torch.nonzero(types == 1).reshape(-1).to(grid.device)
        self.num_data_symbols = int(self.data_index.numel())
        self.num_pilot_symbols = int(self.pilot_index.numel())
        self.cp_overhead = float(grid.cyclic_prefix_length) / float(grid.fft_size)

    @property
    def res_per_slot(self) -> int:
        """REs of one slot, ``num_ofdm_symbols * fft_size``."""
        return self.grid_shape[0] * self.grid_shape[1]

    def slots_per_row(self, length: int) -> int:
        """Slots that ``length`` data symbols take, ``ceil(length / num_data_symbols)``."""
        return -(-int(length) // self.num_data_symbols)

    def pilot_uses(self, shape: tuple[int, ...] | torch.Size) -> int:
        """Pilot REs sent with data symbols of ``shape`` (B, N): every slot's, the last one's too."""
        batch, length = shape
        return int(batch) * self.slots_per_row(length) * self.num_pilot_symbols

    def frame(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N) complex data symbols -> (B, F * num_ofdm_symbols * fft_size) REs of F slots per row.

        Sionna's ``ResourceGridMapper`` fills the data REs and puts the pilots in; the data REs of
        the last slot beyond ``N`` are zeros.
        """
        batch, length = x.shape
        slots = self.slots_per_row(length)
        data = x.new_zeros(batch, slots * self.num_data_symbols)
        data[:, :length] = x
        grids = self.mapper(data.reshape(batch * slots, 1, 1, self.num_data_symbols))[:, 0, 0]
        return grids.reshape(batch, slots * self.res_per_slot)

    def grids(self, res: torch.Tensor) -> torch.Tensor:
        """(B, F * num_ofdm_symbols * fft_size) -> (B * F, num_ofdm_symbols, fft_size), a view."""
        return res.reshape(-1, *self.grid_shape)

    def data_of(self, res: torch.Tensor, *, length: int) -> torch.Tensor:
        """(B, F * num_ofdm_symbols * fft_size) REs -> (B, length): the data REs in mapping order,
        padding dropped (the inverse of :meth:`frame`)."""
        batch = res.shape[0]
        per_slot = res.reshape(batch, -1, self.res_per_slot)[..., self.data_index]
        return per_slot.reshape(batch, -1)[:, :length]

    def data_of_grids(self, grids: torch.Tensor) -> torch.Tensor:
        """(S, num_ofdm_symbols, fft_size) -> (S, num_data_symbols): the data REs of each slot."""
        return grids.reshape(grids.shape[0], -1)[:, self.data_index]

"""Channel models: complex symbols in, received symbols and channel state out.

The contract is in :mod:`channels.base`; names used in scenarios map to classes through
:data:`channels.registry.CHANNELS` (plugins join through the ``gosvae.channels`` entry points).

Example
-------
>>> import torch
>>> from channels import build_channel
>>> channel = build_channel("awgn")
>>> out = channel(torch.ones(2, 8, dtype=torch.complex64), no=0.1, generator=torch.Generator().manual_seed(0))
>>> out.y.shape
torch.Size([2, 8])
"""

from channels.base import ChannelModel, ChannelOutput, NoParams
from channels.registry import CHANNELS, build_channel, channel_class, register_channel

# Importing the built-in models registers them.
from channels.awgn import AWGNChannel
from channels.ofdm import CDLChannel, OFDMChannelModel, TDLChannel
from channels.ofdm_params import OFDMParams
from channels.rayleigh import RayleighChannel
from channels.rician import RicianChannel
from channels.jakes import JakesChannel

__all__ = [
    "AWGNChannel",
    "CDLChannel",
    "CHANNELS",
    "ChannelModel",
    "ChannelOutput",
    "JakesChannel",
    "NoParams",
    "OFDMChannelModel",
    "OFDMParams",
    "RayleighChannel",
    "RicianChannel",
    "TDLChannel",
    "build_channel",
    "channel_class",
    "register_channel",
]

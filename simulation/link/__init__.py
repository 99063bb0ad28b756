"""The Sionna link: packets -> CRC -> channel code -> mapping -> [OFDM framing] -> channel ->
[OFDM receiver] -> detection -> packets.

Channel codes come from the :data:`CODES` registry (built-ins "ldpc", "polar", "none"; plug-ins
through :func:`register_code` or the ``gosvae.codes`` entry-point group).

Example
-------
>>> import torch
>>> from channels import build_channel
>>> from simulation.link import Link, LinkConfig
>>> link = Link(LinkConfig(code="ldpc", rate=0.5, modulation="qpsk"), build_channel("awgn"), device="cpu")
>>> received, stats = link.transmit([b"abc"], snr_db=10.0, generator=torch.Generator().manual_seed(0))
>>> received
[b'abc']
"""

from simulation.link import fec as _fec  # noqa: F401  (registers the built-in channel codes)
from simulation.link.codes import CODES, ChannelCode, DecodeResult, register_code
from simulation.link.config import LdpcSettings, LinkConfig, PolarSettings, ReceiverSettings
from simulation.link.estimation import LSReceiver, PerfectCSI, build_receiver
from simulation.link.link import Link
from simulation.link.ofdm import OFDMFramer
from simulation.link.stats import LinkStats

__all__ = [
    "CODES", "ChannelCode", "DecodeResult", "LSReceiver", "LdpcSettings", "Link", "LinkConfig", "LinkStats",
    "OFDMFramer", "PerfectCSI", "PolarSettings", "ReceiverSettings", "build_receiver", "register_code",
]  # fmt: skip

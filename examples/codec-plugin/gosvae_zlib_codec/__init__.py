"""gosvae-zlib-codec: an example codec plug-in for the gosvae-sim simulator.

It adds the codec ``quantise-zlib`` through the ``gosvae.codecs`` entry point declared in
``pyproject.toml``; once the package is installed, scenarios and ``gosvae eval`` use it by name::

    codecs:
      - {codec: quantise-zlib, params: {levels: 16, rows_per_packet: 16}}
"""

from gosvae_zlib_codec.codec import QuantiseZlibCodec, QuantiseZlibParams

__all__ = ["QuantiseZlibCodec", "QuantiseZlibParams"]
__version__ = "0.1.0"
